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
//!
//! Small files ([`SMALL_FILE`] bytes at most, [`CONTENT_BUDGET`] per
//! thread) also keep their content, so serving them again reads nothing:
//! one `statx` and the response's `writev`. Only content that cannot
//! change unseen is kept: the file's change time must be at least
//! [`SETTLED`] old when it is read. Any later write or `touch` sets the
//! change time to the (later) current time, which the check at every hit
//! sees; a write in the same clock tick as the read could not be told
//! apart by times alone, hence the wait (git's "racy clean" rule).

use std::cell::RefCell;
use std::fs::{File, Metadata};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rustix::fs::{AtFlags, StatxFlags};

/// Open files kept per thread.
pub const SLOTS: usize = 32;
/// Time after which an unused entry is closed.
pub const IDLE: Duration = Duration::from_secs(10);
/// Largest file whose content is kept.
pub const SMALL_FILE: u64 = 16 * 1024;
/// Most content bytes kept per thread.
pub const CONTENT_BUDGET: usize = 256 * 1024;
/// Age of a file's last change before its content may be kept.
pub const SETTLED: Duration = Duration::from_secs(1);

/// An open regular file and what `fstat` said about it when opened.
#[derive(Clone, Debug)]
pub struct Cached {
    /// The open file.
    pub file: Arc<File>,
    /// Its metadata.
    pub meta: Metadata,
    /// Its whole content, for a small file that had settled when read.
    pub content: Option<Bytes>,
}

impl Cached {
    /// `file` just opened, with `meta` from its descriptor.
    pub fn new(file: Arc<File>, meta: Metadata) -> Cached {
        Cached {
            file,
            meta,
            content: None,
        }
    }

    /// Read the content of a small, settled file into `content`, if the
    /// thread's cache holds less than `room` bytes more.
    fn keep_content(&mut self, room: usize) {
        let len = self.meta.len();
        if self.content.is_none()
            && len <= SMALL_FILE
            && (len as usize) <= room
            && settled(&self.meta)
        {
            self.content = read_whole(&self.file, len);
        }
    }
}

/// Whether the file's last change is at least [`SETTLED`] old.
fn settled(meta: &Metadata) -> bool {
    let (Ok(secs), Ok(nanos)) = (
        u64::try_from(meta.ctime()),
        u32::try_from(meta.ctime_nsec()),
    ) else {
        return false;
    };
    let changed = std::time::UNIX_EPOCH + Duration::new(secs, nanos);
    std::time::SystemTime::now()
        .duration_since(changed)
        .is_ok_and(|age| age >= SETTLED)
}

/// The whole file, if it reads back exactly `len` bytes.
fn read_whole(file: &File, len: u64) -> Option<Bytes> {
    let mut buf = vec![0; len as usize + 1];
    let mut got = 0;
    loop {
        match rustix::io::pread(file, &mut buf[got..], got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(rustix::io::Errno::INTR) => {}
            Err(_) => return None,
        }
        if got == buf.len() {
            return None;
        }
    }
    (got as u64 == len).then(|| {
        buf.truncate(got);
        Bytes::from(buf)
    })
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
        if c[i].cached.content.is_none() && c[i].cached.meta.len() <= SMALL_FILE {
            let room = room(&c);
            c[i].cached.keep_content(room);
        }
        c[i].used = Instant::now();
        Some(c[i].cached.clone())
    })
}

/// Remember `cached`, just opened at `rel` under `root`; what is kept is
/// returned (with the content of a small, settled file).
pub fn insert(root: &OwnedFd, rel: &str, mut cached: Cached) -> Cached {
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
        cached.keep_content(room(&c));
        c.push(Entry {
            root: root.as_raw_fd(),
            rel: rel.into(),
            cached: cached.clone(),
            used: now,
        });
        cached
    })
}

/// Content bytes the thread's cache may still take.
fn room(entries: &[Entry]) -> usize {
    let held: usize = entries
        .iter()
        .filter_map(|e| e.cached.content.as_ref())
        .map(Bytes::len)
        .sum();
    CONTENT_BUDGET.saturating_sub(held)
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
        Cached::new(Arc::new(file), meta)
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
    fn small_settled_files_keep_their_content_until_changed() {
        let d = tempfile::tempdir().unwrap();
        let root: OwnedFd = File::open(d.path()).unwrap().into();
        std::fs::write(d.path().join("new"), "fresh").unwrap();
        std::fs::write(d.path().join("old"), "one").unwrap();
        std::fs::write(d.path().join("big"), vec![b'x'; SMALL_FILE as usize + 1]).unwrap();
        // Just written: not settled, only the descriptor is kept.
        let kept = insert(&root, "new", open(d.path(), "new"));
        assert_eq!(kept.content, None);
        std::thread::sleep(SETTLED + Duration::from_millis(100));
        let kept = insert(&root, "old", open(d.path(), "old"));
        assert_eq!(kept.content.as_deref(), Some(&b"one"[..]));
        assert_eq!(insert(&root, "big", open(d.path(), "big")).content, None);
        // Settled since: the next hit reads it.
        assert_eq!(
            lookup(&root, "new").unwrap().content.as_deref(),
            Some(&b"fresh"[..])
        );
        // Rewritten in place, same size: the change time moves, the entry
        // goes, the new bytes are read afresh.
        std::fs::write(d.path().join("old"), "two").unwrap();
        assert!(lookup(&root, "old").is_none());
        let kept = insert(&root, "old", open(d.path(), "old"));
        assert_eq!(kept.content, None, "just changed: not settled");
    }

    #[test]
    fn content_stays_within_the_budget() {
        let d = tempfile::tempdir().unwrap();
        let root: OwnedFd = File::open(d.path()).unwrap().into();
        let per = SMALL_FILE as usize;
        let n = CONTENT_BUDGET / per + 2;
        for i in 0..n {
            std::fs::write(d.path().join(i.to_string()), vec![b'x'; per]).unwrap();
        }
        std::thread::sleep(SETTLED + Duration::from_millis(100));
        let with_content = (0..n)
            .filter(|i| {
                insert(&root, &i.to_string(), open(d.path(), &i.to_string()))
                    .content
                    .is_some()
            })
            .count();
        assert_eq!(with_content, CONTENT_BUDGET / per);
        CACHE.with(|c| assert!(room(&c.borrow()) < per));
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
