//! Integration tests: http — the engine on the wire (versions, keep-alive,
//! pipelining, limits, default headers, error bodies, access log).
//!
//! Bytes matter here, so most tests talk raw TCP through [`Client`], which
//! parses responses by their framing (`Content-Length`, chunked, or close).
//! The response helpers are `pub(crate)` so that the document tests use the
//! same parser.

use std::io::{ErrorKind, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant, SystemTime};

use crate::support::{TempDir, TestServer, site};

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// A running server with its site; the server is stopped before the
/// directory is removed (fields drop in order).
pub(crate) struct Running {
    pub server: TestServer,
    pub dir: TempDir,
}

/// Start a server on [`site()`] with `conf` (a whole configuration).
pub(crate) fn run(conf: &str) -> Running {
    let dir = site();
    run_in(dir, conf)
}

/// Start a server on an existing site directory.
pub(crate) fn run_in(dir: TempDir, conf: &str) -> Running {
    let server = TestServer::start(dir.path(), conf, &[]);
    Running { server, dir }
}

/// A configuration with only the given server keys (no keep-alive or
/// maxclients defaults, unlike `doc_conf`, since libconfig refuses
/// duplicate settings).
pub(crate) fn conf(server_keys: &str, document_keys: &str) -> String {
    format!(
        "servers = ({{ port = 0; addr = \"127.0.0.1\"; {server_keys}\n document = {{ docroot = \"htdocs\"; {document_keys} }}; }});\n"
    )
}

/// One parsed response.
#[derive(Debug, Clone)]
pub(crate) struct Resp {
    /// The raw status line, without CRLF.
    pub status_line: String,
    pub version: String,
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every header named `name`.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The body as (lossy) text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Parse one response from the start of `buf`. `head`: the request was
/// HEAD (no body whatever the headers say). `eof`: the peer has closed (a
/// response without length then ends at the end of `buf`). Returns the
/// response and the bytes it used, or `None` when more bytes are needed.
pub(crate) fn parse_response(buf: &[u8], head: bool, eof: bool) -> Option<(Resp, usize)> {
    let end = find(buf, b"\r\n\r\n")?;
    let head_text = String::from_utf8_lossy(&buf[..end]).into_owned();
    let mut lines = head_text.split("\r\n");
    let status_line = lines.next().unwrap_or_default().to_string();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default().to_string();
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let reason = parts.next().unwrap_or_default().to_string();
    let headers: Vec<(String, String)> = lines
        .map(|l| {
            let (n, v) = l
                .split_once(':')
                .unwrap_or_else(|| panic!("bad header line {l:?}"));
            (n.trim().to_string(), v.trim().to_string())
        })
        .collect();
    let mut resp = Resp {
        status_line,
        version,
        status,
        reason,
        headers,
        body: Vec::new(),
    };
    let start = end + 4;
    let rest = &buf[start..];
    if head || (100..200).contains(&status) || status == 204 || status == 304 {
        return Some((resp, start));
    }
    let chunked = resp
        .header("transfer-encoding")
        .is_some_and(|t| t.to_ascii_lowercase().contains("chunked"));
    if chunked {
        let mut pos = 0;
        let mut body = Vec::new();
        loop {
            let eol = find(&rest[pos..], b"\r\n")?;
            let size_text = String::from_utf8_lossy(&rest[pos..pos + eol]).into_owned();
            let size_text = size_text.split(';').next().unwrap_or_default().trim();
            let size = usize::from_str_radix(size_text, 16)
                .unwrap_or_else(|_| panic!("bad chunk size {size_text:?}"));
            pos += eol + 2;
            if size == 0 {
                // No trailers expected: the final CRLF.
                let eol = find(&rest[pos..], b"\r\n")?;
                pos += eol + 2;
                break;
            }
            if rest.len() < pos + size + 2 {
                return None;
            }
            body.extend_from_slice(&rest[pos..pos + size]);
            pos += size + 2;
        }
        resp.body = body;
        return Some((resp, start + pos));
    }
    if let Some(len) = resp.header("content-length") {
        let len: usize = len.parse().expect("numeric Content-Length");
        if rest.len() < len {
            return None;
        }
        resp.body = rest[..len].to_vec();
        return Some((resp, start + len));
    }
    if eof {
        resp.body = rest.to_vec();
        return Some((resp, buf.len()));
    }
    None
}

/// A raw TCP client that keeps what it has read but not yet parsed.
pub(crate) struct Client {
    pub stream: TcpStream,
    buf: Vec<u8>,
    eof: bool,
}

const READ_TIMEOUT: Duration = Duration::from_secs(10);

impl Client {
    /// Connect to `server`.
    pub fn new(server: &TestServer) -> Client {
        Client {
            stream: server.connect(),
            buf: Vec::new(),
            eof: false,
        }
    }

    /// Send bytes.
    pub fn send(&mut self, data: impl AsRef<[u8]>) {
        self.stream.write_all(data.as_ref()).expect("send");
    }

    /// Read once into the buffer; false on EOF / reset. Panics on timeout.
    fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 65536];
        match crate::support::read_some(&mut self.stream, &mut chunk) {
            Ok(0) => {
                self.eof = true;
                false
            }
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
            Err(e) if is_timeout(&e) => panic!(
                "no complete response within {READ_TIMEOUT:?}; got {:?}",
                String::from_utf8_lossy(&self.buf)
            ),
            Err(_) => {
                self.eof = true;
                false
            }
        }
    }

    /// The next response to a GET-like request.
    pub fn response(&mut self) -> Resp {
        self.response_for(false)
    }

    /// The next response; `head`: it answers a HEAD request.
    pub fn response_for(&mut self, head: bool) -> Resp {
        loop {
            if let Some((r, used)) = parse_response(&self.buf, head, self.eof) {
                self.buf.drain(..used);
                return r;
            }
            if self.eof {
                panic!(
                    "connection closed before a complete response; got {:?}",
                    String::from_utf8_lossy(&self.buf)
                );
            }
            self.fill();
        }
    }

    /// Wait at most `within` for the server to close the connection (EOF or
    /// reset). Bytes that arrive meanwhile are kept in the buffer.
    pub fn closed_within(&mut self, within: Duration) -> bool {
        if self.eof {
            return true;
        }
        let deadline = Instant::now() + within;
        let mut chunk = [0u8; 65536];
        let closed = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break false;
            }
            self.stream
                .set_read_timeout(Some(left.min(Duration::from_millis(100))))
                .unwrap();
            match crate::support::read_some(&mut self.stream, &mut chunk) {
                Ok(0) => break true,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if is_timeout(&e) => {}
                Err(_) => break true,
            }
        };
        self.stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        self.eof |= closed;
        closed
    }

    /// Read until the server closes (at most 10 s): everything received
    /// that was not parsed yet, and whether the connection was closed.
    pub fn rest_until_close(&mut self) -> (Vec<u8>, bool) {
        let closed = self.closed_within(READ_TIMEOUT);
        (std::mem::take(&mut self.buf), closed)
    }

    /// Bytes received and not parsed yet.
    pub fn pending(&self) -> &[u8] {
        &self.buf
    }
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

/// Send `raw` on a new connection and parse the first response.
pub(crate) fn exchange(server: &TestServer, raw: &str) -> Resp {
    let mut c = Client::new(server);
    c.send(raw);
    c.response_for(raw.starts_with("HEAD "))
}

/// `METHOD path HTTP/1.1` with `headers` (each `Name: value`) and
/// `Connection: close`.
pub(crate) fn request_text(method: &str, path: &str, headers: &[&str]) -> String {
    let mut r = format!("{method} {path} HTTP/1.1\r\nHost: test\r\n");
    for h in headers {
        r.push_str(h);
        r.push_str("\r\n");
    }
    r.push_str("Connection: close\r\n\r\n");
    r
}

/// GET `path` with extra headers, on a new connection.
pub(crate) fn get(server: &TestServer, path: &str, headers: &[&str]) -> Resp {
    exchange(server, &request_text("GET", path, headers))
}

/// Keep-alive GET request text (no `Connection` header).
fn ka_get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n")
}

fn default_server() -> Running {
    run(&conf("keepalivetimeout = 5; maxclients = 50;", ""))
}

// ---------------------------------------------------------------------------
// Versions and persistence
// ---------------------------------------------------------------------------

#[test]
fn http_09_simple_request_gets_body_only() {
    let r = default_server();
    let mut c = Client::new(&r.server);
    c.send(b"GET /hello.txt\r\n");
    let (bytes, closed) = c.rest_until_close();
    assert!(closed, "HTTP/0.9 connection must be closed after the body");
    assert_eq!(String::from_utf8_lossy(&bytes), "hello world\n");
}

#[test]
fn http_09_simple_request_error_is_text_only() {
    let r = default_server();
    let mut c = Client::new(&r.server);
    c.send(b"GET /missing.txt\r\n");
    let (bytes, closed) = c.rest_until_close();
    assert!(closed);
    // No status line, no headers: only the short error body.
    assert_eq!(String::from_utf8_lossy(&bytes), " 404 File Not Found\r\n");
}

#[test]
fn http_10_request_answered_10_and_closed() {
    let r = default_server();
    let mut c = Client::new(&r.server);
    c.send(b"GET /hello.txt HTTP/1.0\r\n\r\n");
    let resp = c.response();
    assert!(
        resp.status_line.starts_with("HTTP/1.0 200"),
        "{:?}",
        resp.status_line
    );
    assert_eq!(resp.text(), "hello world\n");
    assert!(
        c.closed_within(Duration::from_secs(3)),
        "HTTP/1.0 without keep-alive must be closed"
    );
    assert!(c.pending().is_empty(), "extra bytes: {:?}", c.pending());
}

#[test]
fn http_11_without_host_gets_400_and_10_without_host_is_served() {
    let r = default_server();
    let mut c = Client::new(&r.server);
    c.send(b"GET /hello.txt HTTP/1.1\r\n\r\n");
    let resp = c.response();
    assert!(
        resp.status_line.starts_with("HTTP/1.1 400"),
        "{:?}",
        resp.status_line
    );
    assert!(c.closed_within(Duration::from_secs(3)), "400 closes");
    let mut c = Client::new(&r.server);
    c.send(b"GET /hello.txt HTTP/1.0\r\n\r\n");
    let resp = c.response();
    assert!(
        resp.status_line.starts_with("HTTP/1.0 200"),
        "{:?}",
        resp.status_line
    );
    assert_eq!(resp.text(), "hello world\n");
}

#[test]
fn http_10_keep_alive_requested_keeps_connection() {
    let r = default_server();
    let mut c = Client::new(&r.server);
    let req = "GET /hello.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
    c.send(req);
    let first = c.response();
    assert_eq!(first.status, 200);
    assert_eq!(first.version, "HTTP/1.0");
    // An HTTP/1.0 client only keeps the connection when told so.
    let conn = first.header("connection").unwrap_or_default();
    assert!(
        conn.eq_ignore_ascii_case("keep-alive"),
        "Connection header {conn:?} in {first:?}"
    );
    c.send("GET /index.html HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    let second = c.response();
    assert_eq!(second.status, 200);
    assert_eq!(second.text(), "<h1>home</h1>\n");
}

#[test]
fn http_11_keeps_alive_by_default() {
    let r = default_server();
    let mut c = Client::new(&r.server);
    c.send(ka_get("/hello.txt"));
    let first = c.response();
    assert_eq!(first.status_line, "HTTP/1.1 200 OK");
    assert_eq!(first.text(), "hello world\n");
    assert!(
        !first
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close")),
        "{first:?}"
    );
    assert!(
        !c.closed_within(Duration::from_millis(300)),
        "HTTP/1.1 connection closed after one response"
    );
    c.send(ka_get("/sub/page.html"));
    let second = c.response();
    assert_eq!(second.status, 200);
    assert_eq!(second.text(), "<p>sub page</p>\n");
}

#[test]
fn http_11_connection_close_honoured() {
    let r = default_server();
    let mut c = Client::new(&r.server);
    c.send("GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let resp = c.response();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.text(), "hello world\n");
    assert!(
        resp.header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close")),
        "{resp:?}"
    );
    assert!(c.closed_within(Duration::from_secs(3)));
    assert!(c.pending().is_empty());
}

// ---------------------------------------------------------------------------
// Pipelining
// ---------------------------------------------------------------------------

#[test]
fn http_pipelining_two_requests_one_write() {
    let r = default_server();
    let mut c = Client::new(&r.server);
    c.send(format!("{}{}", ka_get("/hello.txt"), ka_get("/index.html")));
    let a = c.response();
    let b = c.response();
    assert_eq!((a.status, a.text().as_str()), (200, "hello world\n"));
    assert_eq!((b.status, b.text().as_str()), (200, "<h1>home</h1>\n"));
}

#[test]
fn http_pipelining_ten_requests_with_404_in_order() {
    let r = default_server();
    let digits: String = (0..1000)
        .map(|i| char::from(b'0' + (i % 10) as u8))
        .collect();
    let expected: Vec<(&str, u16, String)> = vec![
        ("/hello.txt", 200, "hello world\n".into()),
        ("/index.html", 200, "<h1>home</h1>\n".into()),
        ("/sub/page.html", 200, "<p>sub page</p>\n".into()),
        ("/digits.txt", 200, digits.clone()),
        ("/nothing-here.txt", 404, " 404 File Not Found\r\n".into()),
        ("/hello.txt", 200, "hello world\n".into()),
        ("/", 200, "<h1>home</h1>\n".into()),
        ("/digits.txt", 200, digits),
        ("/sub/page.html", 200, "<p>sub page</p>\n".into()),
        ("/index.html", 200, "<h1>home</h1>\n".into()),
    ];
    let all: String = expected.iter().map(|(p, _, _)| ka_get(p)).collect();
    let mut c = Client::new(&r.server);
    c.send(all);
    for (i, (path, status, body)) in expected.iter().enumerate() {
        let resp = c.response();
        assert_eq!(resp.status, *status, "response {i} ({path})");
        assert_eq!(&resp.text(), body, "response {i} ({path})");
    }
    // Still usable afterwards.
    c.send(ka_get("/hello.txt"));
    assert_eq!(c.response().text(), "hello world\n");
}

// ---------------------------------------------------------------------------
// Keep-alive timeouts
// ---------------------------------------------------------------------------

#[test]
fn http_keepalive_idle_connection_closed_after_timeout() {
    let r = run(&conf("keepalivetimeout = 1; maxclients = 50;", ""));
    let mut c = Client::new(&r.server);
    c.send(ka_get("/hello.txt"));
    assert_eq!(c.response().status, 200);
    let t = Instant::now();
    let closed = c.closed_within(Duration::from_secs(4));
    let waited = t.elapsed();
    println!("idle connection closed after {waited:?}");
    assert!(closed, "idle connection still open after {waited:?}");
    assert!(
        waited >= Duration::from_millis(500),
        "closed too early ({waited:?}) for keepalivetimeout = 1"
    );
    assert!(c.pending().is_empty(), "unexpected bytes {:?}", c.pending());
}

#[test]
fn http_keepalive_timeout_bounds_first_request_head() {
    // docs/configuration.md: `headertimeout` applies when keepalivetimeout
    // is 0, "otherwise keepalivetimeout bounds it" — a client that connects
    // and sends nothing holds a slot for ~keepalivetimeout at most.
    let r = run(&conf("keepalivetimeout = 1; maxclients = 50;", ""));
    let mut c = Client::new(&r.server);
    let t = Instant::now();
    let closed = c.closed_within(Duration::from_secs(4));
    println!(
        "silent new connection: closed={closed} after {:?}",
        t.elapsed()
    );
    assert!(
        closed,
        "a silent new connection is still open after {:?} with keepalivetimeout = 1",
        t.elapsed()
    );
}

#[test]
fn http_keepalive_zero_closes_after_first_response() {
    let r = run(&conf("keepalivetimeout = 0; maxclients = 50;", ""));
    let mut c = Client::new(&r.server);
    c.send(ka_get("/hello.txt"));
    let resp = c.response();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.text(), "hello world\n");
    assert!(
        resp.header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close")),
        "a response before closing should say Connection: close: {resp:?}"
    );
    assert!(c.closed_within(Duration::from_secs(3)));
    assert!(c.pending().is_empty());
}

// ---------------------------------------------------------------------------
// `version`
// ---------------------------------------------------------------------------

#[test]
fn http_version_10_caps_11_requests() {
    let r = run(&conf(
        "keepalivetimeout = 5; maxclients = 50; version = \"HTTP/1.0\";",
        "",
    ));
    let resp = get(&r.server, "/hello.txt", &[]);
    assert!(
        resp.status_line.starts_with("HTTP/1.0 200"),
        "{:?}",
        resp.status_line
    );
    assert_eq!(resp.text(), "hello world\n");
}

#[test]
fn http_version_09_refuses_versioned_serves_simple() {
    let r = run(&conf(
        "keepalivetimeout = 5; maxclients = 50; version = \"HTTP/0.9\";",
        "",
    ));
    let resp = get(&r.server, "/hello.txt", &[]);
    assert_eq!(resp.status, 505, "{resp:?}");
    assert!(!resp.text().contains("hello world"));

    let mut c = Client::new(&r.server);
    c.send(b"GET /hello.txt\r\n");
    let (bytes, closed) = c.rest_until_close();
    assert!(closed);
    assert_eq!(String::from_utf8_lossy(&bytes), "hello world\n");
}

// ---------------------------------------------------------------------------
// maxclients
// ---------------------------------------------------------------------------

#[test]
fn http_maxclients_beyond_gets_503_then_recovers() {
    let r = run(&conf("keepalivetimeout = 5; maxclients = 2;", ""));
    // Two clients in use: served once each, kept alive and idle.
    let mut held: Vec<Client> = (0..2)
        .map(|_| {
            let mut c = Client::new(&r.server);
            c.send(ka_get("/hello.txt"));
            assert_eq!(c.response().status, 200);
            c
        })
        .collect();

    let t = Instant::now();
    let mut third = Client::new(&r.server);
    third.send(ka_get("/hello.txt"));
    let resp = third.response();
    let took = t.elapsed();
    assert_eq!(resp.status, 503, "{resp:?}");
    assert!(took < Duration::from_secs(2), "503 took {took:?}");
    assert!(third.closed_within(Duration::from_secs(3)));

    // The held clients still work.
    held[0].send(ka_get("/index.html"));
    assert_eq!(held[0].response().status, 200);

    // Free one slot: a new client is served (the server notices the close
    // asynchronously, so retry for a bounded time).
    drop(held.pop());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let resp = get(&r.server, "/hello.txt", &[]);
        if resp.status == 200 {
            assert_eq!(resp.text(), "hello world\n");
            break;
        }
        assert_eq!(resp.status, 503, "{resp:?}");
        assert!(Instant::now() < deadline, "slot never freed");
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ---------------------------------------------------------------------------
// Limits and malformed requests
// ---------------------------------------------------------------------------

#[test]
fn http_uri_longer_than_maxurisize_gets_414() {
    let r = run(&conf(
        "keepalivetimeout = 5; maxclients = 50; maxurisize = 100;",
        "",
    ));
    let long = format!("/{}", "a".repeat(150));
    let resp = get(&r.server, &long, &[]);
    assert_eq!(resp.status, 414, "{resp:?}");
    assert_eq!(resp.status_line, "HTTP/1.1 414 Request URI too long");
    // Just under the limit: an ordinary 404.
    let short = format!("/{}", "a".repeat(90));
    assert_eq!(get(&r.server, &short, &[]).status, 404);
}

#[test]
fn http_headers_larger_than_maxheadersize_get_431() {
    let r = run(&conf(
        "keepalivetimeout = 5; maxclients = 50; maxheadersize = 2048;",
        "",
    ));
    // Well under the limit: served.
    let small = format!("X-Pad: {}", "p".repeat(1000));
    assert_eq!(get(&r.server, "/hello.txt", &[&small]).status, 200);

    // Twice the limit (with a short URI), and far beyond it.
    let mut answers = Vec::new();
    for size in [4096usize, 30_000] {
        let big = format!("X-Pad: {}", "p".repeat(size));
        let mut c = Client::new(&r.server);
        c.send(request_text("GET", "/hello.txt", &[&big]));
        let resp = c.response();
        let closed = c.closed_within(Duration::from_secs(3));
        answers.push((size, resp.status, closed));
    }
    println!("(header bytes, status, closed): {answers:?}");
    assert!(
        answers
            .iter()
            .all(|&(_, status, closed)| status == 431 && closed),
        "heads over maxheadersize = 2048 must get 431 and be closed: {answers:?}"
    );
}

#[test]
fn http_malformed_request_line_gets_400() {
    let r = default_server();
    for req in [
        "GARBAGE\r\n\r\n",
        "GET /a b HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET / HTTP/1.1 extra\r\nHost: x\r\n\r\n",
        "GET / HTTP/1.1\r\nNo colon here\r\n\r\n",
    ] {
        let mut c = Client::new(&r.server);
        c.send(req);
        let (bytes, closed) = c.rest_until_close();
        let text = String::from_utf8_lossy(&bytes);
        assert!(closed, "{req:?}: connection not closed");
        assert!(
            text.starts_with("HTTP/1.1 400"),
            "{req:?} answered {text:?} (expected 400 Bad Request)"
        );
    }
}

#[test]
fn http_unsupported_versions_get_505_or_400() {
    let r = default_server();
    for req in [
        "GET /hello.txt HTTP/2.0\r\nHost: x\r\n\r\n",
        "GET /hello.txt HTTP/3.0\r\nHost: x\r\n\r\n",
    ] {
        let mut c = Client::new(&r.server);
        c.send(req);
        let (bytes, closed) = c.rest_until_close();
        let text = String::from_utf8_lossy(&bytes);
        println!("{req:?} -> {text:?}");
        assert!(closed, "{req:?}: connection not closed");
        assert!(
            text.starts_with("HTTP/1.1 505") || text.starts_with("HTTP/1.1 400"),
            "{req:?} answered {text:?} (expected 505, or 400)"
        );
        assert!(!text.contains("hello world"));
    }
}

#[test]
fn http_header_timeout_disconnects_slow_client() {
    let r = run(&conf(
        "keepalivetimeout = 0; headertimeout = 1; maxclients = 50;",
        "",
    ));
    // A partial head (request line done, headers never finished), and a
    // partial request line.
    for partial in ["GET /hello.txt HTTP/1.1\r\nHost: x\r\n", "GET /hel"] {
        let mut c = Client::new(&r.server);
        c.send(partial);
        let t = Instant::now();
        let closed = c.closed_within(Duration::from_secs(5));
        println!("{partial:?}: closed={closed} after {:?}", t.elapsed());
        assert!(
            closed,
            "{partial:?}: still connected after {:?}",
            t.elapsed()
        );
        assert!(
            !String::from_utf8_lossy(c.pending()).contains("hello world"),
            "{partial:?} was served"
        );
    }
}

// ---------------------------------------------------------------------------
// Headers and bodies
// ---------------------------------------------------------------------------

const SECURITY_HEADERS: [(&str, &str); 6] = [
    ("X-Frame-Options", "DENY"),
    (
        "Cache-Control",
        "no-cache,no-store,max-age=0,must-revalidate",
    ),
    ("Pragma", "no-cache"),
    ("Expires", "0"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "origin-when-cross-origin"),
];

#[test]
fn http_default_headers_present() {
    let r = default_server();
    for path in ["/hello.txt", "/missing"] {
        let resp = get(&r.server, path, &[]);
        let server = resp.header("server").expect("Server header");
        assert!(server.starts_with("marmoset/"), "Server: {server}");
        let date = resp.header("date").expect("Date header");
        let when = httpdate::parse_http_date(date)
            .unwrap_or_else(|e| panic!("Date {date:?} does not parse: {e}"));
        let skew = match when.duration_since(SystemTime::now()) {
            Ok(d) => d,
            Err(e) => e.duration(),
        };
        assert!(
            skew < Duration::from_secs(60),
            "Date {date} is off by {skew:?}"
        );
        assert_eq!(resp.all("date").len(), 1, "one Date header");
        for (name, value) in SECURITY_HEADERS {
            assert_eq!(resp.header(name), Some(value), "{path}: {name}");
        }
    }
}

#[test]
fn http_security_frame_cache_drops_headers() {
    let r = run(&conf(
        "keepalivetimeout = 5; maxclients = 50; security = \"frame,cache\";",
        "",
    ));
    let resp = get(&r.server, "/hello.txt", &[]);
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("x-frame-options"), Some("SAMEORIGIN"));
    for gone in ["cache-control", "pragma", "expires"] {
        assert_eq!(resp.header(gone), None, "{gone} should be dropped");
    }
    assert_eq!(resp.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(
        resp.header("referrer-policy"),
        Some("origin-when-cross-origin")
    );
}

#[test]
fn http_404_has_short_text_body() {
    let r = default_server();
    let resp = get(&r.server, "/no/such/file.txt", &[]);
    assert_eq!(resp.status_line, "HTTP/1.1 404 File Not Found");
    assert_eq!(resp.reason, "File Not Found");
    assert_eq!(resp.header("content-type"), Some("text/plain"));
    assert_eq!(resp.header("content-length"), Some("21"));
    assert_eq!(resp.text(), " 404 File Not Found\r\n");
}

#[test]
fn http_parse_error_gets_400_and_close() {
    // Requests the engine cannot parse get 400 with Ouistiti's short text
    // body and `connection: close` (docs/compatibility.md).
    let r = default_server();
    let mut c = Client::new(&r.server);
    c.send("GARBAGE\r\n\r\n");
    let resp = c.response();
    assert_eq!(resp.status, 400, "{resp:?}");
    assert_eq!(resp.header("connection"), Some("close"), "{resp:?}");
    assert_eq!(resp.text(), " 400 Bad Request\r\n", "{resp:?}");
    assert_eq!(resp.header("content-type"), Some("text/plain"), "{resp:?}");
}

// ---------------------------------------------------------------------------
// Access log
// ---------------------------------------------------------------------------

/// Wait (bounded) for an access line containing `needle`.
fn access_lines(server: &TestServer, needle: &str) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let lines: Vec<String> = server
            .log()
            .lines()
            .filter(|l| l.contains(needle))
            .map(str::to_string)
            .collect();
        if !lines.is_empty() || Instant::now() > deadline {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn http_access_log_one_combined_line() {
    let r = default_server();
    let out = r.server.curl(
        "/hello.txt",
        &[
            "-o",
            "/dev/null",
            "-A",
            "itest-agent/1.0",
            "-e",
            "http://referer.test/page",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let lines = access_lines(&r.server, "\"GET /hello.txt HTTP/1.1\" 200 12");
    assert_eq!(lines.len(), 1, "log:\n{}", r.server.log());
    let line = &lines[0];
    assert!(line.starts_with("127.0.0.1 - - ["), "{line}");
    assert!(
        line.ends_with(
            "] \"GET /hello.txt HTTP/1.1\" 200 12 \"http://referer.test/page\" \"itest-agent/1.0\""
        ),
        "{line}"
    );
}

/// `[10/Oct/2000:13:55:36 +0000]`: the date format of the combined log
/// format (what log analysers expect).
fn is_clf_date(s: &str) -> bool {
    let b = s.as_bytes();
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    b.len() == 26
        && digits(0..2)
        && b[2] == b'/'
        && months.contains(&&s[3..6])
        && b[6] == b'/'
        && digits(7..11)
        && b[11] == b':'
        && digits(12..14)
        && b[14] == b':'
        && digits(15..17)
        && b[17] == b':'
        && digits(18..20)
        && b[20] == b' '
        && (b[21] == b'+' || b[21] == b'-')
        && digits(22..26)
}

#[test]
fn http_access_log_date_in_clf_format() {
    let r = default_server();
    assert_eq!(get(&r.server, "/hello.txt", &[]).status, 200);
    let lines = access_lines(&r.server, "\"GET /hello.txt HTTP/1.1\"");
    assert_eq!(lines.len(), 1, "log:\n{}", r.server.log());
    let line = &lines[0];
    let date = line
        .split_once('[')
        .and_then(|(_, rest)| rest.split_once(']'))
        .map(|(d, _)| d)
        .unwrap_or_else(|| panic!("no [date] in {line}"));
    assert!(
        is_clf_date(date),
        "access line date [{date}] is not in the combined log format \
         (expected like [10/Oct/2000:13:55:36 +0000]): {line}"
    );
}
