//! `cors`: cross-origin requests (phase `preflight`, headers added in
//! `rewrite`).
//!
//! | key | meaning |
//! |-----|---------|
//! | `origin` | allowed origin host names, comma separated, compared case-insensitively with the host of the `Origin` header (no scheme, no port); `*` allows any origin. Default: the server's `hostname`. |
//!
//! - Allowed origin: `Access-Control-Allow-Origin: <Origin>`,
//!   `Access-Control-Allow-Credentials: true` and `Vary: Origin` on the
//!   response. A preflight (`OPTIONS` with `Access-Control-Request-Method`)
//!   is answered here: `200`, `Access-Control-Allow-Methods`, the requested
//!   headers in `Access-Control-Allow-Headers`, `Access-Control-Max-Age`.
//! - `origin = "*"`: any origin is allowed but without credentials
//!   (`Access-Control-Allow-Origin: *`): reflecting every origin with
//!   credentials, as the original does, lets any site read authenticated
//!   pages.
//! - Refused origin: a state-changing method (`PUT`, `DELETE`, `POST`) from
//!   an origin that is not the server's domain or a subdomain of it gets
//!   `405`; other requests continue with `Vary: Origin` and no CORS headers
//!   (so the browser blocks the read).

use http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_HEADERS,
    ACCESS_CONTROL_REQUEST_METHOD, HeaderValue, ORIGIN, VARY,
};
use http::{Method, StatusCode};

use crate::body::Body;
use crate::config::Section;
use crate::error::HttpError;
use crate::pipeline::{Flow, Module, Phases, RequestCtx, RequestHead, Response};

/// Methods announced in preflight answers.
const METHODS: &str = "GET,POST,HEAD,PUT,DELETE,OPTIONS";

/// Parsed `cors = { … }`.
#[derive(Debug, Clone)]
pub struct CorsConfig {
    /// `origin`, split; `None`: the server's host name.
    pub origin: Option<Vec<String>>,
}

impl CorsConfig {
    /// Read the section.
    pub fn from_section(s: &Section<'_>) -> Option<CorsConfig> {
        let origin = s.str("origin").map(|o| {
            o.split(',')
                .map(|x| x.trim().to_ascii_lowercase())
                .filter(|x| !x.is_empty())
                .collect()
        });
        Some(CorsConfig { origin })
    }

    /// The section as libconfig text, for `-C`.
    pub fn print(&self) -> String {
        match &self.origin {
            Some(o) => format!(
                "{{ origin = {}; }}",
                crate::config::print::quote(&o.join(","))
            ),
            None => "{ }".into(),
        }
    }
}

/// The decision taken in `preflight`, applied in `rewrite`.
#[derive(Clone)]
enum Decision {
    Allowed(HeaderValue),
    AnyOrigin,
    NotCors,
}

/// The running module.
pub struct Cors {
    origins: Vec<String>,
    any: bool,
    server_host: String,
}

impl Cors {
    /// Build for a server named `hostname`.
    pub fn new(cfg: &CorsConfig, hostname: &str) -> Cors {
        let origins = cfg
            .origin
            .clone()
            .unwrap_or_else(|| vec![hostname.to_ascii_lowercase()]);
        Cors {
            any: origins.iter().any(|o| o.contains('*')),
            origins,
            server_host: hostname.to_ascii_lowercase(),
        }
    }

    fn is_allowed(&self, host: &str) -> bool {
        self.origins.iter().any(|o| o.eq_ignore_ascii_case(host))
    }

    /// Whether `host` is the server's domain or below it (not another site).
    fn is_same_site(&self, host: &str) -> bool {
        let domain = self
            .server_host
            .split_once('.')
            .map_or(self.server_host.as_str(), |(_, d)| d);
        let host = host.to_ascii_lowercase();
        host == self.server_host || host == domain || host.ends_with(&format!(".{domain}"))
    }
}

/// The host of an `Origin` value, which is exactly `scheme://host[:port]`
/// (RFC 6454 §6.2). Anything else — a path, a query, userinfo — is no
/// origin: `http://evil.org/.example.org` must not pass for a host under
/// `example.org`.
pub fn origin_host(origin: &str) -> Option<&str> {
    let rest = origin.split_once("://")?.1;
    if rest.contains(['/', '?', '#', '@', '\\']) {
        return None;
    }
    let (host, after) = match rest.strip_prefix('[') {
        Some(v6) => v6.split_once(']')?,
        None => rest.find(':').map_or((rest, ""), |i| rest.split_at(i)),
    };
    let port_ok = after.is_empty()
        || after
            .strip_prefix(':')
            .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    (!host.is_empty() && port_ok).then_some(host)
}

fn preflight_response(req: &RequestHead, origin: HeaderValue, credentials: bool) -> Response {
    let mut resp = Response::new(Body::empty());
    let h = resp.headers_mut();
    h.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    if credentials {
        h.insert(
            ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
    }
    h.insert(
        ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static(METHODS),
    );
    if let Some(asked) = req.headers.get(ACCESS_CONTROL_REQUEST_HEADERS) {
        h.insert(ACCESS_CONTROL_ALLOW_HEADERS, asked.clone());
    }
    h.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
    h.insert(VARY, HeaderValue::from_static("Origin"));
    h.insert(http::header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    resp
}

impl Module for Cors {
    fn name(&self) -> &'static str {
        "cors"
    }

    fn phases(&self) -> Phases {
        Phases::PREFLIGHT | Phases::REWRITE
    }

    fn preflight(&self, req: &RequestHead, ctx: &mut RequestCtx) -> Result<Flow, HttpError> {
        let Some(origin) = req.headers.get(ORIGIN) else {
            ctx.extensions.insert(Decision::NotCors);
            return Ok(Flow::Continue);
        };
        let host = origin.to_str().ok().and_then(origin_host).unwrap_or("");
        let is_preflight = req.method == Method::OPTIONS
            && req.headers.contains_key(ACCESS_CONTROL_REQUEST_METHOD);
        if self.is_allowed(host) {
            if is_preflight {
                return Ok(Flow::Respond(preflight_response(req, origin.clone(), true)));
            }
            ctx.extensions.insert(Decision::Allowed(origin.clone()));
        } else if self.any {
            if is_preflight {
                let any = HeaderValue::from_static("*");
                return Ok(Flow::Respond(preflight_response(req, any, false)));
            }
            ctx.extensions.insert(Decision::AnyOrigin);
        } else {
            let unsafe_method = matches!(req.method, Method::PUT | Method::DELETE | Method::POST);
            if unsafe_method && !self.is_same_site(host) {
                log::info!("cors: {} from origin {host} refused", req.method);
                return Err(HttpError::new(StatusCode::METHOD_NOT_ALLOWED));
            }
            ctx.extensions.insert(Decision::NotCors);
        }
        Ok(Flow::Continue)
    }

    fn rewrite(&self, mut resp: Response, ctx: &RequestCtx) -> Response {
        let h = resp.headers_mut();
        match ctx.extensions.get::<Decision>() {
            Some(Decision::Allowed(origin)) => {
                h.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
                h.insert(
                    ACCESS_CONTROL_ALLOW_CREDENTIALS,
                    HeaderValue::from_static("true"),
                );
            }
            Some(Decision::AnyOrigin) => {
                h.insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
            }
            Some(Decision::NotCors) | None => {}
        }
        if !h.contains_key(VARY) {
            h.insert(VARY, HeaderValue::from_static("Origin"));
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_hosts() {
        assert_eq!(origin_host("http://localhost:8080"), Some("localhost"));
        assert_eq!(
            origin_host("https://app.example.org"),
            Some("app.example.org")
        );
        assert_eq!(origin_host("http://[::1]:80"), Some("::1"));
        assert_eq!(origin_host("null"), None);
        assert_eq!(origin_host("http://evil.org/.example.org"), None);
        assert_eq!(origin_host("http://example.org@evil.org"), None);
        assert_eq!(origin_host("http://example.org:80x"), None);
        assert_eq!(origin_host("http://[::1]x"), None);
    }

    #[test]
    fn same_site_is_the_domain_and_below() {
        let c = Cors::new(&CorsConfig { origin: None }, "www.example.org");
        assert!(c.is_same_site("www.example.org"));
        assert!(c.is_same_site("app.example.org"));
        assert!(c.is_same_site("EXAMPLE.org"));
        assert!(!c.is_same_site("evil.org"));
        assert!(!c.is_same_site("example.org.evil.org"));
        assert!(c.is_allowed("www.example.org"));
        assert!(!c.is_allowed("app.example.org"));
    }
}
