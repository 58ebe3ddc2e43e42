//! The `redirect` section.

use std::path::PathBuf;

use http::StatusCode;

use crate::config::{Problem, Section, value::Span, value::ValueKind};
use crate::pattern::{Pattern, PatternList, has_option};

/// What a link reacts to.
#[derive(Debug, Clone)]
pub enum Origin {
    /// A pattern list tested against the request path.
    Path(PatternList, String),
    /// A response status (error links).
    Status(StatusCode),
}

/// One entry of `links`.
#[derive(Debug, Clone)]
pub struct LinkConfig {
    /// `origin`.
    pub origin: Origin,
    /// `destination`: the `Location` (verbatim, relative or absolute).
    pub destination: Option<String>,
    /// The destination as a pattern: a path it matches is not redirected
    /// (loop guard). Compiled once here, not per request.
    pub loop_guard: Option<Pattern>,
    /// `defaultpage`: for `origin = 404`, redirect directory requests to it.
    pub defaultpage: Option<String>,
    /// `options`: `permanently` (301) / `temporary` (307); else the module's.
    pub status: Option<StatusCode>,
    /// `options` contains `generate_204`.
    pub generate_204: bool,
    /// `options` contains `query`: append the query, or go to `redirect_uri`.
    pub query: bool,
    /// `allow` (marmoset): where `redirect_uri` may send clients; default
    /// only to this site.
    pub allow: Option<PatternList>,
    /// `page` (marmoset): for a status origin, a file whose content replaces
    /// the error body, keeping the status.
    pub page: Option<PathBuf>,
    text: String,
}

/// Parsed `redirect = { … }`.
#[derive(Debug, Clone)]
pub struct RedirectConfig {
    /// Where the section is written.
    pub span: Span,
    /// Its key path.
    pub path: String,
    /// Default redirect status from `options` (302, or 301 / 307).
    pub status: StatusCode,
    /// `options` contains `generate_204`.
    pub generate_204: bool,
    /// `options` contains `hsts`.
    pub hsts: bool,
    /// `tls_port` (marmoset): the HTTPS port plain requests are sent to.
    pub tls_port: u16,
    /// `links`, in file order (evaluated last first, as Ouistiti does).
    pub links: Vec<LinkConfig>,
    options: String,
}

/// `permanently` → 301, `temporary` → 307 (wins), else `None`.
fn status_of(options: &str) -> Option<StatusCode> {
    if has_option(options, "temporary") {
        Some(StatusCode::TEMPORARY_REDIRECT)
    } else if has_option(options, "permanently") {
        Some(StatusCode::MOVED_PERMANENTLY)
    } else {
        None
    }
}

/// Ouistiti writes `temporary|permanently`: accept `|` as a separator too.
fn options_of(s: &Section<'_>) -> String {
    s.str("options").unwrap_or_default().replace('|', ",")
}

impl RedirectConfig {
    /// Read the section.
    pub fn from_section(s: &Section<'_>) -> Option<RedirectConfig> {
        let options = options_of(s);
        let links = s
            .groups("links")
            .into_iter()
            .filter_map(|l| {
                let link = link(&l);
                l.finish();
                link
            })
            .collect();
        let tls_port = match s.uint("tls_port") {
            Some(p) if p > 0 && p <= u16::MAX as u64 => p as u16,
            Some(p) => {
                s.error(
                    "tls_port",
                    Problem::BadValue(format!("port {p} is out of range")),
                );
                443
            }
            None => 443,
        };
        Some(RedirectConfig {
            span: s.span().clone(),
            path: s.path().to_string(),
            status: status_of(&options).unwrap_or(StatusCode::FOUND),
            generate_204: has_option(&options, "generate_204"),
            hsts: has_option(&options, "hsts"),
            tls_port,
            links,
            options,
        })
    }

    /// The section as libconfig text, for `-C`.
    pub fn print(&self) -> String {
        use crate::config::print::quote;
        let links: Vec<String> = self.links.iter().map(|l| l.text.clone()).collect();
        format!(
            "{{ options = {}; tls_port = {}; links = ({}); }}",
            quote(&self.options),
            self.tls_port,
            links.join(", ")
        )
    }
}

fn link(l: &Section<'_>) -> Option<LinkConfig> {
    use crate::config::print::quote;
    let origin = match l.value("origin").map(|v| &v.kind) {
        Some(ValueKind::Str(p)) => Origin::Path(PatternList::new(p), quote(p)),
        Some(ValueKind::Int { value, .. }) => match u16::try_from(*value)
            .ok()
            .and_then(|c| StatusCode::from_u16(c).ok())
        {
            Some(code) => Origin::Status(code),
            None => {
                l.error(
                    "origin",
                    Problem::BadValue(format!("{value} is not an HTTP status")),
                );
                return None;
            }
        },
        Some(other) => {
            l.error(
                "origin",
                Problem::WrongType {
                    expected: "string or integer",
                    found: other.type_name(),
                },
            );
            return None;
        }
        None => {
            l.error("origin", Problem::MissingKey("origin"));
            return None;
        }
    };
    let options = options_of(l);
    let cfg = LinkConfig {
        loop_guard: l.str("destination").map(|d| Pattern::new(&d)),
        destination: l.str("destination"),
        defaultpage: l.str("defaultpage"),
        status: status_of(&options),
        generate_204: has_option(&options, "generate_204"),
        query: has_option(&options, "query"),
        allow: l.str("allow").map(|a| PatternList::new(&a)),
        page: l.str("page").map(PathBuf::from),
        text: String::new(),
        origin,
    };
    l.accept(&["options"]);
    let origin_text = match &cfg.origin {
        Origin::Path(_, t) => t.clone(),
        Origin::Status(c) => c.as_u16().to_string(),
    };
    let mut text = format!("{{ origin = {origin_text}; options = {};", quote(&options));
    if let Some(d) = &cfg.destination {
        text.push_str(&format!(" destination = {};", quote(d)));
    }
    if let Some(p) = &cfg.page {
        text.push_str(&format!(" page = {};", quote(&p.to_string_lossy())));
    }
    text.push_str(" }");
    Some(LinkConfig { text, ..cfg })
}
