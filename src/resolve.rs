//! From a normalised request path to a file or directory under a root: the
//! one path resolver content modules share.
//!
//! The request path is already percent-decoded and free of `.`/`..` and
//! empty segments (see `crate::path`), so joining it to the root cannot
//! leave the root lexically. Symbolic links can: the joined path is
//! canonicalised and refused unless it still lies under the canonical
//! root. A refused link looks exactly like a missing file (no information
//! about what lies outside).
//!
//! On Linux 5.6 and later the whole lookup is one `openat2` call with
//! `RESOLVE_BENEATH` from a descriptor of the root: the kernel refuses any
//! path — symbolic links included — that would leave the root, and no
//! `realpath` walk (one `lstat` per component) is needed. Older kernels, and
//! paths through absolute symbolic links (which `RESOLVE_BENEATH` refuses
//! even when they point inside), take the canonicalising path below.
//!
//! Only directories and regular files are served. Files are opened with
//! `O_NONBLOCK` (so a FIFO swapped in after the check cannot block the
//! worker) and `O_NOFOLLOW` (so the last component cannot be swapped for a
//! link after the check), then checked again on the open descriptor.
//!
//! Errors: a missing path (also "not a directory", link loops, names too
//! long) is [`Target::Missing`]; permission denied is 403; anything else 500.

use bytes::Bytes;
use std::fs::{File, Metadata, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::HttpError;

/// A canonical directory files are served from.
#[derive(Clone, Debug)]
pub struct Root {
    dir: PathBuf,
    fd: Option<std::sync::Arc<crate::open_cache::RootDir>>,
}

/// What a request path designates.
#[derive(Debug)]
pub enum Target {
    /// A regular file, open for reading.
    File(OpenFile),
    /// A directory (its canonical path).
    Dir(PathBuf),
    /// Nothing servable: absent, outside the root, or not a file or directory.
    Missing,
}

/// An open regular file and what `fstat` said about it.
#[derive(Debug)]
pub struct OpenFile {
    /// The open file (shared with the per-thread cache of open files,
    /// [`crate::open_cache`]; read it with `pread`, not by position).
    pub file: Arc<File>,
    /// Its metadata, from the open descriptor.
    pub meta: Metadata,
    /// Its whole content when the cache of open files keeps it (a small
    /// file, see [`crate::open_cache`]): nothing to read to serve it.
    pub content: Option<Bytes>,
}

impl Root {
    /// Canonicalise `dir`, which must be a directory.
    pub fn open(dir: &Path) -> io::Result<Root> {
        let dir = dir.canonicalize()?;
        if !std::fs::metadata(&dir)?.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                "not a directory",
            ));
        }
        let fd = rustix::fs::open(
            &dir,
            rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .ok()
        .and_then(|fd| crate::open_cache::RootDir::new(fd).ok())
        .map(std::sync::Arc::new);
        Ok(Root { dir, fd })
    }

    /// The canonical root directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Resolve `uri` (a normalised request path, starting with `/`).
    pub fn resolve(&self, uri: &str) -> Result<Target, HttpError> {
        if let Some(fd) = &self.fd {
            match self.resolve_beneath(fd, uri) {
                Err(Fallback) => {}
                Ok(found) => return found,
            }
        }
        self.resolve_canonical(uri)
    }

    /// One `openat2(RESOLVE_BENEATH)`; `Err(Fallback)` when the kernel
    /// lacks it or the path crosses a link it will not follow.
    fn resolve_beneath(
        &self,
        root: &crate::open_cache::RootDir,
        uri: &str,
    ) -> Result<Result<Target, HttpError>, Fallback> {
        use rustix::fs::{Mode, OFlags, ResolveFlags};
        let rel = uri.trim_start_matches('/');
        let rel = if rel.is_empty() { "." } else { rel };
        if let Some(hit) = crate::open_cache::lookup(root, rel) {
            return Ok(Ok(Target::File(OpenFile {
                file: hit.file,
                meta: hit.meta,
                content: hit.content,
            })));
        }
        if crate::open_cache::absent(root, rel) {
            return Ok(Ok(Target::Missing));
        }
        let opened = rustix::fs::openat2(
            root.fd(),
            rel,
            OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY,
            Mode::empty(),
            ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS,
        );
        let owned = match opened {
            Ok(owned) => owned,
            // No openat2, or a link the kernel would not follow beneath the
            // root (absolute links, even to inside it): decide by the
            // canonical path.
            Err(rustix::io::Errno::NOSYS | rustix::io::Errno::XDEV) => return Err(Fallback),
            Err(e @ (rustix::io::Errno::NOENT | rustix::io::Errno::NOTDIR)) => {
                crate::open_cache::insert_absent(root, rel);
                return Ok(missing_or(e.into()));
            }
            Err(e) => return Ok(missing_or(e.into())),
        };
        let file = File::from(owned);
        let meta = match file.metadata() {
            Ok(m) => m,
            Err(e) => return Ok(Err(HttpError::internal(e))),
        };
        Ok(Ok(if meta.is_dir() {
            Target::Dir(self.dir.join(rel))
        } else if meta.is_file() {
            let cached = crate::open_cache::Cached::new(Arc::new(file), meta);
            let cached = crate::open_cache::insert(root, rel, cached);
            Target::File(OpenFile {
                file: cached.file,
                meta: cached.meta,
                content: cached.content,
            })
        } else {
            Target::Missing
        }))
    }

    /// The `realpath` walk, for kernels without `openat2` and paths
    /// through absolute links. A file reached without crossing any link
    /// goes to the cache of open files like one `openat2` opened (the
    /// walk proved it lies under the root; the cache's check at every hit
    /// is the same), so an older kernel also serves a file again with one
    /// `statx`.
    fn resolve_canonical(&self, uri: &str) -> Result<Target, HttpError> {
        let rel = uri.trim_start_matches('/');
        let joined = self.dir.join(rel);
        let real = match joined.canonicalize() {
            Ok(p) => p,
            Err(e) => return missing_or(e),
        };
        if !real.starts_with(&self.dir) {
            return Ok(Target::Missing);
        }
        let meta = match std::fs::metadata(&real) {
            Ok(m) => m,
            Err(e) => return missing_or(e),
        };
        if meta.is_dir() {
            return Ok(Target::Dir(real));
        }
        if !meta.is_file() {
            return Ok(Target::Missing);
        }
        let found = open_file(&real)?;
        match (found, &self.fd) {
            (Target::File(f), Some(fd)) if real == joined && !rel.is_empty() => {
                let cached = crate::open_cache::Cached::new(f.file, f.meta);
                let cached = crate::open_cache::insert(fd, rel, cached);
                Ok(Target::File(OpenFile {
                    file: cached.file,
                    meta: cached.meta,
                    content: cached.content,
                }))
            }
            (found, _) => Ok(found),
        }
    }
}

/// `openat2` cannot decide: take the canonicalising path.
struct Fallback;

fn open_file(path: &Path) -> Result<Target, HttpError> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
        .open(path);
    let file = match file {
        Ok(f) => f,
        Err(e) => return missing_or(e),
    };
    let meta = file.metadata().map_err(HttpError::internal)?;
    if !meta.is_file() {
        return Ok(Target::Missing);
    }
    Ok(Target::File(OpenFile {
        file: Arc::new(file),
        meta,
        content: None,
    }))
}

/// "Does not exist" in its various spellings → `Missing`; permission → 403;
/// anything else → 500.
fn missing_or(e: io::Error) -> Result<Target, HttpError> {
    match e.raw_os_error() {
        Some(libc::ENOENT | libc::ENOTDIR | libc::ELOOP | libc::ENAMETOOLONG) => {
            Ok(Target::Missing)
        }
        Some(libc::EACCES | libc::EPERM) => Err(HttpError::forbidden(e)),
        _ => Err(HttpError::internal(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn setup() -> (tempfile::TempDir, tempfile::TempDir, Root) {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "s").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir(d.join("sub")).unwrap();
        std::fs::write(d.join("sub/a.txt"), "hello").unwrap();
        symlink(d.join("sub/a.txt"), d.join("inside")).unwrap();
        symlink(outside.path().join("secret"), d.join("escape")).unwrap();
        symlink(outside.path(), d.join("escdir")).unwrap();
        let root = Root::open(d).unwrap();
        (dir, outside, root)
    }

    fn kind(t: Result<Target, HttpError>) -> &'static str {
        match t {
            Ok(Target::File(_)) => "file",
            Ok(Target::Dir(_)) => "dir",
            Ok(Target::Missing) => "missing",
            Err(_) => "error",
        }
    }

    #[test]
    fn files_and_dirs() {
        let (_d, _o, root) = setup();
        assert_eq!(kind(root.resolve("/")), "dir");
        assert_eq!(kind(root.resolve("/sub")), "dir");
        assert_eq!(kind(root.resolve("/sub/")), "dir");
        assert_eq!(kind(root.resolve("/sub/a.txt")), "file");
        assert_eq!(kind(root.resolve("/sub/a.txt/")), "missing");
        assert_eq!(kind(root.resolve("/sub/a.txt/x")), "missing");
        assert_eq!(kind(root.resolve("/nope")), "missing");
    }

    #[test]
    fn symlinks_inside_only() {
        let (_d, _o, root) = setup();
        assert_eq!(kind(root.resolve("/inside")), "file");
        assert_eq!(kind(root.resolve("/escape")), "missing");
        assert_eq!(kind(root.resolve("/escdir")), "missing");
        assert_eq!(kind(root.resolve("/escdir/secret")), "missing");
    }

    #[test]
    fn the_canonical_walk_fills_the_cache_of_open_files_except_through_links() {
        let (_d, _o, root) = setup();
        let fd = root.fd.clone().unwrap();
        assert!(crate::open_cache::lookup(&fd, "sub/a.txt").is_none());
        assert_eq!(kind(root.resolve_canonical("/sub/a.txt")), "file");
        let hit = crate::open_cache::lookup(&fd, "sub/a.txt").expect("kept");
        assert_eq!(hit.meta.len(), 5);
        assert_eq!(kind(root.resolve_canonical("/inside")), "file");
        assert!(crate::open_cache::lookup(&fd, "inside").is_none(), "a link");
    }

    #[test]
    fn fifo_is_not_served() {
        let (d, _o, root) = setup();
        let fifo = d.path().join("fifo");
        let status = std::process::Command::new("mkfifo").arg(&fifo).status();
        if status.is_ok_and(|s| s.success()) {
            assert_eq!(kind(root.resolve("/fifo")), "missing");
        }
    }

    #[test]
    fn root_must_be_a_directory() {
        let (d, _o, _root) = setup();
        assert!(Root::open(&d.path().join("sub/a.txt")).is_err());
        assert!(Root::open(&d.path().join("missing")).is_err());
    }
}
