//! Where TOTP keys and the last accepted time steps live (`authz = "totp"`).
//!
//! Two kinds of keys:
//!
//! - **Stored** (`dbname` set): one random key per user in the `totp` table
//!   of an sqlite database (the same file as the `sqlite` password storage
//!   or another one). The table is created when missing; a file that does
//!   not exist is created with the full Ouistiti schema (mode 0600), so one
//!   file can serve both factors whatever their order. The key is kept as
//!   base32 text, so an administrator can provision or reset it with the
//!   `sqlite3` shell.
//! - **Derived** (no `dbname`): Ouistiti's `K = HMAC-SHA256(key = secret,
//!   msg = user ‖ secret)`, so configurations written for Ouistiti keep
//!   working. Nobody enrols; every user of the first factor has a key.
//!
//! RFC 6238 §5.2: a code is accepted once. The last accepted time step is
//! stored per user, as the Unix time it starts (`laststep`, so a changed
//! `period` does not make every code look old), and a code for that step
//! or an older one is refused. With `dbname` the check and the update run in one
//! `BEGIN IMMEDIATE` transaction, so two connection processes (`mode =
//! "process"`) or threads cannot both accept the same code. Derived keys
//! have no database: their last steps are kept in memory, which forked
//! connection processes do not share (documented in `docs/totp.md`).
//!
//! Wrong and replayed codes are also counted per user (`failures`): after
//! `maxfailures` of them the user's codes are refused for `lockout` seconds
//! (`lockeduntil`), whatever address they come from. The per-address guard
//! of the other factors lives in memory and, in process mode, per
//! connection; a 6-digit code needs this one. Reaching the TOTP factor of a
//! chain takes the password, so the lock cannot be used to bar a user
//! without it.
//!
//! A connection to the database is opened lazily in each process: an sqlite
//! connection must not cross `fork()`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use hmac::{KeyInit as _, Mac as _};
use rusqlite::{Connection, OpenFlags, OptionalExtension as _, TransactionBehavior, params};

use super::StorageError;

/// The table of stored keys (created when missing).
pub const TABLE: &str = "
create table if not exists totp (name TEXT PRIMARY KEY NOT NULL, secret TEXT NOT NULL,
                                 laststep INTEGER NOT NULL DEFAULT -1,
                                 failures INTEGER NOT NULL DEFAULT 0,
                                 lockeduntil INTEGER NOT NULL DEFAULT 0, created INTEGER);";

/// Per-user limit of wrong codes (`maxfailures`, `lockout`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Throttle {
    /// Wrong codes before the lock (0: never locked).
    pub max: u32,
    /// Lock duration, seconds.
    pub lockout: u64,
}

/// Users remembered by derived keys (bounded: see [`Keys::accept`]).
const MAX_DERIVED: usize = 4096;

/// What derived keys remember of a user.
#[derive(Clone, Copy, Debug, Default)]
pub struct UserState {
    last: Option<u64>,
    failures: u32,
    locked_until: u64,
}

/// What happened to a code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// Valid for this time step (or one in the window), never used before;
    /// the start of the step.
    Accepted(u64),
    /// Not the code of any step in the window.
    Wrong,
    /// Valid, but for a step at or before the last accepted one.
    Replayed,
    /// Too many wrong codes lately: not checked.
    Locked,
    /// The user has no key.
    NotEnrolled,
}

/// The keys of one `totp` authenticator.
pub enum Keys {
    /// Per-user keys in sqlite.
    Stored(Db),
    /// Ouistiti's derived keys, with the last accepted steps in memory.
    Derived {
        /// The configured `secret`.
        secret: Vec<u8>,
        /// Last accepted step and failures per user.
        users: Mutex<HashMap<String, UserState>>,
    },
}

impl Keys {
    /// Keys derived from `secret` (Ouistiti's scheme).
    pub fn derived(secret: &str) -> Keys {
        Keys::Derived {
            secret: secret.as_bytes().to_vec(),
            users: Mutex::default(),
        }
    }

    /// The key of `user`, if any. Blocking.
    pub fn key(&self, user: &str) -> Result<Option<Vec<u8>>, StorageError> {
        match self {
            Keys::Stored(db) => db.key(user),
            Keys::Derived { secret, .. } => Ok(Some(derive(secret, user))),
        }
    }

    /// Check a code with `verify` (key → start time of the matching step)
    /// at Unix time `now`; remember the step when accepted, count the
    /// failure when not.
    /// Blocking.
    pub fn accept(
        &self,
        user: &str,
        now: u64,
        throttle: Throttle,
        verify: impl FnOnce(&[u8]) -> Option<u64>,
    ) -> Result<Check, StorageError> {
        match self {
            Keys::Stored(db) => db.accept(user, now, throttle, verify),
            Keys::Derived { secret, users } => {
                let mut users = users
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let mut st = users.get(user).copied().unwrap_or_default();
                if throttle.max > 0 && st.locked_until > now {
                    return Ok(Check::Locked);
                }
                let check = match verify(&derive(secret, user)) {
                    None => Check::Wrong,
                    Some(step) if st.last.is_some_and(|l| step <= l) => Check::Replayed,
                    Some(step) => Check::Accepted(step),
                };
                match check {
                    Check::Accepted(step) => {
                        st = UserState {
                            last: Some(step),
                            ..UserState::default()
                        }
                    }
                    _ => st.fail(now, throttle),
                }
                if users.len() >= MAX_DERIVED && !users.contains_key(user) {
                    // Names that only failed and are not locked go first.
                    users.retain(|_, s| s.last.is_some() || s.locked_until > now);
                }
                if users.len() < MAX_DERIVED || users.contains_key(user) {
                    users.insert(user.to_string(), st);
                }
                Ok(check)
            }
        }
    }
}

impl UserState {
    fn fail(&mut self, now: u64, throttle: Throttle) {
        (self.failures, self.locked_until) = failed(self.failures, now, throttle);
    }
}

/// Failures and lock time after one more failure.
fn failed(failures: u32, now: u64, throttle: Throttle) -> (u32, u64) {
    let n = failures.saturating_add(1);
    if throttle.max > 0 && n >= throttle.max {
        (0, now.saturating_add(throttle.lockout))
    } else {
        (n, 0)
    }
}

/// Ouistiti's per-user key: `HMAC-SHA256(key = secret, msg = user ‖ secret)`.
pub fn derive(secret: &[u8], user: &str) -> Vec<u8> {
    let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    m.update(user.as_bytes());
    m.update(secret);
    m.finalize().into_bytes().to_vec()
}

/// The `totp` table of an sqlite file.
pub struct Db {
    path: PathBuf,
    /// This process's connection, with the pid that opened it.
    conn: Mutex<Option<(u32, Connection)>>,
}

fn db_err(path: &Path) -> impl Fn(rusqlite::Error) -> StorageError + '_ {
    move |source| StorageError::Sqlite {
        path: path.to_path_buf(),
        source,
    }
}

impl Db {
    /// Open `path` (creating it with the full schema when it does not
    /// exist) and create the `totp` table when missing.
    pub fn open(path: &Path) -> Result<Db, StorageError> {
        if !path.exists() {
            super::sqlite::create(path)?;
        }
        let conn = connect(path).map_err(db_err(path))?;
        conn.execute_batch(TABLE).map_err(db_err(path))?;
        conn.prepare("select secret, laststep, failures, lockeduntil from totp where name = ?1")
            .map_err(db_err(path))?;
        // Closed now: each serving process opens its own.
        drop(conn);
        Ok(Db {
            path: path.to_path_buf(),
            conn: Mutex::new(None),
        })
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StorageError> {
        let mut guard = self
            .conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let pid = std::process::id();
        if guard.as_ref().is_none_or(|(p, _)| *p != pid) {
            if let Some((_, inherited)) = guard.take() {
                // Opened by the parent: closing it here could release the
                // parent's file locks (POSIX locks are per process).
                std::mem::forget(inherited);
            }
            *guard = Some((pid, connect(&self.path).map_err(db_err(&self.path))?));
        }
        let Some((_, conn)) = guard.as_mut() else {
            unreachable!("connection opened above");
        };
        f(conn).map_err(db_err(&self.path))
    }

    /// The stored key of `user`.
    pub fn key(&self, user: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let text = self.with(|c| {
            c.query_row("select secret from totp where name = ?1", [user], |r| {
                r.get::<_, String>(0)
            })
            .optional()
        })?;
        Ok(text.and_then(|t| decode_key(&t)))
    }

    /// Store `fresh` as the key of `user` unless one exists; the key now
    /// stored (two concurrent enrolments get the same one).
    pub fn enrol(&self, user: &str, fresh: &[u8]) -> Result<Vec<u8>, StorageError> {
        let text = self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute(
                "insert or ignore into totp (name, secret, created) values (?1, ?2, strftime('%s','now'))",
                params![user, encode_key(fresh)],
            )?;
            let t: String =
                tx.query_row("select secret from totp where name = ?1", [user], |r| {
                    r.get(0)
                })?;
            tx.commit()?;
            Ok(t)
        })?;
        Ok(decode_key(&text).unwrap_or_else(|| fresh.to_vec()))
    }

    /// Remove the key of `user` (who then enrols again); whether there was
    /// one.
    pub fn remove(&self, user: &str) -> Result<bool, StorageError> {
        self.with(|c| c.execute("delete from totp where name = ?1", [user]))
            .map(|n| n > 0)
    }

    /// Check and record a code in one transaction (see [`Keys::accept`]).
    pub fn accept(
        &self,
        user: &str,
        now: u64,
        throttle: Throttle,
        verify: impl FnOnce(&[u8]) -> Option<u64>,
    ) -> Result<Check, StorageError> {
        let now_i = i64::try_from(now).unwrap_or(i64::MAX);
        self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let row: Option<(String, i64, i64, i64)> = tx
                .query_row(
                    "select secret, laststep, failures, lockeduntil from totp where name = ?1",
                    [user],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .optional()?;
            let Some((text, last, failures, locked_until)) = row else {
                return Ok(Check::NotEnrolled);
            };
            if throttle.max > 0 && locked_until > now_i {
                return Ok(Check::Locked);
            }
            let Some(key) = decode_key(&text) else {
                log::error!("auth: the stored TOTP key of {user:?} is not base32");
                return Ok(Check::NotEnrolled);
            };
            let check = match verify(&key) {
                None => Check::Wrong,
                Some(step) if i64::try_from(step).unwrap_or(i64::MAX) <= last => Check::Replayed,
                Some(step) => Check::Accepted(step),
            };
            if let Check::Accepted(step) = check {
                tx.execute(
                    "update totp set laststep = ?1, failures = 0, lockeduntil = 0 where name = ?2",
                    params![i64::try_from(step).unwrap_or(i64::MAX), user],
                )?;
            } else {
                let (n, until) = failed(u32::try_from(failures).unwrap_or(0), now, throttle);
                tx.execute(
                    "update totp set failures = ?1, lockeduntil = ?2 where name = ?3",
                    params![n, i64::try_from(until).unwrap_or(i64::MAX), user],
                )?;
            }
            tx.commit()?;
            Ok(check)
        })
    }
}

fn connect(path: &Path) -> rusqlite::Result<Connection> {
    let c = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    // Other processes (connection children, marmoset-passwd) may hold the
    // write lock for a moment.
    c.busy_timeout(Duration::from_secs(5))?;
    Ok(c)
}

/// Base32 (RFC 4648, no padding), as in `otpauth://` URLs.
pub fn encode_key(key: &[u8]) -> String {
    totp_rs::Secret::from(key.to_vec())
        .to_base32()
        .trim_end_matches('=')
        .to_string()
}

/// A base32 key (case, padding and spaces ignored); `None` if not base32.
pub fn decode_key(text: &str) -> Option<Vec<u8>> {
    let clean: String = text
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '=')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let key = totp_rs::Secret::try_from_base32(&clean).ok()?;
    let bytes = key.as_bytes();
    (!bytes.is_empty()).then(|| bytes.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_round_trip() {
        let k = b"12345678901234567890";
        assert_eq!(encode_key(k), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        assert_eq!(
            decode_key("gezd gnbv gy3t qojq gezd gnbv gy3t qojq").unwrap(),
            k
        );
        assert_eq!(decode_key("MZXW6==="), Some(b"foo".to_vec()));
        assert_eq!(decode_key("not base32!"), None);
        assert_eq!(decode_key(""), None);
    }

    #[test]
    fn stored_keys_enrol_once_and_refuse_replays() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("totp.db");
        let db = Db::open(&p).unwrap();
        // The full schema came with the new file.
        assert!(super::super::sqlite::SqliteStore::open(&p, "sqlite").is_ok());
        assert_eq!(db.key("foo").unwrap(), None);
        let t = Throttle { max: 0, lockout: 0 };
        let acc = |db: &Db, step: Option<u64>| db.accept("foo", 1000, t, |_| step).unwrap();
        assert_eq!(acc(&db, Some(5)), Check::NotEnrolled);
        let k = db.enrol("foo", &[7u8; 20]).unwrap();
        assert_eq!(k, vec![7u8; 20]);
        // Removed, then a new key.
        assert!(db.remove("foo").unwrap());
        assert!(!db.remove("foo").unwrap());
        assert_eq!(db.enrol("foo", &[7u8; 20]).unwrap(), vec![7u8; 20]);
        // A second enrolment keeps the first key.
        assert_eq!(db.enrol("foo", &[9u8; 20]).unwrap(), vec![7u8; 20]);
        assert_eq!(db.key("foo").unwrap(), Some(vec![7u8; 20]));
        assert_eq!(acc(&db, None), Check::Wrong);
        assert_eq!(acc(&db, Some(10)), Check::Accepted(10));
        assert_eq!(acc(&db, Some(10)), Check::Replayed);
        assert_eq!(acc(&db, Some(9)), Check::Replayed);
        assert_eq!(acc(&db, Some(11)), Check::Accepted(11));
        // Another opener (another process) sees the stored step.
        let again = Db::open(&p).unwrap();
        assert_eq!(acc(&again, Some(11)), Check::Replayed);
    }

    #[test]
    fn wrong_codes_lock_the_user_for_a_while() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("totp.db")).unwrap();
        db.enrol("foo", &[7u8; 20]).unwrap();
        db.enrol("bar", &[8u8; 20]).unwrap();
        let t = Throttle {
            max: 3,
            lockout: 60,
        };
        let at =
            |user: &str, now: u64, step: Option<u64>| db.accept(user, now, t, |_| step).unwrap();
        // A success clears the count.
        assert_eq!(at("foo", 1000, None), Check::Wrong);
        assert_eq!(at("foo", 1000, None), Check::Wrong);
        assert_eq!(at("foo", 1000, Some(1)), Check::Accepted(1));
        assert_eq!(at("foo", 1001, None), Check::Wrong);
        assert_eq!(at("foo", 1001, Some(1)), Check::Replayed);
        assert_eq!(at("foo", 1001, None), Check::Wrong);
        // Locked: even the right code is not checked, other users are not.
        assert_eq!(at("foo", 1002, Some(2)), Check::Locked);
        assert_eq!(at("bar", 1002, Some(2)), Check::Accepted(2));
        assert_eq!(at("foo", 1060, Some(2)), Check::Locked);
        assert_eq!(at("foo", 1062, Some(2)), Check::Accepted(2));
        // Same rules for derived keys.
        let keys = Keys::derived("secret");
        let at = |now: u64, step: Option<u64>| keys.accept("foo", now, t, |_| step).unwrap();
        for _ in 0..3 {
            assert_eq!(at(1000, None), Check::Wrong);
        }
        assert_eq!(at(1001, Some(5)), Check::Locked);
        assert_eq!(at(1061, Some(5)), Check::Accepted(5));
    }

    #[test]
    fn derived_keys_are_ouistitis() {
        // HMAC-SHA256(key = "secret", msg = "foo" ‖ "secret"), computed
        // with Python's hmac module.
        let k = derive(b"secret", "foo");
        assert_eq!(
            k.iter().map(|b| format!("{b:02x}")).collect::<String>(),
            DERIVED_FOO
        );
        let keys = Keys::derived("secret");
        let t = Throttle { max: 0, lockout: 0 };
        let at = |user: &str| keys.accept(user, 1000, t, |_| Some(3)).unwrap();
        assert_eq!(at("foo"), Check::Accepted(3));
        assert_eq!(at("foo"), Check::Replayed);
        assert_eq!(at("bar"), Check::Accepted(3));
    }

    const DERIVED_FOO: &str = "ecff9185494e227e55164a08b74029d3c78889c041d3b7b6a6d9531bb7a1f0aa";
}
