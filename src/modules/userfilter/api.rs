//! The rules REST API at `configuri`:
//!
//! | request | effect |
//! |---------|--------|
//! | `GET <configuri>` | 200, JSON list `[{"id":1,"method":"GET","role":"root","pathexp":"^/*"}, …]` |
//! | `POST` or `PUT <configuri>` with `method`, `role`, `pathexp` (form or JSON body) | adds the rule → 204 |
//! | `DELETE <configuri>/<id>` | deletes rule `id` → 204; unknown id → 404; bad id → 400 |
//! | anything else | 405 |
//!
//! Who may call it is decided by the rules themselves (the initial ones give
//! it to the superuser), in the authorize phase before this runs.

use std::sync::Arc;

use http::header::{CONTENT_TYPE, HeaderValue};
use http::{Method, StatusCode};
use serde_json::{Value, json};

use super::db::Db;
use crate::body::Body;
use crate::error::HttpError;
use crate::pipeline::{Request, Response};

fn status(s: StatusCode) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = s;
    r
}

/// Serve one API request; `rest` is the path after `configuri`.
pub async fn serve(db: &Arc<Db>, req: Request, rest: &str) -> Result<Response, HttpError> {
    let rest = rest.trim_matches('/');
    match (req.method().clone(), rest.is_empty()) {
        (Method::GET | Method::HEAD, true) => list(db).await,
        (Method::POST | Method::PUT, true) => add(db, req).await,
        (Method::DELETE, false) => delete(db, rest).await,
        _ => Ok(status(StatusCode::METHOD_NOT_ALLOWED)),
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, HttpError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(HttpError::internal)?
        .map_err(HttpError::internal)
}

async fn list(db: &Arc<Db>) -> Result<Response, HttpError> {
    let db = db.clone();
    let rules = blocking(move || db.rules()).await?;
    let items: Vec<Value> = rules
        .iter()
        .map(|r| json!({"id": r.id, "method": r.method, "role": r.role, "pathexp": r.exp}))
        .collect();
    let mut resp = Response::new(Body::from(Value::Array(items).to_string()));
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/json"));
    Ok(resp)
}

/// The `method`, `role` and `pathexp` of a form or JSON body.
pub fn fields(content_type: &str, body: &[u8]) -> Option<(String, String, String)> {
    if content_type.starts_with("application/json") {
        let v: Value = serde_json::from_slice(body).ok()?;
        let get = |k: &str| v.get(k)?.as_str().map(str::to_string);
        return Some((get("method")?, get("role")?, get("pathexp")?));
    }
    let text = std::str::from_utf8(body).ok()?;
    let mut method = None;
    let mut role = None;
    let mut pathexp = None;
    for pair in text.split('&') {
        let (k, v) = pair.split_once('=')?;
        let v = v.replace('+', " ");
        let v = percent_encoding::percent_decode_str(&v)
            .decode_utf8()
            .ok()?
            .into_owned();
        match k {
            "method" => method = Some(v),
            "role" => role = Some(v),
            "pathexp" => pathexp = Some(v),
            _ => {}
        }
    }
    Some((method?, role?, pathexp?))
}

async fn add(db: &Arc<Db>, req: Request) -> Result<Response, HttpError> {
    let ctype = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let body = req.into_body().to_bytes().await?;
    let Some((method, role, exp)) = fields(&ctype, &body) else {
        return Err(HttpError::bad_request(
            "a rule needs method, role and pathexp",
        ));
    };
    let method = method.to_ascii_uppercase();
    let valid = |s: &str| !s.is_empty() && s.len() <= 256 && !s.chars().any(char::is_control);
    if !valid(&method)
        || !valid(&role)
        || !valid(&exp)
        || !method.bytes().all(|b| b.is_ascii_alphabetic())
    {
        return Err(HttpError::bad_request("invalid rule"));
    }
    let db = db.clone();
    let id = blocking(move || db.add(&method, &role, &exp)).await?;
    log::info!("userfilter: rule {id} added");
    Ok(status(StatusCode::NO_CONTENT))
}

async fn delete(db: &Arc<Db>, rest: &str) -> Result<Response, HttpError> {
    let Ok(id) = rest.parse::<i64>() else {
        return Err(HttpError::bad_request(format!("`{rest}` is not a rule id")));
    };
    let db = db.clone();
    if blocking(move || db.delete(id)).await? {
        log::info!("userfilter: rule {id} deleted");
        Ok(status(StatusCode::NO_CONTENT))
    } else {
        Err(HttpError::not_found())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_and_json_bodies() {
        assert_eq!(
            fields(
                "application/x-www-form-urlencoded",
                b"role=users&method=GET&pathexp=%5E%2Fcgi-bin%2F*.cgi"
            ),
            Some(("GET".into(), "users".into(), "^/cgi-bin/*.cgi".into()))
        );
        assert_eq!(
            fields(
                "application/json",
                br#"{"method":"PUT","role":"foo","pathexp":"^/%u/*"}"#
            ),
            Some(("PUT".into(), "foo".into(), "^/%u/*".into()))
        );
        assert_eq!(
            fields(
                "application/x-www-form-urlencoded",
                b"role=users&method=GET"
            ),
            None
        );
        assert_eq!(fields("application/json", b"{"), None);
        assert_eq!(fields("", b"garbage"), None);
    }
}
