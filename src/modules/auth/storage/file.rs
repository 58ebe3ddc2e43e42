//! The `file` storage: one account per line, `user:password[:group[:home]]`.
//!
//! Differences from the original, all in the safe direction or harmless:
//! empty lines and `#` comments are skipped (the original stops reading at
//! the first empty line), lines may be longer than 255 bytes (argon2 hashes
//! are), and the user name is matched exactly. A missing group is `users`
//! (`anonymous` for the user `anonymous`), as in the original.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use super::{ACTIVATED, Account, StorageError};

/// What identifies a version of a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    mtime: Option<std::time::SystemTime>,
    len: u64,
    ino: u64,
}

impl Stamp {
    /// The stamp of the file at `path`.
    pub fn of(path: &std::path::Path) -> std::io::Result<Stamp> {
        use std::os::unix::fs::MetadataExt as _;
        let m = std::fs::metadata(path)?;
        Ok(Stamp {
            mtime: m.modified().ok(),
            len: m.len(),
            ino: m.ino(),
        })
    }
}

/// A password file kept in memory, re-read when it changes.
pub struct FileStore {
    path: PathBuf,
    cache: Mutex<(Stamp, HashMap<String, Arc<Account>>)>,
}

impl FileStore {
    /// Read the file; it must exist and be readable.
    pub fn open(path: PathBuf) -> Result<FileStore, StorageError> {
        let (stamp, accounts) = load(&path)?;
        Ok(FileStore {
            path,
            cache: Mutex::new((stamp, accounts)),
        })
    }

    /// The account `name`, re-reading the file first if it changed.
    pub fn lookup(&self, name: &str) -> Result<Option<Arc<Account>>, StorageError> {
        let io = |source| StorageError::Io {
            path: self.path.clone(),
            source,
        };
        let stamp = Stamp::of(&self.path).map_err(io)?;
        let mut cache = self
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if cache.0 != stamp {
            *cache = load(&self.path)?;
        }
        Ok(cache.1.get(name).cloned())
    }
}

fn load(path: &std::path::Path) -> Result<(Stamp, HashMap<String, Arc<Account>>), StorageError> {
    let io = |source| StorageError::Io {
        path: path.to_path_buf(),
        source,
    };
    let stamp = Stamp::of(path).map_err(io)?;
    let text = std::fs::read_to_string(path).map_err(io)?;
    Ok((stamp, parse(&text)))
}

/// Parse the lines of a password file (the first line for a name wins).
pub fn parse(text: &str) -> HashMap<String, Arc<Account>> {
    let mut map = HashMap::new();
    for line in text.lines() {
        if let Some(a) = parse_line(line) {
            map.entry(a.name.clone()).or_insert_with(|| Arc::new(a));
        }
    }
    map
}

/// One line, or `None` for blank lines, comments and lines without `:`.
pub fn parse_line(line: &str) -> Option<Account> {
    let line = line.trim_end_matches('\r');
    if line.trim().is_empty() || line.starts_with('#') {
        return None;
    }
    let mut f = line.splitn(4, ':');
    let name = f.next()?.to_string();
    let password = f.next()?.to_string();
    if name.is_empty() {
        return None;
    }
    let nonempty = |s: Option<&str>| s.filter(|s| !s.is_empty()).map(str::to_string);
    let group = nonempty(f.next()).or_else(|| {
        Some(
            if name == "anonymous" {
                "anonymous"
            } else {
                "users"
            }
            .to_string(),
        )
    });
    let home = nonempty(f.next());
    Some(Account {
        name,
        password,
        group,
        home,
        status: ACTIVATED.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        let m = parse(
            "# comment\nfoo:bar\n\nalice:$5$abc:admin:/home/alice\nbob:x::/b\nanonymous:\n:nouser\nbad\nfoo:second\n",
        );
        assert_eq!(m.len(), 4);
        let foo = &m["foo"];
        assert_eq!(foo.password, "bar");
        assert_eq!(foo.group.as_deref(), Some("users"));
        assert_eq!(foo.home, None);
        assert_eq!(m["alice"].group.as_deref(), Some("admin"));
        assert_eq!(m["alice"].home.as_deref(), Some("/home/alice"));
        assert_eq!(m["bob"].group.as_deref(), Some("users"));
        assert_eq!(m["bob"].home.as_deref(), Some("/b"));
        assert_eq!(m["anonymous"].group.as_deref(), Some("anonymous"));
        assert_eq!(m["anonymous"].password, "");
    }

    #[test]
    fn reread_on_change() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("passwd");
        std::fs::write(&p, "a:1\n").unwrap();
        let s = FileStore::open(p.clone()).unwrap();
        assert!(s.lookup("a").unwrap().is_some());
        assert!(s.lookup("b").unwrap().is_none());
        std::fs::write(&p, "a:1\nb:22\n").unwrap();
        assert_eq!(s.lookup("b").unwrap().unwrap().password, "22");
        assert!(FileStore::open(dir.path().join("missing")).is_err());
    }
}
