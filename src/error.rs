//! The one error type a request can end in.
//!
//! Every module returns [`HttpError`] for failures a client must hear about;
//! `Pipeline::serve` is the single place that turns it into a response (and
//! logs it once). The status says what the client gets; the source says why,
//! for the log only — it never reaches the client.

use std::fmt;
use std::io;

use http::StatusCode;

/// Boxed error source.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A failure that ends a request with an HTTP status.
#[derive(Debug)]
pub struct HttpError {
    status: StatusCode,
    source: Option<BoxError>,
}

impl HttpError {
    /// An error with `status` and no further cause.
    pub fn new(status: StatusCode) -> Self {
        HttpError {
            status,
            source: None,
        }
    }

    /// An error with `status`, caused by `source` (logged, never sent).
    pub fn with_source(status: StatusCode, source: impl Into<BoxError>) -> Self {
        HttpError {
            status,
            source: Some(source.into()),
        }
    }

    /// 400 Bad Request.
    pub fn bad_request(why: impl Into<BoxError>) -> Self {
        Self::with_source(StatusCode::BAD_REQUEST, why)
    }

    /// 403 Forbidden.
    pub fn forbidden(why: impl Into<BoxError>) -> Self {
        Self::with_source(StatusCode::FORBIDDEN, why)
    }

    /// 404 Not Found.
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND)
    }

    /// 500 Internal Server Error.
    pub fn internal(why: impl Into<BoxError>) -> Self {
        Self::with_source(StatusCode::INTERNAL_SERVER_ERROR, why)
    }

    /// The status the client gets.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The cause, for the log.
    pub fn cause(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        self.source.as_deref()
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.status)?;
        if let Some(s) = &self.source {
            write!(f, ": {s}")?;
        }
        Ok(())
    }
}

impl std::error::Error for HttpError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// `NotFound` → 404, `PermissionDenied` → 403, anything else → 500.
impl From<io::Error> for HttpError {
    fn from(e: io::Error) -> Self {
        let status = match e.kind() {
            io::ErrorKind::NotFound => StatusCode::NOT_FOUND,
            io::ErrorKind::PermissionDenied => StatusCode::FORBIDDEN,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        HttpError::with_source(status, e)
    }
}

/// The reason phrase marmoset sends with `status`: Ouistiti's wording where a
/// client may have matched it (`404 File Not Found`, `414 Request URI too
/// long`), the standard phrase otherwise.
pub fn reason_phrase(status: StatusCode) -> &'static str {
    match status.as_u16() {
        404 => "File Not Found",
        414 => "Request URI too long",
        _ => status.canonical_reason().unwrap_or(""),
    }
}

/// The short text body of an error answer (` 404 File Not Found\r\n`),
/// built once per status for the usual ones.
pub fn short_body(status: StatusCode) -> bytes::Bytes {
    const USUAL: [u16; 14] = [
        400, 401, 403, 404, 405, 413, 414, 416, 429, 431, 500, 501, 503, 505,
    ];
    static BODIES: std::sync::OnceLock<Vec<bytes::Bytes>> = std::sync::OnceLock::new();
    let text = |s: StatusCode| format!(" {} {}\r\n", s.as_u16(), reason_phrase(s));
    match USUAL.iter().position(|&c| c == status.as_u16()) {
        Some(i) => BODIES.get_or_init(|| {
            USUAL
                .iter()
                .filter_map(|&c| StatusCode::from_u16(c).ok())
                .map(|s| bytes::Bytes::from(text(s)))
                .collect()
        })[i]
            .clone(),
        None => bytes::Bytes::from(text(status)),
    }
}
