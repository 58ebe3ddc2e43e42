//! marmoset's own HTTP/1.0 and 1.1 connection: keep-alive, pipelining,
//! `Expect: 100-continue`, upgrades.
//!
//! Why not hyper's: hyper keeps an 8 KiB read and an 8 KiB write buffer per
//! connection for its whole life, flushes after every response (so sixteen
//! pipelined requests cost sixteen writes, and its option to aggregate lifts
//! the bound on its write buffer), and owns the socket, so a file can never
//! go out with `sendfile`. Here one connection is one loop over a read
//! buffer and a write buffer:
//!
//! - a head is parsed in place (`head`); header values share the read
//!   buffer's memory;
//! - the handler runs while the connection serves its body demand
//!   (`body`);
//! - the response head (`response_head`) and small bodies are gathered in
//!   the write buffer, written with one `writev` together with a large
//!   body chunk; when the client has already sent the next request
//!   (pipelining) the write waits until no complete request is left, up to
//!   `DEFER_LIMIT` bytes;
//! - idle, a connection holds only what its read buffer holds.

mod body;
mod deadline;
mod head;
mod response_head;
mod spare;
mod stall;
mod write;

use std::any::Any;
use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::task::Poll;
use std::time::Duration;

use bytes::BytesMut;
use http::header::CONNECTION;
use http::{HeaderValue, Method, StatusCode, Version};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::{oneshot, watch};

pub use body::EngineBody;
pub use response_head::Defaults;

use super::rewind::Rewind;
use super::transport::Io;
use super::upgrade::{OnUpgrade, Upgraded};
use crate::pipeline::{Request, Response};
use crate::request_body::RequestBody;
use body::BodyDriver;
use deadline::Deadline;
use stall::Stall;
use write::{Framing as Out, Writer};

/// Responses to pipelined requests wait in the write buffer up to this size.
const DEFER_LIMIT: usize = 16 * 1024;
/// Room for a usual request head (small enough for the allocator's
/// per-thread cache: an idle connection gives its read buffer back, and
/// takes one again when the client sends); it grows for larger heads.
const READ_BUF: usize = 1024;
/// An unread request body is drained for this long before closing, so that
/// the client sees the response rather than a reset.
const LINGER: Duration = Duration::from_millis(500);

/// How one listening server's HTTP/1 connections behave.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Time to send the first head.
    pub first_head: Duration,
    /// Time to send each later head (`None`: no limit).
    pub next_head: Option<Duration>,
    /// Whether a connection may carry several requests.
    pub keep_alive: bool,
    /// Largest request head.
    pub max_head: usize,
    /// Largest request body (the handlers' default limit).
    pub max_body: u64,
    /// Longest wait on a client in the middle of a request: for body
    /// bytes, or to take response bytes (the engine's `stall` module).
    pub stall: Duration,
}

struct Conn<I> {
    io: I,
    rbuf: BytesMut,
    out: Vec<u8>,
    settings: Settings,
}

/// Serve HTTP/1 on `io`, whose first bytes `prefix` were already read
/// (into the buffer reading goes on in).
/// `dispatch` answers a request with the response and the server's default
/// headers, written after the response's own unless it has them.
pub async fn serve<'d, I, F, Fut>(
    io: I,
    prefix: BytesMut,
    settings: Settings,
    shutdown: watch::Receiver<bool>,
    dispatch: F,
) where
    I: Io + 'static,
    F: Fn(Request) -> Fut,
    Fut: Future<Output = (Response, &'d Defaults)>,
{
    let mut c = Conn {
        io,
        rbuf: prefix,
        out: Vec::new(),
        settings,
    };
    // One wait for the shutdown per connection (a `changed()` per request
    // registered and unregistered a waiter each time: about 2 % of a
    // request's instructions), polled once: it stays registered with the
    // connection's task, which the shutdown then wakes, and later idle
    // waits ask the channel's version instead (polling the wait again
    // takes the channel's lock).
    let mut stop = shutdown.clone();
    let shutdown = Shutdown::new(shutdown);
    let mut changed = pin!(async move {
        let _ = stop.changed().await;
    });
    let mut armed = false;
    let mut stopped = pin!(poll_fn(|cx| {
        if armed {
            return if shutdown.idle_end() {
                Poll::Ready(())
            } else {
                Poll::Pending
            };
        }
        armed = true;
        changed.as_mut().poll(cx)
    }));
    let mut timer = pin!(tokio::time::sleep(c.settings.first_head));
    let mut deadline = Deadline::new(timer.as_mut());
    let mut limit = Some(c.settings.first_head);
    let linger = loop {
        deadline.start(limit);
        // Parsed here, where the request is made of it: returned through
        // an `async fn`, the head would be moved a few times more. (It is
        // a temporary of the `match`: a variable would keep its room in
        // the connection's state through the exchange.)
        let exchange = match loop {
            if !c.rbuf.is_empty() {
                match head::parse(&mut c.rbuf, c.settings.max_head) {
                    Ok(Some(h)) => break Some(h),
                    Ok(None) => {}
                    Err(status) => {
                        response_head::refusal(&mut c.out, status);
                        break None;
                    }
                }
            }
            if c.read_more(&mut deadline, &shutdown, stopped.as_mut())
                .await
                .is_err()
            {
                break None;
            }
        } {
            // Boxed (by `exchange`): an idle connection holds only the
            // loop's own state, not room for a request in flight (the
            // pipeline's future is large).
            Some(head) => c.exchange(head, &shutdown, &dispatch),
            None => break false,
        };
        match exchange.await {
            Next::KeepAlive => {}
            Next::Close { linger } => break linger,
            Next::Upgrade(tx) => {
                let Conn { io, rbuf, .. } = c;
                let upgraded: Upgraded = Box::new(Rewind::new(rbuf.freeze(), io));
                let _ = tx.send(upgraded);
                return;
            }
        }
        limit = c.settings.next_head;
        // A body or a large head grew the buffers: give the memory back.
        if c.rbuf.is_empty() && c.rbuf.capacity() > 8 * READ_BUF {
            c.rbuf = BytesMut::new();
        }
        if c.out.is_empty() && c.out.capacity() > 8 * READ_BUF {
            c.out = Vec::new();
        }
    };
    // Boxed too, and awaited in one place: the end of a connection is
    // reached once, and its futures (a linger timer, the shutdown) would
    // otherwise widen every connection's state.
    Box::pin(c.end(linger)).await;
}

/// Whether the server shuts down, asked about every request: the
/// receiver's version is compared with the channel's (one load), where
/// reading the value takes and releases a lock (two atomic writes).
struct Shutdown(watch::Receiver<bool>);

impl Shutdown {
    fn new(mut rx: watch::Receiver<bool>) -> Shutdown {
        // Only `true` is ever sent; a receiver that has already seen it
        // would see no change.
        if *rx.borrow() {
            rx.mark_changed();
        }
        Shutdown(rx)
    }

    fn started(&self) -> bool {
        match self.0.has_changed() {
            Ok(changed) => changed,
            // Every sender is gone (after sending or not).
            Err(_) => *self.0.borrow(),
        }
    }

    /// Whether an idle connection ends: the shutdown started, or nothing
    /// can start it any more (as a `changed()` ends then too).
    fn idle_end(&self) -> bool {
        !matches!(self.0.has_changed(), Ok(false))
    }
}

/// What follows a request.
enum Next {
    KeepAlive,
    Close {
        linger: bool,
    },
    /// Hand the connection to whoever waits on this sender.
    Upgrade(oneshot::Sender<Upgraded>),
}

impl<I: Io + 'static> Conn<I> {
    /// More of the next request head (the buffer holds none whole): read
    /// it, after writing the responses that waited for it, within the
    /// deadline. `Err`: the connection ends quietly (closed by the client,
    /// timed out, or the server shuts down).
    async fn read_more(
        &mut self,
        deadline: &mut Deadline<'_>,
        shutdown: &Shutdown,
        mut stopped: std::pin::Pin<&mut impl Future<Output = ()>>,
    ) -> Result<(), ()> {
        if self.flush().await.is_err() {
            return Err(());
        }
        let idle = self.rbuf.is_empty();
        if idle && shutdown.started() {
            return Err(());
        }
        let mut read = pin!(poll_fn(|cx| {
            if idle && self.wait_readable(cx).is_pending() {
                return Poll::Pending;
            }
            if self.rbuf.capacity() == 0 {
                self.rbuf = spare::take_in();
            }
            body::read_more(cx, &mut self.io, &mut self.rbuf, READ_BUF)
        }));
        let n = poll_fn(|cx| {
            if let Poll::Ready(r) = read.as_mut().poll(cx) {
                return Poll::Ready(Some(r));
            }
            if deadline.poll_passed(cx).is_ready() || idle && stopped.as_mut().poll(cx).is_ready() {
                return Poll::Ready(None);
            }
            Poll::Pending
        })
        .await;
        match n {
            Some(Ok(n)) if n > 0 => Ok(()),
            _ => Err(()),
        }
    }

    /// One request and its response.
    ///
    /// Not an `async fn`, which would store the head twice in its future
    /// (as captured and as moved into its body): the request and the
    /// handler's future are made before the exchange's future.
    ///
    /// Boxed here, the box allocated before the future is made: the future
    /// is then written in place, where `Box::pin(exchange(..))` built it on
    /// the stack and copied all of it (though only its captures are set)
    /// into the box: −245 instructions per 1 KiB GET.
    fn exchange<'a, 'd, F, Fut>(
        &'a mut self,
        head: head::Head,
        shutdown: &'a Shutdown,
        dispatch: &'a F,
    ) -> Pin<Box<impl Future<Output = Next>>>
    where
        F: Fn(Request) -> Fut,
        Fut: Future<Output = (Response, &'d Defaults)>,
    {
        let head::Head {
            mut parts,
            framing,
            expect_continue,
            close,
            upgrade,
        } = head;
        let mut driver = None;
        let body = match framing {
            Some(f) => {
                let (d, b) = BodyDriver::new(f, expect_continue);
                driver = Some(d);
                RequestBody::from_engine(Some(b), self.settings.max_body)
            }
            None => RequestBody::from_engine(None, self.settings.max_body),
        };
        let mut upgrade_tx = None;
        if upgrade {
            let (tx, rx) = oneshot::channel();
            parts.extensions.insert(OnUpgrade::new(rx));
            upgrade_tx = Some(tx);
        }
        let method = parts.method.clone();
        let version = parts.version;
        // The handler's future gets a box of its own, made here: the
        // exchange's future then holds no copy of the request, and each
        // box fits glibc's per-thread cache (1 KiB at most), where one box
        // of both was taken from and given back to the shared arena.
        let mut handler = Box::pin(dispatch(Request::from_parts(parts, body)));
        let slot = Box::new_uninit();
        let mut stall = Stall::new(self.settings.stall);
        Box::into_pin(Box::write(slot, async move {
            let handled = poll_fn(|cx| {
                if let Poll::Ready(r) = handler.as_mut().poll(cx) {
                    return Poll::Ready(Some(r));
                }
                if let Some(d) = driver.as_mut() {
                    let _ = d.poll_drive(cx, &mut self.io, &mut self.rbuf, true);
                    if stall.poll(cx, d.waits_on_client(), d.moved()).is_ready() {
                        return Poll::Ready(None);
                    }
                }
                // Responses deferred behind this pipelined request go out
                // while its handler works (a write error shows up later).
                let _ = write::poll_out(cx, &mut self.io, &mut self.out);
                Poll::Pending
            })
            .await;
            let Some((mut resp, defaults)) = handled else {
                log::debug!("request body stalled: connection closed");
                return Next::Close { linger: false };
            };
            // Its memory goes back before the response is written.
            drop(handler);
            let status = resp.status();
            let upgrading = upgrade_tx.is_some()
                && (status == StatusCode::SWITCHING_PROTOCOLS
                    || (method == Method::CONNECT && status.is_success()));
            let http10 = version == Version::HTTP_10 || resp.version() == Version::HTTP_10;
            // A body left unread ends the connection: say so in this
            // response (RFC 9112 §9.6), unless it is all buffered already.
            let body_left = driver
                .as_mut()
                .is_some_and(|d| !d.skip_buffered(&mut self.rbuf));
            let mut keep = self.settings.keep_alive
                && !close
                && !body_left
                && !upgrading
                && !shutdown.started()
                && !head::asks_close(resp.headers());
            // The version the response goes out in frames it: no chunks
            // in an HTTP/1.0 response, whatever the request's version.
            let out_version = if http10 { Version::HTTP_10 } else { version };
            let framing = write::framing(&resp, &method, out_version);
            if framing == Out::UntilClose {
                keep = false;
            }
            if !upgrading {
                set_connection(&mut resp, keep, http10);
            }
            let resp_version = if http10 {
                Version::HTTP_10
            } else {
                Version::HTTP_11
            };
            if self.out.capacity() == 0 {
                self.out = spare::take_out(write::room_for(framing));
            }
            crate::http_date::with_now(|date| {
                response_head::encode(
                    &mut self.out,
                    resp_version,
                    status,
                    resp.headers(),
                    defaults,
                    framing,
                    Some(date),
                );
            });

            let defer = keep && !upgrading;
            let (parts, body) = resp.into_parts();
            crate::spare_map::give(parts.headers);
            let mut writer = Writer::new(framing, body);
            let written = poll_fn(|cx| {
                if let Some(d) = driver.as_mut() {
                    let _ = d.poll_drive(cx, &mut self.io, &mut self.rbuf, false);
                }
                let pipelined = defer && !self.rbuf.is_empty();
                let r = writer.poll_write(
                    cx,
                    &mut self.io,
                    &mut self.out,
                    pipelined.then_some(DEFER_LIMIT),
                );
                if r.is_pending()
                    && stall
                        .poll(cx, writer.waits_on_client(), writer.sent())
                        .is_ready()
                {
                    return Poll::Ready(Err(stalled()));
                }
                r
            })
            .await;
            if written.is_err() {
                return Next::Close { linger: false };
            }
            if upgrading {
                if self.flush().await.is_err() {
                    return Next::Close { linger: false };
                }
                return match upgrade_tx {
                    Some(tx) => Next::Upgrade(tx),
                    None => Next::Close { linger: false },
                };
            }
            if driver.as_ref().is_some_and(|d| !d.is_complete()) {
                // The rest of the body is still on its way: the connection
                // cannot carry another request.
                return Next::Close { linger: true };
            }
            if keep {
                Next::KeepAlive
            } else {
                Next::Close { linger: false }
            }
        }))
    }

    /// With nothing buffered, wait until the client sends before holding a
    /// read buffer: an idle connection gives its buffers back (plain TCP;
    /// a TLS stream keeps its own buffers anyway). The write buffer is
    /// empty here: the responses went out before the wait.
    fn wait_readable(&mut self, cx: &mut std::task::Context<'_>) -> Poll<()> {
        let Some(tcp) = (&self.io as &dyn Any).downcast_ref::<TcpStream>() else {
            return Poll::Ready(());
        };
        match tcp.poll_read_ready(cx) {
            Poll::Ready(_) => Poll::Ready(()),
            Poll::Pending => {
                if self.rbuf.capacity() > 0 {
                    spare::give_in(std::mem::take(&mut self.rbuf));
                }
                if self.out.is_empty() && self.out.capacity() > 0 {
                    spare::give_out(std::mem::take(&mut self.out));
                }
                Poll::Pending
            }
        }
    }

    /// Write what waits in the write buffer, unless the client stops
    /// taking it.
    async fn flush(&mut self) -> std::io::Result<()> {
        let mut stall = Stall::new(self.settings.stall);
        poll_fn(|cx| {
            let r = match write::poll_out(cx, &mut self.io, &mut self.out) {
                Poll::Ready(Ok(())) => Pin::new(&mut self.io).poll_flush(cx),
                other => other,
            };
            // Only bytes leave the buffer meanwhile: its length is the
            // progress.
            if r.is_pending() && stall.poll(cx, true, self.out.len() as u64).is_ready() {
                return Poll::Ready(Err(stalled()));
            }
            r
        })
        .await
    }

    /// Read and drop what the client still sends, for a short while, after
    /// ending our side.
    async fn linger(&mut self) {
        if self.flush().await.is_err() {
            return;
        }
        self.shut().await;
        let drain = async {
            let mut total = 0usize;
            loop {
                self.rbuf.clear();
                match poll_fn(|cx| body::read_more(cx, &mut self.io, &mut self.rbuf, READ_BUF))
                    .await
                {
                    Ok(0) | Err(_) => break,
                    Ok(n) => total += n,
                }
                if total > 1 << 20 {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(LINGER, drain).await;
    }

    /// Drain a little of what the client still sends when `linger`, then
    /// flush and shut down.
    async fn end(mut self, linger: bool) {
        if linger {
            self.linger().await;
        }
        self.close().await;
    }

    async fn close(mut self) {
        let _ = self.flush().await;
        self.shut().await;
    }

    /// End our side (a TLS stream writes its close alert: bounded too).
    async fn shut(&mut self) {
        let _ = tokio::time::timeout(self.settings.stall, self.io.shutdown()).await;
    }
}

/// A client that stopped taking its response.
fn stalled() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::TimedOut, "the client stopped reading")
}

/// `Connection: close` on the last response of a connection, `keep-alive`
/// on an HTTP/1.0 one that stays open.
fn set_connection(resp: &mut Response, keep: bool, http10: bool) {
    let headers = resp.headers_mut();
    if !keep {
        if !head::has_token(headers, CONNECTION, "close") {
            headers.insert(CONNECTION, HeaderValue::from_static("close"));
        }
    } else if http10 {
        headers.insert(CONNECTION, HeaderValue::from_static("keep-alive"));
    }
}
