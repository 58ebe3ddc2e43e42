//! `path::normalize`, the one normaliser every request path goes through.
//! On success the result is rooted and clean: it starts with `/`, has no
//! empty, `.` or `..` segment, no NUL or control byte; and normalising it
//! again (after re-escaping `%`) gives the same path.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(out) = marmoset::path::normalize(raw) else {
        return;
    };
    assert!(out.starts_with('/'), "{raw:?} -> {out:?}: not rooted");
    assert!(!out.contains("//"), "{raw:?} -> {out:?}: empty segment");
    assert!(
        !out.contains("/../") && !out.ends_with("/.."),
        "{raw:?} -> {out:?}: parent segment"
    );
    assert!(
        !out.contains("/./") && !out.ends_with("/."),
        "{raw:?} -> {out:?}: dot segment"
    );
    assert!(
        !out.bytes().any(|b| b < 0x20 || b == 0x7f),
        "{raw:?} -> {out:?}: control byte"
    );
    // Idempotent: the normalised path, its `%` escaped again, is a fixed point.
    let again = marmoset::path::normalize(&out.replace('%', "%25"));
    assert_eq!(
        again.as_deref(),
        Ok(out.as_str()),
        "{raw:?}: not idempotent"
    );
});
