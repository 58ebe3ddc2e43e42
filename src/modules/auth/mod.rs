//! `auth`: authentication (REFERENCE §6.6). Sets `ctx.user` — name, group,
//! home, status, scheme — for every later phase and module (userfilter,
//! document homes, CGI `REMOTE_USER`/`AUTH_TYPE`, embedded handlers via the
//! request extensions, the access log), or answers the challenge.
//!
//! # Phases
//!
//! - **authenticate**: each authenticator of the section (a list is a
//!   multi-factor chain, every factor must pass in order) reads a token
//!   first, then its scheme's credentials, checks them against its storage,
//!   and decides: user, anonymous (`unprotect`, the sign-in page, type
//!   `None`), or challenge (401 with `WWW-Authenticate`, 302 to `signin`,
//!   403 to `XMLHttpRequest`s, 429 during a lock-out). See [`factor`].
//! - **handle** (only with type `wwwform` or option `management`): the
//!   sign-in POST to `token_ep` ([`wwwform`]), which needs the request
//!   body; the user management API at `/auth/mngt` ([`mngt`]).
//! - **rewrite**: the response to an authenticated request gets a fresh
//!   token and the user (`X-Auth-Token`, `X-Remote-User`, … as headers or
//!   cookies, [`token::Decoration`]).
//!
//! # Keys
//!
//! `type` (None, Basic, Digest, Bearer, wwwform, oAuth2 — see [`oidc`]
//! for its own keys), `authz` or the storage
//! keys (`user`/`passwd`/`group`/`home`/`status`, `file`, `dbname`,
//! `file = "shadow"`), `realm`, `issuer`, `algorithm`, `opaque`, `secret`,
//! `expire` (seconds), `protect`, `unprotect`, `signin`, `token_ep`,
//! `options` (`jwt`, `token`, `cookie`, `header`, `home`, `redirect`,
//! `management`),
//! and marmoset's `maxfailures` / `lockout` ([`bruteforce`]). See
//! `docs/auth.md` for worked examples.
//!
//! # Blocking work
//!
//! Storage lookups and slow password hashes (crypt, argon2) run on tokio's
//! blocking pool (`spawn_blocking`), never on the executor; an account
//! written in the configuration with a clear or Ouistiti-hashed password is
//! checked inline. A successful slow check is remembered for a few minutes
//! as a keyed MAC ([`verified`]), so Basic — which resends the password
//! with every request — does not pay argon2 for every page asset. Files are cached in memory and re-read when they change
//! ([`storage`]); the sqlite database is queried on each request through
//! one read-only connection.
//!
//! # Security
//!
//! Fail closed: a section without a usable storage, a database that cannot
//! be created, a token option without `secret`, … stop the server at
//! start-up. Passwords, HA1 values and responses are compared in constant
//! time and exactly (the original accepted prefixes). No password reaches
//! a log line. A new sqlite database holds no users.

pub mod basic;
pub mod bruteforce;
pub mod config;
pub mod crypt;
pub mod digest;
pub mod factor;
pub mod mngt;
#[cfg(feature = "openid")]
pub mod oidc;
#[cfg(not(feature = "openid"))]
#[path = "oidc/disabled.rs"]
pub mod oidc;
pub mod satisfied;
pub mod storage;
pub mod token;
pub mod totp;
pub mod verified;
pub mod wwwform;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use http::header::{LOCATION, SEC_WEBSOCKET_VERSION};
use http::{HeaderValue, StatusCode};

pub use config::{AuthConfig, Scheme};

use self::factor::{Factor, Outcome};
use self::satisfied::Satisfied;
use self::storage::Storage;
use self::token::{Decoration, cookie_domain};
use crate::body::Body;
use crate::config::{Diagnostic, Problem, Severity};
use crate::error::HttpError;
use crate::modules::BuildEnv;
use crate::pipeline::{
    Flow, Handled, Module, Phases, Request, RequestCtx, RequestHead, Response, RootPath, Step, User,
};

/// The authentication module: one or more factors.
pub struct Auth {
    factors: Vec<Factor>,
    login: bool,
    home: bool,
    /// Whether a later phase reads the [`Session`] (response headers or
    /// cookies, a token, the sign-in POST, the management API); without
    /// one, none is stored.
    session: bool,
    /// The management API and the index of its factor.
    mngt: Option<(usize, mngt::Mngt)>,
}

/// What the authentication phase leaves for the content and rewrite
/// phases.
#[derive(Clone, Debug, Default)]
struct Session {
    decoration: Option<Decoration>,
    /// The factors satisfied (a sign-in POST adds its own to them).
    issuers: Vec<String>,
}

impl Auth {
    /// Build the factors of `cfgs` (one `auth` section or a list), opening
    /// their storages. Any failure is a start-up error.
    pub fn build(cfgs: &[AuthConfig], env: &BuildEnv) -> Result<Auth, Vec<Diagnostic>> {
        let mut factors = Vec::new();
        let mut errors = Vec::new();
        for cfg in cfgs {
            let issuer = cfg
                .issuer
                .clone()
                .or_else(|| cfg.realm.clone())
                .unwrap_or_else(|| cfg.storage.name().to_string());
            let oidc = match (&cfg.oidc, cfg.secret.as_deref()) {
                (Some(o), Some(secret)) => match oidc::Oidc::build(o, secret) {
                    Ok(o) => Some(o),
                    Err(e) => {
                        errors.push(Diagnostic {
                            severity: Severity::Error,
                            span: cfg.span.clone(),
                            path: cfg.path.clone(),
                            problem: Problem::Io(format!("auth OpenID: {e}")),
                        });
                        continue;
                    }
                },
                _ => None,
            };
            match Storage::open(&cfg.storage, &issuer) {
                Ok(s) => {
                    let mut f = Factor::new(cfg, s, &env.server.hostname);
                    f.oidc = oidc;
                    factors.push(f);
                }
                Err(e) => errors.push(Diagnostic {
                    severity: Severity::Error,
                    span: cfg.span.clone(),
                    path: cfg.path.clone(),
                    problem: Problem::Io(format!("auth storage `{}`: {e}", cfg.storage.name())),
                }),
            }
        }
        // A factor whose issuer an earlier one already added to the session
        // counts as satisfied (REFERENCE §6.6.3, step 1): it would never be
        // asked for.
        for (i, (cfg, f)) in cfgs.iter().zip(&factors).enumerate() {
            if factors[..i].iter().any(|g| g.issuer == f.issuer) {
                errors.push(Diagnostic {
                    severity: Severity::Error,
                    span: cfg.span.clone(),
                    path: cfg.path.clone(),
                    problem: Problem::BadValue(format!(
                        "issuer `{}` is also an earlier factor's: give each factor of the chain \
                         its own `issuer` (or `realm`), or this one is never checked",
                        f.issuer
                    )),
                });
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let mngt = (cfgs.iter().zip(&factors).enumerate())
            .find_map(|(i, (c, f))| mngt::Mngt::new(c, f).map(|m| (i, m)));
        let login = factors.iter().any(|f| f.scheme == Scheme::WwwForm);
        let decorates =
            (factors.iter()).any(|f| f.issues_tokens || f.options.header || f.options.cookie);
        Ok(Auth {
            session: login || mngt.is_some() || decorates,
            mngt,
            login,
            home: factors.iter().any(|f| f.options.home),
            factors,
        })
    }

    /// The headers for the response to `user`, satisfied `issuers`: from
    /// the last satisfied factor that issues tokens, else the last one that
    /// sends the user as headers or cookies.
    fn decoration(&self, user: &User, issuers: &[String], ctx: &RequestCtx) -> Option<Decoration> {
        let satisfied = |f: &&Factor| issuers.contains(&f.issuer);
        let f = self
            .factors
            .iter()
            .rev()
            .filter(satisfied)
            .find(|f| f.issues_tokens)
            .or_else(|| {
                self.factors
                    .iter()
                    .rev()
                    .filter(satisfied)
                    .find(|f| f.options.header || f.options.cookie)
            })?;
        let token = f
            .tokens
            .as_ref()
            .filter(|_| f.issues_tokens)
            .and_then(|t| t.issue(user, issuers));
        Some(Decoration {
            user: user.clone(),
            token,
            header: f.options.header,
            cookie: f.options.cookie,
            domain: cookie_domain(&ctx.server.hostname),
            secure: ctx.server.tls,
        })
    }

    fn finish(&self, ctx: &mut RequestCtx, satisfied: &Satisfied) {
        if self.session {
            self.store(ctx, satisfied.names(&self.factors));
        }
    }

    fn store(&self, ctx: &mut RequestCtx, issuers: Vec<String>) {
        let decoration = ctx
            .user
            .as_ref()
            .and_then(|u| self.decoration(u, &issuers, ctx));
        ctx.extensions.insert(Session {
            decoration,
            issuers,
        });
    }

    async fn run(&self, head: &RequestHead, ctx: &mut RequestCtx) -> Result<Flow, HttpError> {
        let mut issuers = Satisfied::default();
        // Factor i's sign-in page, sign-in POST or TOTP enrolment needs
        // the factors before i only: later ones do not apply to it (they
        // would send the browser to their own page, and back).
        let enrol = self
            .factors
            .iter()
            .position(|f| totp::is_enrolment(f, &head.method, &ctx.path));
        let last = self
            .factors
            .iter()
            .position(|f| f.is_login_post(&head.method, &ctx.path) || f.is_page(ctx))
            .or(enrol)
            .map_or(self.factors.len(), |i| i + 1);
        for (i, f) in self.factors[..last].iter().enumerate() {
            if ctx.user.is_some() && issuers.contains(&self.factors, &f.issuer) {
                continue;
            }
            match f.check(head, ctx).await? {
                Outcome::User {
                    user,
                    issuers: carried,
                } => {
                    if let Some(prev) = &ctx.user {
                        if prev.name != user.name {
                            return Err(HttpError::internal(format!(
                                "auth factors named different users ({:?}, {:?})",
                                prev.name, user.name
                            )));
                        }
                    } else {
                        ctx.user = Some(user);
                    }
                    issuers.add(&self.factors, i, carried);
                }
                Outcome::Anonymous => {}
                Outcome::SignedIn(user, resp) => {
                    // Replaces an earlier factor's user only by the same
                    // name, as above.
                    if ctx.user.as_ref().is_some_and(|p| p.name != user.name) {
                        return Err(HttpError::forbidden("signed in as another user"));
                    }
                    ctx.user = Some(Arc::new(user));
                    issuers.add(&self.factors, i, Vec::new());
                    self.finish(ctx, &issuers);
                    return Ok(Flow::Respond(resp));
                }
                // The enrolment decides itself (a code is optional there).
                Outcome::Respond(_) if enrol == Some(i) => {}
                Outcome::Respond(r) => {
                    // Earlier factors passed: their token goes with the
                    // challenge, so the next request only adds this factor.
                    self.finish(ctx, &issuers);
                    return Ok(Flow::Respond(r));
                }
            }
        }
        if let Some(i) = enrol {
            self.finish(ctx, &issuers);
            let names = issuers.names(&self.factors);
            let r = totp::enrolment(&self.factors, i, &names, head, ctx).await?;
            return Ok(Flow::Respond(r));
        }
        self.finish(ctx, &issuers);
        Ok(self.home_redirect(head, ctx))
    }

    /// The usual request of a single Basic factor with its account in the
    /// configuration, decided without waiting: valid credentials for a
    /// page that is no sign-in or enrolment page. The end of
    /// [`Auth::run`] for that case; `None` lets `run` decide.
    fn run_now(&self, head: &RequestHead, ctx: &mut RequestCtx) -> Option<Flow> {
        let [f] = &self.factors[..] else {
            return None;
        };
        if ctx.user.is_some()
            || totp::is_enrolment(f, &head.method, &ctx.path)
            || f.is_login_post(&head.method, &ctx.path)
            || f.is_page(ctx)
        {
            return None;
        }
        ctx.user = Some(f.admit_now(head, ctx)?);
        let mut issuers = Satisfied::default();
        issuers.add(&self.factors, 0, Vec::new());
        self.finish(ctx, &issuers);
        Some(self.home_redirect(head, ctx))
    }

    /// `/~` for a user with a home: on to `/~/`.
    fn home_redirect(&self, head: &RequestHead, ctx: &RequestCtx) -> Flow {
        if self.home
            && ctx.path == "/~"
            && !head.headers.contains_key(SEC_WEBSOCKET_VERSION)
            && ctx.user.as_ref().is_some_and(|u| !u.home.is_empty())
        {
            let loc = match head.uri.query() {
                Some(q) => format!("/~/?{q}"),
                None => "/~/".to_string(),
            };
            let mut r = Response::new(Body::empty());
            *r.status_mut() = StatusCode::MOVED_PERMANENTLY;
            if let Ok(v) = HeaderValue::from_str(&loc) {
                r.headers_mut().insert(LOCATION, v);
            }
            return Flow::Respond(r);
        }
        Flow::Continue
    }
}

impl Module for Auth {
    fn name(&self) -> &'static str {
        "auth"
    }

    /// An anonymous request (an unprotected path) may not act on a path
    /// that needs credentials.
    fn permits(&self, _method: &http::Method, path: &str, ctx: &RequestCtx) -> bool {
        ctx.user.is_some() || !self.factors.iter().any(|f| f.needs_credentials_at(path))
    }

    fn phases(&self) -> Phases {
        let p = Phases::AUTHENTICATE | Phases::REWRITE;
        if self.login || self.mngt.is_some() {
            p | Phases::HANDLE
        } else {
            p
        }
    }

    fn authenticate<'a>(
        &'a self,
        head: &'a RequestHead,
        ctx: &'a mut RequestCtx,
    ) -> Step<'a, Result<Flow, HttpError>> {
        if let Some(flow) = self.run_now(head, ctx) {
            return Step::now(Ok(flow));
        }
        Step::later(self.run(head, ctx))
    }

    fn handle<'a>(
        &'a self,
        req: Request,
        ctx: &'a mut RequestCtx,
    ) -> Step<'a, Result<Handled, HttpError>> {
        Step::later(async move {
            if let Some((i, m)) = &self.mngt
                && let Some(target) = mngt::target(&ctx.path).map(str::to_string)
            {
                let satisfied = ctx
                    .extensions
                    .get::<Session>()
                    .map(|s| s.issuers.clone())
                    .unwrap_or_default();
                let f = &self.factors[*i];
                let resp = m.serve(req, &target, f, ctx, &satisfied).await;
                return Ok(Handled::Served(resp));
            }
            let Some(i) = self
                .factors
                .iter()
                .position(|f| f.is_login_post(req.method(), &ctx.path))
            else {
                return Ok(Handled::Declined(req));
            };
            let f = &self.factors[i];
            let mut issuers = ctx
                .extensions
                .get::<Session>()
                .map(|s| s.issuers.clone())
                .unwrap_or_default();
            // A later factor signs in on top of the earlier ones only.
            if self.factors[..i]
                .iter()
                .any(|e| !issuers.contains(&e.issuer))
            {
                return Ok(Handled::Served(wwwform::unauthorized(f)));
            }
            // The first factor's sign-in starts a new session (another
            // user may sign in); a later one adds to the current user's.
            if i == 0 {
                ctx.user = None;
                issuers.clear();
            }
            let previous = ctx.user.clone();
            let (resp, user) = wwwform::sign_in(f, req, ctx).await?;
            if let Some(user) = user {
                if previous.as_ref().is_some_and(|p| p.name != user.name) {
                    return Err(HttpError::forbidden(format!(
                        "sign-in as {:?} on a session of {:?}",
                        user.name,
                        previous.map(|p| p.name.clone()).unwrap_or_default()
                    )));
                }
                ctx.user = Some(previous.unwrap_or_else(|| Arc::new(user)));
                if !issuers.contains(&f.issuer) {
                    issuers.push(f.issuer.clone());
                }
                self.store(ctx, issuers);
            }
            Ok(Handled::Served(resp))
        })
    }

    fn roots(&self) -> Vec<RootPath> {
        let root = |_| RootPath {
            module: "auth".into(),
            root: mngt::ROOT.into(),
        };
        self.mngt.iter().map(root).collect()
    }

    fn rewrite(&self, mut resp: Response, ctx: &RequestCtx) -> Response {
        if let Some(d) = ctx
            .extensions
            .get::<Session>()
            .and_then(|s| s.decoration.as_ref())
        {
            d.apply(resp.headers_mut());
        }
        resp
    }
}
