//! File name → `Content-Type`, as Ouistiti's `mimetypes` (REFERENCE §3.4).
//!
//! Lookup order: the built-in table, then the configured `mimetypes`
//! entries in file order, then `application/octet-stream`. Configured
//! entries therefore never override a built-in type, as in the original.
//!
//! The subject is the file name's last extension with its dot (`.html`),
//! compared case-insensitively. Built-in entries match the extension
//! exactly; a configured `ext` is a pattern list (§5.1) matched against the
//! extension, so without a `$` it keeps the original's prefix quirk
//! (`ext = ".mp4"` also matches `.mp4x`). The original applies that quirk to
//! its built-in table too (`.jsx` served as JavaScript); marmoset does not,
//! because `.json` must not become `.js`.
//!
//! Ouistiti's own entries keep its exact strings (`text/json`, no
//! `charset`), so clients that compare them keep working; the entries it
//! lacks and a device UI needs (SVG, fonts, WebAssembly, …) are added with
//! their registered types.
//!
//! Every value is a [`HeaderValue`] built once: a lookup clones a
//! reference-counted value and never allocates (except, rarely, to lowercase
//! an upper-case extension for a configured pattern).

use std::borrow::Cow;

use http::HeaderValue;

use crate::config::MimeTypeConfig;
use crate::pattern::PatternList;

/// The type of files whose extension nothing maps.
pub const FALLBACK: &str = "application/octet-stream";

/// Declares each built-in type once, as a header value made at compile
/// time: a lookup clones one (a pointer and a length) instead of checking
/// the text again.
macro_rules! types {
    ($($name:ident = $mime:literal;)*) => {
        $(static $name: HeaderValue = HeaderValue::from_static($mime);)*
    };
}

types! {
    TEXT_PLAIN = "text/plain";
    TEXT_HTML = "text/html";
    TEXT_CSS = "text/css";
    TEXT_JSON = "text/json";
    APPLICATION_JAVASCRIPT = "application/javascript";
    IMAGE_PNG = "image/png";
    IMAGE_JPEG = "image/jpeg";
    APPLICATION_JSON = "application/json";
    APPLICATION_MANIFEST_JSON = "application/manifest+json";
    APPLICATION_WASM = "application/wasm";
    APPLICATION_XML = "application/xml";
    TEXT_CSV = "text/csv";
    TEXT_MARKDOWN = "text/markdown";
    IMAGE_SVG_XML = "image/svg+xml";
    IMAGE_X_ICON = "image/x-icon";
    IMAGE_GIF = "image/gif";
    IMAGE_WEBP = "image/webp";
    IMAGE_AVIF = "image/avif";
    IMAGE_BMP = "image/bmp";
    FONT_WOFF = "font/woff";
    FONT_WOFF2 = "font/woff2";
    FONT_TTF = "font/ttf";
    FONT_OTF = "font/otf";
    APPLICATION_PDF = "application/pdf";
    APPLICATION_ZIP = "application/zip";
    APPLICATION_GZIP = "application/gzip";
    APPLICATION_X_TAR = "application/x-tar";
    AUDIO_MPEG = "audio/mpeg";
    AUDIO_WAV = "audio/wav";
    AUDIO_OGG = "audio/ogg";
    VIDEO_MP4 = "video/mp4";
    VIDEO_WEBM = "video/webm";
    VIDEO_X_MOTION_JPEG = "video/x-motion-jpeg";
}

/// The built-in type of an extension (without the dot, lower case):
/// Ouistiti's table verbatim (`text`, `txt`, `html`, `xhtml`, `htm`, `css`,
/// `json`, `js`, `png`, `jpg`, `jpeg`), and the types a device UI needs
/// that it lacks. A `match`: the compiler picks by length and compares
/// whole words, where a walk through a table compared entry by entry.
fn builtin_type(ext: &[u8]) -> Option<&'static HeaderValue> {
    Some(match ext {
        b"text" | b"txt" => &TEXT_PLAIN,
        b"html" | b"xhtml" | b"htm" => &TEXT_HTML,
        b"css" => &TEXT_CSS,
        b"json" => &TEXT_JSON,
        b"js" | b"mjs" => &APPLICATION_JAVASCRIPT,
        b"png" => &IMAGE_PNG,
        b"jpg" | b"jpeg" => &IMAGE_JPEG,
        b"map" => &APPLICATION_JSON,
        b"webmanifest" => &APPLICATION_MANIFEST_JSON,
        b"wasm" => &APPLICATION_WASM,
        b"xml" => &APPLICATION_XML,
        b"csv" => &TEXT_CSV,
        b"md" => &TEXT_MARKDOWN,
        b"svg" => &IMAGE_SVG_XML,
        b"ico" => &IMAGE_X_ICON,
        b"gif" => &IMAGE_GIF,
        b"webp" => &IMAGE_WEBP,
        b"avif" => &IMAGE_AVIF,
        b"bmp" => &IMAGE_BMP,
        b"woff" => &FONT_WOFF,
        b"woff2" => &FONT_WOFF2,
        b"ttf" => &FONT_TTF,
        b"otf" => &FONT_OTF,
        b"pdf" => &APPLICATION_PDF,
        b"zip" => &APPLICATION_ZIP,
        b"gz" => &APPLICATION_GZIP,
        b"tar" => &APPLICATION_X_TAR,
        b"mp3" => &AUDIO_MPEG,
        b"wav" => &AUDIO_WAV,
        b"ogg" => &AUDIO_OGG,
        b"mp4" => &VIDEO_MP4,
        b"webm" => &VIDEO_WEBM,
        b"mjpeg" | b"mjpg" => &VIDEO_X_MOTION_JPEG,
        _ => return None,
    })
}

/// The extension → type table of a running server.
#[derive(Clone, Debug)]
pub struct MimeTable {
    /// `mimetypes` entries in file order, patterns lowered for
    /// case-insensitive matching.
    configured: Vec<(PatternList, HeaderValue)>,
}

impl Default for MimeTable {
    /// The built-in table only.
    fn default() -> Self {
        MimeTable {
            configured: Vec::new(),
        }
    }
}

impl MimeTable {
    /// The built-in table followed by `entries`. An entry whose type is not
    /// a valid header value is skipped with a log line.
    pub fn new(entries: &[MimeTypeConfig]) -> MimeTable {
        let configured = entries
            .iter()
            .filter_map(|e| match HeaderValue::from_str(&e.mime) {
                Ok(v) => Some((PatternList::new(&e.ext.to_ascii_lowercase()), v)),
                Err(_) => {
                    log::warn!(
                        "mimetypes: `{}` is not a valid content type, ignored",
                        e.mime
                    );
                    None
                }
            })
            .collect();
        MimeTable { configured }
    }

    /// The content type of `file_name` (a name or a path: only the part
    /// after the last `/` counts).
    pub fn lookup(&self, file_name: &str) -> HeaderValue {
        let Some(ext) = extension(file_name) else {
            return HeaderValue::from_static(FALLBACK);
        };
        if let Some(v) = builtin(&ext[1..]) {
            return v.clone();
        }
        let lowered = if ext.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(ext.to_ascii_lowercase())
        } else {
            Cow::Borrowed(ext)
        };
        self.configured
            .iter()
            .find(|(ext_patterns, _)| ext_patterns.is_match(&lowered))
            .map_or_else(|| HeaderValue::from_static(FALLBACK), |(_, v)| v.clone())
    }
}

/// The last extension of the file name, dot included (`a.tar.gz` → `.gz`).
fn extension(file_name: &str) -> Option<&str> {
    let b = file_name.as_bytes();
    let i = b.iter().rposition(|&c| c == b'.' || c == b'/')?;
    (b[i] == b'.').then(|| &file_name[i..])
}

fn builtin(ext: &str) -> Option<&'static HeaderValue> {
    // Lowered once into a small buffer: no built-in extension is longer.
    let mut lower = [0u8; 12];
    let lower = lower.get_mut(..ext.len())?;
    lower.copy_from_slice(ext.as_bytes());
    lower.make_ascii_lowercase();
    builtin_type(lower)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(ext: &str, mime: &str) -> MimeTypeConfig {
        MimeTypeConfig {
            ext: ext.into(),
            mime: mime.into(),
        }
    }

    fn look(t: &MimeTable, name: &str) -> String {
        t.lookup(name).to_str().unwrap_or("?").to_string()
    }

    #[test]
    fn ouistiti_builtins() {
        let t = MimeTable::default();
        assert_eq!(look(&t, "index.html"), "text/html");
        assert_eq!(look(&t, "a.htm"), "text/html");
        assert_eq!(look(&t, "a.xhtml"), "text/html");
        assert_eq!(look(&t, "a.txt"), "text/plain");
        assert_eq!(look(&t, "a.text"), "text/plain");
        assert_eq!(look(&t, "a.css"), "text/css");
        assert_eq!(look(&t, "data.json"), "text/json");
        assert_eq!(look(&t, "app.js"), "application/javascript");
        assert_eq!(look(&t, "a.png"), "image/png");
        assert_eq!(look(&t, "a.jpg"), "image/jpeg");
        assert_eq!(look(&t, "a.jpeg"), "image/jpeg");
    }

    #[test]
    fn extras_and_fallback() {
        let t = MimeTable::default();
        assert_eq!(look(&t, "logo.svg"), "image/svg+xml");
        assert_eq!(look(&t, "m.wasm"), "application/wasm");
        assert_eq!(look(&t, "f.woff2"), "font/woff2");
        assert_eq!(look(&t, "README"), FALLBACK);
        assert_eq!(look(&t, "a.unknown"), FALLBACK);
        assert_eq!(look(&t, "a."), FALLBACK);
        assert_eq!(look(&t, "a.jsx"), FALLBACK, "built-ins match exactly");
    }

    #[test]
    fn last_extension_of_the_file_name_only() {
        let t = MimeTable::default();
        assert_eq!(look(&t, "a.tar.gz"), "application/gzip");
        assert_eq!(look(&t, "a.html.txt"), "text/plain");
        assert_eq!(look(&t, "/dir.html/file"), FALLBACK);
        assert_eq!(look(&t, "/dir/page.HTML"), "text/html");
        assert_eq!(look(&t, "/.css"), "text/css");
    }

    #[test]
    fn case_insensitive() {
        let t = MimeTable::new(&[entry(".MP4x,.m4v", "video/x-m4v")]);
        assert_eq!(look(&t, "A.JPG"), "image/jpeg");
        assert_eq!(look(&t, "clip.M4V"), "video/x-m4v");
        assert_eq!(look(&t, "clip.mp4X"), "video/x-m4v");
    }

    #[test]
    fn configured_after_builtins_in_order() {
        let t = MimeTable::new(&[
            entry(".html", "application/xhtml+xml"),
            entry(".dat", "application/x-first"),
            entry(".dat", "application/x-second"),
            entry(".bin$", "application/x-bin"),
            entry("", "application/x-never"),
        ]);
        assert_eq!(look(&t, "a.html"), "text/html", "built-in wins");
        assert_eq!(look(&t, "a.dat"), "application/x-first");
        assert_eq!(look(&t, "a.data"), "application/x-first", "prefix quirk");
        assert_eq!(look(&t, "a.bin"), "application/x-bin");
        assert_eq!(look(&t, "a.binx"), FALLBACK);
        assert_eq!(look(&t, "a.zzz"), FALLBACK);
    }

    #[test]
    fn bad_configured_type_is_skipped() {
        let t = MimeTable::new(&[entry(".x", "bad\ntype"), entry(".x", "text/x")]);
        assert_eq!(look(&t, "a.x"), "text/x");
    }
}
