//! One access line per request, in the combined log format:
//! `peer - user [date] "METHOD target VERSION" status bytes "referer" "agent"`.
//! Lines go through the `log` facade (target `access`), so embedders can
//! route them; the binary's logger writes them to `log-file` or stderr.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::net::IpAddr;

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

thread_local! {
    /// The line being built, kept from one request to the next: no
    /// allocation per line.
    static LINE: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Write the access line of a finished request.
///
/// The line is put together piece by piece and handed to the logger
/// whole: through `format_args!` each of its eleven pieces cost a call
/// through the logger's writer, the address and numbers went through the
/// formatting machinery, and the line cost ~3,900 instructions, more
/// than a quarter of a cached file's whole request.
pub fn write(line: &RequestLine, ctx: &RequestCtx, resp: &Response) {
    let user = ctx.user.as_ref().map_or("-", |u| u.name.as_str());
    let bytes = resp
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .or_else(|| resp.body().size_hint().exact());
    let path = line.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut numbers = itoa::Buffer::new();
    LINE.with(|l| {
        let Ok(mut s) = l.try_borrow_mut() else {
            return; // a logger that logs an access line of its own
        };
        s.clear();
        push_ip(&mut s, ctx.peer.ip());
        for piece in [" - ", user, " ["] {
            s.push_str(piece);
        }
        crate::http_date::with_clf(|date| s.push_str(date));
        for piece in ["] \"", line.method.as_str(), " ", path, " "] {
            s.push_str(piece);
        }
        s.push_str(version(line.version));
        s.push_str("\" ");
        s.push_str(numbers.format(resp.status().as_u16()));
        s.push(' ');
        s.push_str(bytes.map_or("-", |n| numbers.format(n)));
        for piece in [" \"", text(&line.referer), "\" \"", text(&line.agent), "\""] {
            s.push_str(piece);
        }
        log::info!(target: "access", "{}", s.as_str());
    });
}

/// The peer's address as `Display` writes it; IPv4 digit by digit (a
/// quarter of the cost of four formatted numbers).
fn push_ip(s: &mut String, ip: IpAddr) {
    let IpAddr::V4(v4) = ip else {
        let _ = write!(s, "{ip}");
        return;
    };
    let mut text = [0u8; 15];
    let mut n = 0;
    for (i, octet) in v4.octets().into_iter().enumerate() {
        if i > 0 {
            text[n] = b'.';
            n += 1;
        }
        if octet >= 100 {
            text[n] = b'0' + octet / 100;
            n += 1;
        }
        if octet >= 10 {
            text[n] = b'0' + octet / 10 % 10;
            n += 1;
        }
        text[n] = b'0' + octet % 10;
        n += 1;
    }
    s.push_str(std::str::from_utf8(&text[..n]).unwrap_or("?"));
}

/// The version as `Debug` writes it (`HTTP/1.1`), which the line always
/// showed.
fn version(v: Version) -> &'static str {
    match v {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2.0",
        Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/1.1",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_written_as_display_writes_them() {
        for ip in [
            "127.0.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "10.20.3.4",
            "::1",
            "::ffff:1.2.3.4",
            "fe80::1:2",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            let mut s = String::new();
            push_ip(&mut s, ip);
            assert_eq!(s, ip.to_string());
        }
    }

    #[test]
    fn versions_are_written_as_debug_writes_them() {
        for v in [
            Version::HTTP_09,
            Version::HTTP_10,
            Version::HTTP_11,
            Version::HTTP_2,
            Version::HTTP_3,
        ] {
            assert_eq!(version(v), format!("{v:?}"));
        }
    }
}
