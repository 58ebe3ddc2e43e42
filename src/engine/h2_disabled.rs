//! HTTP/2 when the cargo feature `http2` is off: never negotiated (TLS
//! offers only `http/1.1`), prior-knowledge connections are refused.

use std::future::Future;

use tokio::sync::watch;

use super::transport::Io;
use crate::pipeline::{Request, Response};

/// Whether this build speaks HTTP/2.
pub const ENABLED: bool = false;

/// Drop the connection: this build has no HTTP/2.
pub async fn serve<I, F, Fut>(
    _io: I,
    _dispatch: F,
    _max_body: u64,
    _shutdown: watch::Receiver<bool>,
) where
    I: Io + 'static,
    F: Fn(Request) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Response> + Send + 'static,
{
    log::debug!("HTTP/2 connection refused: not built (cargo feature `http2`)");
}
