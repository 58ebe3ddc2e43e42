//! ID token validation (OpenID Connect Core §3.1.3.7).
//!
//! Checked, in order: the algorithm is an asymmetric one we allow (never
//! `none`, never HMAC: a provider's ID tokens are verified with its public
//! keys only, so no algorithm confusion with the client secret); the
//! signature, with the provider's key for the token's `kid`; `iss` is the
//! configured issuer exactly; `aud` contains our `client_id`, and `azp`,
//! when present or when `aud` has several members, is our `client_id`;
//! `exp` is in the future and `iat` not in the future (60 s leeway each);
//! `sub` is present; `nonce` is the one this login sent.

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use super::provider::{Provider, ProviderError};
use crate::modules::auth::crypt::ct_eq;

/// Clock skew tolerated on `exp` and `iat`, in seconds.
pub const LEEWAY: u64 = 60;

/// The algorithms accepted for ID tokens.
pub const ALGORITHMS: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// Why an ID token was refused.
#[derive(Debug, thiserror::Error)]
pub enum IdTokenError {
    /// Not a JWT, or an algorithm we do not accept.
    #[error("malformed ID token or refused algorithm: {0}")]
    Header(String),
    /// No key to check it with (or the provider is unreachable).
    #[error(transparent)]
    Key(#[from] ProviderError),
    /// Signature, `iss`, `aud`, `exp`: what jsonwebtoken refused.
    #[error("ID token refused: {0}")]
    Invalid(#[from] jsonwebtoken::errors::Error),
    /// `iat` missing or in the future.
    #[error("ID token `iat` missing or in the future")]
    IssuedAt,
    /// `azp` is not our client.
    #[error("ID token authorized party is not this client")]
    Azp,
    /// `nonce` differs from the one sent.
    #[error("ID token nonce does not match this login")]
    Nonce,
}

impl IdTokenError {
    /// Whether the provider, not the token, is at fault (502, not 401).
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            IdTokenError::Key(ProviderError::Client(_) | ProviderError::Discovery(_))
        )
    }
}

/// What an ID token must say.
pub struct Expected<'a> {
    /// `iss`.
    pub issuer: &'a str,
    /// Our `client_id` (in `aud`, and `azp`).
    pub client_id: &'a str,
    /// The login's `nonce`.
    pub nonce: &'a str,
}

/// Verify `token` with `provider`'s keys; its claims.
pub async fn validate(
    provider: &Provider,
    token: &str,
    expected: &Expected<'_>,
    now: u64,
) -> Result<Map<String, Value>, IdTokenError> {
    let header =
        jsonwebtoken::decode_header(token).map_err(|e| IdTokenError::Header(e.to_string()))?;
    if !ALGORITHMS.contains(&header.alg) {
        return Err(IdTokenError::Header(format!("{:?}", header.alg)));
    }
    let key = provider.key(header.kid.as_deref(), header.alg).await?;
    check(token, &key, header.alg, expected, now)
}

/// Verify `token`, signed with `alg`, against `key`.
pub fn check(
    token: &str,
    key: &DecodingKey,
    alg: Algorithm,
    expected: &Expected<'_>,
    now: u64,
) -> Result<Map<String, Value>, IdTokenError> {
    let mut v = Validation::new(alg);
    v.set_issuer(&[expected.issuer]);
    v.set_audience(&[expected.client_id]);
    v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    v.leeway = LEEWAY;
    let claims = jsonwebtoken::decode::<Map<String, Value>>(token, key, &v)?.claims;
    match claims.get("iat").and_then(Value::as_u64) {
        Some(iat) if iat <= now + LEEWAY => {}
        _ => return Err(IdTokenError::IssuedAt),
    }
    let several = claims
        .get("aud")
        .and_then(Value::as_array)
        .is_some_and(|a| a.len() > 1);
    match claims.get("azp").and_then(Value::as_str) {
        Some(azp) if azp != expected.client_id => return Err(IdTokenError::Azp),
        None if several => return Err(IdTokenError::Azp),
        _ => {}
    }
    let nonce = claims.get("nonce").and_then(Value::as_str).unwrap_or("");
    if !ct_eq(nonce.as_bytes(), expected.nonce.as_bytes()) {
        return Err(IdTokenError::Nonce);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;

    /// A P-256 test key: PKCS#8 DER (standard base64) and its public
    /// point (JWK `x`, `y`).
    const PRIVATE: &str = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg3P2f1fReFeTV1MmjMQ7FJYG+2X0KTkWWfRv2xbW2ioKhRANCAASA6YuDnS+yDdnc1wK7knnu8qNU092ap75QxeiqUm3tuLqw8jzpTwqDO6d2Y/wlHfFJ0uZ6gkrn972xxjuAFiiu";
    const X: &str = "gOmLg50vsg3Z3NcCu5J57vKjVNPdmqe-UMXoqlJt7bg";
    const Y: &str = "urDyPOlPCoM7p3Zj_CUd8UnS5nqCSuf3vbHGO4AWKK4";
    const NOW: u64 = 1_900_000_000;

    fn expected() -> Expected<'static> {
        Expected {
            issuer: "https://op.example",
            client_id: "marmoset",
            nonce: "n-0S6",
        }
    }

    fn claims() -> Value {
        json!({"iss": "https://op.example", "aud": "marmoset", "sub": "248289761001",
               "exp": NOW + 300, "iat": NOW, "nonce": "n-0S6", "preferred_username": "alice"})
    }

    fn sign(c: &Value) -> String {
        use base64::Engine as _;
        let der = base64::engine::general_purpose::STANDARD
            .decode(PRIVATE)
            .unwrap();
        let key = EncodingKey::from_ec_der(&der);
        jsonwebtoken::encode(&Header::new(Algorithm::ES256), c, &key).unwrap()
    }

    fn public() -> DecodingKey {
        DecodingKey::from_ec_components(X, Y).unwrap()
    }

    fn run(c: &Value) -> Result<Map<String, Value>, IdTokenError> {
        let key = public();
        check(&sign(c), &key, Algorithm::ES256, &expected(), NOW)
    }

    fn with(k: &str, v: Value) -> Value {
        let mut c = claims();
        c[k] = v;
        c
    }

    #[test]
    fn valid_token() {
        // jsonwebtoken checks `exp` against the real clock: use one far
        // enough ahead for the test's lifetime.
        let c = run(&claims()).unwrap();
        assert_eq!(c["preferred_username"], "alice");
        assert!(run(&with("aud", json!(["other", "marmoset"]))).is_err());
        assert!(
            run(&{
                let mut c = with("aud", json!(["other", "marmoset"]));
                c["azp"] = json!("marmoset");
                c
            })
            .is_ok()
        );
    }

    #[test]
    fn refused_claims() {
        let real_now = jsonwebtoken::get_current_timestamp();
        for (what, c) in [
            ("issuer", with("iss", json!("https://evil.example"))),
            ("audience", with("aud", json!("someone-else"))),
            ("expired", with("exp", json!(real_now - 3600))),
            ("iat ahead", with("iat", json!(NOW + 3600))),
            ("no iat", {
                let mut c = claims();
                c.as_object_mut().unwrap().remove("iat");
                c
            }),
            ("no sub", {
                let mut c = claims();
                c.as_object_mut().unwrap().remove("sub");
                c
            }),
            ("nonce", with("nonce", json!("other"))),
            ("no nonce", {
                let mut c = claims();
                c.as_object_mut().unwrap().remove("nonce");
                c
            }),
            ("azp", with("azp", json!("other"))),
        ] {
            assert!(run(&c).is_err(), "{what} accepted");
        }
    }

    #[test]
    fn refused_signatures() {
        let key = public();
        let good = sign(&claims());
        // A payload changed under the same signature.
        let (h, rest) = good.split_once('.').unwrap();
        let (_, s) = rest.split_once('.').unwrap();
        use base64::Engine as _;
        let p = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(with("preferred_username", json!("root")).to_string());
        let forged = format!("{h}.{p}.{s}");
        assert!(check(&forged, &key, Algorithm::ES256, &expected(), NOW).is_err());
        // HMAC with the public key as secret (algorithm confusion).
        let hs = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims(),
            &EncodingKey::from_secret(X.as_bytes()),
        )
        .unwrap();
        assert!(check(&hs, &key, Algorithm::ES256, &expected(), NOW).is_err());
        assert!(!ALGORITHMS.contains(&Algorithm::HS256));
    }
}
