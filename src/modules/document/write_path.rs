//! Confining the paths that REST and WebDAV requests write.
//!
//! Reading goes through [`Root::resolve`], which canonicalises the whole
//! path. A path about to be created, renamed, linked or removed may not
//! exist yet, and its last component must not be followed (DELETE of a
//! link removes the link, not its target): so the *parent* is
//! canonicalised and must lie inside the root, and the last name is used
//! as is.
//!
//! Paths coming from headers (`X-POST-ARG`, `Content-Location` of a new
//! link, `Destination`) and symbolic-link targets are normalised lexically
//! with [`confine`]: a path climbing above the root is refused (REFERENCE
//! §8.1.7 — the original created links to anything).

use std::ffi::OsString;
use std::io;
use std::path::PathBuf;

use super::resolve::Root;

/// An `io::Error` from an errno value (so clients get the C library's
/// message, as from the original).
pub fn errno(code: i32) -> io::Error {
    io::Error::from_raw_os_error(code)
}

/// A path to create, replace, rename or remove.
#[derive(Clone, Debug)]
pub struct WritePath {
    /// The canonical parent directory, inside the root.
    pub parent: PathBuf,
    /// The last component, never followed.
    pub name: OsString,
}

impl WritePath {
    /// The path of `rel` (a normalised path inside `root`; a trailing `/`
    /// is ignored). The root itself cannot be written: `EACCES`. A missing
    /// parent is `ENOENT`, a parent that is a file `ENOTDIR`, a parent
    /// outside the root (through a link) `EACCES`.
    pub fn new(root: &Root, rel: &str) -> io::Result<WritePath> {
        let rel = rel.trim_matches('/');
        if rel.is_empty() {
            return Err(errno(libc::EACCES));
        }
        let (parent, name) = match rel.rfind('/') {
            Some(i) => (&rel[..i], &rel[i + 1..]),
            None => ("", rel),
        };
        let parent = root.dir().join(parent).canonicalize()?;
        if !parent.starts_with(root.dir()) {
            return Err(errno(libc::EACCES));
        }
        if !parent.is_dir() {
            return Err(errno(libc::ENOTDIR));
        }
        Ok(WritePath {
            parent,
            name: name.into(),
        })
    }

    /// The full path (parent joined with the name).
    pub fn full(&self) -> PathBuf {
        self.parent.join(&self.name)
    }
}

/// The canonical path of an existing `rel`, links followed, which must
/// stay inside the root (else `EACCES`).
pub fn existing(root: &Root, rel: &str) -> io::Result<PathBuf> {
    let real = root
        .dir()
        .join(rel.trim_start_matches('/'))
        .canonicalize()?;
    if !real.starts_with(root.dir()) {
        return Err(errno(libc::EACCES));
    }
    Ok(real)
}

/// Normalise `path` lexically, relative to the directory `base` (a
/// normalised path inside the root, `/` for the root itself): `.` and
/// empty segments are dropped, `..` goes up. Returns the result as a path
/// inside the root (starting with `/`), or `None` when it climbs above the
/// root. A leading `/` in `path` does not make it absolute (callers strip
/// it first when the original did).
pub fn confine(base: &str, path: &str) -> Option<String> {
    let mut segs: Vec<&str> = base.split('/').filter(|s| !s.is_empty()).collect();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                segs.pop()?;
            }
            s => segs.push(s),
        }
    }
    Some(format!("/{}", segs.join("/")))
}

/// The directory part of a path inside the root (`/a/b` → `/a`, `/a` → `/`).
pub fn parent_of(rel: &str) -> &str {
    let rel = rel.trim_end_matches('/');
    match rel.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &rel[..i],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confine_paths() {
        assert_eq!(confine("/", "a/b").as_deref(), Some("/a/b"));
        assert_eq!(confine("/", "/a//./b/").as_deref(), Some("/a/b"));
        assert_eq!(confine("/x/y", "../z").as_deref(), Some("/x/z"));
        assert_eq!(confine("/x", "../../etc/passwd"), None);
        assert_eq!(confine("/", ".."), None);
        assert_eq!(confine("/", "a/../..").as_deref(), None);
        assert_eq!(confine("/", "a/..").as_deref(), Some("/"));
        assert_eq!(confine("/", "..%2f").as_deref(), Some("/..%2f"));
    }

    #[test]
    fn parents() {
        assert_eq!(parent_of("/a/b"), "/a");
        assert_eq!(parent_of("/a"), "/");
        assert_eq!(parent_of("/a/b/"), "/a");
        assert_eq!(parent_of("/"), "/");
    }

    #[test]
    fn write_paths() {
        let d = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("sub")).unwrap();
        std::fs::write(d.path().join("file"), "x").unwrap();
        std::os::unix::fs::symlink(outside.path(), d.path().join("out")).unwrap();
        let root = Root::open(d.path()).unwrap();
        let w = WritePath::new(&root, "/sub/new").unwrap();
        assert_eq!(w.full(), root.dir().join("sub/new"));
        let w = WritePath::new(&root, "/out").unwrap();
        assert_eq!(w.full(), root.dir().join("out"), "the link itself");
        let code = |r: io::Result<WritePath>| r.unwrap_err().raw_os_error();
        assert_eq!(code(WritePath::new(&root, "/")), Some(libc::EACCES));
        assert_eq!(code(WritePath::new(&root, "/none/x")), Some(libc::ENOENT));
        assert_eq!(code(WritePath::new(&root, "/file/x")), Some(libc::ENOTDIR));
        assert_eq!(code(WritePath::new(&root, "/out/x")), Some(libc::EACCES));
        assert!(existing(&root, "/out").is_err());
        assert!(existing(&root, "/file").is_ok());
    }
}
