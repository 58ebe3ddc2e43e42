//! Tokens (JWT HS256) and what is sent to the client after a sign-in.
//!
//! A token is a JWT signed with HMAC-SHA256 under the authenticator's
//! `secret`, with the original's claims: `user`, `home`, `status`,
//! `roles` (the group), `exp`, `iss` (the chain of issuers satisfied, e.g.
//! `sqlite+totp`). Any marmoset (or Ouistiti) sharing the secret accepts it.
//! Verification accepts HS256 only (`none` and every other algorithm are
//! refused, so there is no algorithm confusion), requires `exp` in the
//! future, a `typ` of `JWT` when present, and an `iss` containing every
//! `+`-separated part of the verifier's issuer.
//!
//! A token is read from `Authorization: Bearer`, the `X-Auth-Token` header
//! or the `X-Auth-Token` cookie. After an authenticated request a fresh
//! token is sent (sliding expiry, as the original) as a header (`header`
//! option, or when neither `header` nor `cookie` is set) or a cookie.

use http::header::{COOKIE, HeaderMap, HeaderName, HeaderValue, SET_COOKIE};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{Map, Value};

use crate::pipeline::{RequestHead, User};

/// The header and cookie carrying tokens.
pub const TOKEN_NAME: &str = "X-Auth-Token";

/// Issues and verifies tokens for one secret.
pub struct Tokens {
    enc: EncodingKey,
    dec: DecodingKey,
    validation: Validation,
    lifetime: u64,
}

/// Why a token was refused (logged at debug level only).
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Bad signature, algorithm, expiry, syntax.
    #[error("{0}")]
    Jwt(#[from] jsonwebtoken::errors::Error),
    /// `typ` is not `JWT`.
    #[error("token type is not JWT")]
    Type,
    /// `iss` lacks a part of the required issuer.
    #[error("token issuer `{0}` lacks a required factor")]
    Issuer(String),
    /// `status` is not one that may sign in.
    #[error("token status `{0}` may not sign in")]
    Status(String),
}

/// What a verified token says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claims {
    /// The user it names.
    pub user: User,
    /// The issuers it carries.
    pub issuers: Vec<String>,
}

impl Tokens {
    /// Tokens signed with `secret`, valid for `lifetime` seconds.
    pub fn new(secret: &str, lifetime: u64) -> Tokens {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp"]);
        validation.leeway = 30;
        validation.validate_aud = false;
        Tokens {
            enc: EncodingKey::from_secret(secret.as_bytes()),
            dec: DecodingKey::from_secret(secret.as_bytes()),
            validation,
            lifetime,
        }
    }

    /// A signed token for `user`, satisfied `issuers`, expiring after the
    /// lifetime.
    pub fn issue(&self, user: &User, issuers: &[String]) -> Option<String> {
        let exp = jsonwebtoken::get_current_timestamp() + self.lifetime;
        self.issue_until(user, issuers, exp)
    }

    /// A signed token expiring at `exp` (Unix time).
    pub fn issue_until(&self, user: &User, issuers: &[String], exp: u64) -> Option<String> {
        let mut c = Map::new();
        c.insert("user".into(), user.name.clone().into());
        if !user.home.is_empty() {
            c.insert("home".into(), user.home.clone().into());
        }
        if !user.status.is_empty() {
            c.insert("status".into(), user.status.clone().into());
        }
        if !user.group.is_empty() {
            c.insert("roles".into(), user.group.clone().into());
        }
        c.insert("exp".into(), exp.into());
        c.insert("iss".into(), issuers.join("+").into());
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some("JWT".into());
        jsonwebtoken::encode(&header, &Value::Object(c), &self.enc)
            .map_err(|e| log::error!("auth: cannot sign a token: {e}"))
            .ok()
    }

    /// Verify `token` for an authenticator whose issuer is `issuer`.
    pub fn verify(&self, token: &str, issuer: &str) -> Result<Claims, TokenError> {
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, &self.dec, &self.validation)?;
        if data
            .header
            .typ
            .as_deref()
            .is_some_and(|t| !t.eq_ignore_ascii_case("JWT"))
        {
            return Err(TokenError::Type);
        }
        let c = data.claims;
        let text = |k: &str| c.get(k).and_then(Value::as_str).map(str::to_string);
        let iss = text("iss").unwrap_or_default();
        let issuers: Vec<String> = iss
            .split('+')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        if !issuer
            .split('+')
            .all(|need| issuers.iter().any(|i| i == need))
        {
            return Err(TokenError::Issuer(iss));
        }
        let name = ["user", "preferred_username", "name", "username"]
            .iter()
            .find_map(|k| text(k))
            .unwrap_or_else(|| "anonymous".into());
        let group = match c.get("roles") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Array(a)) => a
                .first()
                .and_then(Value::as_str)
                .unwrap_or("anonymous")
                .to_string(),
            _ => "anonymous".into(),
        };
        let status = text("status").unwrap_or_else(|| super::storage::ACTIVATED.into());
        if status != super::storage::ACTIVATED && status != super::storage::REAPPROVING {
            return Err(TokenError::Status(status));
        }
        Ok(Claims {
            user: User {
                name,
                group,
                home: text("home").unwrap_or_default(),
                status,
                auth_type: "Bearer",
            },
            issuers,
        })
    }
}

/// The value of cookie `name` in the request, if any.
pub fn cookie<'a>(head: &'a RequestHead, name: &str) -> Option<&'a str> {
    head.headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"'))
}

/// The token a request carries: `Authorization: Bearer`, the `X-Auth-Token`
/// header, or the `X-Auth-Token` cookie, in that order.
pub fn find(head: &RequestHead) -> Option<&str> {
    let auth = head
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| strip_scheme(v, "Bearer"));
    auth.or_else(|| head.headers.get(TOKEN_NAME).and_then(|v| v.to_str().ok()))
        .or_else(|| cookie(head, TOKEN_NAME))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// The credentials after `<scheme> ` (scheme compared case-insensitively).
pub fn strip_scheme<'a>(value: &'a str, scheme: &str) -> Option<&'a str> {
    // Header values are ASCII (`HeaderValue::to_str`): ASCII trimming.
    let value = value.trim_ascii_start();
    let head = value.get(..scheme.len())?;
    let rest = &value[scheme.len()..];
    (head.eq_ignore_ascii_case(scheme) && (rest.is_empty() || rest.starts_with(' ')))
        .then(|| rest.trim_ascii())
}

/// The cookie `Domain` for a server host name: the name minus its first
/// label, with a leading dot; none for a single label, an IP address, or a
/// `.local…` remainder (as the original, which also omits it there).
pub fn cookie_domain(hostname: &str) -> Option<String> {
    let host = hostname.split(':').next().unwrap_or("");
    if host.parse::<std::net::IpAddr>().is_ok() {
        return None;
    }
    let (_, rest) = host.split_once('.')?;
    if rest.is_empty() || rest.starts_with("local") {
        return None;
    }
    Some(format!(".{rest}"))
}

/// What the response to an authenticated request carries.
#[derive(Clone, Debug)]
pub struct Decoration {
    /// The user.
    pub user: User,
    /// A fresh token.
    pub token: Option<String>,
    /// Send as headers.
    pub header: bool,
    /// Send as cookies.
    pub cookie: bool,
    /// Cookie `Domain`.
    pub domain: Option<String>,
    /// The connection is TLS (`Secure` cookies).
    pub secure: bool,
}

impl Decoration {
    /// Add the headers to a response.
    pub fn apply(&self, h: &mut HeaderMap) {
        let u = &self.user;
        let home = (!u.home.is_empty()).then_some("~/");
        let group = (!u.group.is_empty()).then_some(u.group.as_str());
        let mut add = |name: &'static str, value: &str| {
            if let Ok(v) = HeaderValue::from_str(value) {
                h.append(HeaderName::from_static(name), v);
            }
        };
        if self.header || (!self.cookie && self.token.is_some()) {
            if let Some(t) = &self.token {
                add("x-auth-token", t);
            }
            if self.header {
                add("x-remote-user", &u.name);
                if let Some(g) = group {
                    add("x-remote-group", g);
                }
                if let Some(hm) = home {
                    add("x-remote-home", hm);
                }
            }
            add(
                "access-control-expose-headers",
                "X-Auth-Token, X-Remote-User, X-Remote-Group, X-Remote-Home",
            );
            return;
        }
        if !self.cookie {
            return;
        }
        let domain = self
            .domain
            .as_ref()
            .map(|d| format!("; Domain={d}"))
            .unwrap_or_default();
        let mut set = |name: &str, value: &str, extra: &str| {
            let c = format!("{name}={value}; Path=/; SameSite=Strict{extra}{domain}");
            if let Ok(v) = HeaderValue::from_str(&c) {
                h.append(SET_COOKIE, v);
            }
        };
        if let Some(t) = &self.token {
            let secure = if self.secure { "; Secure" } else { "" };
            set(TOKEN_NAME, t, &format!("; HttpOnly{secure}"));
        }
        if is_cookie_value(&u.name) {
            set("X-Remote-User", &u.name, "");
        }
        if let Some(g) = group.filter(|g| is_cookie_value(g)) {
            set("X-Remote-Group", g, "");
        }
        if let Some(hm) = home {
            set("X-Remote-Home", hm, "");
        }
    }
}

/// Whether `v` may be written as a cookie value without quoting.
fn is_cookie_value(v: &str) -> bool {
    v.bytes()
        .all(|b| b.is_ascii_graphic() && !matches!(b, b'"' | b',' | b';' | b'\\'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    fn user() -> User {
        User {
            name: "foo".into(),
            group: "users".into(),
            home: "/home/foo".into(),
            status: "activated".into(),
            auth_type: "Basic",
        }
    }

    fn sign(secret: &str, header: &str, payload: &str) -> String {
        use hmac::{KeyInit as _, Mac as _};
        let h = URL_SAFE_NO_PAD.encode(header);
        let p = URL_SAFE_NO_PAD.encode(payload);
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{h}.{p}").as_bytes());
        let s = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{h}.{p}.{s}")
    }

    #[test]
    fn issue_then_verify() {
        let t = Tokens::new("a shared secret!", 60);
        let tok = t.issue(&user(), &["sqlite".into()]).unwrap();
        let c = t.verify(&tok, "sqlite").unwrap();
        assert_eq!(c.user.name, "foo");
        assert_eq!(c.user.group, "users");
        assert_eq!(c.user.home, "/home/foo");
        assert_eq!(c.issuers, vec!["sqlite".to_string()]);
        // Another instance with the same secret accepts it.
        assert!(
            Tokens::new("a shared secret!", 5)
                .verify(&tok, "sqlite")
                .is_ok()
        );
        assert!(
            Tokens::new("another secret!!", 60)
                .verify(&tok, "sqlite")
                .is_err()
        );
        // A two-factor verifier needs both issuers.
        assert!(matches!(
            t.verify(&tok, "sqlite+totp"),
            Err(TokenError::Issuer(_))
        ));
        let two = t.issue(&user(), &["sqlite".into(), "totp".into()]).unwrap();
        assert!(t.verify(&two, "sqlite+totp").is_ok());
    }

    /// A token as the original writes it (its exact JSON) is accepted.
    #[test]
    fn ouistiti_token_accepted() {
        let exp = jsonwebtoken::get_current_timestamp() + 600;
        let tok = sign(
            "secret",
            r#"{"alg": "HS256", "typ": "JWT"}"#,
            &format!(
                r#"{{"user": "foo", "home": "/home/foo", "status": "activated", "roles": ["admin", "users"], "exp": {exp}, "iss": "sqlite+totp"}}"#
            ),
        );
        let c = Tokens::new("secret", 60).verify(&tok, "totp").unwrap();
        assert_eq!(
            (c.user.name.as_str(), c.user.group.as_str()),
            ("foo", "admin")
        );
    }

    #[test]
    fn refused_tokens() {
        let t = Tokens::new("secret", 60);
        let now = jsonwebtoken::get_current_timestamp();
        let good = format!(r#"{{"user":"foo","exp":{},"iss":"x"}}"#, now + 600);
        assert!(
            t.verify(
                &sign("secret", r#"{"alg":"HS256","typ":"JWT"}"#, &good),
                "x"
            )
            .is_ok()
        );
        // Bad signature.
        assert!(
            t.verify(&sign("other", r#"{"alg":"HS256"}"#, &good), "x")
                .is_err()
        );
        // Expired.
        let old = format!(r#"{{"user":"foo","exp":{},"iss":"x"}}"#, now - 3600);
        assert!(
            t.verify(&sign("secret", r#"{"alg":"HS256"}"#, &old), "x")
                .is_err()
        );
        // No exp.
        assert!(
            t.verify(
                &sign(
                    "secret",
                    r#"{"alg":"HS256"}"#,
                    r#"{"user":"foo","iss":"x"}"#
                ),
                "x"
            )
            .is_err()
        );
        // Wrong issuer.
        assert!(
            t.verify(&sign("secret", r#"{"alg":"HS256"}"#, &good), "y")
                .is_err()
        );
        // alg none, unsigned and signed.
        let h = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
        let p = URL_SAFE_NO_PAD.encode(&good);
        assert!(t.verify(&format!("{h}.{p}."), "x").is_err());
        assert!(
            t.verify(&sign("secret", r#"{"alg":"none"}"#, &good), "x")
                .is_err()
        );
        // Other algorithms (confusion).
        assert!(
            t.verify(&sign("secret", r#"{"alg":"HS512"}"#, &good), "x")
                .is_err()
        );
        assert!(
            t.verify(&sign("secret", r#"{"alg":"RS256"}"#, &good), "x")
                .is_err()
        );
        // Wrong typ.
        assert!(matches!(
            t.verify(
                &sign("secret", r#"{"alg":"HS256","typ":"JWE"}"#, &good),
                "x"
            ),
            Err(TokenError::Type)
        ));
        // Refused status.
        let rep = format!(
            r#"{{"user":"foo","exp":{},"iss":"x","status":"repudiated"}}"#,
            now + 60
        );
        assert!(
            t.verify(&sign("secret", r#"{"alg":"HS256"}"#, &rep), "x")
                .is_err()
        );
        // Malformed.
        for bad in ["", "a", "a.b", "a.b.c", "...", "e30.e30.", "%%%.%%%.%%%"] {
            assert!(t.verify(bad, "x").is_err(), "{bad}");
        }
    }

    #[test]
    fn token_sources_and_schemes() {
        let req = |h: &[(&str, &str)]| {
            let mut b = http::Request::builder();
            for (k, v) in h {
                b = b.header(*k, *v);
            }
            b.body(()).unwrap().into_parts().0
        };
        assert_eq!(find(&req(&[("authorization", "bearer abc")])), Some("abc"));
        assert_eq!(find(&req(&[("x-auth-token", "t1")])), Some("t1"));
        assert_eq!(
            find(&req(&[("cookie", "a=b; X-Auth-Token=t2; c=d")])),
            Some("t2")
        );
        assert_eq!(find(&req(&[("authorization", "Basic abc")])), None);
        assert_eq!(find(&req(&[("cookie", "X-Auth-Tokenx=t")])), None);
        assert_eq!(strip_scheme("Basic  Zm9v", "basic"), Some("Zm9v"));
        assert_eq!(strip_scheme("Basicx Zm9v", "Basic"), None);
        assert_eq!(strip_scheme("Bas", "Basic"), None);
    }

    #[test]
    fn domains() {
        assert_eq!(
            cookie_domain("www.example.org").as_deref(),
            Some(".example.org")
        );
        assert_eq!(
            cookie_domain("www.example.org:8080").as_deref(),
            Some(".example.org")
        );
        assert_eq!(cookie_domain("ouistiti.local"), None);
        assert_eq!(cookie_domain("localhost"), None);
        assert_eq!(cookie_domain("127.0.0.1"), None);
    }

    #[test]
    fn decoration_cookies_and_headers() {
        let mut d = Decoration {
            user: user(),
            token: Some("T".into()),
            header: false,
            cookie: true,
            domain: Some(".example.org".into()),
            secure: false,
        };
        let mut h = HeaderMap::new();
        d.apply(&mut h);
        let cookies: Vec<_> = h
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert_eq!(
            cookies,
            [
                "X-Auth-Token=T; Path=/; SameSite=Strict; HttpOnly; Domain=.example.org",
                "X-Remote-User=foo; Path=/; SameSite=Strict; Domain=.example.org",
                "X-Remote-Group=users; Path=/; SameSite=Strict; Domain=.example.org",
                "X-Remote-Home=~/; Path=/; SameSite=Strict; Domain=.example.org",
            ]
        );
        d.header = true;
        let mut h = HeaderMap::new();
        d.apply(&mut h);
        assert_eq!(h["x-auth-token"], "T");
        assert_eq!(h["x-remote-user"], "foo");
        assert_eq!(h["x-remote-group"], "users");
        assert_eq!(h["x-remote-home"], "~/");
        assert!(h.get(SET_COOKIE).is_none());
    }
}
