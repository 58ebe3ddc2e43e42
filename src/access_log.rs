//! One access line per request, in the combined log format:
//! `peer - user [date] "METHOD target VERSION" status bytes "referer" "agent"`.
//! Lines go through the `log` facade (target `access`), so embedders can
//! route them; the binary's logger writes them to `log-file` or stderr.

use http::header::{CONTENT_LENGTH, REFERER, USER_AGENT};
use http::{HeaderValue, Method, Uri, Version};
use http_body::Body as _;

use crate::pipeline::{Request, RequestCtx, Response};

/// Whether access lines are wanted (checked before collecting them).
pub fn enabled() -> bool {
    log::log_enabled!(target: "access", log::Level::Info)
}

/// What the access line needs from the request, taken before the request is
/// consumed.
pub struct RequestLine {
    method: Method,
    uri: Uri,
    version: Version,
    referer: Option<HeaderValue>,
    agent: Option<HeaderValue>,
}

impl RequestLine {
    /// Capture the request line of `req`.
    pub fn of(req: &Request) -> Self {
        RequestLine {
            method: req.method().clone(),
            uri: req.uri().clone(),
            version: req.version(),
            referer: req.headers().get(REFERER).cloned(),
            agent: req.headers().get(USER_AGENT).cloned(),
        }
    }
}

fn text(v: &Option<HeaderValue>) -> &str {
    v.as_ref().and_then(|v| v.to_str().ok()).unwrap_or("-")
}

/// Write the access line of a finished request.
pub fn write(line: &RequestLine, ctx: &RequestCtx, resp: &Response) {
    let user = ctx.user.as_ref().map_or("-", |u| u.name.as_str());
    let bytes = resp
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .or_else(|| resp.body().size_hint().exact());
    let bytes = bytes.map_or_else(|| "-".to_string(), |n| n.to_string());
    let now = crate::http_date::clf_now();
    log::info!(
        target: "access",
        "{} - {} [{}] \"{} {} {:?}\" {} {} \"{}\" \"{}\"",
        ctx.peer.ip(),
        user,
        now,
        line.method,
        line.uri.path_and_query().map_or("/", |p| p.as_str()),
        line.version,
        resp.status().as_u16(),
        bytes,
        text(&line.referer),
        text(&line.agent),
    );
}
