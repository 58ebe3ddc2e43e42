//! `webstream`: one-way streams from UNIX-socket producers to any number of
//! HTTP clients (REFERENCE §6.15). Content phase only.
//!
//! # Keys
//!
//! | key | meaning |
//! |-----|---------|
//! | `docroot` | directory of producer sockets (required; may appear after start-up) |
//! | `allow`, `deny`, `denylast` | URI filter ([`UriFilter`]) |
//! | `options` | `multipart`, `date` (`direct` is not supported: warning) |
//! | `fps` | multipart: at most this many parts a second per client (default ≈ 29) |
//!
//! # Requests
//!
//! Any method. The path must name a socket under `docroot`: missing →
//! declined (404 unless another module serves it); something else, or the
//! producer cannot be reached → 400. Then `200` with the MIME type of the
//! socket's name (`camera.jpg` → `image/jpeg`), no length:
//!
//! - plain: a `SOCK_STREAM` (or packet) socket; its bytes are forwarded
//!   as they come;
//! - `multipart`: a `SOCK_SEQPACKET` socket; each packet becomes a
//!   `multipart/x-mixed-replace` part with `Content-Type`,
//!   `Content-Length` (and `Date` with option `date`), at most `fps` parts
//!   a second.
//!
//! All clients of one socket share one producer connection ([`feed`]): a
//! slow client skips parts (multipart) or is disconnected (plain, more than
//! [`feed::RING`] chunks behind), and a client that takes nothing for
//! [`STALL_LIMIT`] is disconnected; the others never wait for it. A
//! producer restart is picked up within [`feed::RESTART_GRACE`].
//!
//! The user is not passed to producers: one producer connection serves
//! every client, so access is decided by marmoset (auth, userfilter).

pub mod config;
pub mod feed;

use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderValue, Method, StatusCode};
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;

pub use config::{WebstreamConfig, WebstreamOptions};

use self::feed::{Hub, Subscription};
use crate::body::{Body, BodySender};
use crate::config::Diagnostic;
use crate::error::HttpError;
use crate::mime::MimeTable;
use crate::modules::BuildEnv;
use crate::modules::bridge::{Entry, SocketDir};
use crate::pipeline::{Handled, Module, Phases, Request, RequestCtx, Response, Step};
use crate::uri_filter::UriFilter;

/// A client that takes nothing for this long is disconnected.
pub const STALL_LIMIT: Duration = Duration::from_secs(30);

/// A running `webstream` instance.
pub struct Webstream {
    dir: SocketDir,
    filter: UriFilter,
    options: WebstreamOptions,
    interval: Duration,
    mime: Arc<MimeTable>,
    hub: Arc<Hub>,
}

impl Webstream {
    /// Build the instance. The socket directory is looked up per request.
    pub fn build(cfg: &WebstreamConfig, env: &BuildEnv) -> Result<Webstream, Diagnostic> {
        if !cfg.docroot.is_dir() {
            log::warn!(
                "{}: webstream docroot {} does not exist (yet)",
                cfg.span,
                cfg.docroot.display()
            );
        }
        Ok(Webstream {
            dir: SocketDir::new(
                std::path::absolute(&cfg.docroot).unwrap_or_else(|_| cfg.docroot.clone()),
            ),
            filter: cfg.filter.build(),
            options: cfg.options,
            interval: cfg.interval,
            mime: env.mime.clone(),
            hub: Arc::new(Hub::new(cfg.options.multipart)),
        })
    }

    async fn serve(&self, req: Request, ctx: &RequestCtx) -> Result<Handled, HttpError> {
        if !self.filter.accepts(&ctx.path) {
            return Ok(Handled::Declined(req));
        }
        let path = match self.dir.lookup(&ctx.path) {
            Entry::Missing => return Ok(Handled::Declined(req)),
            Entry::Dir(_) | Entry::Other => {
                return Err(HttpError::bad_request(format!(
                    "{}: not a socket",
                    ctx.path
                )));
            }
            Entry::Socket(p) => p,
        };
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        let ctype = self.mime.lookup(name.as_deref().unwrap_or(""));
        let mut resp = Response::new(Body::empty());
        *resp.status_mut() = StatusCode::OK;
        let boundary = self.options.multipart.then(boundary);
        let header = match &boundary {
            Some(b) => HeaderValue::from_str(&format!("multipart/x-mixed-replace; boundary={b}"))
                .map_err(HttpError::internal)?,
            None => ctype.clone(),
        };
        resp.headers_mut().insert(CONTENT_TYPE, header);
        if req.method() == Method::HEAD {
            return Ok(Handled::Served(resp));
        }
        let sub = self
            .hub
            .subscribe(&path)
            .await
            .map_err(|e| HttpError::bad_request(format!("{}: {e}", path.display())))?;
        let (tx, body) = Body::channel(2);
        *resp.body_mut() = body;
        match (sub, boundary) {
            (Subscription::Bytes(rx), _) => {
                tokio::spawn(pump_bytes(rx, tx));
            }
            (Subscription::Frames(rx), boundary) => {
                let parts = Parts {
                    boundary: boundary.unwrap_or_else(self::boundary),
                    ctype: String::from_utf8_lossy(ctype.as_bytes()).into_owned(),
                    date: self.options.date,
                    interval: self.interval,
                };
                tokio::spawn(pump_parts(rx, tx, parts));
            }
        }
        Ok(Handled::Served(resp))
    }
}

impl Module for Webstream {
    fn name(&self) -> &'static str {
        "webstream"
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

/// Send `data`, giving up after [`STALL_LIMIT`]; whether the client took it.
async fn send(tx: &BodySender, data: Bytes) -> bool {
    matches!(
        tokio::time::timeout(STALL_LIMIT, tx.send(data)).await,
        Ok(Ok(()))
    )
}

/// End the response as incomplete (the connection is closed without the
/// final chunk), unless the client takes nothing at all.
async fn cut(tx: BodySender, why: &str) {
    let e = io::Error::other(why.to_string());
    let _ = tokio::time::timeout(Duration::from_secs(1), tx.abort(e)).await;
}

/// A plain stream: every chunk, in order.
async fn pump_bytes(mut rx: broadcast::Receiver<Bytes>, tx: BodySender) {
    loop {
        match rx.recv().await {
            Ok(data) => {
                if !send(&tx, data).await {
                    return;
                }
            }
            Err(broadcast::error::RecvError::Lagged(n)) => {
                log::debug!("webstream: client {n} chunks behind, disconnected");
                return cut(tx, "client too slow").await;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// How multipart parts are written.
struct Parts {
    boundary: String,
    ctype: String,
    date: bool,
    interval: Duration,
}

/// A multipart stream: the newest packet, at most once per interval.
async fn pump_parts(mut rx: watch::Receiver<Option<Bytes>>, tx: BodySender, parts: Parts) {
    let mut next = Instant::now();
    while rx.changed().await.is_ok() {
        let Some(frame) = rx.borrow_and_update().clone() else {
            continue;
        };
        let mut head = format!(
            "\r\n--{}\r\nContent-Type: {}\r\nContent-Length: {}\r\n",
            parts.boundary,
            parts.ctype,
            frame.len()
        );
        if parts.date {
            head.push_str(&format!(
                "Date: {}\r\n",
                httpdate::fmt_http_date(std::time::SystemTime::now())
            ));
        }
        head.push_str("\r\n");
        if !send(&tx, Bytes::from(head)).await || !send(&tx, frame).await {
            return;
        }
        next = (next + parts.interval).max(Instant::now());
        tokio::time::sleep_until(next).await;
    }
    // The producer did not come back: close the multipart body properly.
    let _ = send(&tx, Bytes::from(format!("\r\n--{}--\r\n", parts.boundary))).await;
}

/// A random multipart boundary of 16 letters and digits.
fn boundary() -> String {
    use std::hash::{BuildHasher, Hasher};
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    let mut x = h.finish();
    let mut out = String::with_capacity(16);
    for i in 0..16 {
        if i == 8 {
            h.write_u64(x);
            x = h.finish();
        }
        out.push(ALPHABET[(x % ALPHABET.len() as u64) as usize] as char);
        x /= ALPHABET.len() as u64;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries_are_16_safe_characters_and_differ() {
        let a = boundary();
        let b = boundary();
        assert_eq!(a.len(), 16);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
    }
}
