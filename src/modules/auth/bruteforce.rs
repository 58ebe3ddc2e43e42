//! Brute-force protection: failed sign-ins are counted per client address;
//! after `maxfailures` failures, each less than `lockout` seconds after the
//! previous one, the address is locked out for `lockout` seconds — its
//! credentials are not even checked, the answer is `429 Too Many Requests`
//! with `Retry-After`. A success clears the count when every failure it
//! holds was for the same user name: someone with an account of their own
//! cannot reset the count of their guesses at other accounts by signing in
//! between them. The table is bounded: when full, entries that no longer
//! matter are dropped first, then the oldest.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const MAX_ENTRIES: usize = 4096;

struct Entry {
    failures: u32,
    last: Instant,
    locked_until: Option<Instant>,
    /// Whom the failures were for.
    names: Names,
}

/// The user names of an address's failures: one (kept as a keyed hash,
/// so that an entry's size does not depend on what a client sends), or
/// several.
#[derive(Clone, Copy, PartialEq)]
enum Names {
    One(u64),
    Several,
}

/// Failure counts per address.
pub struct Guard {
    max: u32,
    lockout: Duration,
    table: Mutex<HashMap<IpAddr, Entry>>,
    names: RandomState,
}

impl Guard {
    /// Lock an address out for `lockout` after `max` failures (0: never).
    pub fn new(max: u32, lockout: Duration) -> Guard {
        Guard {
            max,
            lockout,
            table: Mutex::new(HashMap::new()),
            names: RandomState::new(),
        }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Entry>> {
        self.table
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `Some(time left)` when `ip` is locked out now.
    pub fn locked(&self, ip: IpAddr) -> Option<Duration> {
        if self.max == 0 {
            return None;
        }
        let t = self.table();
        if t.is_empty() {
            // The usual case: nobody failed lately (no hashing, no clock).
            return None;
        }
        let until = t.get(&ip)?.locked_until?;
        let now = Instant::now();
        (until > now).then(|| until - now)
    }

    /// Record a failure to sign in as `user`; returns true when this
    /// failure locks `ip` out.
    pub fn failure(&self, ip: IpAddr, user: &str) -> bool {
        if self.max == 0 {
            return false;
        }
        let name = self.names.hash_one(user);
        let now = Instant::now();
        let mut t = self.table();
        if t.len() >= MAX_ENTRIES && !t.contains_key(&ip) {
            let lockout = self.lockout;
            t.retain(|_, e| {
                now.duration_since(e.last) < lockout || e.locked_until.is_some_and(|u| u > now)
            });
            if t.len() >= MAX_ENTRIES
                && let Some(oldest) = t.iter().min_by_key(|(_, e)| e.last).map(|(k, _)| *k)
            {
                t.remove(&oldest);
            }
        }
        let e = t.entry(ip).or_insert(Entry {
            failures: 0,
            last: now,
            locked_until: None,
            names: Names::One(name),
        });
        if now.duration_since(e.last) >= self.lockout || e.locked_until.is_some_and(|u| u <= now) {
            e.failures = 0;
            e.locked_until = None;
            e.names = Names::One(name);
        }
        if e.names != Names::One(name) {
            e.names = Names::Several;
        }
        e.failures += 1;
        e.last = now;
        if e.failures >= self.max && e.locked_until.is_none() {
            e.locked_until = Some(now + self.lockout);
            return true;
        }
        false
    }

    /// `user` signed in from `ip`: forget the failures of `ip` if they
    /// were all for `user` (mistyped passwords).
    pub fn success(&self, ip: IpAddr, user: &str) {
        if self.max == 0 {
            return;
        }
        let mut t = self.table();
        if t.is_empty() {
            return;
        }
        if t.get(&ip)
            .is_some_and(|e| e.names == Names::One(self.names.hash_one(user)))
        {
            t.remove(&ip);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_after_max_failures_and_success_resets() {
        let g = Guard::new(3, Duration::from_secs(60));
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        assert!(!g.failure(a, "u"));
        assert!(!g.failure(a, "u"));
        g.success(a, "u");
        assert!(!g.failure(a, "u"));
        assert!(!g.failure(a, "u"));
        assert!(g.locked(a).is_none());
        assert!(g.failure(a, "u"));
        assert!(g.locked(a).is_some_and(|d| d <= Duration::from_secs(60)));
        assert!(g.locked(b).is_none());
        assert!(!g.failure(b, "u"));
    }

    #[test]
    fn another_users_success_does_not_reset_the_count() {
        let g = Guard::new(3, Duration::from_secs(60));
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        assert!(!g.failure(a, "root"));
        g.success(a, "alice");
        assert!(!g.failure(a, "root"));
        g.success(a, "alice");
        assert!(g.failure(a, "root"));
        assert!(g.locked(a).is_some());
        // Failures for several names are not cleared by any one of them.
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        assert!(!g.failure(b, "alice"));
        assert!(!g.failure(b, "root"));
        g.success(b, "alice");
        assert!(g.failure(b, "alice"));
    }

    #[test]
    fn lock_expires_and_zero_disables() {
        let g = Guard::new(1, Duration::from_millis(1));
        let a: IpAddr = "::1".parse().unwrap();
        assert!(g.failure(a, "u"));
        std::thread::sleep(Duration::from_millis(5));
        assert!(g.locked(a).is_none());
        let off = Guard::new(0, Duration::from_secs(60));
        for _ in 0..100 {
            assert!(!off.failure(a, "u"));
        }
        assert!(off.locked(a).is_none());
    }

    #[test]
    fn table_is_bounded() {
        let g = Guard::new(5, Duration::from_secs(60));
        for i in 0..(MAX_ENTRIES as u32 + 100) {
            g.failure(IpAddr::from(i.to_be_bytes()), "u");
        }
        assert!(g.table().len() <= MAX_ENTRIES);
    }
}
