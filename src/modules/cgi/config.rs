//! Stage 2 of the `cgi` section: typed, spanned values.

use std::path::PathBuf;
use std::time::Duration;

use crate::cgi_env::{server_timeout, string_list};
use crate::config::print::quote;
use crate::config::value::Span;
use crate::config::{Problem, Section};
use crate::uri_filter::FilterKeys;

/// `maxscripts` when absent.
pub const DEFAULT_MAX_SCRIPTS: usize = 16;
/// `maxtime` when absent.
pub const DEFAULT_MAX_TIME: Duration = Duration::from_secs(300);
pub use crate::cgi_env::DEFAULT_TIMEOUT;

/// One `cgi` section.
#[derive(Clone, Debug)]
pub struct CgiConfig {
    /// Where the section starts.
    pub span: Span,
    /// Dotted path of the section (`servers[0].cgi`).
    pub path: String,
    /// `docroot`: the script directory (required).
    pub docroot: PathBuf,
    /// Where `docroot`'s value is written.
    pub docroot_span: Span,
    /// `allow`, `deny`, `denylast`: which URIs the module serves.
    pub filter: FilterKeys,
    /// `env`: extra `NAME=value` entries for every script.
    pub env: Vec<String>,
    /// The server's `timeout`: longest wait for output from a script (and
    /// for it to take input); the script is killed past it.
    pub timeout: Duration,
    /// `maxtime` (marmoset, seconds): longest run of a script, output or
    /// not.
    pub max_time: Duration,
    /// `maxscripts` (marmoset): scripts running at once; more get 503.
    pub max_scripts: usize,
}

impl CgiConfig {
    /// Read a `cgi` section of `server` (whose `timeout` applies).
    pub fn from_section(sec: &Section<'_>, server: &Section<'_>) -> Option<CgiConfig> {
        let docroot_span = sec.value("docroot").map(|v| v.span.clone());
        let docroot = sec.str("docroot");
        let filter = FilterKeys::from_section(sec);
        let env = string_list(sec, "env");
        let max_time = match sec.float("maxtime") {
            Some(s) if s > 0.0 && s.is_finite() => Duration::from_secs_f64(s),
            Some(_) => {
                sec.error(
                    "maxtime",
                    Problem::BadValue("must be greater than 0".into()),
                );
                DEFAULT_MAX_TIME
            }
            None => DEFAULT_MAX_TIME,
        };
        let max_scripts = match sec.uint("maxscripts") {
            Some(0) => {
                sec.error(
                    "maxscripts",
                    Problem::BadValue("must be greater than 0".into()),
                );
                DEFAULT_MAX_SCRIPTS
            }
            Some(n) => n as usize,
            None => DEFAULT_MAX_SCRIPTS,
        };
        let (Some(docroot), Some(docroot_span)) = (docroot, docroot_span) else {
            if !sec.has("docroot") {
                sec.error("docroot", Problem::MissingKey("docroot"));
            }
            return None;
        };
        Some(CgiConfig {
            span: sec.span().clone(),
            path: sec.path().to_string(),
            docroot: PathBuf::from(docroot),
            docroot_span,
            filter,
            env,
            timeout: server_timeout(server),
            max_time,
            max_scripts,
        })
    }

    /// The section as libconfig text (for `-C`).
    pub fn print(&self) -> String {
        let mut o = format!("{{ docroot = {};", quote(&self.docroot.to_string_lossy()));
        o.push_str(&self.filter.print());
        if !self.env.is_empty() {
            let items: Vec<String> = self.env.iter().map(|e| quote(e)).collect();
            o.push_str(&format!(" env = [{}];", items.join(", ")));
        }
        o.push_str(&format!(
            " maxtime = {}; maxscripts = {}; }}",
            self.max_time.as_secs_f64(),
            self.max_scripts
        ));
        o
    }
}
