//! An HTTP/2 connection's writes, gathered and sent once per turn of the
//! connection.
//!
//! hyper's HTTP/2 (the `h2` crate) keeps one DATA frame aside without
//! copying it and flushes the socket before it queues the next one, so
//! every response became its own write: with ten streams in flight, ten
//! system calls and, over TLS, ten records where one would do. Here the
//! connection writes into a buffer of up to [`CAP`] bytes; hyper's flushes
//! are only acknowledged, and the bytes go out when the connection has
//! done all it can for now (its future returned `Pending`: see
//! [`Sender::poll_send`]), when the buffer is full, or on shutdown. A write
//! larger than the buffer (a big file's 16 KiB frames) goes straight to the
//! stream when nothing is waiting before it.
//!
//! hyper and the connection loop both reach the stream through a mutex,
//! always from the connection's own task: it is never contended.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Most bytes held before they are written: one TLS record's worth.
pub const CAP: usize = 16 * 1024;

struct Shared<I> {
    io: I,
    /// Bytes accepted from hyper and not yet written; `out[sent..]` is left.
    out: Vec<u8>,
    sent: usize,
}

/// The stream as hyper sees it: reads pass through, writes are gathered.
pub struct Gathered<I>(Arc<Mutex<Shared<I>>>);

/// The connection loop's side: sends what hyper wrote.
pub struct Sender<I>(Arc<Mutex<Shared<I>>>);

/// Wrap `io`: hyper gets the [`Gathered`] stream, the loop the [`Sender`].
pub fn gather<I>(io: I) -> (Gathered<I>, Sender<I>) {
    let shared = Arc::new(Mutex::new(Shared {
        io,
        out: Vec::new(),
        sent: 0,
    }));
    (Gathered(shared.clone()), Sender(shared))
}

fn lock<I>(shared: &Mutex<Shared<I>>) -> MutexGuard<'_, Shared<I>> {
    // A panic while the lock was held cannot leave the buffer torn:
    // `sent` only grows by what was written.
    shared.lock().unwrap_or_else(|e| e.into_inner())
}

impl<I: AsyncWrite + Unpin> Shared<I> {
    /// Write out everything waiting, then flush the stream.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.out.len() {
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.out[self.sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.sent += n;
        }
        self.out.clear();
        self.sent = 0;
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_gather(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let len: usize = bufs.iter().map(|b| b.len()).sum();
        if self.out.len() + len > CAP {
            ready!(self.poll_drain(cx))?;
            if len > CAP {
                return Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
            }
        }
        for buf in bufs {
            self.out.extend_from_slice(buf);
        }
        Poll::Ready(Ok(len))
    }
}

impl<I: AsyncWrite + Unpin> Sender<I> {
    /// Send what the connection wrote since the last call, and flush the
    /// stream. Call it each time the connection's future returns
    /// `Pending`; when the stream is full the task is woken once it can
    /// take more. The flush happens even with nothing gathered: a TLS
    /// stream may still hold records from a write that found the socket
    /// full (a large write goes there directly, and a drain's flush may
    /// have been pending).
    pub fn poll_send(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        lock(&self.0).poll_drain(cx)
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Gathered<I> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut lock(&self.0).io).poll_read(cx, buf)
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Gathered<I> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        lock(&self.0).poll_gather(cx, &[io::IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        lock(&self.0).poll_gather(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    /// Acknowledged only: the connection loop sends the bytes when the
    /// connection yields ([`Sender::poll_send`]).
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut shared = lock(&self.0);
        ready!(shared.poll_drain(cx))?;
        Pin::new(&mut shared.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::future::poll_fn;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// Reads everything the peer end has received so far.
    async fn received(peer: &mut tokio::io::DuplexStream) -> Vec<u8> {
        let mut got = vec![0; 4 * CAP];
        let mut n = 0;
        while let Ok(Ok(k)) = tokio::time::timeout(
            std::time::Duration::from_millis(20),
            peer.read(&mut got[n..]),
        )
        .await
        {
            if k == 0 {
                break;
            }
            n += k;
        }
        got.truncate(n);
        got
    }

    #[tokio::test]
    async fn small_writes_wait_for_the_send_and_go_out_in_order() {
        let (ours, mut peer) = tokio::io::duplex(8 * CAP);
        let (mut stream, sender) = gather(ours);
        stream.write_all(b"HEADERS ").await.unwrap();
        stream.flush().await.unwrap();
        stream.write_all(b"DATA").await.unwrap();
        assert!(
            received(&mut peer).await.is_empty(),
            "nothing is written before the send"
        );
        poll_fn(|cx| sender.poll_send(cx)).await.unwrap();
        assert_eq!(received(&mut peer).await, b"HEADERS DATA");
    }

    #[tokio::test]
    async fn a_full_buffer_is_written_before_more_is_taken() {
        let (ours, mut peer) = tokio::io::duplex(8 * CAP);
        let (mut stream, sender) = gather(ours);
        let first = vec![b'a'; CAP - 10];
        stream.write_all(&first).await.unwrap();
        stream.write_all(b"0123456789XY").await.unwrap();
        assert_eq!(
            received(&mut peer).await,
            first,
            "the buffer went out when full"
        );
        poll_fn(|cx| sender.poll_send(cx)).await.unwrap();
        assert_eq!(received(&mut peer).await, b"0123456789XY");
    }

    #[tokio::test]
    async fn a_large_write_follows_what_was_waiting() {
        let (ours, mut peer) = tokio::io::duplex(8 * CAP);
        let (mut stream, _sender) = gather(ours);
        stream.write_all(b"head").await.unwrap();
        let big = vec![b'b'; CAP + 1];
        stream.write_all(&big).await.unwrap();
        let got = received(&mut peer).await;
        assert_eq!(&got[..4], b"head");
        assert_eq!(&got[4..], &big[..]);
    }

    /// A stream that holds bytes until flushed (as TLS does with records
    /// that found the socket full): the send flushes it even when nothing
    /// was gathered, here after a large write that went straight to it.
    #[tokio::test]
    async fn the_send_flushes_a_stream_that_holds_bytes() {
        let (ours, mut peer) = tokio::io::duplex(8 * CAP);
        let (mut stream, sender) = gather(tokio::io::BufWriter::with_capacity(4 * CAP, ours));
        let big = vec![b'c'; CAP + 1];
        stream.write_all(&big).await.unwrap();
        assert!(received(&mut peer).await.is_empty(), "held by the stream");
        poll_fn(|cx| sender.poll_send(cx)).await.unwrap();
        assert_eq!(received(&mut peer).await, big);
    }

    #[tokio::test]
    async fn shutdown_sends_what_is_waiting() {
        let (ours, mut peer) = tokio::io::duplex(8 * CAP);
        let (mut stream, _sender) = gather(ours);
        stream.write_all(b"GOAWAY").await.unwrap();
        stream.shutdown().await.unwrap();
        let mut all = Vec::new();
        peer.read_to_end(&mut all).await.unwrap();
        assert_eq!(all, b"GOAWAY");
    }

    #[tokio::test]
    async fn a_slow_peer_gets_everything_in_order() {
        let (ours, mut peer) = tokio::io::duplex(1000);
        let (mut stream, sender) = gather(ours);
        let reader = tokio::spawn(async move {
            let mut all = Vec::new();
            peer.read_to_end(&mut all).await.unwrap();
            all
        });
        let mut sent = Vec::new();
        for i in 0..200u32 {
            let chunk = vec![(i % 251) as u8; 100 + (i as usize * 37) % 3000];
            stream.write_all(&chunk).await.unwrap();
            sent.extend_from_slice(&chunk);
            if i % 7 == 0 {
                poll_fn(|cx| sender.poll_send(cx)).await.unwrap();
            }
        }
        stream.shutdown().await.unwrap();
        drop((stream, sender));
        assert_eq!(reader.await.unwrap(), sent);
    }
}
