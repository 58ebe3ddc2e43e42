//! Validators and conditional requests (RFC 9110 §8.8, §13), which the
//! original lacks entirely (REFERENCE §6.11.1): a device UI reloaded over a
//! slow link then gets 304s instead of whole files.
//!
//! - `ETag` is a strong validator built from the file's inode, modification
//!   time (with nanoseconds) and size: `"<ino>-<secs>.<nsecs>-<size>"` in
//!   hex. It changes whenever the file is replaced or rewritten.
//! - `Last-Modified` is the modification time in seconds (omitted for times
//!   an HTTP date cannot express: before 1970 or after 9999).
//! - `If-None-Match` (`*` or a list, weak comparison) decides alone when
//!   present; otherwise `If-Modified-Since` (modified at or before the
//!   given date) gives 304.
//! - `If-Range` (strong ETag, or a date equal to `Last-Modified`) lets a
//!   `Range` apply; any mismatch sends the whole file.

use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::header::{IF_MODIFIED_SINCE, IF_NONE_MATCH, IF_RANGE};
use http::{HeaderMap, HeaderValue};

/// The first second an HTTP date cannot express (year 10000).
const DATE_LIMIT: i64 = 253_402_300_800;

/// The validators of one file.
#[derive(Clone, Debug)]
pub struct Validators {
    /// The strong entity tag, quotes included, as the `ETag` value.
    pub etag: HeaderValue,
    /// Modification time truncated to seconds, when expressible.
    pub modified: Option<SystemTime>,
    /// `modified` as the `Last-Modified` value.
    last_modified: Option<HeaderValue>,
}

/// What identifies a version of a file: inode, mtime (s, ns), size.
type Version = (u64, i64, i64, u64);

/// Validators of recently served files, per thread: formatting a tag and a
/// date for every response of the same file costs more than the lookup.
const RECENT: usize = 16;

thread_local! {
    static CACHE: std::cell::RefCell<[Option<(Version, Validators)>; RECENT]> =
        const { std::cell::RefCell::new([const { None }; RECENT]) };
}

impl Validators {
    /// Validators of a file from its metadata.
    pub fn of(meta: &Metadata) -> Validators {
        let key = (meta.ino(), meta.mtime(), meta.mtime_nsec(), meta.size());
        CACHE.with(|c| {
            let mut c = c.borrow_mut();
            let slot = &mut c[(key.0 ^ key.1 as u64) as usize % RECENT];
            match slot {
                Some((k, v)) if *k == key => v.clone(),
                _ => {
                    let v = Validators::new(key.0, key.1, key.2, key.3);
                    *slot = Some((key, v.clone()));
                    v
                }
            }
        })
    }

    fn new(ino: u64, secs: i64, nsecs: i64, size: u64) -> Validators {
        let modified = (0..DATE_LIMIT)
            .contains(&secs)
            .then(|| UNIX_EPOCH + Duration::from_secs(secs.unsigned_abs()));
        let etag = format!("\"{ino:x}-{secs:x}.{nsecs:x}-{size:x}\"");
        let etag = HeaderValue::from_str(&etag).expect("hex digits and punctuation");
        Validators::from_parts(etag, modified)
    }

    /// Validators with this tag and modification time.
    pub fn from_parts(etag: HeaderValue, modified: Option<SystemTime>) -> Validators {
        Validators {
            etag,
            last_modified: modified
                .and_then(|m| HeaderValue::from_str(&httpdate::fmt_http_date(m)).ok()),
            modified,
        }
    }

    /// The entity tag as text.
    pub fn etag_str(&self) -> &str {
        self.etag.to_str().unwrap_or_default()
    }

    /// The `ETag` header value (responses get it through [`Validators::put`]).
    #[cfg(test)]
    fn etag_header(&self) -> Option<HeaderValue> {
        Some(self.etag.clone())
    }

    /// The `Last-Modified` header value (as for `etag_header`).
    #[cfg(test)]
    fn last_modified_header(&self) -> Option<HeaderValue> {
        self.last_modified.clone()
    }

    /// Move `ETag` and `Last-Modified` into `headers` (no copy: each copy
    /// of a formatted value is a reference count touched twice).
    pub fn put(self, headers: &mut HeaderMap) {
        headers.insert(http::header::ETAG, self.etag);
        if let Some(v) = self.last_modified {
            headers.insert(http::header::LAST_MODIFIED, v);
        }
    }
}

/// Whether a GET/HEAD with these headers gets 304 Not Modified.
pub fn not_modified(headers: &HeaderMap, v: &Validators) -> bool {
    let mut none_match = headers.get_all(IF_NONE_MATCH).iter().peekable();
    if none_match.peek().is_some() {
        return none_match.any(|h| h.to_str().is_ok_and(|s| none_match_hits(s, v.etag_str())));
    }
    let Some(since) = headers.get(IF_MODIFIED_SINCE).and_then(date) else {
        return false;
    };
    v.modified.is_some_and(|m| m <= since)
}

/// Whether a `Range` may apply given `If-Range` (true when absent).
pub fn range_allowed(headers: &HeaderMap, v: &Validators) -> bool {
    let Some(value) = headers.get(IF_RANGE) else {
        return true;
    };
    let Ok(s) = value.to_str() else {
        return false;
    };
    let s = s.trim();
    if s.starts_with('"') || s.starts_with("W/") {
        // Strong comparison: a weak tag never matches.
        return s == v.etag_str();
    }
    match (httpdate::parse_http_date(s), v.modified) {
        (Ok(d), Some(m)) => d == m,
        _ => false,
    }
}

fn date(h: &HeaderValue) -> Option<SystemTime> {
    httpdate::parse_http_date(h.to_str().ok()?).ok()
}

/// `If-None-Match` value `s` against our tag, weak comparison.
fn none_match_hits(s: &str, ours: &str) -> bool {
    if s.trim() == "*" {
        return true;
    }
    entity_tags(s).any(|t| t == ours)
}

/// The opaque tags (quotes included, `W/` dropped) of a list such as
/// `"a", W/"b"`. Stops at the first malformed element.
fn entity_tags(s: &str) -> impl Iterator<Item = &str> {
    let mut rest = s;
    std::iter::from_fn(move || {
        let t = rest.trim_start_matches([' ', '\t', ',']);
        let t = t.strip_prefix("W/").unwrap_or(t);
        if !t.starts_with('"') {
            return None;
        }
        let end = t[1..].find('"')? + 2;
        let (tag, after) = t.split_at(end);
        rest = after;
        Some(tag)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v() -> Validators {
        // 2020-01-01T00:00:00Z
        Validators::new(0x2a, 1_577_836_800, 5, 100)
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, val) in pairs {
            h.append(*k, HeaderValue::from_str(val).unwrap());
        }
        h
    }

    #[test]
    fn etag_shape() {
        assert_eq!(v().etag_str(), "\"2a-5e0be100.5-64\"");
        assert_eq!(
            v().last_modified_header().unwrap(),
            "Wed, 01 Jan 2020 00:00:00 GMT"
        );
        assert!(Validators::new(1, -5, 0, 1).modified.is_none());
        assert!(Validators::new(1, DATE_LIMIT, 0, 1).modified.is_none());
        assert!(Validators::new(1, -5, 0, 1).etag_header().is_some());
    }

    #[test]
    fn if_none_match() {
        let t = v().etag_str().to_string();
        let hit = |s: &str| not_modified(&headers(&[("if-none-match", s)]), &v());
        assert!(hit(&t));
        assert!(hit("*"));
        assert!(hit(&format!("W/{t}")), "weak comparison");
        assert!(hit(&format!("\"x\", {t}")));
        assert!(hit(&format!("\"a,b\",W/{t}")));
        assert!(!hit("\"x\""));
        assert!(!hit("\"x\", \"y\""));
        assert!(!hit("garbage"));
        assert!(!hit(""));
        assert!(!hit("\"unterminated"));
        // Several header lines.
        let h = headers(&[("if-none-match", "\"x\""), ("if-none-match", &t)]);
        assert!(not_modified(&h, &v()));
    }

    #[test]
    fn if_modified_since() {
        let ims = |s: &str| not_modified(&headers(&[("if-modified-since", s)]), &v());
        assert!(ims("Wed, 01 Jan 2020 00:00:00 GMT"));
        assert!(ims("Thu, 02 Jan 2020 00:00:00 GMT"));
        assert!(!ims("Tue, 31 Dec 2019 23:59:59 GMT"));
        assert!(!ims("not a date"));
        // If-None-Match present and not matching: the date is not consulted.
        let h = headers(&[
            ("if-none-match", "\"other\""),
            ("if-modified-since", "Thu, 02 Jan 2020 00:00:00 GMT"),
        ]);
        assert!(!not_modified(&h, &v()));
        assert!(!not_modified(&HeaderMap::new(), &v()));
    }

    #[test]
    fn if_range() {
        let t = v().etag_str().to_string();
        let ok = |s: &str| range_allowed(&headers(&[("if-range", s)]), &v());
        assert!(range_allowed(&HeaderMap::new(), &v()));
        assert!(ok(&t));
        assert!(!ok(&format!("W/{t}")), "strong comparison");
        assert!(!ok("\"other\""));
        assert!(ok("Wed, 01 Jan 2020 00:00:00 GMT"));
        assert!(!ok("Thu, 02 Jan 2020 00:00:00 GMT"));
        assert!(!ok("nonsense"));
    }
}
