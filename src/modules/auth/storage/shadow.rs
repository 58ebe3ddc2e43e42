//! The `unix` storage: the host's own accounts (`file = "shadow"`).
//!
//! The files are read directly (no NSS): the shadow file, and `passwd` and
//! `group` beside it — `file = "shadow"` (or `/etc/shadow`) means
//! `/etc/shadow`, `/etc/passwd`, `/etc/group`; any other value containing
//! `shadow` is the path of a shadow file whose `passwd` and `group` are
//! in the same directory (this is how the tests, and a chroot, point it
//! elsewhere). They are read at start-up, before privileges are dropped —
//! an unreadable shadow file is a start-up error — and re-read when they
//! change if the process still may; otherwise the copy in memory is kept.
//!
//! Hashes: `$y$` yescrypt, `$6$`/`$5$` sha-crypt, `$1$` md5-crypt (and the
//! Ouistiti forms); DES and bcrypt (`$2b$`) are not supported and never
//! match. Status: `repudiated` when the hash is locked (`!`, `*`) or the
//! account expired, `reapproving` when the password is older than its
//! maximum age or must be changed (last change 0), `activated` otherwise.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use super::file::Stamp;
use super::{ACTIVATED, Account, REAPPROVING, StorageError};

/// One line of the shadow file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShadowEntry {
    /// The hash (`!`/`*` prefixed when locked).
    pub hash: String,
    /// Day of the last change (days since 1970), `None` when empty.
    pub last_change: Option<i64>,
    /// Maximum password age in days.
    pub max_age: Option<i64>,
    /// Day the account expires.
    pub expire: Option<i64>,
}

/// One line of the passwd file.
#[derive(Clone, Debug, PartialEq, Eq)]
struct PasswdEntry {
    password: String,
    gid: u32,
    home: String,
}

#[derive(Default)]
struct Db {
    stamps: Vec<Option<Stamp>>,
    passwd: HashMap<String, PasswdEntry>,
    shadow: HashMap<String, ShadowEntry>,
    groups: HashMap<u32, String>,
}

/// The host's accounts, kept in memory.
pub struct UnixStore {
    files: [PathBuf; 3],
    db: Mutex<Db>,
}

/// The shadow, passwd and group files a `file` value names.
pub fn files(value: &Path) -> [PathBuf; 3] {
    let shadow = if value == Path::new("shadow") {
        PathBuf::from("/etc/shadow")
    } else {
        value.to_path_buf()
    };
    let dir = shadow.parent().unwrap_or(Path::new("/etc")).to_path_buf();
    [shadow, dir.join("passwd"), dir.join("group")]
}

impl UnixStore {
    /// Read the files named by `value`; the shadow and passwd files must be
    /// readable.
    pub fn open(value: &Path) -> Result<UnixStore, StorageError> {
        let files = files(value);
        let db = load(&files)?;
        Ok(UnixStore {
            files,
            db: Mutex::new(db),
        })
    }

    /// The account `name`.
    pub fn lookup(&self, name: &str) -> Result<Option<Account>, StorageError> {
        let mut db = self
            .db
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let stamps: Vec<Option<Stamp>> = self.files.iter().map(|f| Stamp::of(f).ok()).collect();
        if stamps != db.stamps {
            match load(&self.files) {
                Ok(new) => *db = new,
                Err(e) => {
                    log::warn!("auth: cannot re-read the host accounts, keeping the old copy: {e}");
                    db.stamps = stamps;
                }
            }
        }
        let Some(pw) = db.passwd.get(name) else {
            return Ok(None);
        };
        let shadow = db.shadow.get(name);
        let hash = match (pw.password.as_str(), shadow) {
            (_, Some(s)) => s.hash.clone(),
            ("x", None) => String::new(),
            (p, None) => p.to_string(),
        };
        let status = status(&hash, shadow, today()).to_string();
        Ok(Some(Account {
            name: name.to_string(),
            password: hash,
            group: Some(
                db.groups
                    .get(&pw.gid)
                    .cloned()
                    .unwrap_or_else(|| pw.gid.to_string()),
            ),
            home: Some(pw.home.clone()),
            status,
        }))
    }
}

fn today() -> i64 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    i64::try_from(secs / 86_400).unwrap_or(i64::MAX)
}

/// The status of an account with `hash` and `shadow` data on day `today`.
pub fn status(hash: &str, shadow: Option<&ShadowEntry>, today: i64) -> &'static str {
    if hash.is_empty() || hash.starts_with('!') || hash.starts_with('*') {
        return "repudiated";
    }
    let Some(s) = shadow else {
        return ACTIVATED;
    };
    if s.expire.is_some_and(|e| e <= today) {
        return "repudiated";
    }
    match (s.last_change, s.max_age) {
        (Some(0), _) => REAPPROVING,
        (Some(last), Some(max)) if max >= 0 && last.saturating_add(max) < today => REAPPROVING,
        _ => ACTIVATED,
    }
}

fn read(path: &Path) -> Result<String, StorageError> {
    std::fs::read_to_string(path).map_err(|source| StorageError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn load(files: &[PathBuf; 3]) -> Result<Db, StorageError> {
    // Stamps first: a change during the read is seen next time.
    let stamps = files.iter().map(|f| Stamp::of(f).ok()).collect();
    let shadow = parse_shadow(&read(&files[0])?);
    let passwd = parse_passwd(&read(&files[1])?);
    let groups = read(&files[2]).map(|t| parse_group(&t)).unwrap_or_default();
    Ok(Db {
        stamps,
        passwd,
        shadow,
        groups,
    })
}

/// Parse a shadow file.
pub fn parse_shadow(text: &str) -> HashMap<String, ShadowEntry> {
    let day = |s: Option<&str>| s.and_then(|s| s.trim().parse::<i64>().ok());
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 2 || f[0].is_empty() {
                return None;
            }
            Some((
                f[0].to_string(),
                ShadowEntry {
                    hash: f[1].to_string(),
                    last_change: day(f.get(2).copied()),
                    max_age: day(f.get(4).copied()),
                    expire: day(f.get(7).copied()),
                },
            ))
        })
        .collect()
}

fn parse_passwd(text: &str) -> HashMap<String, PasswdEntry> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 7 || f[0].is_empty() {
                return None;
            }
            Some((
                f[0].to_string(),
                PasswdEntry {
                    password: f[1].to_string(),
                    gid: f[3].parse().ok()?,
                    home: f[5].to_string(),
                },
            ))
        })
        .collect()
}

fn parse_group(text: &str) -> HashMap<u32, String> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some((f.get(2)?.parse().ok()?, f[0].to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shadow_lines_and_status() {
        let m = parse_shadow(
            "root:*:20228:0:99999:7:::\nfoo:$y$j9T$x$y:19000:0:30:7::: \nold:$6$a$b:100:0:10:7::50:\nnew:$6$a$b:0:0:99999:7:::\n",
        );
        assert_eq!(
            status(&m["root"].hash, Some(&m["root"]), 20300),
            "repudiated"
        );
        assert_eq!(m["foo"].max_age, Some(30));
        assert_eq!(status(&m["foo"].hash, Some(&m["foo"]), 19010), ACTIVATED);
        assert_eq!(status(&m["foo"].hash, Some(&m["foo"]), 19031), REAPPROVING);
        assert_eq!(status(&m["old"].hash, Some(&m["old"]), 20000), "repudiated");
        assert_eq!(status(&m["new"].hash, Some(&m["new"]), 20000), REAPPROVING);
        assert_eq!(status("!$6$x$y", None, 1), "repudiated");
    }

    #[test]
    fn files_beside_the_shadow_file() {
        assert_eq!(
            files(Path::new("shadow")),
            [
                PathBuf::from("/etc/shadow"),
                PathBuf::from("/etc/passwd"),
                PathBuf::from("/etc/group")
            ]
        );
        let [s, p, g] = files(Path::new("/tmp/t/my-shadow"));
        assert_eq!(
            (s.as_path(), p.as_path(), g.as_path()),
            (
                Path::new("/tmp/t/my-shadow"),
                Path::new("/tmp/t/passwd"),
                Path::new("/tmp/t/group")
            )
        );
    }

    #[test]
    fn lookup_from_generated_files() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(
            d.join("shadow"),
            "alice:$1$saltsalt$qjXMvbEw8oaL.CzflDtaK/:19000:0:99999:7:::\n",
        )
        .unwrap();
        std::fs::write(
            d.join("passwd"),
            "alice:x:1000:100:Alice:/home/alice:/bin/sh\nbob:x:1001:100::/home/bob:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(d.join("group"), "users:x:100:\n").unwrap();
        let s = UnixStore::open(&d.join("shadow")).unwrap();
        let a = s.lookup("alice").unwrap().unwrap();
        assert_eq!(a.group.as_deref(), Some("users"));
        assert_eq!(a.home.as_deref(), Some("/home/alice"));
        assert_eq!(a.status, ACTIVATED);
        assert!(
            crate::modules::auth::crypt::Stored::parse(&a.password).verify("alice", "password")
        );
        // In passwd without a shadow line: no usable hash.
        assert_eq!(s.lookup("bob").unwrap().unwrap().status, "repudiated");
        assert!(s.lookup("carol").unwrap().is_none());
    }
}
