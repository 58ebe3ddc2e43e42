//! The two legs of the authorization code flow: the redirect to the
//! provider, and the callback that turns its code into a user.

use http::header::{CACHE_CONTROL, CONTENT_TYPE, HOST, LOCATION, SET_COOKIE};
use http::{HeaderValue, StatusCode};
use serde_json::{Map, Value};

use super::Oidc;
use super::client::form_encode;
use super::config::ClientAuth;
use super::idtoken::{self, Expected};
use super::state::{Pending, StateError, cookie_name};
use crate::body::Body;
use crate::modules::auth::storage::ACTIVATED;
use crate::modules::auth::token;
use crate::modules::auth::wwwform::{parse_form, safe_redirect};
use crate::pipeline::{RequestCtx, RequestHead, Response, User};

/// The answer to a callback.
pub enum Callback {
    /// Signed in: the user, and the redirect back to the page they wanted.
    SignedIn(User, Response),
    /// Refused (or the provider failed): the answer.
    Refused(Response),
}

impl Oidc {
    /// The redirect of an unauthenticated browser to the provider (a `403`
    /// for `XMLHttpRequest`s, which cannot follow it, a `401` for other
    /// requests a browser says are not navigations).
    pub async fn login(&self, head: &RequestHead, ctx: &RequestCtx) -> Response {
        let xhr = head
            .headers
            .get("x-requested-with")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("XMLHttpRequest"));
        if xhr {
            return text(StatusCode::FORBIDDEN, "sign in first\n");
        }
        // Images, scripts, fetches of a page whose session ran out: a 401,
        // not a login each (the page's own navigation starts one).
        let navigation = head
            .headers
            .get("sec-fetch-mode")
            .and_then(|v| v.to_str().ok())
            .is_none_or(|m| m.eq_ignore_ascii_case("navigate"));
        if !navigation {
            return text(StatusCode::UNAUTHORIZED, "sign in first\n");
        }
        let endpoints = match self.provider.endpoints().await {
            Ok(e) => e,
            Err(e) => return unavailable(&e),
        };
        let Some(redirect_uri) = self.redirect_uri(head, ctx) else {
            return text(StatusCode::BAD_REQUEST, "bad Host header\n");
        };
        let back_to = head
            .uri
            .path_and_query()
            .map_or("/", |pq| pq.as_str())
            .to_string();
        let p = Pending::new(redirect_uri, back_to, now());
        let params = [
            ("response_type", "code"),
            ("client_id", self.cfg.client_id.as_str()),
            ("redirect_uri", p.redirect_uri.as_str()),
            ("scope", self.cfg.scope.as_str()),
            ("state", p.state.as_str()),
            ("nonce", p.nonce.as_str()),
            ("code_challenge", &p.challenge()),
            ("code_challenge_method", "S256"),
        ];
        let query = params
            .iter()
            .map(|(k, v)| format!("{k}={}", form_encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let sep = if endpoints.auth.contains('?') {
            '&'
        } else {
            '?'
        };
        let location = format!("{}{sep}{query}", endpoints.auth);
        let mut r = redirect(&location);
        let cookie = format!(
            "{}={}; Path={}; Max-Age={}; HttpOnly; SameSite=Lax{}",
            p.cookie_name(),
            self.states.seal(&p),
            self.cfg.callback_path(),
            super::state::LIFETIME,
            self.secure_attr(ctx)
        );
        add_cookie(&mut r, &cookie);
        r
    }

    /// Serve the callback: check the state, exchange the code, validate
    /// the ID token.
    pub async fn callback(&self, head: &RequestHead, ctx: &RequestCtx) -> Callback {
        let q = parse_form(head.uri.query().unwrap_or(""));
        let param = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        let peer = ctx.peer.ip();
        // Ours are 43 URL-safe characters; anything else cannot match, and
        // must not reach a cookie name.
        let Some(state) = param("state").filter(|s| {
            (1..=128).contains(&s.len())
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        }) else {
            return Callback::Refused(text(
                StatusCode::BAD_REQUEST,
                "sign-in refused: missing or malformed state\n",
            ));
        };
        let clear = format!(
            "{}=; Path={}; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax{}",
            cookie_name(state),
            self.cfg.callback_path(),
            self.secure_attr(ctx)
        );
        let refuse = |status: StatusCode, why: &str| {
            log::warn!("auth: {peer} OpenID sign-in refused: {why}");
            let mut r = text(status, &format!("sign-in refused: {why}\n"));
            add_cookie(&mut r, &clear);
            Callback::Refused(r)
        };
        let cookie = token::cookie(head, &cookie_name(state));
        let pending = match self.states.open(cookie, state, now()) {
            Ok(p) => p,
            Err(e @ (StateError::Unknown | StateError::Replayed | StateError::Forged)) => {
                return refuse(StatusCode::BAD_REQUEST, &e.to_string());
            }
            Err(e @ StateError::Expired) => {
                return refuse(StatusCode::UNAUTHORIZED, &e.to_string());
            }
        };
        if let Some(err) = param("error") {
            let desc = param("error_description").unwrap_or("");
            return refuse(
                StatusCode::UNAUTHORIZED,
                &format!("the provider answered `{}` {}", clean(err), clean(desc)),
            );
        }
        // RFC 9207: a provider naming itself must be ours (mix-up defence).
        if let Some(iss) = param("iss")
            && iss.trim_end_matches('/') != self.provider.issuer()
        {
            return refuse(
                StatusCode::UNAUTHORIZED,
                &format!("the answer comes from another issuer `{}`", clean(iss)),
            );
        }
        let Some(code) = param("code").filter(|c| !c.is_empty()) else {
            return refuse(StatusCode::BAD_REQUEST, "missing code");
        };
        let (id_token, access_token) = match self.exchange(code, &pending).await {
            Ok(t) => t,
            Err((status, why)) => return refuse(status, &why),
        };
        let expected = Expected {
            issuer: self.provider.issuer(),
            client_id: &self.cfg.client_id,
            nonce: &pending.nonce,
        };
        let claims = match idtoken::validate(&self.provider, &id_token, &expected, now()).await {
            Ok(c) => c,
            Err(e) if e.is_unavailable() => return refuse(StatusCode::BAD_GATEWAY, &e.to_string()),
            Err(e) => return refuse(StatusCode::UNAUTHORIZED, &e.to_string()),
        };
        let claims = match self.complete(claims, access_token.as_deref()).await {
            Ok(c) => c,
            Err((status, why)) => return refuse(status, &why),
        };
        let Some(user) = self.user_of(&claims) else {
            return refuse(StatusCode::FORBIDDEN, "the ID token names no usable user");
        };
        log::info!("auth: {peer} signed in with OpenID as {:?}", user.name);
        let back = safe_redirect(&pending.back_to, None).unwrap_or("/");
        let mut r = redirect(back);
        add_cookie(&mut r, &clear);
        Callback::SignedIn(user, r)
    }

    /// Trade the code for tokens: the ID token and the access token, or a
    /// status and reason.
    async fn exchange(
        &self,
        code: &str,
        p: &Pending,
    ) -> Result<(String, Option<String>), (StatusCode, String)> {
        let endpoints = self
            .provider
            .endpoints()
            .await
            .map_err(|e| (StatusCode::BAD_GATEWAY, e.to_string()))?;
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", p.redirect_uri.as_str()),
            ("code_verifier", p.verifier.as_str()),
        ];
        let secret = self.cfg.client_secret.as_deref().unwrap_or("");
        let basic = match self.cfg.client_auth {
            ClientAuth::Basic => Some((self.cfg.client_id.as_str(), secret)),
            ClientAuth::Post => {
                form.push(("client_id", &self.cfg.client_id));
                form.push(("client_secret", secret));
                None
            }
            ClientAuth::None => {
                form.push(("client_id", &self.cfg.client_id));
                None
            }
        };
        let (status, body) = self
            .provider
            .client()
            .post_form(&endpoints.token, &form, basic)
            .await
            .map_err(|e| (StatusCode::BAD_GATEWAY, e.to_string()))?;
        if status != StatusCode::OK {
            let err = body.get("error").and_then(Value::as_str).unwrap_or("?");
            return Err((
                StatusCode::UNAUTHORIZED,
                format!("the token end point answered {status} `{}`", clean(err)),
            ));
        }
        let text = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_string);
        let id_token = text("id_token").ok_or((
            StatusCode::BAD_GATEWAY,
            "the token response has no id_token".to_string(),
        ))?;
        Ok((id_token, text("access_token")))
    }

    /// The user an ID token's claims describe.
    fn user_of(&self, claims: &Map<String, Value>) -> Option<User> {
        let text = |k: &str| {
            claims
                .get(k)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        };
        let name = text(
            self.cfg
                .user_claim
                .as_deref()
                .unwrap_or("preferred_username"),
        )
        .or_else(|| text("sub"))?;
        if name.len() > 255 || name.chars().any(char::is_control) {
            return None;
        }
        let group = self
            .cfg
            .group_claim
            .as_deref()
            .and_then(|c| match claims.get(c) {
                Some(Value::String(s)) => Some(s.as_str()),
                Some(Value::Array(a)) => a.first().and_then(Value::as_str),
                _ => None,
            })
            .filter(|g| !g.is_empty() && !g.chars().any(char::is_control))
            .unwrap_or(&self.cfg.group);
        // A name that could leave the home directory gets no home.
        let path_safe = !name.contains(['/', '\\']) && name != "." && name != "..";
        let home = match &self.cfg.home {
            Some(t) if path_safe => t.replace("{user}", name),
            _ => String::new(),
        };
        Some(User {
            name: name.to_string(),
            group: group.to_string(),
            home,
            status: ACTIVATED.to_string(),
            auth_type: "OpenID",
        })
    }

    /// The absolute `redirect_uri` for a request: as configured, or the
    /// callback path on the request's host.
    fn redirect_uri(&self, head: &RequestHead, ctx: &RequestCtx) -> Option<String> {
        if !self.cfg.redirect_uri.starts_with('/') {
            return Some(self.cfg.redirect_uri.clone());
        }
        let host = match head.headers.get(HOST).and_then(|h| h.to_str().ok()) {
            Some(h) => h.to_string(),
            None => head
                .uri
                .authority()
                .map(|a| a.as_str().to_string())
                .unwrap_or_else(|| format!("{}:{}", ctx.server.hostname, ctx.server.port)),
        };
        let ok = !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-.:[]_".contains(c));
        let scheme = if ctx.server.tls { "https" } else { "http" };
        ok.then(|| format!("{scheme}://{host}{}", self.cfg.redirect_uri))
    }

    fn secure_attr(&self, ctx: &RequestCtx) -> &'static str {
        if ctx.server.tls || self.cfg.redirect_uri.starts_with("https://") {
            "; Secure"
        } else {
            ""
        }
    }
}

/// Text from the query, safe for a log line and a body: control
/// characters replaced, at most 200 characters.
fn clean(s: &str) -> String {
    s.chars()
        .take(200)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

fn redirect(location: &str) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::FOUND;
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(LOCATION, v);
    }
    r.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn text(status: StatusCode, msg: &str) -> Response {
    let mut r = Response::new(Body::from(msg.to_string()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn unavailable(e: &dyn std::fmt::Display) -> Response {
    log::error!("auth: OpenID provider unavailable: {e}");
    text(
        StatusCode::BAD_GATEWAY,
        "the sign-in provider cannot be reached, try again later\n",
    )
}

fn add_cookie(r: &mut Response, cookie: &str) {
    if let Ok(v) = HeaderValue::from_str(cookie) {
        r.headers_mut().append(SET_COOKIE, v);
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::modules::auth::oidc::config::{ClientAuth, OidcConfig};
    use crate::server_info::{HttpVersion, ServerInfo};

    fn oidc(edit: impl FnOnce(&mut OidcConfig)) -> Oidc {
        let mut cfg = OidcConfig {
            issuer_url: "https://op.example".into(),
            auth_ep: None,
            token_ep: None,
            jwks_uri: None,
            client_id: "marmoset".into(),
            client_secret: None,
            client_auth: ClientAuth::None,
            redirect_uri: "/auth/callback".into(),
            scope: "openid".into(),
            cafile: None,
            user_claim: None,
            group_claim: Some("groups".into()),
            group: "users".into(),
            home: Some("/home/{user}".into()),
        };
        edit(&mut cfg);
        Oidc::build(&cfg, "a shared secret!").unwrap()
    }

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn users_from_claims() {
        let o = oidc(|_| {});
        let u = o
            .user_of(&claims(
                json!({"sub": "s1", "preferred_username": "alice", "groups": ["admins", "x"]}),
            ))
            .unwrap();
        assert_eq!(
            (u.name.as_str(), u.group.as_str(), u.home.as_str()),
            ("alice", "admins", "/home/alice")
        );
        assert_eq!(u.auth_type, "OpenID");
        // sub when there is no preferred_username; the default group.
        let u = o.user_of(&claims(json!({"sub": "s1"}))).unwrap();
        assert_eq!((u.name.as_str(), u.group.as_str()), ("s1", "users"));
        // A name that would leave the home directory gets no home.
        let u = o
            .user_of(&claims(
                json!({"sub": "s1", "preferred_username": "../root"}),
            ))
            .unwrap();
        assert_eq!((u.name.as_str(), u.home.as_str()), ("../root", ""));
        // Control characters: no user at all.
        assert!(
            o.user_of(&claims(json!({"sub": "s1", "preferred_username": "a\nb"})))
                .is_none()
        );
        assert!(o.user_of(&claims(json!({"email": "x@y"}))).is_none());
        // Another user claim.
        let o = oidc(|c| c.user_claim = Some("email".into()));
        let u = o
            .user_of(&claims(
                json!({"sub": "s1", "email": "a@example.org", "groups": "ops"}),
            ))
            .unwrap();
        assert_eq!(
            (u.name.as_str(), u.group.as_str()),
            ("a@example.org", "ops")
        );
    }

    fn ctx(tls: bool) -> RequestCtx {
        let a: SocketAddr = "192.0.2.7:4000".parse().unwrap();
        let info = Arc::new(ServerInfo {
            hostname: "dev.example.org".into(),
            service: "dev".into(),
            port: 8443,
            tls,
            version: HttpVersion::Http11,
            default_headers: Default::default(),
        });
        RequestCtx::new(info, a, a)
    }

    fn head(host: Option<&str>) -> RequestHead {
        let mut b = http::Request::builder().uri("/private?a=1");
        if let Some(h) = host {
            b = b.header("host", h);
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn redirect_uris() {
        let o = oidc(|_| {});
        assert_eq!(
            o.redirect_uri(&head(Some("cam.example:8080")), &ctx(false))
                .as_deref(),
            Some("http://cam.example:8080/auth/callback")
        );
        assert_eq!(
            o.redirect_uri(&head(None), &ctx(true)).as_deref(),
            Some("https://dev.example.org:8443/auth/callback")
        );
        for bad in ["evil.example/x?", "a b", "x@evil", ""] {
            assert_eq!(o.redirect_uri(&head(Some(bad)), &ctx(false)), None, "{bad}");
        }
        let o = oidc(|c| c.redirect_uri = "https://cam.example/cb".into());
        assert_eq!(
            o.redirect_uri(&head(Some("evil.example")), &ctx(false))
                .as_deref(),
            Some("https://cam.example/cb")
        );
        assert_eq!(o.secure_attr(&ctx(false)), "; Secure");
    }
}
