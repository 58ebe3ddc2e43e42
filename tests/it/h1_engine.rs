//! Integration tests: the paths of marmoset's own HTTP/1 engine that the
//! protocol tests in `http.rs` do not reach — large files sent with
//! `sendfile` (whole, ranges, between pipelined requests), `Expect:
//! 100-continue`, chunked uploads, and a slow pipelined request that must
//! not hold back the responses before it.

use std::io::Read;
use std::time::{Duration, Instant};

use crate::http::{Client, Running, conf, run};

/// 3 MiB that are not all alike, so that a misplaced byte shows.
fn pattern() -> Vec<u8> {
    let mut x: u32 = 0x1234_5678;
    (0..3 * 1024 * 1024)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

fn with_big_file(document_keys: &str) -> (Running, Vec<u8>) {
    let r = run(&conf(
        "keepalivetimeout = 5; maxclients = 50;",
        document_keys,
    ));
    let data = pattern();
    std::fs::write(r.dir.path().join("htdocs/big.bin"), &data).unwrap();
    (r, data)
}

fn get(path: &str, extra: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: test\r\n{extra}\r\n")
}

#[test]
fn h1_large_file_is_sent_whole_then_the_connection_goes_on() {
    let (r, data) = with_big_file("");
    let mut c = Client::new(&r.server);
    c.send(get("/big.bin", ""));
    let big = c.response();
    assert_eq!(big.status, 200);
    assert_eq!(big.header("content-length"), Some("3145728"));
    assert!(big.body == data, "the 3 MiB body differs from the file");
    c.send(get("/hello.txt", ""));
    assert_eq!(c.response().text(), "hello world\n");
}

#[test]
fn h1_large_ranges_are_the_right_bytes() {
    let (r, data) = with_big_file("options = \"range\";");
    let mut c = Client::new(&r.server);
    c.send(get("/big.bin", "Range: bytes=1000-200999\r\n"));
    let one = c.response();
    assert_eq!(one.status, 206, "{:?}", one.headers);
    assert!(one.body == data[1000..201_000], "single range differs");

    c.send(get("/big.bin", "Range: bytes=0-99999,2000000-2199999\r\n"));
    let multi = c.response();
    assert_eq!(multi.status, 206);
    let body = &multi.body;
    let find = |needle: &[u8]| body.windows(needle.len()).position(|w| w == needle);
    let first = find(&data[..100_000]).expect("first part in the multipart body");
    let second = find(&data[2_000_000..2_200_000]).expect("second part in the multipart body");
    assert!(first < second);
}

#[test]
fn h1_pipelined_small_large_small_arrive_in_order() {
    let (r, data) = with_big_file("");
    let mut c = Client::new(&r.server);
    c.send(format!(
        "{}{}{}",
        get("/hello.txt", ""),
        get("/big.bin", ""),
        get("/index.html", "")
    ));
    assert_eq!(c.response().text(), "hello world\n");
    assert!(c.response().body == data, "the large response differs");
    assert_eq!(c.response().text(), "<h1>home</h1>\n");
}

fn rest() -> Running {
    run(&conf(
        "keepalivetimeout = 5; maxclients = 50;",
        "options = \"rest\";",
    ))
}

#[test]
fn h1_expect_100_continue_is_answered_before_the_body() {
    let r = rest();
    let mut c = Client::new(&r.server);
    c.send(
        "PUT /up.txt HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
    );
    let mut first = [0u8; 64];
    let n = c.stream.read(&mut first).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&first[..n]),
        "HTTP/1.1 100 Continue\r\n\r\n"
    );
    c.send("hello");
    let resp = c.response();
    assert_eq!(resp.status, 201, "{:?}", resp.text());
    let stored = std::fs::read(r.dir.path().join("htdocs/up.txt")).unwrap();
    assert_eq!(stored, b"hello");
    // The connection carries the next request.
    c.send(get("/up.txt", ""));
    assert_eq!(c.response().text(), "hello");
}

#[test]
fn h1_refused_upload_gets_no_100_and_a_final_answer() {
    let r = rest();
    std::fs::write(r.dir.path().join("htdocs/exists.txt"), "old").unwrap();
    let mut c = Client::new(&r.server);
    // PUT on an existing file is refused before its body is read.
    c.send("PUT /exists.txt HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
    let resp = c.response();
    assert!(resp.status >= 400, "{} {:?}", resp.status, resp.text());
    assert_eq!(
        std::fs::read(r.dir.path().join("htdocs/exists.txt")).unwrap(),
        b"old"
    );
}

#[test]
fn h1_chunked_upload_is_stored_whole() {
    let r = rest();
    let mut c = Client::new(&r.server);
    c.send(
        "PUT /chunked.txt HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n\
         5;note=x\r\nhello\r\n7\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\n",
    );
    let resp = c.response();
    assert_eq!(resp.status, 201, "{:?}", resp.text());
    assert_eq!(
        std::fs::read(r.dir.path().join("htdocs/chunked.txt")).unwrap(),
        b"hello, world"
    );
    c.send(get("/chunked.txt", ""));
    assert_eq!(c.response().text(), "hello, world");
}

#[test]
fn h1_slow_pipelined_request_does_not_hold_back_earlier_answers() {
    let dir = crate::support::site();
    crate::support::write_script(
        &dir.path().join("htdocs/slow.cgi"),
        "#!/bin/sh\nsleep 2\nprintf 'Content-Type: text/plain\\r\\n\\r\\nslow\\n'\n",
    );
    let conf = "servers = ({ port = 0; addr = \"127.0.0.1\"; keepalivetimeout = 5; maxclients = 50;\n\
        cgi = { docroot = \"htdocs\"; allow = \"*.cgi\"; };\n\
        document = { docroot = \"htdocs\"; }; });\n";
    let r = crate::http::run_in(dir, conf);
    let mut c = Client::new(&r.server);
    let t = Instant::now();
    c.send(format!("{}{}", get("/hello.txt", ""), get("/slow.cgi", "")));
    assert_eq!(c.response().text(), "hello world\n");
    let first = t.elapsed();
    let slow = c.response();
    assert_eq!(slow.text(), "slow\n", "{:?}", slow.headers);
    println!(
        "first answer after {first:?}, slow one after {:?}",
        t.elapsed()
    );
    assert!(
        first < Duration::from_millis(1500),
        "the first answer waited for the slow one ({first:?})"
    );
}

/// A small file that has not changed for a while is served from memory
/// (`open_cache`): whole, by range and by HEAD the same bytes as from the
/// disk, and a rewrite of the same size is seen at once.
#[test]
fn h1_small_file_kept_in_memory_follows_a_rewrite_at_once() {
    let r = run(&conf(
        "keepalivetimeout = 5; maxclients = 50;",
        "options = \"range\";",
    ));
    let path = r.dir.path().join("htdocs/small.txt");
    std::fs::write(&path, "0123456789abcdef").unwrap();
    // Old enough for its content to be kept (open_cache::SETTLED).
    std::thread::sleep(Duration::from_millis(1_200));
    let mut c = Client::new(&r.server);
    for _ in 0..3 {
        c.send(get("/small.txt", ""));
        assert_eq!(c.response().text(), "0123456789abcdef");
    }
    c.send(get("/small.txt", "Range: bytes=2-5\r\n"));
    let part = c.response();
    assert_eq!(part.status, 206);
    assert_eq!(part.text(), "2345");
    c.send(get("/small.txt", "Range: bytes=0-1,14-\r\n"));
    let multi = c.response().text();
    assert!(
        multi.contains("\r\n\r\n01\r\n") && multi.contains("\r\n\r\nef\r\n"),
        "{multi}"
    );

    // Same size, same second: the next request has the new bytes.
    std::fs::write(&path, "FEDCBA9876543210").unwrap();
    c.send(get("/small.txt", ""));
    assert_eq!(c.response().text(), "FEDCBA9876543210");
    c.send(get("/small.txt", "Range: bytes=2-5\r\n"));
    assert_eq!(c.response().text(), "DCBA");
}
