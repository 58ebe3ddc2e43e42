//! `Range: bytes=…` requests (RFC 9110 §14), for option `range`.
//!
//! Unlike the original (REFERENCE §6.11.2, several wrong answers), marmoset
//! implements the RFC:
//!
//! - `bytes=S-E` (E clamped to the last byte), `bytes=S-` (to the end) and
//!   suffix `bytes=-N` (the last N bytes, the whole file if N ≥ size);
//! - the unit is compared case-insensitively; empty list elements are
//!   skipped;
//! - a syntactically invalid header (other unit, non-digits, `E < S`, no
//!   range at all) is ignored: the whole file is sent with 200;
//! - ranges that start at or past the end (and `-0`) are unsatisfiable and
//!   dropped; if none remains the answer is 416 with
//!   `Content-Range: bytes */size`;
//! - several ranges are answered with one `multipart/byteranges` body, in
//!   the order requested, except that when any of them overlap or touch
//!   they are all sorted and merged (RFC 9110 §14.6 allows coalescing);
//!   a single range left after merging gets a plain 206;
//! - more than [`MAX_RANGES`] parts after merging: the header is ignored
//!   and the whole file is sent (a guard against many-tiny-ranges abuse;
//!   the RFC lets a server ignore `Range`).

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

use bytes::Bytes;
use http::HeaderValue;

use crate::body::Segment;

/// Most parts a multipart answer may have.
pub const MAX_RANGES: usize = 16;

/// An inclusive byte range of a file, inside the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ByteRange {
    /// First byte.
    pub start: u64,
    /// Last byte (inclusive).
    pub end: u64,
}

impl ByteRange {
    /// Number of bytes.
    pub fn length(&self) -> u64 {
        self.end - self.start + 1
    }

    /// The file segment of this range.
    pub fn segment(&self) -> Segment {
        Segment::File {
            offset: self.start,
            len: self.length(),
        }
    }

    /// `Content-Range` value for a file of `size` bytes.
    pub fn content_range(&self, size: u64) -> HeaderValue {
        header(format!("bytes {}-{}/{size}", self.start, self.end))
    }
}

/// What to do with a `Range` header.
#[derive(Debug, PartialEq, Eq)]
pub enum RangeDecision {
    /// Ignore it: send the whole file with 200.
    Full,
    /// 416 with `Content-Range: bytes */size`.
    Unsatisfiable,
    /// 206 with these parts (at least one).
    Partial(Vec<ByteRange>),
}

/// `Content-Range` value of a 416 answer.
pub fn unsatisfied_range(size: u64) -> HeaderValue {
    header(format!("bytes */{size}"))
}

/// Decide what a `Range` header asks of a file of `size` bytes.
pub fn parse(value: &[u8], size: u64) -> RangeDecision {
    let Ok(value) = std::str::from_utf8(value) else {
        return RangeDecision::Full;
    };
    let Some(specs) = parse_specs(value) else {
        return RangeDecision::Full;
    };
    let ranges: Vec<ByteRange> = specs.into_iter().filter_map(|s| s.within(size)).collect();
    if ranges.is_empty() {
        return RangeDecision::Unsatisfiable;
    }
    let ranges = coalesce(ranges);
    if ranges.len() > MAX_RANGES {
        return RangeDecision::Full;
    }
    RangeDecision::Partial(ranges)
}

/// One `range-spec` as written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Spec {
    /// `first-[last]`.
    Int { first: u64, last: Option<u64> },
    /// `-length`.
    Suffix(u64),
}

impl Spec {
    /// The bytes of a `size`-byte file it designates, if satisfiable.
    fn within(self, size: u64) -> Option<ByteRange> {
        let last = size.checked_sub(1)?;
        match self {
            Spec::Int { first, last: end } if first <= last => Some(ByteRange {
                start: first,
                end: end.map_or(last, |e| e.min(last)),
            }),
            Spec::Int { .. } | Spec::Suffix(0) => None,
            Spec::Suffix(n) => Some(ByteRange {
                start: size.saturating_sub(n),
                end: last,
            }),
        }
    }
}

/// `bytes=spec, spec…` → the specs; `None` when the header is invalid.
fn parse_specs(value: &str) -> Option<Vec<Spec>> {
    let (unit, set) = value.trim().split_once('=')?;
    if !unit.eq_ignore_ascii_case("bytes") {
        return None;
    }
    let specs = set
        .split(',')
        .map(|s| s.trim_matches([' ', '\t']))
        .filter(|s| !s.is_empty())
        .map(parse_spec)
        .collect::<Option<Vec<Spec>>>()?;
    (!specs.is_empty()).then_some(specs)
}

fn parse_spec(s: &str) -> Option<Spec> {
    if let Some(n) = s.strip_prefix('-') {
        return Some(Spec::Suffix(number(n)?));
    }
    let (first, last) = s.split_once('-')?;
    let first = number(first)?;
    let last = match last {
        "" => None,
        l => Some(number(l)?),
    };
    if last.is_some_and(|l| l < first) {
        return None;
    }
    Some(Spec::Int { first, last })
}

/// Decimal digits only; values too large for `u64` saturate (they are past
/// any file's end, which is what they mean).
fn number(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.bytes().fold(0u64, |n, d| {
        n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    }))
}

/// Keep the requested order, unless some ranges overlap or touch: then sort
/// and merge them all.
fn coalesce(ranges: Vec<ByteRange>) -> Vec<ByteRange> {
    let mut sorted = ranges.clone();
    sorted.sort_unstable_by_key(|r| r.start);
    let touching = sorted
        .windows(2)
        .any(|w| w[1].start <= w[0].end.saturating_add(1));
    if !touching {
        return ranges;
    }
    let mut merged: Vec<ByteRange> = Vec::with_capacity(sorted.len());
    for r in sorted {
        match merged.last_mut() {
            Some(m) if r.start <= m.end.saturating_add(1) => m.end = m.end.max(r.end),
            _ => merged.push(r),
        }
    }
    merged
}

/// A fresh multipart boundary (random per call, not in any file by design
/// of its length; RFC 2046 boundaries need only be unlikely in the data).
pub fn boundary() -> String {
    let a = RandomState::new().build_hasher().finish();
    let b = RandomState::new().build_hasher().finish();
    format!("marmoset-{a:016x}{b:016x}")
}

/// The `multipart/byteranges` body of `ranges` of a `size`-byte file of
/// type `content_type`.
pub fn multipart(
    ranges: &[ByteRange],
    size: u64,
    content_type: &HeaderValue,
    boundary: &str,
) -> Vec<Segment> {
    let ctype = content_type.to_str().unwrap_or(crate::mime::FALLBACK);
    let mut segments = Vec::with_capacity(ranges.len() * 2 + 1);
    for (i, r) in ranges.iter().enumerate() {
        let sep = if i == 0 { "" } else { "\r\n" };
        let head = format!(
            "{sep}--{boundary}\r\nContent-Type: {ctype}\r\nContent-Range: bytes {}-{}/{size}\r\n\r\n",
            r.start, r.end
        );
        segments.push(Segment::Bytes(Bytes::from(head)));
        segments.push(r.segment());
    }
    segments.push(Segment::Bytes(Bytes::from(format!(
        "\r\n--{boundary}--\r\n"
    ))));
    segments
}

/// `multipart/byteranges; boundary=…`.
pub fn multipart_type(boundary: &str) -> HeaderValue {
    header(format!("multipart/byteranges; boundary={boundary}"))
}

/// A header value from text known to be valid (digits, ASCII words).
fn header(s: String) -> HeaderValue {
    HeaderValue::try_from(s).unwrap_or_else(|_| HeaderValue::from_static(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(start: u64, end: u64) -> ByteRange {
        ByteRange { start, end }
    }

    fn p(v: &str, size: u64) -> RangeDecision {
        parse(v.as_bytes(), size)
    }

    fn partial(v: Vec<ByteRange>) -> RangeDecision {
        RangeDecision::Partial(v)
    }

    #[test]
    fn single_forms() {
        assert_eq!(p("bytes=0-9", 100), partial(vec![r(0, 9)]));
        assert_eq!(p("bytes=5-5", 100), partial(vec![r(5, 5)]));
        assert_eq!(p("bytes=90-", 100), partial(vec![r(90, 99)]));
        assert_eq!(p("bytes=-10", 100), partial(vec![r(90, 99)]));
        assert_eq!(p("BYTES=0-0", 100), partial(vec![r(0, 0)]));
        assert_eq!(p(" bytes=1-2 ", 100), partial(vec![r(1, 2)]));
    }

    #[test]
    fn clamping() {
        assert_eq!(p("bytes=50-1000", 100), partial(vec![r(50, 99)]));
        assert_eq!(p("bytes=-1000", 100), partial(vec![r(0, 99)]));
        assert_eq!(
            p("bytes=0-99999999999999999999999", 100),
            partial(vec![r(0, 99)])
        );
    }

    #[test]
    fn unsatisfiable() {
        assert_eq!(p("bytes=100-", 100), RangeDecision::Unsatisfiable);
        assert_eq!(p("bytes=100-200", 100), RangeDecision::Unsatisfiable);
        assert_eq!(p("bytes=-0", 100), RangeDecision::Unsatisfiable);
        assert_eq!(p("bytes=200-300,-0", 100), RangeDecision::Unsatisfiable);
        assert_eq!(p("bytes=0-5", 0), RangeDecision::Unsatisfiable);
        assert_eq!(
            p("bytes=99999999999999999999-", 100),
            RangeDecision::Unsatisfiable
        );
    }

    #[test]
    fn invalid_is_ignored() {
        for v in [
            "",
            "bytes",
            "bytes=",
            "bytes=,",
            "items=0-1",
            "bytes=a-b",
            "bytes=1",
            "bytes=--1",
            "bytes=5-2",
            "bytes=0-1,5-2",
            "bytes=-",
            "bytes=1-2-3",
            "bytes=+1-2",
            "bytes = 0-1",
            "bytes=0x1-2",
            "bytes=0-1;x",
        ] {
            assert_eq!(p(v, 100), RangeDecision::Full, "{v:?}");
        }
        assert_eq!(parse(b"bytes=\xff-1", 100), RangeDecision::Full);
    }

    #[test]
    fn multiple_keep_order_unless_touching() {
        assert_eq!(
            p("bytes=50-59, 0-9", 100),
            partial(vec![r(50, 59), r(0, 9)])
        );
        assert_eq!(
            p("bytes=0-9,,20-29", 100),
            partial(vec![r(0, 9), r(20, 29)])
        );
        // Unsatisfiable parts are dropped, the rest served.
        assert_eq!(p("bytes=0-9,500-600", 100), partial(vec![r(0, 9)]));
        // Overlapping / adjacent: sorted and merged.
        assert_eq!(
            p("bytes=50-59,0-9,5-20", 100),
            partial(vec![r(0, 20), r(50, 59)])
        );
        assert_eq!(p("bytes=0-4,5-9", 100), partial(vec![r(0, 9)]));
        assert_eq!(p("bytes=-10,0-", 100), partial(vec![r(0, 99)]));
    }

    #[test]
    fn too_many_parts_send_everything() {
        let many: Vec<String> = (0..=MAX_RANGES as u64)
            .map(|i| format!("{}-{}", i * 2, i * 2))
            .collect();
        assert_eq!(
            p(&format!("bytes={}", many.join(",")), 1000),
            RangeDecision::Full
        );
        let ok = &many[..MAX_RANGES];
        assert!(
            matches!(p(&format!("bytes={}", ok.join(",")), 1000), RangeDecision::Partial(v) if v.len() == MAX_RANGES)
        );
        // Many that merge into one are fine.
        let merging: Vec<String> = (0..100).map(|i| format!("{i}-{i}")).collect();
        assert_eq!(
            p(&format!("bytes={}", merging.join(",")), 1000),
            partial(vec![r(0, 99)])
        );
    }

    #[test]
    fn header_values() {
        assert_eq!(r(0, 9).content_range(100), "bytes 0-9/100");
        assert_eq!(unsatisfied_range(100), "bytes */100");
        assert_eq!(r(3, 7).length(), 5);
    }

    #[test]
    fn multipart_layout() {
        let ct = HeaderValue::from_static("text/plain");
        let segs = multipart(&[r(0, 1), r(5, 6)], 10, &ct, "B");
        let mut text = String::new();
        for s in &segs {
            match s {
                Segment::Bytes(b) => text.push_str(std::str::from_utf8(b).unwrap()),
                Segment::File { offset, len } => text.push_str(&format!("<{offset}+{len}>")),
            }
        }
        assert_eq!(
            text,
            "--B\r\nContent-Type: text/plain\r\nContent-Range: bytes 0-1/10\r\n\r\n<0+2>\
             \r\n--B\r\nContent-Type: text/plain\r\nContent-Range: bytes 5-6/10\r\n\r\n<5+2>\
             \r\n--B--\r\n"
        );
        assert_ne!(boundary(), boundary());
    }
}
