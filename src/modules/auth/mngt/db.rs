//! The database side of the management API: reads and writes of the
//! Ouistiti schema (REFERENCE §6.6.12).
//!
//! Every call opens its own read-write connection (cheap next to a
//! password hash) instead of sharing one: the API may run in a forked
//! connection process, where a connection inherited from the parent must
//! not be used, and concurrent writers then simply queue on sqlite's lock.
//! Writes run in `BEGIN IMMEDIATE` transactions — the write lock is taken
//! at the start, so two writers never both read and then deadlock on the
//! upgrade — with a busy timeout. The authenticator's read-only
//! connection holds no transaction between requests, so it sees each
//! commit on its next query.
//!
//! Password rows: the authenticator reads the row whose `issuer` is its
//! own, else the first one; a new password goes to that same row, so it is
//! the one that counts. Statuses are set on every row of the user.

use std::path::Path;

use rusqlite::{
    Connection, OpenFlags, OptionalExtension as _, TransactionBehavior, named_params, params,
};

use crate::modules::auth::storage::sqlite::BUSY_TIMEOUT;

/// A user as the API shows it (never with a password).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Record {
    /// Name.
    pub name: String,
    /// Group.
    pub group: Option<String>,
    /// Home.
    pub home: Option<String>,
    /// Status of the password row the authenticator reads (empty: none).
    pub status: String,
    /// Rows of the `issuers` table.
    pub issuers: Vec<String>,
}

/// A write, with the hashed password.
#[derive(Debug, Default)]
pub struct Change {
    /// New stored (hashed) password.
    pub passwd: Option<String>,
    /// New group (created when unknown).
    pub group: Option<String>,
    /// New home (empty: none).
    pub home: Option<String>,
    /// New status.
    pub status: Option<String>,
    /// New issuers list.
    pub issuers: Option<Vec<String>>,
}

/// Why a write was refused.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The database failed.
    #[error(transparent)]
    Db(#[from] rusqlite::Error),
    /// The user exists (create).
    #[error("user existing")]
    Exists,
    /// The user does not exist.
    #[error("user not found")]
    NotFound,
    /// The change would leave no one in the root group able to sign in.
    #[error("last root")]
    LastRoot,
}

/// The statuses a new password lets an account leave: a user asked to
/// change his password is activated by doing so.
const REAPPROVING: &str = "reapproving";

/// Open `path` for reading and writing (it exists: the authenticator
/// created it at start-up).
pub fn open(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    Ok(conn)
}

const RECORD: &str = "
select u.id, u.name, g.name, u.home,
  (select s.name from passwds p left join status s on s.id = p.statusid
   where p.userid = u.id
   order by case when p.issuer = :issuer then 0 else 1 end, p.rowid limit 1)
from users u left join groups g on g.id = u.groupid";

fn record_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(i64, Record)> {
    Ok((
        r.get(0)?,
        Record {
            name: r.get(1)?,
            group: r.get(2)?,
            home: r.get(3)?,
            status: r.get::<_, Option<String>>(4)?.unwrap_or_default(),
            issuers: Vec::new(),
        },
    ))
}

fn issuers_of(conn: &Connection, id: i64) -> rusqlite::Result<Vec<String>> {
    let mut st = conn.prepare_cached(
        "select issuer from issuers where userid = ?1 and issuer is not null order by rowid",
    )?;
    st.query_map([id], |r| r.get(0))?.collect()
}

/// The user `name` and its id; `issuer` selects the password row whose
/// status is shown.
fn find(conn: &Connection, name: &str, issuer: &str) -> rusqlite::Result<Option<(i64, Record)>> {
    let sql = format!("{RECORD} where u.name = :name");
    let Some((id, mut rec)) = conn
        .query_row(
            &sql,
            named_params! {":name": name, ":issuer": issuer},
            record_row,
        )
        .optional()?
    else {
        return Ok(None);
    };
    rec.issuers = issuers_of(conn, id)?;
    Ok(Some((id, rec)))
}

/// The user `name`.
pub fn show(conn: &Connection, name: &str, issuer: &str) -> rusqlite::Result<Option<Record>> {
    Ok(find(conn, name, issuer)?.map(|(_, r)| r))
}

/// Every user, by name.
pub fn list(conn: &Connection, issuer: &str) -> rusqlite::Result<Vec<Record>> {
    let sql = format!("{RECORD} order by u.name");
    let mut st = conn.prepare(&sql)?;
    let rows: Vec<(i64, Record)> = st
        .query_map(named_params! {":issuer": issuer}, record_row)?
        .collect::<rusqlite::Result<_>>()?;
    rows.into_iter()
        .map(|(id, mut r)| {
            r.issuers = issuers_of(conn, id)?;
            Ok(r)
        })
        .collect()
}

fn group_id(tx: &Connection, group: &str) -> rusqlite::Result<i64> {
    tx.execute("insert or ignore into groups (name) values (?1)", [group])?;
    tx.query_row("select id from groups where name = ?1", [group], |r| {
        r.get(0)
    })
}

fn status_id(tx: &Connection, status: &str) -> rusqlite::Result<i64> {
    tx.query_row("select id from status where name = ?1", [status], |r| {
        r.get(0)
    })
}

/// Refuse a change that takes the last member of the root group who can
/// sign in out of it (deleted, moved, or no longer allowed to sign in):
/// nobody could manage accounts any more.
fn keep_a_root(
    tx: &Connection,
    id: i64,
    before: &Record,
    c: Option<&Change>,
) -> Result<(), DbError> {
    if before.group.as_deref() != Some("root") {
        return Ok(());
    }
    let leaves = match c {
        None => true,
        Some(c) => {
            c.group.as_deref().is_some_and(|g| g != "root")
                || c.status
                    .as_deref()
                    .is_some_and(|s| s != "activated" && s != REAPPROVING)
        }
    };
    if !leaves {
        return Ok(());
    }
    let others: i64 = tx.query_row(
        "select count(*) from users u join groups g on g.id = u.groupid
         where g.name = 'root' and u.id != ?1 and exists (
           select 1 from passwds p join status s on s.id = p.statusid
           where p.userid = u.id and s.name in ('activated', 'reapproving'))",
        [id],
        |r| r.get(0),
    )?;
    if others == 0 {
        return Err(DbError::LastRoot);
    }
    Ok(())
}

fn set_issuers(tx: &Connection, id: i64, issuers: &[String]) -> rusqlite::Result<()> {
    tx.execute("delete from issuers where userid = ?1", [id])?;
    for i in issuers {
        tx.execute(
            "insert into issuers (userid, issuer) values (?1, ?2)",
            params![id, i],
        )?;
    }
    Ok(())
}

/// Create `name` with the group, home, status and password of `c`
/// (group `users` and status `approving` when absent).
pub fn create(
    conn: &mut Connection,
    name: &str,
    c: &Change,
    issuer: &str,
) -> Result<Record, DbError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    if find(&tx, name, issuer)?.is_some() {
        return Err(DbError::Exists);
    }
    let gid = group_id(&tx, c.group.as_deref().unwrap_or("users"))?;
    let home = c.home.as_deref().filter(|h| !h.is_empty());
    tx.execute(
        "insert into users (name, groupid, home) values (?1, ?2, ?3)",
        params![name, gid, home],
    )?;
    let id = tx.last_insert_rowid();
    let sid = status_id(&tx, c.status.as_deref().unwrap_or("approving"))?;
    tx.execute(
        "insert into passwds (userid, passwd, issuer, statusid) values (?1, ?2, NULL, ?3)",
        params![id, c.passwd, sid],
    )?;
    set_issuers(&tx, id, c.issuers.as_deref().unwrap_or_default())?;
    let rec = find(&tx, name, issuer)?.ok_or(DbError::NotFound)?.1;
    tx.commit()?;
    Ok(rec)
}

/// Apply `c` to `name`. A new password given without a status turns
/// `reapproving` into `activated`, and drops the user's stored sessions.
pub fn update(
    conn: &mut Connection,
    name: &str,
    c: &Change,
    issuer: &str,
) -> Result<Record, DbError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let (id, before) = find(&tx, name, issuer)?.ok_or(DbError::NotFound)?;
    keep_a_root(&tx, id, &before, Some(c))?;
    if let Some(g) = &c.group {
        let gid = group_id(&tx, g)?;
        tx.execute(
            "update users set groupid = ?1 where id = ?2",
            params![gid, id],
        )?;
    }
    if let Some(h) = &c.home {
        let h = Some(h.as_str()).filter(|h| !h.is_empty());
        tx.execute("update users set home = ?1 where id = ?2", params![h, id])?;
    }
    let status = c
        .status
        .as_deref()
        .or_else(|| (c.passwd.is_some() && before.status == REAPPROVING).then_some("activated"));
    if let Some(p) = &c.passwd {
        let row: Option<i64> = tx
            .query_row(
                "select rowid from passwds where userid = ?1
                 order by case when issuer = ?2 then 0 else 1 end, rowid limit 1",
                params![id, issuer],
                |r| r.get(0),
            )
            .optional()?;
        match row {
            Some(rowid) => tx.execute(
                "update passwds set passwd = ?1 where rowid = ?2",
                params![p, rowid],
            )?,
            None => tx.execute(
                "insert into passwds (userid, passwd, issuer, statusid) values (?1, ?2, NULL, ?3)",
                params![id, p, status_id(&tx, status.unwrap_or("approving"))?],
            )?,
        };
        tx.execute("delete from session where userid = ?1", [id])?;
    }
    if let Some(s) = status {
        let sid = status_id(&tx, s)?;
        tx.execute(
            "update passwds set statusid = ?1 where userid = ?2",
            params![sid, id],
        )?;
    }
    if let Some(i) = &c.issuers {
        set_issuers(&tx, id, i)?;
    }
    let rec = find(&tx, name, issuer)?.ok_or(DbError::NotFound)?.1;
    tx.commit()?;
    Ok(rec)
}

/// Delete `name` with its passwords, sessions and issuers; the record as
/// it was.
pub fn delete(conn: &mut Connection, name: &str, issuer: &str) -> Result<Record, DbError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let (id, rec) = find(&tx, name, issuer)?.ok_or(DbError::NotFound)?;
    keep_a_root(&tx, id, &rec, None)?;
    for table in ["passwds", "session", "issuers"] {
        tx.execute(&format!("delete from {table} where userid = ?1"), [id])?;
    }
    tx.execute("delete from users where id = ?1", [id])?;
    // A TOTP key kept in the same database goes with the account: a new
    // account of the same name enrols afresh, it never inherits the key.
    let totp: i64 = tx.query_row(
        "select count(*) from sqlite_master where type = 'table' and name = 'totp'",
        [],
        |r| r.get(0),
    )?;
    if totp > 0 {
        tx.execute("delete from totp where name = ?1", [name])?;
    }
    tx.commit()?;
    Ok(rec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::auth::storage::sqlite::{self, SqliteStore};

    fn change(f: impl FnOnce(&mut Change)) -> Change {
        let mut c = Change::default();
        f(&mut c);
        c
    }

    #[test]
    fn a_deleted_account_takes_its_totp_key_along() {
        use crate::modules::auth::storage::totp;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("auth.db");
        SqliteStore::open(&p, "sqlite").unwrap();
        let keys = totp::Db::open(&p).unwrap();
        let mut rw = open(&p).unwrap();
        let c = change(|c| c.passwd = Some("pw".into()));
        create(&mut rw, "carol", &c, "sqlite").unwrap();
        keys.enrol("carol", &[7; 20]).unwrap();
        assert!(keys.key("carol").unwrap().is_some());
        delete(&mut rw, "carol", "sqlite").unwrap();
        assert_eq!(keys.key("carol").unwrap(), None);
        // Without a totp table, deleting works as before.
        let q = dir.path().join("plain.db");
        SqliteStore::open(&q, "sqlite").unwrap();
        let mut rw = open(&q).unwrap();
        create(&mut rw, "dave", &c, "sqlite").unwrap();
        delete(&mut rw, "dave", "sqlite").unwrap();
    }

    #[test]
    fn create_update_delete_seen_by_the_reader() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("auth.db");
        let store = SqliteStore::open(&p, "sqlite").unwrap();
        let mut rw = open(&p).unwrap();
        let c = change(|c| {
            c.passwd = Some("pw".into());
            c.home = Some("/home/a".into());
            c.issuers = Some(vec!["totp".into()]);
        });
        let r = create(&mut rw, "alice", &c, "sqlite").unwrap();
        assert_eq!(
            (r.group.as_deref(), r.status.as_str(), r.issuers.clone()),
            (Some("users"), "approving", vec!["totp".to_string()])
        );
        assert!(matches!(
            create(&mut rw, "alice", &c, "sqlite"),
            Err(DbError::Exists)
        ));
        assert_eq!(store.lookup("alice").unwrap().unwrap().status, "approving");
        // Approve, then ask for a new password, then change it.
        let approve = change(|c| c.status = Some("reapproving".into()));
        update(&mut rw, "alice", &approve, "sqlite").unwrap();
        let r = update(
            &mut rw,
            "alice",
            &change(|c| c.passwd = Some("new".into())),
            "sqlite",
        )
        .unwrap();
        assert_eq!(r.status, "activated");
        let a = store.lookup("alice").unwrap().unwrap();
        assert_eq!(
            (a.password.as_str(), a.status.as_str()),
            ("new", "activated")
        );
        // A per-issuer row written by the tool is the one changed.
        let tool_row = sqlite::UserChange {
            passwd: Some("issuer-pw"),
            issuer: Some("sqlite"),
            ..Default::default()
        };
        sqlite::upsert(&mut rw, "alice", false, &tool_row).unwrap();
        update(
            &mut rw,
            "alice",
            &change(|c| {
                c.passwd = Some("third".into());
                c.group = Some("admins".into());
                c.home = Some(String::new());
                c.issuers = Some(vec![]);
            }),
            "sqlite",
        )
        .unwrap();
        let a = store.lookup("alice").unwrap().unwrap();
        assert_eq!(a.password, "third");
        assert_eq!(a.group.as_deref(), Some("admins"));
        assert_eq!(a.home, None);
        let shown = show(&rw, "alice", "sqlite").unwrap().unwrap();
        assert!(shown.issuers.is_empty());
        create(&mut rw, "bob", &c, "sqlite").unwrap();
        let names: Vec<String> = list(&rw, "sqlite")
            .unwrap()
            .into_iter()
            .map(|r| r.name)
            .collect();
        assert_eq!(names, ["alice", "bob"]);
        // The last root stays.
        let root = change(|c| {
            c.passwd = Some("r".into());
            c.group = Some("root".into());
            c.status = Some("activated".into());
        });
        create(&mut rw, "root", &root, "sqlite").unwrap();
        let demote = change(|c| c.group = Some("users".into()));
        let lock = change(|c| c.status = Some("repudiated".into()));
        for c in [&demote, &lock] {
            assert!(matches!(
                update(&mut rw, "root", c, "sqlite"),
                Err(DbError::LastRoot)
            ));
        }
        assert!(matches!(
            delete(&mut rw, "root", "sqlite"),
            Err(DbError::LastRoot)
        ));
        update(&mut rw, "root", &approve, "sqlite").unwrap();
        create(&mut rw, "root2", &root, "sqlite").unwrap();
        delete(&mut rw, "root", "sqlite").unwrap();
        let gone = delete(&mut rw, "alice", "sqlite").unwrap();
        assert_eq!(gone.name, "alice");
        assert!(store.lookup("alice").unwrap().is_none());
        assert!(matches!(
            delete(&mut rw, "alice", "sqlite"),
            Err(DbError::NotFound)
        ));
        assert!(matches!(
            update(&mut rw, "alice", &approve, "sqlite"),
            Err(DbError::NotFound)
        ));
        // bob's and root2's rows are left, nothing of alice or root.
        let left: i64 = rw
            .query_row("select count(*) from passwds", [], |r| r.get(0))
            .unwrap();
        assert_eq!(left, 2);
    }
}
