//! `websocket`: a WebSocket gateway to UNIX-socket servers (REFERENCE
//! §6.14). Content phase only, so auth and userfilter run before the
//! handshake like for any document.
//!
//! # Keys
//!
//! | key | meaning |
//! |-----|---------|
//! | `docroot` | directory of UNIX sockets (required; may appear after start-up) |
//! | `allow`, `deny`, `denylast` | URI filter ([`UriFilter`]) |
//! | `options` | `direct` (hand the TCP socket over), `user` (send [`bridge::preamble`]) |
//! | `maxmessage` | largest message in bytes (marmoset; default 1 MiB) |
//! | `services` | accepted and ignored, as by the original |
//! | `links` | not supported (warning) |
//!
//! # Handshake
//!
//! An HTTP/1.1 `GET` with `Connection: upgrade` and `Upgrade: websocket`
//! (case-insensitive substrings), or an HTTP/2 extended `CONNECT` with
//! `:protocol = websocket` (RFC 8441). Anything else is declined. Then:
//!
//! 1. the path is filtered (refused → declined);
//! 2. the socket: the path itself; if it does not exist, each offered
//!    sub-protocol as a name in `docroot`; if it is a directory, each
//!    offered sub-protocol inside it. None, or not a socket → 403;
//! 3. HTTP/1.1: no `Sec-WebSocket-Key` → 400; a `Sec-WebSocket-Version`
//!    other than 13 → 426 with `Sec-WebSocket-Version: 13`;
//! 4. connecting fails → 403;
//! 5. `101 Switching Protocols` (HTTP/2: `200`) with
//!    `Sec-WebSocket-Accept` and the chosen sub-protocol, then [`relay`]
//!    (or [`direct`]).
//!
//! Where the original echoes `Sec-WebSocket-Protocol` verbatim, marmoset
//! answers one protocol: the one that named the socket, else the first
//! offered (a list echoed back makes browsers fail the connection).

pub mod config;
pub mod direct;
pub mod relay;

use base64::Engine as _;
use http::header::{CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_PROTOCOL, UPGRADE};
use http::{HeaderValue, Method, StatusCode, Version};
use sha1::{Digest, Sha1};

pub use config::{WebsocketConfig, WebsocketOptions};

use crate::body::Body;
use crate::config::Diagnostic;
use crate::error::HttpError;
use crate::modules::BuildEnv;
use crate::modules::bridge::{self, Backend, Entry, Prefer, SocketDir};
use crate::pipeline::{Handled, Module, Phases, Request, RequestCtx, Response, Step};
use crate::uri_filter::UriFilter;

/// The GUID of RFC 6455 §1.3.
const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// A running `websocket` instance.
pub struct Websocket {
    dir: SocketDir,
    filter: UriFilter,
    options: WebsocketOptions,
    max_message: usize,
}

/// Which handshake the client started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handshake {
    /// HTTP/1.1 `Upgrade` (RFC 6455).
    Http1,
    /// HTTP/2 extended CONNECT (RFC 8441).
    Http2,
}

impl Websocket {
    /// Build the instance. The socket directory is looked up per request.
    pub fn build(cfg: &WebsocketConfig, _env: &BuildEnv) -> Result<Websocket, Diagnostic> {
        if !cfg.docroot.is_dir() {
            log::warn!(
                "{}: websocket docroot {} does not exist (yet)",
                cfg.span,
                cfg.docroot.display()
            );
        }
        Ok(Websocket {
            dir: SocketDir::new(
                std::path::absolute(&cfg.docroot).unwrap_or_else(|_| cfg.docroot.clone()),
            ),
            filter: cfg.filter.build(),
            options: cfg.options,
            max_message: cfg.max_message,
        })
    }

    async fn serve(&self, mut req: Request, ctx: &RequestCtx) -> Result<Handled, HttpError> {
        let Some(kind) = handshake(&req) else {
            return Ok(Handled::Declined(req));
        };
        if !self.filter.accepts(&ctx.path) {
            return Ok(Handled::Declined(req));
        }
        let offered = protocols(&req);
        let (path, chosen) = self.target(&ctx.path, &offered)?;
        let accept = match kind {
            Handshake::Http1 if !version_ok(&req) => {
                return Ok(Handled::Served(upgrade_required()));
            }
            Handshake::Http1 => Some(accept_key(&req)?),
            Handshake::Http2 => None,
        };
        let backend = Backend::connect(&path, Prefer::Stream)
            .await
            .map_err(|e| HttpError::forbidden(format!("{}: {e}", path.display())))?;

        let mut resp = Response::new(Body::empty());
        let h = resp.headers_mut();
        if let Some(p) = chosen.and_then(|p| HeaderValue::from_str(&p).ok()) {
            h.insert(SEC_WEBSOCKET_PROTOCOL, p);
        }
        if let Some(accept) = accept {
            *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
            let h = resp.headers_mut();
            h.insert(SEC_WEBSOCKET_ACCEPT, accept);
            h.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
            h.insert(UPGRADE, HeaderValue::from_static("websocket"));
        }

        let preamble = self.options.user.then(|| bridge::preamble(ctx));
        let peer = ctx.peer;
        let direct = self.options.direct && ctx.tls.is_none() && kind == Handshake::Http1;
        let max = self.max_message;
        bridge::on_upgrade(&mut req, peer, move |client| async move {
            if direct {
                direct::hand_over(client, backend, peer, preamble).await;
            } else {
                relay::run(client, backend, preamble, max, peer).await;
            }
        });
        Ok(Handled::Served(resp))
    }

    /// The socket for `uri` and the sub-protocol to answer, or 403.
    fn target(
        &self,
        uri: &str,
        offered: &[String],
    ) -> Result<(std::path::PathBuf, Option<String>), HttpError> {
        let by_name = |dir: Option<&std::path::Path>| {
            offered
                .iter()
                .find_map(|p| match self.dir.lookup_name(dir, p) {
                    Entry::Socket(s) => Some((s, Some(p.clone()))),
                    _ => None,
                })
        };
        let found = match self.dir.lookup(uri) {
            Entry::Socket(s) => Some((s, offered.first().cloned())),
            Entry::Dir(d) => by_name(Some(&d)),
            Entry::Missing => by_name(None),
            Entry::Other => None,
        };
        found.ok_or_else(|| HttpError::forbidden(format!("{uri}: no socket")))
    }
}

/// The handshake `req` starts, if any.
pub fn handshake(req: &Request) -> Option<Handshake> {
    if req.version() == Version::HTTP_2 {
        return (req.method() == Method::CONNECT && connect_protocol_is_websocket(req))
            .then_some(Handshake::Http2);
    }
    (req.version() == Version::HTTP_11
        && req.method() == Method::GET
        && bridge::wants_upgrade(req.headers(), "websocket"))
    .then_some(Handshake::Http1)
}

/// Whether an HTTP/2 extended CONNECT names the `websocket` protocol.
#[cfg(feature = "http2")]
fn connect_protocol_is_websocket(req: &Request) -> bool {
    req.extensions()
        .get::<hyper::ext::Protocol>()
        .is_some_and(|p| p.as_str().eq_ignore_ascii_case("websocket"))
}

/// Without HTTP/2 there is no extended CONNECT.
#[cfg(not(feature = "http2"))]
fn connect_protocol_is_websocket(_req: &Request) -> bool {
    false
}

/// The offered sub-protocols, in order.
pub fn protocols(req: &Request) -> Vec<String> {
    req.headers()
        .get_all(SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

/// Whether `Sec-WebSocket-Version` is absent (the original does not check
/// it) or 13.
pub fn version_ok(req: &Request) -> bool {
    req.headers()
        .get(http::header::SEC_WEBSOCKET_VERSION)
        .is_none_or(|v| v.as_bytes().trim_ascii() == b"13")
}

/// 426 naming the version marmoset speaks (RFC 6455 §4.4).
fn upgrade_required() -> Response {
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::UPGRADE_REQUIRED;
    resp.headers_mut().insert(
        http::header::SEC_WEBSOCKET_VERSION,
        HeaderValue::from_static("13"),
    );
    resp
}

/// `Sec-WebSocket-Accept` for the request's key, or 400.
pub fn accept_key(req: &Request) -> Result<HeaderValue, HttpError> {
    let key = req
        .headers()
        .get(http::header::SEC_WEBSOCKET_KEY)
        .ok_or_else(|| HttpError::bad_request("no Sec-WebSocket-Key"))?;
    let mut sha = Sha1::new();
    sha.update(key.as_bytes().trim_ascii());
    sha.update(GUID.as_bytes());
    let accept = base64::engine::general_purpose::STANDARD.encode(sha.finalize());
    HeaderValue::from_str(&accept).map_err(HttpError::internal)
}

impl Module for Websocket {
    fn name(&self) -> &'static str {
        "websocket"
    }

    fn phases(&self) -> Phases {
        Phases::HANDLE
    }

    fn handle<'a>(
        &'a self,
        req: Request,
        ctx: &'a mut RequestCtx,
    ) -> Step<'a, Result<Handled, HttpError>> {
        Step::later(self.serve(req, ctx))
    }
}

#[cfg(test)]
mod tests;
