//! What every module may know about the server (or virtual host) serving a
//! request: its names, its port, whether it speaks TLS, the HTTP version it
//! caps responses at, and the default headers it adds to every response.

use http::header::{HeaderMap, HeaderName, HeaderValue};

/// Highest HTTP version a server speaks (`version` key).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum HttpVersion {
    /// HTTP/0.9 only.
    Http09,
    /// Up to HTTP/1.0.
    Http10,
    /// Up to HTTP/1.1 (default).
    #[default]
    Http11,
    /// HTTP/2 (where the transport offers it), HTTP/1.1 otherwise.
    Http2,
}

impl HttpVersion {
    /// Parse Ouistiti's spellings (exact, case-sensitive).
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "HTTP/0.9" => HttpVersion::Http09,
            "HTTP/1.0" => HttpVersion::Http10,
            "HTTP/1.1" => HttpVersion::Http11,
            "HTTP/2" => HttpVersion::Http2,
            _ => return None,
        })
    }

    /// The spelling used in configuration files.
    pub fn as_str(self) -> &'static str {
        match self {
            HttpVersion::Http09 => "HTTP/0.9",
            HttpVersion::Http10 => "HTTP/1.0",
            HttpVersion::Http11 => "HTTP/1.1",
            HttpVersion::Http2 => "HTTP/2",
        }
    }
}

/// The `Server` header value.
pub const SERVER_NAME: &str = concat!("marmoset/", env!("CARGO_PKG_VERSION"));

/// The `security` key: which of Ouistiti's default security headers to drop.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Security {
    /// `frame`: send `X-Frame-Options: SAMEORIGIN` instead of `DENY`.
    pub frame: bool,
    /// `cache`: no `Cache-Control`/`Pragma`/`Expires`.
    pub cache: bool,
    /// `sniff`: no `X-Content-Type-Options`.
    pub sniff: bool,
    /// `otherorigin`: no `Referrer-Policy`, no frame header when `frame`.
    pub otherorigin: bool,
}

impl Security {
    /// The headers every pipeline response starts with (all but `Date`).
    pub fn headers(self) -> HeaderMap {
        let mut h = HeaderMap::with_capacity(8);
        let mut add = |name: HeaderName, value: &'static str| {
            h.insert(name, HeaderValue::from_static(value));
        };
        add(http::header::SERVER, SERVER_NAME);
        if !self.frame {
            add(http::header::X_FRAME_OPTIONS, "DENY");
        } else if !self.otherorigin {
            add(http::header::X_FRAME_OPTIONS, "SAMEORIGIN");
        }
        if !self.cache {
            add(
                http::header::CACHE_CONTROL,
                "no-cache,no-store,max-age=0,must-revalidate",
            );
            add(http::header::PRAGMA, "no-cache");
            add(http::header::EXPIRES, "0");
        }
        if !self.sniff {
            add(http::header::X_CONTENT_TYPE_OPTIONS, "nosniff");
        }
        if !self.otherorigin {
            add(http::header::REFERRER_POLICY, "origin-when-cross-origin");
        }
        h
    }
}

/// The identity of a server or virtual host.
#[derive(Clone, Debug)]
pub struct ServerInfo {
    /// `hostname` (default `<machine>.local`).
    pub hostname: String,
    /// `service` (first DNS label, or `www`).
    pub service: String,
    /// Listening port.
    pub port: u16,
    /// Whether connections are TLS.
    pub tls: bool,
    /// Highest HTTP version spoken.
    pub version: HttpVersion,
    /// Headers added first to every pipeline response.
    pub default_headers: HeaderMap,
}

#[cfg(test)]
impl ServerInfo {
    /// `test.local`, plain HTTP/1.1 on port 80, no default headers.
    pub(crate) fn for_tests() -> ServerInfo {
        ServerInfo {
            hostname: "test.local".into(),
            service: "www".into(),
            port: 80,
            tls: false,
            version: HttpVersion::Http11,
            default_headers: HeaderMap::new(),
        }
    }
}
