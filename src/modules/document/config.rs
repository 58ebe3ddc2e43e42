//! Stage 2 of the `document` section: typed, spanned values.

use std::path::PathBuf;

use crate::config::print::quote;
use crate::config::value::{Span, ValueKind};
use crate::config::{Problem, Section};
use crate::pattern::has_option;

/// `defaultpage` when the key is absent (marmoset's default; the original
/// has none and answers 404 for directories).
pub const DEFAULT_PAGE: &str = "index.html";

/// `maxuploadsize` when the key is absent: 1 GiB.
pub const DEFAULT_MAX_UPLOAD: u64 = 1 << 30;

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
    /// `maxuploadsize` (marmoset): largest body of a REST / WebDAV upload
    /// in bytes (413 past it); replaces the server's `maxbodysize` for PUT
    /// and POST on this docroot.
    pub max_upload: u64,
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
    /// `rest` (implied by a `filestorage` section): PUT, POST and DELETE
    /// as the original's file API, plus the WebDAV verbs OPTIONS,
    /// PROPFIND, MKCOL, MOVE and COPY.
    pub rest: bool,
    /// `webdav` (marmoset, implies `rest`): PUT replaces an existing file
    /// and DELETE removes whole trees, as WebDAV clients expect (the
    /// original's PUT refuses existing files).
    pub webdav: bool,
    /// `home`: `/~/…` URIs are served from the authenticated user's home
    /// under `dochome`.
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
        let max_upload = max_upload(sec);
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
            max_upload,
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
        o.push_str(&format!(" options = {};", quote(&self.options.words())));
        if self.options.rest {
            o.push_str(&format!(" maxuploadsize = {}L;", self.max_upload));
        }
        o.push_str(" }");
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
            (self.webdav, "webdav"),
            (self.home, "home"),
        ];
        let on: Vec<&str> = all.iter().filter(|(on, _)| *on).map(|(_, w)| *w).collect();
        on.join(",")
    }

    fn from_section(sec: &Section<'_>, filestorage: bool) -> DocumentOptions {
        let text = sec.str("options").unwrap_or_default();
        let webdav = has_option(&text, "webdav");
        DocumentOptions {
            dirlisting: has_option(&text, "dirlisting"),
            sendfile: has_option(&text, "sendfile"),
            range: has_option(&text, "range"),
            rest: filestorage || webdav || has_option(&text, "rest"),
            webdav,
            home: has_option(&text, "home"),
        }
    }
}

/// `maxuploadsize`: a non-negative integer, 64-bit values (`4294967296L`)
/// allowed.
fn max_upload(sec: &Section<'_>) -> u64 {
    let Some(v) = sec.value("maxuploadsize") else {
        return DEFAULT_MAX_UPLOAD;
    };
    match v.kind {
        ValueKind::Int { value, .. } if value >= 0 => value as u64,
        ValueKind::Int { value, .. } => {
            sec.error(
                "maxuploadsize",
                Problem::BadValue(format!("must not be negative, got {value}")),
            );
            DEFAULT_MAX_UPLOAD
        }
        ref other => {
            sec.error(
                "maxuploadsize",
                Problem::WrongType {
                    expected: "integer",
                    found: other.type_name(),
                },
            );
            DEFAULT_MAX_UPLOAD
        }
    }
}
