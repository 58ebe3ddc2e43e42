//! Change notification for the cache of open files: one inotify instance
//! per thread, registered with the thread's tokio reactor, watching every
//! cached file and the directories on its path beneath the root.
//!
//! Why: checking a hit with `statx` of its path cost about 0.4 µs of
//! kernel time per request, the largest single item left in a keep-alive
//! GET besides reading the request and writing the response (lighttpd
//! keeps its stat results too). The kernel queues an inotify event within
//! the very system call that changes a watched inode, and the reactor
//! marks the instance readable at its next wait for events, before the
//! tasks woken by that wait run. A request is read because such a wait
//! said its connection was readable, so a change made before the request
//! was sent is already flagged when it is looked up: a hit only reads a
//! flag in memory; when set, the events are read and every entry is
//! checked again (once) by `statx`.
//!
//! Entries are still checked by `statx` when no watch could be set (no
//! tokio reactor on the thread, no `/proc`, inotify limits reached,
//! process mode), and at most [`REVERIFY`] after their last check anyway:
//! file systems whose changes inotify does not see (network, FUSE), writes
//! through a shared mapping, and a change racing with pipelined requests
//! read in one batch before the next wait are seen within that time. The
//! server's own writes (REST, WebDAV) bump a global counter
//! ([`super::written`]) that every thread compares at each lookup.

use std::fs::File;
use std::future::Future;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, OwnedFd};
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use rustix::fs::inotify::{self, CreateFlags, ReadFlags, WatchFlags};
use tokio::io::unix::AsyncFd;

/// Longest time a hit is served on inotify's word alone.
pub const REVERIFY: Duration = Duration::from_secs(1);

/// Events on a cached file: its content, its metadata (mode, times, link
/// count: a rename over it or an unlink), itself going away.
const FILE_EVENTS: WatchFlags = WatchFlags::MODIFY
    .union(WatchFlags::ATTRIB)
    .union(WatchFlags::CLOSE_WRITE)
    .union(WatchFlags::DELETE_SELF)
    .union(WatchFlags::MOVE_SELF);

/// Events on a directory of a cached path: names appearing, going or
/// moving in it (a file or a directory on the path replaced), itself
/// going away.
const DIR_EVENTS: WatchFlags = WatchFlags::CREATE
    .union(WatchFlags::DELETE)
    .union(WatchFlags::MOVED_FROM)
    .union(WatchFlags::MOVED_TO)
    .union(WatchFlags::DELETE_SELF)
    .union(WatchFlags::MOVE_SELF)
    .union(WatchFlags::ONLYDIR);

/// What reading the pending events found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// Something watched changed: check every entry again.
    pub any: bool,
    /// Watches the kernel removed (their inode is gone): entries holding
    /// one are dropped.
    pub gone: Vec<i32>,
}

/// One thread's inotify instance and its watches.
pub struct Watcher {
    fd: AsyncFd<OwnedFd>,
    /// Watch descriptors and how many entries hold each.
    watches: Vec<(i32, u32)>,
}

impl Watcher {
    /// A new instance registered with this thread's reactor; `None` out of
    /// a tokio runtime or when inotify is unavailable.
    pub fn new() -> Option<Watcher> {
        tokio::runtime::Handle::try_current().ok()?;
        let fd = inotify::init(CreateFlags::NONBLOCK | CreateFlags::CLOEXEC).ok()?;
        // The safe constructor, deprecated because an arbitrary `AsRawFd`
        // may change or close its descriptor under the reactor; an
        // `OwnedFd` cannot (and the crate forbids `unsafe`).
        #[allow(deprecated)]
        let fd = AsyncFd::with_interest(fd, tokio::io::Interest::READABLE).ok()?;
        Some(Watcher {
            fd,
            watches: Vec::new(),
        })
    }

    /// Watch `file`, open at `rel` beneath `root`, and every directory
    /// from `root` to its parent. The watches taken, or `None` (and none
    /// kept) if one could not be set.
    pub fn watch(&mut self, root: &OwnedFd, rel: &str, file: &File) -> Option<Box<[i32]>> {
        let mut taken = Vec::with_capacity(1 + rel.matches('/').count() + 1);
        let ok = self.watch_dirs(root, rel, false, &mut taken)
            && self.add(file.as_raw_fd(), FILE_EVENTS, &mut taken);
        self.keep(taken, ok)
    }

    /// Watch the directories from `root` down to the deepest existing one
    /// on `rel`'s path, which does not exist: it can only appear by a
    /// name created or moved into one of them. `None` (and none kept) if a
    /// watch could not be set, if a directory on the path could not be
    /// told absent (a link, no permission), or if something is at `rel`
    /// once watched (created meanwhile, or a dangling link).
    pub fn watch_absent(&mut self, root: &OwnedFd, rel: &str) -> Option<Box<[i32]>> {
        let mut taken = Vec::with_capacity(1 + rel.matches('/').count());
        let ok = self.watch_dirs(root, rel, true, &mut taken)
            && matches!(
                rustix::fs::statx(
                    root,
                    rel,
                    rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
                    rustix::fs::StatxFlags::TYPE
                ),
                Err(rustix::io::Errno::NOENT | rustix::io::Errno::NOTDIR)
            );
        self.keep(taken, ok)
    }

    /// Watch `root` and the directories on `rel`'s path; with `to_absent`,
    /// down to the first one that does not exist (or is not a directory).
    fn watch_dirs(
        &mut self,
        root: &OwnedFd,
        rel: &str,
        to_absent: bool,
        taken: &mut Vec<i32>,
    ) -> bool {
        if !self.add(root.as_raw_fd(), DIR_EVENTS, taken) {
            return false;
        }
        for (end, _) in rel.match_indices('/') {
            match open_dir(root, &rel[..end]) {
                Ok(dir) => {
                    if !self.add(dir.as_raw_fd(), DIR_EVENTS, taken) {
                        return false;
                    }
                }
                Err(rustix::io::Errno::NOENT | rustix::io::Errno::NOTDIR) if to_absent => {
                    return true;
                }
                Err(_) => return false,
            }
        }
        true
    }

    /// Watch the inode open at `fd` for `flags`; recorded in `taken`.
    fn add(&mut self, fd: i32, flags: WatchFlags, taken: &mut Vec<i32>) -> bool {
        let path = format!("/proc/self/fd/{fd}");
        let Ok(wd) = inotify::add_watch(self.fd.get_ref(), path, flags) else {
            return false;
        };
        self.hold(wd);
        taken.push(wd);
        true
    }

    /// The watches `taken`, if all could be set; else they are let go.
    fn keep(&mut self, taken: Vec<i32>, ok: bool) -> Option<Box<[i32]>> {
        if !ok {
            self.release(&taken);
            return None;
        }
        Some(taken.into_boxed_slice())
    }

    /// How many watches the instance holds.
    #[cfg(test)]
    pub fn held(&self) -> usize {
        self.watches.len()
    }

    fn hold(&mut self, wd: i32) {
        match self.watches.iter_mut().find(|(w, _)| *w == wd) {
            Some((_, n)) => *n += 1,
            None => self.watches.push((wd, 1)),
        }
    }

    /// Let go of `wds` (an entry's watches); a watch no entry holds any
    /// more is removed from the instance.
    pub fn release(&mut self, wds: &[i32]) {
        for &wd in wds {
            let Some(i) = self.watches.iter().position(|(w, _)| *w == wd) else {
                continue;
            };
            self.watches[i].1 -= 1;
            if self.watches[i].1 == 0 {
                self.watches.swap_remove(i);
                // Its IN_IGNORED comes for a watch no longer known: ignored.
                let _ = inotify::remove_watch(self.fd.get_ref(), wd);
            }
        }
    }

    /// The changes queued since the last call, read only when the reactor
    /// marked the instance readable (no system call otherwise); `Err` when
    /// the instance can no longer be used.
    pub fn changes(&mut self) -> Result<Changes, ()> {
        let mut cx = Context::from_waker(Waker::noop());
        // Unconstrained: tokio's cooperative budget must neither be spent
        // here nor make a readable instance look idle.
        let ready = pin!(tokio::task::unconstrained(std::future::poll_fn(|cx| {
            self.fd
                .poll_read_ready(cx)
                .map(|r| r.map(|mut g| g.clear_ready()))
        })))
        .poll(&mut cx);
        match ready {
            Poll::Pending => Ok(Changes::default()),
            Poll::Ready(Err(_)) => Err(()),
            Poll::Ready(Ok(())) => self.read_events(),
        }
    }

    /// Read every queued event (readiness was cleared first, so an event
    /// arriving after the last read marks the instance readable again).
    fn read_events(&mut self) -> Result<Changes, ()> {
        let mut buf = [MaybeUninit::<u8>::uninit(); 4096];
        let mut reader = inotify::Reader::new(self.fd.get_ref(), &mut buf);
        let mut changes = Changes::default();
        loop {
            let event = match reader.next() {
                Ok(e) => e,
                Err(rustix::io::Errno::AGAIN) => return Ok(changes),
                Err(rustix::io::Errno::INTR) => continue,
                Err(_) => return Err(()),
            };
            let (wd, flags) = (event.wd(), event.events());
            if flags.contains(ReadFlags::QUEUE_OVERFLOW) {
                changes.any = true;
                continue;
            }
            let Some(i) = self.watches.iter().position(|(w, _)| *w == wd) else {
                continue; // a watch released since
            };
            changes.any = true;
            if flags.contains(ReadFlags::IGNORED) {
                self.watches.swap_remove(i);
                changes.gone.push(wd);
            }
        }
    }
}

/// The directory at `rel` beneath `root`, opened only to be named.
fn open_dir(root: &OwnedFd, rel: &str) -> rustix::io::Result<OwnedFd> {
    use rustix::fs::{Mode, OFlags, ResolveFlags};
    rustix::fs::openat2(
        root,
        rel,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS | ResolveFlags::NO_SYMLINKS,
    )
}
