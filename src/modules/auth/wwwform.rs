//! The form sign-in (`type = "wwwform"`): a `POST` of
//! `application/x-www-form-urlencoded` `username` and `password` to
//! `token_ep`.
//!
//! The authentication phase sees only the request head, so the sign-in is
//! served by the module's content phase: the body is read (at most 8 KiB),
//! the credentials checked, and on success the session token is set (a
//! cookie unless option `header`) and the client sent on to `redirect_uri`
//! (a form field or query parameter; only a path on this server, or an
//! absolute URL naming the request's own host, is followed — anything else
//! would be an open redirect) or answered `200` with the user as JSON.
//! Wrong credentials get `401` with `WWW-Authenticate: WWW-Form`.

use http::header::{CONTENT_TYPE, HOST, LOCATION};
use http::{HeaderValue, StatusCode};
use percent_encoding::percent_decode_str;

use super::factor::{Factor, locked};
use crate::body::Body;
use crate::error::HttpError;
use crate::pipeline::{Request, RequestCtx, Response, User};

/// Largest sign-in body.
pub const MAX_BODY: usize = 8 * 1024;

/// Decode `application/x-www-form-urlencoded` text into pairs.
pub fn parse_form(text: &str) -> Vec<(String, String)> {
    let decode = |s: &str| {
        let s = s.replace('+', " ");
        percent_decode_str(&s).decode_utf8_lossy().into_owned()
    };
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), String::new()),
        })
        .collect()
}

fn field<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Whether `uri` is a safe place to send the client after sign-in: a path
/// on this server, or an absolute URL whose authority is `host`.
pub fn safe_redirect<'a>(uri: &'a str, host: Option<&str>) -> Option<&'a str> {
    // Browsers drop tabs and newlines from URLs: "/\t/evil" is "//evil".
    if uri.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return None;
    }
    let bad_path = |p: &str| !p.starts_with('/') || p.starts_with("//") || p.contains('\\');
    if uri.starts_with('/') {
        return (!bad_path(uri)).then_some(uri);
    }
    let rest = uri
        .strip_prefix("http://")
        .or_else(|| uri.strip_prefix("https://"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    (host.is_some_and(|h| h.eq_ignore_ascii_case(authority)) && !bad_path(path)).then_some(uri)
}

/// Serve a sign-in POST. On success `ctx.user` is set (the module's rewrite
/// phase then adds the token).
pub async fn sign_in(
    factor: &Factor,
    req: Request,
    ctx: &mut RequestCtx,
) -> Result<(Response, Option<User>), HttpError> {
    let form = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';').next().is_some_and(|t| {
                t.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            })
        });
    if !form {
        return Err(HttpError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE));
    }
    let host = req
        .headers()
        .get(HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let query = req.uri().query().unwrap_or("").to_string();
    let mut body = req.into_body();
    let mut buf = Vec::new();
    while let Some(chunk) = body.chunk().await? {
        buf.extend_from_slice(&chunk);
        if buf.len() > MAX_BODY {
            return Err(HttpError::new(StatusCode::PAYLOAD_TOO_LARGE));
        }
    }
    // Credentials come from the body only (a query string ends up in
    // access logs); `redirect_uri` may come from either.
    let body = parse_form(&String::from_utf8_lossy(&buf));
    let query = parse_form(&query);
    let ip = ctx.peer.ip();
    if let Some(left) = factor.guard().locked(ip) {
        return Ok((locked(left), None));
    }
    let (Some(user), Some(password)) = (field(&body, "username"), field(&body, "password")) else {
        return Ok((unauthorized(factor), None));
    };
    let Some(acct) = factor.check_password(user, password).await? else {
        log::warn!("auth: {ip} failed form sign-in as {user:?}");
        if factor.guard().failure(ip, user) {
            log::warn!("auth: {ip} locked out after repeated failures");
        }
        return Ok((unauthorized(factor), None));
    };
    factor.guard().success(ip, user);
    let Some(user) = factor.admit(&acct, ctx) else {
        return Ok((unauthorized(factor), None));
    };
    // A later factor of a chain (TOTP) signs in the user of the earlier
    // ones, with their group and home.
    let user = match &ctx.user {
        Some(prev) if prev.name == user.name => User::clone(prev),
        _ => user,
    };
    let target = field(&body, "redirect_uri")
        .or_else(|| field(&query, "redirect_uri"))
        .and_then(|u| safe_redirect(u, host.as_deref()));
    let mut resp = match target.and_then(|t| HeaderValue::from_str(t).ok()) {
        Some(loc) => {
            let mut r = Response::new(Body::empty());
            *r.status_mut() = StatusCode::FOUND;
            r.headers_mut().insert(LOCATION, loc);
            r
        }
        None => {
            let json = serde_json::json!({
                "user": user.name,
                "group": user.group,
                "home": user.home,
                "status": user.status,
            });
            let mut r = Response::new(Body::from(json.to_string()));
            r.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            r
        }
    };
    resp.headers_mut().remove(http::header::WWW_AUTHENTICATE);
    Ok((resp, Some(user)))
}

/// `401` with `WWW-Authenticate: WWW-Form`.
pub fn unauthorized(factor: &Factor) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::UNAUTHORIZED;
    if let Ok(v) = HeaderValue::from_str(&format!("WWW-Form realm=\"{}\"", factor.realm)) {
        r.headers_mut().insert(http::header::WWW_AUTHENTICATE, v);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let p = parse_form("username=foo&password=a%20b+c&x&redirect_uri=%2Fprivate%3Fa%3D1");
        assert_eq!(field(&p, "username"), Some("foo"));
        assert_eq!(field(&p, "password"), Some("a b c"));
        assert_eq!(field(&p, "x"), Some(""));
        assert_eq!(field(&p, "redirect_uri"), Some("/private?a=1"));
        assert!(parse_form("").is_empty());
    }

    #[test]
    fn redirects() {
        let h = Some("dev.example:8080");
        assert_eq!(safe_redirect("/a?b", h), Some("/a?b"));
        assert_eq!(safe_redirect("//evil.example/", h), None);
        assert_eq!(safe_redirect("/\\evil.example", h), None);
        assert_eq!(
            safe_redirect("http://dev.example:8080/x", h),
            Some("http://dev.example:8080/x")
        );
        assert_eq!(safe_redirect("https://evil.example/x", h), None);
        assert_eq!(safe_redirect("http://dev.example:8080//evil", h), None);
        assert_eq!(safe_redirect("javascript:alert(1)", h), None);
        assert_eq!(safe_redirect("http://dev.example:8080/x", None), None);
    }
}
