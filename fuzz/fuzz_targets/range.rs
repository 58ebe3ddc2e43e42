//! `Range` headers (`document::range::parse`) against a file size taken
//! from the input. A partial answer has 1..=MAX_RANGES ranges, each inside
//! the file, and the multipart body built from them covers exactly them.

#![no_main]

use http::HeaderValue;
use libfuzzer_sys::fuzz_target;
use marmoset::body::Segment;
use marmoset::modules::document::range::{self, MAX_RANGES, RangeDecision};

fuzz_target!(|data: &[u8]| {
    if data.len() < 8 {
        return;
    }
    let (size, value) = data.split_at(8);
    let mut size = u64::from_le_bytes(size.try_into().unwrap());
    // Mostly small sizes, where the interesting edges are; sometimes huge.
    if size & 1 == 0 {
        size = (size >> 1) % 4096;
    }
    match range::parse(value, size) {
        RangeDecision::Full => {}
        RangeDecision::Unsatisfiable => {
            let _ = range::unsatisfied_range(size);
        }
        RangeDecision::Partial(ranges) => {
            assert!(
                !ranges.is_empty() && ranges.len() <= MAX_RANGES,
                "{ranges:?}"
            );
            for r in &ranges {
                assert!(r.start <= r.end && r.end < size, "{r:?} outside {size}");
                assert!(r.length() >= 1 && r.length() <= size);
                let cr = r.content_range(size);
                assert!(!cr.is_empty());
            }
            let ctype = HeaderValue::from_static("text/plain");
            let b = range::boundary();
            let segments = range::multipart(&ranges, size, &ctype, &b);
            let files: Vec<(u64, u64)> = segments
                .iter()
                .filter_map(|s| match s {
                    Segment::File { offset, len } => Some((*offset, *len)),
                    _ => None,
                })
                .collect();
            let want: Vec<(u64, u64)> = ranges.iter().map(|r| (r.start, r.length())).collect();
            assert_eq!(files, want);
            let _ = range::multipart_type(&b);
        }
    }
});
