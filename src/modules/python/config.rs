//! Stage 2 of the `python` section: typed, spanned values.

use std::path::PathBuf;

use crate::cgi_env::string_list;
use crate::config::print::quote;
use crate::config::value::Span;
use crate::config::{Problem, Section};

/// `maxrequests` when absent.
pub const DEFAULT_MAX_REQUESTS: usize = 16;

/// One `python` section.
#[derive(Clone, Debug)]
pub struct PythonConfig {
    /// Where the section starts.
    pub span: Span,
    /// Dotted path of the section (`servers[0].python`).
    pub path: String,
    /// `docroot`: the application directory, put first on `sys.path`
    /// (required).
    pub docroot: PathBuf,
    /// Where `docroot`'s value is written.
    pub docroot_span: Span,
    /// `allow`: pattern list of URIs served.
    pub allow: Option<String>,
    /// `deny`: pattern list of URIs refused.
    pub deny: Option<String>,
    /// `denylast`: check `deny` after `allow`.
    pub denylast: Option<bool>,
    /// `env`: `NAME=value` entries set in `os.environ` at start and added
    /// to every request's `environ`.
    pub env: Vec<String>,
    /// `scripts`: modules (files relative to `docroot`) imported at start,
    /// for the original's script API.
    pub scripts: Vec<String>,
    /// `application` (marmoset): the WSGI callable, `module:name`
    /// (`mysite.wsgi:application`, `app:app`). Without it, the original's
    /// script API serves `/<script>.py/<function>`.
    pub application: Option<String>,
    /// `mount` (marmoset): the URI prefix the application answers under
    /// (its `SCRIPT_NAME`), default the root.
    pub mount: String,
    /// `virtualenv` (marmoset): a virtual environment whose packages are
    /// added to `sys.path`.
    pub virtualenv: Option<PathBuf>,
    /// `maxrequests` (marmoset): requests running at once; more get 503.
    pub max_requests: usize,
}

impl PythonConfig {
    /// Read a `python` section.
    pub fn from_section(sec: &Section<'_>) -> Option<PythonConfig> {
        let docroot_span = sec.value("docroot").map(|v| v.span.clone());
        let docroot = sec.str("docroot");
        let allow = sec.str("allow");
        let deny = sec.str("deny");
        let denylast = sec.bool("denylast");
        let env = string_list(sec, "env");
        let scripts = string_list(sec, "scripts");
        let application = sec.str("application");
        if let Some(a) = &application
            && a.split_once(':')
                .is_none_or(|(m, n)| m.is_empty() || n.is_empty())
        {
            sec.error(
                "application",
                Problem::BadValue(format!("`{a}`: expected `module:callable`")),
            );
        }
        let mount = sec.str("mount").unwrap_or_default();
        let mount = mount.trim_end_matches('/').to_string();
        if !mount.is_empty() && !mount.starts_with('/') {
            sec.error("mount", Problem::BadValue("must start with `/`".into()));
        }
        let virtualenv = sec.str("virtualenv").map(PathBuf::from);
        let max_requests = match sec.uint("maxrequests") {
            Some(0) => {
                sec.error(
                    "maxrequests",
                    Problem::BadValue("must be greater than 0".into()),
                );
                DEFAULT_MAX_REQUESTS
            }
            Some(n) => n as usize,
            None => DEFAULT_MAX_REQUESTS,
        };
        let (Some(docroot), Some(docroot_span)) = (docroot, docroot_span) else {
            if !sec.has("docroot") {
                sec.error("docroot", Problem::MissingKey("docroot"));
            }
            return None;
        };
        Some(PythonConfig {
            span: sec.span().clone(),
            path: sec.path().to_string(),
            docroot: PathBuf::from(docroot),
            docroot_span,
            allow,
            deny,
            denylast,
            env,
            scripts,
            application,
            mount,
            virtualenv,
            max_requests,
        })
    }

    /// The section as libconfig text (for `-C`).
    pub fn print(&self) -> String {
        let mut o = format!("{{ docroot = {};", quote(&self.docroot.to_string_lossy()));
        let list = |v: &[String]| v.iter().map(|e| quote(e)).collect::<Vec<_>>().join(", ");
        for (key, value) in [
            ("allow", &self.allow),
            ("deny", &self.deny),
            ("application", &self.application),
        ] {
            if let Some(v) = value {
                o.push_str(&format!(" {key} = {};", quote(v)));
            }
        }
        if let Some(d) = self.denylast {
            o.push_str(&format!(" denylast = {d};"));
        }
        if !self.env.is_empty() {
            o.push_str(&format!(" env = [{}];", list(&self.env)));
        }
        if !self.scripts.is_empty() {
            o.push_str(&format!(" scripts = [{}];", list(&self.scripts)));
        }
        if !self.mount.is_empty() {
            o.push_str(&format!(" mount = {};", quote(&self.mount)));
        }
        if let Some(v) = &self.virtualenv {
            o.push_str(&format!(" virtualenv = {};", quote(&v.to_string_lossy())));
        }
        o.push_str(&format!(" maxrequests = {}; }}", self.max_requests));
        o
    }
}
