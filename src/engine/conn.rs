//! One client connection: HTTP/0.9 sniffing, then hyper.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use http::{Method, StatusCode, Version};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::http09::{self, Start};
use super::rewind::Rewind;
use crate::access_log;
use crate::body::Body;
use crate::pipeline::{Pipeline, Request, RequestCtx, Response};
use crate::request_body::RequestBody;
use crate::server_info::HttpVersion;

/// Limits of a listening server.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Whether a connection may carry several requests.
    pub keep_alive: bool,
    /// Idle time allowed between requests (`None`: never closed for idling).
    pub idle_timeout: Option<Duration>,
    /// Time to send the first request head.
    pub header_timeout: Duration,
    /// Largest request head.
    pub max_header: usize,
    /// Largest request body.
    pub max_body: u64,
    /// Simultaneous connections.
    pub maxclients: usize,
}

/// Everything a connection of one listening server needs.
pub struct Site {
    pub(crate) pipeline: Arc<Pipeline>,
    pub(crate) limits: Limits,
    /// Time a new connection has to start its first request: the header
    /// timeout, or the idle timeout when shorter.
    first_head_deadline: Duration,
    http1: http1::Builder,
}

impl Site {
    /// A site serving `pipeline` within `limits`.
    pub fn new(pipeline: Arc<Pipeline>, limits: Limits) -> Self {
        let mut http1 = http1::Builder::new();
        let head_deadline = if limits.keep_alive {
            // hyper arms this timer from the moment it waits for a head, so it
            // is both the keep-alive idle limit and the head read limit.
            limits.idle_timeout
        } else {
            Some(limits.header_timeout)
        };
        http1
            .timer(TokioTimer::new())
            .header_read_timeout(head_deadline)
            .keep_alive(limits.keep_alive)
            .max_header_size(limits.max_header)
            .max_buf_size(limits.max_header.max(8192) + 64 * 1024)
            // Not `pipeline_flush`: in hyper 1.12 it lifts the bound on the
            // write buffer, so a fast body producer fills memory without
            // limit (embed_streaming_with_backpressure catches it).
            .auto_date_header(false);
        let first_head_deadline = match (limits.keep_alive, limits.idle_timeout) {
            (true, Some(idle)) => idle.min(limits.header_timeout),
            _ => limits.header_timeout,
        };
        Site {
            pipeline,
            limits,
            first_head_deadline,
            http1,
        }
    }
}

/// Serve one connection until it closes or the server shuts down.
pub async fn serve(
    mut stream: TcpStream,
    peer: SocketAddr,
    site: Arc<Site>,
    mut shutdown: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let local = stream.local_addr().unwrap_or(peer);
    let limits = &site.limits;
    let start = tokio::select! {
        s = http09::sniff(&mut stream, limits.max_header, site.first_head_deadline) => s,
        _ = shutdown.changed() => return,
    };
    let prefix = match start {
        Ok(Start::Http(prefix)) => prefix,
        Ok(Start::Simple { method, target }) => {
            simple(&mut stream, &site, peer, local, method, target).await;
            return;
        }
        Ok(Start::Closed) | Err(_) => return,
    };
    let io = TokioIo::new(Rewind::new(prefix, stream));
    let svc_site = site.clone();
    let service = service_fn(move |req: hyper::Request<Incoming>| {
        let site = svc_site.clone();
        async move {
            let (parts, body) = req.into_parts();
            let req = Request::from_parts(parts, RequestBody::new(body, site.limits.max_body));
            Ok::<_, Infallible>(dispatch(&site.pipeline, req, peer, local).await)
        }
    });
    let conn = site.http1.serve_connection(io, service).with_upgrades();
    tokio::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => { log_transport(r, peer); return; }
        _ = shutdown.changed() => conn.as_mut().graceful_shutdown(),
    }
    log_transport(conn.await, peer);
}

fn log_transport(r: Result<(), hyper::Error>, peer: SocketAddr) {
    if let Err(e) = r {
        log::debug!("{peer}: connection: {e}");
    }
}

/// Run the pipeline for one request, with panics contained and the access
/// line written.
async fn dispatch(
    pipeline: &Pipeline,
    req: Request,
    peer: SocketAddr,
    local: SocketAddr,
) -> Response {
    let mut ctx = RequestCtx::new(pipeline.info().clone(), peer, local);
    let line = access_log::enabled().then(|| access_log::RequestLine::of(&req));
    let resp =
        if pipeline.info().version == HttpVersion::Http09 && req.version() != Version::HTTP_09 {
            status_only(StatusCode::HTTP_VERSION_NOT_SUPPORTED)
        } else {
            match AssertUnwindSafe(pipeline.serve(req, &mut ctx))
                .catch_unwind()
                .await
            {
                Ok(resp) => resp,
                Err(_) => {
                    log::error!("{peer} {}: panic in module `{}`", ctx.path, ctx.served_by);
                    status_only(StatusCode::INTERNAL_SERVER_ERROR)
                }
            }
        };
    if let Some(line) = line {
        access_log::write(&line, &ctx, &resp);
    }
    resp
}

fn status_only(status: StatusCode) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = status;
    r
}

async fn simple(
    stream: &mut TcpStream,
    site: &Site,
    peer: SocketAddr,
    local: SocketAddr,
    method: String,
    target: String,
) {
    let req = Method::from_bytes(method.to_ascii_uppercase().as_bytes())
        .ok()
        .zip(http::Uri::try_from(target).ok())
        .and_then(|(m, uri)| {
            http::Request::builder()
                .method(m)
                .uri(uri)
                .version(Version::HTTP_09)
                .body(RequestBody::empty())
                .ok()
        });
    let Some(req) = req else {
        return;
    };
    let resp = dispatch(&site.pipeline, req, peer, local).await;
    if let Err(e) = http09::respond(stream, resp).await {
        log::debug!("{peer}: HTTP/0.9 response: {e}");
    }
}
