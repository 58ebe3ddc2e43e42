//! What the server knows about the provider: its end points (discovery)
//! and its signing keys (JWKS), fetched when first needed and cached.
//!
//! Nothing is fetched at start-up: a device often boots before its
//! network, and a provider that is down for a minute should cost the
//! logins of that minute, not the server. A failed fetch is not cached;
//! the login that needed it gets `502` and the next one tries again.
//!
//! Keys are looked up by the ID token's `kid`. An unknown `kid` makes the
//! set be fetched again, once per token, which is how a key rotation at the
//! provider is picked up; the set is also refreshed after an hour, so a
//! key the provider withdrew stops being accepted.
//! In process mode each connection's child starts with the parent's
//! (empty) cache and fetches what it needs.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;

use super::client::{ClientError, HttpClient};
use super::config::{OidcConfig, is_http_url};

/// How long discovery and keys are trusted before being fetched again.
const MAX_AGE: Duration = Duration::from_secs(3600);

/// The provider's end points.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoints {
    /// `authorization_endpoint`.
    pub auth: String,
    /// `token_endpoint`.
    pub token: String,
    /// `jwks_uri`.
    pub jwks: String,
    /// `userinfo_endpoint`, when the provider has one.
    pub userinfo: Option<String>,
}

/// Why the provider could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// It could not be reached or answered garbage.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The discovery document is unusable.
    #[error("discovery: {0}")]
    Discovery(String),
    /// No key of the set verifies tokens with this `kid` and algorithm.
    #[error("no signing key `{kid}` for {alg:?} at the provider")]
    UnknownKey {
        /// The token's `kid`.
        kid: String,
        /// The token's algorithm.
        alg: Algorithm,
    },
}

struct Cached<T> {
    value: Arc<T>,
    at: Instant,
}

impl<T> Cached<T> {
    fn fresh(slot: &RwLock<Option<Cached<T>>>) -> Option<Arc<T>> {
        let guard = slot
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        guard
            .as_ref()
            .filter(|c| c.at.elapsed() < MAX_AGE)
            .map(|c| c.value.clone())
    }

    fn store(slot: &RwLock<Option<Cached<T>>>, value: Arc<T>) {
        let mut guard = slot
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *guard = Some(Cached {
            value,
            at: Instant::now(),
        });
    }
}

/// One provider: its configuration, client and caches.
pub struct Provider {
    issuer: String,
    explicit: (Option<String>, Option<String>, Option<String>),
    client: HttpClient,
    endpoints: RwLock<Option<Cached<Endpoints>>>,
    keys: RwLock<Option<Cached<JwkSet>>>,
}

impl Provider {
    /// The provider of `cfg`, reached with `client`.
    pub fn new(cfg: &OidcConfig, client: HttpClient) -> Provider {
        Provider {
            issuer: cfg.issuer_url.clone(),
            explicit: (
                cfg.auth_ep.clone(),
                cfg.token_ep.clone(),
                cfg.jwks_uri.clone(),
            ),
            client,
            endpoints: RwLock::default(),
            keys: RwLock::default(),
        }
    }

    /// The issuer ID tokens must name.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The HTTP client.
    pub fn client(&self) -> &HttpClient {
        &self.client
    }

    /// The end points: configured, else discovered.
    pub async fn endpoints(&self) -> Result<Arc<Endpoints>, ProviderError> {
        if let (Some(a), Some(t), Some(j)) = &self.explicit {
            return Ok(Arc::new(Endpoints {
                auth: a.clone(),
                token: t.clone(),
                jwks: j.clone(),
                userinfo: None,
            }));
        }
        if let Some(e) = Cached::fresh(&self.endpoints) {
            return Ok(e);
        }
        let url = format!("{}/.well-known/openid-configuration", self.issuer);
        let doc = self.client.get_json(&url).await?;
        let e = Arc::new(self.read_discovery(&doc)?);
        log::info!("auth: discovered the OpenID provider {}", self.issuer);
        Cached::store(&self.endpoints, e.clone());
        Ok(e)
    }

    fn read_discovery(&self, doc: &Value) -> Result<Endpoints, ProviderError> {
        let text = |k: &str| doc.get(k).and_then(Value::as_str);
        // OpenID Connect Discovery §4.3: the document's issuer must be
        // exactly the one it was fetched for.
        let iss = text("issuer").unwrap_or("");
        if iss.trim_end_matches('/') != self.issuer {
            return Err(ProviderError::Discovery(format!(
                "issuer `{iss}` is not the configured `{}`",
                self.issuer
            )));
        }
        let pick = |given: &Option<String>, key: &str| -> Result<String, ProviderError> {
            match given {
                Some(g) => Ok(g.clone()),
                None => text(key)
                    .filter(|u| is_http_url(u))
                    .map(str::to_string)
                    .ok_or_else(|| ProviderError::Discovery(format!("no usable `{key}`"))),
            }
        };
        Ok(Endpoints {
            auth: pick(&self.explicit.0, "authorization_endpoint")?,
            token: pick(&self.explicit.1, "token_endpoint")?,
            jwks: pick(&self.explicit.2, "jwks_uri")?,
            userinfo: text("userinfo_endpoint")
                .filter(|u| is_http_url(u))
                .map(str::to_string),
        })
    }

    /// The key verifying a token signed with `alg` under `kid`; the set is
    /// fetched again (once) when the key is not in the cached one.
    pub async fn key(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<DecodingKey, ProviderError> {
        let unknown = || ProviderError::UnknownKey {
            kid: kid.unwrap_or("").into(),
            alg,
        };
        if let Some(set) = Cached::fresh(&self.keys)
            && let Some(k) = select(&set, kid, alg)
        {
            return Ok(k);
        }
        let jwks = self.endpoints().await?.jwks.clone();
        let doc = self.client.get_json(&jwks).await?;
        let set: JwkSet = serde_json::from_value(strip_unusable(doc))
            .map_err(|e| ProviderError::Discovery(format!("{jwks}: not a JWK set ({e})")))?;
        log::info!(
            "auth: fetched {} signing key(s) from {jwks} (looking for `{}`)",
            set.keys.len(),
            kid.unwrap_or("")
        );
        let set = Arc::new(set);
        Cached::store(&self.keys, set.clone());
        select(&set, kid, alg).ok_or_else(unknown)
    }
}

/// Drop keys of kinds the JWK parser does not know (a provider may publish
/// encryption keys or new key types beside its signing keys).
fn strip_unusable(mut doc: Value) -> Value {
    if let Some(keys) = doc.get_mut("keys").and_then(Value::as_array_mut) {
        keys.retain(|k| serde_json::from_value::<Jwk>(k.clone()).is_ok());
    }
    doc
}

/// The key of `set` for `kid` that may verify `alg` signatures. Without a
/// `kid` the set must hold exactly one such key.
fn select(set: &JwkSet, kid: Option<&str>, alg: Algorithm) -> Option<DecodingKey> {
    let usable = |k: &&Jwk| {
        let for_signing =
            !matches!(k.common.public_key_use, Some(ref u) if *u != PublicKeyUse::Signature);
        let alg_ok = k
            .common
            .key_algorithm
            .is_none_or(|ka| ka.to_string() == format!("{alg:?}"));
        for_signing && alg_ok
    };
    let mut candidates = set.keys.iter().filter(usable).filter(|k| match kid {
        Some(kid) => k.common.key_id.as_deref() == Some(kid),
        None => true,
    });
    let jwk = candidates.next()?;
    if kid.is_none() && candidates.next().is_some() {
        return None;
    }
    let key = DecodingKey::from_jwk(jwk).ok()?;
    (key.family() == alg.family()).then_some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RSA_N: &str = "u1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gunVTLw7onLRnrq0_IzW7yWR7QkrmBL7jTKEn5u-qKhbwKfBstIs-bMY2Zkp18gnTxKLxoS2tFczGkPLPgizskuemMghRniWaoLcyehkd3qqGElvW_VDL5AaWTg0nLVkjRo9z-40RQzuVaE8AkAFmxZzow3x-VJYKdjykkJ0iT9wCS0DRTXu269V264Vf_3jvredZiKRkgwlL9xNAwxXFg0x_XFw005UWVRIkdgcKWTjpBP2dPwVZ4WWC-9aGVd-Gyn1o0CLelf4rEjGoXbAAEgAqeGUxrcIlbjXfbcmw";

    fn set(json: &str) -> JwkSet {
        serde_json::from_value(strip_unusable(serde_json::from_str(json).unwrap())).unwrap()
    }

    #[test]
    fn key_selection() {
        let s = set(&format!(
            r#"{{"keys":[
                {{"kty":"RSA","kid":"a","use":"sig","alg":"RS256","n":"{RSA_N}","e":"AQAB"}},
                {{"kty":"RSA","kid":"enc","use":"enc","n":"{RSA_N}","e":"AQAB"}},
                {{"kty":"RSA","kid":5}}
            ]}}"#
        ));
        assert_eq!(s.keys.len(), 2, "the unparsable key is dropped");
        assert!(select(&s, Some("a"), Algorithm::RS256).is_some());
        // Not for another algorithm than the key's, nor for HMAC.
        assert!(select(&s, Some("a"), Algorithm::RS512).is_none());
        assert!(select(&s, Some("a"), Algorithm::HS256).is_none());
        // Encryption keys never verify; unknown kids are unknown.
        assert!(select(&s, Some("enc"), Algorithm::RS256).is_none());
        assert!(select(&s, Some("b"), Algorithm::RS256).is_none());
        // Without kid: the only signing key.
        assert!(select(&s, None, Algorithm::RS256).is_some());
        // An RSA key does not verify ES256.
        let s = set(&format!(
            r#"{{"keys":[{{"kty":"RSA","kid":"a","n":"{RSA_N}","e":"AQAB"}}]}}"#
        ));
        assert!(select(&s, Some("a"), Algorithm::ES256).is_none());
    }
}
