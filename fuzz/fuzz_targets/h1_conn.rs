//! Whatever a client sends to marmoset's HTTP/1 engine: heads, bodies in
//! either framing, pipelines, garbage. The connection runs over an
//! in-memory stream on a paused clock (timeouts fire at once when nothing
//! moves), with a handler that reads the whole body and answers its length.
//! Invariants: the engine ends, never panics, and writes only HTTP/1.x
//! responses, one per request it accepted, as the handler sees them.

#![no_main]

use std::time::Duration;

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use marmoset::body::Body;
use marmoset::engine::h1::{self, Settings};
use marmoset::pipeline::Response;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fuzz_target!(|data: &[u8]| {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    let input = data.to_vec();
    let served = std::cell::Cell::new(0usize);
    let mut default_headers = http::HeaderMap::new();
    default_headers.insert("server", http::HeaderValue::from_static("fuzz"));
    let server_defaults = h1::Defaults::new(&default_headers);
    let defaults = &server_defaults;
    let out = rt.block_on(async {
        let (mut client, server) = tokio::io::duplex(16 * 1024);
        let settings = Settings {
            first_head: Duration::from_secs(1),
            next_head: Some(Duration::from_secs(1)),
            keep_alive: true,
            max_head: 4096,
            max_body: 64 * 1024,
            stall: Duration::from_secs(1),
        };
        let (_stop, shutdown) = tokio::sync::watch::channel(false);
        let engine = h1::serve(server, BytesMut::new(), settings, shutdown, |req| {
            served.set(served.get() + 1);
            async move {
                let n = match req.into_body().to_bytes().await {
                    Ok(b) => b.len().to_string(),
                    Err(e) => format!("error {e}"),
                };
                (Response::new(Body::from(n)), defaults)
            }
        });
        let peer = async {
            let _ = client.write_all(&input).await;
            let _ = client.shutdown().await;
            let mut out = Vec::new();
            let _ = client.read_to_end(&mut out).await;
            out
        };
        let run = async { tokio::join!(engine, peer).1 };
        tokio::time::timeout(Duration::from_secs(60), run)
            .await
            .expect("the engine did not end")
    });
    assert!(
        out.is_empty() || out.starts_with(b"HTTP/1."),
        "not an HTTP/1 answer: {:?}",
        String::from_utf8_lossy(&out[..out.len().min(200)])
    );
    let answers = out
        .windows(9)
        .filter(|w| w.starts_with(b"HTTP/1.") && w[8] == b' ')
        .count();
    assert!(
        answers >= served.get().min(1),
        "{} requests served, {answers} status lines",
        served.get()
    );
});
