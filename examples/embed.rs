//! Embedding marmoset: an application registers two roots.
//!
//! - `/json`: a JSON status document;
//! - `/events`: a stream that sends one line every 100 ms until the client
//!   leaves (the body is produced at the handler's pace, with backpressure).
//!
//! Run: `cargo run --example embed` then `curl -N http://localhost:8888/events`.

use std::time::Duration;

use marmoset::embed::Builder;
use marmoset::{Body, Request, Response};

async fn status(_req: Request) -> Result<Response, marmoset::HttpError> {
    let mut resp = Response::new(Body::from(r#"{"status":"ok"}"#));
    resp.headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    Ok(resp)
}

async fn events(_req: Request) -> Result<Response, marmoset::HttpError> {
    let (tx, body) = Body::channel(4);
    tokio::spawn(async move {
        let mut n = 0u64;
        loop {
            n += 1;
            if tx.send(format!("event {n}\n")).await.is_err() {
                break; // the client left
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let mut resp = Response::new(body);
    resp.headers_mut()
        .insert("content-type", "text/plain".parse().unwrap());
    Ok(resp)
}

fn main() -> std::io::Result<()> {
    let port = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(8888);
    let builder = Builder::new()
        .port(port)
        .register("status", "/json", status)
        .and_then(|b| b.register("events", "/events", events))
        .map_err(std::io::Error::other)?;
    for r in builder.root_paths() {
        println!("root {} -> {}", r.root, r.module);
    }
    let server = builder.start()?;
    println!("listening on {:?}", server.local_addrs());
    server.join()
}
