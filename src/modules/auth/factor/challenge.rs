//! The answer to a request that needs credentials (REFERENCE §6.6.5): the
//! scheme's `WWW-Authenticate`, then 403 for scripts, a redirect to the
//! sign-in page, or 401; and the 429 of a lock-out.

use std::time::Duration;

use http::header::{HOST, LOCATION, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderValue, StatusCode};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

use super::super::config::Scheme;
use super::super::digest::Algorithm;
use super::super::storage::Storage;
use super::Factor;
use crate::body::Body;
use crate::pipeline::{RequestCtx, RequestHead, Response};

impl Factor {
    /// The `WWW-Authenticate` value of this scheme.
    fn www_authenticate(&self, stale: bool, bad_token: bool) -> Option<String> {
        let realm = quoted(&self.realm);
        Some(match self.scheme {
            Scheme::None | Scheme::OpenId => return None,
            Scheme::Basic => format!("Basic realm={realm}"),
            Scheme::Bearer if bad_token => {
                format!("Bearer realm={realm}, error=\"invalid_token\"")
            }
            Scheme::Bearer => format!("Bearer realm={realm}"),
            Scheme::WwwForm => format!("WWW-Form realm={realm}"),
            Scheme::Digest => {
                let nonce = self
                    .nonces
                    .as_ref()
                    .map(|n| n.issue(&self.realm))
                    .unwrap_or_default();
                let mut v = format!("Digest realm={realm},qop=\"auth\",nonce=\"{nonce}\"");
                if let Some(o) = &self.opaque {
                    v.push_str(&format!(",opaque={}", quoted(o)));
                }
                v.push_str(if stale { ",stale=true" } else { ",stale=false" });
                if self.algorithm != Algorithm::parse("MD5").unwrap_or(self.algorithm) {
                    v.push_str(&format!(",algorithm={}", self.algorithm.name()));
                }
                v
            }
        })
    }

    /// The answer to a request that needs credentials (§6.6.5).
    pub fn challenge(
        &self,
        head: &RequestHead,
        ctx: &RequestCtx,
        stale: bool,
        bad_token: bool,
    ) -> Response {
        let mut resp = Response::new(Body::empty());
        if let Some(v) = self
            .www_authenticate(stale, bad_token)
            .and_then(|v| HeaderValue::from_str(&v).ok())
        {
            resp.headers_mut().insert(WWW_AUTHENTICATE, v);
        }
        let xhr = head
            .headers
            .get("x-requested-with")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("XMLHttpRequest"));
        // A TOTP factor's `token_ep` shows its key: no place to send a
        // challenge to (a Basic one asks for `user:code` in place).
        let totp = matches!(*self.storage, Storage::Totp(_));
        let target = self
            .signin
            .as_ref()
            .or(self.token_ep.as_ref().filter(|_| !totp));
        *resp.status_mut() = match target {
            _ if xhr => StatusCode::FORBIDDEN,
            Some(page) => {
                let query = head.uri.query().unwrap_or("");
                if !query.contains("noredirect") {
                    let loc = self.signin_location(page, head, ctx);
                    if let Ok(v) = HeaderValue::from_str(&loc) {
                        resp.headers_mut().insert(LOCATION, v);
                    }
                }
                StatusCode::FOUND
            }
            None => StatusCode::UNAUTHORIZED,
        };
        resp
    }

    /// `Location` of a sign-in redirect: the page, plus `redirect_uri` (the
    /// request's absolute URL, percent-encoded) with option `redirect` or
    /// type Bearer.
    fn signin_location(&self, page: &str, head: &RequestHead, ctx: &RequestCtx) -> String {
        let query = head.uri.query().unwrap_or("");
        if !(self.options.redirect || self.scheme == Scheme::Bearer)
            || query.contains("redirect_uri")
        {
            return page.to_string();
        }
        let scheme = if ctx.server.tls { "https" } else { "http" };
        let host = head
            .headers
            .get(HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_string)
            .unwrap_or_else(|| format!("{}:{}", ctx.server.hostname, ctx.server.port));
        let target = head.uri.path_and_query().map_or("/", |pq| pq.as_str());
        let url = format!("{scheme}://{host}{target}");
        let sep = if page.contains('?') { '&' } else { '?' };
        format!(
            "{page}{sep}redirect_uri={}",
            utf8_percent_encode(&url, NON_ALPHANUMERIC)
        )
    }
}

/// A 429 for an address locked out for `left`.
pub fn locked(left: Duration) -> Response {
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    resp.headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(left.as_secs().max(1)));
    resp
}

/// The path of a page setting (`/signin.html?step=2` → `/signin.html`).
pub fn page_path(page: &str) -> &str {
    page.split('?').next().unwrap_or(page)
}

fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}
