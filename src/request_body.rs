//! The request body as handed to modules and embedded handlers: a stream,
//! bounded by the server's maximum body size. Nothing is buffered here; a
//! handler that wants the whole body asks for it explicitly with
//! [`RequestBody::to_bytes`], still within the limit.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http::StatusCode;
use http_body::{Body as _, Frame, SizeHint};

use crate::engine::h1::EngineBody;
use crate::error::{BoxError, HttpError};

/// Why reading the request body failed.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// The body is larger than the configured maximum (answered 413).
    #[error("request body larger than {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// The connection failed or the body was malformed (answered 400).
    #[error("request body: {0}")]
    Transport(BoxError),
}

impl From<BodyError> for HttpError {
    fn from(e: BodyError) -> Self {
        let status = match e {
            BodyError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            BodyError::Transport(_) => StatusCode::BAD_REQUEST,
        };
        HttpError::with_source(status, e)
    }
}

/// A streamed request body with a size limit.
pub struct RequestBody {
    inner: Option<Inner>,
    limit: u64,
    seen: u64,
}

impl RequestBody {
    /// A request without a body (HTTP/0.9, tests).
    pub fn empty() -> Self {
        RequestBody {
            inner: None,
            limit: 0,
            seen: 0,
        }
    }

    /// Any body stream (the HTTP/2 engine's), within `limit` bytes.
    #[cfg_attr(
        not(feature = "http2"),
        expect(dead_code, reason = "only the HTTP/2 engine boxes bodies")
    )]
    pub(crate) fn from_boxed(inner: BoxedBody, limit: u64) -> Self {
        RequestBody {
            inner: Some(Inner::Boxed(inner)),
            limit,
            seen: 0,
        }
    }

    /// A body read by marmoset's HTTP/1 engine (`None`: the request has
    /// none), within `limit` bytes.
    pub(crate) fn from_engine(inner: Option<EngineBody>, limit: u64) -> Self {
        RequestBody {
            inner: inner.map(Inner::Engine),
            limit,
            seen: 0,
        }
    }

    /// The maximum number of bytes this body may carry.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Change the maximum number of bytes this body may carry, before or
    /// while it is read: a module with its own limit (document uploads,
    /// `maxuploadsize`) raises or lowers the server's `maxbodysize` for this
    /// request. Bytes already read count against the new limit.
    pub fn set_limit(&mut self, limit: u64) {
        self.limit = limit;
    }

    /// The next chunk of data, `None` at the end.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, BodyError> {
        loop {
            let frame = std::future::poll_fn(|cx| Pin::new(&mut *self).poll_frame(cx)).await;
            match frame {
                None => return Ok(None),
                Some(Err(e)) => return Err(e),
                Some(Ok(f)) => {
                    if let Ok(d) = f.into_data() {
                        return Ok(Some(d));
                    }
                }
            }
        }
    }

    /// Read the whole body into memory (at most the configured limit).
    pub async fn to_bytes(mut self) -> Result<Bytes, BodyError> {
        let mut buf = BytesMut::new();
        while let Some(c) = self.chunk().await? {
            buf.extend_from_slice(&c);
        }
        Ok(buf.freeze())
    }
}

impl http_body::Body for RequestBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = &mut *self;
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        let polled = match inner {
            Inner::Boxed(b) => b
                .as_mut()
                .poll_frame(cx)
                .map(|o| o.map(|r| r.map_err(BodyError::Transport))),
            Inner::Engine(b) => b
                .poll_frame(cx)
                .map(|o| o.map(|r| r.map_err(|e| BodyError::Transport(e.into())))),
        };
        match polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(d) = frame.data_ref() {
                    this.seen += d.len() as u64;
                    if this.seen > this.limit {
                        this.inner = None;
                        return Poll::Ready(Some(Err(BodyError::TooLarge { limit: this.limit })));
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            None => true,
            Some(Inner::Boxed(b)) => b.is_end_stream(),
            Some(Inner::Engine(b)) => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            None => SizeHint::with_exact(0),
            Some(Inner::Boxed(b)) => b.size_hint(),
            Some(Inner::Engine(b)) => b.size_hint(),
        }
    }
}

/// A request body from another source than the HTTP/1 engine.
pub(crate) type BoxedBody =
    Pin<Box<dyn http_body::Body<Data = Bytes, Error = BoxError> + Send + Sync>>;

/// Where the bytes come from: marmoset's HTTP/1 engine, or another (hyper's
/// HTTP/2) boxed.
enum Inner {
    Engine(EngineBody),
    Boxed(BoxedBody),
}
