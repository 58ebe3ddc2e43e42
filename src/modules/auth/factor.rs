//! One authenticator (one `auth` section): reads the credentials of its
//! scheme, checks them against its storage, and decides between a user,
//! anonymous access and a challenge (REFERENCE §6.6.3 – §6.6.5). The
//! challenge itself is built in `challenge`.

mod challenge;
mod password;

use std::sync::Arc;
use std::time::Duration;

use http::Method;
use http::header::{AUTHORIZATION, WWW_AUTHENTICATE};

pub use self::challenge::{locked, page_path};
use self::password::verify;
use super::basic;
use super::bruteforce::Guard;
use super::config::{AuthConfig, AuthOptions, Scheme};
use super::crypt::{Stored, ct_eq};
use super::digest::{self, Algorithm, NonceCheck, Nonces};
use super::storage::{ACTIVATED, Account, REAPPROVING, Storage};
use super::token::{self, Tokens};
use super::verified::Verified;
use crate::error::HttpError;
use crate::pattern::PatternList;
use crate::pipeline::{RequestCtx, RequestHead, Response, User};

/// What one authenticator decided.
pub enum Outcome {
    /// Authenticated; `issuers` are those a token carried (besides ours).
    User {
        /// The user.
        user: Arc<User>,
        /// Issuers from the token, if the user came from one.
        issuers: Vec<String>,
    },
    /// Let through without a user.
    Anonymous,
    /// Answer now (challenge, redirect, lock-out).
    Respond(Response),
    /// Signed in by this request (an OpenID callback): the user, and the
    /// answer that carries the new session.
    SignedIn(User, Response),
}

/// The result of checking credentials.
enum Verdict {
    Ok(Arc<Account>),
    /// Wrong credentials for `user`.
    Failed(String),
    /// Digest: right response, stale nonce.
    Stale,
    /// Digest: nonce count reused.
    Replay,
}

/// One authenticator, built.
pub struct Factor {
    /// `type`.
    pub scheme: Scheme,
    /// Realm of challenges and Digest.
    pub realm: String,
    /// Name in token `iss` chains.
    pub issuer: String,
    /// `options`.
    pub options: AuthOptions,
    /// Token keys (token options, Bearer, wwwform).
    pub tokens: Option<Tokens>,
    /// Whether a token is issued after sign-in.
    pub issues_tokens: bool,
    storage: Arc<Storage>,
    algorithm: Algorithm,
    opaque: Option<String>,
    nonces: Option<Nonces>,
    protect: PatternList,
    unprotect: PatternList,
    signin: Option<String>,
    /// `token_ep` (the wwwform POST target).
    pub token_ep: Option<String>,
    guard: Guard,
    /// The last stored password seen, checked for unknown users so they
    /// take as long as known ones.
    sample: Arc<std::sync::Mutex<Option<String>>>,
    /// The account last admitted and its user ([`Factor::admit_shared`]).
    admitted: std::sync::Mutex<Option<(Arc<Account>, Arc<User>)>>,
    /// Recent successful slow checks ([`super::verified`]).
    verified: Arc<Verified>,
    /// Passwords are checked inline: the account is in the configuration,
    /// its password in a fast format (fixed at start-up).
    verifies_inline: bool,
    /// The relying party of type `oAuth2` ([`super::oidc`]).
    pub oidc: Option<super::oidc::Oidc>,
}

impl Factor {
    /// Build from a section; `hostname` is the server's (default realm).
    pub fn new(cfg: &AuthConfig, storage: Storage, hostname: &str) -> Factor {
        let realm = cfg
            .realm
            .clone()
            .or_else(|| cfg.issuer.clone())
            .unwrap_or_else(|| hostname.to_string());
        let issuer = cfg
            .issuer
            .clone()
            .or_else(|| cfg.realm.clone())
            .unwrap_or_else(|| cfg.storage.name().to_string());
        let lifetime = cfg.expire;
        let secret = cfg.secret.as_deref().filter(|s| !s.is_empty());
        let browser_login = matches!(cfg.scheme, Scheme::WwwForm | Scheme::OpenId);
        let wants_tokens = cfg.options.tokens() || browser_login;
        let tokens = secret
            .filter(|_| wants_tokens || cfg.scheme == Scheme::Bearer)
            .map(|s| Tokens::new(s, lifetime));
        let nonces = (cfg.scheme == Scheme::Digest).then(|| {
            let key = secret.map_or_else(super::crypt::random::<32>, Nonces::key_from_secret);
            Nonces::new(key, lifetime)
        });
        let mut options = cfg.options;
        if browser_login && !options.header {
            // A browser form keeps its session in the token cookie.
            options.cookie = true;
        }
        let verifies_inline = match &storage {
            Storage::Simple(a) => !Stored::parse(&a.password).is_slow(),
            _ => false,
        };
        Factor {
            verifies_inline,
            scheme: cfg.scheme,
            realm,
            issuer,
            options,
            issues_tokens: wants_tokens && tokens.is_some(),
            tokens,
            storage: Arc::new(storage),
            algorithm: cfg.algorithm,
            opaque: cfg.opaque.clone(),
            nonces,
            protect: PatternList::new(cfg.protect.as_deref().unwrap_or("")),
            unprotect: PatternList::new(cfg.unprotect.as_deref().unwrap_or("")),
            signin: cfg.signin.clone(),
            token_ep: cfg.token_ep.clone(),
            guard: Guard::new(cfg.maxfailures, Duration::from_secs(cfg.lockout)),
            sample: Arc::default(),
            verified: Arc::default(),
            admitted: std::sync::Mutex::default(),
            oidc: None,
        }
    }

    /// Decide for one request.
    pub async fn check(&self, head: &RequestHead, ctx: &RequestCtx) -> Result<Outcome, HttpError> {
        if let Some(o) = self.oidc.as_ref().filter(|o| o.is_callback(&ctx.path)) {
            // Each refused callback may have cost a request to the
            // provider: refused ones count as failed sign-ins.
            let ip = ctx.peer.ip();
            if let Some(left) = self.guard.locked(ip) {
                return Ok(Outcome::Respond(locked(left)));
            }
            // Boxed: a rare, large future (HTTP requests to the provider)
            // that would otherwise be moved with every request's.
            return Ok(match Box::pin(o.callback(head, ctx)).await {
                super::oidc::Callback::SignedIn(user, resp) => {
                    self.guard.success(ip, &user.name);
                    Outcome::SignedIn(user, resp)
                }
                super::oidc::Callback::Refused(resp) => {
                    // Whom the refused callback was for is not known.
                    if self.guard.failure(ip, "") {
                        log::warn!("auth: {ip} locked out after repeated failures");
                    }
                    Outcome::Respond(resp)
                }
            });
        }
        let mut token_refused = false;
        if let Some(tokens) = &self.tokens
            && let Some(tok) = token::find(head)
        {
            match tokens.verify(tok, &self.issuer) {
                Ok(c) => match self.current(c.user, ctx).await? {
                    Some(user) => {
                        return Ok(Outcome::User {
                            user: Arc::new(user),
                            issuers: c.issuers,
                        });
                    }
                    None => token_refused = true,
                },
                Err(e) => {
                    log::debug!("auth: {} token refused: {e}", ctx.peer.ip());
                    token_refused = true;
                }
            }
        }
        if let Some(o) = &self.oidc {
            return Ok(if self.needs_credentials(ctx) {
                Outcome::Respond(Box::pin(o.login(head, ctx)).await)
            } else {
                Outcome::Anonymous
            });
        }
        if self.is_login_post(&head.method, &ctx.path) {
            // Served by the module's content phase (wwwform sign-in).
            return Ok(Outcome::Anonymous);
        }
        // A client asking to drop its credentials gets a challenge.
        if head.headers.contains_key(WWW_AUTHENTICATE) {
            return Ok(Outcome::Respond(self.challenge(head, ctx, false, false)));
        }
        let authorization = head
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let verdict = match (self.scheme, authorization) {
            (Scheme::None, Some(a)) if token::strip_scheme(a, "None").is_some() => {
                if let Storage::Simple(acct) = &*self.storage {
                    return Ok(self.admit(acct, ctx).map_or_else(
                        || Outcome::Respond(self.challenge(head, ctx, false, false)),
                        |user| Outcome::User {
                            user: Arc::new(user),
                            issuers: Vec::new(),
                        },
                    ));
                }
                None
            }
            (Scheme::Basic, Some(a)) => match token::strip_scheme(a, "Basic") {
                Some(b64) => self.basic(b64, ctx).await?,
                None => None,
            },
            (Scheme::Digest, Some(a)) => match token::strip_scheme(a, "Digest") {
                Some(params) => Some(self.digest(params, head, ctx).await?),
                None => None,
            },
            _ => None,
        };
        match verdict {
            Some(Verdict::Ok(acct)) => {
                self.guard.success(ctx.peer.ip(), &acct.name);
                match self.admit_shared(acct, ctx) {
                    Some(user) => {
                        return Ok(Outcome::User {
                            user,
                            issuers: Vec::new(),
                        });
                    }
                    None => return Ok(Outcome::Respond(self.challenge(head, ctx, false, false))),
                }
            }
            Some(Verdict::Stale) => {
                return Ok(Outcome::Respond(self.challenge(head, ctx, true, false)));
            }
            Some(Verdict::Replay) => {
                log::warn!("auth: {} replayed a Digest nonce count", ctx.peer.ip());
                return Ok(Outcome::Respond(self.challenge(head, ctx, false, false)));
            }
            Some(Verdict::Failed(user)) => {
                if let Some(r) = self.failed(&user, ctx) {
                    return Ok(Outcome::Respond(r));
                }
            }
            None => {}
        }
        Ok(self.without_credentials(head, ctx, token_refused))
    }

    /// Whether `ctx.path` is the page challenges redirect to (`signin`,
    /// else `token_ep`), which must be reachable without credentials.
    pub fn is_page(&self, ctx: &RequestCtx) -> bool {
        self.is_page_path(&ctx.path)
    }

    fn is_page_path(&self, path: &str) -> bool {
        self.signin
            .as_ref()
            .or(self.token_ep.as_ref())
            .is_some_and(|p| page_path(p) == path)
    }

    /// A wwwform sign-in: POST to `token_ep`.
    pub fn is_login_post(&self, method: &Method, path: &str) -> bool {
        self.scheme == Scheme::WwwForm
            && method == Method::POST
            && self
                .token_ep
                .as_deref()
                .is_some_and(|p| page_path(p) == path)
    }

    /// No (valid) credentials: anonymous where allowed, else a challenge.
    fn without_credentials(
        &self,
        head: &RequestHead,
        ctx: &RequestCtx,
        bad_token: bool,
    ) -> Outcome {
        if self.needs_credentials(ctx) {
            Outcome::Respond(self.challenge(head, ctx, false, bad_token))
        } else {
            Outcome::Anonymous
        }
    }

    /// Whether the request may not go on anonymously (§6.6.3 step 6).
    fn needs_credentials(&self, ctx: &RequestCtx) -> bool {
        self.needs_credentials_at(&ctx.path)
    }

    /// Whether `path` may not be reached anonymously.
    pub fn needs_credentials_at(&self, path: &str) -> bool {
        if self.scheme == Scheme::None {
            false
        } else if path.contains('~') {
            true
        } else if self.is_page_path(path) {
            false
        } else if self.protect.is_match(path) {
            true
        } else {
            !self.unprotect.is_match(path)
        }
    }

    /// Record a failure; a response when the address is now locked out.
    fn failed(&self, user: &str, ctx: &RequestCtx) -> Option<Response> {
        let ip = ctx.peer.ip();
        log::warn!(
            "auth: {ip} failed {} sign-in as {user:?}",
            self.scheme.name()
        );
        if self.guard.failure(ip, user) {
            log::warn!("auth: {ip} locked out after repeated failures");
        }
        self.guard.locked(ip).map(locked)
    }

    /// The user for an account with correct credentials, if its status
    /// lets it in.
    pub fn admit(&self, acct: &Account, ctx: &RequestCtx) -> Option<User> {
        if !lets_in(&acct.status) {
            log::info!(
                "auth: {} user {:?} refused: status {:?}",
                ctx.peer.ip(),
                acct.name,
                acct.status
            );
            return None;
        }
        let group = match acct.status.as_str() {
            REAPPROVING => REAPPROVING.to_string(),
            _ => acct.group.clone().unwrap_or_default(),
        };
        Some(User {
            name: acct.name.clone(),
            group,
            home: acct.home.clone().unwrap_or_default(),
            status: acct.status.clone(),
            auth_type: self.scheme.name(),
        })
    }

    /// As [`Factor::admit`], shared: the `User` of the account last
    /// admitted is reused while the storage hands out the same `Arc` for it
    /// (configuration and files, until the file changes; every sqlite or
    /// shadow lookup makes a new one, so their changes apply at once). The
    /// password was checked before; only the conversion is remembered.
    fn admit_shared(&self, acct: Arc<Account>, ctx: &RequestCtx) -> Option<Arc<User>> {
        let mut last = self
            .admitted
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((a, u)) = &*last
            && Arc::ptr_eq(a, &acct)
        {
            return Some(u.clone());
        }
        let user = Arc::new(self.admit(&acct, ctx)?);
        *last = Some((acct, user.clone()));
        Some(user)
    }

    /// The user a valid token names, as the storage knows him now: with
    /// option `management` accounts change while tokens live, so the
    /// account is read again (deleted or no longer activated: `None`;
    /// group, home and status as stored). Other storages trust the token.
    async fn current(&self, user: User, ctx: &RequestCtx) -> Result<Option<User>, HttpError> {
        if !(self.options.management && matches!(*self.storage, Storage::Sqlite(_))) {
            return Ok(Some(user));
        }
        let Some(acct) = self.lookup(user.name.clone()).await? else {
            return Ok(None);
        };
        Ok(self.admit(&acct, ctx).map(|u| User {
            auth_type: user.auth_type,
            ..u
        }))
    }

    /// Look an account up, off the executor unless it is in memory.
    async fn lookup(&self, name: String) -> Result<Option<Arc<Account>>, HttpError> {
        if self.storage.is_memory() {
            return self.storage.lookup(&name).map_err(HttpError::internal);
        }
        let storage = self.storage.clone();
        tokio::task::spawn_blocking(move || storage.lookup(&name))
            .await
            .map_err(HttpError::internal)?
            .map_err(HttpError::internal)
    }

    /// Check a user name and password (also for wwwform): inline when the
    /// account is in memory with a fast stored format, else on the
    /// blocking pool.
    pub async fn check_password(
        &self,
        user: &str,
        password: &str,
    ) -> Result<Option<Arc<Account>>, HttpError> {
        if let Storage::Totp(_) = &*self.storage {
            let c = basic::Credentials {
                user: user.to_string(),
                password: password.to_string(),
            };
            return Ok(super::totp::check(self.storage.clone(), c)
                .await?
                .map(Arc::new));
        }
        if self.verifies_inline {
            return verify(&self.storage, &self.sample, &self.verified, user, password);
        }
        let (storage, sample, verified) = (
            self.storage.clone(),
            self.sample.clone(),
            self.verified.clone(),
        );
        let (user, password) = (user.to_string(), password.to_string());
        tokio::task::spawn_blocking(move || verify(&storage, &sample, &verified, &user, &password))
            .await
            .map_err(HttpError::internal)?
    }

    /// The user of a request whose Basic credentials this factor checks
    /// without waiting (`verifies_inline`) and finds valid, for
    /// an account let in. `None` in every other case, which
    /// [`Factor::check`] then decides; for valid credentials it decides
    /// the same (this is its path without the waits). Nothing is recorded
    /// unless the user is admitted.
    pub fn admit_now(&self, head: &RequestHead, ctx: &RequestCtx) -> Option<Arc<User>> {
        if self.scheme != Scheme::Basic
            || self.oidc.is_some()
            || self.tokens.is_some()
            || !self.verifies_inline
            || head.headers.contains_key(WWW_AUTHENTICATE)
        {
            return None;
        }
        let authorization = head.headers.get(AUTHORIZATION)?.to_str().ok()?;
        let decoded = basic::Decoded::parse(token::strip_scheme(authorization, "Basic")?)?;
        let (user, password) = decoded.split()?;
        let ip = ctx.peer.ip();
        if self.guard.locked(ip).is_some() {
            return None;
        }
        let acct = verify(&self.storage, &self.sample, &self.verified, user, password).ok()??;
        if !lets_in(&acct.status) {
            return None;
        }
        let user = self.admit_shared(acct, ctx)?;
        self.guard.success(ip, &user.name);
        Some(user)
    }

    /// The guard, for the sign-in handler.
    pub fn guard(&self) -> &Guard {
        &self.guard
    }

    /// `None` when the credentials are not for this factor: a TOTP factor
    /// ignores a password that is no code (the earlier factor's).
    async fn basic(&self, b64: &str, ctx: &RequestCtx) -> Result<Option<Verdict>, HttpError> {
        let decoded = basic::Decoded::parse(b64);
        let Some((user, password)) = decoded.as_ref().and_then(basic::Decoded::split) else {
            return Ok(Some(Verdict::Failed(String::new())));
        };
        if let Storage::Totp(t) = &*self.storage
            && !t.is_code(password)
        {
            return Ok(None);
        }
        if self.guard.locked(ctx.peer.ip()).is_some() {
            return Ok(Some(Verdict::Failed(user.to_string())));
        }
        Ok(Some(match self.check_password(user, password).await? {
            Some(acct) => Verdict::Ok(acct),
            None => Verdict::Failed(user.to_string()),
        }))
    }

    /// The storage (the TOTP enrolment reads its keys).
    pub fn storage(&self) -> &Arc<Storage> {
        &self.storage
    }

    async fn digest(
        &self,
        params: &str,
        head: &RequestHead,
        ctx: &RequestCtx,
    ) -> Result<Verdict, HttpError> {
        let Some(p) = digest::parse_params(params) else {
            return Ok(Verdict::Failed(String::new()));
        };
        let Some(nonces) = &self.nonces else {
            return Ok(Verdict::Failed(p.username));
        };
        let alg = p
            .algorithm
            .as_deref()
            .map_or(Algorithm::parse("MD5"), Algorithm::parse);
        let target = head.uri.path_and_query().map_or("/", |pq| pq.as_str());
        let well_formed = p.realm == self.realm
            && p.qop == "auth"
            && !p.cnonce.is_empty()
            && p.nc.len() == 8
            && (p.uri == target || p.uri == head.uri.to_string())
            && alg == Some(self.algorithm)
            && self
                .opaque
                .as_ref()
                .is_none_or(|o| p.opaque.as_ref() == Some(o));
        if !well_formed {
            return Ok(Verdict::Failed(p.username));
        }
        // Not ours (e.g. from before a restart without `secret`): ask again
        // with a fresh nonce, not a failure.
        if nonces.validate(&p.nonce, &self.realm) == NonceCheck::Invalid {
            return Ok(Verdict::Stale);
        }
        if self.guard.locked(ctx.peer.ip()).is_some() {
            return Ok(Verdict::Failed(p.username));
        }
        let Some(acct) = self.lookup(p.username.clone()).await? else {
            return Ok(Verdict::Failed(p.username));
        };
        let Some(ha1) =
            Stored::parse(&acct.password).ha1(self.algorithm.hash, &acct.name, &self.realm)
        else {
            log::debug!(
                "auth: the stored password of {:?} cannot be used by Digest",
                acct.name
            );
            return Ok(Verdict::Failed(p.username));
        };
        let matches = |method: &str| {
            ct_eq(
                digest::response(self.algorithm, &ha1, &p, method).as_bytes(),
                p.response.as_bytes(),
            )
        };
        // With a sign-in page, the original computes HA2 with HEAD (so a
        // page can compute one response for all requests): accepted too.
        let ok = matches(head.method.as_str()) || (self.signin.is_some() && matches("HEAD"));
        if !ok {
            return Ok(Verdict::Failed(p.username));
        }
        Ok(match nonces.accept(&p.nonce, &self.realm, &p.nc) {
            NonceCheck::Fresh => Verdict::Ok(acct),
            NonceCheck::Stale | NonceCheck::Invalid => Verdict::Stale,
            NonceCheck::Replay => Verdict::Replay,
        })
    }
}

/// Whether an account with this status may sign in (an account being
/// re-approved does, in the `reapproving` group).
fn lets_in(status: &str) -> bool {
    matches!(status, ACTIVATED | REAPPROVING)
}
