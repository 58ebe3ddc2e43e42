//! Integration tests: the HTTP/1 engine's answers to the protocol review —
//! a client stalled in the middle of a request, the framing and the
//! `Connection` header of responses, transfer codings, request targets.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use crate::http::{Client, Running, conf, exchange, get, run};

/// A server that gives up on a stalled client after 1 s.
fn impatient(server_keys: &str, document_keys: &str) -> Running {
    run(&conf(
        &format!("keepalivetimeout = 5; headertimeout = 1; {server_keys}"),
        document_keys,
    ))
}

#[test]
fn h1_stalled_uploads_free_their_slots() {
    let r = impatient("maxclients = 2;", "options = \"rest\";");
    let mut stalled: Vec<Client> = ["/up1.txt", "/up2.txt"]
        .iter()
        .map(|path| {
            let mut c = Client::new(&r.server);
            c.send(format!(
                "PUT {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nab"
            ));
            c
        })
        .collect();
    // Both slots are taken until the stalled uploads are dropped.
    let t = Instant::now();
    loop {
        let resp = get(&r.server, "/hello.txt", &[]);
        if resp.status == 200 {
            break;
        }
        assert_eq!(resp.status, 503, "{resp:?}");
        assert!(
            t.elapsed() < Duration::from_secs(6),
            "two stalled uploads still hold both slots after {:?}",
            t.elapsed()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    for c in &mut stalled {
        assert!(
            c.closed_within(Duration::from_secs(3)),
            "stalled upload kept open"
        );
    }
}

fn big_site(size: usize) -> Running {
    let r = impatient("maxclients = 10;", "");
    let data: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
    std::fs::write(r.dir.path().join("htdocs/big.bin"), data).unwrap();
    r
}

#[test]
fn h1_stalled_reader_is_dropped() {
    let size = 32 << 20;
    let r = big_site(size);
    let mut c = Client::new(&r.server);
    c.send("GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n");
    // Read nothing for well over the limit.
    std::thread::sleep(Duration::from_secs(4));
    let closed = c.closed_within(Duration::from_secs(20));
    let got = c.pending().len();
    println!("stalled reader got {got} of {size} body bytes, closed: {closed}");
    assert!(closed, "connection still open");
    assert!(
        got < size,
        "the whole response went out to a stalled reader"
    );
}

#[test]
fn h1_slow_but_moving_reader_gets_the_whole_response() {
    let size = 8 << 20;
    let r = big_site(size);
    let mut s = r.server.connect();
    s.write_all(b"GET /big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let t = Instant::now();
    let mut total = 0;
    let mut buf = vec![0u8; 512 * 1024];
    loop {
        // 512 KiB each 300 ms: much slower than loopback, never idle 1 s.
        let mut step = 0;
        while step < buf.len() {
            match s.read(&mut buf[step..]) {
                Ok(0) => break,
                Ok(n) => step += n,
                Err(e) => panic!("read after {total} bytes: {e}"),
            }
        }
        total += step;
        if step < buf.len() {
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    println!("slow reader: {total} bytes in {:?}", t.elapsed());
    assert!(
        t.elapsed() > Duration::from_secs(2),
        "not slow enough to test"
    );
    assert!(total > size, "cut after {total} bytes (body {size})");
}

#[test]
fn h1_unread_body_in_the_buffer_keeps_the_connection() {
    let r = run(&conf("keepalivetimeout = 5; maxclients = 10;", ""));
    let mut c = Client::new(&r.server);
    c.send(
        "POST /missing HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello\
         GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    let first = c.response();
    assert_eq!(first.status, 404, "{first:?}");
    let closing = first
        .header("connection")
        .is_some_and(|v| v.eq_ignore_ascii_case("close"));
    if !closing {
        // Kept open: the pipelined request must be answered.
        let (rest, _) = c.rest_until_close();
        let rest = String::from_utf8_lossy(&rest);
        assert!(
            rest.starts_with("HTTP/1.1 200") && rest.ends_with("hello world\n"),
            "no Connection: close on the 404, but the GET behind it got {rest:?}"
        );
    }
}

#[test]
fn h1_unread_body_still_coming_announces_the_close() {
    let r = run(&conf("keepalivetimeout = 5; maxclients = 10;", ""));
    let mut c = Client::new(&r.server);
    c.send("POST /missing HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nhello");
    let resp = c.response();
    assert_eq!(resp.status, 404, "{resp:?}");
    assert_eq!(resp.header("connection"), Some("close"), "{resp:?}");
    assert!(c.closed_within(Duration::from_secs(5)));
}

#[test]
fn h1_transfer_codings_other_than_chunked_get_501() {
    let r = run(&conf("keepalivetimeout = 5; maxclients = 10;", ""));
    for codings in [
        "Transfer-Encoding: gzip, chunked\r\n",
        "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n",
    ] {
        let mut c = Client::new(&r.server);
        c.send(format!(
            "POST /hello.txt HTTP/1.1\r\nHost: x\r\n{codings}\r\n5\r\nhello\r\n0\r\n\r\n"
        ));
        let resp = c.response();
        assert_eq!(resp.status, 501, "{codings:?}: {resp:?}");
        assert!(
            c.closed_within(Duration::from_secs(5)),
            "{codings:?}: kept open"
        );
    }
}

#[test]
fn h1_http10_server_never_chunks_a_response() {
    let dir = crate::support::site();
    std::fs::create_dir_all(dir.path().join("cgi")).unwrap();
    crate::support::write_script(
        &dir.path().join("cgi/stream.sh"),
        "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\nstreamed\\n'\n",
    );
    let r = crate::http::run_in(
        dir,
        "servers = ({ port = 0; addr = \"127.0.0.1\"; keepalivetimeout = 5; maxclients = 10; \
         version = \"HTTP/1.0\";\n cgi = { docroot = \"cgi\"; allow = \".sh*\"; deny = \"*\"; \
         denylast = true; };\n document = { docroot = \"htdocs\"; }; });\n",
    );
    let mut c = Client::new(&r.server);
    c.send("GET /stream.sh HTTP/1.1\r\nHost: x\r\n\r\n");
    let (raw, closed) = c.rest_until_close();
    let raw = String::from_utf8_lossy(&raw);
    assert!(raw.starts_with("HTTP/1.0 200"), "{raw:?}");
    assert!(
        !raw.to_ascii_lowercase().contains("transfer-encoding"),
        "an HTTP/1.0 response is chunked: {raw:?}"
    );
    assert!(raw.ends_with("\r\n\r\nstreamed\n"), "{raw:?}");
    assert!(closed, "a response until close must close");
}

#[test]
fn h1_http09_simple_request_is_get_only() {
    let r = run(&conf(
        "keepalivetimeout = 5; maxclients = 10;",
        "options = \"rest\";",
    ));
    let victim = r.dir.path().join("htdocs/victim.txt");
    std::fs::write(&victim, "still here\n").unwrap();
    let answer = r.server.raw(b"DELETE /victim.txt\r\n");
    assert!(victim.exists(), "an HTTP/0.9 DELETE removed the file");
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer:?}");
    // GET is still served the HTTP/0.9 way.
    assert_eq!(r.server.raw(b"GET /victim.txt\r\n"), "still here\n");
}

#[test]
fn h1_request_target_without_slash_gets_400() {
    let r = run(&conf("keepalivetimeout = 5; maxclients = 10;", ""));
    for line in [
        "GET hello.txt HTTP/1.1",
        "GET host:443 HTTP/1.1",
        "GET * HTTP/1.1",
    ] {
        let resp = exchange(&r.server, &format!("{line}\r\nHost: x\r\n\r\n"));
        assert_eq!(resp.status, 400, "{line}: {resp:?}");
    }
    for line in ["GET /hello.txt HTTP/1.1", "GET http://x/hello.txt HTTP/1.1"] {
        let resp = exchange(&r.server, &format!("{line}\r\nHost: x\r\n\r\n"));
        assert_eq!(resp.status, 200, "{line}: {resp:?}");
    }
}

#[test]
fn h1_lowercase_head_gets_the_length_of_the_get() {
    let r = run(&conf("keepalivetimeout = 5; maxclients = 10;", ""));
    let mut c = Client::new(&r.server);
    c.send("head /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    let resp = c.response_for(true);
    assert_eq!(resp.status, 200, "{resp:?}");
    assert_eq!(resp.header("content-length"), Some("12"), "{resp:?}");
    // No body was sent: the next answer follows at once.
    c.send("GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_eq!(c.response().text(), "hello world\n");
}

#[test]
fn h1_very_long_uri_gets_414_not_431() {
    let r = run(&conf("keepalivetimeout = 5; maxclients = 10;", ""));
    let long = format!("/{}", "a".repeat(30_000));
    let mut c = Client::new(&r.server);
    c.send(format!("GET {long} HTTP/1.1\r\nHost: x\r\n\r\n"));
    let resp = c.response();
    assert_eq!(resp.status, 414, "{resp:?}");
    assert!(c.closed_within(Duration::from_secs(5)));
}

#[test]
fn h1_absolute_target_picks_the_virtual_host_over_host() {
    let dir = crate::support::site();
    std::fs::create_dir_all(dir.path().join("priv")).unwrap();
    std::fs::write(dir.path().join("priv/x.txt"), "private\n").unwrap();
    std::fs::write(dir.path().join("htdocs/x.txt"), "public\n").unwrap();
    let r = crate::http::run_in(
        dir,
        "servers = ({ port = 0; addr = \"127.0.0.1\"; hostname = \"www.test\"; \
         keepalivetimeout = 5; maxclients = 10;\n vhost = ({ hostname = \"priv.test\"; \
         document = { docroot = \"priv\"; }; });\n document = { docroot = \"htdocs\"; }; });\n",
    );
    let by_host = exchange(
        &r.server,
        "GET /x.txt HTTP/1.1\r\nHost: priv.test\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(by_host.text(), "private\n");
    let absolute = exchange(
        &r.server,
        "GET http://priv.test/x.txt HTTP/1.1\r\nHost: www.test\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(absolute.text(), "private\n", "{absolute:?}");
}
