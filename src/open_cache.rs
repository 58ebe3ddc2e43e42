//! Files recently opened by the resolver, per thread, kept open.
//!
//! Serving the same file again then costs one `statx` of its path instead
//! of `openat2` + `statx` + `close`. Safety and freshness rest on the
//! check made at every hit: the path is looked up again (without following
//! a final symbolic link) and must still name the same inode on the same
//! device with the same size, mode, change and modification times. A file
//! replaced (rename), rewritten, truncated, re-permissioned, deleted or
//! swapped for a link fails the check and is opened afresh through the
//! confined `openat2` path; and since the check compares inodes, a path
//! that resolves outside the root can only match if it is the very file
//! that was opened inside it.
//!
//! Bounded: [`SLOTS`] files per thread, each dropped after [`IDLE`]
//! without use (so a deleted file's space is not held for long). Bodies
//! read with `pread`, so one open file serves concurrent responses.

use std::cell::RefCell;
use std::fs::{File, Metadata};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustix::fs::{AtFlags, StatxFlags};

/// Open files kept per thread.
pub const SLOTS: usize = 32;
/// Time after which an unused entry is closed.
pub const IDLE: Duration = Duration::from_secs(10);

/// An open regular file and what `fstat` said about it when opened.
#[derive(Clone, Debug)]
pub struct Cached {
    /// The open file.
    pub file: Arc<File>,
    /// Its metadata.
    pub meta: Metadata,
}

struct Entry {
    root: i32,
    rel: Box<str>,
    cached: Cached,
    used: Instant,
}

thread_local! {
    static CACHE: RefCell<Vec<Entry>> = const { RefCell::new(Vec::new()) };
}

/// The file at `rel` under `root`, if it is cached and unchanged.
pub fn lookup(root: &OwnedFd, rel: &str) -> Option<Cached> {
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        let i = c
            .iter()
            .position(|e| e.root == root.as_raw_fd() && &*e.rel == rel)?;
        if !unchanged(root, rel, &c[i].cached.meta) {
            c.swap_remove(i);
            return None;
        }
        c[i].used = Instant::now();
        Some(c[i].cached.clone())
    })
}

/// Remember `cached`, just opened at `rel` under `root`.
pub fn insert(root: &OwnedFd, rel: &str, cached: Cached) {
    let now = Instant::now();
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        c.retain(|e| now.duration_since(e.used) < IDLE);
        c.retain(|e| !(e.root == root.as_raw_fd() && &*e.rel == rel));
        if c.len() >= SLOTS
            && let Some(oldest) = (0..c.len()).min_by_key(|&i| c[i].used)
        {
            c.swap_remove(oldest);
        }
        c.push(Entry {
            root: root.as_raw_fd(),
            rel: rel.into(),
            cached,
            used: now,
        });
    });
}

/// Whether `rel` still names the file `meta` describes.
fn unchanged(root: &OwnedFd, rel: &str, meta: &Metadata) -> bool {
    let Ok(s) = rustix::fs::statx(
        root,
        rel,
        AtFlags::SYMLINK_NOFOLLOW,
        StatxFlags::BASIC_STATS,
    ) else {
        return false;
    };
    rustix::fs::makedev(s.stx_dev_major, s.stx_dev_minor) == meta.dev()
        && s.stx_ino == meta.ino()
        && s.stx_size == meta.size()
        && u32::from(s.stx_mode) == meta.mode()
        && s.stx_ctime.tv_sec == meta.ctime()
        && i64::from(s.stx_ctime.tv_nsec) == meta.ctime_nsec()
        && s.stx_mtime.tv_sec == meta.mtime()
        && i64::from(s.stx_mtime.tv_nsec) == meta.mtime_nsec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(dir: &std::path::Path, rel: &str) -> Cached {
        let file = File::open(dir.join(rel)).unwrap();
        let meta = file.metadata().unwrap();
        Cached {
            file: Arc::new(file),
            meta,
        }
    }

    #[test]
    fn a_hit_until_the_file_changes() {
        let d = tempfile::tempdir().unwrap();
        let root: OwnedFd = File::open(d.path()).unwrap().into();
        std::fs::write(d.path().join("a"), "one").unwrap();
        assert!(lookup(&root, "a").is_none());
        insert(&root, "a", open(d.path(), "a"));
        assert!(lookup(&root, "a").is_some());
        // Replaced by rename: another inode.
        std::fs::write(d.path().join("b"), "two").unwrap();
        std::fs::rename(d.path().join("b"), d.path().join("a")).unwrap();
        assert!(lookup(&root, "a").is_none(), "renamed over");
        insert(&root, "a", open(d.path(), "a"));
        // Re-permissioned: ctime and mode.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(d.path().join("a"), std::fs::Permissions::from_mode(0o600))
            .unwrap();
        assert!(lookup(&root, "a").is_none(), "chmod");
        insert(&root, "a", open(d.path(), "a"));
        // Swapped for a link to itself: the link's inode.
        std::fs::rename(d.path().join("a"), d.path().join("c")).unwrap();
        std::os::unix::fs::symlink("c", d.path().join("a")).unwrap();
        assert!(lookup(&root, "a").is_none(), "link");
        // Deleted.
        insert(&root, "c", open(d.path(), "c"));
        std::fs::remove_file(d.path().join("c")).unwrap();
        assert!(lookup(&root, "c").is_none(), "deleted");
    }

    #[test]
    fn bounded() {
        let d = tempfile::tempdir().unwrap();
        let root: OwnedFd = File::open(d.path()).unwrap().into();
        for i in 0..SLOTS + 5 {
            std::fs::write(d.path().join(i.to_string()), "x").unwrap();
            insert(&root, &i.to_string(), open(d.path(), &i.to_string()));
        }
        CACHE.with(|c| assert_eq!(c.borrow().len(), SLOTS));
        assert!(lookup(&root, &(SLOTS + 4).to_string()).is_some());
    }
}
