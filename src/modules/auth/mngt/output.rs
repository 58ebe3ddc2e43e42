//! What the management API answers: a user record, a list of them, or an
//! error, as JSON or as a form (REFERENCE §6.7).
//!
//! Ouistiti answers JSON as `text/json` when `Accept` contains `text/json`,
//! else a form. marmoset keeps that, answers `application/json` to clients
//! asking for it, and answers JSON to a JSON request that expresses no
//! preference. Members appear in the original's order, only when set; a
//! password or hash is never part of a record. Errors keep the original's
//! JSON shape `{"method":…,"user":…,"error":…}` with one of its messages
//! (`user not found`, `user existing`, `access denied`, `bad value`, …)
//! and add a `message` saying what exactly is wrong.

use http::header::{CONTENT_TYPE, HeaderValue};
use http::{Method, StatusCode};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::db::Record;
use crate::body::Body;
use crate::pipeline::Response;

/// How to answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// JSON with this content type (`text/json` or `application/json`).
    Json(&'static str),
    /// `application/x-www-form-urlencoded`.
    Form,
}

impl Format {
    /// Choose from the `Accept` header and whether the request was JSON.
    pub fn negotiate(accept: Option<&str>, json_request: bool) -> Format {
        let a = accept.unwrap_or("").to_ascii_lowercase();
        if a.contains("application/json") {
            Format::Json("application/json")
        } else if a.contains("json") {
            Format::Json("text/json")
        } else if json_request && !a.contains("x-www-form-urlencoded") {
            Format::Json("application/json")
        } else {
            Format::Form
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Format::Json(t) => t,
            Format::Form => "application/x-www-form-urlencoded",
        }
    }
}

/// An API error: status, the original's message, and details.
#[derive(Debug)]
pub struct ApiError {
    /// The status.
    pub status: StatusCode,
    /// One of the original's messages.
    pub error: &'static str,
    /// What exactly is wrong, when there is more to say.
    pub message: Option<String>,
}

impl ApiError {
    /// An error with a detail message.
    pub fn new(status: StatusCode, error: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            error,
            message: Some(message.into()),
        }
    }

    /// 403 `access denied`.
    pub fn denied(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "access denied", message)
    }

    /// 400 `bad value`.
    pub fn bad(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad value", message)
    }

    /// 404 `user not found`.
    pub fn not_found() -> ApiError {
        ApiError {
            status: StatusCode::NOT_FOUND,
            error: "user not found",
            message: None,
        }
    }
}

/// Characters kept as they are in form values (`/` keeps homes readable).
const FORM_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/')
    .remove(b'@');

fn enc(v: &str) -> String {
    utf8_percent_encode(v, FORM_VALUE).to_string()
}

fn js(v: &str) -> String {
    serde_json::Value::from(v).to_string()
}

/// One record as JSON. `satisfied` are the issuers this request passed:
/// each of the user's issuers maps to whether it is one of them.
fn record_json(r: &Record, passwd_changed: bool, satisfied: &[String]) -> String {
    let mut o = format!("{{\"user\":{}", js(&r.name));
    if let Some(g) = r.group.as_deref().filter(|g| !g.is_empty()) {
        o.push_str(&format!(",\"group\":{}", js(g)));
    }
    if !r.status.is_empty() {
        o.push_str(&format!(",\"status\":{}", js(&r.status)));
    }
    if let Some(h) = r.home.as_deref().filter(|h| !h.is_empty()) {
        o.push_str(&format!(",\"home\":{}", js(h)));
    }
    if passwd_changed {
        o.push_str(",\"passwdchanged\":true");
    }
    if !r.issuers.is_empty() {
        let members: Vec<String> = r
            .issuers
            .iter()
            .map(|i| format!("{}:{}", js(i), satisfied.contains(i)))
            .collect();
        o.push_str(&format!(",\"issuers\":{{{}}}", members.join(",")));
    }
    o.push('}');
    o
}

fn record_form(r: &Record, passwd_changed: bool) -> String {
    let mut o = format!("user={}", enc(&r.name));
    if let Some(g) = r.group.as_deref().filter(|g| !g.is_empty()) {
        o.push_str(&format!("&group={}", enc(g)));
    }
    if !r.status.is_empty() {
        o.push_str(&format!("&status={}", enc(&r.status)));
    }
    if let Some(h) = r.home.as_deref().filter(|h| !h.is_empty()) {
        o.push_str(&format!("&home={}", enc(h)));
    }
    if passwd_changed {
        o.push_str("&passwdchanged=true");
    }
    if !r.issuers.is_empty() {
        o.push_str(&format!("&issuers={}", enc(&r.issuers.join("+"))));
    }
    o
}

fn respond(status: StatusCode, ctype: &'static str, body: String) -> Response {
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(ctype));
    resp
}

/// A response with one record.
pub fn record(
    f: Format,
    status: StatusCode,
    r: &Record,
    passwd_changed: bool,
    satisfied: &[String],
) -> Response {
    let body = match f {
        Format::Json(_) => record_json(r, passwd_changed, satisfied),
        Format::Form => record_form(r, passwd_changed),
    };
    respond(status, f.content_type(), body)
}

/// The list of every user: always a JSON array (as the original).
pub fn list(f: Format, records: &[Record], satisfied: &[String]) -> Response {
    let items: Vec<String> = records
        .iter()
        .map(|r| record_json(r, false, satisfied))
        .collect();
    let ctype = match f {
        Format::Json(t) => t,
        Format::Form => "text/json",
    };
    respond(StatusCode::OK, ctype, format!("[{}]", items.join(",")))
}

/// An error response.
pub fn error(f: Format, method: &Method, user: &str, e: &ApiError) -> Response {
    let body = match f {
        Format::Json(_) => {
            let mut o = format!(
                "{{\"method\":{},\"user\":{},\"error\":{}",
                js(method.as_str()),
                js(user),
                js(e.error)
            );
            if let Some(m) = &e.message {
                o.push_str(&format!(",\"message\":{}", js(m)));
            }
            o.push('}');
            o
        }
        Format::Form => {
            let mut o = format!(
                "method={}&user={}&error={}",
                enc(method.as_str()),
                enc(user),
                enc(e.error)
            );
            if let Some(m) = &e.message {
                o.push_str(&format!("&message={}", enc(m)));
            }
            o
        }
    };
    respond(e.status, f.content_type(), body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> Record {
        Record {
            name: "alice".into(),
            group: Some("anonymous".into()),
            home: Some("alice".into()),
            status: "approving".into(),
            issuers: Vec::new(),
        }
    }

    #[test]
    fn the_reference_example() {
        assert_eq!(
            record_json(&alice(), true, &[]),
            r#"{"user":"alice","group":"anonymous","status":"approving","home":"alice","passwdchanged":true}"#
        );
        assert_eq!(
            record_form(&alice(), false),
            "user=alice&group=anonymous&status=approving&home=alice"
        );
        let mut r = alice();
        r.home = Some("/home/a b&c".into());
        r.issuers = vec!["totp".into(), "oidc".into()];
        assert_eq!(
            record_form(&r, false),
            "user=alice&group=anonymous&status=approving&home=/home/a%20b%26c&issuers=totp%2Boidc"
        );
        assert!(
            record_json(&r, false, &["oidc".into()])
                .ends_with(r#""home":"/home/a b&c","issuers":{"totp":false,"oidc":true}}"#)
        );
    }

    #[test]
    fn negotiation() {
        let n = Format::negotiate;
        assert_eq!(n(Some("text/json"), false), Format::Json("text/json"));
        assert_eq!(
            n(Some("application/json, */*"), false),
            Format::Json("application/json")
        );
        assert_eq!(n(None, false), Format::Form);
        assert_eq!(n(Some("*/*"), true), Format::Json("application/json"));
        assert_eq!(
            n(Some("application/x-www-form-urlencoded"), true),
            Format::Form
        );
    }
}
