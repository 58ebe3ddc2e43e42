//! The time limit for a connection's next request head, kept lazily.
//!
//! A keep-alive connection moves its limit with every request. Resetting
//! the timer each time (and polling it again, which registers the task
//! anew) cost a few atomic operations and a visit to the timer wheel per
//! request. Here a request only notes the new limit; the timer is left
//! alone and, when it fires at the older limit, is set again to the newer
//! one. The connection still ends when it should: a timer never fires
//! late, and its firing early is checked against the noted limit.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::{Instant, Sleep};

pub(super) struct Deadline<'t> {
    timer: Pin<&'t mut Sleep>,
    /// When the wait for the next head ends (`None`: no limit).
    due: Option<Instant>,
    /// The timer has been polled since it was last set: the task is
    /// registered with it and will be woken when it fires.
    armed: bool,
}

impl<'t> Deadline<'t> {
    /// A limit kept with `timer`, none yet.
    pub(super) fn new(timer: Pin<&'t mut Sleep>) -> Self {
        Deadline {
            timer,
            due: None,
            armed: false,
        }
    }

    /// The next head is due within `limit` from now (`None`: no limit).
    pub(super) fn start(&mut self, limit: Option<Duration>) {
        self.due = limit.map(|d| Instant::now() + d);
        if let Some(due) = self.due
            && due < self.timer.deadline()
        {
            // Sooner than the timer: it would fire late.
            self.set(due);
        }
    }

    /// Ready once the limit has passed; registers the task to be woken
    /// then.
    pub(super) fn poll_passed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(due) = self.due else {
            return Poll::Pending;
        };
        loop {
            let fired = if self.armed {
                self.timer.is_elapsed()
            } else {
                self.armed = true;
                self.timer.as_mut().poll(cx).is_ready()
            };
            if !fired {
                return Poll::Pending;
            }
            if Instant::now() >= due {
                return Poll::Ready(());
            }
            // Fired at an earlier limit: wait for this one.
            self.set(due);
        }
    }

    fn set(&mut self, due: Instant) {
        self.timer.as_mut().reset(due);
        self.armed = false;
    }
}

#[cfg(test)]
mod tests {
    use std::future::poll_fn;
    use std::pin::pin;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_moved_limit_is_kept() {
        let start = Instant::now();
        let mut timer = pin!(tokio::time::sleep(Duration::from_secs(10)));
        let mut deadline = Deadline::new(timer.as_mut());
        deadline.start(Some(Duration::from_secs(10)));
        // A request after 6 s moves the limit to 16 s; the timer, left at
        // 10 s, fires early and is set again.
        tokio::time::sleep(Duration::from_secs(6)).await;
        deadline.start(Some(Duration::from_secs(10)));
        poll_fn(|cx| deadline.poll_passed(cx)).await;
        assert_eq!(start.elapsed(), Duration::from_secs(16));
    }

    #[tokio::test(start_paused = true)]
    async fn a_sooner_limit_resets_the_timer() {
        let start = Instant::now();
        let mut timer = pin!(tokio::time::sleep(Duration::from_secs(10)));
        let mut deadline = Deadline::new(timer.as_mut());
        deadline.start(Some(Duration::from_secs(10)));
        deadline.start(Some(Duration::from_secs(2)));
        poll_fn(|cx| deadline.poll_passed(cx)).await;
        assert_eq!(start.elapsed(), Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn no_limit_never_passes() {
        let mut timer = pin!(tokio::time::sleep(Duration::from_secs(1)));
        let mut deadline = Deadline::new(timer.as_mut());
        deadline.start(None);
        let waited = tokio::time::timeout(
            Duration::from_secs(30),
            poll_fn(|cx| deadline.poll_passed(cx)),
        )
        .await;
        assert!(waited.is_err());
    }
}
