//! The progress limit of a request in flight: a client that stops sending
//! its body, or stops taking its response, is dropped once no byte has
//! moved for the limit (`headertimeout`).
//!
//! The head has its own deadline ([`super::deadline`]); without this one a
//! client could send a head, then hold its connection (and a `maxclients`
//! slot) for ever by going silent. Only time spent waiting on the client
//! counts: a handler that computes, or a body (CGI output) that is slow to
//! come, is not the client's stall. And a slow but moving transfer is never
//! cut: each byte moved restarts the wait.
//!
//! Cheap where nothing waits: the timer is made the first time an exchange
//! waits on its client (a small GET never does), and a byte moved costs a
//! counter increment plus, on the next wake-up, one clock read.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::{Instant, Sleep};

pub(super) struct Stall {
    limit: Duration,
    /// Made on the first wait on the client.
    timer: Option<Pin<Box<Sleep>>>,
    /// The progress count last seen, and when it last changed (`None`: the
    /// exchange was not waiting on the client at its last poll).
    seen: Option<(u64, Instant)>,
}

impl Stall {
    pub(super) fn new(limit: Duration) -> Self {
        Stall {
            limit,
            timer: None,
            seen: None,
        }
    }

    /// `blocked`: the exchange waits on the client (to send body bytes or
    /// to take response bytes); `progress`: a count that grows with each
    /// byte moved. Ready once blocked with no progress for the limit.
    pub(super) fn poll(&mut self, cx: &mut Context<'_>, blocked: bool, progress: u64) -> Poll<()> {
        if !blocked {
            self.seen = None;
            return Poll::Pending;
        }
        let since = match self.seen {
            Some((n, since)) if n == progress => since,
            _ => {
                let now = Instant::now();
                self.seen = Some((progress, now));
                now
            }
        };
        let due = since + self.limit;
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(due)));
        while timer.as_mut().poll(cx).is_ready() {
            if Instant::now() >= due {
                return Poll::Ready(());
            }
            // Fired for an older wait: this one ends later.
            timer.as_mut().reset(due);
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use std::future::poll_fn;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn no_progress_ends_after_the_limit() {
        let start = Instant::now();
        let mut stall = Stall::new(Duration::from_secs(3));
        poll_fn(|cx| stall.poll(cx, true, 7)).await;
        assert_eq!(start.elapsed(), Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn progress_restarts_the_wait() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicU64, Ordering};

        let start = Instant::now();
        let moved = Arc::new(AtomicU64::new(0));
        let mover = moved.clone();
        // Bytes move at 1, 2.5 and 4 s (without waking the waiter).
        tokio::spawn(async move {
            for wait in [1000, 1500, 1500] {
                tokio::time::sleep(Duration::from_millis(wait)).await;
                mover.fetch_add(1, Ordering::Relaxed);
            }
        });
        let mut stall = Stall::new(Duration::from_secs(3));
        poll_fn(|cx| stall.poll(cx, true, moved.load(Ordering::Relaxed))).await;
        // The timer sees progress at 3 s and at 6 s, none at 9 s.
        assert_eq!(start.elapsed(), Duration::from_secs(9));
    }

    #[tokio::test(start_paused = true)]
    async fn time_not_blocked_does_not_count() {
        let mut stall = Stall::new(Duration::from_secs(3));
        let waited = tokio::time::timeout(
            Duration::from_secs(30),
            poll_fn(|cx| stall.poll(cx, false, 0)),
        )
        .await;
        assert!(waited.is_err());
    }
}
