//! Ouistiti's pattern lists (`allow`, `deny`, `unprotect`, `ext`, …).
//!
//! A list is comma separated; it matches when any pattern matches. In a
//! pattern `^` first anchors at the start of the subject (otherwise the
//! pattern may start anywhere), `$` last anchors at the end (otherwise the
//! pattern only has to match a prefix of what remains), `*` matches any run
//! of characters, everything else is literal. So `.html` matches
//! `/index.html` (≡ `*.html*`), `^/api/*` matches everything under `/api/`.
//!
//! Unlike the original matcher, which never backtracks (so `.html` does not
//! match `/a.b.html` there), this one is a correct glob: every subject the
//! original accepts is accepted, plus those it missed by accident.

/// One compiled pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pattern {
    /// Pattern body without the `^`/`$` anchors, with implicit `*` added for
    /// unanchored ends.
    glob: Box<str>,
    trailing_star: bool,
}

impl Pattern {
    /// Compile one pattern.
    pub fn new(text: &str) -> Self {
        let (start, body) = match text.strip_prefix('^') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (end, body) = match body.strip_suffix('$') {
            Some(rest) => (true, rest),
            None => (false, body),
        };
        let mut glob = String::with_capacity(body.len() + 2);
        if !start {
            glob.push('*');
        }
        glob.push_str(body);
        if !end && !glob.ends_with('*') {
            glob.push('*');
        }
        let trailing_star = glob.ends_with('*');
        Pattern {
            glob: glob.into_boxed_str(),
            trailing_star,
        }
    }

    /// Whether the pattern matches `subject`.
    pub fn is_match(&self, subject: &str) -> bool {
        self.matches(subject).is_some()
    }

    /// Match `subject`; on success returns the text matched by a trailing
    /// `*` (the "rest", used as PATH_INFO), empty when there is none.
    pub fn matches<'s>(&self, subject: &'s str) -> Option<&'s str> {
        let start = glob_match(self.glob.as_bytes(), subject.as_bytes())?;
        Some(if self.trailing_star {
            &subject[start..]
        } else {
            ""
        })
    }
}

/// Glob match with `*` only. Returns, on success, where the text matched by
/// the final `*` starts (meaningful only when the glob ends with `*`).
///
/// With `*` as the only wildcard, matching each literal piece at its
/// leftmost possible place is both correct and gives the shortest match, so
/// one pass of substring searches suffices: linear in practice, never the
/// quadratic backtracking a long hostile path could otherwise trigger.
fn glob_match(p: &[u8], s: &[u8]) -> Option<usize> {
    // The pieces between stars are walked in place: this runs for every
    // request (userfilter rules, protect lists), so it allocates nothing.
    let Some(first_star) = p.iter().position(|&c| c == b'*') else {
        return (p == s).then_some(s.len());
    };
    let last_star = p.iter().rposition(|&c| c == b'*').unwrap_or(first_star);
    let (first, last) = (&p[..first_star], &p[last_star + 1..]);
    if !s.starts_with(first) || s.len() < first.len() + last.len() || !s.ends_with(last) {
        return None;
    }
    let mut pos = first.len();
    let end = s.len() - last.len();
    if last_star > first_star {
        for mid in p[first_star + 1..last_star].split(|&c| c == b'*') {
            pos += find(&s[pos..end], mid)? + mid.len();
        }
    }
    Some(if last.is_empty() { pos } else { s.len() })
}

/// Leftmost occurrence of `needle` in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A comma separated list of patterns. The empty list matches nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PatternList {
    patterns: Vec<Pattern>,
}

impl PatternList {
    /// Parse a comma separated list (items are trimmed, empty items skipped).
    pub fn new(text: &str) -> Self {
        PatternList {
            patterns: text
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(Pattern::new)
                .collect(),
        }
    }

    /// Whether any pattern matches.
    pub fn is_match(&self, subject: &str) -> bool {
        self.patterns.iter().any(|p| p.is_match(subject))
    }

    /// The rest matched by the first matching pattern.
    pub fn matches<'s>(&self, subject: &'s str) -> Option<&'s str> {
        self.patterns.iter().find_map(|p| p.matches(subject))
    }

    /// Whether the list has no pattern.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }
}

/// Whether the option string (`options = "range,rest"`) names `word`.
/// Words are separated by commas or spaces and compared exactly.
pub fn has_option(options: &str, word: &str) -> bool {
    options
        .split(|c: char| c == ',' || c.is_whitespace())
        .any(|o| o == word)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(subject: &str, pat: &str) -> Option<String> {
        Pattern::new(pat).matches(subject).map(str::to_string)
    }

    #[test]
    fn reference_table() {
        assert!(m("/index.html", ".html").is_some());
        assert!(m("/index.htmlx", ".html").is_some());
        assert!(m("/x/trust/a", "^/trust/").is_none());
        assert!(m("/private/x", "^private/*").is_none());
        assert_eq!(m("/auth/filter/3", "^/auth/filter*").as_deref(), Some("/3"));
        assert_eq!(m("/auth/filter", "^/auth/filter*").as_deref(), Some(""));
        assert_eq!(
            m("/x/temporary/index.html", "temporary/*").as_deref(),
            Some("index.html")
        );
        assert_eq!(m("/a/file.cgi/path", ".cgi*").as_deref(), Some("/path"));
        assert!(m("/page.htm", ".*htm*").is_some());
        assert!(m("/token", "^/token$").is_some());
        assert!(m("/tokenx", "^/token$").is_none());
    }

    #[test]
    fn backtracks_where_the_original_did_not() {
        assert!(m("/a.b.html", ".html").is_some());
        assert!(m("/abcabd", "abd").is_some());
        assert!(m("/a.b.html", ".html$").is_some());
        assert!(m("/a.b.htm", ".html$").is_none());
    }

    #[test]
    fn several_stars() {
        assert!(m("/x/a/y/b/z", "^/x/*/y/*/z$").is_some());
        assert!(m("/x/a/z", "^/x/*/y/*/z$").is_none());
        assert!(m("/x/y/z", "^/x*y**z$").is_some());
        assert_eq!(m("/a/1/b/2/c", "^/a/*/b/*").as_deref(), Some("2/c"));
        assert_eq!(m("/a/b/b/c", "^/a/*b/*").as_deref(), Some("b/c"));
        assert!(m("/ab", "^/a*b*b").is_none());
    }

    #[test]
    fn first_occurrence_gives_the_longest_rest() {
        assert_eq!(m("/a.cgi/b.cgi/c", ".cgi*").as_deref(), Some("/b.cgi/c"));
    }

    #[test]
    fn lists() {
        let l = PatternList::new(".html, .css,.js");
        assert!(l.is_match("/a.css"));
        assert!(l.is_match("/x/y.js"));
        assert!(!l.is_match("/x/y.png"));
        assert!(!PatternList::new("").is_match("/"));
        assert!(PatternList::new("*").is_match("/anything"));
        assert!(PatternList::new("*").is_match(""));
    }

    #[test]
    fn options() {
        assert!(has_option("dirlisting,sendfile,range", "range"));
        assert!(has_option("range rest", "rest"));
        assert!(!has_option("homework", "home"));
        assert!(!has_option("", "range"));
    }
}
