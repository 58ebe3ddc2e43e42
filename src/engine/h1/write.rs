//! Response bodies out: framing (`Content-Length`, chunked, or until
//! close), and the write loop that gathers the head and small chunks in
//! the write buffer and sends large chunks beside it with one `writev`.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes};
use http::header::CONTENT_LENGTH;
use http::{Method, StatusCode, Version};
use http_body::Body as _;
use tokio::io::AsyncWrite;

use std::any::Any;

use tokio::net::TcpStream;

use crate::body::{Body, Piece};
use crate::pipeline::Response;

/// Chunks up to this size are copied into the write buffer (one write
/// with the head, one TLS record); larger ones are written from where
/// they are.
const COPY_LIMIT: usize = 8 * 1024;
/// The write buffer is sent once it holds this much.
const GATHER_LIMIT: usize = 16 * 1024;

/// File ranges at least this long go out with `sendfile` on plain TCP;
/// shorter ones are read and gathered with the head (one write).
const SENDFILE_MIN: u64 = 64 * 1024;
/// Most bytes asked of one `sendfile` before the connection yields to the
/// others (the socket takes less at once anyway: see
/// `engine::conn::NOTSENT_LOWAT`).
const SENDFILE_MAX: u64 = 64 * 1024;

/// Room for a usual response head (status line, a few headers and the
/// server's default ones).
const HEAD_ROOM: usize = 1024;

/// The write buffer a response starts with: its head and, when small
/// enough to be copied, its body (one allocation, not one per growth).
pub(super) fn room_for(framing: Framing) -> usize {
    match framing {
        Framing::Length(n) if n <= COPY_LIMIT as u64 => HEAD_ROOM + n as usize,
        _ => HEAD_ROOM,
    }
}

/// What the body gave while gathering.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Gathered {
    /// All it has now (or the write buffer is full).
    Ready,
    /// Nothing yet.
    Pending,
    /// A large file range, for `sendfile`.
    File,
}

/// How a response body is delimited on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Framing {
    /// No body (HEAD, 1xx, 204, 304).
    None,
    /// `Content-Length` bytes.
    Length(u64),
    Chunked,
    /// Until the connection closes (HTTP/1.0 client, length unknown).
    UntilClose,
}

/// Choose the framing of `resp`. The head encoder writes the matching
/// header in place of the response's own `Content-Length` and
/// `Transfer-Encoding` (see `response_head::encode`).
pub(super) fn framing(resp: &Response, method: &Method, version: Version) -> Framing {
    let status = resp.status();
    if method == Method::HEAD
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        return Framing::None;
    }
    if let Some(n) = resp.body().size_hint().exact() {
        return Framing::Length(n);
    }
    if let Some(n) = resp
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
    {
        return Framing::Length(n);
    }
    if version == Version::HTTP_11 {
        Framing::Chunked
    } else {
        Framing::UntilClose
    }
}

/// Sends one response body after its head (already in the write buffer).
pub(super) struct Writer {
    framing: Framing,
    body: Option<Body>,
    /// A large chunk being written after the write buffer.
    pending: Option<Bytes>,
    /// The chunk's trailing CRLF is still to be added (chunked).
    crlf: bool,
    /// Bytes of a `Length` body still expected.
    left: u64,
    /// Bytes written to the client so far (the progress [`super::stall`]
    /// watches).
    sent: u64,
    /// The last poll waited for the body to produce, not for the client.
    awaits_body: bool,
}

impl Writer {
    pub(super) fn new(framing: Framing, body: Body) -> Self {
        let left = match framing {
            Framing::Length(n) => n,
            _ => 0,
        };
        let body = match framing {
            Framing::None | Framing::Length(0) => None,
            _ => Some(body),
        };
        Writer {
            framing,
            body,
            pending: None,
            crlf: false,
            left,
            sent: 0,
            awaits_body: false,
        }
    }

    /// Bytes written so far.
    pub(super) fn sent(&self) -> u64 {
        self.sent
    }

    /// Whether a pending write waits on the client (a full socket), not
    /// on the body.
    pub(super) fn waits_on_client(&self) -> bool {
        !self.awaits_body
    }

    /// Gather and write until the body is out. `defer`: another request is
    /// already buffered, so the end of this response may stay in `out`
    /// (below that many bytes) to go out with the next one's.
    pub(super) fn poll_write<I: AsyncWrite + Unpin + 'static>(
        &mut self,
        cx: &mut Context<'_>,
        io: &mut I,
        out: &mut Vec<u8>,
        defer: Option<usize>,
    ) -> Poll<io::Result<()>> {
        let zero_copy = matches!(self.framing, Framing::Length(_))
            && self.body.as_ref().is_some_and(Body::is_file)
            && (io as &dyn Any).is::<TcpStream>();
        self.awaits_body = false;
        loop {
            let gathering = if zero_copy {
                self.fill_from_file(cx, out)?
            } else {
                self.fill(cx, out)?
            };
            if gathering == Gathered::File && self.pending.is_none() {
                if out.is_empty() {
                    ready!(self.poll_sendfile(cx, io, out))?;
                } else {
                    let before = out.len();
                    let r = poll_send_more(cx, io, out);
                    self.sent += (before - out.len()) as u64;
                    ready!(r)?;
                }
                continue;
            }
            let done = self.body.is_none() && self.pending.is_none();
            if done && defer.is_some_and(|limit| out.len() < limit) {
                return Poll::Ready(Ok(()));
            }
            if out.is_empty() && self.pending.is_none() {
                if done {
                    return Pin::new(io).poll_flush(cx);
                }
                // Waiting for the body to produce.
                debug_assert!(gathering == Gathered::Pending);
                self.awaits_body = true;
                return Poll::Pending;
            }
            ready!(self.poll_send(cx, io, out))?;
        }
    }

    /// Take what the body has ready into `out` / `pending`, until the
    /// buffer is full, a large chunk waits, or the body has nothing now.
    fn fill(&mut self, cx: &mut Context<'_>, out: &mut Vec<u8>) -> io::Result<Gathered> {
        while self.pending.is_none() && out.len() < GATHER_LIMIT {
            let Some(body) = self.body.as_mut() else {
                return Ok(Gathered::Ready);
            };
            match Pin::new(body).poll_frame(cx) {
                Poll::Pending => return Ok(Gathered::Pending),
                Poll::Ready(Some(Err(e))) => return Err(io::Error::other(e)),
                Poll::Ready(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data() {
                        self.push(data, out)?;
                    }
                }
                Poll::Ready(None) => self.finish(out)?,
            }
        }
        Ok(Gathered::Ready)
    }

    /// As [`Writer::fill`] for a file body on plain TCP: literal parts and
    /// small file ranges are gathered as usual, a large file range stops
    /// the gathering for [`Writer::poll_sendfile`].
    fn fill_from_file(&mut self, cx: &mut Context<'_>, out: &mut Vec<u8>) -> io::Result<Gathered> {
        while self.pending.is_none() && out.len() < GATHER_LIMIT {
            let Some(body) = self.body.as_mut() else {
                return Ok(Gathered::Ready);
            };
            match body.file_piece() {
                None => self.finish(out)?,
                Some(Piece::Bytes(b)) => self.push(b, out)?,
                Some(Piece::File { len, .. }) if len >= SENDFILE_MIN => return Ok(Gathered::File),
                Some(Piece::File { .. }) => return self.fill(cx, out),
            }
        }
        Ok(Gathered::Ready)
    }

    /// Send the current file range with `sendfile` (the write buffer is
    /// empty): the kernel moves page-cache pages to the socket, no copy
    /// through user space.
    fn poll_sendfile<I: 'static>(
        &mut self,
        cx: &mut Context<'_>,
        io: &mut I,
        out: &mut Vec<u8>,
    ) -> Poll<io::Result<()>> {
        let tcp = tcp_of(io, "sendfile")?;
        loop {
            let Some(body) = self.body.as_mut() else {
                return Poll::Ready(Ok(()));
            };
            let (file, offset, len) = match body.file_piece() {
                Some(Piece::File { file, offset, len }) => (file, offset, len),
                // Literal bytes (a multipart boundary) are taken: gather them.
                Some(Piece::Bytes(b)) => return Poll::Ready(self.push(b, out)),
                None => {
                    self.finish(out)?;
                    return Poll::Ready(Ok(()));
                }
            };
            if len < SENDFILE_MIN {
                return Poll::Ready(Ok(()));
            }
            ready!(tcp.poll_write_ready(cx))?;
            let want = len.min(SENDFILE_MAX) as usize;
            let mut at = offset;
            let sent = tcp.try_io(tokio::io::Interest::WRITABLE, || {
                rustix::fs::sendfile(&*tcp, file, Some(&mut at), want).map_err(io::Error::from)
            });
            match sent {
                Ok(0) => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "file shrank while being sent",
                    )));
                }
                Ok(n) => {
                    self.sent += n as u64;
                    body.file_sent(n as u64);
                    self.left -= n as u64;
                    if self.left == 0 {
                        self.body = None;
                    } else {
                        // Let the other connections of this thread run
                        // between pieces: one fast reader of a large file
                        // does not hold them back.
                        cx.waker().wake_by_ref();
                        return Poll::Pending;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }

    fn push(&mut self, mut data: Bytes, out: &mut Vec<u8>) -> io::Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        match self.framing {
            Framing::Length(_) => {
                if data.len() as u64 > self.left {
                    return Err(io::Error::other(
                        "response body longer than its Content-Length",
                    ));
                }
                self.left -= data.len() as u64;
                if self.left == 0 {
                    // Complete: the body's end need not be awaited.
                    self.body = None;
                }
            }
            Framing::Chunked => {
                let mut size = [0u8; 18];
                let line = chunk_line(&mut size, data.len());
                out.extend_from_slice(line);
            }
            Framing::UntilClose => {}
            Framing::None => {
                data.clear();
                return Ok(());
            }
        }
        if data.len() <= COPY_LIMIT && out.len() + data.len() <= GATHER_LIMIT {
            out.extend_from_slice(&data);
            if self.framing == Framing::Chunked {
                out.extend_from_slice(b"\r\n");
            }
        } else {
            self.pending = Some(data);
            self.crlf = self.framing == Framing::Chunked;
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        self.body = None;
        match self.framing {
            Framing::Chunked => out.extend_from_slice(b"0\r\n\r\n"),
            Framing::Length(_) if self.left > 0 => {
                return Err(io::Error::other(
                    "response body shorter than its Content-Length",
                ));
            }
            _ => {}
        }
        Ok(())
    }

    /// Write `out` then `pending`, in one `writev` where the stream has it.
    fn poll_send<I: AsyncWrite + Unpin>(
        &mut self,
        cx: &mut Context<'_>,
        io: &mut I,
        out: &mut Vec<u8>,
    ) -> Poll<io::Result<()>> {
        loop {
            let chunk = self.pending.as_deref().unwrap_or(&[]);
            if out.is_empty() && chunk.is_empty() {
                self.pending = None;
                if std::mem::take(&mut self.crlf) {
                    out.extend_from_slice(b"\r\n");
                    continue;
                }
                return Poll::Ready(Ok(()));
            }
            // One buffer: a plain `send`, which the kernel takes with less
            // work than a `writev` (no vector to import and check).
            let n = if chunk.is_empty() {
                ready!(Pin::new(&mut *io).poll_write(cx, out))?
            } else {
                let slices = [IoSlice::new(out), IoSlice::new(chunk)];
                ready!(Pin::new(&mut *io).poll_write_vectored(cx, &slices))?
            };
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.sent += n as u64;
            let from_out = n.min(out.len());
            out.drain(..from_out);
            if n > from_out
                && let Some(p) = self.pending.as_mut()
            {
                p.advance(n - from_out);
            }
        }
    }
}

/// Write what `out` holds, as far as the stream takes it now.
pub(super) fn poll_out<I: AsyncWrite + Unpin>(
    cx: &mut Context<'_>,
    io: &mut I,
    out: &mut Vec<u8>,
) -> Poll<io::Result<()>> {
    while !out.is_empty() {
        let n = ready!(Pin::new(&mut *io).poll_write(cx, out))?;
        if n == 0 {
            return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
        }
        out.drain(..n);
    }
    Poll::Ready(Ok(()))
}

/// The plain TCP stream under `io`, which `what` (a TCP-only system call)
/// needs.
fn tcp_of<'a, I: 'static>(io: &'a mut I, what: &str) -> io::Result<&'a mut TcpStream> {
    (io as &mut dyn Any)
        .downcast_mut::<TcpStream>()
        .ok_or_else(|| io::Error::other(format!("{what} needs a TCP stream")))
}

/// Write `out` to a TCP stream with `MSG_MORE`: a head followed by a
/// `sendfile` piece then leaves in the same segments as the file's first
/// bytes instead of a small packet of its own (one wake-up of the client,
/// not two).
fn poll_send_more<I: 'static>(
    cx: &mut Context<'_>,
    io: &mut I,
    out: &mut Vec<u8>,
) -> Poll<io::Result<()>> {
    let tcp = tcp_of(io, "MSG_MORE")?;
    while !out.is_empty() {
        ready!(tcp.poll_write_ready(cx))?;
        let sent = tcp.try_io(tokio::io::Interest::WRITABLE, || {
            socket2::SockRef::from(&*tcp).send_with_flags(out, libc::MSG_MORE | libc::MSG_NOSIGNAL)
        });
        match sent {
            Ok(0) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
            Ok(n) => drop(out.drain(..n)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Poll::Ready(Err(e)),
        }
    }
    Poll::Ready(Ok(()))
}

/// `{len:x}\r\n` in `buf`.
fn chunk_line(buf: &mut [u8; 18], len: usize) -> &[u8] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut i = 16;
    let mut n = len;
    loop {
        i -= 1;
        buf[i] = HEX[n & 15];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    buf[16] = b'\r';
    buf[17] = b'\n';
    &buf[i..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_lines_are_hex() {
        let mut b = [0u8; 18];
        assert_eq!(chunk_line(&mut b, 0), b"0\r\n");
        assert_eq!(chunk_line(&mut b, 255), b"ff\r\n");
        assert_eq!(chunk_line(&mut b, 65536), b"10000\r\n");
    }

    fn framed(status: u16, method: Method, version: Version, body: Body) -> (Framing, Response) {
        let mut r = Response::new(body);
        *r.status_mut() = StatusCode::from_u16(status).unwrap();
        let f = framing(&r, &method, version);
        (f, r)
    }

    #[test]
    fn framing_follows_status_method_and_body() {
        let (f, _) = framed(200, Method::GET, Version::HTTP_11, Body::from("abc"));
        assert_eq!(f, Framing::Length(3));
        let (f, _) = framed(304, Method::GET, Version::HTTP_11, Body::empty());
        assert_eq!(f, Framing::None);
        let (f, _) = framed(200, Method::HEAD, Version::HTTP_11, Body::empty());
        assert_eq!(f, Framing::None);
        let (_tx, rx) = Body::channel(1);
        let (f, _) = framed(200, Method::GET, Version::HTTP_11, rx);
        assert_eq!(f, Framing::Chunked);
        // A length the handler set, without a body that knows its own.
        let (_tx, rx) = Body::channel(1);
        let mut r = Response::new(rx);
        r.headers_mut()
            .insert(CONTENT_LENGTH, http::HeaderValue::from_static("7"));
        assert_eq!(
            framing(&r, &Method::GET, Version::HTTP_11),
            Framing::Length(7)
        );
        let (_tx, rx) = Body::channel(1);
        assert_eq!(
            framed(200, Method::GET, Version::HTTP_10, rx).0,
            Framing::UntilClose
        );
    }
}
