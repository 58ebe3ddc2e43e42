//! The `sqlite` storage (`dbname`), with Ouistiti's schema.
//!
//! A database that does not exist is created at start-up with the schema
//! and the fixed rows of `groups` and `status` — and **no users** (the
//! original creates `root`/`root`). Add users with `marmoset-passwd -D`.
//! The file is created with mode 0600. The server opens it read-only; the
//! functions at the bottom (used by `marmoset-passwd`) write in
//! transactions that take the write lock first (`BEGIN IMMEDIATE`), so they
//! queue behind the management API's writes instead of failing.
//!
//! When a user has several `passwds` rows, the row whose `issuer` is this
//! authenticator's issuer is used, else the first one (the original's query
//! mixes `&` and `AND` and always takes the first).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{Connection, OpenFlags, OptionalExtension as _, params};

use super::{Account, StorageError};

/// The schema of REFERENCE §6.6.12.
pub const SCHEMA: &str = "
create table groups (id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL);
insert into groups (id,name) values (0,'root'),(1,'anonymous'),(2,'users');
create table status (id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL);
insert into status (id,name) values (1,'approving'),(2,'activated'),(3,'repudiated'),(4,'reapproving');
create table users (id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL,
                    groupid INTEGER DEFAULT 1, home TEXT,
                    FOREIGN KEY (groupid) REFERENCES groups(id) ON UPDATE SET NULL);
create table passwds (userid INTEGER NOT NULL, passwd TEXT, issuer TEXT,
                      statusid INTEGER DEFAULT 1,
                      FOREIGN KEY (userid) REFERENCES users(id) ON DELETE CASCADE,
                      FOREIGN KEY (statusid) REFERENCES status(id) ON UPDATE SET NULL);
create table session (token TEXT PRIMARY KEY, userid INTEGER NOT NULL, expire INTEGER,
                      FOREIGN KEY (userid) REFERENCES users(id) ON DELETE CASCADE);
create table issuers (userid INTEGER NOT NULL, issuer TEXT,
                      FOREIGN KEY (userid) REFERENCES users(id) ON DELETE CASCADE);
";

const LOOKUP: &str = "
select u.name, g.name, u.home, p.passwd, s.name
from users u
left join groups g on g.id = u.groupid
left join passwds p on p.userid = u.id
left join status s on s.id = p.statusid
where u.name = ?1
order by case when p.issuer = ?2 then 0 else 1 end, p.rowid
limit 1";

/// How long a statement waits for another connection's write lock.
pub const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// An sqlite account database, opened read-only.
pub struct SqliteStore {
    path: PathBuf,
    issuer: String,
    conn: Mutex<Connection>,
}

fn db_err(path: &Path) -> impl Fn(rusqlite::Error) -> StorageError + '_ {
    move |source| StorageError::Sqlite {
        path: path.to_path_buf(),
        source,
    }
}

impl SqliteStore {
    /// Open `path`, creating an empty database first when it does not exist.
    pub fn open(path: &Path, issuer: &str) -> Result<SqliteStore, StorageError> {
        if !path.exists() {
            create(path)?;
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(db_err(path))?;
        // Writers (the management API, `marmoset-passwd`) lock the file
        // briefly: wait for them instead of failing the sign-in.
        conn.busy_timeout(BUSY_TIMEOUT).map_err(db_err(path))?;
        // Fail now, not on the first request, when this is not our schema.
        conn.prepare(LOOKUP).map_err(db_err(path))?;
        Ok(SqliteStore {
            path: path.to_path_buf(),
            issuer: issuer.to_string(),
            conn: Mutex::new(conn),
        })
    }

    /// The account `name`.
    pub fn lookup(&self, name: &str) -> Result<Option<Account>, StorageError> {
        let conn = self
            .conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        lookup(&conn, name, &self.issuer).map_err(db_err(&self.path))
    }
}

/// Look an account up on an open connection.
pub fn lookup(conn: &Connection, name: &str, issuer: &str) -> rusqlite::Result<Option<Account>> {
    let mut st = conn.prepare_cached(LOOKUP)?;
    st.query_row(params![name, issuer], |r| {
        Ok(Account {
            name: r.get(0)?,
            group: r.get(1)?,
            home: r.get(2)?,
            password: r.get::<_, Option<String>>(3)?.unwrap_or_default(),
            status: r.get::<_, Option<String>>(4)?.unwrap_or_default(),
        })
    })
    .optional()
}

/// Create a new database with the schema and no users (mode 0600).
pub fn create(path: &Path) -> Result<(), StorageError> {
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|source| StorageError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    let result = (|| {
        let mut conn = Connection::open(path)?;
        let tx = conn.transaction()?;
        tx.execute_batch(SCHEMA)?;
        tx.commit()
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(path);
        return Err(db_err(path)(e));
    }
    Ok(())
}

/// A change to one user, for [`upsert`].
#[derive(Debug, Default)]
pub struct UserChange<'a> {
    /// New stored password.
    pub passwd: Option<&'a str>,
    /// New group (created when unknown).
    pub group: Option<&'a str>,
    /// New home.
    pub home: Option<&'a str>,
    /// New status (one of the `status` table).
    pub status: Option<&'a str>,
    /// The `passwds.issuer` of the password row (absent: NULL).
    pub issuer: Option<&'a str>,
}

/// Why a database change was refused.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    /// The database failed.
    #[error(transparent)]
    Db(#[from] rusqlite::Error),
    /// `add` of an existing user.
    #[error("user `{0}` exists")]
    Exists(String),
    /// `change` or `remove` of an unknown user.
    #[error("user `{0}` not found")]
    NotFound(String),
    /// A status that is not in the `status` table.
    #[error("unknown status `{0}` (approving, activated, repudiated, reapproving)")]
    BadStatus(String),
}

fn user_id(tx: &Connection, name: &str) -> rusqlite::Result<Option<i64>> {
    tx.query_row("select id from users where name = ?1", [name], |r| r.get(0))
        .optional()
}

/// Add (`create`) or change a user, in one transaction. A new user without
/// a group is in `users`, without a status `activated`.
pub fn upsert(
    conn: &mut Connection,
    name: &str,
    create: bool,
    c: &UserChange<'_>,
) -> Result<(), ChangeError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let existing = user_id(&tx, name)?;
    let id = match (existing, create) {
        (Some(_), true) => return Err(ChangeError::Exists(name.into())),
        (None, false) => return Err(ChangeError::NotFound(name.into())),
        (Some(id), false) => id,
        (None, true) => {
            tx.execute("insert into users (name, groupid) values (?1, 2)", [name])?;
            tx.last_insert_rowid()
        }
    };
    if let Some(g) = c.group {
        tx.execute("insert or ignore into groups (name) values (?1)", [g])?;
        tx.execute(
            "update users set groupid = (select id from groups where name = ?1) where id = ?2",
            params![g, id],
        )?;
    }
    if let Some(h) = c.home {
        tx.execute("update users set home = ?1 where id = ?2", params![h, id])?;
    }
    let status = match c.status.or(create.then_some("activated")) {
        Some(s) => Some(
            tx.query_row("select id from status where name = ?1", [s], |r| {
                r.get::<_, i64>(0)
            })
            .optional()?
            .ok_or_else(|| ChangeError::BadStatus(s.into()))?,
        ),
        None => None,
    };
    let row: Option<i64> = tx
        .query_row(
            "select rowid from passwds where userid = ?1 and issuer is ?2 order by rowid limit 1",
            params![id, c.issuer],
            |r| r.get(0),
        )
        .optional()?;
    match row {
        None => {
            tx.execute(
                "insert into passwds (userid, passwd, issuer, statusid) values (?1, ?2, ?3, ?4)",
                params![id, c.passwd, c.issuer, status.unwrap_or(2)],
            )?;
        }
        Some(rowid) => {
            if let Some(p) = c.passwd {
                tx.execute(
                    "update passwds set passwd = ?1 where rowid = ?2",
                    params![p, rowid],
                )?;
            }
            if let Some(s) = status {
                tx.execute(
                    "update passwds set statusid = ?1 where rowid = ?2",
                    params![s, rowid],
                )?;
            }
        }
    }
    tx.commit()?;
    Ok(())
}

/// Remove a user (and its passwords, sessions and issuers).
pub fn remove(conn: &mut Connection, name: &str) -> Result<(), ChangeError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let Some(id) = user_id(&tx, name)? else {
        return Err(ChangeError::NotFound(name.into()));
    };
    for table in ["passwds", "session", "issuers"] {
        tx.execute(&format!("delete from {table} where userid = ?1"), [id])?;
    }
    tx.execute("delete from users where id = ?1", [id])?;
    tx.commit()?;
    Ok(())
}

/// Every user name, sorted.
pub fn list(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut st = conn.prepare("select name from users order by name")?;
    st.query_map([], |r| r.get(0))?.collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_empty_then_users_added_changed_removed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("auth.db");
        let store = SqliteStore::open(&p, "sqlite").unwrap();
        assert!(store.lookup("root").unwrap().is_none());
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&p).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let mut rw = Connection::open(&p).unwrap();
        assert!(list(&rw).unwrap().is_empty());
        let add = UserChange {
            passwd: Some("pw"),
            home: Some("/home/foo"),
            ..UserChange::default()
        };
        upsert(&mut rw, "foo", true, &add).unwrap();
        assert!(matches!(
            upsert(&mut rw, "foo", true, &add),
            Err(ChangeError::Exists(_))
        ));
        let a = store.lookup("foo").unwrap().unwrap();
        assert_eq!(a.password, "pw");
        assert_eq!(a.group.as_deref(), Some("users"));
        assert_eq!(a.status, "activated");
        assert_eq!(a.home.as_deref(), Some("/home/foo"));
        // Exact names only.
        assert!(store.lookup("fo").unwrap().is_none());
        assert!(store.lookup("FOO").unwrap().is_none());
        let change = UserChange {
            passwd: Some("new"),
            group: Some("admins"),
            status: Some("reapproving"),
            ..UserChange::default()
        };
        upsert(&mut rw, "foo", false, &change).unwrap();
        let a = store.lookup("foo").unwrap().unwrap();
        assert_eq!(
            (a.password.as_str(), a.group.as_deref(), a.status.as_str()),
            ("new", Some("admins"), "reapproving")
        );
        let bad = UserChange {
            status: Some("bogus"),
            ..UserChange::default()
        };
        assert!(matches!(
            upsert(&mut rw, "foo", false, &bad),
            Err(ChangeError::BadStatus(_))
        ));
        // A per-issuer password wins for that issuer.
        let totp = UserChange {
            passwd: Some("second"),
            issuer: Some("sqlite"),
            ..UserChange::default()
        };
        upsert(&mut rw, "foo", false, &totp).unwrap();
        assert_eq!(store.lookup("foo").unwrap().unwrap().password, "second");
        remove(&mut rw, "foo").unwrap();
        assert!(store.lookup("foo").unwrap().is_none());
        assert!(matches!(
            remove(&mut rw, "foo"),
            Err(ChangeError::NotFound(_))
        ));
    }

    #[test]
    fn not_creatable_is_an_error() {
        let e = SqliteStore::open(Path::new("/nonexistent-dir/x.db"), "sqlite");
        assert!(e.is_err());
    }
}
