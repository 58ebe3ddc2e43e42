//! Request bodies: decoded by the connection from its read buffer, handed
//! to the handler one chunk at a time, only when the handler asks.
//!
//! The handler's side ([`EngineBody`], inside a
//! [`RequestBody`](crate::request_body::RequestBody)) and the connection's
//! side ([`BodyDriver`]) share one slot. Nothing is read from the socket
//! before the handler wants data, so a handler that answers without reading
//! (401, 413) never makes the server read an upload, and `Expect:
//! 100-continue` is answered on the first demand, as RFC 9110 §10.1.1 asks.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use bytes::{Bytes, BytesMut};
use http_body::{Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite};

/// Largest piece of body handed over at once.
const CHUNK: usize = 64 * 1024;
/// Longest chunk-size or trailer line accepted.
const MAX_LINE: usize = 4096;

/// How the request body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Framing {
    Length(u64),
    Chunked,
}

/// Undoes the framing of a request body.
#[derive(Debug)]
pub(super) struct Decoder {
    state: State,
}

#[derive(Debug, PartialEq, Eq)]
enum State {
    /// Bytes left of a `Content-Length` body.
    Length(u64),
    /// Waiting for a chunk-size line.
    Size,
    /// Bytes left of the current chunk.
    Data(u64),
    /// The CRLF after a chunk's data.
    DataEnd,
    /// Trailer lines after the last chunk, until an empty one.
    Trailers,
    Done,
}

impl Decoder {
    pub(super) fn new(framing: Framing) -> Self {
        let state = match framing {
            Framing::Length(0) => State::Done,
            Framing::Length(n) => State::Length(n),
            Framing::Chunked => State::Size,
        };
        Decoder { state }
    }

    pub(super) fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// The next piece of body found in `buf` (`Ok(None)`: more input is
    /// needed, or the body is done).
    pub(super) fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, &'static str> {
        loop {
            match self.state {
                State::Done => return Ok(None),
                State::Length(left) | State::Data(left) => {
                    if buf.is_empty() {
                        return Ok(None);
                    }
                    let n = (buf.len() as u64).min(left).min(CHUNK as u64) as usize;
                    let left = left - n as u64;
                    self.state = match self.state {
                        State::Length(_) if left == 0 => State::Done,
                        State::Length(_) => State::Length(left),
                        _ if left == 0 => State::DataEnd,
                        _ => State::Data(left),
                    };
                    return Ok(Some(buf.split_to(n).freeze()));
                }
                State::Size => {
                    let Some(line) = take_line(buf)? else {
                        return Ok(None);
                    };
                    let size = chunk_size(&line)?;
                    self.state = if size == 0 {
                        State::Trailers
                    } else {
                        State::Data(size)
                    };
                }
                State::DataEnd => {
                    let Some(line) = take_line(buf)? else {
                        return Ok(None);
                    };
                    if !line.is_empty() {
                        return Err("chunk data longer than its size");
                    }
                    self.state = State::Size;
                }
                State::Trailers => {
                    let Some(line) = take_line(buf)? else {
                        return Ok(None);
                    };
                    if line.is_empty() {
                        self.state = State::Done;
                    }
                }
            }
        }
    }
}

/// One line (without its CRLF or LF) taken from `buf`, if complete.
fn take_line(buf: &mut BytesMut) -> Result<Option<Bytes>, &'static str> {
    match buf.iter().position(|&b| b == b'\n') {
        Some(eol) => {
            let mut line = buf.split_to(eol + 1);
            line.truncate(eol);
            if line.last() == Some(&b'\r') {
                line.truncate(eol - 1);
            }
            Ok(Some(line.freeze()))
        }
        None if buf.len() > MAX_LINE => Err("chunk line too long"),
        None => Ok(None),
    }
}

/// The hexadecimal size of a chunk-size line (extensions ignored).
fn chunk_size(line: &[u8]) -> Result<u64, &'static str> {
    let digits = line.split(|&b| b == b';').next().unwrap_or(b"");
    let digits = digits.trim_ascii_end();
    if digits.is_empty() || digits.len() > 15 {
        return Err("bad chunk size");
    }
    digits.iter().try_fold(0u64, |n, &d| {
        let v = (d as char).to_digit(16).ok_or("bad chunk size")?;
        Ok(n * 16 + u64::from(v))
    })
}

/// What the connection and the handler share about one body.
#[derive(Default)]
struct Slot {
    /// The handler waits for a chunk.
    want: bool,
    chunk: Option<Result<Bytes, io::Error>>,
    /// The body is complete (after the last chunk is taken).
    end: bool,
    /// The handler dropped its body.
    dropped: bool,
    reader: Option<Waker>,
    driver: Option<Waker>,
}

fn wake(w: &mut Option<Waker>) {
    if let Some(w) = w.take() {
        w.wake();
    }
}

fn store(slot: &mut Option<Waker>, cx: &Context<'_>) {
    if !slot.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
        *slot = Some(cx.waker().clone());
    }
}

/// The handler's side of a body read by the HTTP/1 engine.
pub struct EngineBody {
    shared: Arc<Mutex<Slot>>,
    hint: SizeHint,
}

impl EngineBody {
    pub(crate) fn poll_frame(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<io::Result<Frame<Bytes>>>> {
        let mut slot = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(chunk) = slot.chunk.take() {
            return Poll::Ready(Some(chunk.map(Frame::data)));
        }
        if slot.end {
            return Poll::Ready(None);
        }
        slot.want = true;
        store(&mut slot.reader, cx);
        wake(&mut slot.driver);
        Poll::Pending
    }

    pub(crate) fn is_end_stream(&self) -> bool {
        let slot = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        slot.end && slot.chunk.is_none()
    }

    pub(crate) fn size_hint(&self) -> SizeHint {
        self.hint
    }
}

impl Drop for EngineBody {
    fn drop(&mut self) {
        let mut slot = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        slot.dropped = true;
        wake(&mut slot.driver);
    }
}

/// The connection's side: reads and decodes on the handler's demand.
pub(super) struct BodyDriver {
    shared: Arc<Mutex<Slot>>,
    decoder: Decoder,
    /// `100 Continue` still to be sent (bytes written so far).
    expect: Option<usize>,
    /// The body could not be read to its end (connection must close).
    failed: bool,
    /// Bytes read from the client (the progress [`super::stall`]
    /// watches).
    moved: u64,
    /// The last poll waits on the client (to send, or to take `100
    /// Continue`).
    blocked: bool,
}

const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

impl BodyDriver {
    /// A body of `framing`; `expect`: the client waits for `100 Continue`.
    pub(super) fn new(framing: Framing, expect: bool) -> (BodyDriver, EngineBody) {
        let shared = Arc::new(Mutex::new(Slot::default()));
        let hint = match framing {
            Framing::Length(n) => SizeHint::with_exact(n),
            Framing::Chunked => SizeHint::default(),
        };
        let decoder = Decoder::new(framing);
        if decoder.is_done() {
            shared.lock().unwrap_or_else(|e| e.into_inner()).end = true;
        }
        let driver = BodyDriver {
            shared: shared.clone(),
            decoder,
            expect: expect.then_some(0),
            failed: false,
            moved: 0,
            blocked: false,
        };
        (driver, EngineBody { shared, hint })
    }

    /// Whether the body was read to its end, so the connection can carry
    /// another request.
    pub(super) fn is_complete(&self) -> bool {
        self.decoder.is_done() && !self.failed
    }

    /// Once the handler has dropped the body unread, skip what of it is
    /// already buffered; whether the body is then complete (so the
    /// connection can carry the next request).
    pub(super) fn skip_buffered(&mut self, rbuf: &mut BytesMut) -> bool {
        let dropped = self
            .shared
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .dropped;
        while dropped && !self.failed && !self.decoder.is_done() {
            match self.decoder.decode(rbuf) {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(_) => self.failed = true,
            }
        }
        self.is_complete()
    }

    /// Bytes moved so far.
    pub(super) fn moved(&self) -> u64 {
        self.moved
    }

    /// Whether the handler waits for body bytes the client does not send.
    pub(super) fn waits_on_client(&self) -> bool {
        self.blocked
    }

    /// Serve the handler's demand: `Ready` once nothing more will be read
    /// (body done, failed, or dropped by the handler), `Pending` otherwise.
    /// `may_continue`: no response has been started, so `100 Continue` may
    /// still be sent.
    pub(super) fn poll_drive<I: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        cx: &mut Context<'_>,
        io: &mut I,
        rbuf: &mut BytesMut,
        may_continue: bool,
    ) -> Poll<()> {
        self.blocked = false;
        let shared = self.shared.clone();
        let mut slot = shared.lock().unwrap_or_else(|e| e.into_inner());
        if slot.dropped || self.failed || self.decoder.is_done() {
            return Poll::Ready(());
        }
        store(&mut slot.driver, cx);
        if !slot.want || slot.chunk.is_some() {
            return Poll::Pending;
        }
        if let Some(sent) = self.expect {
            if may_continue && rbuf.is_empty() {
                match send_continue(cx, io, sent) {
                    Poll::Ready(Ok(())) => self.expect = None,
                    Poll::Ready(Err(e)) => return self.fail(&mut slot, e),
                    Poll::Pending => {
                        self.blocked = true;
                        return Poll::Pending;
                    }
                }
            } else {
                self.expect = None;
            }
        }
        loop {
            match self.decoder.decode(rbuf) {
                Ok(Some(data)) => {
                    slot.chunk = Some(Ok(data));
                    slot.want = false;
                    slot.end = self.decoder.is_done();
                    wake(&mut slot.reader);
                    return if slot.end {
                        Poll::Ready(())
                    } else {
                        Poll::Pending
                    };
                }
                Ok(None) if self.decoder.is_done() => {
                    slot.end = true;
                    wake(&mut slot.reader);
                    return Poll::Ready(());
                }
                Ok(None) => {}
                Err(why) => {
                    return self.fail(&mut slot, io::Error::new(io::ErrorKind::InvalidData, why));
                }
            }
            match read_more(cx, io, rbuf, CHUNK / 4) {
                Poll::Ready(Ok(0)) => {
                    let e = io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "connection closed in the body",
                    );
                    return self.fail(&mut slot, e);
                }
                Poll::Ready(Ok(n)) => self.moved += n as u64,
                Poll::Ready(Err(e)) => return self.fail(&mut slot, e),
                Poll::Pending => {
                    self.blocked = true;
                    return Poll::Pending;
                }
            }
        }
    }

    fn fail(&mut self, slot: &mut Slot, e: io::Error) -> Poll<()> {
        self.failed = true;
        slot.chunk = Some(Err(e));
        slot.end = true;
        wake(&mut slot.reader);
        Poll::Ready(())
    }
}

/// Write what is left of `100 Continue` (`sent` bytes already out).
fn send_continue<I: AsyncWrite + Unpin>(
    cx: &mut Context<'_>,
    io: &mut I,
    mut sent: usize,
) -> Poll<io::Result<()>> {
    while sent < CONTINUE.len() {
        match Pin::new(&mut *io).poll_write(cx, &CONTINUE[sent..]) {
            Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
            Poll::Ready(Ok(n)) => sent += n,
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        }
    }
    Pin::new(io).poll_flush(cx)
}

/// Read into the spare room of `rbuf`, first made at least `room` bytes
/// (an empty buffer whose memory is no longer shared takes its memory back
/// rather than growing).
pub(super) fn read_more<I: AsyncRead + Unpin>(
    cx: &mut Context<'_>,
    io: &mut I,
    rbuf: &mut BytesMut,
    room: usize,
) -> Poll<io::Result<usize>> {
    if rbuf.capacity() - rbuf.len() < room.min(1024) {
        rbuf.reserve(room);
    }
    tokio_util::io::poll_read_buf(Pin::new(io), cx, rbuf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(framing: Framing, input: &[u8]) -> Result<(Vec<u8>, bool, usize), &'static str> {
        let mut d = Decoder::new(framing);
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        while let Some(b) = d.decode(&mut buf)? {
            out.extend_from_slice(&b);
        }
        Ok((out, d.is_done(), buf.len()))
    }

    #[test]
    fn length_bodies_stop_at_their_length() {
        let (out, done, left) = decode_all(Framing::Length(5), b"helloGET /").unwrap();
        assert_eq!((out.as_slice(), done, left), (&b"hello"[..], true, 5));
        let (out, done, _) = decode_all(Framing::Length(10), b"hel").unwrap();
        assert_eq!((out.as_slice(), done), (&b"hel"[..], false));
    }

    #[test]
    fn chunked_bodies_with_extensions_and_trailers() {
        let input = b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\nNEXT";
        let (out, done, left) = decode_all(Framing::Chunked, input).unwrap();
        assert_eq!((out.as_slice(), done, left), (&b"hello world"[..], true, 4));
    }

    #[test]
    fn chunked_body_split_anywhere_decodes_the_same() {
        let input = b"a\r\n0123456789\r\n3\r\nabc\r\n0\r\n\r\n";
        for cut in 0..input.len() {
            let mut d = Decoder::new(Framing::Chunked);
            let mut buf = BytesMut::from(&input[..cut]);
            let mut out = Vec::new();
            while let Some(b) = d.decode(&mut buf).unwrap() {
                out.extend_from_slice(&b);
            }
            buf.extend_from_slice(&input[cut..]);
            while let Some(b) = d.decode(&mut buf).unwrap() {
                out.extend_from_slice(&b);
            }
            assert_eq!(out, b"0123456789abc", "cut at {cut}");
            assert!(d.is_done());
        }
    }

    #[test]
    fn bad_chunks_are_errors() {
        for bad in [
            &b"zz\r\n"[..],
            b"5\r\nhelloXX\r\n",
            b"ffffffffffffffffff\r\n",
            b"\r\n",
        ] {
            assert!(decode_all(Framing::Chunked, bad).is_err(), "{bad:?}");
        }
        let long = vec![b'1'; MAX_LINE + 1];
        assert!(decode_all(Framing::Chunked, &long).is_err());
    }
}
