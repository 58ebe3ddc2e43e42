//! Integration tests: the redirect module (issue 9).

use crate::support::{TestServer, site};

fn header<'a>(resp: &'a str, name: &str) -> Option<&'a str> {
    resp.split("\r\n\r\n").next()?.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn get(server: &TestServer, target: &str) -> String {
    server.raw(
        format!("GET {target} HTTP/1.1\r\nHost: dev.example.org\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
}

fn redirect_server(redirect: &str) -> (crate::support::TempDir, TestServer) {
    let dir = site();
    std::fs::write(dir.path().join("htdocs/new.html"), "new\n").unwrap();
    std::fs::write(dir.path().join("notfound.html"), "<p>nothing here</p>\n").unwrap();
    let conf = format!(
        "servers = ({{ port = 0; addr = \"127.0.0.1\"; hostname = \"dev.example.org\"; keepalivetimeout = 5;\n redirect = {redirect};\n document = {{ docroot = \"htdocs\"; }}; }});\n"
    );
    let server = TestServer::start(dir.path(), &conf, &[]);
    (dir, server)
}

#[test]
fn redirect_string_and_pattern_links() {
    let (_d, s) = redirect_server(
        r#"{ links = ({ origin = "old.html"; destination = "new.html"; },
                    { origin = "archive/*"; destination = "files/"; options = "temporary"; },
                    { origin = "^/moved/*"; destination = "/new/"; options = "permanently,query"; }); }"#,
    );
    let r = get(&s, "/x/old.html");
    assert!(r.starts_with("HTTP/1.1 302 Found"), "{r}");
    assert_eq!(header(&r, "location"), Some("new.html"));
    assert!(r.ends_with(" 302 Found\r\n"), "{r}");
    let r = get(&s, "/x/archive/a.html");
    assert!(r.starts_with("HTTP/1.1 307"), "{r}");
    assert_eq!(header(&r, "location"), Some("files/a.html"));
    let r = get(&s, "/moved/a/b?x=1");
    assert!(r.starts_with("HTTP/1.1 301"), "{r}");
    assert_eq!(header(&r, "location"), Some("/new/a/b?x=1"));
    let r = get(&s, "/x/old.html?noredirect");
    assert!(r.starts_with("HTTP/1.1 204"), "{r}");
    // A path that matches its own destination is not redirected (loop guard).
    let r = get(&s, "/new.html");
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
}

#[test]
fn redirect_query_link_refuses_open_redirects() {
    let (_d, s) = redirect_server(
        r#"{ links = ({ origin = "^/token"; options = "query,temporary"; },
                    { origin = "^/trusted"; options = "query"; allow = "^https://app.example.org/*"; }); }"#,
    );
    let r = get(&s, "/token?redirect_uri=%2Fnew.html");
    assert!(r.starts_with("HTTP/1.1 307"), "{r}");
    assert_eq!(header(&r, "location"), Some("/new.html"));
    let r = get(&s, "/token?redirect_uri=https%3A%2F%2Fdev.example.org%2Fx");
    assert_eq!(
        header(&r, "location"),
        Some("https://dev.example.org/x"),
        "{r}"
    );
    for evil in [
        "https%3A%2F%2Fevil.org%2F",
        "%2F%2Fevil.org%2F",
        "https%3A%2F%2Fdev.example.org.evil.org%2F",
    ] {
        let r = get(&s, &format!("/token?redirect_uri={evil}"));
        assert!(r.starts_with("HTTP/1.1 400"), "{evil}: {r}");
        assert_eq!(header(&r, "location"), None);
    }
    let r = get(&s, "/token");
    assert!(r.starts_with("HTTP/1.1 204"), "{r}");
    let r = get(
        &s,
        "/trusted?redirect_uri=https%3A%2F%2Fapp.example.org%2Fhome",
    );
    assert!(r.starts_with("HTTP/1.1 302"), "{r}");
    assert_eq!(header(&r, "location"), Some("https://app.example.org/home"));
    let r = get(
        &s,
        "/trusted?redirect_uri=https%3A%2F%2Fother.example.org%2F",
    );
    assert!(r.starts_with("HTTP/1.1 400"), "{r}");
}

#[test]
fn redirect_generate_204_captive_portal() {
    let (_d, s) = redirect_server(
        r#"{ options = "generate_204"; links = ({ origin = "^/hotspot"; options = "generate_204"; }); }"#,
    );
    for path in [
        "/generate_204",
        "/gen/generate_204",
        "/true",
        "/hotspot-detect.html",
    ] {
        let r = get(&s, path);
        assert!(r.starts_with("HTTP/1.1 204"), "{path}: {r}");
    }
    let r = s.raw(
        b"POST /generate_204 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    );
    assert!(r.starts_with("HTTP/1.1 204"), "{r}");
    assert!(get(&s, "/hello.txt").starts_with("HTTP/1.1 200"));
}

#[test]
fn redirect_error_links_and_error_pages() {
    let (_d, s) = redirect_server(r#"{ links = ({ origin = 404; destination = "/new.html"; }); }"#);
    let r = get(&s, "/missing.html");
    assert!(r.starts_with("HTTP/1.1 301"), "{r}");
    assert_eq!(header(&r, "location"), Some("/new.html"));
    drop(s);
    let (_d, s) = redirect_server(r#"{ links = ({ origin = 404; page = "notfound.html"; }); }"#);
    let r = get(&s, "/missing.html");
    assert!(r.starts_with("HTTP/1.1 404"), "{r}");
    assert_eq!(header(&r, "content-type"), Some("text/html"));
    assert!(r.ends_with("<p>nothing here</p>\n"), "{r}");
    assert!(get(&s, "/hello.txt").ends_with("hello world\n"));
}

#[test]
fn redirect_missing_error_page_is_a_startup_error() {
    let dir = site();
    let conf = "servers = ({ port = 0; addr = \"127.0.0.1\";\n redirect = { links = ({ origin = 404; page = \"nope.html\"; }); };\n document = { docroot = \"htdocs\"; }; });\n";
    let err = TestServer::try_start(dir.path(), conf, &[])
        .err()
        .expect("started");
    assert!(
        err.contains("marmoset.conf:2:") && err.contains("nope.html"),
        "{err}"
    );
}

#[test]
fn redirect_hsts_sends_plain_http_to_https() {
    let (_d, s) = redirect_server(r#"{ options = "hsts"; tls_port = 8443; }"#);
    let r =
        s.raw(b"GET /a/b?c=d HTTP/1.1\r\nHost: dev.example.org:8080\r\nConnection: close\r\n\r\n");
    assert!(r.starts_with("HTTP/1.1 301"), "{r}");
    assert_eq!(
        header(&r, "location"),
        Some("https://dev.example.org:8443/a/b?c=d")
    );
    assert_eq!(header(&r, "strict-transport-security"), None);
    let r = s.raw(b"POST /form HTTP/1.1\r\nHost: dev.example.org\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    assert!(r.starts_with("HTTP/1.1 308"), "{r}");
}

#[test]
fn redirect_hsts_header_on_https() {
    let dir = site();
    let conf = "servers = ({ port = 0; addr = \"127.0.0.1\"; hostname = \"dev.example.org\";\n tls = { crtfile = \"c.crt\"; keyfile = \"c.key\"; generate = true; };\n redirect = { options = \"hsts\"; };\n document = { docroot = \"htdocs\"; }; });\n";
    let s = TestServer::start(dir.path(), conf, &[]);
    let out = std::process::Command::new("curl")
        .args(["-sSk", "-D", "-", "-o", "/dev/null"])
        .arg(format!("https://127.0.0.1:{}/hello.txt", s.addr.port()))
        .output()
        .unwrap();
    let head = String::from_utf8_lossy(&out.stdout).to_ascii_lowercase();
    assert!(
        head.contains("strict-transport-security: max-age=31536000; includesubdomains"),
        "{head}"
    );
}
