//! Integration tests: cgi — scripts in shell and Python, their environment,
//! bodies in and out (small, 10 MiB, chunked), PATH_INFO and queries,
//! Status / Location / NPH, and scripts that hang or lose their client.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::http::{Client, Resp, Running, exchange, request_text, run_in};
use crate::support::site;

/// A site with `cgi/` holding the fixture scripts, served by `cgi` (`.sh`,
/// `.py`) in front of `document`.
fn cgi(server_keys: &str, cgi_keys: &str) -> Running {
    let dir = site();
    let scripts = dir.path().join("cgi");
    std::fs::create_dir_all(scripts.join("sub")).unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cgi");
    for e in std::fs::read_dir(&fixtures).unwrap() {
        let e = e.unwrap();
        let to = scripts.join(e.file_name());
        std::fs::copy(e.path(), &to).unwrap();
        let mode = if e.file_name() == "noexec.sh" {
            0o644
        } else {
            0o755
        };
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    std::fs::copy(fixtures.join("env.sh"), scripts.join("sub/deep.sh")).unwrap();
    let conf = format!(
        "servers = ({{ port = 0; addr = \"127.0.0.1\"; keepalivetimeout = 5; maxclients = 50; {server_keys}\n\
           cgi = {{ docroot = \"cgi\"; allow = \".sh*,.py*\"; deny = \"*\"; denylast = true; {cgi_keys} }};\n\
           document = {{ docroot = \"htdocs\"; }}; }});\n"
    );
    run_in(dir, &conf)
}

fn scripts(r: &Running) -> PathBuf {
    r.dir.path().join("cgi")
}

/// The `NAME=value` lines of env.sh's output.
fn env_of(resp: &Resp) -> HashMap<String, String> {
    resp.text()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn cgi_shell_script_environment() {
    let r = cgi("", "env = [\"EXTRA=from config\"];");
    let resp = exchange(
        &r.server,
        &request_text(
            "GET",
            "/env.sh/x/y%20z?a=1&b=%2F",
            &[
                "X-Test: yes",
                "Authorization: Basic Zm9vOmJhcg==",
                "Proxy: http://evil",
                "User-Agent: t/1",
                "Cookie: c=1",
            ],
        ),
    );
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("content-type"), Some("text/plain"));
    let env = env_of(&resp);
    let get = |k: &str| env.get(k).map(String::as_str);
    assert_eq!(get("GATEWAY_INTERFACE"), Some("CGI/1.1"));
    assert_eq!(get("REQUEST_METHOD"), Some("GET"));
    assert_eq!(get("SCRIPT_NAME"), Some("/env.sh"));
    assert_eq!(get("PATH_INFO"), Some("/x/y z"));
    let root = std::fs::canonicalize(scripts(&r)).unwrap();
    assert_eq!(
        get("PATH_TRANSLATED"),
        Some(root.join("x/y z").to_str().unwrap())
    );
    assert_eq!(
        get("SCRIPT_FILENAME"),
        Some(root.join("env.sh").to_str().unwrap())
    );
    assert_eq!(get("DOCUMENT_ROOT"), Some(root.to_str().unwrap()));
    assert_eq!(get("QUERY_STRING"), Some("a=1&b=%2F"));
    assert_eq!(get("REQUEST_URI"), Some("/env.sh/x/y z"));
    assert_eq!(get("REMOTE_ADDR"), Some("127.0.0.1"));
    assert_eq!(get("SERVER_ADDR"), Some("127.0.0.1"));
    assert_eq!(
        get("SERVER_PORT"),
        Some(r.server.addr.port().to_string().as_str())
    );
    assert_eq!(get("SERVER_PROTOCOL"), Some("HTTP/1.1"));
    assert_eq!(get("REQUEST_SCHEME"), Some("http"));
    assert!(get("SERVER_SOFTWARE").unwrap().starts_with("marmoset/"));
    assert_eq!(get("HTTP_X_TEST"), Some("yes"));
    assert_eq!(get("HTTP_USER_AGENT"), Some("t/1"));
    assert_eq!(get("HTTP_COOKIE"), Some("c=1"));
    assert_eq!(get("HTTP_HOST"), Some("test"));
    assert_eq!(get("CONTENT_LENGTH"), Some(""));
    assert_eq!(get("EXTRA"), Some("from config"));
    assert_eq!(get("PATH"), Some("/usr/local/bin:/usr/bin:/bin"));
    // Allow-listed: no credentials, no httpoxy, nothing of the server's own.
    for absent in [
        "HTTP_AUTHORIZATION",
        "HTTP_PROXY",
        "HOME",
        "CARGO",
        "REMOTE_USER",
        "HTTPS",
    ] {
        assert_eq!(get(absent), None, "{absent}");
    }
    // Nested scripts: the walk stops at the first file.
    let deep = exchange(&r.server, &request_text("GET", "/sub/deep.sh/more", &[]));
    let env = env_of(&deep);
    assert_eq!(
        env.get("SCRIPT_NAME").map(String::as_str),
        Some("/sub/deep.sh")
    );
    assert_eq!(env.get("PATH_INFO").map(String::as_str), Some("/more"));
}

#[test]
fn cgi_python_script_with_post_body() {
    let r = cgi("", "");
    let body = "name=marmoset&x=1";
    let mut c = Client::new(&r.server);
    c.send(format!(
        "POST /env.py/p?q=2 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    ));
    let resp = c.response();
    assert_eq!(resp.status, 200, "{}", r.server.log());
    assert_eq!(resp.header("content-type"), Some("application/json"));
    let v: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
    assert_eq!(v["body"], body, "the body is on stdin");
    assert_eq!(v["env"]["CONTENT_LENGTH"], body.len().to_string());
    assert_eq!(
        v["env"]["CONTENT_TYPE"],
        "application/x-www-form-urlencoded"
    );
    assert_eq!(v["env"]["REQUEST_METHOD"], "POST");
    assert_eq!(v["env"]["QUERY_STRING"], "q=2");
    assert_eq!(v["env"]["PATH_INFO"], "/p");
    assert!(v["argv0"].as_str().unwrap().ends_with("env.py"));
    let root = std::fs::canonicalize(scripts(&r)).unwrap();
    assert_eq!(v["cwd"], root.to_str().unwrap());
}

fn curl_post(r: &Running, path: &str, file: &Path, chunked: bool) -> Vec<u8> {
    let out = r.dir.path().join("curl.out");
    let mut args = vec!["--data-binary".to_string(), format!("@{}", file.display())];
    args.extend(["-H".into(), "Content-Type: application/octet-stream".into()]);
    if chunked {
        args.extend(["-H".into(), "Transfer-Encoding: chunked".into()]);
    }
    args.extend([
        "-o".into(),
        out.display().to_string(),
        "-w".into(),
        "%{http_code}".into(),
    ]);
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = r.server.curl(path, &a);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "200",
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    std::fs::read(out).unwrap()
}

#[test]
fn cgi_post_bodies_small_large_and_chunked() {
    let r = cgi("maxbodysize = 33554432;", "");
    let small = r.dir.path().join("small.bin");
    std::fs::write(&small, b"hello cgi").unwrap();
    assert_eq!(curl_post(&r, "/echo.sh", &small, false), b"hello cgi");
    let big: Vec<u8> = (0..10 << 20).map(|i: u32| (i % 251) as u8).collect();
    let large = r.dir.path().join("large.bin");
    std::fs::write(&large, &big).unwrap();
    assert!(
        curl_post(&r, "/echo.sh", &large, false) == big,
        "10 MiB echoed"
    );
    assert!(
        curl_post(&r, "/echo.sh", &large, true) == big,
        "10 MiB chunked echoed"
    );
}

#[test]
fn cgi_body_over_maxbodysize_is_413() {
    let r = cgi("maxbodysize = 1000;", "");
    let mut c = Client::new(&r.server);
    c.send(
        "POST /echo.sh HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: 5000\r\n\r\n",
    );
    c.send(vec![b'x'; 5000]);
    assert_eq!(c.response().status, 413);
}

#[test]
fn cgi_status_location_and_nph() {
    let r = cgi("", "");
    let s = exchange(&r.server, &request_text("GET", "/status.sh", &[]));
    assert_eq!(s.status_line, "HTTP/1.1 202 Accepted");
    assert_eq!(s.text(), "accepted\n");
    assert_eq!(s.all("set-cookie"), ["a=1", "b=2"]);
    assert_eq!(s.header("status"), None);

    let n = exchange(&r.server, &request_text("GET", "/nph-teapot.sh", &[]));
    assert_eq!(n.status, 418);
    assert_eq!(n.header("x-nph"), Some("yes"));
    assert_eq!(n.text(), "short and stout\n");

    // Local redirect: the other script's output, run with GET.
    let l = exchange(
        &r.server,
        &request_text("POST", "/redirect.sh", &["Content-Length: 0"]),
    );
    assert_eq!(l.status, 200);
    let env = env_of(&l);
    assert_eq!(env.get("SCRIPT_NAME").map(String::as_str), Some("/env.sh"));
    assert_eq!(env.get("PATH_INFO").map(String::as_str), Some("/from"));
    assert_eq!(
        env.get("QUERY_STRING").map(String::as_str),
        Some("redirected=1")
    );
    assert_eq!(env.get("REQUEST_METHOD").map(String::as_str), Some("GET"));

    let a = exchange(&r.server, &request_text("GET", "/away.sh", &[]));
    assert_eq!(a.status, 302);
    assert_eq!(a.header("location"), Some("http://example.org/elsewhere"));

    let x = exchange(&r.server, &request_text("GET", "/noexec.sh", &[]));
    assert_eq!(x.status, 403);
    let b = exchange(&r.server, &request_text("GET", "/broken.sh", &[]));
    assert_eq!(b.status, 500);
    assert!(r.server.wait_log("oops on stderr"), "stderr logged");
    // Not a script of the filter: the document module serves it.
    let d = exchange(&r.server, &request_text("GET", "/hello.txt", &[]));
    assert_eq!(d.text(), "hello world\n");
    let missing = exchange(&r.server, &request_text("GET", "/missing.sh", &[]));
    assert_eq!(missing.status, 404);
}

fn wait_for(mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

fn pid_in(file: &Path) -> u32 {
    assert!(wait_for(
        || std::fs::read_to_string(file).is_ok_and(|s| s.ends_with('\n'))
    ));
    std::fs::read_to_string(file)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

fn alive(pid: u32) -> bool {
    // A zombie has exited: only running processes count.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| !s.split(") ").nth(1).unwrap_or("").starts_with('Z'))
}

#[test]
fn cgi_hanging_script_is_killed_at_the_time_limit() {
    let r = cgi("timeout = 1.0;", "");
    let started = Instant::now();
    let h = exchange(&r.server, &request_text("GET", "/hang.sh", &[]));
    assert_eq!(h.status, 504);
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(8),
        "{took:?}"
    );
    let pid = pid_in(&scripts(&r).join("hang.pid"));
    assert!(wait_for(|| !alive(pid)), "hang.sh (pid {pid}) still runs");

    // After the headers: the body ends at the limit, the script dies.
    let mut c = Client::new(&r.server);
    c.send(request_text("GET", "/stall.sh", &[]));
    let (bytes, closed) = c.rest_until_close();
    let text = String::from_utf8_lossy(&bytes);
    assert!(closed && text.contains("before"), "{text}");
    let pid = pid_in(&scripts(&r).join("stall.pid"));
    assert!(wait_for(|| !alive(pid)), "stall.sh (pid {pid}) still runs");
}

#[test]
fn cgi_maxtime_stops_a_chatty_script() {
    let r = cgi("", "maxtime = 1;");
    let mut c = Client::new(&r.server);
    let started = Instant::now();
    c.send(request_text("GET", "/slow.sh", &[]));
    let (bytes, closed) = c.rest_until_close();
    assert!(closed);
    assert!(started.elapsed() < Duration::from_secs(8));
    assert!(String::from_utf8_lossy(&bytes).contains("tick 1"));
    let pid = pid_in(&scripts(&r).join("slow.pid"));
    assert!(wait_for(|| !alive(pid)), "slow.sh (pid {pid}) still runs");
}

#[test]
fn cgi_client_leaving_kills_the_script() {
    let r = cgi("", "maxscripts = 1;");
    let mut c = Client::new(&r.server);
    c.send(request_text("GET", "/slow.sh", &[]));
    let pid = pid_in(&scripts(&r).join("slow.pid"));
    // The only slot is taken: another request is refused.
    let busy = exchange(&r.server, &request_text("GET", "/env.sh", &[]));
    assert_eq!(busy.status, 503);
    let mut buf = [0u8; 256];
    use std::io::Read;
    let _ = c.stream.read(&mut buf).unwrap();
    drop(c);
    assert!(
        wait_for(|| !alive(pid)),
        "slow.sh (pid {pid}) survived its client"
    );
    assert!(
        wait_for(|| exchange(&r.server, &request_text("GET", "/env.sh", &[])).status == 200),
        "slot released"
    );
}

#[cfg(feature = "auth")]
#[test]
fn cgi_remote_user_from_auth() {
    let r = cgi(
        "auth = { type = \"Basic\"; user = \"foo\"; passwd = \"bar\"; group = \"admin\"; };",
        "",
    );
    let resp = exchange(
        &r.server,
        &request_text("GET", "/env.sh", &["Authorization: Basic Zm9vOmJhcg=="]),
    );
    let env = env_of(&resp);
    assert_eq!(env.get("REMOTE_USER").map(String::as_str), Some("foo"));
    assert_eq!(env.get("AUTH_TYPE").map(String::as_str), Some("Basic"));
    assert_eq!(env.get("REMOTE_GROUP").map(String::as_str), Some("admin"));
    assert_eq!(env.get("HTTP_AUTHORIZATION"), None);
}
