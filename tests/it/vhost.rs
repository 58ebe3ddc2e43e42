//! Integration tests: virtual hosts (issue 9) and SNI (issue 4).

use std::process::{Command, Stdio};

use crate::support::{TestServer, site};

fn get(s: &TestServer, host: &str, path: &str) -> String {
    s.raw(format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes())
}

fn vhost_site() -> crate::support::TempDir {
    let dir = site();
    for (d, text) in [
        ("auth", "auth site\n"),
        ("media", "media site\n"),
        ("extra", "extra site\n"),
    ] {
        std::fs::create_dir_all(dir.path().join(d)).unwrap();
        std::fs::write(dir.path().join(d).join("index.html"), text).unwrap();
    }
    std::fs::write(
        dir.path().join("extra.conf"),
        "servers = ({ hostname = \"extra.example.org\"; document = { docroot = \"extra\"; }; });\n",
    )
    .unwrap();
    dir
}

const CONF: &str = r#"servers = ({ port = 0; addr = "127.0.0.1"; hostname = "www.example.org"; keepalivetimeout = 5;
  vhost = ({ hostname = "auth.example.org"; document = { docroot = "auth"; }; },
           { service = "media"; document = { docroot = "media"; }; },
           "extra.conf");
  document = { docroot = "htdocs"; }; });
"#;

#[test]
fn vhost_chosen_by_host_on_one_port() {
    let dir = vhost_site();
    let s = TestServer::start(dir.path(), CONF, &[]);
    assert!(get(&s, "auth.example.org", "/").ends_with("auth site\n"));
    assert!(get(&s, "AUTH.example.org:8080", "/").ends_with("auth site\n"));
    assert!(get(&s, "media.example.org", "/").ends_with("media site\n"));
    assert!(get(&s, "extra.example.org", "/").ends_with("extra site\n"));
    assert!(get(&s, "www.example.org", "/").ends_with("<h1>home</h1>\n"));
    assert!(get(&s, "unknown.example.org", "/hello.txt").ends_with("hello world\n"));
    // Each virtual host has only its own modules.
    assert!(get(&s, "auth.example.org", "/hello.txt").starts_with("HTTP/1.1 404"));
}

#[test]
fn vhost_requests_of_one_connection_are_matched_one_by_one() {
    let dir = vhost_site();
    let s = TestServer::start(dir.path(), CONF, &[]);
    let r = s.raw(b"GET / HTTP/1.1\r\nHost: auth.example.org\r\n\r\nGET / HTTP/1.1\r\nHost: media.example.org\r\nConnection: close\r\n\r\n");
    assert!(
        r.contains("auth site\n") && r.ends_with("media site\n"),
        "{r}"
    );
}

#[test]
fn vhost_without_name_or_service_is_an_error() {
    let dir = vhost_site();
    let conf = "servers = ({ port = 0; addr = \"127.0.0.1\";\n vhost = { document = { docroot = \"auth\"; }; };\n});\n";
    let err = TestServer::try_start(dir.path(), conf, &[])
        .err()
        .expect("started");
    assert!(
        err.contains("marmoset.conf:2:") && err.contains("needs `hostname` or `service`"),
        "{err}"
    );
}

#[test]
fn vhost_listed_by_list_roots() {
    let dir = vhost_site();
    std::fs::write(dir.path().join("m.conf"), CONF).unwrap();
    let out = crate::support::marmoset()
        .arg("-W")
        .arg(dir.path())
        .args(["--list-roots", "-f", "m.conf"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("  vhost auth.example.org\n    /\tdocument\n"),
        "{text}"
    );
    assert!(text.contains("  vhost extra.example.org\n"), "{text}");
}

#[test]
fn vhost_sni_picks_the_vhost_certificate() {
    let dir = vhost_site();
    let conf = r#"servers = ({ port = 0; addr = "127.0.0.1"; hostname = "www.example.org";
  tls = { crtfile = "www.crt"; keyfile = "www.key"; generate = true; };
  vhost = { hostname = "auth.example.org"; tls = { crtfile = "auth.crt"; keyfile = "auth.key"; };
            document = { docroot = "auth"; }; };
  document = { docroot = "htdocs"; }; });
"#;
    let ok = Command::new("openssl")
        .current_dir(dir.path())
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "auth.key",
            "-out",
            "auth.crt",
            "-days",
            "2",
            "-subj",
            "/CN=auth.example.org",
            "-addext",
            "subjectAltName=DNS:auth.example.org",
        ])
        .output()
        .unwrap();
    assert!(ok.status.success());
    let s = TestServer::start(dir.path(), conf, &[]);
    let subject = |name: &str| {
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!("openssl s_client -connect {} -servername {name} </dev/null 2>/dev/null | openssl x509 -noout -subject", s.addr))
            .stdin(Stdio::null())
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    assert!(
        subject("auth.example.org").contains("auth.example.org"),
        "{}",
        subject("auth.example.org")
    );
    assert!(!subject("www.example.org").contains("auth.example.org"));
    assert!(!subject("other.example.org").contains("auth.example.org"));
    let out = Command::new("curl")
        .args(["-sSk", "--resolve"])
        .arg(format!("auth.example.org:{}:127.0.0.1", s.addr.port()))
        .arg(format!("https://auth.example.org:{}/", s.addr.port()))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "auth site\n");
}
