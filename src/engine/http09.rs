//! HTTP/0.9 simple requests (a request line without a version).
//!
//! The start of each connection is read until the request line can be
//! classified: `GET SP target` followed by the end of the line, with no
//! version, is a simple request, answered here with the body only, then the
//! connection is closed. Anything else goes to the HTTP/1 engine (or
//! HTTP/2) together with the bytes already read.

use std::io;
use std::time::Duration;

use bytes::BytesMut;
use http_body_util::BodyExt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::pipeline::Response;

/// How a connection starts.
pub enum Start {
    /// An HTTP/0.9 simple request.
    Simple {
        /// The method word.
        method: String,
        /// The request target.
        target: String,
    },
    /// A versioned request (or garbage for the engine to refuse); the bytes
    /// read, in the buffer the HTTP/1 engine goes on reading into.
    Http(BytesMut),
    /// The client sent nothing and closed, or timed out.
    Closed,
}

/// Read the start of `stream` until it can be classified. At most `limit`
/// bytes are read; `timeout` bounds the wait (slow clients).
pub async fn sniff<S: AsyncRead + Unpin>(
    stream: &mut S,
    limit: usize,
    timeout: Duration,
) -> io::Result<Start> {
    let mut buf = BytesMut::with_capacity(2048);
    let read = async {
        loop {
            if stream.read_buf(&mut buf).await? == 0 {
                return Ok(Start::Closed);
            }
            if let Some(start) = classify(&buf, limit) {
                return Ok(start);
            }
            if buf.capacity() == buf.len() {
                buf.reserve(buf.len());
            }
        }
    };
    match tokio::time::timeout(timeout, read).await {
        Ok(Ok(Start::Http(_))) => Ok(Start::Http(buf)),
        Ok(other) => other,
        Err(_) => Ok(Start::Closed),
    }
}

/// Classify the bytes read so far; `None` when more are needed.
fn classify(buf: &[u8], limit: usize) -> Option<Start> {
    let http = || Some(Start::Http(BytesMut::new()));
    let Some(eol) = buf.iter().position(|&b| b == b'\n') else {
        let spaces = buf.iter().filter(|&&b| b == b' ').count();
        return if spaces >= 2 || buf.len() >= limit {
            http()
        } else {
            None
        };
    };
    let line = buf[..eol].strip_suffix(b"\r").unwrap_or(&buf[..eol]);
    let mut parts = line.split(|&b| b == b' ').filter(|p| !p.is_empty());
    match (parts.next(), parts.next(), parts.next()) {
        // HTTP/0.9 has only GET (RFC 1945 §4.1); another method on a
        // line without a version is garbage for the engine to refuse.
        (Some(method), Some(target), None)
            if line.starts_with(method) && method.eq_ignore_ascii_case(b"GET") =>
        {
            let method = std::str::from_utf8(method).ok()?.to_string();
            let target = std::str::from_utf8(target).ok()?.to_string();
            Some(Start::Simple { method, target })
        }
        _ => http(),
    }
}

/// Send a response the HTTP/0.9 way: the body bytes, then close.
pub async fn respond<S: AsyncWrite + Unpin>(stream: &mut S, resp: Response) -> io::Result<()> {
    let mut body = resp.into_body();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(io::Error::other)?;
        if let Ok(data) = frame.into_data() {
            stream.write_all(&data).await?;
        }
    }
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(s: &str) -> &'static str {
        match classify(s.as_bytes(), 8192) {
            None => "more",
            Some(Start::Simple { .. }) => "simple",
            Some(Start::Http(_)) => "http",
            Some(Start::Closed) => "closed",
        }
    }

    #[test]
    fn classifies_request_lines() {
        assert_eq!(kind("GET /index.html\r\n"), "simple");
        assert_eq!(kind("GET /index.html\n"), "simple");
        assert_eq!(kind("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), "http");
        assert_eq!(kind("GET / HTTP/1.0\r\n"), "http");
        assert_eq!(kind("GET / HT"), "http");
        assert_eq!(kind("GET /ind"), "more");
        assert_eq!(kind("GET"), "more");
        assert_eq!(kind("GARBAGE\r\n"), "http");
        assert_eq!(kind("get /index.html\r\n"), "simple");
        assert_eq!(kind("DELETE /victim.txt\r\n"), "http");
        assert_eq!(kind("PUT /x\n"), "http");
        assert_eq!(kind("PRI * HTTP/2.0\r\n"), "http");
    }

    #[test]
    fn simple_request_parts() {
        match classify(b"GET /a/b.txt\r\n", 100) {
            Some(Start::Simple { method, target }) => {
                assert_eq!(method, "GET");
                assert_eq!(target, "/a/b.txt");
            }
            _ => panic!("not simple"),
        }
    }

    #[test]
    fn long_line_goes_to_the_http1_engine() {
        let long = "GET /".to_string() + &"a".repeat(200);
        assert!(matches!(
            classify(long.as_bytes(), 100),
            Some(Start::Http(_))
        ));
    }
}
