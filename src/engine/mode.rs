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
            Mode::Threads(0) => std::thread::available_parallelism().map_or(1, |n| n.get()),
            Mode::Threads(n) => n,
        }
    }
}

/// A hook run once in each worker thread before it serves (the embedding
/// API's per-process init callback).
pub type InitHook = Arc<dyn Fn() + Send + Sync>;
