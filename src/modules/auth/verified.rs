//! A short-lived memory of successful slow password checks.
//!
//! Basic sends the password with every request, and a deliberately slow
//! hash (argon2: tens of milliseconds) would make every page asset cost
//! that much. After a successful check of a slow format, a keyed MAC of
//! `user ‖ password ‖ stored value` (HMAC-SHA256 under a per-process random
//! key — never the password itself) is remembered for [`TTL`]; the same
//! triple within that time is accepted without hashing again. A changed
//! stored value (new password) changes the key, so it is never reused.
//! Failures are never remembered. The table is bounded.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hmac::{KeyInit as _, Mac as _};

/// How long a successful check is remembered.
pub const TTL: Duration = Duration::from_secs(300);
const MAX_ENTRIES: usize = 1024;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// Remembered successful checks.
pub struct Verified {
    key: [u8; 64],
    seen: Mutex<HashMap<[u8; 32], Instant>>,
}

impl Default for Verified {
    fn default() -> Self {
        let mut key = [0u8; 64];
        key[..32].copy_from_slice(&super::crypt::random::<32>());
        Verified {
            key,
            seen: Mutex::new(HashMap::new()),
        }
    }
}

impl Verified {
    fn mac(&self, user: &str, password: &str, stored: &str) -> [u8; 32] {
        let mut m = HmacSha256::new(&self.key.into());
        for part in [user, password, stored] {
            m.update(&(part.len() as u64).to_be_bytes());
            m.update(part.as_bytes());
        }
        m.finalize().into_bytes().into()
    }

    /// Whether this triple was checked successfully less than [`TTL`] ago.
    pub fn contains(&self, user: &str, password: &str, stored: &str) -> bool {
        let k = self.mac(user, password, stored);
        let seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        seen.get(&k).is_some_and(|t| t.elapsed() < TTL)
    }

    /// Remember a successful check.
    pub fn insert(&self, user: &str, password: &str, stored: &str) {
        let k = self.mac(user, password, stored);
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if seen.len() >= MAX_ENTRIES {
            seen.retain(|_, t| t.elapsed() < TTL);
            if seen.len() >= MAX_ENTRIES {
                seen.clear();
            }
        }
        seen.insert(k, Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_exact_triples_only() {
        let v = Verified::default();
        assert!(!v.contains("u", "p", "$argon2id$x"));
        v.insert("u", "p", "$argon2id$x");
        assert!(v.contains("u", "p", "$argon2id$x"));
        assert!(!v.contains("u", "p2", "$argon2id$x"));
        assert!(!v.contains("u", "p", "$argon2id$y"));
        assert!(!v.contains("v", "p", "$argon2id$x"));
        // Field boundaries matter.
        v.insert("ab", "c", "s");
        assert!(!v.contains("a", "bc", "s"));
        // Another process (key) remembers nothing.
        assert!(!Verified::default().contains("u", "p", "$argon2id$x"));
        for i in 0..(MAX_ENTRIES + 10) {
            v.insert(&i.to_string(), "p", "s");
        }
        assert!(v.seen.lock().unwrap().len() <= MAX_ENTRIES);
    }
}
