//! Where accounts come from (Ouistiti's *authz*): the configuration
//! (`simple`), a text file (`file`), an sqlite database (`sqlite`), the
//! host's accounts (`unix`), or nowhere (`jwt`: tokens only); `totp`
//! checks one-time codes instead of passwords ([`totp`]).
//!
//! Lookups are blocking (file reads, sqlite queries, and the password check
//! that follows may be a slow hash), so the module runs them on tokio's
//! blocking pool; [`Storage::is_memory`] tells when that can be skipped.
//! Files are kept in memory and re-read when their size, time or inode
//! changes, so an edit (or `marmoset-passwd`) takes effect on the next
//! request without a restart.

pub mod config_users;
pub mod file;
pub mod shadow;
pub mod sqlite;
pub mod totp;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

/// One account, as a storage knows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Account {
    /// Login name.
    pub name: String,
    /// The stored password (see [`super::crypt::Stored`]).
    pub password: String,
    /// Group (role).
    pub group: Option<String>,
    /// Home directory.
    pub home: Option<String>,
    /// Status: `activated`, `reapproving`, `approving`, `repudiated`.
    pub status: String,
}

/// Never prints the password.
impl fmt::Debug for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Account")
            .field("name", &self.name)
            .field("group", &self.group)
            .field("home", &self.home)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

/// The status of an account that may sign in.
pub const ACTIVATED: &str = "activated";
/// The status of an account that must change its password.
pub const REAPPROVING: &str = "reapproving";

/// Which storage a section configures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StorageConfig {
    /// `user`, `passwd`, `group`, `home`, `status` in the section.
    Simple {
        /// `user`.
        user: String,
        /// `passwd` (absent: the account cannot sign in with a password).
        passwd: Option<String>,
        /// `group`.
        group: Option<String>,
        /// `home`.
        home: Option<String>,
        /// `status` (default `activated`).
        status: Option<String>,
    },
    /// `file`: `user:password[:group[:home]]` lines.
    File(PathBuf),
    /// `dbname`.
    Sqlite(PathBuf),
    /// `file` naming a shadow file (`"shadow"` is `/etc/shadow`).
    Unix(PathBuf),
    /// No accounts: tokens only.
    Jwt,
    /// One-time codes (`authz = "totp"`).
    Totp(super::totp::TotpConfig),
}

impl StorageConfig {
    /// The storage name (`authz` value), the default issuer.
    pub fn name(&self) -> &'static str {
        match self {
            StorageConfig::Simple { .. } => "simple",
            StorageConfig::File(_) => "file",
            StorageConfig::Sqlite(_) => "sqlite",
            StorageConfig::Unix(_) => "unix",
            StorageConfig::Jwt => "jwt",
            StorageConfig::Totp(_) => "totp",
        }
    }
}

/// Why a storage cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The database failed.
    #[error("{path}: {source}")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// Why.
        source: rusqlite::Error,
    },
}

/// A storage, opened.
pub enum Storage {
    /// One account from the configuration.
    Simple(Arc<Account>),
    /// A password file.
    File(file::FileStore),
    /// An sqlite database.
    Sqlite(sqlite::SqliteStore),
    /// The host's accounts.
    Unix(shadow::UnixStore),
    /// No accounts.
    Jwt,
    /// TOTP keys.
    Totp(super::totp::Totp),
}

impl Storage {
    /// Open the storage `cfg` names (creating an empty sqlite database when
    /// the file does not exist). `issuer` selects sqlite password rows.
    pub fn open(cfg: &StorageConfig, issuer: &str) -> Result<Storage, StorageError> {
        Ok(match cfg {
            StorageConfig::Simple {
                user,
                passwd,
                group,
                home,
                status,
            } => Storage::Simple(Arc::new(config_users::account(
                user, passwd, group, home, status,
            ))),
            StorageConfig::File(p) => Storage::File(file::FileStore::open(p.clone())?),
            StorageConfig::Sqlite(p) => Storage::Sqlite(sqlite::SqliteStore::open(p, issuer)?),
            StorageConfig::Unix(p) => Storage::Unix(shadow::UnixStore::open(p)?),
            StorageConfig::Jwt => Storage::Jwt,
            StorageConfig::Totp(c) => Storage::Totp(super::totp::Totp::open(c)?),
        })
    }

    /// Whether lookups touch no file (then they run inline).
    pub fn is_memory(&self) -> bool {
        matches!(self, Storage::Simple(_) | Storage::Jwt)
    }

    /// Whether the storage has passwords at all.
    pub fn has_passwords(&self) -> bool {
        !matches!(self, Storage::Jwt)
    }

    /// The account called `name` (exact, case-sensitive). Blocking.
    ///
    /// Shared, not copied: the accounts held in memory (configuration,
    /// files) are handed out by reference count, and the same `Arc` stands
    /// for the same version of an account until the file changes.
    pub fn lookup(&self, name: &str) -> Result<Option<Arc<Account>>, StorageError> {
        match self {
            Storage::Simple(a) => Ok((a.name == name).then(|| a.clone())),
            Storage::File(f) => f.lookup(name),
            Storage::Sqlite(s) => Ok(s.lookup(name)?.map(Arc::new)),
            Storage::Unix(u) => Ok(u.lookup(name)?.map(Arc::new)),
            // Codes are checked by `super::totp::check`, never looked up.
            Storage::Jwt | Storage::Totp(_) => Ok(None),
        }
    }
}
