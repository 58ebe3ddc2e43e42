//! `userfilter`: who may do what on which URI, by rules in an sqlite
//! database (phase `authorize`), and the REST API that manages the rules
//! (phase `handle`, at `configuri`).
//!
//! | key | meaning |
//! |-----|---------|
//! | `dbname` | the rules database; created with the initial rules when missing and `configuri` is set, otherwise a missing or unreadable database is a start-up error |
//! | `superuser` | role given the initial rules (default `root`): GET on everything, POST/PUT/DELETE on `configuri` |
//! | `configuri` (alias `urlpath`) | pattern of the REST API; must start with `^` |
//! | `allow` | URIs that bypass the filter |
//!
//! A request passes when a rule with its method and one of the user's roles
//! — the user name, the group, `*` (everyone), `anonymous` (users without a
//! role of their own, and unauthenticated clients), `reapproving` (users
//! whose status is `reapproving`) — has an expression matching the path.
//! `%u`, `%g` and `%h` in an expression stand for the user, group and home.
//! A HEAD request is allowed by a GET rule. No match: 401 when the client is
//! not authenticated, 403 otherwise.
//!
//! Differences from Ouistiti, on purpose: `*` rules apply to everyone (the
//! original never selects them), `reapproving` rules only to reapproving
//! users (the original applies them to everybody), a bad `configuri` or a
//! missing database is an error instead of a disabled (open) filter, and the
//! listing is plain JSON (numeric ids, no trailing `{}`).

pub mod api;
pub mod db;

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use http::{Method, StatusCode};

use self::db::{Db, Rule};
use crate::config::{Diagnostic, Problem, Section, Severity, value::Span};
use crate::error::HttpError;
use crate::pattern::{Pattern, PatternList};
use crate::pipeline::{Flow, Handled, Module, Phases, Request, RequestCtx, RequestHead, Step};

/// Parsed `userfilter = { … }`.
#[derive(Debug, Clone)]
pub struct UserfilterConfig {
    span: Span,
    path: String,
    /// `dbname`.
    pub dbname: PathBuf,
    /// `superuser`.
    pub superuser: String,
    /// `configuri` / `urlpath`.
    pub configuri: Option<String>,
    /// `allow`.
    pub allow: Option<String>,
}

impl UserfilterConfig {
    /// Read the section.
    pub fn from_section(s: &Section<'_>) -> Option<UserfilterConfig> {
        let configuri = s.str("configuri").or_else(|| s.str("urlpath"));
        if let Some(c) = &configuri
            && !c.starts_with('^')
        {
            let key = if s.has("configuri") {
                "configuri"
            } else {
                "urlpath"
            };
            s.error(key, Problem::BadValue(format!("`{c}` must start with `^`")));
            return None;
        }
        Some(UserfilterConfig {
            span: s.span().clone(),
            path: s.path().to_string(),
            dbname: s.str("dbname").map_or_else(
                || PathBuf::from("/etc/marmoset/userfilter.db"),
                PathBuf::from,
            ),
            superuser: s.str("superuser").unwrap_or_else(|| "root".into()),
            configuri,
            allow: s.str("allow"),
        })
    }

    /// The section as libconfig text, for `-C`.
    pub fn print(&self) -> String {
        use crate::config::print::quote;
        let mut parts = vec![
            format!("dbname = {};", quote(&self.dbname.to_string_lossy())),
            format!("superuser = {};", quote(&self.superuser)),
        ];
        if let Some(c) = &self.configuri {
            parts.push(format!("configuri = {};", quote(c)));
        }
        if let Some(a) = &self.allow {
            parts.push(format!("allow = {};", quote(a)));
        }
        format!("{{ {} }}", parts.join(" "))
    }
}

/// A rule ready to check: an expression without placeholders is compiled
/// once, when the rules are loaded, not for every request.
struct Compiled {
    rule: Rule,
    fixed: Option<PatternList>,
}

fn compile(rules: Vec<Rule>) -> Arc<Vec<Compiled>> {
    Arc::new(
        rules
            .into_iter()
            .map(|rule| Compiled {
                fixed: (!rule.exp.contains('%')).then(|| PatternList::new(&rule.exp)),
                rule,
            })
            .collect(),
    )
}

/// The rules in memory, and when the file was last looked at.
struct Cache {
    rules: Arc<Vec<Compiled>>,
    stamp: Option<SystemTime>,
    checked: Instant,
}

/// The running module.
pub struct Userfilter {
    db: Arc<Db>,
    cache: RwLock<Cache>,
    allow: PatternList,
    configuri: Option<Pattern>,
}

impl Userfilter {
    /// Open (or create) the database and load the rules.
    pub fn build(cfg: &UserfilterConfig) -> Result<Userfilter, Diagnostic> {
        let db = Db::open(&cfg.dbname, &cfg.superuser, cfg.configuri.as_deref()).map_err(|e| {
            Diagnostic {
                severity: Severity::Error,
                span: cfg.span.clone(),
                path: format!("{}.dbname", cfg.path),
                problem: Problem::Io(e),
            }
        })?;
        let rules = db.rules().unwrap_or_default();
        Ok(Userfilter {
            cache: RwLock::new(Cache {
                rules: compile(rules),
                stamp: db.stamp(),
                checked: Instant::now(),
            }),
            db: Arc::new(db),
            allow: PatternList::new(cfg.allow.as_deref().unwrap_or("")),
            configuri: cfg.configuri.as_deref().map(Pattern::new),
        })
    }

    /// The current rules, re-read when the file changed (checked at most
    /// once a second).
    fn rules(&self) -> Arc<Vec<Compiled>> {
        let due = self
            .cache
            .read()
            .map(|c| c.checked.elapsed() >= Duration::from_secs(1))
            .unwrap_or(true);
        if due {
            self.refresh(false);
        }
        self.cache
            .read()
            .map(|c| c.rules.clone())
            .unwrap_or_default()
    }

    /// Re-read the rules (always when `force`, else when the file changed).
    fn refresh(&self, force: bool) {
        let stamp = self.db.stamp();
        let Ok(mut c) = self.cache.write() else {
            return;
        };
        c.checked = Instant::now();
        if !force && c.stamp == stamp {
            return;
        }
        match self.db.rules() {
            Ok(rules) => {
                c.rules = compile(rules);
                c.stamp = stamp;
            }
            Err(e) => {
                log::error!("userfilter: cannot read the rules, keeping the previous ones: {e}")
            }
        }
    }

    /// Whether the rules let `ctx.user` do `method` on `path`.
    fn is_allowed(&self, method: &Method, path: &str, ctx: &RequestCtx) -> bool {
        let rules = self.rules();
        let user = ctx.user.as_ref();
        let name = user.map_or("anonymous", |u| u.name.as_str());
        let group = user.map_or("", |u| u.group.as_str());
        let home = user.map_or("", |u| u.home.as_str());
        let reapproving = user.is_some_and(|u| u.status == "reapproving");
        let has_own_role = user.is_some()
            && rules
                .iter()
                .any(|c| c.rule.role == name || c.rule.role == group);
        let applies = |r: &Rule| {
            r.role == "*"
                || (user.is_some() && (r.role == name || (!group.is_empty() && r.role == group)))
                || (r.role == "anonymous" && !has_own_role)
                || (r.role == "reapproving" && reapproving)
        };
        let methods: &[&str] = if *method == Method::HEAD {
            &["HEAD", "GET"]
        } else {
            &[method.as_str()]
        };
        rules
            .iter()
            .filter(|c| methods.contains(&c.rule.method.as_str()) && applies(&c.rule))
            .any(|c| match &c.fixed {
                Some(fixed) => fixed.is_match(path),
                None => expand(&c.rule.exp, name, group, home)
                    .is_some_and(|exp| PatternList::new(&exp).is_match(path)),
            })
    }
}

/// Substitute `%u`, `%g`, `%h`; any other `%x` invalidates the rule.
pub fn expand(exp: &str, user: &str, group: &str, home: &str) -> Option<String> {
    let mut out = String::with_capacity(exp.len());
    let mut chars = exp.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next()? {
            'u' => out.push_str(user),
            'g' => out.push_str(group),
            'h' => out.push_str(home.trim_matches('/')),
            _ => return None,
        }
    }
    Some(out)
}

impl Module for Userfilter {
    fn name(&self) -> &'static str {
        "userfilter"
    }

    fn phases(&self) -> Phases {
        Phases::AUTHORIZE | Phases::HANDLE
    }

    fn permits(&self, method: &Method, path: &str, ctx: &RequestCtx) -> bool {
        self.allow.is_match(path) || self.is_allowed(method, path, ctx)
    }

    fn authorize<'a>(
        &'a self,
        req: &'a RequestHead,
        ctx: &'a mut RequestCtx,
    ) -> Step<'a, Result<Flow, HttpError>> {
        let verdict = if self.permits(&req.method, &ctx.path, ctx) {
            Ok(Flow::Continue)
        } else if ctx.user.is_none() {
            Err(HttpError::new(StatusCode::UNAUTHORIZED))
        } else {
            log::info!(
                "userfilter: {} {} refused for {}",
                req.method,
                ctx.path,
                ctx.user.as_ref().map_or("", |u| u.name.as_str())
            );
            Err(HttpError::new(StatusCode::FORBIDDEN))
        };
        Step::now(verdict)
    }

    fn handle<'a>(
        &'a self,
        req: Request,
        ctx: &'a mut RequestCtx,
    ) -> Step<'a, Result<Handled, HttpError>> {
        let Some(rest) = self.configuri.as_ref().and_then(|c| c.matches(&ctx.path)) else {
            return Step::now(Ok(Handled::Declined(req)));
        };
        let rest = rest.to_string();
        Step::later(async move {
            let resp = api::serve(&self.db, req, &rest).await?;
            self.refresh(true);
            Ok(Handled::Served(resp))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders() {
        assert_eq!(
            expand("^/%g/%u/*", "foo", "users", "/foo").as_deref(),
            Some("^/users/foo/*")
        );
        assert_eq!(
            expand("^/home/%h/*", "foo", "users", "/foo").as_deref(),
            Some("^/home/foo/*")
        );
        assert_eq!(expand("^/%x/*", "foo", "users", ""), None);
        assert_eq!(expand("^/a%", "foo", "users", ""), None);
        assert_eq!(expand("^/*", "foo", "users", "").as_deref(), Some("^/*"));
    }
}
