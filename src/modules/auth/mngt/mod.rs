//! The user management REST API (`options = "management"`, REFERENCE §6.7)
//! at `/auth/mngt`, served in the auth module's content phase for the
//! first authenticator of the chain whose options contain `management`
//! (its storage must be sqlite — checked at start-up).
//!
//! | request | who | effect |
//! |---------|-----|--------|
//! | `GET /auth/mngt` | root group | 200, every user (JSON array) |
//! | `GET /auth/mngt/<user>` | the user, root group | 200, the record |
//! | `PUT /auth/mngt[/<user>]` + `user`, `passwd` … | anyone authenticated (anonymous only where `unprotect` covers the path) | 201, a new `approving` account; 409 if it exists |
//! | `POST /auth/mngt/<user>` + fields | the user (`passwd`, `issuers`), root group (all) | 200, the updated record |
//! | `DELETE /auth/mngt/<user>` | the user, root group | 200, the record deleted |
//!
//! The root group is the session group `root`: a root whose status is
//! `reapproving` has the session group `reapproving` and is not root until
//! he changed his password. Requests only reach this handler once the
//! authentication phase passed, so the caller is `ctx.user`; anonymous
//! requests (possible only when `unprotect` covers `/auth/mngt`) may only
//! create accounts (self-registration, still `approving`) and get the
//! authenticator's challenge for anything else. A caller who is not root
//! cannot choose the group of a new account (it is `users`), its home or
//! status, and gets 403 for other users' records — checked before the
//! user is looked up, so no one learns which names exist. The last root
//! who can sign in cannot delete, demote or lock himself out (409).
//!
//! Passwords are only read from the body (a query string is logged) and
//! hashed before they are stored: argon2id, or for a Digest
//! authenticator the realm-bound `$a<id>$realm=…$…` digest of its
//! `algorithm` (Digest cannot use anything else). Hashing runs on tokio's
//! blocking pool, at most [`HASHERS`] at once (argon2 takes 19 MiB each);
//! the database work runs there too (see `db.rs`).

mod db;
mod input;
mod output;
mod routes;

use std::path::PathBuf;
use std::sync::Arc;

use http::header::{ACCEPT, ALLOW, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use http::{Method, StatusCode};
use tokio::sync::Semaphore;

use self::db::DbError;
use self::input::Fields;
use self::output::{ApiError, Format};
use super::config::{AuthConfig, Scheme};
use super::crypt::Format as Hashing;
use super::factor::Factor;
use super::storage::StorageConfig;
use crate::pipeline::{Request, RequestCtx, RequestHead, Response};
use crate::request_body::{BodyError, RequestBody};

/// The path of the API.
pub const ROOT: &str = "/auth/mngt";
/// Largest request body (a few short fields).
pub const MAX_BODY: usize = 4 * 1024;
/// Passwords hashed at once.
pub const HASHERS: usize = 2;
/// The group whose members manage every account.
const ROOT_GROUP: &str = "root";
/// The group of accounts created by callers outside the root group.
const USERS_GROUP: &str = "users";

/// The API of one authenticator.
pub struct Mngt {
    db: PathBuf,
    issuer: String,
    realm: String,
    hashing: Hashing,
    hashers: Arc<Semaphore>,
}

/// The target of a request on `path`: `None` when the path is not the
/// API's, `""` for the collection.
pub fn target(path: &str) -> Option<&str> {
    match path.strip_prefix(ROOT)? {
        "" => Some(""),
        rest => rest.strip_prefix('/').map(|t| t.trim_end_matches('/')),
    }
}

/// Who is asking.
struct Caller {
    name: Option<String>,
    root: bool,
}

impl Caller {
    fn from_ctx(ctx: &RequestCtx) -> Caller {
        Caller {
            name: ctx.user.as_ref().map(|u| u.name.clone()),
            root: ctx.user.as_ref().is_some_and(|u| u.group == ROOT_GROUP),
        }
    }

    /// The user himself, or root.
    fn owns(&self, target: &str) -> bool {
        self.root || self.name.as_deref() == Some(target)
    }

    fn who(&self) -> &str {
        self.name.as_deref().unwrap_or("anonymous")
    }
}

/// Why a request failed.
enum Fail {
    /// No user: the authenticator's challenge.
    Challenge,
    /// An answer in the API's format.
    Api(ApiError),
}

impl From<ApiError> for Fail {
    fn from(e: ApiError) -> Fail {
        Fail::Api(e)
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> ApiError {
        match e {
            DbError::Exists => ApiError {
                status: StatusCode::CONFLICT,
                error: "user existing",
                message: None,
            },
            DbError::NotFound => ApiError::not_found(),
            DbError::LastRoot => ApiError::new(
                StatusCode::CONFLICT,
                "last root",
                "the last member of the root group who can sign in cannot be \
                 deleted, moved or locked out",
            ),
            DbError::Db(e) => internal(e),
        }
    }
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    log::error!("auth: management: {e}");
    ApiError {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        error: "internal error",
        message: None,
    }
}

impl Mngt {
    /// The API of `cfg`, when its options ask for it (`factor` is the
    /// authenticator built from it).
    pub fn new(cfg: &AuthConfig, factor: &Factor) -> Option<Mngt> {
        let StorageConfig::Sqlite(db) = &cfg.storage else {
            return None;
        };
        if !cfg.options.management {
            return None;
        }
        let hashing = if cfg.scheme == Scheme::Digest {
            Hashing::Realm(cfg.algorithm.hash)
        } else {
            Hashing::Argon2
        };
        Some(Mngt {
            db: db.clone(),
            issuer: factor.issuer.clone(),
            realm: factor.realm.clone(),
            hashing,
            hashers: Arc::new(Semaphore::new(HASHERS)),
        })
    }

    /// Serve a request whose path has the API's `target`; `factor`
    /// challenges anonymous callers, `satisfied` are the issuers the
    /// request passed.
    pub async fn serve(
        &self,
        req: Request,
        target: &str,
        factor: &Factor,
        ctx: &RequestCtx,
        satisfied: &[String],
    ) -> Response {
        let (head, body) = req.into_parts();
        let text = |h| {
            head.headers
                .get(h)
                .and_then(|v: &HeaderValue| v.to_str().ok())
        };
        let fmt = Format::negotiate(text(ACCEPT), input::is_json(text(CONTENT_TYPE)));
        let caller = Caller::from_ctx(ctx);
        let mut name = target.to_string();
        let result = self
            .run(&head, body, &mut name, &caller, fmt, satisfied)
            .await;
        match result {
            Ok(r) => r,
            Err(Fail::Challenge) => factor.challenge(&head, ctx, false, false),
            Err(Fail::Api(e)) => {
                let mut r = output::error(fmt, &head.method, &name, &e);
                if e.status == StatusCode::METHOD_NOT_ALLOWED {
                    r.headers_mut().insert(
                        ALLOW,
                        HeaderValue::from_static("GET, HEAD, PUT, POST, DELETE"),
                    );
                }
                r
            }
        }
    }

    async fn run(
        &self,
        head: &RequestHead,
        body: RequestBody,
        name: &mut String,
        caller: &Caller,
        fmt: Format,
        satisfied: &[String],
    ) -> Result<Response, Fail> {
        let method = head.method.clone();
        let known = [
            Method::GET,
            Method::HEAD,
            Method::PUT,
            Method::POST,
            Method::DELETE,
        ];
        if !known.contains(&method) {
            return Err(ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed",
                "use GET, PUT, POST or DELETE",
            )
            .into());
        }
        if caller.name.is_none() && method != Method::PUT {
            return Err(Fail::Challenge);
        }
        let bytes = read_body(head, body).await?;
        let ctype = head.headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok());
        let mut fields = input::parse(ctype, head.uri.query(), &bytes)
            .map_err(|b| ApiError::new(b.status, "bad value", b.message))?;
        resolve_target(name, &mut fields)?;
        let name = name.as_str();
        match method {
            Method::GET | Method::HEAD if name.is_empty() => {
                self.list(caller, fmt, satisfied).await
            }
            Method::GET | Method::HEAD => self.show(caller, name, &fields, fmt, satisfied).await,
            Method::PUT => self.create(caller, name, fields, fmt, satisfied).await,
            Method::POST => self.update(caller, name, fields, fmt, satisfied).await,
            _ => self.delete(caller, name, &fields, fmt, satisfied).await,
        }
        .map_err(Fail::Api)
    }

    /// The stored form of `passwd`, hashed off the executor.
    async fn hash(&self, name: &str, passwd: String) -> Result<String, ApiError> {
        let _permit = self.hashers.acquire().await.map_err(internal)?;
        let (hashing, user, realm) = (self.hashing, name.to_string(), self.realm.clone());
        tokio::task::spawn_blocking(move || hashing.encode(&user, &realm, &passwd))
            .await
            .map_err(internal)?
            .map_err(internal)
    }

    /// Run `f` on a fresh read-write connection, on the blocking pool.
    async fn db<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut rusqlite::Connection) -> Result<T, DbError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let path = self.db.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = db::open(&path)?;
            f(&mut conn)
        })
        .await
        .map_err(internal)?
        .map_err(ApiError::from)
    }
}

/// The target user: from the path, or the `user` field; both must agree.
fn resolve_target(name: &mut String, fields: &mut Fields) -> Result<(), ApiError> {
    if !name.is_empty() {
        input::existing(name).map_err(|b| ApiError::bad(b.message))?;
    }
    match fields.user.take() {
        Some(u) if name.is_empty() => *name = u,
        Some(u) if u != *name => {
            return Err(ApiError::bad(
                "the user in the path and the `user` field differ",
            ));
        }
        _ => {}
    }
    Ok(())
}

/// Read at most [`MAX_BODY`] bytes of body.
async fn read_body(head: &RequestHead, mut body: RequestBody) -> Result<Vec<u8>, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "bad value",
            format!("the body is limited to {MAX_BODY} bytes"),
        )
    };
    let declared = head
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        return Err(too_large());
    }
    let mut buf = Vec::new();
    loop {
        match body.chunk().await {
            Ok(Some(c)) => {
                buf.extend_from_slice(&c);
                if buf.len() > MAX_BODY {
                    return Err(too_large());
                }
            }
            Ok(None) => return Ok(buf),
            Err(BodyError::TooLarge { .. }) => return Err(too_large()),
            Err(e) => return Err(ApiError::bad(e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        assert_eq!(target("/auth/mngt"), Some(""));
        assert_eq!(target("/auth/mngt/"), Some(""));
        assert_eq!(target("/auth/mngt/alice"), Some("alice"));
        assert_eq!(target("/auth/mngt/alice/"), Some("alice"));
        assert_eq!(target("/auth/mngtx"), None);
        assert_eq!(target("/auth/other"), None);
    }

    #[test]
    fn target_from_path_or_field() {
        let mut name = String::from("alice");
        let mut f = Fields {
            user: Some("alice".into()),
            ..Fields::default()
        };
        resolve_target(&mut name, &mut f).unwrap();
        assert_eq!(name, "alice");
        let mut empty = String::new();
        let mut f = Fields {
            user: Some("bob".into()),
            ..Fields::default()
        };
        resolve_target(&mut empty, &mut f).unwrap();
        assert_eq!(empty, "bob");
        let mut f = Fields {
            user: Some("bob".into()),
            ..Fields::default()
        };
        assert!(resolve_target(&mut name, &mut f).is_err());
        let mut bad = String::from("a\tb");
        assert!(resolve_target(&mut bad, &mut Fields::default()).is_err());
    }
}
