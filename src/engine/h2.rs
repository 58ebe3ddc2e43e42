//! HTTP/2 connections (cargo feature `http2`): over TLS when ALPN chose
//! `h2`, or on a plain port by prior knowledge when the server's `version`
//! is `HTTP/2`. The same service — and so the same pipeline — as HTTP/1.

use std::convert::Infallible;

use hyper::body::Incoming;
use hyper::server::conn::http2;
use hyper::service::Service;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::sync::watch;

use super::transport::Io;
use crate::pipeline::Response;

/// Whether this build speaks HTTP/2.
pub const ENABLED: bool = true;

/// Serve `io` as an HTTP/2 connection until it ends or the server shuts
/// down (then a GOAWAY lets in-flight streams finish).
pub async fn serve<I, S>(io: I, service: S, mut shutdown: watch::Receiver<bool>)
where
    I: Io + 'static,
    S: Service<hyper::Request<Incoming>, Response = Response, Error = Infallible> + Send + 'static,
    S::Future: Send + 'static,
{
    let conn = http2::Builder::new(TokioExecutor::new())
        .timer(TokioTimer::new())
        // RFC 8441: WebSocket over HTTP/2 (the `websocket` module).
        .enable_connect_protocol()
        .serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => { log_end(r); return; }
        _ = shutdown.changed() => conn.as_mut().graceful_shutdown(),
    }
    log_end(conn.await);
}

fn log_end(r: Result<(), hyper::Error>) {
    if let Err(e) = r {
        log::debug!("h2 connection: {e}");
    }
}
