//! Integration tests: CORS (issue 9).

use crate::support::{TestServer, site};

fn server(cors: &str) -> (crate::support::TempDir, TestServer) {
    let dir = site();
    let conf = format!(
        "servers = ({{ port = 0; addr = \"127.0.0.1\"; hostname = \"www.example.org\"; keepalivetimeout = 5;\n cors = {cors};\n document = {{ docroot = \"htdocs\"; }}; }});\n"
    );
    let s = TestServer::start(dir.path(), &conf, &[]);
    (dir, s)
}

fn head_of(resp: &str) -> String {
    resp.split("\r\n\r\n")
        .next()
        .unwrap_or("")
        .to_ascii_lowercase()
}

#[test]
fn cors_preflight_from_an_allowed_origin() {
    let (_d, s) = server(r#"{ origin = "localhost,app.example.org"; }"#);
    let r = s.raw(b"OPTIONS /api HTTP/1.1\r\nHost: x\r\nOrigin: http://localhost:8080\r\nAccess-Control-Request-Method: PUT\r\nAccess-Control-Request-Headers: x-auth-token\r\nConnection: close\r\n\r\n");
    let h = head_of(&r);
    assert!(h.starts_with("http/1.1 200"), "{r}");
    assert!(
        h.contains("access-control-allow-origin: http://localhost:8080"),
        "{r}"
    );
    assert!(
        h.contains("access-control-allow-methods: get,post,head,put,delete,options"),
        "{r}"
    );
    assert!(
        h.contains("access-control-allow-headers: x-auth-token"),
        "{r}"
    );
    assert!(h.contains("access-control-allow-credentials: true"), "{r}");
    let r = s.raw(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nOrigin: https://app.example.org\r\nConnection: close\r\n\r\n");
    let h = head_of(&r);
    assert!(
        h.contains("access-control-allow-origin: https://app.example.org"),
        "{r}"
    );
    assert!(h.contains("vary: origin"), "{r}");
    assert!(r.ends_with("hello world\n"));
}

#[test]
fn cors_refused_origins() {
    let (_d, s) = server(r#"{ origin = "app.example.org"; }"#);
    let r = s.raw(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nOrigin: https://evil.org\r\nConnection: close\r\n\r\n");
    let h = head_of(&r);
    assert!(h.starts_with("http/1.1 200"), "{r}");
    assert!(!h.contains("access-control-allow-origin"), "{r}");
    assert!(h.contains("vary: origin"), "{r}");
    let r = s.raw(b"PUT /x HTTP/1.1\r\nHost: x\r\nOrigin: https://evil.org\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    assert!(r.starts_with("HTTP/1.1 405"), "{r}");
    // Same site (a sibling of the server's host): not refused by CORS.
    let r = s.raw(b"DELETE /x HTTP/1.1\r\nHost: x\r\nOrigin: https://other.example.org\r\nConnection: close\r\n\r\n");
    assert!(!r.starts_with("HTTP/1.1 405"), "{r}");
    let r = s.raw(b"OPTIONS /x HTTP/1.1\r\nHost: x\r\nOrigin: https://evil.org\r\nAccess-Control-Request-Method: GET\r\nConnection: close\r\n\r\n");
    assert!(!head_of(&r).contains("access-control-allow-origin"), "{r}");
}

#[test]
fn cors_wildcard_never_grants_credentials() {
    let (_d, s) = server(r#"{ origin = "*"; }"#);
    let r = s.raw(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nOrigin: https://anyone.org\r\nConnection: close\r\n\r\n");
    let h = head_of(&r);
    assert!(h.contains("access-control-allow-origin: *"), "{r}");
    assert!(!h.contains("access-control-allow-credentials"), "{r}");
}

#[test]
fn cors_default_origin_is_the_server_hostname() {
    let (_d, s) = server("{ }");
    let r = s.raw(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nOrigin: http://www.example.org\r\nConnection: close\r\n\r\n");
    assert!(
        head_of(&r).contains("access-control-allow-origin: http://www.example.org"),
        "{r}"
    );
}
