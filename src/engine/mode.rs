//! Concurrency modes.
//!
//! - `Mono`: one thread, one tokio `current_thread` runtime — the smallest
//!   and, on one core, the fastest.
//! - `Threads(n)`: `n` threads, each with its own `current_thread` runtime
//!   accepting on the same sockets (the nginx worker model): no work
//!   stealing, no cross-thread wake-ups on the hot path, and a natural place
//!   for a per-worker init hook.
//! - `Process`: one child process per connection (binary only).
//!
//! Connections limits (`maxclients`) are shared by all workers.

use std::sync::Arc;

/// How connections are spread over threads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Mode {
    /// One thread.
    #[default]
    Mono,
    /// `n` worker threads (0 = one per core).
    Threads(usize),
    /// One child process per connection (the `marmoset` binary's sandbox
    /// mode: a crash takes only its own connection). Forking needs a
    /// single-threaded parent, so only the binary offers it; the library
    /// serves this mode like `Mono`.
    Process,
}

impl Mode {
    /// The number of worker threads this mode runs.
    pub fn workers(self) -> usize {
        match self {
            Mode::Mono | Mode::Process => 1,
            Mode::Threads(0) => cores(),
            Mode::Threads(n) => n,
        }
    }
}

/// The CPUs this process may run on (its affinity mask: `taskset`,
/// cpusets), at least 1.
///
/// Not `std::thread::available_parallelism`, which also reads cgroup CPU
/// quotas from `/proc` and `/sys`: that parsing is 12 KB of the
/// documents-only binary, for containers with a quota, which devices
/// rarely are (`workers = N` sets the count by hand there).
fn cores() -> usize {
    rustix::thread::sched_getaffinity(None).map_or(1, |set| (set.count() as usize).max(1))
}

/// A hook run once in each worker thread before it serves (the embedding
/// API's per-process init callback).
pub type InitHook = Arc<dyn Fn() + Send + Sync>;

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::thread::{CpuSet, sched_getaffinity, sched_setaffinity};

    #[test]
    fn zero_workers_follow_the_affinity_mask() {
        assert!(Mode::Threads(0).workers() >= 1);
        assert_eq!(Mode::Threads(3).workers(), 3);
        assert_eq!(Mode::Process.workers(), 1);
        // Pinned to one CPU (in a thread of its own), one worker.
        std::thread::spawn(|| {
            let allowed = sched_getaffinity(None).unwrap();
            let first = (0..CpuSet::MAX_CPU).find(|&c| allowed.is_set(c)).unwrap();
            let mut one = CpuSet::new();
            one.set(first);
            sched_setaffinity(None, &one).unwrap();
            assert_eq!(Mode::Threads(0).workers(), 1);
        })
        .join()
        .unwrap();
    }
}
