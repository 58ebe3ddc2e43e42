//! An HTTP/2 connection's streams run inside the connection's own task.
//!
//! hyper asks an executor to run each stream (the pipeline's future, then
//! the response body's sending). A tokio task per stream costs its spawn,
//! its scheduling, and a wake of the connection task from another task
//! each time a response is ready (~2,000 instructions of a 1 KiB GET's
//! ~39,000). Here [`Streams`] only queues them; the connection's loop
//! ([`Running::poll`]) takes them in and polls them next to the connection,
//! so a stream that can answer at once does so in the same turn of the
//! connection that read its request.
//!
//! What changes for the streams: they share one task, like the requests of
//! an HTTP/1 connection (a stream waiting on I/O does not hold the others
//! back; a stream using the CPU does, as it would hold the worker thread
//! anyway in `mono` mode); and a panic outside the pipeline's own
//! containment ends the connection, not the server.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use futures_util::stream::{FuturesUnordered, StreamExt};

type Task = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The executor given to hyper: queues each stream's future for the
/// connection's loop.
#[derive(Clone, Default)]
pub struct Streams {
    queue: Arc<Mutex<Vec<Task>>>,
}

impl<F> hyper::rt::Executor<F> for Streams
where
    F: Future<Output = ()> + Send + 'static,
{
    fn execute(&self, fut: F) {
        self.queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Box::pin(fut));
    }
}

impl Streams {
    /// The set the connection's loop polls, fed from this executor.
    pub fn running(&self) -> Running {
        Running {
            queue: self.queue.clone(),
            tasks: FuturesUnordered::new(),
        }
    }
}

/// The streams of one connection, polled by its loop.
pub struct Running {
    queue: Arc<Mutex<Vec<Task>>>,
    tasks: FuturesUnordered<Task>,
}

impl Running {
    /// Take in the streams queued since the last call and poll every
    /// stream that was woken; `true` when a stream was taken in or ended,
    /// so that the connection has something new to do (read the next
    /// frames for a new stream, send what an ended one answered).
    pub fn poll(&mut self, cx: &mut Context<'_>) -> bool {
        let mut news = false;
        {
            let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
            news |= !queue.is_empty();
            for task in queue.drain(..) {
                self.tasks.push(task);
            }
        }
        while let Poll::Ready(Some(())) = self.tasks.poll_next_unpin(cx) {
            news = true;
        }
        news
    }
}

impl Drop for Running {
    /// Streams queued but never taken in (the connection ended in the turn
    /// that queued them) hold the executor, so the queue they sit in: drop
    /// them, else that cycle of `Arc`s would keep them for ever. Dropped
    /// outside the lock, in case dropping one queues another.
    fn drop(&mut self) {
        let queued =
            std::mem::take(&mut *self.queue.lock().unwrap_or_else(PoisonError::into_inner));
        drop(queued);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::rt::Executor;
    use std::future::poll_fn;
    use tokio::sync::oneshot;

    #[tokio::test]
    async fn queued_streams_run_when_the_loop_polls_and_wake_it_when_ready() {
        let streams = Streams::default();
        let mut running = streams.running();
        let (tx, rx) = oneshot::channel::<u32>();
        let (done_tx, mut done_rx) = oneshot::channel::<u32>();
        streams.execute(async move {
            let v = rx.await.unwrap();
            done_tx.send(v + 1).unwrap();
        });
        // Nothing runs before the loop polls.
        assert!(done_rx.try_recv().is_err());
        let first = poll_fn(|cx| Poll::Ready(running.poll(cx))).await;
        assert!(first, "a stream was taken in");
        tx.send(41).unwrap();
        // The stream's wake reaches the loop's task: poll until it ends.
        let ended = poll_fn(|cx| {
            if running.poll(cx) {
                Poll::Ready(true)
            } else {
                Poll::Pending
            }
        });
        assert!(
            tokio::time::timeout(std::time::Duration::from_secs(5), ended)
                .await
                .unwrap()
        );
        assert_eq!(done_rx.try_recv().unwrap(), 42);
        // Nothing left: nothing new.
        assert!(!poll_fn(|cx| Poll::Ready(running.poll(cx))).await);
    }

    #[test]
    fn streams_queued_when_the_connection_ends_are_dropped_with_it() {
        let streams = Streams::default();
        let running = streams.running();
        let marker = Arc::new(());
        let held = marker.clone();
        // Like hyper's stream future, it holds the executor.
        let exec = streams.clone();
        streams.execute(async move {
            let _keep = (held, exec);
        });
        drop(streams);
        drop(running);
        assert_eq!(
            Arc::strong_count(&marker),
            1,
            "the queued stream was not dropped"
        );
    }
}
