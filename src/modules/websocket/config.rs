//! Stage 2 of the `websocket` section: typed, spanned values.

use std::path::PathBuf;

use crate::config::print::quote;
use crate::config::value::Span;
use crate::config::{Problem, Section};
use crate::pattern::has_option;
use crate::uri_filter::FilterKeys;

/// `maxmessage` when absent: the largest message accepted from a client.
pub const DEFAULT_MAX_MESSAGE: usize = 1024 * 1024;

/// One `websocket` section.
#[derive(Clone, Debug)]
pub struct WebsocketConfig {
    /// Where the section starts.
    pub span: Span,
    /// Dotted path of the section.
    pub path: String,
    /// `docroot`: the directory of UNIX sockets.
    pub docroot: PathBuf,
    /// `allow`, `deny`, `denylast`: which URIs the module serves.
    pub filter: FilterKeys,
    /// `options`.
    pub options: WebsocketOptions,
    /// `maxmessage` (marmoset): the largest message, in bytes, accepted
    /// from a client or a packet backend; larger ones close the connection
    /// with 1009.
    pub max_message: usize,
}

/// The words of `options`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WebsocketOptions {
    /// `direct`: pass the client's TCP socket to the server (plain HTTP/1.1
    /// only; on TLS and HTTP/2 the connection is bridged).
    pub direct: bool,
    /// `user` (marmoset): send the [`crate::modules::bridge::preamble`]
    /// header block to the server first.
    pub user: bool,
}

impl WebsocketConfig {
    /// Read a section. Returns `None` (with a diagnostic) when it cannot be
    /// served: no `docroot` (the original's `links` are not supported).
    pub fn from_section(sec: &Section<'_>) -> Option<WebsocketConfig> {
        let docroot = sec.str("docroot");
        let filter = FilterKeys::from_section(sec);
        let text = sec.str("options").unwrap_or_default();
        let options = WebsocketOptions {
            direct: has_option(&text, "direct"),
            user: has_option(&text, "user"),
        };
        let max_message = match sec.uint("maxmessage") {
            Some(0) => {
                sec.error("maxmessage", Problem::BadValue("must be at least 1".into()));
                DEFAULT_MAX_MESSAGE
            }
            Some(n) => n as usize,
            None => DEFAULT_MAX_MESSAGE,
        };
        // Shown in the original's examples and ignored by it.
        sec.accept(&["services"]);
        if sec.value("links").is_some() {
            sec.warn(
                "links",
                Problem::BadValue(
                    "`links` (tcp, tty, fifo targets) are not supported: use `docroot`".into(),
                ),
            );
        }
        let Some(docroot) = docroot else {
            if !sec.has("docroot") {
                sec.error("docroot", Problem::MissingKey("docroot"));
            }
            return None;
        };
        Some(WebsocketConfig {
            span: sec.span().clone(),
            path: sec.path().to_string(),
            docroot: PathBuf::from(docroot),
            filter,
            options,
            max_message,
        })
    }

    /// The section as libconfig text (for `-C`).
    pub fn print(&self) -> String {
        let mut o = format!("{{ docroot = {};", quote(&self.docroot.to_string_lossy()));
        o.push_str(&self.filter.print());
        let words: Vec<&str> = [(self.options.direct, "direct"), (self.options.user, "user")]
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, w)| *w)
            .collect();
        o.push_str(&format!(" options = {};", quote(&words.join(","))));
        o.push_str(&format!(" maxmessage = {}; }}", self.max_message));
        o
    }
}
