//! The login in flight: `state`, `nonce`, the PKCE verifier, the
//! `redirect_uri` sent and the page to return to.
//!
//! They live in the browser, in a short-lived (10 minutes), `HttpOnly`,
//! `SameSite=Lax` cookie signed with HMAC-SHA256 under a key derived from
//! the section's `secret`: nothing is kept in the server's memory between
//! the redirect and the callback, so the flow works across connections,
//! threads, restarts and in process mode (each connection its own child).
//! `Lax` because the callback is a top-level navigation coming from the
//! provider's site: a `Strict` cookie would not be sent with it.
//!
//! The cookie's name carries the first characters of its `state`, so two
//! logins in two tabs do not overwrite each other. A callback whose state
//! has no matching, valid cookie is refused; a used state is remembered
//! (in memory, until it expires) and refused when replayed with the same
//! cookie, and the cookie is deleted by the callback's answer. The code is
//! single-use at the provider, which refuses a replay in every mode.
//!
//! The cookie is signed, not encrypted: the browser that started the login
//! can read its nonce and verifier, which protect that same browser's flow
//! (against a code injected by someone else) and are worth nothing to
//! anyone else.

use std::collections::HashMap;
use std::sync::Mutex;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::Mac as _;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::modules::auth::crypt::{ct_eq, random};

/// How long a login may take, in seconds.
pub const LIFETIME: u64 = 600;
/// Prefix of the state cookies' names.
pub const COOKIE_PREFIX: &str = "MarmosetOidc-";
/// Used states remembered at most (older ones are dropped first).
const MAX_USED: usize = 10_000;

type HmacSha256 = hmac::Hmac<Sha256>;

/// One login in flight.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pending {
    /// The `state` parameter (random, URL-safe).
    pub state: String,
    /// The `nonce` the ID token must carry.
    pub nonce: String,
    /// The PKCE `code_verifier`.
    pub verifier: String,
    /// The `redirect_uri` sent (the token request repeats it).
    pub redirect_uri: String,
    /// Where to send the browser afterwards (a path on this server).
    pub back_to: String,
    /// Unix time after which the login is refused.
    pub expires: u64,
}

impl Pending {
    /// A fresh login returning to `back_to`.
    pub fn new(redirect_uri: String, back_to: String, now: u64) -> Pending {
        let r = || URL_SAFE_NO_PAD.encode(random::<32>());
        Pending {
            state: r(),
            nonce: r(),
            verifier: r(),
            redirect_uri,
            back_to,
            expires: now + LIFETIME,
        }
    }

    /// The PKCE S256 `code_challenge` of the verifier.
    pub fn challenge(&self) -> String {
        URL_SAFE_NO_PAD.encode(Sha256::digest(self.verifier.as_bytes()))
    }

    /// The name of this login's cookie.
    pub fn cookie_name(&self) -> String {
        cookie_name(&self.state)
    }
}

/// The cookie name for `state`.
pub fn cookie_name(state: &str) -> String {
    let short: String = state.chars().take(12).collect();
    format!("{COOKIE_PREFIX}{short}")
}

/// Signs and checks the state cookies, remembers used states.
pub struct StateKeeper {
    key: [u8; 32],
    used: Mutex<HashMap<String, u64>>,
}

/// Why a callback's state is refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// No cookie for this state (unknown state, or another browser).
    #[error("unknown state (no login in flight in this browser)")]
    Unknown,
    /// The cookie is not ours or was altered.
    #[error("state cookie has a bad signature")]
    Forged,
    /// The login took too long.
    #[error("login expired")]
    Expired,
    /// The state was already used.
    #[error("state already used (replay)")]
    Replayed,
}

impl StateKeeper {
    /// A keeper whose key is derived from `secret` (so the tokens' key is
    /// never used for anything else).
    pub fn new(secret: &str) -> StateKeeper {
        let mut mac = mac(secret.as_bytes());
        mac.update(b"marmoset openid state cookie");
        StateKeeper {
            key: mac.finalize().into_bytes().into(),
            used: Mutex::default(),
        }
    }

    /// The cookie value for `p`.
    pub fn seal(&self, p: &Pending) -> String {
        let body = json!({
            "s": p.state, "n": p.nonce, "v": p.verifier,
            "u": p.redirect_uri, "b": p.back_to, "e": p.expires,
        });
        let body = URL_SAFE_NO_PAD.encode(body.to_string());
        let sig = self.sign(&body);
        format!("{body}.{sig}")
    }

    /// The login `value` (a cookie) stands for, if it is ours, for `state`,
    /// unexpired and unused; the state is then marked used.
    pub fn open(&self, value: Option<&str>, state: &str, now: u64) -> Result<Pending, StateError> {
        let value = value.ok_or(StateError::Unknown)?;
        let (body, sig) = value.rsplit_once('.').ok_or(StateError::Forged)?;
        if !ct_eq(self.sign(body).as_bytes(), sig.as_bytes()) {
            return Err(StateError::Forged);
        }
        let json: Value = URL_SAFE_NO_PAD
            .decode(body)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(StateError::Forged)?;
        let text = |k: &str| json.get(k).and_then(Value::as_str).map(str::to_string);
        let p = Pending {
            state: text("s").ok_or(StateError::Forged)?,
            nonce: text("n").ok_or(StateError::Forged)?,
            verifier: text("v").ok_or(StateError::Forged)?,
            redirect_uri: text("u").ok_or(StateError::Forged)?,
            back_to: text("b").ok_or(StateError::Forged)?,
            expires: json
                .get("e")
                .and_then(Value::as_u64)
                .ok_or(StateError::Forged)?,
        };
        if !ct_eq(p.state.as_bytes(), state.as_bytes()) {
            return Err(StateError::Unknown);
        }
        if now > p.expires {
            return Err(StateError::Expired);
        }
        let mut used = self
            .used
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if used.contains_key(&p.state) {
            return Err(StateError::Replayed);
        }
        if used.len() >= MAX_USED {
            used.retain(|_, exp| *exp >= now);
        }
        if used.len() >= MAX_USED
            && let Some(oldest) = used.iter().min_by_key(|(_, e)| **e).map(|(k, _)| k.clone())
        {
            used.remove(&oldest);
        }
        used.insert(p.state.clone(), p.expires);
        Ok(p)
    }

    fn sign(&self, body: &str) -> String {
        let mut m = mac(&self.key);
        m.update(body.as_bytes());
        URL_SAFE_NO_PAD.encode(m.finalize().into_bytes())
    }
}

fn mac(key: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length.
    <HmacSha256 as hmac::KeyInit>::new_from_slice(key).unwrap_or_else(|_| unreachable!())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending() -> Pending {
        Pending::new("http://dev/cb".into(), "/private/a?b=1".into(), 1000)
    }

    #[test]
    fn seal_then_open_once() {
        let k = StateKeeper::new("a shared secret!");
        let p = pending();
        let v = k.seal(&p);
        assert_eq!(k.open(Some(&v), &p.state, 1001), Ok(p.clone()));
        assert_eq!(k.open(Some(&v), &p.state, 1001), Err(StateError::Replayed));
    }

    #[test]
    fn refusals() {
        let k = StateKeeper::new("a shared secret!");
        let p = pending();
        let v = k.seal(&p);
        assert_eq!(k.open(None, &p.state, 1001), Err(StateError::Unknown));
        assert_eq!(k.open(Some(&v), "other", 1001), Err(StateError::Unknown));
        assert_eq!(
            k.open(Some(&v), &p.state, 1000 + LIFETIME + 1),
            Err(StateError::Expired)
        );
        let other = StateKeeper::new("another secret!!");
        assert_eq!(
            other.open(Some(&v), &p.state, 1001),
            Err(StateError::Forged)
        );
        let (body, sig) = v.rsplit_once('.').unwrap();
        let mut b = body.to_string();
        b.replace_range(0..1, if b.starts_with('A') { "B" } else { "A" });
        assert_eq!(
            k.open(Some(&format!("{b}.{sig}")), &p.state, 1001),
            Err(StateError::Forged)
        );
        assert_eq!(
            k.open(Some("garbage"), &p.state, 1001),
            Err(StateError::Forged)
        );
    }

    /// RFC 7636 appendix B.
    #[test]
    fn pkce_s256() {
        let mut p = pending();
        p.verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".into();
        assert_eq!(p.challenge(), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
        assert!(p.cookie_name().starts_with(COOKIE_PREFIX));
    }
}
