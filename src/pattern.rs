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
/// Classic linear backtracking: a `*` first matches as little as possible.
fn glob_match(p: &[u8], s: &[u8]) -> Option<usize> {
    if p.last() == Some(&b'*') {
        // The trailing star swallows the rest: find the shortest match of
        // the prefix as a prefix of `s`, then the rest starts there.
        return prefix_match(&p[..p.len() - 1], s);
    }
    full_match(p, s).then_some(s.len())
}

/// Shortest `k` such that `p` matches `s[..k]` exactly.
fn prefix_match(p: &[u8], s: &[u8]) -> Option<usize> {
    (0..=s.len()).find(|&k| full_match(p, &s[..k]))
}

fn full_match(p: &[u8], s: &[u8]) -> bool {
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() && p[pi] != b'*' && p[pi] == s[si] {
            pi += 1;
            si += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, si));
            pi += 1;
        } else if let Some((sp, ss)) = star {
            pi = sp + 1;
            si = ss + 1;
            star = Some((sp, ss + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
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
