//! Request path normalisation, done once per request before any module runs.
//!
//! The raw path is percent-decoded, then `.` and `..` segments are resolved
//! lexically and empty segments dropped. Decoding comes first, so `%2e%2e`
//! and `%2f` cannot smuggle a parent reference past the check (the
//! original's traversal bug). A path that would climb above `/`, contains a
//! NUL or control byte, a bad escape or invalid UTF-8 is refused with 400.

use percent_encoding::percent_decode_str;

/// Why a path was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// `%` not followed by two hex digits.
    #[error("bad percent escape in path")]
    BadEscape,
    /// Decoded bytes are not UTF-8.
    #[error("path is not valid UTF-8")]
    NotUtf8,
    /// NUL or another control character.
    #[error("control character in path")]
    ControlChar,
    /// `..` above the root.
    #[error("path climbs above the root")]
    AboveRoot,
}

/// Decode and normalise `raw` (the path part of the request target).
/// The result starts with `/`, keeps a trailing `/` when the request had one
/// (or ended in `.`/`..`), and has no empty, `.` or `..` segments.
pub fn normalize(raw: &str) -> Result<String, PathError> {
    if is_plain(raw) {
        return Ok(raw.to_owned());
    }
    check_escapes(raw)?;
    let decoded = percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| PathError::NotUtf8)?;
    if decoded.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err(PathError::ControlChar);
    }
    let mut out = String::with_capacity(decoded.len() + 1);
    let mut trailing = false;
    for seg in decoded.split('/') {
        trailing = false;
        match seg {
            "" => trailing = true,
            "." => trailing = true,
            ".." => {
                let cut = out.rfind('/').ok_or(PathError::AboveRoot)?;
                out.truncate(cut);
                trailing = true;
            }
            s => {
                out.push('/');
                out.push_str(s);
            }
        }
    }
    if out.is_empty() || trailing {
        out.push('/');
    }
    Ok(out)
}

/// Whether `raw` is already what [`normalize`] would make of it (the usual
/// case): it starts with `/` and has nothing to decode, no control byte,
/// and no empty, `.` or `..` segment (but may end with `/`).
fn is_plain(raw: &str) -> bool {
    let b = raw.as_bytes();
    if b.first() != Some(&b'/') {
        return false;
    }
    let mut start = 1;
    for (i, &c) in b.iter().enumerate().skip(1) {
        if c == b'%' || c < 0x20 || c == 0x7f {
            return false;
        }
        if c == b'/' {
            if matches!(&b[start..i], b"" | b"." | b"..") {
                return false;
            }
            start = i + 1;
        }
    }
    !matches!(&b[start..], b"." | b"..")
}

fn check_escapes(raw: &str) -> Result<(), PathError> {
    let b = raw.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let ok =
                b.len() > i + 2 && b[i + 1].is_ascii_hexdigit() && b[i + 2].is_ascii_hexdigit();
            if !ok {
                return Err(PathError::BadEscape);
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_paths() {
        assert_eq!(normalize("/").unwrap(), "/");
        assert_eq!(normalize("").unwrap(), "/");
        assert_eq!(normalize("/index.html").unwrap(), "/index.html");
        assert_eq!(normalize("/a/b/").unwrap(), "/a/b/");
        assert_eq!(normalize("//a///b").unwrap(), "/a/b");
        assert_eq!(normalize("/a/./b").unwrap(), "/a/b");
        assert_eq!(normalize("/a/file..txt").unwrap(), "/a/file..txt");
    }

    #[test]
    fn plain_paths_are_taken_as_they_are_only_when_nothing_would_change() {
        let parts = ["a", "", ".", "..", "%2e", "b.c", "é", "%41", ".x"];
        let mut checked = 0;
        for x in parts {
            for y in parts {
                for z in parts {
                    let raw = format!("/{x}/{y}/{z}");
                    for raw in [raw.clone(), format!("{raw}/"), format!("/{x}")] {
                        if is_plain(&raw) {
                            checked += 1;
                            let mut slow = raw.clone();
                            slow.insert(0, '/');
                            // Through the decoding path ("//" forces it).
                            assert_eq!(normalize(&slow).as_deref(), Ok(raw.as_str()));
                        }
                    }
                }
            }
        }
        assert!(checked > 50, "{checked}");
        for raw in ["a", "/a//b", "/a/./b", "/a/..", "/a/.", "/%41", "/a\x01"] {
            assert!(!is_plain(raw), "{raw}");
        }
    }

    #[test]
    fn parents_resolved_within_root() {
        assert_eq!(normalize("/docs/../index.html").unwrap(), "/index.html");
        assert_eq!(normalize("/a/b/..").unwrap(), "/a/");
        assert_eq!(normalize("/a/..").unwrap(), "/");
        assert_eq!(normalize("/../etc/passwd"), Err(PathError::AboveRoot));
        assert_eq!(normalize("/a/../../x"), Err(PathError::AboveRoot));
    }

    #[test]
    fn encoded_traversal_refused() {
        assert_eq!(normalize("/%2e%2e/etc/passwd"), Err(PathError::AboveRoot));
        assert_eq!(normalize("/%2E%2e%2fetc"), Err(PathError::AboveRoot));
        assert_eq!(normalize("/a%2f..%2f..%2fetc"), Err(PathError::AboveRoot));
        assert_eq!(normalize("/.%2e/x"), Err(PathError::AboveRoot));
        assert_eq!(normalize("/a/%2e%2e/b").unwrap(), "/b");
    }

    #[test]
    fn bad_bytes_refused() {
        assert_eq!(normalize("/a%00b"), Err(PathError::ControlChar));
        assert_eq!(normalize("/a%0ab"), Err(PathError::ControlChar));
        assert_eq!(normalize("/a%zz"), Err(PathError::BadEscape));
        assert_eq!(normalize("/a%4"), Err(PathError::BadEscape));
        assert_eq!(normalize("/a%ff"), Err(PathError::NotUtf8));
        assert_eq!(normalize("/caf%C3%A9").unwrap(), "/café");
        assert_eq!(normalize("/a%20b").unwrap(), "/a b");
    }
}
