//! The rules database (sqlite, Ouistiti's schema) and its in-memory copy.
//!
//! Rules are read into memory at start and after every change made through
//! the REST API; a change made to the file by another program is picked up
//! within a second (the file's modification time is checked at most once a
//! second). Requests never wait for sqlite.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use rusqlite::{Connection, OpenFlags, params};

/// Method ids of Ouistiti's schema.
const METHODS: &[(i64, &str)] = &[
    (1, "GET"),
    (2, "POST"),
    (3, "PUT"),
    (4, "DELETE"),
    (5, "HEAD"),
];

/// A rule as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Row id (used by `DELETE <configuri>/<id>`).
    pub id: i64,
    /// Method name.
    pub method: String,
    /// Role name (a user name, a group name, `anonymous`, `*`, …).
    pub role: String,
    /// The URI expression, with `%u`, `%g`, `%h` placeholders.
    pub exp: String,
}

/// The database file and its connection.
pub struct Db {
    path: PathBuf,
    conn: Mutex<Connection>,
}

/// Why the database cannot be used.
pub type DbError = String;

impl Db {
    /// Open `path`. A missing file is created with the initial rules when
    /// `create` (there is a `configuri` to manage it), else it is an error;
    /// an unreadable or foreign file is an error.
    pub fn open(path: &Path, superuser: &str, configuri: Option<&str>) -> Result<Db, DbError> {
        let exists = path.exists();
        if !exists && configuri.is_none() {
            return Err(format!(
                "{}: no such database (it is created only when `configuri` is set)",
                path.display()
            ));
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE;
        let conn = Connection::open_with_flags(path, flags)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if !exists {
            create(&conn, superuser, configuri.unwrap_or("^/filter/config*"))
                .map_err(|e| format!("{}: cannot create: {e}", path.display()))?;
            set_mode(path);
        }
        let db = Db {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
        };
        db.rules()
            .map_err(|e| format!("{}: not a userfilter database: {e}", path.display()))?;
        Ok(db)
    }

    /// The file's modification time.
    pub fn stamp(&self) -> Option<SystemTime> {
        std::fs::metadata(&self.path)
            .and_then(|m| m.modified())
            .ok()
    }

    /// Every rule, in row order.
    pub fn rules(&self) -> Result<Vec<Rule>, DbError> {
        let conn = self
            .conn
            .lock()
            .map_err(|_| "database lock poisoned".to_string())?;
        let mut stmt = conn
            .prepare(
                "SELECT rules.rowid, methods.name, roles.name, rules.exp FROM rules \
                 JOIN methods ON methods.id = rules.methodid \
                 JOIN roles ON roles.id = rules.roleid ORDER BY rules.rowid",
            )
            .map_err(|e| e.to_string())?;
        let rows = stmt
            .query_map([], |r| {
                Ok(Rule {
                    id: r.get(0)?,
                    method: r.get(1)?,
                    role: r.get(2)?,
                    exp: r.get(3)?,
                })
            })
            .map_err(|e| e.to_string())?;
        rows.collect::<Result<_, _>>().map_err(|e| e.to_string())
    }

    /// Add a rule (unknown method and role names are added to their
    /// tables), in one transaction.
    pub fn add(&self, method: &str, role: &str, exp: &str) -> Result<i64, DbError> {
        let mut conn = self
            .conn
            .lock()
            .map_err(|_| "database lock poisoned".to_string())?;
        let tx = conn.transaction().map_err(|e| e.to_string())?;
        tx.execute(
            "INSERT OR IGNORE INTO methods (name) VALUES (?1)",
            params![method],
        )
        .map_err(|e| e.to_string())?;
        tx.execute(
            "INSERT OR IGNORE INTO roles (name) VALUES (?1)",
            params![role],
        )
        .map_err(|e| e.to_string())?;
        tx.execute(
            "INSERT INTO rules (exp, methodid, roleid) VALUES (?1, \
             (SELECT id FROM methods WHERE name = ?2), (SELECT id FROM roles WHERE name = ?3))",
            params![exp, method, role],
        )
        .map_err(|e| e.to_string())?;
        let id = tx.last_insert_rowid();
        tx.commit().map_err(|e| e.to_string())?;
        Ok(id)
    }

    /// Delete the rule `id`; `Ok(false)` when there is none.
    pub fn delete(&self, id: i64) -> Result<bool, DbError> {
        let conn = self
            .conn
            .lock()
            .map_err(|_| "database lock poisoned".to_string())?;
        conn.execute("DELETE FROM rules WHERE rowid = ?1", params![id])
            .map(|n| n > 0)
            .map_err(|e| e.to_string())
    }
}

/// Ouistiti's schema and initial rules: the superuser may read everything
/// and manage the rules.
fn create(conn: &Connection, superuser: &str, configuri: &str) -> rusqlite::Result<()> {
    conn.execute_batch(
        "BEGIN;
         CREATE TABLE methods (id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL);
         CREATE TABLE roles (id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL);
         CREATE TABLE rules (exp TEXT NOT NULL, methodid INTEGER NOT NULL, roleid INTEGER NOT NULL,
             FOREIGN KEY (methodid) REFERENCES methods(id) ON UPDATE SET NULL,
             FOREIGN KEY (roleid) REFERENCES roles(id) ON UPDATE SET NULL);",
    )?;
    for (id, name) in METHODS {
        conn.execute(
            "INSERT INTO methods (id, name) VALUES (?1, ?2)",
            params![id, name],
        )?;
    }
    for (id, name) in [
        (0, superuser),
        (1, "anonymous"),
        (2, "users"),
        (9, "*"),
        (10, "reapproving"),
    ] {
        conn.execute(
            "INSERT INTO roles (id, name) VALUES (?1, ?2)",
            params![id, name],
        )?;
    }
    for (method, exp) in [(1, "^/*"), (2, configuri), (3, configuri), (4, configuri)] {
        conn.execute(
            "INSERT INTO rules (exp, methodid, roleid) VALUES (?1, ?2, 0)",
            params![exp, method],
        )?;
    }
    conn.execute_batch("COMMIT;")
}

fn set_mode(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660));
}
