//! Response heads out: the status line with Ouistiti's reason phrases,
//! the response's headers, the framing header the engine chose, `Date`,
//! then the server's default headers (written once, copied as one block).

use http::header::{CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, DATE, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Version};

use super::write::Framing as Out;

/// The server's default headers, with their HTTP/1 lines written once: a
/// response that sets none of them gets the lines copied as one block.
#[derive(Debug, Default)]
pub struct Defaults {
    map: HeaderMap,
    lines: Box<[u8]>,
    /// One bit per default name ([`name_bit`]): most response headers are
    /// known not to be defaults without comparing them with each.
    bits: u64,
}

impl Defaults {
    /// The headers of `map`, written after every response that lacks them.
    pub fn new(map: &HeaderMap) -> Defaults {
        let mut lines = Vec::new();
        let mut bits = 0;
        for (name, value) in map {
            push_line(&mut lines, name, value);
            bits |= name_bit(name);
        }
        Defaults {
            map: map.clone(),
            lines: lines.into(),
            bits,
        }
    }

    /// Whether `name` is one of them (a handful: compared, not hashed).
    fn has(&self, name: &HeaderName) -> bool {
        self.bits & name_bit(name) != 0 && self.map.keys().any(|d| d == name)
    }
}

/// A bit chosen by the name's length and its first and last letters: the
/// default names and the usual response headers fall on different bits.
fn name_bit(name: &HeaderName) -> u64 {
    let b = name.as_str().as_bytes();
    let (first, last) = (b.first().copied(), b.last().copied());
    let n = b.len() + usize::from(first.unwrap_or(0)) + usize::from(last.unwrap_or(0));
    1 << (n % 64)
}

/// Append a status line, `headers`, the framing header the engine chose
/// (in place of the response's own `Content-Length` / `Transfer-Encoding`),
/// `date` (in place of the response's own `Date`, as the pipeline did when
/// it set it), then those of `defaults` that `headers` does not have, to
/// `out`.
pub(super) fn encode(
    out: &mut Vec<u8>,
    version: Version,
    status: StatusCode,
    headers: &HeaderMap,
    defaults: &Defaults,
    framing: Out,
    date: Option<&HeaderValue>,
) {
    out.extend_from_slice(if version == Version::HTTP_10 {
        b"HTTP/1.0 "
    } else {
        b"HTTP/1.1 "
    });
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(crate::error::reason_phrase(status).as_bytes());
    out.extend_from_slice(b"\r\n");
    let framed = framing != Out::None;
    let mut clash = false;
    for (name, value) in headers {
        clash = clash || defaults.has(name);
        if framed && (name == CONTENT_LENGTH || name == TRANSFER_ENCODING)
            || date.is_some() && name == DATE
        {
            continue;
        }
        push_line(out, name, value);
    }
    if let Some(date) = date {
        push_line(out, &DATE, date);
    }
    match framing {
        Out::Length(n) => {
            out.extend_from_slice(b"content-length: ");
            push_decimal(out, n);
            out.extend_from_slice(b"\r\n");
        }
        Out::Chunked => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
        Out::None | Out::UntilClose => {}
    }
    if clash {
        for (name, value) in &defaults.map {
            if !headers.contains_key(name) {
                push_line(out, name, value);
            }
        }
    } else {
        out.extend_from_slice(&defaults.lines);
    }
    out.extend_from_slice(b"\r\n");
}

fn push_line(out: &mut Vec<u8>, name: &HeaderName, value: &HeaderValue) {
    let (name, value) = (name.as_str().as_bytes(), value.as_bytes());
    out.reserve(name.len() + value.len() + 4);
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

/// The whole answer the engine itself gives to a head it cannot serve
/// (400, 431): Ouistiti's short text body, and the connection closes.
pub(super) fn refusal(out: &mut Vec<u8>, status: StatusCode) {
    let body = crate::error::short_body(status);
    let mut headers = HeaderMap::with_capacity(3);
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    headers.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
    headers.insert(CONNECTION, HeaderValue::from_static("close"));
    encode(
        out,
        Version::HTTP_11,
        status,
        &headers,
        &Defaults::default(),
        Out::None,
        Some(&crate::http_date::now()),
    );
    out.extend_from_slice(&body);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_heads_with_ouistiti_reasons() {
        let mut out = Vec::new();
        let mut h = HeaderMap::new();
        h.insert(CONTENT_LENGTH, HeaderValue::from_static("3"));
        let mut defaults = HeaderMap::new();
        defaults.insert(CONTENT_LENGTH, HeaderValue::from_static("999"));
        defaults.insert("x-frame-options", HeaderValue::from_static("DENY"));
        let defaults = Defaults::new(&defaults);
        encode(
            &mut out,
            Version::HTTP_11,
            StatusCode::NOT_FOUND,
            &h,
            &defaults,
            Out::None,
            None,
        );
        assert_eq!(
            out,
            b"HTTP/1.1 404 File Not Found\r\ncontent-length: 3\r\nx-frame-options: DENY\r\n\r\n"
        );
        // The engine's framing replaces the response's own; defaults the
        // response lacks come as one block.
        out.clear();
        h.insert(TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
        h.insert("x-frame-options", HeaderValue::from_static("SAMEORIGIN"));
        let mut only = HeaderMap::new();
        only.insert("x-frame-options", HeaderValue::from_static("DENY"));
        only.insert("server", HeaderValue::from_static("m"));
        for (framing, length, server) in [
            (
                Out::Length(1234567),
                "content-length: 1234567\r\n",
                "server: m\r\n",
            ),
            (
                Out::Chunked,
                "transfer-encoding: chunked\r\n",
                "server: m\r\n",
            ),
        ] {
            out.clear();
            encode(
                &mut out,
                Version::HTTP_11,
                StatusCode::OK,
                &h,
                &Defaults::new(&only),
                framing,
                None,
            );
            assert_eq!(
                String::from_utf8_lossy(&out),
                format!("HTTP/1.1 200 OK\r\nx-frame-options: SAMEORIGIN\r\n{length}{server}\r\n")
            );
        }
        out.clear();
        encode(
            &mut out,
            Version::HTTP_10,
            StatusCode::OK,
            &HeaderMap::new(),
            &Defaults::new(&only),
            Out::Length(0),
            None,
        );
        assert_eq!(
            String::from_utf8_lossy(&out),
            "HTTP/1.0 200 OK\r\ncontent-length: 0\r\nx-frame-options: DENY\r\nserver: m\r\n\r\n"
        );
        // The engine's `Date` replaces one the response carries.
        out.clear();
        let mut dated = HeaderMap::new();
        dated.insert(DATE, HeaderValue::from_static("then"));
        encode(
            &mut out,
            Version::HTTP_11,
            StatusCode::OK,
            &dated,
            &Defaults::default(),
            Out::Length(0),
            Some(&HeaderValue::from_static("now")),
        );
        assert_eq!(
            String::from_utf8_lossy(&out),
            "HTTP/1.1 200 OK\r\ndate: now\r\ncontent-length: 0\r\n\r\n"
        );
    }
}
