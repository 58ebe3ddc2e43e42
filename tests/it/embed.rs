//! Integration tests: the embedding API (issue 3), driven from this process.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use marmoset::embed::{Builder, RegisterError};
use marmoset::{Body, Mode, Request, Response, Running};

use crate::support::read_all;

fn text(
    s: &'static str,
) -> impl Fn(Request) -> std::future::Ready<Result<Response, marmoset::HttpError>> {
    move |_req| std::future::ready(Ok(Response::new(Body::from(s))))
}

fn local(b: Builder) -> Builder {
    b.addr("127.0.0.1".parse().unwrap()).port(0)
}

fn addr(r: &Running) -> SocketAddr {
    r.local_addrs()[0]
}

fn get(addr: SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // One write: `write!` would send the pieces one by one, and a server
    // that refuses the first bytes (plain HTTP to a TLS port) resets the
    // connection before the rest (EPIPE). A refused write leaves nothing
    // to read, which is what such a test checks.
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    if s.write_all(request.as_bytes()).is_err() {
        return String::new();
    }
    read_all(&mut s)
}

#[test]
fn embed_longest_prefix_routing_and_404_outside_roots() {
    let server = local(Builder::new())
        .register("api", "/api", text("api"))
        .unwrap()
        .register("v2", "/api/v2", text("v2"))
        .unwrap()
        .start()
        .unwrap();
    let a = addr(&server);
    assert!(get(a, "/api").ends_with("\r\n\r\napi"));
    assert!(get(a, "/api/x/y").ends_with("\r\n\r\napi"));
    assert!(get(a, "/api/v2/z").ends_with("\r\n\r\nv2"));
    assert!(get(a, "/apix").starts_with("HTTP/1.1 404"));
    assert!(get(a, "/").starts_with("HTTP/1.1 404"));
    server.shutdown().unwrap();
}

#[test]
fn embed_duplicate_root_is_an_error() {
    let b = Builder::new().register("a", "/x", text("a")).unwrap();
    match b.register("b", "/x/", text("b")) {
        Err(RegisterError::Duplicate { root, owner }) => {
            assert_eq!(root, "/x");
            assert_eq!(owner, "a");
        }
        _ => panic!("duplicate root accepted"),
    }
}

#[test]
fn embed_root_paths_lists_each_root_with_its_module() {
    let b = Builder::new()
        .register("status", "/json", text("{}"))
        .unwrap()
        .register("events", "/events", text(""))
        .unwrap();
    let mut roots: Vec<(String, String)> = b
        .root_paths()
        .into_iter()
        .map(|r| (r.root, r.module))
        .collect();
    roots.sort();
    assert_eq!(
        roots,
        vec![
            ("/events".to_string(), "events".to_string()),
            ("/json".to_string(), "status".to_string())
        ]
    );
}

/// A handler streams 10 000 chunks of 4 KiB (40 MiB) to a client that reads
/// slowly; the producer may never run further ahead than the channel and the
/// socket buffers allow, so server memory stays bounded.
#[test]
fn embed_streaming_with_backpressure() {
    const CHUNKS: usize = 10_000;
    const CHUNK: usize = 4096;
    let sent = Arc::new(AtomicUsize::new(0));
    let sent2 = sent.clone();
    let server = local(Builder::new())
        .register("stream", "/stream", move |_req: Request| {
            let sent = sent2.clone();
            async move {
                let (tx, body) = Body::channel(8);
                tokio::spawn(async move {
                    let chunk = bytes::Bytes::from(vec![b'x'; CHUNK]);
                    for _ in 0..CHUNKS {
                        if tx.send(chunk.clone()).await.is_err() {
                            return;
                        }
                        sent.fetch_add(1, Ordering::SeqCst);
                    }
                });
                Ok(Response::new(body))
            }
        })
        .unwrap()
        .start()
        .unwrap();
    // A small, fixed receive buffer: loopback autotuning would otherwise
    // let the kernel absorb tens of MiB, hiding the server's behaviour.
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.set_recv_buffer_size(64 * 1024).unwrap();
    sock.connect(&addr(&server).into()).unwrap();
    let mut s: TcpStream = sock.into();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "GET /stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut got = 0usize;
    let mut buf = vec![0u8; 64 * 1024];
    let mut max_ahead = 0isize;
    let mut slow_reads = 0;
    loop {
        let n = s.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        got += n;
        let ahead = (sent.load(Ordering::SeqCst) * CHUNK) as isize - got as isize;
        if ahead > max_ahead && std::env::var("DEBUG_EMBED").is_ok() {
            eprintln!(
                "got {got} sent {} ahead {ahead}",
                sent.load(Ordering::SeqCst)
            );
        }
        max_ahead = max_ahead.max(ahead);
        if slow_reads < 200 {
            slow_reads += 1;
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    let body_bytes = CHUNKS * CHUNK;
    assert!(
        got > body_bytes,
        "received {got} bytes, expected the whole body"
    );
    println!("producer ran at most {max_ahead} bytes ahead of the client");
    // Channel (8 chunks) + hyper's write buffer + the server's send buffer
    // (at most 4 MiB here) + our 64 KiB receive buffer; far below 40 MiB.
    assert!(
        max_ahead < 8 * 1024 * 1024,
        "producer ran {max_ahead} bytes ahead"
    );
    server.shutdown().unwrap();
}

async fn echo_len(req: Request) -> Result<Response, marmoset::HttpError> {
    let body = req.into_body().to_bytes().await?;
    Ok(Response::new(Body::from(body.len().to_string())))
}

#[test]
fn embed_body_limit_413_and_head_limit_431() {
    let server = local(Builder::new())
        .max_body_size(1000)
        .max_head_size(2048)
        .register("echo", "/echo", echo_len)
        .unwrap()
        .start()
        .unwrap();
    let a = addr(&server);
    let post = |len: usize| {
        let mut s = TcpStream::connect(a).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(
            s,
            "POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {len}\r\n\r\n"
        )
        .unwrap();
        let _ = s.write_all(&vec![b'a'; len]);
        read_all(&mut s)
    };
    let ok = post(1000);
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    assert!(ok.ends_with("1000"));
    let too_big = post(5000);
    assert!(too_big.starts_with("HTTP/1.1 413"), "got: {too_big:?}");
    let mut s = TcpStream::connect(a).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let big_header = "a".repeat(4000);
    let _ = write!(
        s,
        "GET /echo HTTP/1.1\r\nHost: x\r\nX-Big: {big_header}\r\n\r\n"
    );
    let resp = read_all(&mut s);
    assert!(resp.starts_with("HTTP/1.1 431"), "{resp}");
    server.shutdown().unwrap();
}

/// An idle keep-alive connection is closed on time (idle timeout + 1 s),
/// while a connection that keeps sending requests stays open.
#[test]
fn embed_idle_timeout_closes_idle_connections_on_time() {
    let server = local(Builder::new())
        .idle_timeout(Duration::from_secs(1))
        .register("t", "/", text("ok"))
        .unwrap()
        .start()
        .unwrap();
    let a = addr(&server);
    let request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut idle = TcpStream::connect(a).unwrap();
    let mut busy = TcpStream::connect(a).unwrap();
    for s in [&mut idle, &mut busy] {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(request).unwrap();
        let mut buf = [0u8; 1024];
        assert!(s.read(&mut buf).unwrap() > 0);
    }
    let start = Instant::now();
    // The busy connection sends a request every 300 ms for 2.4 s.
    for _ in 0..8 {
        std::thread::sleep(Duration::from_millis(300));
        busy.write_all(request).unwrap();
        let mut buf = [0u8; 1024];
        assert!(
            busy.read(&mut buf).unwrap() > 0,
            "busy connection was closed"
        );
    }
    let mut buf = [0u8; 16];
    let n = idle.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "idle connection still open");
    assert!(start.elapsed() < Duration::from_secs(5));
    // The idle one must have closed within timeout + 1 s of going idle.
    let mut probe = TcpStream::connect(a).unwrap();
    probe
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let t0 = Instant::now();
    let n = probe.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0);
    assert!(
        t0.elapsed() < Duration::from_secs(2),
        "closed after {:?}",
        t0.elapsed()
    );
    server.shutdown().unwrap();
}

#[test]
fn embed_init_hook_runs_once_per_worker() {
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    let threads = Arc::new(std::sync::Mutex::new(Vec::new()));
    let t = threads.clone();
    let server = local(Builder::new())
        .mode(Mode::Threads(3))
        .on_worker_start(move || {
            c.fetch_add(1, Ordering::SeqCst);
            t.lock().unwrap().push(std::thread::current().id());
        })
        .register("t", "/", text("ok"))
        .unwrap()
        .start()
        .unwrap();
    let a = addr(&server);
    for _ in 0..10 {
        assert!(get(a, "/").starts_with("HTTP/1.1 200"));
    }
    assert_eq!(count.load(Ordering::SeqCst), 3);
    let mut ids = threads.lock().unwrap().clone();
    ids.dedup();
    assert_eq!(ids.len(), 3, "hook ran twice in one thread");
    server.shutdown().unwrap();
}

#[test]
fn embed_handler_sees_peer_and_root() {
    let server = local(Builder::new())
        .register("who", "/who", |req: Request| async move {
            let info = req.extensions().get::<marmoset::embed::ConnInfo>().copied();
            let root = req
                .extensions()
                .get::<marmoset::pipeline::RootPath>()
                .cloned();
            let text = format!(
                "{} {}",
                info.map_or("none".into(), |i| i.peer.ip().to_string()),
                root.map_or("none".into(), |r| r.root)
            );
            Ok(Response::new(Body::from(text)))
        })
        .unwrap()
        .start()
        .unwrap();
    let resp = get(addr(&server), "/who/x");
    assert!(resp.ends_with("127.0.0.1 /who"), "{resp}");
    server.shutdown().unwrap();
}

#[test]
fn embed_config_from_string_with_registered_roots() {
    let dir = crate::support::site();
    let conf = format!(
        "servers = ({{ port = 0; addr = \"127.0.0.1\"; keepalivetimeout = 5; document = {{ docroot = \"{}\"; }}; }});",
        dir.path().join("htdocs").display()
    );
    let loaded = marmoset::config::load_str(&conf).unwrap();
    let server = Builder::from_config(&loaded.config)
        .unwrap()
        .register("api", "/api", text("api"))
        .unwrap()
        .start()
        .unwrap();
    let a = addr(&server);
    assert!(get(a, "/api/x").ends_with("\r\n\r\napi"));
    assert!(get(a, "/hello.txt").ends_with("hello world\n"));
    server.shutdown().unwrap();
}

#[test]
fn embed_list_roots_of_a_configuration() {
    let dir = crate::support::site();
    std::fs::write(
        dir.path().join("m.conf"),
        "servers = ({ port = 8081; hostname = \"a.example.org\"; document = { docroot = \"htdocs\"; }; },\n { port = 8082; addr = \"127.0.0.1\"; });\n",
    )
    .unwrap();
    let out = crate::support::marmoset()
        .args(["-W"])
        .arg(dir.path())
        .args(["--list-roots", "-f", "m.conf"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        vec![
            "server 1 a.example.org *:8081",
            "  /\tdocument",
            &format!("server 2 {} 127.0.0.1:8082", default_host()),
        ]
    );
}

fn default_host() -> String {
    let h = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    format!("{}.local", h.trim())
}

#[test]
fn embed_tls_only_refuses_plain_http() {
    let dir = tempfile::tempdir().unwrap();
    let ok = std::process::Command::new("openssl")
        .current_dir(dir.path())
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ])
        .args([
            "-keyout",
            "k.pem",
            "-out",
            "c.pem",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
        ])
        .args(["-addext", "subjectAltName=DNS:localhost"])
        .output()
        .unwrap();
    assert!(ok.status.success());
    let server = local(Builder::new())
        .tls(
            dir.path().join("c.pem").to_string_lossy(),
            dir.path().join("k.pem").to_string_lossy(),
        )
        .tls_protocols("TLSv1.3")
        .register("t", "/", text("secret"))
        .unwrap()
        .start()
        .unwrap();
    let port = addr(&server).port();
    let out = std::process::Command::new("curl")
        .args(["-sS", "--max-time", "10", "--cacert"])
        .arg(dir.path().join("c.pem"))
        .arg("--resolve")
        .arg(format!("localhost:{port}:127.0.0.1"))
        .arg(format!("https://localhost:{port}/"))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "secret",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plain = get(addr(&server), "/");
    assert!(
        !plain.contains("secret") && !plain.starts_with("HTTP/1.1 200"),
        "{plain}"
    );
    server.shutdown().unwrap();
}

#[test]
fn embed_bad_tls_files_are_an_error() {
    match local(Builder::new())
        .tls("/nonexistent.pem", "/nonexistent.key")
        .start()
    {
        Ok(_) => panic!("started without a certificate"),
        Err(e) => assert!(e.to_string().contains("/nonexistent.pem"), "{e}"),
    }
}
