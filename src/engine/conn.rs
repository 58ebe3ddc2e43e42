//! One client connection: HTTP/0.9 sniffing, then HTTP/1 (marmoset's own
//! engine, [`super::h1`]) or HTTP/2 (hyper).

use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::Either;
use http::{Method, StatusCode, Version};
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::http09::{self, Start};
use super::rewind::Rewind;
use super::transport::{ConnFilter, Io, TlsAcceptor, TlsInfo};
use super::upgrade::OnUpgrade;
use super::{h1, h2};
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
    /// The pipeline's default headers, as the HTTP/1 engine writes them.
    defaults: h1::Defaults,
    pub(crate) limits: Limits,
    h1: h1::Settings,
    pub(crate) tls: Option<Arc<dyn TlsAcceptor>>,
    /// The connection filter (`clientfilter`), consulted at accept.
    pub(crate) filter: Option<Arc<dyn ConnFilter>>,
    /// Virtual hosts, tried in order.
    pub(crate) vhosts: Vec<Vhost>,
}

/// A virtual host: its selector and its pipeline.
pub struct Vhost {
    pub(crate) hostname: Option<String>,
    pub(crate) service: Option<String>,
    pub(crate) pipeline: Arc<Pipeline>,
    pub(crate) defaults: h1::Defaults,
}

impl Vhost {
    /// The virtual host `hostname` / `service` served by `pipeline`.
    pub(crate) fn new(
        hostname: Option<String>,
        service: Option<String>,
        pipeline: Arc<Pipeline>,
    ) -> Vhost {
        Vhost {
            hostname,
            service,
            defaults: h1::Defaults::new(&pipeline.info().default_headers),
            pipeline,
        }
    }
}

impl Site {
    /// The connection limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The verdict of the connection filter (`clientfilter`) on `peer`.
    pub fn check_peer(&self, peer: &SocketAddr) -> super::transport::Verdict {
        self.filter
            .as_ref()
            .map_or(super::transport::Verdict::Accept, |f| f.check(peer))
    }

    /// The pipeline for a request: the first virtual host its target's
    /// authority (absolute form, HTTP/2) or else its `Host` matches, else
    /// the server's own. An absolute target's authority wins over `Host`
    /// (RFC 9112 §3.2.2).
    fn pipeline_for(&self, req: &Request) -> (&Arc<Pipeline>, &h1::Defaults) {
        if self.vhosts.is_empty() {
            return (&self.pipeline, &self.defaults);
        }
        let host = req.uri().authority().map(|a| a.as_str()).or_else(|| {
            req.headers()
                .get(http::header::HOST)
                .and_then(|h| h.to_str().ok())
        });
        host.and_then(|host| {
            self.vhosts.iter().find(|v| {
                crate::modules::vhost::matches(v.hostname.as_deref(), v.service.as_deref(), host)
            })
        })
        .map_or((&self.pipeline, &self.defaults), |v| {
            (&v.pipeline, &v.defaults)
        })
    }
}

impl Site {
    /// A site serving `pipeline` within `limits`.
    pub fn new(pipeline: Arc<Pipeline>, limits: Limits, tls: Option<Arc<dyn TlsAcceptor>>) -> Self {
        let first_head = match (limits.keep_alive, limits.idle_timeout) {
            (true, Some(idle)) => idle.min(limits.header_timeout),
            _ => limits.header_timeout,
        };
        let h1 = h1::Settings {
            first_head,
            // Between requests the idle limit bounds the wait for a head
            // (as hyper's header timer did), so a slow head cannot hold a
            // kept-alive connection longer than an idle one.
            next_head: limits.idle_timeout,
            keep_alive: limits.keep_alive,
            max_head: limits.max_header,
            max_body: limits.max_body,
            // No new setting: a client waited on in the middle of a
            // request gets as long as for its head.
            stall: limits.header_timeout,
        };
        Site {
            defaults: h1::Defaults::new(&pipeline.info().default_headers),
            pipeline,
            limits,
            h1,
            tls,
            filter: None,
            vhosts: Vec::new(),
        }
    }
}

/// Keeps a connection counted — its `maxclients` slot, its process in
/// process mode — while something outlives the HTTP exchange: the bridge of
/// an upgraded connection takes a clone from the request's extensions.
#[derive(Clone)]
pub struct ConnHold(#[allow(dead_code)] Arc<dyn std::any::Any + Send + Sync>);

impl ConnHold {
    /// Hold `what` (a semaphore permit, a token) until every clone is gone.
    pub fn new(what: impl std::any::Any + Send + Sync) -> Self {
        ConnHold(Arc::new(what))
    }
}

/// Unsent bytes a connection's socket may queue before it stops taking
/// more (`TCP_NOTSENT_LOWAT`).
///
/// Without a limit a large response (`sendfile`) fills the whole send
/// buffer at once, megabytes, and the kernel then sends it piece by piece
/// as the client acknowledges, on the client's CPU and paced: on loopback
/// a 1 MiB file went out at 2,000 responses/s, against 8,300–9,300 with
/// 32 KiB here and 64 KiB `sendfile` pieces (16 KiB to 256 KiB tried, see
/// bench/RESULTS.md). The memory a slow reader holds in the kernel stays
/// small too.
pub(crate) const NOTSENT_LOWAT: u32 = 32 * 1024;

/// Socket options of an accepted connection: no Nagle delay (responses
/// are written whole), and a short unsent queue ([`NOTSENT_LOWAT`]).
/// Set on a listening socket, Linux gives them to every connection it
/// accepts (see [`Accepted::tuned`]).
pub(crate) fn tune(socket: socket2::SockRef<'_>) {
    let _ = socket.set_tcp_nodelay(true);
    let _ = socket.set_tcp_notsent_lowat(NOTSENT_LOWAT);
}

/// What the accepting side already knows about a connection, saving the
/// system calls that would ask.
#[derive(Clone, Copy, Debug, Default)]
pub struct Accepted {
    /// The socket options every connection gets (no Nagle delay, a short
    /// unsent queue) are already set (inherited from the
    /// listening socket: checked on the listener's first connection).
    pub tuned: bool,
    /// The local address, when the listener is bound to one address
    /// (`None`: ask the socket, as for a wildcard listener).
    pub local: Option<SocketAddr>,
}

/// Serve one connection until it closes or the server shuts down; `hold`
/// is dropped when the connection and everything it upgraded to are done.
pub async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    accepted: Accepted,
    site: Arc<Site>,
    shutdown: watch::Receiver<bool>,
    hold: ConnHold,
) {
    if !accepted.tuned {
        tune(socket2::SockRef::from(&stream));
    }
    let local = accepted
        .local
        .unwrap_or_else(|| stream.local_addr().unwrap_or(peer));
    let conn = Conn {
        peer,
        local,
        tls: None,
        site,
        hold,
    };
    match conn.site.tls.clone() {
        None => conn.serve_io(stream, shutdown).await,
        // Boxed: a TLS session's state (and the handshake's) is much wider
        // than a plain connection's; plain ones do not carry room for it.
        Some(acceptor) => Box::pin(conn.serve_tls(acceptor, stream, shutdown)).await,
    }
}

/// One connection's identity, shared by its requests.
#[derive(Clone)]
struct Conn {
    peer: SocketAddr,
    local: SocketAddr,
    tls: Option<Arc<TlsInfo>>,
    site: Arc<Site>,
    hold: ConnHold,
}

impl Conn {
    /// The TLS handshake, then HTTP/2 (ALPN `h2`) or [`Conn::serve_io`].
    async fn serve_tls(
        self,
        acceptor: Arc<dyn TlsAcceptor>,
        stream: TcpStream,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let peer = self.peer;
        let handshake = tokio::time::timeout(self.site.h1.first_head, acceptor.accept(stream));
        let secured = tokio::select! {
            s = handshake => s,
            _ = shutdown.changed() => return,
        };
        match secured {
            Ok(Ok(secured)) => {
                let conn = Conn {
                    tls: Some(Arc::new(secured.info)),
                    ..self
                };
                if conn.tls.as_ref().is_some_and(|t| t.h2) {
                    conn.serve_h2(secured.io, shutdown).await;
                } else {
                    conn.serve_io(secured.io, shutdown).await;
                }
            }
            Ok(Err(e)) => log::debug!("{peer}: TLS handshake: {e}"),
            Err(_) => log::debug!("{peer}: TLS handshake timed out"),
        }
    }

    /// HTTP/0.9 sniffing, then HTTP/1 (or HTTP/2 by prior knowledge).
    async fn serve_io<I: Io + 'static>(self, mut io: I, mut shutdown: watch::Receiver<bool>) {
        let limits = &self.site.limits;
        // Boxed, as every stage but the HTTP/1 loop: what a connection
        // holds for its whole life is only the widest stage's state.
        let first_head = self.site.h1.first_head;
        let start = Box::pin(async {
            tokio::select! {
                s = http09::sniff(&mut io, limits.max_header, first_head) => Some(s),
                _ = shutdown.changed() => None,
            }
        })
        .await;
        let Some(start) = start else {
            return;
        };
        let prefix = match start {
            Ok(Start::Http(prefix)) => prefix,
            Ok(Start::Simple { method, target }) => {
                Box::pin(self.simple(&mut io, method, target)).await;
                return;
            }
            Ok(Start::Closed) | Err(_) => return,
        };
        if prefix.starts_with(b"PRI * HTTP/2.0")
            && self.site.pipeline.info().version == HttpVersion::Http2
        {
            return Box::pin(self.serve_h2(Rewind::new(prefix.freeze(), io), shutdown)).await;
        }
        let settings = self.site.h1.clone();
        h1::serve(io, prefix, settings, shutdown, |req| self.dispatch_h1(req)).await;
    }

    /// Serve `io` as HTTP/2 (hyper), each stream through the pipeline.
    async fn serve_h2<I: Io + 'static>(&self, io: I, shutdown: watch::Receiver<bool>) {
        let conn = self.clone();
        let dispatch = move |req: Request| {
            let conn = conn.clone();
            async move { conn.dispatch(req).await }
        };
        Box::pin(h2::serve(io, dispatch, self.site.limits.max_body, shutdown)).await;
    }

    /// Run the pipeline for one request; the pipeline writes its access
    /// line and answers a module's panic with a 500. A panic elsewhere in
    /// the pipeline is contained here (500 too, no access line).
    /// Contained only where panics unwind: built with `panic = "abort"`
    /// (the `release-small` profile) a panic ends the process first.
    fn dispatch(&self, req: Request) -> impl Future<Output = Response> + '_ {
        self.dispatch_h1(req).map(|(resp, _)| resp)
    }

    /// As [`Conn::dispatch`], with the default headers of the server (or
    /// virtual host) that answered: the HTTP/1 engine writes them itself.
    ///
    /// The pipeline's future is made here, before any await, and given
    /// the request and its context: an `async` block here would hold them
    /// once more beside that future.
    fn dispatch_h1(
        &self,
        mut req: Request,
    ) -> impl Future<Output = (Response, &h1::Defaults)> + '_ {
        normalize_method(&mut req);
        // Both engines mark a request that may upgrade (an `Upgrade`
        // header, a CONNECT): a look at the extensions, not a header lookup.
        if req.extensions().get::<OnUpgrade>().is_some() {
            req.extensions_mut().insert(self.hold.clone());
        }
        let (pipeline, defaults) = self.site.pipeline_for(&req);
        let mut ctx = RequestCtx::new(pipeline.info().clone(), self.peer, self.local);
        ctx.tls = self.tls.clone();
        // Boxed: 200 bytes the request's future would carry even with the
        // access log off.
        let line = access_log::enabled().then(|| Box::new(access_log::RequestLine::of(&req)));
        if pipeline.info().version == HttpVersion::Http09 && req.version() != Version::HTTP_09 {
            let resp = status_only(StatusCode::HTTP_VERSION_NOT_SUPPORTED);
            if let Some(line) = line {
                access_log::write(&line, &ctx, &resp);
            }
            return Either::Right(std::future::ready((resp, defaults)));
        }
        let serving = AssertUnwindSafe(pipeline.serve(req, ctx, line)).catch_unwind();
        Either::Left(serving.map(move |served| {
            let resp = served.unwrap_or_else(|_| {
                log::error!("{}: panic while serving a request", self.peer);
                status_only(StatusCode::INTERNAL_SERVER_ERROR)
            });
            (resp, defaults)
        }))
    }

    async fn simple<I: Io>(&self, io: &mut I, method: String, target: String) {
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
        let resp = self.dispatch(req).await;
        if let Err(e) = http09::respond(io, resp).await {
            log::debug!("{}: HTTP/0.9 response: {e}", self.peer);
        }
    }
}

/// `get` is `GET`: Ouistiti compares methods case-insensitively.
fn normalize_method(req: &mut Request) {
    let m = req.method().as_str();
    if m.bytes().any(|b| b.is_ascii_lowercase())
        && let Ok(upper) = Method::from_bytes(m.to_ascii_uppercase().as_bytes())
    {
        *req.method_mut() = upper;
    }
}

fn status_only(status: StatusCode) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = status;
    r
}
