//! Stage 2 of the `document` section: typed, spanned values.

use std::path::PathBuf;

use crate::config::print::quote;
use crate::config::value::Span;
use crate::config::{Problem, Section};
use crate::pattern::has_option;

/// `defaultpage` when the key is absent (marmoset's default; the original
/// has none and answers 404 for directories).
pub const DEFAULT_PAGE: &str = "index.html";

/// One `document` / `filestorage` / `static_file` section.
#[derive(Clone, Debug)]
pub struct DocumentConfig {
    /// Where the section starts.
    pub span: Span,
    /// Dotted path of the section (`servers[0].document`).
    pub path: String,
    /// `docroot`: the directory served (required).
    pub docroot: PathBuf,
    /// Where `docroot`'s value is written (for start-up errors).
    pub docroot_span: Span,
    /// `dochome`: parent of the per-user homes (option `home`); `docroot`
    /// when absent.
    pub dochome: Option<PathBuf>,
    /// `allow`: pattern list of URIs served.
    pub allow: Option<String>,
    /// `deny`: pattern list of URIs refused (see `filter` for the default).
    pub deny: Option<String>,
    /// `denylast`: check `deny` after `allow`.
    pub denylast: Option<bool>,
    /// `defaultpage`: file served for a directory URI (`None` when set to
    /// the empty string).
    pub defaultpage: Option<String>,
    /// `options`.
    pub options: DocumentOptions,
}

/// The words of `options`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DocumentOptions {
    /// `dirlisting`: HTML and JSON directory listings.
    pub dirlisting: bool,
    /// `sendfile`: accepted; the body is streamed the same way either way.
    pub sendfile: bool,
    /// `range`: honour `Range` requests.
    pub range: bool,
    /// `rest` (implied by a `filestorage` section): recorded only. PUT,
    /// POST and DELETE are not served by this version; such requests are
    /// declined.
    pub rest: bool,
    /// `home`: recorded only. `/~` URIs are not mapped to user homes by
    /// this version; they are resolved under `docroot` like any other.
    pub home: bool,
}

impl DocumentConfig {
    /// Read a section; `filestorage` is set when it was written under that
    /// name (which implies option `rest`). Returns `None` (with an error
    /// recorded) when `docroot` is missing or not a string.
    pub fn from_section(sec: &Section<'_>, filestorage: bool) -> Option<DocumentConfig> {
        let docroot_span = sec.value("docroot").map(|v| v.span.clone());
        let docroot = sec.str("docroot");
        let dochome = sec.str("dochome").map(PathBuf::from);
        let allow = sec.str("allow");
        let deny = sec.str("deny");
        let denylast = sec.bool("denylast");
        let defaultpage = match sec.str("defaultpage") {
            None => Some(DEFAULT_PAGE.to_string()),
            Some(p) if p.is_empty() => None,
            Some(p) => Some(p),
        };
        let options = DocumentOptions::from_section(sec, filestorage);
        // Seen in old examples; the original ignores it too.
        sec.accept(&["transfer_type"]);
        let (Some(docroot), Some(docroot_span)) = (docroot, docroot_span) else {
            if !sec.has("docroot") {
                sec.error("docroot", Problem::MissingKey("docroot"));
            }
            return None;
        };
        Some(DocumentConfig {
            span: sec.span().clone(),
            path: sec.path().to_string(),
            docroot: PathBuf::from(docroot),
            docroot_span,
            dochome,
            allow,
            deny,
            denylast,
            defaultpage,
            options,
        })
    }
}

impl DocumentConfig {
    /// The section as libconfig text with every default made explicit (for
    /// `-C`). The filter is printed as it behaves: without `deny`, `allow`
    /// alone prints as the white list `deny = "*"; denylast = true;` and no
    /// filter as `deny = "";`, which the original reads the same way.
    pub fn print(&self) -> String {
        let mut o = format!("{{ docroot = {};", quote(&self.docroot.to_string_lossy()));
        if let Some(h) = &self.dochome {
            o.push_str(&format!(" dochome = {};", quote(&h.to_string_lossy())));
        }
        if let Some(a) = &self.allow {
            o.push_str(&format!(" allow = {};", quote(a)));
        }
        let (deny, denylast) = match (&self.deny, &self.allow) {
            (Some(d), _) => (d.as_str(), self.denylast.unwrap_or(false)),
            (None, Some(_)) => ("*", true),
            (None, None) => ("", false),
        };
        o.push_str(&format!(" deny = {}; denylast = {denylast};", quote(deny)));
        let page = self.defaultpage.as_deref().unwrap_or("");
        o.push_str(&format!(" defaultpage = {};", quote(page)));
        o.push_str(&format!(" options = {}; }}", quote(&self.options.words())));
        o
    }
}

impl DocumentOptions {
    /// The option words that are on, comma separated.
    pub fn words(&self) -> String {
        let all = [
            (self.dirlisting, "dirlisting"),
            (self.sendfile, "sendfile"),
            (self.range, "range"),
            (self.rest, "rest"),
            (self.home, "home"),
        ];
        let on: Vec<&str> = all.iter().filter(|(on, _)| *on).map(|(_, w)| *w).collect();
        on.join(",")
    }

    fn from_section(sec: &Section<'_>, filestorage: bool) -> DocumentOptions {
        let text = sec.str("options").unwrap_or_default();
        let opts = DocumentOptions {
            dirlisting: has_option(&text, "dirlisting"),
            sendfile: has_option(&text, "sendfile"),
            range: has_option(&text, "range"),
            rest: filestorage || has_option(&text, "rest"),
            home: has_option(&text, "home"),
        };
        if opts.rest {
            sec.warn(
                "options",
                Problem::BadValue(
                    "option `rest` is not supported yet: PUT, POST and DELETE are not served"
                        .into(),
                ),
            );
        }
        if opts.home {
            sec.warn(
                "options",
                Problem::BadValue(
                    "option `home` is not supported yet: `/~` is not mapped to user homes".into(),
                ),
            );
        }
        opts
    }
}
