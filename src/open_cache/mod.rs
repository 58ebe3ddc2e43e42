//! Files recently opened by the resolver, per thread, kept open.
//!
//! Serving the same file again then costs neither `openat2` + `statx` +
//! `close` nor, usually, any system call at all. Safety and freshness rest
//! on the check of a hit: the path is looked up again (`statx`, without
//! following a final symbolic link) and must still name the same inode on
//! the same device with the same size, mode, change and modification
//! times. A file replaced (rename), rewritten, truncated, re-permissioned,
//! deleted or swapped for a link fails the check and is opened afresh
//! through the confined `openat2` path; and since the check compares
//! inodes, a path that resolves outside the root can only match if it is
//! the very file that was opened inside it. The check is made at the first
//! hit after inotify reported a change to the file or to a directory on
//! its path, after the server's own writes, at least every
//! second (`REVERIFY`), and at every hit of an entry nothing watches: see
//! `src/open_cache/watch.rs` for why a hit needs nothing more.
//!
//! Paths found absent (`ENOENT`, `ENOTDIR`) are remembered too, while
//! inotify watches the directories from the root down to the deepest one
//! that exists: the path can only appear by a name created or moved into
//! one of them. Any reported change, any write of the server's own, and
//! `REVERIFY` (a second) forget them all; a path through a link, or one
//! nothing can watch, is not remembered. A missing page asked for again
//! and again (a device's `favicon.ico`, a 404 under load) then costs no
//! system call either.
//!
//! Bounded: [`SLOTS`] files per thread, each dropped after [`IDLE`]
//! without use (so a deleted file's space is not held for long). Bodies
//! read with `pread`, so one open file serves concurrent responses.
//!
//! Small files ([`SMALL_FILE`] bytes at most, [`CONTENT_BUDGET`] per
//! thread) also keep their content, so serving them again reads nothing:
//! the response's `writev` is the only system call. Only content that
//! cannot change unseen is kept: the file's change time must be at least
//! [`SETTLED`] old when it is read. Any later write or `touch` sets the
//! change time to the (later) current time, which the check sees; a write
//! in the same clock tick as the read could not be told apart by times
//! alone, hence the wait (git's "racy clean" rule).

mod watch;

use std::cell::RefCell;
use std::fs::{File, Metadata};
use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rustix::fs::{AtFlags, StatxFlags};

use watch::Watcher;

/// Open files kept per thread.
pub const SLOTS: usize = 32;
/// Absent paths remembered per thread.
pub const ABSENT_SLOTS: usize = 16;
/// Paths missed once that a second miss finds.
const MISSES: usize = 16;
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

/// A root directory as the cache knows it: a descriptor to look paths up
/// from, and the directory's identity (device, inode), which keys its
/// entries. Not the descriptor's number: a number closed and reused for
/// another directory (each request opens its user's home) must not find
/// the first one's files.
#[derive(Debug)]
pub struct RootDir {
    fd: OwnedFd,
    id: (u64, u64),
}

impl RootDir {
    /// The directory open at `fd` (`O_PATH` is enough).
    pub fn new(fd: OwnedFd) -> std::io::Result<RootDir> {
        let st = rustix::fs::fstat(&fd)?;
        Ok(RootDir {
            id: (st.st_dev, st.st_ino),
            fd,
        })
    }

    /// The descriptor paths are looked up from.
    pub fn fd(&self) -> &OwnedFd {
        &self.fd
    }
}

/// One cached file.
struct Entry {
    root: (u64, u64),
    rel: Box<str>,
    cached: Cached,
    used: Instant,
    /// When the check last passed, and the thread's change count then.
    checked: Instant,
    seen: u64,
    /// The inotify watches this entry holds (`None`: nothing watches it).
    watches: Option<Box<[i32]>>,
}

impl Entry {
    /// Whether a hit may skip the check: watched, nothing changed since
    /// the last check, and that check is recent.
    fn trusted(&self, changes: u64, now: Instant) -> bool {
        self.watches.is_some()
            && self.seen == changes
            && now.duration_since(self.checked) < watch::REVERIFY
    }
}

/// A path known not to exist: trusted until any change is reported (all
/// are then forgotten) and for `REVERIFY` (a second) at most; the next
/// request for it looks it up again.
struct Absent {
    root: (u64, u64),
    rel: Box<str>,
    since: Instant,
    watches: Box<[i32]>,
}

/// One thread's cache.
struct Cache {
    entries: Vec<Entry>,
    absent: Vec<Absent>,
    /// Hashes of the last paths found absent once, and where the next
    /// goes: only a second miss is remembered with watches.
    missed: [u64; MISSES],
    next_miss: usize,
    watcher: Watching,
    /// Changes seen on this thread (inotify events, the server's writes).
    changes: u64,
    /// [`WRITES`] when last looked at.
    writes: u64,
}

enum Watching {
    /// Not tried yet, or again after this time.
    Retry(Option<Instant>),
    On(Watcher),
}

thread_local! {
    static CACHE: RefCell<Cache> = const {
        RefCell::new(Cache {
            entries: Vec::new(),
            absent: Vec::new(),
            missed: [0; MISSES],
            next_miss: 0,
            watcher: Watching::Retry(None),
            changes: 0,
            writes: 0,
        })
    };
}

/// Writes the server made under its roots (REST, WebDAV, uploads).
static WRITES: AtomicU64 = AtomicU64::new(0);
/// Whether caches may watch with inotify ([`watch_changes`]).
static WATCH: AtomicBool = AtomicBool::new(true);

/// The server changed something under a root: every thread checks its
/// entries again at their next hit. (Its own inotify events may not be
/// read yet when a request pipelined behind the write is looked up.)
pub fn written() {
    WRITES.fetch_add(1, Ordering::Release);
}

/// Whether to watch cached files with inotify (on by default). Process
/// mode turns it off: one instance per connection's process would cost
/// more system calls than it saves and use up the user's instances.
pub fn watch_changes(on: bool) {
    WATCH.store(on, Ordering::Relaxed);
}

impl Cache {
    /// Take in the changes reported since the last look.
    fn catch_up(&mut self) {
        let writes = WRITES.load(Ordering::Acquire);
        if writes != self.writes {
            self.writes = writes;
            self.changes += 1;
            self.forget_absent(|_| true);
        }
        let Watching::On(w) = &mut self.watcher else {
            return;
        };
        match w.changes() {
            Ok(c) => {
                if c.any {
                    self.changes += 1;
                    self.forget_absent(|_| true);
                }
                if !c.gone.is_empty() {
                    // Through `remove`: their other watches are let go.
                    self.remove_where(|e| {
                        e.watches
                            .as_ref()
                            .is_some_and(|ws| ws.iter().any(|w| c.gone.contains(w)))
                    });
                }
            }
            Err(()) => self.stop_watching(),
        }
    }

    /// The instance failed: every entry loses its watches (and is checked
    /// at every hit); a new instance is tried after [`IDLE`].
    fn stop_watching(&mut self) {
        for e in &mut self.entries {
            e.watches = None;
        }
        self.absent.clear();
        self.watcher = Watching::Retry(Some(Instant::now() + IDLE));
    }

    /// This thread's watcher, made when first needed.
    fn watcher(&mut self, now: Instant) -> Option<&mut Watcher> {
        if let Watching::Retry(after) = self.watcher {
            if !WATCH.load(Ordering::Relaxed) || after.is_some_and(|t| now < t) {
                return None;
            }
            self.watcher = match Watcher::new() {
                Some(w) => Watching::On(w),
                None => Watching::Retry(Some(now + IDLE)),
            };
        }
        match &mut self.watcher {
            Watching::On(w) => Some(w),
            Watching::Retry(_) => None,
        }
    }

    /// Drop entry `i`, letting go of its watches.
    fn remove(&mut self, i: usize) {
        let e = self.entries.swap_remove(i);
        self.release(e.watches.as_deref());
    }

    /// Let go of watches an entry held (or was to hold).
    fn release(&mut self, watches: Option<&[i32]>) {
        if let (Some(ws), Watching::On(w)) = (watches, &mut self.watcher) {
            w.release(ws);
        }
    }

    /// Drop the entries `drop` picks.
    fn remove_where(&mut self, mut drop: impl FnMut(&Entry) -> bool) {
        let mut i = 0;
        while i < self.entries.len() {
            if drop(&self.entries[i]) {
                self.remove(i);
            } else {
                i += 1;
            }
        }
    }

    /// Forget the absent paths `drop` picks, letting go of their watches.
    fn forget_absent(&mut self, drop: impl FnMut(&mut Absent) -> bool) {
        let gone: Vec<Absent> = self.absent.extract_if(.., drop).collect();
        for a in gone {
            self.release(Some(&a.watches));
        }
    }

    /// Content bytes the thread's cache may still take.
    fn room(&self) -> usize {
        let held: usize = self
            .entries
            .iter()
            .filter_map(|e| e.cached.content.as_ref())
            .map(Bytes::len)
            .sum();
        CONTENT_BUDGET.saturating_sub(held)
    }
}

/// The file at `rel` under `root`, if it is cached and unchanged.
pub fn lookup(root: &RootDir, rel: &str) -> Option<Cached> {
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        c.catch_up();
        let i = c
            .entries
            .iter()
            .position(|e| e.root == root.id && &*e.rel == rel)?;
        let now = Instant::now();
        let changes = c.changes;
        let e = &mut c.entries[i];
        if !e.trusted(changes, now) {
            if !unchanged(&root.fd, rel, &e.cached.meta) {
                c.remove(i);
                return None;
            }
            (e.checked, e.seen) = (now, changes);
        }
        e.used = now;
        if e.cached.content.is_none() && e.cached.meta.len() <= SMALL_FILE {
            let room = c.room();
            c.entries[i].cached.keep_content(room);
        }
        Some(c.entries[i].cached.clone())
    })
}

/// Remember `cached`, just opened at `rel` under `root`; what is kept is
/// returned (with the content of a small, settled file).
pub fn insert(root: &RootDir, rel: &str, mut cached: Cached) -> Cached {
    let now = Instant::now();
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        c.catch_up();
        c.remove_where(|e| {
            now.duration_since(e.used) >= IDLE || (e.root == root.id && &*e.rel == rel)
        });
        if c.entries.len() >= SLOTS
            && let Some(oldest) = (0..c.entries.len()).min_by_key(|&i| c.entries[i].used)
        {
            c.remove(oldest);
        }
        let watches = c
            .watcher(now)
            .and_then(|w| w.watch(&root.fd, rel, &cached.file));
        // Changed between the open and the watches: not kept (the next
        // request opens it again).
        if watches.is_some() && !unchanged(&root.fd, rel, &cached.meta) {
            c.release(watches.as_deref());
            return cached;
        }
        let room = c.room();
        cached.keep_content(room);
        let changes = c.changes;
        c.entries.push(Entry {
            root: root.id,
            rel: rel.into(),
            cached: cached.clone(),
            used: now,
            checked: now,
            seen: changes,
            watches,
        });
        cached
    })
}

/// Whether `rel` under `root` is known not to exist: it did not when
/// last looked up, less than `REVERIFY` (a second) ago, and the watches
/// set then have reported no change since.
pub fn absent(root: &RootDir, rel: &str) -> bool {
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.absent.is_empty() {
            return false;
        }
        c.catch_up();
        let now = Instant::now();
        c.forget_absent(|a| now.duration_since(a.since) >= watch::REVERIFY);
        c.absent.iter().any(|a| a.root == root.id && &*a.rel == rel)
    })
}

/// Remember that `rel` under `root` does not exist (its lookup just said
/// so), if it was missed recently already and its absence can be watched
/// (a path nothing watches would need a system call to check, no cheaper
/// than looking it up again). Setting the watches costs two or more
/// system calls: paths asked for once (a scanner's) only leave a hash.
pub fn insert_absent(root: &RootDir, rel: &str) {
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        let key = {
            let mut h = std::hash::DefaultHasher::new();
            std::hash::Hash::hash(&(root.id, rel), &mut h);
            std::hash::Hasher::finish(&h)
        };
        if !c.missed.contains(&key) {
            let next = c.next_miss;
            c.missed[next] = key;
            c.next_miss = (next + 1) % MISSES;
            return;
        }
        let now = Instant::now();
        c.catch_up();
        c.forget_absent(|a| a.root == root.id && &*a.rel == rel);
        if c.absent.len() >= ABSENT_SLOTS
            && let Some(oldest) = (0..c.absent.len()).min_by_key(|&i| c.absent[i].since)
        {
            let a = c.absent.swap_remove(oldest);
            c.release(Some(&a.watches));
        }
        let Some(watches) = c.watcher(now).and_then(|w| w.watch_absent(&root.fd, rel)) else {
            return;
        };
        c.absent.push(Absent {
            root: root.id,
            rel: rel.into(),
            since: now,
            watches,
        });
    })
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
mod tests;
