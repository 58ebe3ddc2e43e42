//! HTTP/2 when the cargo feature `http2` is off: never negotiated (TLS
//! offers only `http/1.1`), prior-knowledge connections are refused.

use std::convert::Infallible;

use hyper::body::Incoming;
use hyper::service::Service;
use tokio::sync::watch;

use super::transport::Io;
use crate::pipeline::Response;

/// Whether this build speaks HTTP/2.
pub const ENABLED: bool = false;

/// Drop the connection: this build has no HTTP/2.
pub async fn serve<I, S>(_io: I, _service: S, _shutdown: watch::Receiver<bool>)
where
    I: Io + 'static,
    S: Service<hyper::Request<Incoming>, Response = Response, Error = Infallible> + Send + 'static,
    S::Future: Send + 'static,
{
    log::debug!("HTTP/2 connection refused: not built (cargo feature `http2`)");
}
