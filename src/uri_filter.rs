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

use crate::pattern::PatternList;

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
