//! `redirect`: links from one URI to another, the captive-portal
//! `generate_204`, HTTPS redirection with HSTS, and error rewriting.
//!
//! Phases: `preflight` (HSTS: plain HTTP is sent to HTTPS before any
//! credential is asked for), `route` (generate_204 and path links),
//! `rewrite` (status links: error → redirect or error page; the
//! `Strict-Transport-Security` header on HTTPS responses).
//!
//! See `docs/redirect.md` for the keys. Differences from Ouistiti, on
//! purpose: `query` links send clients only to this site unless the link
//! lists the allowed targets in `allow` (no open redirect); HSTS redirects
//! every plain request (not only those with `Upgrade-Insecure-Requests`), to
//! `tls_port`, and the HSTS header is sent on HTTPS responses only.

pub mod config;

use http::header::{CONTENT_TYPE, HOST, HeaderValue, LOCATION, STRICT_TRANSPORT_SECURITY};
use http::{Method, StatusCode};
use http_body::Body as _;

pub use config::{LinkConfig, Origin, RedirectConfig};

use crate::body::Body;
use crate::config::{Diagnostic, Problem, Severity};
use crate::error::HttpError;
use crate::pattern::PatternList;
use crate::pipeline::{Flow, Module, Phases, RequestCtx, RequestHead, Response};

/// An error page kept in memory (error pages are small; read at start-up).
struct Page {
    status: StatusCode,
    body: bytes::Bytes,
    content_type: HeaderValue,
}

/// The running module.
pub struct Redirect {
    cfg: RedirectConfig,
    pages: Vec<Page>,
    hostname: String,
    generate_204: PatternList,
}

impl Redirect {
    /// Build: read the error pages.
    pub fn build(
        cfg: &RedirectConfig,
        env: &crate::modules::BuildEnv,
    ) -> Result<Redirect, Diagnostic> {
        let mut pages = Vec::new();
        for l in &cfg.links {
            if let (Origin::Status(status), Some(path)) = (&l.origin, &l.page) {
                let body = std::fs::read(path).map_err(|e| Diagnostic {
                    severity: Severity::Error,
                    span: cfg.span.clone(),
                    path: format!("{}.links", cfg.path),
                    problem: Problem::Io(format!("page {}: {e}", path.display())),
                })?;
                let name = path.to_string_lossy();
                pages.push(Page {
                    status: *status,
                    body: body.into(),
                    content_type: env.mime.lookup(&name),
                });
            }
        }
        Ok(Redirect {
            cfg: cfg.clone(),
            pages,
            hostname: env.server.hostname.to_ascii_lowercase(),
            generate_204: PatternList::new("generate_204,^/true"),
        })
    }

    fn hsts_redirect(&self, req: &RequestHead) -> Response {
        let host = req
            .headers
            .get(HOST)
            .and_then(|h| h.to_str().ok())
            .or(req.uri.host())
            .unwrap_or(&self.hostname);
        let host = strip_port(host);
        let port = if self.cfg.tls_port == 443 {
            String::new()
        } else {
            format!(":{}", self.cfg.tls_port)
        };
        let target = req.uri.path_and_query().map_or("/", |p| p.as_str());
        let status = if matches!(req.method, Method::GET | Method::HEAD) {
            StatusCode::MOVED_PERMANENTLY
        } else {
            StatusCode::PERMANENT_REDIRECT
        };
        redirect(status, &format!("https://{host}{port}{target}"))
    }

    /// Whether `target` (a `redirect_uri`) may be redirected to.
    fn is_allowed_target(&self, link: &LinkConfig, target: &str) -> bool {
        // Browsers drop tabs and newlines from URLs: "/\t/evil" is "//evil".
        if target.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return false;
        }
        if let Some(allow) = &link.allow {
            return allow.is_match(target);
        }
        if target.starts_with('/') && !target.starts_with("//") && !target.starts_with("/\\") {
            return true;
        }
        // Browsers read `\` as `/`, and an `@` makes what precedes it
        // userinfo: refuse both rather than guess which host a browser sees.
        let Some((_, rest)) = target.split_once("://") else {
            return false;
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        if target.contains('\\') || authority.contains('@') {
            return false;
        }
        strip_port(authority).eq_ignore_ascii_case(&self.hostname)
    }

    /// The path links, last first.
    fn links(&self, req: &RequestHead, ctx: &RequestCtx) -> Result<Flow, HttpError> {
        let query = req.uri.query().unwrap_or("");
        for link in self.cfg.links.iter().rev() {
            let Origin::Path(pattern, _) = &link.origin else {
                continue;
            };
            let Some(rest) = pattern.matches(&ctx.path) else {
                continue;
            };
            if link.generate_204 || query.contains("noredirect") {
                return Ok(Flow::Respond(status_only(StatusCode::NO_CONTENT)));
            }
            let status = link.status.unwrap_or(self.cfg.status);
            if let Some(dest) = &link.destination {
                if link
                    .loop_guard
                    .as_ref()
                    .is_some_and(|g| g.is_match(&ctx.path))
                {
                    continue;
                }
                let mut location = format!("{dest}{rest}");
                if link.query && !query.is_empty() {
                    location.push(if location.contains('?') { '&' } else { '?' });
                    location.push_str(query);
                }
                return Ok(Flow::Respond(redirect(status, &location)));
            }
            if link.query {
                let Some(target) = redirect_uri(query) else {
                    return Ok(Flow::Respond(status_only(StatusCode::NO_CONTENT)));
                };
                if !self.is_allowed_target(link, &target) {
                    log::warn!("redirect: redirect_uri {target:?} refused (not an allowed target)");
                    return Err(HttpError::bad_request("redirect_uri not allowed"));
                }
                return Ok(Flow::Respond(redirect(status, &target)));
            }
        }
        Ok(Flow::Continue)
    }

    /// Rewrite a bodiless error response by the status links.
    fn error_links(&self, resp: Response, ctx: &RequestCtx) -> Response {
        let status = resp.status();
        let generated = !resp.headers().contains_key(CONTENT_TYPE)
            && resp.body().size_hint().exact() == Some(0);
        if !generated || status.as_u16() < 400 {
            return resp;
        }
        for link in self.cfg.links.iter().rev() {
            if !matches!(link.origin, Origin::Status(s) if s == status) {
                continue;
            }
            if let Some(page) = self.pages.iter().find(|p| p.status == status) {
                let mut r = Response::new(Body::full(page.body.clone()));
                *r.status_mut() = status;
                r.headers_mut()
                    .insert(CONTENT_TYPE, page.content_type.clone());
                return r;
            }
            if status == StatusCode::NOT_FOUND {
                if let Some(page) = &link.defaultpage
                    && ctx.path.ends_with('/')
                {
                    return redirect(
                        StatusCode::MOVED_PERMANENTLY,
                        &format!("{}{page}", ctx.path),
                    );
                }
                if let Some(dest) = &link.destination
                    && !link
                        .loop_guard
                        .as_ref()
                        .is_some_and(|g| g.is_match(&ctx.path))
                {
                    return redirect(StatusCode::MOVED_PERMANENTLY, dest);
                }
            } else if let Some(dest) = &link.destination {
                return redirect(link.status.unwrap_or(StatusCode::FOUND), dest);
            }
        }
        resp
    }
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.split_inclusive(']').next().unwrap_or(host);
    }
    host.rsplit_once(':').map_or(host, |(h, _)| h)
}

/// The URL-decoded `redirect_uri` parameter of a query.
pub fn redirect_uri(query: &str) -> Option<String> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == "redirect_uri")
        .map(|(_, v)| {
            let v = v.replace('+', " ");
            percent_encoding::percent_decode_str(&v)
                .decode_utf8_lossy()
                .into_owned()
        })
        .filter(|v| !v.is_empty())
}

fn status_only(status: StatusCode) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = status;
    r
}

fn redirect(status: StatusCode, location: &str) -> Response {
    let mut r = status_only(status);
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(LOCATION, v);
    }
    r
}

impl Module for Redirect {
    fn name(&self) -> &'static str {
        "redirect"
    }

    fn phases(&self) -> Phases {
        Phases::PREFLIGHT | Phases::ROUTE | Phases::REWRITE
    }

    fn preflight(&self, req: &RequestHead, ctx: &mut RequestCtx) -> Result<Flow, HttpError> {
        if self.cfg.hsts && ctx.tls.is_none() && !ctx.server.tls {
            return Ok(Flow::Respond(self.hsts_redirect(req)));
        }
        Ok(Flow::Continue)
    }

    fn route(&self, req: &RequestHead, ctx: &mut RequestCtx) -> Result<Flow, HttpError> {
        if self.cfg.generate_204 && self.generate_204.is_match(&ctx.path) {
            return Ok(Flow::Respond(status_only(StatusCode::NO_CONTENT)));
        }
        self.links(req, ctx)
    }

    fn rewrite(&self, resp: Response, ctx: &RequestCtx) -> Response {
        let mut resp = self.error_links(resp, ctx);
        if self.cfg.hsts && (ctx.tls.is_some() || ctx.server.tls) {
            resp.headers_mut().insert(
                STRICT_TRANSPORT_SECURITY,
                HeaderValue::from_static("max-age=31536000; includeSubDomains"),
            );
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uri_is_decoded() {
        assert_eq!(
            redirect_uri("a=1&redirect_uri=https%3A%2F%2Fapp.example.org%2F").as_deref(),
            Some("https://app.example.org/")
        );
        assert_eq!(redirect_uri("redirect_uri="), None);
        assert_eq!(redirect_uri("x=1"), None);
    }

    #[test]
    fn ports_stripped() {
        assert_eq!(strip_port("a.example.org:8080"), "a.example.org");
        assert_eq!(strip_port("a.example.org"), "a.example.org");
        assert_eq!(strip_port("[::1]:80"), "[::1]");
    }
}
