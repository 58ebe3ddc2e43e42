//! The configuration parser on arbitrary text: `syntax::parse_str` (the
//! libconfig layer) and `config::load_str` (syntax + typed model). Neither
//! may panic, and an error always has a position inside the text.
//!
//! Inputs that could make the parser read files of this machine are skipped:
//! `@include` with a path that can name an existing file, and `config_d`.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Relative includes resolve against a directory that does not exist,
    // so without `/` or escapes (`\x2f`) they can name no file.
    let reads_files = text.contains("@include") && (text.contains('/') || text.contains('\\'));
    if !reads_files {
        match marmoset::config::syntax::parse_str(
            text,
            Path::new("<fuzz>"),
            Path::new("/nonexistent"),
        ) {
            Ok(_) => {}
            Err(d) => {
                let lines = text.split('\n').count();
                assert!(
                    d.span.line >= 1 && d.span.line as usize <= lines,
                    "error line {} outside the text ({lines} lines): {d}",
                    d.span.line
                );
                let _ = d.to_string();
            }
        }
    }
    // `load_str` resolves includes against the current directory and reads
    // `config_d`: only for texts that use neither.
    if !text.contains("@include") && !text.contains("config_d") {
        match marmoset::config::load_str(text) {
            Ok(loaded) => {
                for w in &loaded.warnings {
                    let _ = w.to_string();
                }
                let _ = format!("{:?}", loaded.config);
            }
            Err(e) => {
                let _ = e.to_string();
            }
        }
    }
});
