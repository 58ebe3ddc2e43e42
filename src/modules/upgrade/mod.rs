//! `upgrade`: a generic protocol upgrade relayed raw to a UNIX socket
//! (REFERENCE §6.16). Content phase only.
//!
//! # Keys
//!
//! | key | meaning |
//! |-----|---------|
//! | `docroot` | directory of UNIX sockets (required) |
//! | `upgrade` | the protocol token expected in `Upgrade` (required); `rhttp` means `PTTH/1.0` |
//! | `allow`, `deny` | refuse (403) when `deny` matches and `allow` does not; no default deny |
//! | `options` | `user` (marmoset): send [`bridge::preamble`] to the server first |
//! | `serveraddr`, `port` | TCP back-ends of some builds of the original: not supported (warning) |
//!
//! # Requests
//!
//! HTTP/1.1 requests with `Connection` containing `upgrade` and `Upgrade`
//! containing the token (case-insensitive substrings); others are declined.
//! Refused by the filter, no socket at the path, or the socket cannot be
//! reached → 403. Otherwise `101 Switching Protocols` with `Connection:
//! Upgrade` and `Upgrade: <token>`, then bytes are copied unchanged both
//! ways until one side closes; a half-close is passed on.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::engine::upgrade::Upgraded;
use bytes::Bytes;
use http::header::{CONNECTION, UPGRADE};
use http::{HeaderValue, StatusCode, Version};

use crate::body::Body;
use crate::config::print::quote;
use crate::config::value::Span;
use crate::config::{Diagnostic, Problem, Section};
use crate::error::HttpError;
use crate::modules::BuildEnv;
use crate::modules::bridge::{self, Backend, Entry, Prefer, SocketDir};
use crate::pattern::has_option;
use crate::pipeline::{Handled, Module, Phases, Request, RequestCtx, Response, Step};
use crate::uri_filter::UriFilter;

/// One `upgrade` section.
#[derive(Clone, Debug)]
pub struct UpgradeConfig {
    /// Where the section starts.
    pub span: Span,
    /// `docroot`: the directory of UNIX sockets.
    pub docroot: PathBuf,
    /// `upgrade`: the token as configured (`rhttp` kept as written).
    pub upgrade: String,
    /// `allow`.
    pub allow: Option<String>,
    /// `deny`.
    pub deny: Option<String>,
    /// Option `user`: send the preamble first.
    pub user: bool,
}

impl UpgradeConfig {
    /// Read a section; `None` (with errors) without `docroot` or `upgrade`.
    pub fn from_section(sec: &Section<'_>) -> Option<UpgradeConfig> {
        let docroot = sec.str("docroot");
        let upgrade = sec.str("upgrade");
        let allow = sec.str("allow");
        let deny = sec.str("deny");
        let user = has_option(&sec.str("options").unwrap_or_default(), "user");
        for key in ["serveraddr", "port"] {
            if sec.value(key).is_some() {
                sec.warn(
                    key,
                    Problem::BadValue("TCP back-ends are not supported".into()),
                );
            }
        }
        for (key, v) in [("docroot", &docroot), ("upgrade", &upgrade)] {
            if v.is_none() && !sec.has(key) {
                sec.error(key, Problem::MissingKey(key));
            }
        }
        if upgrade.as_deref() == Some("") {
            sec.error("upgrade", Problem::BadValue("empty protocol token".into()));
            return None;
        }
        Some(UpgradeConfig {
            span: sec.span().clone(),
            docroot: PathBuf::from(docroot?),
            upgrade: upgrade?,
            allow,
            deny,
            user,
        })
    }

    /// The section as libconfig text (for `-C`).
    pub fn print(&self) -> String {
        let mut o = format!(
            "{{ docroot = {}; upgrade = {};",
            quote(&self.docroot.to_string_lossy()),
            quote(&self.upgrade)
        );
        if let Some(a) = &self.allow {
            o.push_str(&format!(" allow = {};", quote(a)));
        }
        if let Some(d) = &self.deny {
            o.push_str(&format!(" deny = {};", quote(d)));
        }
        let options = if self.user { "user" } else { "" };
        o.push_str(&format!(" options = {}; }}", quote(options)));
        o
    }
}

/// A running `upgrade` instance.
pub struct Upgrade {
    dir: SocketDir,
    token: HeaderValue,
    filter: UriFilter,
    user: bool,
}

impl Upgrade {
    /// Build the instance. The socket directory is looked up per request.
    pub fn build(cfg: &UpgradeConfig, _env: &BuildEnv) -> Result<Upgrade, Diagnostic> {
        let token = if cfg.upgrade.eq_ignore_ascii_case("rhttp") {
            "PTTH/1.0"
        } else {
            &cfg.upgrade
        };
        let token = HeaderValue::from_str(token).map_err(|_| Diagnostic {
            severity: crate::config::Severity::Error,
            span: cfg.span.clone(),
            path: "upgrade".into(),
            problem: Problem::BadValue(format!("`{}` is not a header value", cfg.upgrade)),
        })?;
        // The original refuses only what `deny` matches and `allow` does
        // not: the filter's "deny last" reading with an empty default deny.
        let deny = cfg.deny.as_deref().unwrap_or("");
        Ok(Upgrade {
            dir: SocketDir::new(
                std::path::absolute(&cfg.docroot).unwrap_or_else(|_| cfg.docroot.clone()),
            ),
            token,
            filter: UriFilter::new(cfg.allow.as_deref(), Some(deny), Some(true)),
            user: cfg.user,
        })
    }

    async fn serve(&self, mut req: Request, ctx: &RequestCtx) -> Result<Handled, HttpError> {
        let token = self.token.to_str().unwrap_or_default();
        if req.version() != Version::HTTP_11 || !bridge::wants_upgrade(req.headers(), token) {
            return Ok(Handled::Declined(req));
        }
        if !self.filter.accepts(&ctx.path) {
            return Err(HttpError::forbidden(format!(
                "{}: refused by the filter",
                ctx.path
            )));
        }
        let Entry::Socket(path) = self.dir.lookup(&ctx.path) else {
            return Err(HttpError::forbidden(format!("{}: no socket", ctx.path)));
        };
        let backend = Backend::connect(&path, Prefer::Stream)
            .await
            .map_err(|e| HttpError::forbidden(format!("{}: {e}", path.display())))?;
        let preamble = self.user.then(|| bridge::preamble(ctx));
        let peer = ctx.peer;
        bridge::on_upgrade(&mut req, peer, move |client| {
            relay(client, backend, preamble, peer)
        });
        let mut resp = Response::new(Body::empty());
        *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        resp.headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("Upgrade"));
        resp.headers_mut().insert(UPGRADE, self.token.clone());
        Ok(Handled::Served(resp))
    }
}

/// Copy bytes both ways until both directions are closed.
async fn relay(mut client: Upgraded, backend: Backend, preamble: Option<Bytes>, peer: SocketAddr) {
    let result = match backend {
        Backend::Stream(mut s) => {
            use tokio::io::AsyncWriteExt;
            if let Some(p) = preamble
                && let Err(e) = s.write_all(&p).await
            {
                log::debug!("{peer}: upgrade server: {e}");
                return;
            }
            tokio::io::copy_bidirectional(&mut client, &mut s)
                .await
                .map(|_| ())
        }
        packet @ Backend::Packet(_) => relay_packets(client, packet, preamble).await,
    };
    if let Err(e) = result {
        log::debug!("{peer}: upgrade relay: {e}");
    }
}

/// A packet socket: each client read is one packet, each packet is written
/// as it is.
async fn relay_packets(
    mut client: Upgraded,
    backend: Backend,
    preamble: Option<Bytes>,
) -> std::io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (mut from, mut to) = backend.split();
    if let Some(p) = preamble {
        to.write(&p).await?;
    }
    let (mut cr, mut cw) = tokio::io::split(&mut client);
    let up = async {
        let mut buf = vec![0u8; bridge::READ_CHUNK];
        loop {
            let n = cr.read(&mut buf).await?;
            if n == 0 {
                to.shutdown().await;
                return Ok::<_, std::io::Error>(());
            }
            to.write(&buf[..n]).await?;
        }
    };
    let down = async {
        while let Some(p) = from.read(bridge::MAX_PACKET).await? {
            cw.write_all(&p).await?;
        }
        cw.shutdown().await
    };
    tokio::try_join!(up, down).map(|_| ())
}

impl Module for Upgrade {
    fn name(&self) -> &'static str {
        "upgrade"
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
