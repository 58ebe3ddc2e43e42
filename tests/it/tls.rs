//! Integration tests: HTTPS (issue 4), with certificates made by openssl.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::support::{TestServer, site};

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA, an intermediate CA and a leaf for `name` (and 127.0.0.1):
/// `ca.crt`, `<name>.crt` (leaf + intermediate), `<name>.key`.
fn pki(dir: &Path, name: &str) {
    if !dir.join("ca.crt").exists() {
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.crt",
                "-days",
                "2",
                "-subj",
                "/CN=Test Root CA",
            ],
        );
        openssl(
            dir,
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                "int.key",
                "-out",
                "int.csr",
                "-subj",
                "/CN=Test Intermediate",
            ],
        );
        std::fs::write(
            dir.join("int.ext"),
            "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n",
        )
        .unwrap();
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                "int.csr",
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "int.crt",
                "-days",
                "2",
                "-extfile",
                "int.ext",
            ],
        );
    }
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
            "-subj",
            &format!("/CN={name}"),
        ],
    );
    std::fs::write(
        dir.join(format!("{name}.ext")),
        format!("subjectAltName=DNS:{name},IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"),
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            "int.crt",
            "-CAkey",
            "int.key",
            "-CAcreateserial",
            "-out",
            &format!("{name}.leaf"),
            "-days",
            "2",
            "-extfile",
            &format!("{name}.ext"),
        ],
    );
    let chain = std::fs::read_to_string(dir.join(format!("{name}.leaf"))).unwrap()
        + &std::fs::read_to_string(dir.join("int.crt")).unwrap();
    std::fs::write(dir.join(format!("{name}.crt")), chain).unwrap();
}

fn tls_conf(tls: &str) -> String {
    format!(
        "servers = ({{ port = 0; addr = \"127.0.0.1\"; hostname = \"dev.example.org\"; keepalivetimeout = 5;\n tls = {{ {tls} }};\n document = {{ docroot = \"htdocs\"; }}; }});\n"
    )
}

fn curl_https(server: &TestServer, name: &str, args: &[&str]) -> Output {
    Command::new("curl")
        .current_dir(&server.dir)
        .args(["-sS", "--max-time", "20", "--cacert", "ca.crt"])
        .arg("--resolve")
        .arg(format!("{name}:{}:127.0.0.1", server.addr.port()))
        .args(args)
        .arg(format!("https://{name}:{}/hello.txt", server.addr.port()))
        .output()
        .unwrap()
}

fn s_client(server: &TestServer, args: &[&str]) -> (bool, String) {
    let out = Command::new("openssl")
        .arg("s_client")
        .arg("-connect")
        .arg(server.addr.to_string())
        .args(["-servername", "dev.example.org"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (
        out.status.success() && text.contains("Verify return code") && !text.contains("alert"),
        text,
    )
}

#[test]
fn tls_curl_gets_the_page_with_the_ca_file() {
    let dir = site();
    pki(dir.path(), "dev.example.org");
    let server = TestServer::start(
        dir.path(),
        &tls_conf("crtfile = \"dev.example.org.crt\"; keyfile = \"dev.example.org.key\";"),
        &[],
    );
    let out = curl_https(&server, "dev.example.org", &["--http1.1"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello world\n");
}

#[test]
fn tls_sends_the_full_chain_and_refuses_old_protocols() {
    let dir = site();
    pki(dir.path(), "dev.example.org");
    let server = TestServer::start(
        dir.path(),
        &tls_conf("crtfile = \"dev.example.org.crt\"; keyfile = \"dev.example.org.key\";"),
        &[],
    );
    let ca = dir.path().join("ca.crt");
    let (ok, text) = s_client(&server, &["-showcerts", "-CAfile", ca.to_str().unwrap()]);
    assert!(ok, "{text}");
    assert!(text.contains("Verify return code: 0 (ok)"), "{text}");
    assert!(
        text.contains("1 s:CN = Test Intermediate") || text.contains("1 s:CN=Test Intermediate"),
        "chain not sent: {text}"
    );
    for old in ["-tls1", "-tls1_1"] {
        let (ok, text) = s_client(&server, &[old, "-CAfile", ca.to_str().unwrap()]);
        assert!(!ok, "{old} accepted: {text}");
    }
    let (ok, text) = s_client(&server, &["-tls1_2", "-CAfile", ca.to_str().unwrap()]);
    assert!(ok, "TLS 1.2 refused: {text}");
}

#[test]
fn tls_restricted_protocols_and_suites_are_honoured() {
    let dir = site();
    pki(dir.path(), "dev.example.org");
    let server = TestServer::start(
        dir.path(),
        &tls_conf(
            "crtfile = \"dev.example.org.crt\"; keyfile = \"dev.example.org.key\"; protocols = \"TLSv1.2\"; ciphers = \"ECDHE-RSA-AES128-GCM-SHA256\";",
        ),
        &[],
    );
    let ca = dir.path().join("ca.crt");
    let ca = ca.to_str().unwrap();
    let (ok, text) = s_client(
        &server,
        &[
            "-tls1_2",
            "-cipher",
            "ECDHE-RSA-AES128-GCM-SHA256",
            "-CAfile",
            ca,
        ],
    );
    assert!(ok, "{text}");
    assert!(text.contains("ECDHE-RSA-AES128-GCM-SHA256"), "{text}");
    let (ok, _) = s_client(
        &server,
        &[
            "-tls1_2",
            "-cipher",
            "ECDHE-RSA-AES256-GCM-SHA384",
            "-CAfile",
            ca,
        ],
    );
    assert!(!ok, "a suite outside the list was accepted");
    let (ok, _) = s_client(&server, &["-tls1_3", "-CAfile", ca]);
    assert!(!ok, "TLS 1.3 accepted although protocols = TLSv1.2");
}

#[test]
fn tls_http2_by_alpn_serves_the_same_bytes() {
    let dir = site();
    pki(dir.path(), "dev.example.org");
    let server = TestServer::start(
        dir.path(),
        &tls_conf("crtfile = \"dev.example.org.crt\"; keyfile = \"dev.example.org.key\";"),
        &[],
    );
    let h2 = curl_https(
        &server,
        "dev.example.org",
        &["--http2", "-w", "\n%{http_version}"],
    );
    let h1 = curl_https(
        &server,
        "dev.example.org",
        &["--http1.1", "-w", "\n%{http_version}"],
    );
    assert_eq!(String::from_utf8_lossy(&h2.stdout), "hello world\n\n2");
    assert_eq!(String::from_utf8_lossy(&h1.stdout), "hello world\n\n1.1");
}

/// Files of sizes around HTTP/2's frame and the server's write-buffer
/// bounds, in `htdocs/h2/`; their names.
fn h2_files(dir: &Path) -> Vec<String> {
    let root = dir.join("htdocs/h2");
    std::fs::create_dir_all(&root).unwrap();
    let sizes = [0, 1, 255, 1024, 5000, 16383, 16384, 16385, 40000, 1 << 20];
    sizes
        .iter()
        .map(|&size| {
            let name = format!("f{size}.bin");
            let bytes: Vec<u8> = (0..size).map(|i| (i * 7 % 251) as u8).collect();
            std::fs::write(root.join(&name), bytes).unwrap();
            name
        })
        .collect()
}

/// curl fetches every file three times at once over one HTTP/2
/// connection (`--parallel`, multiplexed); each copy must match.
fn h2_fetch_all(server: &TestServer, base: &str, files: &[String], extra: &[&str]) {
    let out_dir = server.dir.join("got");
    std::fs::create_dir_all(&out_dir).unwrap();
    let mut cmd = Command::new("curl");
    cmd.current_dir(&server.dir)
        .args([
            "-sS",
            "--max-time",
            "20",
            "--parallel",
            "--parallel-max",
            "30",
        ])
        .args(extra)
        .args(["-w", "%{http_version} %{num_connects}\n"]);
    for round in 0..3 {
        for name in files {
            cmd.arg("-o")
                .arg(out_dir.join(format!("{round}-{name}")))
                .arg(format!("{base}/h2/{name}"));
        }
    }
    let out = cmd.output().unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{report}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // curl reports the version of the transfer that connected; thirty
    // transfers at once on one connection are multiplexed streams.
    assert!(
        report.lines().any(|l| l == "2 1"),
        "no HTTP/2 connection:\n{report}"
    );
    let connects = report.lines().filter(|l| !l.ends_with(" 0")).count();
    assert_eq!(
        connects, 1,
        "the streams did not share one connection:\n{report}"
    );
    for round in 0..3 {
        for name in files {
            let want = std::fs::read(server.dir.join("htdocs/h2").join(name)).unwrap();
            let got = std::fs::read(out_dir.join(format!("{round}-{name}"))).unwrap();
            assert!(
                got == want,
                "{name} (round {round}): {} bytes, want {}",
                got.len(),
                want.len()
            );
        }
    }
}

/// The HTTP/2 connection gathers its writes: many streams of every size
/// at once still get their own bytes, whole and in order.
#[test]
fn tls_http2_parallel_streams_of_all_sizes_arrive_whole() {
    let dir = site();
    pki(dir.path(), "dev.example.org");
    let files = h2_files(dir.path());
    let server = TestServer::start(
        dir.path(),
        &tls_conf("crtfile = \"dev.example.org.crt\"; keyfile = \"dev.example.org.key\";"),
        &[],
    );
    let base = format!("https://dev.example.org:{}", server.addr.port());
    let resolve = format!("dev.example.org:{}:127.0.0.1", server.addr.port());
    h2_fetch_all(
        &server,
        &base,
        &files,
        &["--http2", "--cacert", "ca.crt", "--resolve", &resolve],
    );
}

/// The same on a plain port whose `version` is `HTTP/2` (prior knowledge),
/// by h2load (curl 7.88 cannot reuse a prior-knowledge connection): thirty
/// streams at once on one connection, each file three times; every
/// request succeeds and the body bytes add up.
#[test]
fn http2_prior_knowledge_parallel_streams_arrive_whole() {
    let dir = site();
    let files = h2_files(dir.path());
    let server = TestServer::start(
        dir.path(),
        "servers = ({ port = 0; addr = \"127.0.0.1\"; version = \"HTTP/2\";\n document = { docroot = \"htdocs\"; }; });\n",
        &[],
    );
    let root = dir.path().join("htdocs/h2");
    let want: u64 = files
        .iter()
        .map(|f| 3 * std::fs::metadata(root.join(f)).unwrap().len())
        .sum();
    let out = Command::new("h2load")
        .args(["-c1", "-m30", "-n", &(3 * files.len()).to_string()])
        .args(
            files
                .iter()
                .map(|f| format!("http://127.0.0.1:{}/h2/{f}", server.addr.port())),
        )
        .output()
        .expect("h2load (Debian nghttp2-client; test.sh installs it)");
    let report = String::from_utf8_lossy(&out.stdout);
    let done = format!("{n} succeeded, 0 failed", n = 3 * files.len());
    assert!(report.contains(&done), "{report}");
    let data = report
        .lines()
        .find(|l| l.starts_with("traffic:"))
        .and_then(|l| {
            l.rsplit_once(") data")?
                .0
                .rsplit_once('(')?
                .1
                .parse::<u64>()
                .ok()
        });
    assert_eq!(data, Some(want), "{report}");
}

/// Request bodies over HTTP/2 (prior knowledge): a 300 KiB PUT (many DATA
/// frames) and an empty one arrive whole through the REST API, and the file
/// reads back the same; a GET (HEADERS ends its stream: no body) still works
/// on the same server.
#[test]
fn http2_prior_knowledge_uploads_arrive_whole() {
    let dir = site();
    let server = TestServer::start(
        dir.path(),
        "servers = ({ port = 0; addr = \"127.0.0.1\"; version = \"HTTP/2\";\n document = { docroot = \"htdocs\"; options = \"rest\"; }; });\n",
        &[],
    );
    let data: Vec<u8> = (0..300 * 1024u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(dir.path().join("up.bin"), &data).unwrap();
    std::fs::write(dir.path().join("empty.bin"), b"").unwrap();
    let curl = |args: &[&str], path: &str| {
        let mut all = vec!["--http2-prior-knowledge", "-o", "-"];
        all.extend(["-w", "\n%{http_version} %{http_code}"]);
        all.extend_from_slice(args);
        let out = server.curl(path, &all);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    for (file, size) in [("up.bin", data.len()), ("empty.bin", 0)] {
        let upload = dir.path().join(file);
        let out = curl(&["-T", upload.to_str().unwrap()], &format!("/{file}"));
        let text = String::from_utf8_lossy(&out);
        assert!(text.ends_with("2 201"), "PUT {file} (201 Created): {text}");
        let stored = std::fs::read(dir.path().join("htdocs").join(file)).unwrap();
        assert_eq!(stored.len(), size, "PUT {file}");
    }
    assert_eq!(
        std::fs::read(dir.path().join("htdocs/up.bin")).unwrap(),
        data
    );
    let mut got = curl(&[], "/up.bin");
    let status = got.split_off(got.len() - "\n2 200".len());
    assert_eq!(status, b"\n2 200");
    assert_eq!(got, data, "GET after PUT");
}

/// HTTP/1 writes the server's default headers in its encoder, hyper's
/// HTTP/2 gets them in the header map: both must carry the same ones, once.
#[test]
fn tls_http2_and_http1_carry_the_same_default_headers() {
    let dir = site();
    pki(dir.path(), "dev.example.org");
    let server = TestServer::start(
        dir.path(),
        &tls_conf("crtfile = \"dev.example.org.crt\"; keyfile = \"dev.example.org.key\";"),
        &[],
    );
    let defaults = [
        "server",
        "date",
        "x-frame-options",
        "cache-control",
        "pragma",
        "expires",
        "x-content-type-options",
        "referrer-policy",
    ];
    for version in ["--http2", "--http1.1"] {
        let out = curl_https(
            &server,
            "dev.example.org",
            &[version, "-D", "-", "-o", "/dev/null"],
        );
        let head = String::from_utf8_lossy(&out.stdout).to_ascii_lowercase();
        for name in defaults {
            let count = head
                .lines()
                .filter(|l| l.starts_with(&format!("{name}:")))
                .count();
            assert_eq!(count, 1, "{version}: `{name}` {count} times in\n{head}");
        }
        assert!(head.contains("x-frame-options: deny"), "{version}:\n{head}");
    }
}

#[test]
fn tls_plain_http_to_a_tls_port_gets_no_data() {
    let dir = site();
    pki(dir.path(), "dev.example.org");
    let server = TestServer::start(
        dir.path(),
        &tls_conf("crtfile = \"dev.example.org.crt\"; keyfile = \"dev.example.org.key\";"),
        &[],
    );
    let mut s = server.connect();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    assert!(
        !text.contains("hello world") && !text.contains("HTTP/1.1 200"),
        "{text}"
    );
}

#[test]
fn tls_bad_files_give_clear_startup_errors() {
    let dir = site();
    pki(dir.path(), "dev.example.org");
    pki(dir.path(), "other.example.org");
    let cases = [
        (
            "crtfile = \"missing.crt\"; keyfile = \"dev.example.org.key\";",
            "crtfile missing.crt: No such file",
        ),
        (
            "crtfile = \"dev.example.org.crt\"; keyfile = \"other.example.org.key\";",
            "does not match the certificate",
        ),
        (
            "crtfile = \"htdocs/hello.txt\"; keyfile = \"dev.example.org.key\";",
            "no certificate in the file",
        ),
        (
            "crtfile = \"dev.example.org.crt\"; keyfile = \"htdocs/hello.txt\";",
            "no usable private key",
        ),
        (
            "crtfile = \"dev.example.org.crt\";",
            "missing key `keyfile`",
        ),
        (
            "crtfile = \"dev.example.org.crt\"; keyfile = \"dev.example.org.key\"; protocols = \"TLSv1.0\";",
            "only TLS 1.2 and 1.3",
        ),
    ];
    for (tls, expected) in cases {
        let err = TestServer::try_start(dir.path(), &tls_conf(tls), &[])
            .err()
            .unwrap_or_else(|| panic!("started with {tls}"));
        assert!(
            err.contains(expected),
            "for {tls}: expected {expected:?} in:\n{err}"
        );
        assert!(
            err.contains("marmoset.conf:2:"),
            "no location for {tls}:\n{err}"
        );
    }
}

#[test]
fn tls_self_signed_certificate_generated_once_and_reused() {
    let dir = site();
    let conf =
        tls_conf("crtfile = \"certs/srv.crt\"; keyfile = \"certs/srv.key\"; generate = true;");
    let server = TestServer::start(dir.path(), &conf, &[]);
    let crt = dir.path().join("certs/srv.crt");
    let key = dir.path().join("certs/srv.key");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let first = std::fs::read(&crt).unwrap();
    let out = Command::new("curl")
        .args(["-sS", "--cacert"])
        .arg(&crt)
        .arg("--resolve")
        .arg(format!("dev.example.org:{}:127.0.0.1", server.addr.port()))
        .arg(format!(
            "https://dev.example.org:{}/hello.txt",
            server.addr.port()
        ))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hello world\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop(server);
    let _again = TestServer::start(dir.path(), &conf, &[]);
    assert_eq!(
        std::fs::read(&crt).unwrap(),
        first,
        "certificate regenerated"
    );
}

#[test]
fn tls_reload_picks_up_a_new_certificate_while_a_connection_stays_open() {
    let dir = site();
    pki(dir.path(), "dev.example.org");
    let server = TestServer::start(
        dir.path(),
        &tls_conf("crtfile = \"srv.crt\"; keyfile = \"srv.key\";")
            .replace("srv.", "dev.example.org."),
        &[],
    );
    let serial = |s: &TestServer| {
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!("openssl s_client -connect {} -servername dev.example.org </dev/null 2>/dev/null | openssl x509 -noout -serial", s.addr))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let before = serial(&server);
    assert!(before.starts_with("serial="), "{before}");
    // An established HTTP/1.1 keep-alive connection over TLS, kept by openssl.
    let mut held = Command::new("openssl")
        .args(["s_client", "-quiet", "-connect"])
        .arg(server.addr.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = held.stdin.take().unwrap();
    stdin
        .write_all(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    // Renew: a new leaf with a new serial, written over the old files.
    pki(dir.path(), "dev.example.org");
    crate::support::unsafe_kill(server.pid(), "HUP");
    let mut after = before.clone();
    for _ in 0..50 {
        after = serial(&server);
        if after != before {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_ne!(after, before, "certificate not reloaded");
    // The old connection still answers.
    stdin
        .write_all(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    held.stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let _ = held.wait();
    assert_eq!(out.matches("hello world").count(), 2, "{out}");
}

#[test]
fn tls_client_without_tls_does_not_stop_the_server() {
    let dir = site();
    pki(dir.path(), "dev.example.org");
    let server = TestServer::start(
        dir.path(),
        &tls_conf("crtfile = \"dev.example.org.crt\"; keyfile = \"dev.example.org.key\";"),
        &[],
    );
    for _ in 0..5 {
        let mut s = TcpStream::connect(server.addr).unwrap();
        let _ = s.write_all(b"\x16\x03\x01garbage");
    }
    let out = curl_https(&server, "dev.example.org", &[]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello world\n");
}
