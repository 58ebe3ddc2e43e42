//! Brute-force protection: failed sign-ins are counted per client address;
//! after `maxfailures` failures, each less than `lockout` seconds after the
//! previous one, the address is locked out for `lockout` seconds — its
//! credentials are not even checked, the answer is `429 Too Many Requests`
//! with `Retry-After`. A success clears the count. The table is bounded:
//! when full, entries that no longer matter are dropped first, then the
//! oldest.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const MAX_ENTRIES: usize = 4096;

struct Entry {
    failures: u32,
    last: Instant,
    locked_until: Option<Instant>,
}

/// Failure counts per address.
pub struct Guard {
    max: u32,
    lockout: Duration,
    table: Mutex<HashMap<IpAddr, Entry>>,
}

impl Guard {
    /// Lock an address out for `lockout` after `max` failures (0: never).
    pub fn new(max: u32, lockout: Duration) -> Guard {
        Guard {
            max,
            lockout,
            table: Mutex::new(HashMap::new()),
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

    /// Record a failure; returns true when this failure locks `ip` out.
    pub fn failure(&self, ip: IpAddr) -> bool {
        if self.max == 0 {
            return false;
        }
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
        });
        if now.duration_since(e.last) >= self.lockout || e.locked_until.is_some_and(|u| u <= now) {
            e.failures = 0;
            e.locked_until = None;
        }
        e.failures += 1;
        e.last = now;
        if e.failures >= self.max && e.locked_until.is_none() {
            e.locked_until = Some(now + self.lockout);
            return true;
        }
        false
    }

    /// Forget the failures of `ip`.
    pub fn success(&self, ip: IpAddr) {
        if self.max != 0 {
            let mut t = self.table();
            if !t.is_empty() {
                t.remove(&ip);
            }
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
        assert!(!g.failure(a));
        assert!(!g.failure(a));
        g.success(a);
        assert!(!g.failure(a));
        assert!(!g.failure(a));
        assert!(g.locked(a).is_none());
        assert!(g.failure(a));
        assert!(g.locked(a).is_some_and(|d| d <= Duration::from_secs(60)));
        assert!(g.locked(b).is_none());
        assert!(!g.failure(b));
    }

    #[test]
    fn lock_expires_and_zero_disables() {
        let g = Guard::new(1, Duration::from_millis(1));
        let a: IpAddr = "::1".parse().unwrap();
        assert!(g.failure(a));
        std::thread::sleep(Duration::from_millis(5));
        assert!(g.locked(a).is_none());
        let off = Guard::new(0, Duration::from_secs(60));
        for _ in 0..100 {
            assert!(!off.failure(a));
        }
        assert!(off.locked(a).is_none());
    }

    #[test]
    fn table_is_bounded() {
        let g = Guard::new(5, Duration::from_secs(60));
        for i in 0..(MAX_ENTRIES as u32 + 100) {
            g.failure(IpAddr::from(i.to_be_bytes()));
        }
        assert!(g.table().len() <= MAX_ENTRIES);
    }
}
