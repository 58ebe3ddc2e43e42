//! Response and request bodies.
//!
//! [`Body`] is an enum rather than a boxed trait object so that the common
//! cases — no body, a small buffer, a file (or ranges of it) — cost no
//! allocation beyond their data. Files are read in bounded chunks as the
//! connection drains them: a response never holds a whole file in memory.
//! Streams produced at an application's pace (the embedding API, bridges) use
//! [`Body::channel`], a bounded channel that gives the producer backpressure.

use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use tokio::sync::mpsc;

use crate::error::BoxError;

/// Largest chunk read from a file at once: the per-connection memory bound
/// for file responses.
pub const FILE_CHUNK: usize = 64 * 1024;

/// A response body.
pub struct Body {
    kind: Kind,
}

enum Kind {
    Empty,
    Full(Option<Bytes>),
    File(FileBody),
    Channel(mpsc::Receiver<Result<Bytes, io::Error>>),
    Boxed(Pin<Box<dyn http_body::Body<Data = Bytes, Error = BoxError> + Send>>),
}

impl Body {
    /// No body.
    pub fn empty() -> Self {
        Body { kind: Kind::Empty }
    }

    /// A body held in one buffer.
    pub fn full(data: impl Into<Bytes>) -> Self {
        let data = data.into();
        if data.is_empty() {
            return Self::empty();
        }
        Body {
            kind: Kind::Full(Some(data)),
        }
    }

    /// A body made of literal parts and file ranges, read lazily.
    pub fn file(file: impl Into<Arc<File>>, segments: Vec<Segment>) -> Self {
        Self::cached_file(file.into(), None, segments)
    }

    /// As [`Body::file`], with the file's whole `content` when it is
    /// already in memory: its ranges are then taken from there.
    pub(crate) fn cached_file(
        file: Arc<File>,
        content: Option<Bytes>,
        segments: Vec<Segment>,
    ) -> Self {
        let len = segments.iter().map(Segment::len).sum();
        Body {
            kind: Kind::File(FileBody {
                file,
                content,
                segments: segments.into(),
                remaining: len,
            }),
        }
    }

    /// A body fed by a producer at its own pace: each `send` waits while
    /// `capacity` chunks are queued and not yet written to the client.
    /// The body ends when the sender is dropped; `send` fails once the
    /// client has gone.
    pub fn channel(capacity: usize) -> (BodySender, Body) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        (
            BodySender { tx },
            Body {
                kind: Kind::Channel(rx),
            },
        )
    }

    /// Wrap any `http_body::Body`.
    pub fn wrap<B>(body: B) -> Self
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        use http_body_util::BodyExt;
        Body {
            kind: Kind::Boxed(Box::pin(body.map_err(Into::into))),
        }
    }
}

impl Default for Body {
    fn default() -> Self {
        Self::empty()
    }
}

impl From<&'static str> for Body {
    fn from(s: &'static str) -> Self {
        Body::full(Bytes::from_static(s.as_bytes()))
    }
}

impl From<String> for Body {
    fn from(s: String) -> Self {
        Body::full(s)
    }
}

impl From<Vec<u8>> for Body {
    fn from(v: Vec<u8>) -> Self {
        Body::full(v)
    }
}

impl From<Bytes> for Body {
    fn from(b: Bytes) -> Self {
        Body::full(b)
    }
}

/// The producer side of [`Body::channel`].
#[derive(Clone)]
pub struct BodySender {
    tx: mpsc::Sender<Result<Bytes, io::Error>>,
}

/// The client has gone; nothing more can be sent.
#[derive(Debug, thiserror::Error)]
#[error("the client has closed the connection")]
pub struct ClientGone;

impl BodySender {
    /// Queue a chunk, waiting while the channel is full.
    pub async fn send(&self, data: impl Into<Bytes>) -> Result<(), ClientGone> {
        self.tx.send(Ok(data.into())).await.map_err(|_| ClientGone)
    }

    /// End the body with an error: the connection is closed without the
    /// normal end of message, so the client knows the body is incomplete.
    pub async fn abort(self, why: io::Error) {
        let _ = self.tx.send(Err(why)).await;
    }

    /// Whether the client has gone.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

/// Part of a file body.
#[derive(Debug, Clone)]
pub enum Segment {
    /// Literal bytes (multipart boundaries and part headers).
    Bytes(Bytes),
    /// `len` bytes of the file from `offset`.
    File {
        /// Start in the file.
        offset: u64,
        /// Number of bytes.
        len: u64,
    },
}

impl Segment {
    fn len(&self) -> u64 {
        match self {
            Segment::Bytes(b) => b.len() as u64,
            Segment::File { len, .. } => *len,
        }
    }
}

struct FileBody {
    file: Arc<File>,
    /// The whole file, when the cache of open files holds it.
    content: Option<Bytes>,
    segments: VecDeque<Segment>,
    remaining: u64,
}

/// Read up to `want` bytes at `at` into a fresh buffer: `pread`, so no
/// seek and no file position to track, into the buffer's spare capacity
/// (not zeroed first). Short only at the end of the file.
fn read_chunk(file: &File, at: u64, want: u64) -> io::Result<Vec<u8>> {
    let want = want as usize;
    let mut buf = Vec::with_capacity(want);
    while buf.len() < want {
        let off = at + buf.len() as u64;
        match rustix::io::pread(file, rustix::buffer::spare_capacity(&mut buf), off) {
            Ok(0) => break,
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    // The allocator may have given more room than asked: what was read
    // past the segment is not part of it.
    buf.truncate(want);
    Ok(buf)
}

/// `len` bytes from `offset` of a file's content held in memory.
fn in_memory(content: Option<&Bytes>, offset: u64, len: u64) -> Option<Bytes> {
    let content = content?;
    let start = usize::try_from(offset).ok()?;
    let end = start.checked_add(usize::try_from(len).ok()?)?;
    (end <= content.len()).then(|| content.slice(start..end))
}

impl FileBody {
    /// The next piece: literal bytes are taken, a file range is only
    /// described (see [`FileBody::advance`]); `None` at the end.
    fn piece(&mut self) -> Option<Piece<'_>> {
        loop {
            match self.segments.front_mut()? {
                Segment::Bytes(b) => {
                    let b = std::mem::take(b);
                    self.segments.pop_front();
                    self.remaining -= b.len() as u64;
                    if !b.is_empty() {
                        return Some(Piece::Bytes(b));
                    }
                }
                Segment::File { len: 0, .. } => {
                    self.segments.pop_front();
                }
                Segment::File { offset, len } => {
                    if let Some(b) = in_memory(self.content.as_ref(), *offset, *len) {
                        self.segments.pop_front();
                        self.remaining -= b.len() as u64;
                        return Some(Piece::Bytes(b));
                    }
                    return Some(Piece::File {
                        file: &self.file,
                        offset: *offset,
                        len: *len,
                    });
                }
            }
        }
    }

    /// `n` bytes of the current file range went out.
    fn advance(&mut self, n: u64) {
        if let Some(Segment::File { offset, len }) = self.segments.front_mut() {
            let n = n.min(*len);
            *offset += n;
            *len -= n;
            self.remaining -= n;
        }
    }

    /// Read the next chunk. File reads are done inline: the document root is
    /// local storage, mostly in the page cache, and a thread hop per chunk
    /// costs more than the read itself.
    fn next_chunk(&mut self) -> Option<io::Result<Bytes>> {
        let (at, want) = match self.piece()? {
            Piece::Bytes(b) => return Some(Ok(b)),
            Piece::File { offset, len, .. } => (offset, len.min(FILE_CHUNK as u64)),
        };
        Some(match read_chunk(&self.file, at, want) {
            Ok(buf) if buf.is_empty() => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "file shrank while being sent",
            )),
            Ok(buf) => {
                self.advance(buf.len() as u64);
                Ok(Bytes::from(buf))
            }
            Err(e) => Err(e),
        })
    }
}

/// The next part of a file body, for a writer that sends file ranges
/// itself (`sendfile` on plain TCP) instead of reading them.
pub(crate) enum Piece<'a> {
    /// Literal bytes, taken from the body.
    Bytes(Bytes),
    /// `len` bytes of `file` from `offset`; say what was sent with
    /// [`Body::file_sent`].
    File {
        file: &'a File,
        offset: u64,
        len: u64,
    },
}

impl Body {
    /// Whether this is a file body (see [`Body::file_piece`]).
    pub(crate) fn is_file(&self) -> bool {
        matches!(self.kind, Kind::File(_))
    }

    /// The next piece of a file body, without reading the file; `None` at
    /// the end (or for another kind of body).
    pub(crate) fn file_piece(&mut self) -> Option<Piece<'_>> {
        match &mut self.kind {
            Kind::File(f) => f.piece(),
            _ => None,
        }
    }

    /// `n` bytes of the current file piece went out.
    pub(crate) fn file_sent(&mut self, n: u64) {
        if let Kind::File(f) = &mut self.kind {
            f.advance(n);
        }
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        match &mut this.kind {
            Kind::Empty => Poll::Ready(None),
            Kind::Full(data) => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
            Kind::File(f) => Poll::Ready(
                f.next_chunk()
                    .map(|r| r.map(Frame::data).map_err(Into::into)),
            ),
            Kind::Channel(rx) => rx
                .poll_recv(cx)
                .map(|o| o.map(|r| r.map(Frame::data).map_err(Into::into))),
            Kind::Boxed(b) => b.as_mut().poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Empty => true,
            Kind::Full(d) => d.is_none(),
            Kind::File(f) => f.remaining == 0,
            Kind::Channel(_) => false,
            Kind::Boxed(b) => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Empty => SizeHint::with_exact(0),
            Kind::Full(d) => SizeHint::with_exact(d.as_ref().map_or(0, |d| d.len() as u64)),
            Kind::File(f) => SizeHint::with_exact(f.remaining),
            Kind::Channel(_) => SizeHint::default(),
            Kind::Boxed(b) => b.size_hint(),
        }
    }
}
