//! Request heads in (httparse, no copy of header values: they point into
//! the connection's read buffer); response heads go out through
//! [`super::response_head`].

use std::mem::MaybeUninit;

use bytes::BytesMut;
use http::header::{CONNECTION, CONTENT_LENGTH, EXPECT, TRANSFER_ENCODING, UPGRADE};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, Version};

use super::body::Framing;

/// Most header fields accepted in one request (hyper's default too).
const MAX_HEADERS: usize = 100;
/// Header fields located without a heap allocation.
const INLINE_SPANS: usize = 32;

/// Offset and length of a piece of the head: `u32`, so that the inline
/// table is half the size (it is zeroed for every request).
#[derive(Clone, Copy)]
struct Span(u32, u32);

/// A parsed request head.
pub(super) struct Head {
    pub parts: http::request::Parts,
    /// How its body is delimited (`None`: no body).
    pub framing: Option<Framing>,
    /// `Expect: 100-continue` from an HTTP/1.1 client.
    pub expect_continue: bool,
    /// The client asked to close after this request (or, in HTTP/1.0, did
    /// not ask to keep the connection).
    pub close: bool,
    /// An `Upgrade` or `CONNECT`: the connection may be handed over.
    pub upgrade: bool,
}

/// Take a complete head from the front of `rbuf`. `Ok(None)`: incomplete,
/// read more. `Err`: the status to answer before closing.
pub(super) fn parse(rbuf: &mut BytesMut, max_head: usize) -> Result<Option<Head>, StatusCode> {
    let mut fields = [const { MaybeUninit::<httparse::Header>::uninit() }; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    let len = match req.parse_with_uninit_headers(rbuf, &mut fields) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if rbuf.len() >= max_head => {
            return Err(too_large(rbuf, max_head));
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
        }
        // Including an unknown version: `GET /a b HTTP/1.1` fails there too.
        Err(_) => return Err(StatusCode::BAD_REQUEST),
    };
    if len > max_head || u32::try_from(len).is_err() {
        return Err(too_large(rbuf, max_head));
    }
    // Where everything lies in the head, so that the head can be frozen
    // and each value shared from it. Usual heads fit the inline spans.
    let base = rbuf.as_ptr() as usize;
    // Within the head, whose length fits in `u32` (checked above).
    let at = |s: &[u8]| Span((s.as_ptr() as usize - base) as u32, s.len() as u32);
    let method = method_of(req.method.unwrap_or(""))?;
    let target = at(req.path.unwrap_or("").as_bytes());
    let version = if req.version == Some(0) {
        Version::HTTP_10
    } else {
        Version::HTTP_11
    };
    let count = req.headers.len();
    let mut inline = [(Span(0, 0), Span(0, 0)); INLINE_SPANS];
    let mut spilled = Vec::new();
    let spans = if count <= INLINE_SPANS {
        &mut inline[..count]
    } else {
        spilled.resize(count, (Span(0, 0), Span(0, 0)));
        &mut spilled[..]
    };
    for (span, h) in spans.iter_mut().zip(req.headers.iter()) {
        *span = (at(h.name.as_bytes()), at(h.value));
    }
    let head = rbuf.split_to(len).freeze();
    let slice = |Span(start, n): Span| head.slice(start as usize..(start + n) as usize);

    // The fields the engine itself reads are noticed here, while the map
    // is built, rather than looked up in it afterwards.
    let mut seen = Seen::default();
    let mut headers = crate::spare_map::take(count);
    for &(name, value) in spans.iter() {
        let name = header_name(&head[name.0 as usize..(name.0 + name.1) as usize])?;
        seen.note(&name);
        let value =
            HeaderValue::from_maybe_shared(slice(value)).map_err(|_| StatusCode::BAD_REQUEST)?;
        headers.append(name, value);
    }
    if !target_form(
        &method,
        &head[target.0 as usize..(target.0 + target.1) as usize],
    ) {
        return Err(StatusCode::BAD_REQUEST);
    }
    let uri = Uri::from_maybe_shared(slice(target)).map_err(|_| StatusCode::BAD_REQUEST)?;
    let framing = if seen.body {
        framing(&headers, version)?
    } else {
        None
    };
    let connection = |token: &str| seen.connection && has_token(&headers, CONNECTION, token);
    let close = if version == Version::HTTP_10 {
        !connection("keep-alive")
    } else {
        connection("close")
    };
    let expect_continue = seen.expect
        && version == Version::HTTP_11
        && headers
            .get(EXPECT)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    let upgrade = method == Method::CONNECT || seen.upgrade;

    let mut r = http::Request::new(());
    *r.method_mut() = method;
    *r.version_mut() = version;
    // The defaults replaced here (an empty map, the URI `/`) own no
    // memory: forgetting them skips their drop code.
    std::mem::forget(std::mem::replace(r.uri_mut(), uri));
    std::mem::forget(std::mem::replace(r.headers_mut(), headers));
    let (parts, ()) = r.into_parts();
    Ok(Some(Head {
        parts,
        framing,
        expect_continue,
        close,
        upgrade,
    }))
}

/// The status for a head over `max_head`: `414` when its request line
/// alone is that long (the head limit includes the URI's, so its target
/// is over `maxurisize` for sure), else `431`. A shorter target over
/// `maxurisize` gets its 414 from the pipeline.
fn too_large(buf: &[u8], max_head: usize) -> StatusCode {
    let line = buf.iter().position(|&b| b == b'\n').unwrap_or(buf.len());
    if line >= max_head {
        StatusCode::URI_TOO_LONG
    } else {
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    }
}

/// The request's method, upper-cased: Ouistiti compares methods
/// case-insensitively (`head` is `HEAD`), and the engine frames the
/// response by the method it records here.
fn method_of(m: &str) -> Result<Method, StatusCode> {
    let method = if m.bytes().any(|b| b.is_ascii_lowercase()) {
        Method::from_bytes(m.to_ascii_uppercase().as_bytes())
    } else {
        Method::from_bytes(m.as_bytes())
    };
    method.map_err(|_| StatusCode::BAD_REQUEST)
}

/// Whether a request target has a form its method allows (RFC 9112
/// §3.2): origin (`/path`) or absolute (`http://host/path`) for every
/// method, authority (`host:port`) for CONNECT, `*` for OPTIONS.
fn target_form(method: &Method, target: &[u8]) -> bool {
    let absolute = |scheme: &[u8]| {
        target.len() > scheme.len() && target[..scheme.len()].eq_ignore_ascii_case(scheme)
    };
    match target.first() {
        Some(b'/') => true,
        _ if method == Method::CONNECT => !target.is_empty(),
        _ if target == b"*" => method == Method::OPTIONS,
        _ => absolute(b"http://") || absolute(b"https://"),
    }
}

/// A request header's name. `Host`, in every HTTP/1.1 request and often
/// alone (tools, probes), is recognised by one comparison; the general
/// parse lowers and matches every byte.
fn header_name(name: &[u8]) -> Result<HeaderName, StatusCode> {
    if name.len() == 4 && name.eq_ignore_ascii_case(b"host") {
        return Ok(http::header::HOST);
    }
    HeaderName::from_bytes(name).map_err(|_| StatusCode::BAD_REQUEST)
}

/// Which of the fields the engine reads a head has.
#[derive(Default)]
struct Seen {
    /// `Transfer-Encoding` or `Content-Length`.
    body: bool,
    connection: bool,
    expect: bool,
    upgrade: bool,
}

impl Seen {
    fn note(&mut self, name: &HeaderName) {
        if name == TRANSFER_ENCODING || name == CONTENT_LENGTH {
            self.body = true;
        } else if name == CONNECTION {
            self.connection = true;
        } else if name == EXPECT {
            self.expect = true;
        } else if name == UPGRADE {
            self.upgrade = true;
        }
    }
}

/// The body framing of a request (RFC 9112 §6.3): chunked when
/// `Transfer-Encoding` is `chunked` alone, else `Content-Length`; both,
/// several different lengths, or a repeated `chunked` are refused (request
/// smuggling), and another transfer coding is not implemented (§6.1).
fn framing(headers: &HeaderMap, version: Version) -> Result<Option<Framing>, StatusCode> {
    if headers.contains_key(TRANSFER_ENCODING) {
        if headers.contains_key(CONTENT_LENGTH) || version == Version::HTTP_10 {
            return Err(StatusCode::BAD_REQUEST);
        }
        return transfer_codings(headers).map(Some);
    }
    let mut length = None;
    for v in headers.get_all(CONTENT_LENGTH) {
        for part in v.as_bytes().split(|&b| b == b',') {
            let part = part.trim_ascii();
            if part.is_empty() || part.len() > 19 || !part.iter().all(u8::is_ascii_digit) {
                return Err(StatusCode::BAD_REQUEST);
            }
            let n: u64 = std::str::from_utf8(part)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or(StatusCode::BAD_REQUEST)?;
            if length.is_some_and(|l| l != n) {
                return Err(StatusCode::BAD_REQUEST);
            }
            length = Some(n);
        }
    }
    Ok(length.filter(|&n| n > 0).map(Framing::Length))
}

/// The framing of a body with `Transfer-Encoding` (every line of it):
/// `chunked` alone. Without `chunked` last the body's end cannot be found
/// (`400`, RFC 9112 §6.3); another coding before it is not implemented
/// (`501`, §6.1). Either way the connection closes.
fn transfer_codings(headers: &HeaderMap) -> Result<Framing, StatusCode> {
    let mut codings = headers
        .get_all(TRANSFER_ENCODING)
        .iter()
        .flat_map(|v| v.as_bytes().split(|&b| b == b','))
        .map(<[u8]>::trim_ascii)
        .filter(|c| !c.is_empty());
    let chunked = |c: &[u8]| c.eq_ignore_ascii_case(b"chunked");
    if !codings.next_back().is_some_and(chunked) {
        return Err(StatusCode::BAD_REQUEST);
    }
    let mut other = false;
    for c in codings {
        if chunked(c) {
            return Err(StatusCode::BAD_REQUEST);
        }
        other = true;
    }
    if other {
        Err(StatusCode::NOT_IMPLEMENTED)
    } else {
        Ok(Framing::Chunked)
    }
}

/// Whether a response's own headers say `Connection: close`. A response
/// has a few headers: their names are compared before any lookup.
pub(super) fn asks_close(headers: &HeaderMap) -> bool {
    headers.keys().any(|k| k == CONNECTION) && has_token(headers, CONNECTION, "close")
}

/// Whether the comma-separated header `name` lists `token`.
pub(super) fn has_token(headers: &HeaderMap, name: HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|v| {
        v.as_bytes()
            .split(|&b| b == b',')
            .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
    })
}

/// A `Bytes` view of `s` for tests.
#[cfg(test)]
fn parse_str(s: &str) -> Result<Option<Head>, StatusCode> {
    let mut buf = BytesMut::from(s.as_bytes());
    parse(&mut buf, 8192)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_get_without_copying_values() {
        let mut buf =
            BytesMut::from(&b"GET /a?b=c HTTP/1.1\r\nHost: x\r\nX-Y: z\r\n\r\nGET /next"[..]);
        let head = parse(&mut buf, 8192).unwrap().unwrap();
        assert_eq!(head.parts.method, Method::GET);
        assert_eq!(head.parts.uri, "/a?b=c");
        let lower = parse_str("head / HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(lower.unwrap().unwrap().parts.method, Method::HEAD);
        assert_eq!(head.parts.version, Version::HTTP_11);
        assert_eq!(head.parts.headers["x-y"], "z");
        assert_eq!(head.framing, None);
        assert!(!head.close);
        assert_eq!(&buf[..], b"GET /next");
    }

    #[test]
    fn host_in_any_case_is_the_host_header() {
        for line in ["Host: a", "HOST: a", "hoSt: a"] {
            let head = parse_str(&format!("GET / HTTP/1.1\r\n{line}\r\nHosts: b\r\n\r\n"))
                .unwrap()
                .unwrap();
            let h = &head.parts.headers;
            assert_eq!(h.get_all(http::header::HOST).iter().count(), 1, "{line}");
            assert_eq!(h[http::header::HOST], "a", "{line}");
            assert_eq!(h["hosts"], "b", "{line}");
        }
        assert_eq!(
            parse_str("GET / HTTP/1.1\r\nHo st: a\r\n\r\n").err(),
            Some(StatusCode::BAD_REQUEST)
        );
    }

    #[test]
    fn incomplete_heads_wait_and_oversized_ones_are_431() {
        assert!(
            parse_str("GET / HTTP/1.1\r\nHost: x\r\n")
                .unwrap()
                .is_none()
        );
        let mut big =
            BytesMut::from(format!("GET / HTTP/1.1\r\nX: {}", "a".repeat(300)).as_bytes());
        assert_eq!(
            parse(&mut big, 100).err(),
            Some(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)
        );
        for long_line in [
            format!("GET /{}", "a".repeat(300)),
            format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(300)),
        ] {
            let mut buf = BytesMut::from(long_line.as_bytes());
            assert_eq!(parse(&mut buf, 100).err(), Some(StatusCode::URI_TOO_LONG));
        }
    }

    #[test]
    fn framing_rules() {
        let body = |extra: &str| {
            parse_str(&format!("POST / HTTP/1.1\r\nHost: x\r\n{extra}\r\n"))
                .map(|h| h.unwrap().framing)
        };
        assert_eq!(body("Content-Length: 5\r\n"), Ok(Some(Framing::Length(5))));
        assert_eq!(body("Content-Length: 0\r\n"), Ok(None));
        assert_eq!(
            body("Content-Length: 5\r\nContent-Length: 5\r\n"),
            Ok(Some(Framing::Length(5)))
        );
        assert_eq!(
            body("Transfer-Encoding: chunked\r\n"),
            Ok(Some(Framing::Chunked))
        );
        for bad in [
            "Content-Length: 5\r\nContent-Length: 6\r\n",
            "Content-Length: -1\r\n",
            "Content-Length: 5x\r\n",
            "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
            "Transfer-Encoding: chunked, chunked\r\n",
            "Transfer-Encoding: gzip\r\n",
            "Transfer-Encoding: chunked, gzip\r\n",
            "Transfer-Encoding: gzip, chunked, chunked\r\n",
        ] {
            assert_eq!(body(bad), Err(StatusCode::BAD_REQUEST), "{bad:?}");
        }
        for other in [
            "Transfer-Encoding: gzip, chunked\r\n",
            "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n",
        ] {
            assert_eq!(body(other), Err(StatusCode::NOT_IMPLEMENTED), "{other:?}");
        }
    }

    #[test]
    fn connection_wishes() {
        let close = |s: &str| parse_str(s).unwrap().unwrap().close;
        assert!(close("GET / HTTP/1.0\r\n\r\n"));
        assert!(!close("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"));
        assert!(!close("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
        assert!(close(
            "GET / HTTP/1.1\r\nHost: x\r\nConnection: foo, close\r\n\r\n"
        ));
    }

    #[test]
    fn target_forms() {
        let status = |line: &str| parse_str(&format!("{line}\r\nHost: x\r\n\r\n")).err();
        for good in [
            "GET /a.txt HTTP/1.1",
            "GET http://x/a.txt HTTP/1.1",
            "GET HTTPS://x/ HTTP/1.1",
            "OPTIONS * HTTP/1.1",
            "CONNECT x:443 HTTP/1.1",
        ] {
            assert_eq!(status(good), None, "{good}");
        }
        for bad in [
            "GET a.txt HTTP/1.1",
            "GET x:443 HTTP/1.1",
            "GET * HTTP/1.1",
            "GET http:// HTTP/1.1",
            "GET ftp://x/a HTTP/1.1",
        ] {
            assert_eq!(status(bad), Some(StatusCode::BAD_REQUEST), "{bad}");
        }
    }

    #[test]
    fn bad_heads() {
        assert_eq!(
            parse_str("GARBAGE\r\n\r\n").err(),
            Some(StatusCode::BAD_REQUEST)
        );
        assert_eq!(
            parse_str("GET / HTTP/2.0\r\n\r\n").err(),
            Some(StatusCode::BAD_REQUEST)
        );
    }
}
