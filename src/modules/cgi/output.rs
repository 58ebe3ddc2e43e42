//! What a script writes: the CGI header block, then the body, streamed.
//!
//! The header block ends at the first empty line (LF or CRLF) and may be
//! at most [`MAX_HEAD`] bytes. An optional first line `HTTP/1.x <code> …`
//! (non-parsed-header scripts) sets the status; `Status: <code> …` sets it
//! too; `Location` makes a redirect (local when it is a path, see the
//! module docs). `Status`, and the hop-by-hop `Connection`,
//! `Transfer-Encoding` and `Keep-Alive`, are not passed on; every other
//! header is, in order, repeated ones included (`Set-Cookie`).
//!
//! The body is read from the script's stdout as the client takes it, so a
//! script producing gigabytes costs one buffer. [`Output`] owns the
//! process: when the client goes (the body is dropped), after `timeout`
//! without output, or past `maxtime`, the script's process group gets
//! `SIGTERM`, then `SIGKILL` two seconds later.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::header::{HeaderName, HeaderValue};
use http_body::{Frame, SizeHint};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::{AsyncRead, AsyncReadExt, ReadBuf};
use tokio::process::{Child, ChildStdout};
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::{Instant, Sleep};

/// Largest header block a script may write.
pub const MAX_HEAD: usize = 64 * 1024;
/// Bytes read from a script at once.
const CHUNK: usize = 16 * 1024;
/// Between `SIGTERM` and `SIGKILL`.
const GRACE: Duration = Duration::from_secs(2);
/// How long a script may run on after closing its output.
const LINGER: Duration = Duration::from_secs(60);

/// The parsed header block.
#[derive(Debug, Default)]
pub struct ScriptHead {
    /// From an `HTTP/1.x` first line or `Status:`.
    pub status: Option<u16>,
    /// `Location`.
    pub location: Option<String>,
    /// Every other header, in order.
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

/// Why no header block came.
#[derive(Debug, thiserror::Error)]
pub enum HeadError {
    /// Nothing within `timeout` (or `maxtime`).
    #[error("no output within the time limit")]
    Timeout,
    /// Output ended before the empty line.
    #[error("the script ended before its headers did")]
    Incomplete,
    /// More than [`MAX_HEAD`] bytes without an empty line.
    #[error("header block over {MAX_HEAD} bytes")]
    TooLong,
    /// A line that is not a header.
    #[error("bad header line {0:?}")]
    Bad(String),
    /// Reading failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Read the header block; the bytes after it are returned with it.
pub async fn read_head(
    stdout: &mut ChildStdout,
    idle: Duration,
    deadline: Instant,
) -> Result<(ScriptHead, Bytes), HeadError> {
    let mut buf = BytesMut::with_capacity(CHUNK);
    loop {
        if let Some((end, body_start)) = head_end(&buf) {
            let head = parse_head(&buf[..end])?;
            let rest = buf.split_off(body_start).freeze();
            return Ok((head, rest));
        }
        if buf.len() > MAX_HEAD {
            return Err(HeadError::TooLong);
        }
        let wait = idle.min(deadline.saturating_duration_since(Instant::now()));
        let n = tokio::time::timeout(wait, stdout.read_buf(&mut buf))
            .await
            .map_err(|_| HeadError::Timeout)??;
        if n == 0 {
            return Err(HeadError::Incomplete);
        }
    }
}

/// Where the header block ends and the body starts.
fn head_end(buf: &[u8]) -> Option<(usize, usize)> {
    let mut line_start = 0;
    for (i, &b) in buf.iter().enumerate() {
        if b == b'\n' {
            let line = &buf[line_start..i];
            if line.is_empty() || line == b"\r" {
                return Some((line_start, i + 1));
            }
            line_start = i + 1;
        }
    }
    None
}

/// Parse the header lines (without the empty line).
pub fn parse_head(block: &[u8]) -> Result<ScriptHead, HeadError> {
    let mut head = ScriptHead::default();
    let text = String::from_utf8_lossy(block);
    for (i, line) in text.split('\n').enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        if i == 0 && line.starts_with("HTTP/") {
            head.status = Some(status_code(line.split_whitespace().nth(1).unwrap_or(""))?);
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(HeadError::Bad(line.to_string()));
        };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "status" => {
                head.status = Some(status_code(value.split_whitespace().next().unwrap_or(""))?)
            }
            "location" if !value.is_empty() => head.location = Some(value.to_string()),
            "location" | "connection" | "transfer-encoding" | "keep-alive" => {}
            n => {
                let name = HeaderName::from_bytes(n.as_bytes())
                    .map_err(|_| HeadError::Bad(line.to_string()))?;
                let value =
                    HeaderValue::from_str(value).map_err(|_| HeadError::Bad(line.to_string()))?;
                head.headers.push((name, value));
            }
        }
    }
    Ok(head)
}

fn status_code(text: &str) -> Result<u16, HeadError> {
    match text.parse::<u16>() {
        Ok(n) if (100..1000).contains(&n) => Ok(n),
        _ => Err(HeadError::Bad(format!("status {text:?}"))),
    }
}

/// A running script: killed (with its process group) when dropped before
/// it exited. Holds one of the module's `maxscripts` slots.
pub struct Proc {
    child: Option<Child>,
    name: String,
    _slot: OwnedSemaphorePermit,
}

impl Proc {
    /// Own `child` (spawned in its own process group) and its slot.
    pub fn new(child: Child, name: String, slot: OwnedSemaphorePermit) -> Proc {
        Proc {
            child: Some(child),
            name,
            _slot: slot,
        }
    }

    /// The script's stdout, taken once.
    pub fn stdout(&mut self) -> Option<ChildStdout> {
        self.child.as_mut()?.stdout.take()
    }

    /// The script closed its output: let it exit on its own (it is
    /// stopped only if it lingers past `LINGER`).
    pub fn finish(mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        rt.spawn(async move {
            if tokio::time::timeout(LINGER, child.wait()).await.is_err() {
                if let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) {
                    let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
                }
                let _ = child.wait().await;
            }
        });
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // Exited (a zombie until reaped): nothing to stop, and its pid
        // must not be signalled any more.
        if !matches!(child.try_wait(), Ok(None)) {
            return;
        }
        let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) else {
            return;
        };
        let group = Pid::from_raw(pid);
        log::info!("cgi {}: stopping the script (pid {pid})", self.name);
        let _ = killpg(group, Signal::SIGTERM);
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            let _ = killpg(group, Signal::SIGKILL);
            return; // `kill_on_drop` kills the child itself
        };
        rt.spawn(async move {
            if tokio::time::timeout(GRACE, child.wait()).await.is_err() {
                let _ = killpg(group, Signal::SIGKILL);
                let _ = child.wait().await;
            }
        });
    }
}

/// The response body: the script's stdout after the header block.
pub struct Output {
    stdout: ChildStdout,
    first: Option<Bytes>,
    idle: Duration,
    idle_timer: Pin<Box<Sleep>>,
    deadline: Pin<Box<Sleep>>,
    proc: Option<Proc>,
}

impl Output {
    /// Stream `stdout` (after `first`, the bytes read with the headers).
    pub fn new(
        proc: Proc,
        stdout: ChildStdout,
        first: Bytes,
        idle: Duration,
        deadline: Instant,
    ) -> Output {
        Output {
            stdout,
            first: Some(first),
            idle,
            idle_timer: Box::pin(tokio::time::sleep(idle)),
            deadline: Box::pin(tokio::time::sleep_until(deadline)),
            proc: Some(proc),
        }
    }

    fn stop(&mut self, why: &str) -> io::Error {
        if let Some(p) = &self.proc {
            log::warn!("cgi {}: {why}", p.name);
        }
        self.proc = None; // kills
        io::Error::new(io::ErrorKind::TimedOut, why.to_string())
    }
}

impl http_body::Body for Output {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        if let Some(first) = this.first.take()
            && !first.is_empty()
        {
            return Poll::Ready(Some(Ok(Frame::data(first))));
        }
        if this.proc.is_none() {
            return Poll::Ready(None);
        }
        let mut buf = vec![0u8; CHUNK];
        let mut rb = ReadBuf::new(&mut buf);
        match Pin::new(&mut this.stdout).poll_read(cx, &mut rb) {
            Poll::Ready(Ok(())) => {
                let n = rb.filled().len();
                if n == 0 {
                    if let Some(p) = this.proc.take() {
                        p.finish();
                    }
                    return Poll::Ready(None);
                }
                buf.truncate(n);
                let next = tokio::time::Instant::now() + this.idle;
                this.idle_timer.as_mut().reset(next);
                return Poll::Ready(Some(Ok(Frame::data(Bytes::from(buf)))));
            }
            Poll::Ready(Err(e)) => {
                this.proc = None;
                return Poll::Ready(Some(Err(e)));
            }
            Poll::Pending => {}
        }
        if this.deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(this.stop("killed: ran past maxtime"))));
        }
        if this.idle_timer.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(this.stop("killed: no output within timeout"))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        false
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_block_ends() {
        assert_eq!(head_end(b"A: b\n\nbody"), Some((5, 6)));
        assert_eq!(head_end(b"A: b\r\n\r\nbody"), Some((6, 8)));
        assert_eq!(head_end(b"\nbody"), Some((0, 1)));
        assert_eq!(head_end(b"A: b\r\n"), None);
    }

    #[test]
    fn parse_headers() {
        let h = parse_head(b"Content-Type: text/plain\r\nStatus: 202 Accepted\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nConnection: close\r\n").unwrap();
        assert_eq!(h.status, Some(202));
        assert_eq!(h.headers.len(), 3);
        assert_eq!(h.headers[1].1, "a=1");
        let h = parse_head(b"HTTP/1.1 418 I'm a teapot\nX-A: 1\n").unwrap();
        assert_eq!(h.status, Some(418));
        let h = parse_head(b"Location: /other?x=1\n").unwrap();
        assert_eq!(h.location.as_deref(), Some("/other?x=1"));
        assert!(parse_head(b"not a header\n").is_err());
        assert!(parse_head(b"Status: abc\n").is_err());
    }
}
