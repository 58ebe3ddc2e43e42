//! What a management request asks for: the fields of its query string and
//! of an `application/x-www-form-urlencoded` or `application/json` body,
//! decoded and checked.
//!
//! The original read any field silently and answered 500 to bad values;
//! here every problem — an unknown or repeated field, a value that is not
//! a string, a name with a `/` or a control character, an unknown status —
//! is a [`Bad`] that becomes a 400 (or 415 for a body of another type)
//! with a message saying which field and why.

use http::StatusCode;
use percent_encoding::percent_decode_str;
use serde_json::Value;

/// The statuses of the `status` table.
pub const STATUSES: [&str; 4] = ["approving", "activated", "repudiated", "reapproving"];

/// Longest user, group or issuer name.
const MAX_NAME: usize = 64;
/// Longest password (bytes).
const MAX_PASSWD: usize = 256;
/// Longest home.
const MAX_HOME: usize = 256;

/// A refused request: its status and a message for the client.
#[derive(Debug, PartialEq, Eq)]
pub struct Bad {
    /// 400, or 415 for a body that is neither a form nor JSON.
    pub status: StatusCode,
    /// What is wrong.
    pub message: String,
}

fn bad(message: impl Into<String>) -> Bad {
    Bad {
        status: StatusCode::BAD_REQUEST,
        message: message.into(),
    }
}

/// The fields of a request, each checked.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Fields {
    /// `user`: the target (when not in the path) or the new account.
    pub user: Option<String>,
    /// `passwd`: a new password, in clear (hashed before it is stored).
    pub passwd: Option<String>,
    /// `group`.
    pub group: Option<String>,
    /// `home` (empty: none).
    pub home: Option<String>,
    /// `status`, one of [`STATUSES`].
    pub status: Option<String>,
    /// `issuers`: the further factors the user must pass (empty: none).
    pub issuers: Option<Vec<String>>,
}

impl Fields {
    /// Whether a field only the root group may set is present.
    pub fn has_root_only(&self) -> bool {
        self.group.is_some() || self.home.is_some() || self.status.is_some()
    }

    /// Whether anything besides `user` is present.
    pub fn has_changes(&self) -> bool {
        self.passwd.is_some() || self.has_root_only() || self.issuers.is_some()
    }

    /// Set one field from text, checking the name, the value, and that it
    /// was not given before.
    fn set(&mut self, key: &str, value: &str) -> Result<(), Bad> {
        let twice = || bad(format!("field `{key}` given twice"));
        match key {
            "user" => put(&mut self.user, existing(value)?).ok_or_else(twice),
            "passwd" => put(&mut self.passwd, passwd(value)?).ok_or_else(twice),
            "group" => put(&mut self.group, name(key, value)?).ok_or_else(twice),
            "home" => put(&mut self.home, home(value)?).ok_or_else(twice),
            "status" => put(&mut self.status, status(value)?).ok_or_else(twice),
            "issuers" => put(&mut self.issuers, issuers(value)?).ok_or_else(twice),
            _ => Err(unknown(key)),
        }
    }
}

/// The field names.
const FIELDS: [&str; 6] = ["user", "passwd", "group", "home", "status", "issuers"];

fn unknown(key: &str) -> Bad {
    bad(format!(
        "unknown field `{}` ({})",
        key.escape_debug(),
        FIELDS.join(", ")
    ))
}

/// Store `v` in an empty slot; `None` when it was already set.
fn put<T>(slot: &mut Option<T>, v: T) -> Option<()> {
    if slot.is_some() {
        return None;
    }
    *slot = Some(v);
    Some(())
}

/// Read the fields of `query` and of `body` (typed by `content_type`).
pub fn parse(content_type: Option<&str>, query: Option<&str>, body: &[u8]) -> Result<Fields, Bad> {
    let mut f = Fields::default();
    if let Some(q) = query {
        form(&mut f, q.as_bytes())?;
        if f.passwd.is_some() {
            // The request line is in the access log: a password there is
            // no longer a secret. Say so rather than store it.
            return Err(bad("send `passwd` in the body: a query string is logged"));
        }
    }
    if body.is_empty() {
        return Ok(f);
    }
    let media = content_type
        .and_then(|c| c.split(';').next())
        .map(|c| c.trim().to_ascii_lowercase())
        .unwrap_or_default();
    match media.as_str() {
        "application/x-www-form-urlencoded" => form(&mut f, body)?,
        "application/json" | "text/json" => json(&mut f, body)?,
        _ => {
            return Err(Bad {
                status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
                message: "the body must be application/x-www-form-urlencoded or application/json"
                    .into(),
            });
        }
    }
    Ok(f)
}

/// Whether `content_type` names a JSON body.
pub fn is_json(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|c| {
        let m = c.split(';').next().unwrap_or("").trim();
        m.eq_ignore_ascii_case("application/json") || m.eq_ignore_ascii_case("text/json")
    })
}

fn form(f: &mut Fields, text: &[u8]) -> Result<(), Bad> {
    let text = std::str::from_utf8(text).map_err(|_| bad("the form is not UTF-8"))?;
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        f.set(&decode(k)?, &decode(v)?)?;
    }
    Ok(())
}

fn decode(s: &str) -> Result<String, Bad> {
    let s = s.replace('+', " ");
    percent_decode_str(&s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| bad("a form value is not UTF-8 once decoded"))
}

fn json(f: &mut Fields, body: &[u8]) -> Result<(), Bad> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| bad(format!("the body is not JSON: {e}")))?;
    let Value::Object(map) = v else {
        return Err(bad("the JSON body must be an object"));
    };
    for (k, v) in &map {
        match (k.as_str(), v) {
            (_, Value::String(s)) => f.set(k, s)?,
            ("issuers", Value::Array(items)) => {
                let mut names = Vec::new();
                for i in items {
                    let Value::String(s) = i else {
                        return Err(bad("`issuers` must be a string or an array of strings"));
                    };
                    names.push(s.as_str());
                }
                f.set(k, &names.join("+"))?;
            }
            _ if !FIELDS.contains(&k.as_str()) => return Err(unknown(k)),
            _ => return Err(bad(format!("field `{k}` must be a string"))),
        }
    }
    Ok(())
}

/// The name of a user that may already exist: `marmoset-passwd` accepts
/// more than [`name`] does, so an account it made can still be shown,
/// changed or deleted — anything of 1 to 255 bytes without control
/// characters. New accounts must also pass [`name`].
pub fn existing(v: &str) -> Result<String, Bad> {
    if v.is_empty() || v.len() > 255 || v.chars().any(char::is_control) {
        return Err(bad("`user`: 1 to 255 bytes, no control characters"));
    }
    Ok(v.to_string())
}

/// A new user, group or issuer name: 1 to 64 of `A-Z a-z 0-9 . _ - @`, not
/// starting with `.` or `-` — safe in paths, URLs, cookies and password
/// files alike.
pub fn name(key: &str, v: &str) -> Result<String, Bad> {
    let ok = !v.is_empty()
        && v.len() <= MAX_NAME
        && !v.starts_with(['.', '-'])
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@'));
    if ok {
        Ok(v.to_string())
    } else {
        Err(bad(format!(
            "`{key}`: 1 to {MAX_NAME} letters, digits, `.`, `_`, `-` or `@`, \
             not starting with `.` or `-`"
        )))
    }
}

fn passwd(v: &str) -> Result<String, Bad> {
    if v.is_empty() || v.len() > MAX_PASSWD || v.chars().any(char::is_control) {
        return Err(bad(format!(
            "`passwd`: 1 to {MAX_PASSWD} bytes, no control characters"
        )));
    }
    Ok(v.to_string())
}

fn home(v: &str) -> Result<String, Bad> {
    let parent = v.split('/').any(|s| s == "..");
    if v.len() > MAX_HOME || v.chars().any(char::is_control) || parent {
        return Err(bad(format!(
            "`home`: at most {MAX_HOME} bytes, no control characters, no `..`"
        )));
    }
    Ok(v.to_string())
}

fn status(v: &str) -> Result<String, Bad> {
    if STATUSES.contains(&v) {
        Ok(v.to_string())
    } else {
        Err(bad(format!("`status`: one of {}", STATUSES.join(", "))))
    }
}

/// `issuers`: names separated by `+` (a space once form-decoded) or `,`.
fn issuers(v: &str) -> Result<Vec<String>, Bad> {
    let mut out: Vec<String> = Vec::new();
    for i in v.split(['+', ' ', ',']).filter(|s| !s.is_empty()) {
        let i = name("issuers", i)?;
        if !out.contains(&i) {
            out.push(i);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FORM: Option<&str> = Some("application/x-www-form-urlencoded");
    const JSON: Option<&str> = Some("application/json; charset=utf-8");

    #[test]
    fn form_and_query_fields() {
        let f = parse(
            FORM,
            Some("user=alice"),
            b"passwd=Wonder%20land+x&home=alice&issuers=totp+oidc",
        )
        .unwrap();
        assert_eq!(f.user.as_deref(), Some("alice"));
        assert_eq!(f.passwd.as_deref(), Some("Wonder land x"));
        assert_eq!(f.home.as_deref(), Some("alice"));
        assert_eq!(f.issuers, Some(vec!["totp".into(), "oidc".into()]));
        assert!(f.has_changes() && f.has_root_only());
        // Empty issuers clear the list; an empty home clears the home.
        let f = parse(FORM, None, b"issuers=&home=").unwrap();
        assert_eq!(f.issuers, Some(vec![]));
        assert_eq!(f.home.as_deref(), Some(""));
    }

    #[test]
    fn json_fields() {
        let f = parse(
            JSON,
            None,
            br#"{"user":"bob","passwd":"p:w","status":"activated","issuers":["totp"]}"#,
        )
        .unwrap();
        assert_eq!(f.user.as_deref(), Some("bob"));
        assert_eq!(f.passwd.as_deref(), Some("p:w"));
        assert_eq!(f.status.as_deref(), Some("activated"));
        assert_eq!(f.issuers, Some(vec!["totp".into()]));
        assert!(is_json(JSON) && !is_json(FORM) && !is_json(None));
    }

    #[test]
    fn bad_requests_say_why() {
        let msg = |ct, body: &[u8]| parse(ct, None, body).unwrap_err().message;
        assert!(msg(FORM, b"user=a&colour=red").contains("unknown field `colour`"));
        assert!(msg(FORM, b"user=a&user=b").contains("given twice"));
        assert!(msg(FORM, b"user=a%0Ab").contains("`user`"));
        assert!(msg(FORM, b"user=").contains("`user`"));
        assert!(msg(FORM, b"group=.hidden").contains("`group`"));
        assert!(name("user", "a/b").is_err() && name("user", ".x").is_err());
        assert_eq!(existing("J. Doe/2").as_deref(), Ok("J. Doe/2"));
        assert!(msg(FORM, b"passwd=").contains("`passwd`"));
        assert!(msg(FORM, b"passwd=a%0Ab").contains("`passwd`"));
        assert!(msg(FORM, b"status=boss").contains("`status`: one of"));
        assert!(msg(FORM, b"home=../etc").contains("`home`"));
        assert!(msg(FORM, b"user=%FF").contains("UTF-8"));
        assert!(msg(JSON, b"{").contains("not JSON"));
        assert!(msg(JSON, b"[1]").contains("object"));
        assert!(msg(JSON, br#"{"user":1}"#).contains("must be a string"));
        assert!(msg(JSON, br#"{"x":1}"#).contains("unknown field `x`"));
        assert!(msg(JSON, br#"{"issuers":[1]}"#).contains("issuers"));
        let e = parse(Some("text/plain"), None, b"user=a").unwrap_err();
        assert_eq!(e.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let e = parse(None, None, b"user=a").unwrap_err();
        assert_eq!(e.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        // The same field in the query and the body is given twice.
        assert!(parse(FORM, Some("user=a"), b"user=a").is_err());
        let e = parse(FORM, Some("user=a&passwd=x"), b"").unwrap_err();
        assert!(e.message.contains("in the body"));
        // No body: the query alone, whatever the type.
        assert_eq!(
            parse(None, Some("user=a"), b"").unwrap().user.as_deref(),
            Some("a")
        );
    }
}
