//! The `allow` / `deny` / `denylast` URI filter (REFERENCE §5.2).
//!
//! With a `deny` key the original's decision is reproduced exactly:
//!
//! 1. `denylast` false and `deny` matches → rejected;
//! 2. `allow` set and matches → accepted;
//! 3. `denylast` true and `deny` matches → rejected;
//! 4. accepted.
//!
//! Without a `deny` key marmoset departs from the original, whose implicit
//! `deny = "*"` makes a section without `deny` reject every URI: `allow`
//! alone is a white list (`deny = "*"; denylast = true;`), and neither key
//! means nothing is denied.
//!
//! A rejected URI is not an error: the module declines the request.

use crate::config::Section;
use crate::config::print::quote;
use crate::pattern::PatternList;

/// The `allow`, `deny` and `denylast` keys as written, shared by every
/// module section that filters URIs: read once, printed back by `-C`, and
/// compiled into a [`UriFilter`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FilterKeys {
    /// `allow`: pattern list of URIs served.
    pub allow: Option<String>,
    /// `deny`: pattern list of URIs refused.
    pub deny: Option<String>,
    /// `denylast`: check `deny` after `allow`.
    pub denylast: Option<bool>,
}

impl FilterKeys {
    /// Read the three keys of a section.
    pub fn from_section(sec: &Section<'_>) -> FilterKeys {
        FilterKeys {
            allow: sec.str("allow"),
            deny: sec.str("deny"),
            denylast: sec.bool("denylast"),
        }
    }

    /// The keys that are set, as libconfig settings (` allow = "…";` …).
    pub fn print(&self) -> String {
        let mut o = String::new();
        if let Some(a) = &self.allow {
            o.push_str(&format!(" allow = {};", quote(a)));
        }
        if let Some(d) = &self.deny {
            o.push_str(&format!(" deny = {};", quote(d)));
        }
        if let Some(d) = self.denylast {
            o.push_str(&format!(" denylast = {d};"));
        }
        o
    }

    /// The compiled filter.
    pub fn build(&self) -> UriFilter {
        UriFilter::new(self.allow.as_deref(), self.deny.as_deref(), self.denylast)
    }
}

/// The compiled filter of one module instance.
#[derive(Clone, Debug, Default)]
pub struct UriFilter {
    allow: Option<PatternList>,
    deny: PatternList,
    deny_last: bool,
}

impl UriFilter {
    /// Build from the raw keys (`None` = key absent).
    pub fn new(allow: Option<&str>, deny: Option<&str>, deny_last: Option<bool>) -> Self {
        let allow = allow.map(PatternList::new);
        match deny {
            Some(deny) => UriFilter {
                allow,
                deny: PatternList::new(deny),
                deny_last: deny_last.unwrap_or(false),
            },
            None if allow.is_some() => UriFilter {
                allow,
                deny: PatternList::new("*"),
                deny_last: true,
            },
            None => UriFilter::default(),
        }
    }

    /// Whether the module may serve `uri` (the normalised path).
    pub fn accepts(&self, uri: &str) -> bool {
        if !self.deny_last && self.deny.is_match(uri) {
            return false;
        }
        if self.allow.as_ref().is_some_and(|a| a.is_match(uri)) {
            return true;
        }
        !(self.deny_last && self.deny.is_match(uri))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_set_denies_nothing() {
        let f = UriFilter::new(None, None, None);
        assert!(f.accepts("/"));
        assert!(f.accepts("/secret/x"));
        // denylast alone changes nothing.
        assert!(UriFilter::new(None, None, Some(true)).accepts("/x"));
    }

    #[test]
    fn allow_alone_is_a_white_list() {
        let f = UriFilter::new(Some("^/pub/*,.html$"), None, None);
        assert!(f.accepts("/pub/a.txt"));
        assert!(f.accepts("/x/index.html"));
        assert!(!f.accepts("/x/index.txt"));
        assert!(!f.accepts("/"));
    }

    #[test]
    fn deny_first_by_default() {
        // deny checked first: allow cannot re-open what deny closes.
        let f = UriFilter::new(Some("^/private/open*"), Some("^/private/*"), None);
        assert!(!f.accepts("/private/open/a"));
        assert!(!f.accepts("/private/x"));
        assert!(f.accepts("/public/x"));
    }

    #[test]
    fn denylast_lets_allow_win() {
        let f = UriFilter::new(Some("^/private/open*"), Some("^/private/*"), Some(true));
        assert!(f.accepts("/private/open/a"));
        assert!(!f.accepts("/private/x"));
        assert!(f.accepts("/public/x"));
    }

    #[test]
    fn explicit_deny_star_without_denylast_rejects_all() {
        // The original's default, kept when written explicitly.
        let f = UriFilter::new(Some("*"), Some("*"), None);
        assert!(!f.accepts("/index.html"));
    }

    #[test]
    fn empty_deny_denies_nothing() {
        let f = UriFilter::new(Some("^/only/*"), Some(""), None);
        assert!(f.accepts("/other"));
        assert!(f.accepts("/only/x"));
    }
}
