//! The response for a regular file: 304, 204, 200, 206 or 416.
//!
//! Order of decisions (RFC 9110 §13.2.2, then REFERENCE §6.11.1):
//! conditional headers (304) → empty file (204, no body, no type) →
//! `Range` (GET only, option `range`, subject to `If-Range`) → whole file.
//! `HEAD` gets the headers of the whole-file answer with an explicit
//! `Content-Length` and, as in the original, `Content-Location`.
//!
//! The body is never read here: [`Body::file`] streams the open file in
//! bounded chunks as the connection drains it.

use http::header::{
    ACCEPT_RANGES, CONTENT_LENGTH, CONTENT_LOCATION, CONTENT_RANGE, CONTENT_TYPE,
    IF_MODIFIED_SINCE, IF_NONE_MATCH, RANGE,
};
use http::{HeaderValue, Method, StatusCode};

use super::conditional::{Validators, not_modified, range_allowed};
use super::range::{self, ByteRange, RangeDecision};
use super::resolve::OpenFile;
use crate::body::{Body, Segment};
use crate::mime::MimeTable;
use crate::pipeline::{Request, Response};

/// Headers a file response usually ends with: validators, type, ranges
/// and `Date` (the HTTP/1 engine writes the length and the server's
/// default headers itself).
const RESPONSE_HEADERS: usize = 6;
/// The same over HTTP/2, where the server's default headers (seven unless
/// `security` drops some) go into the map too.
const RESPONSE_HEADERS_H2: usize = 16;

/// What the caller knows about the file being served.
pub struct Served<'a> {
    /// The request path of the file (the default page's path for a
    /// directory request).
    pub uri: &'a str,
    /// The open file.
    pub open: OpenFile,
    /// Whether option `range` is on.
    pub ranges: bool,
}

/// Answer `req` with the file.
pub fn respond(req: &Request, served: Served<'_>, mime: &MimeTable) -> Response {
    let Served { uri, open, ranges } = served;
    let size = open.meta.len();
    let validators = Validators::of(&open.meta);
    let mut resp = Response::new(Body::empty());
    // Room for all of them: one allocation, or none with a spare map.
    *resp.headers_mut() = crate::spare_map::take(if req.version() == http::Version::HTTP_2 {
        RESPONSE_HEADERS_H2
    } else {
        RESPONSE_HEADERS
    });
    // Every decision the validators take part in is made before they
    // move into the headers.
    let asks = Asks::of(req.headers());
    let unmodified = asks.conditional && not_modified(req.headers(), &validators);
    let range = if asks.range && ranges && !unmodified {
        req.headers()
            .get(RANGE)
            .filter(|_| range_allowed(req.headers(), &validators))
    } else {
        None
    };
    validators.put(resp.headers_mut());
    if unmodified {
        *resp.status_mut() = StatusCode::NOT_MODIFIED;
        return resp;
    }
    if size == 0 {
        *resp.status_mut() = StatusCode::NO_CONTENT;
        return resp;
    }
    let ctype = mime.lookup(uri);
    let accept = if ranges { "bytes" } else { "none" };
    let h = resp.headers_mut();
    h.insert(ACCEPT_RANGES, HeaderValue::from_static(accept));
    h.insert(CONTENT_TYPE, ctype.clone());
    if req.method() == Method::HEAD {
        h.insert(CONTENT_LENGTH, HeaderValue::from(size));
        if let Ok(loc) = HeaderValue::from_str(&super::encode_path(uri.trim_start_matches('/'))) {
            h.insert(CONTENT_LOCATION, loc);
        }
        return resp;
    }
    let decision = match range {
        Some(r) => range::parse(r.as_bytes(), size),
        None => RangeDecision::Full,
    };
    let content = match (&decision, open.content) {
        // Held whole in memory: those bytes are the body, no range to keep.
        (RangeDecision::Full, Some(whole)) if whole.len() as u64 == size => {
            *resp.body_mut() = Body::full(whole);
            return resp;
        }
        (_, content) => content,
    };
    let segments = match decision {
        RangeDecision::Full => vec![
            ByteRange {
                start: 0,
                end: size - 1,
            }
            .segment(),
        ],
        RangeDecision::Unsatisfiable => return unsatisfiable(resp, size),
        RangeDecision::Partial(parts) => partial(&mut resp, &parts, size, &ctype),
    };
    *resp.body_mut() = Body::cached_file(open.file, content, segments);
    resp
}

/// Which of the headers that change a file's answer the request carries.
///
/// One walk over the request's (usually few) header names: a lookup in the
/// map hashes the name and probes, ~110 instructions for each header that
/// is not there, and most requests carry none of these.
struct Asks {
    /// `If-None-Match` or `If-Modified-Since`.
    conditional: bool,
    /// `Range`.
    range: bool,
}

impl Asks {
    fn of(headers: &http::HeaderMap) -> Asks {
        let mut asks = Asks {
            conditional: false,
            range: false,
        };
        for name in headers.keys() {
            asks.conditional |= name == IF_NONE_MATCH || name == IF_MODIFIED_SINCE;
            asks.range |= name == RANGE;
        }
        asks
    }
}

/// 416: no body of ours (the pipeline adds its short one), no type.
fn unsatisfiable(mut resp: Response, size: u64) -> Response {
    *resp.status_mut() = StatusCode::RANGE_NOT_SATISFIABLE;
    let h = resp.headers_mut();
    h.remove(CONTENT_TYPE);
    h.insert(CONTENT_RANGE, range::unsatisfied_range(size));
    resp
}

/// 206: one range plainly, several as `multipart/byteranges`.
fn partial(
    resp: &mut Response,
    parts: &[ByteRange],
    size: u64,
    ctype: &HeaderValue,
) -> Vec<Segment> {
    *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
    let h = resp.headers_mut();
    if let [one] = parts {
        h.insert(CONTENT_RANGE, one.content_range(size));
        return vec![one.segment()];
    }
    let boundary = range::boundary();
    h.insert(CONTENT_TYPE, range::multipart_type(&boundary));
    range::multipart(parts, size, ctype, &boundary)
}
