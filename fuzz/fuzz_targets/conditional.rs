//! Conditional requests (`document::conditional`): `If-None-Match`,
//! `If-Modified-Since` and `If-Range` against validators from the input.
//! Besides not panicking: `If-None-Match: *` and our own tag always give
//! 304, a weak `If-Range` never lets a range apply.

#![no_main]

use std::time::{Duration, UNIX_EPOCH};

use http::HeaderMap;
use http::header::{IF_MODIFIED_SINCE, IF_NONE_MATCH, IF_RANGE};
use libfuzzer_sys::fuzz_target;
use marmoset::modules::document::conditional::{Validators, not_modified, range_allowed};
use marmoset_fuzz::{fields, text};

fuzz_target!(|data: &[u8]| {
    let [meta, etag, none_match, since, if_range] = fields::<5>(data);
    let secs = meta
        .iter()
        .take(8)
        .fold(0u64, |n, &b| (n << 8) | u64::from(b));
    // Our tags are ASCII (hex digits, `-`, `.`).
    let tag: String = text(etag)
        .chars()
        .filter(|c| c.is_ascii_graphic() && *c != '"')
        .collect();
    let v = Validators::from_parts(
        http::HeaderValue::from_str(&format!("\"{tag}\"")).unwrap(),
        (secs % 3 != 0).then(|| UNIX_EPOCH + Duration::from_secs(secs % 253_402_300_800)),
    );
    let mut h = HeaderMap::new();
    for (name, value) in [
        (IF_NONE_MATCH, none_match),
        (IF_MODIFIED_SINCE, since),
        (IF_RANGE, if_range),
    ] {
        if let Ok(value) = http::HeaderValue::from_bytes(value)
            && !value.is_empty()
        {
            h.append(name, value);
        }
    }
    let _ = not_modified(&h, &v);
    let _ = range_allowed(&h, &v);
    // put() writes our tag, and Last-Modified exactly when there is a date.
    let mut out = HeaderMap::new();
    v.clone().put(&mut out);
    assert_eq!(out.get(http::header::ETAG), Some(&v.etag));
    assert_eq!(out.contains_key(http::header::LAST_MODIFIED), v.modified.is_some());

    // Our own tag and `*` always match.
    {
        let own = v.etag.clone();
        let mut h = HeaderMap::new();
        h.insert(IF_NONE_MATCH, own);
        assert!(not_modified(&h, &v), "own tag {:?} did not match", v.etag);
    }
    let mut h = HeaderMap::new();
    h.insert(IF_NONE_MATCH, http::HeaderValue::from_static("*"));
    assert!(not_modified(&h, &v));
    // A weak tag in If-Range never matches (strong comparison).
    if let Ok(weak) = http::HeaderValue::from_str(&format!("W/{}", v.etag_str())) {
        let mut h = HeaderMap::new();
        h.insert(IF_RANGE, weak);
        assert!(!range_allowed(&h, &v));
    }
});
