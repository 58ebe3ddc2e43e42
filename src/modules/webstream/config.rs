//! Stage 2 of the `webstream` section: typed, spanned values.

use std::path::PathBuf;
use std::time::Duration;

use crate::config::print::quote;
use crate::config::value::Span;
use crate::config::{Problem, Section};
use crate::pattern::has_option;
use crate::uri_filter::FilterKeys;

/// The pause after a multipart part when `fps` is absent (the original's
/// 34 ms, about 29 parts a second).
pub const DEFAULT_INTERVAL: Duration = Duration::from_millis(34);

/// One `webstream` section.
#[derive(Clone, Debug)]
pub struct WebstreamConfig {
    /// Where the section starts.
    pub span: Span,
    /// Dotted path of the section.
    pub path: String,
    /// `docroot`: the directory of producer sockets (required).
    pub docroot: PathBuf,
    /// `allow`, `deny`, `denylast`: which URIs the module serves.
    pub filter: FilterKeys,
    /// `options`.
    pub options: WebstreamOptions,
    /// `fps`: at most this many multipart parts a second to each client,
    /// as the pause after each part.
    pub interval: Duration,
}

/// The words of `options`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WebstreamOptions {
    /// `multipart`: packets as `multipart/x-mixed-replace` parts.
    pub multipart: bool,
    /// `date`: a `Date` header in each part.
    pub date: bool,
}

impl WebstreamConfig {
    /// Read a section; `None` (with an error) without `docroot`.
    pub fn from_section(sec: &Section<'_>) -> Option<WebstreamConfig> {
        let docroot = sec.str("docroot");
        let filter = FilterKeys::from_section(sec);
        let text = sec.str("options").unwrap_or_default();
        let options = WebstreamOptions {
            multipart: has_option(&text, "multipart"),
            date: has_option(&text, "date"),
        };
        if has_option(&text, "direct") {
            sec.warn(
                "options",
                Problem::BadValue(
                    "option `direct` is not supported: the stream goes through marmoset".into(),
                ),
            );
        }
        let interval = match sec.uint("fps") {
            Some(0) => {
                sec.error("fps", Problem::BadValue("must be at least 1".into()));
                DEFAULT_INTERVAL
            }
            Some(fps) => Duration::from_micros(1_000_000 / fps),
            None => DEFAULT_INTERVAL,
        };
        let Some(docroot) = docroot else {
            if !sec.has("docroot") {
                sec.error("docroot", Problem::MissingKey("docroot"));
            }
            return None;
        };
        Some(WebstreamConfig {
            span: sec.span().clone(),
            path: sec.path().to_string(),
            docroot: PathBuf::from(docroot),
            filter,
            options,
            interval,
        })
    }

    /// The section as libconfig text (for `-C`).
    pub fn print(&self) -> String {
        let mut o = format!("{{ docroot = {};", quote(&self.docroot.to_string_lossy()));
        o.push_str(&self.filter.print());
        let words: Vec<&str> = [
            (self.options.multipart, "multipart"),
            (self.options.date, "date"),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, w)| *w)
        .collect();
        o.push_str(&format!(" options = {};", quote(&words.join(","))));
        let fps = (1_000_000 / self.interval.as_micros().max(1)).max(1);
        o.push_str(&format!(" fps = {fps}; }}"));
        o
    }
}
