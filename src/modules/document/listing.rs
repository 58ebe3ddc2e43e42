//! Directory listings (option `dirlisting`, REFERENCE §6.11.4).
//!
//! Two forms:
//!
//! - the original's JSON listing, for requests whose `X-Requested-With`
//!   contains `XMLHttpRequest` (its web apps use it): byte-for-byte the
//!   original's format, except that names are JSON-escaped (the original
//!   writes them raw, so a name with `"` broke the document) and not
//!   truncated at 128 bytes;
//! - an HTML page for browsers (marmoset's addition; the original answers
//!   404): directories first, then files, each sorted by name, with sizes
//!   and a `../` link below the root. Names are HTML-escaped and links
//!   percent-encoded (`:` included, so a file named `javascript:…` is a
//!   relative link, never a script).
//!
//! Both hide names starting with `.`. Sizes use the original's units:
//! divided by 1024 while above 2000 (`1500 B`, `2 kB`).

use std::fs::Metadata;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::error::HttpError;
use crate::mime::MimeTable;

/// Characters percent-encoded in a link: all but RFC 3986 unreserved.
const LINK: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// One visible directory entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The name (lossily decoded when not UTF-8).
    pub name: String,
    /// Size in bytes (of the link target for symbolic links).
    pub size: u64,
    /// `st_mode` file type bits (`S_IFMT`).
    pub mode: u32,
}

impl Entry {
    fn is_dir(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFDIR
    }

    fn is_file(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFREG
    }

    fn from_meta(name: String, meta: &Metadata) -> Entry {
        Entry {
            name,
            size: meta.size(),
            mode: meta.mode(),
        }
    }
}

/// The visible entries of `dir` (inside the canonical directory `root`),
/// unsorted. Links are followed when they stay inside `root`; one that
/// leads out is left out, as GET treats it as missing (its target's size
/// and kind are not the listing's to tell); a dangling link shows as
/// itself.
pub fn read(dir: &Path, root: &Path) -> Result<Vec<Entry>, HttpError> {
    let entries = std::fs::read_dir(dir).map_err(HttpError::from)?;
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        if name.as_bytes().starts_with(b".") {
            continue;
        }
        let meta = match entry.file_type() {
            Ok(t) if t.is_symlink() => match std::fs::canonicalize(entry.path()) {
                Ok(real) if !real.starts_with(root) => continue,
                Ok(real) => std::fs::metadata(real),
                Err(_) => entry.metadata(),
            },
            _ => entry.metadata(),
        };
        if let Ok(meta) = meta {
            out.push(Entry::from_meta(name.to_string_lossy().into_owned(), &meta));
        }
    }
    Ok(out)
}

/// The original's size text.
pub fn size_text(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let (mut n, mut unit) = (bytes, 0);
    while n > 2000 && unit < UNITS.len() - 1 {
        n /= 1024;
        unit += 1;
    }
    format!("{n} {}", UNITS[unit])
}

/// The JSON listing of directory `uri`.
pub fn json(uri: &str, mut entries: Vec<Entry>, mime: &MimeTable) -> String {
    entries.sort_unstable_by(|a, b| b.name.as_bytes().cmp(a.name.as_bytes()));
    let mut out = String::with_capacity(64 + entries.len() * 80);
    out.push_str("{\"method\":\"GET\",\"name\":\"");
    json_escape(uri, &mut out);
    out.push_str("\",\"content\":[");
    for (i, e) in entries.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"name\":\"");
        json_escape(&e.name, &mut out);
        let kind = (e.mode & libc::S_IFMT) >> 12;
        let mime = if e.is_file() {
            mime.lookup(&e.name)
        } else {
            http::HeaderValue::from_static("inode/directory")
        };
        let mime = mime.to_str().unwrap_or(crate::mime::FALLBACK);
        out.push_str(&format!(
            "\",\"size\":\"{}\",\"type\":{kind},\"mime\":\"",
            size_text(e.size)
        ));
        json_escape(mime, &mut out);
        out.push_str("\"}");
    }
    out.push_str("],\"result\":\"OK\"}");
    out
}

/// The HTML listing of directory `uri` (which ends with `/`).
pub fn html(uri: &str, mut entries: Vec<Entry>) -> String {
    entries.sort_unstable_by(|a, b| {
        b.is_dir()
            .cmp(&a.is_dir())
            .then_with(|| a.name.as_bytes().cmp(b.name.as_bytes()))
    });
    let mut title = String::new();
    html_escape(uri, &mut title);
    let mut out = String::with_capacity(256 + entries.len() * 120);
    out.push_str(&format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Index of {title}</title></head>\n\
         <body><h1>Index of {title}</h1>\n<table>\n<tr><th>Name</th><th>Size</th></tr>\n"
    ));
    if uri != "/" {
        out.push_str("<tr><td><a href=\"../\">../</a></td><td>-</td></tr>\n");
    }
    for e in &entries {
        row(e, &mut out);
    }
    out.push_str("</table></body></html>\n");
    out
}

fn row(e: &Entry, out: &mut String) {
    let slash = if e.is_dir() { "/" } else { "" };
    let size = if e.is_dir() {
        "-".to_string()
    } else {
        size_text(e.size)
    };
    out.push_str("<tr><td><a href=\"");
    out.extend(utf8_percent_encode(&e.name, LINK));
    out.push_str(slash);
    out.push_str("\">");
    html_escape(&e.name, out);
    out.push_str(slash);
    out.push_str(&format!("</a></td><td>{size}</td></tr>\n"));
}

/// Escape text for HTML content and attribute values.
pub fn html_escape(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

/// Escape text for a JSON string (also `<`, `>`, `&`, so that the document
/// can never be sniffed as markup).
pub fn json_escape(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || matches!(c, '<' | '>' | '&') => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: u32 = libc::S_IFREG | 0o644;
    const DIR: u32 = libc::S_IFDIR | 0o755;

    fn e(name: &str, size: u64, mode: u32) -> Entry {
        Entry {
            name: name.into(),
            size,
            mode,
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(size_text(0), "0 B");
        assert_eq!(size_text(1500), "1500 B");
        assert_eq!(size_text(2000), "2000 B");
        assert_eq!(size_text(2048), "2 kB");
        assert_eq!(size_text(3 * 1024 * 1024), "3 MB");
        assert_eq!(size_text(u64::MAX), format!("{} TB", u64::MAX >> 40));
    }

    #[test]
    fn escaping() {
        let mut s = String::new();
        html_escape("<a href=\"x\">&'", &mut s);
        assert_eq!(s, "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
        let mut j = String::new();
        json_escape("a\"b\\c\nd\u{1}<é>&", &mut j);
        assert_eq!(j, "a\\\"b\\\\c\\nd\\u0001\\u003cé\\u003e\\u0026");
    }

    #[test]
    fn json_format_exact() {
        let mime = MimeTable::default();
        let entries = vec![
            e("a.txt", 1500, FILE),
            e("z\"q", 2048, FILE),
            e("sub", 4096, DIR),
        ];
        assert_eq!(
            json("/d/", entries, &mime),
            "{\"method\":\"GET\",\"name\":\"/d/\",\"content\":[\
             {\"name\":\"z\\\"q\",\"size\":\"2 kB\",\"type\":8,\"mime\":\"application/octet-stream\"},\
             {\"name\":\"sub\",\"size\":\"4 kB\",\"type\":4,\"mime\":\"inode/directory\"},\
             {\"name\":\"a.txt\",\"size\":\"1500 B\",\"type\":8,\"mime\":\"text/plain\"}\
             ],\"result\":\"OK\"}"
        );
        assert_eq!(
            json("/", Vec::new(), &mime),
            "{\"method\":\"GET\",\"name\":\"/\",\"content\":[],\"result\":\"OK\"}"
        );
    }

    #[test]
    fn html_order_escaping_and_links() {
        let entries = vec![
            e("b.txt", 10, FILE),
            e("a dir", 4096, DIR),
            e("<x>&.html", 5, FILE),
            e("javascript:alert(1)", 1, FILE),
            e("A", 1, FILE),
        ];
        let page = html("/p<q>/", entries);
        assert!(page.contains("<title>Index of /p&lt;q&gt;/</title>"));
        assert!(page.contains("<a href=\"../\">../</a>"));
        assert!(page.contains("<a href=\"a%20dir/\">a dir/</a></td><td>-</td>"));
        assert!(page.contains("<a href=\"%3Cx%3E%26.html\">&lt;x&gt;&amp;.html</a>"));
        assert!(page.contains("href=\"javascript%3Aalert%281%29\""));
        assert!(page.contains("<a href=\"b.txt\">b.txt</a></td><td>10 B</td>"));
        let order: Vec<usize> = ["a%20dir/", "\"%3Cx", "\"A\"", "\"b.txt\"", "javascript"]
            .iter()
            .map(|k| page.find(k).unwrap())
            .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
        assert!(!html("/", Vec::new()).contains("../"));
    }

    #[test]
    fn read_hides_dot_files_and_follows_links() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join(".hidden"), "x").unwrap();
        std::fs::write(d.path().join("f"), "12345").unwrap();
        std::fs::create_dir(d.path().join("sub")).unwrap();
        std::os::unix::fs::symlink(d.path().join("f"), d.path().join("link")).unwrap();
        std::os::unix::fs::symlink(d.path().join("none"), d.path().join("dangling")).unwrap();
        let mut v = read(d.path(), d.path()).unwrap();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        let names: Vec<&str> = v.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["dangling", "f", "link", "sub"]);
        assert!(v[2].is_file() && v[2].size == 5);
        assert!(v[3].is_dir());
        assert_eq!((v[0].mode & libc::S_IFMT) >> 12, 10);
    }
}
