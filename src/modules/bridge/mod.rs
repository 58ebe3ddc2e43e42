//! What the three bridges (`websocket`, `webstream`, `upgrade`) share: the
//! UNIX-socket servers behind them.
//!
//! - [`SocketDir`]: a request path to a socket under a module's `docroot`,
//!   confined to it the way [`crate::resolve`] confines
//!   files (the path is already normalised; symbolic links must stay
//!   inside). The directory is looked up per request, so a service that
//!   creates its socket directory after marmoset started is found.
//! - [`Backend`]: a connection to such a socket, either a byte stream
//!   (`SOCK_STREAM`, Ouistiti's protocol) or a packet socket
//!   (`SOCK_SEQPACKET`, [`seqpacket`]) whose packets keep message
//!   boundaries. Which one is used is decided by the socket itself: a
//!   connect with the wrong type fails with `EPROTOTYPE`, and the other
//!   type is tried.
//! - [`preamble`]: the documented header block that tells a backend who
//!   the client is (option `user`).
//! - [`wants_upgrade`] and [`on_upgrade`]: the `Connection: upgrade`
//!   test of the original and the hand-over of the connection after `101`.

pub mod seqpacket;

use std::io;
use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};
use http::HeaderMap;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};

use self::seqpacket::SeqPacket;
use crate::engine::upgrade::Upgraded;
use crate::pipeline::{Request, RequestCtx};

/// Largest chunk read from a stream backend at once.
pub const READ_CHUNK: usize = 16 * 1024;

/// The largest packet read from a packet socket where no other limit is
/// configured (a camera frame, a relayed packet).
pub const MAX_PACKET: usize = 4 * 1024 * 1024;

/// A directory of UNIX sockets (a bridge's `docroot`).
#[derive(Clone, Debug)]
pub struct SocketDir {
    dir: PathBuf,
}

/// What a request path names under a [`SocketDir`].
#[derive(Debug, PartialEq, Eq)]
pub enum Entry {
    /// A UNIX socket (its canonical path).
    Socket(PathBuf),
    /// A directory (its canonical path).
    Dir(PathBuf),
    /// Something else: a file, a device, a FIFO.
    Other,
    /// Nothing, or something outside the directory.
    Missing,
}

impl SocketDir {
    /// The directory `dir` (it need not exist yet).
    pub fn new(dir: PathBuf) -> Self {
        SocketDir { dir }
    }

    /// The configured directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What `uri` (a normalised request path) names.
    pub fn lookup(&self, uri: &str) -> Entry {
        let Ok(root) = self.dir.canonicalize() else {
            return Entry::Missing;
        };
        lookup_in(&root, uri.trim_start_matches('/'))
    }

    /// `name` inside `dir` (a canonical path returned by
    /// [`SocketDir::lookup`]), or inside the directory itself when `dir` is
    /// `None`. `name` comes from the client (a WebSocket sub-protocol):
    /// anything but a plain file name is missing.
    pub fn lookup_name(&self, dir: Option<&Path>, name: &str) -> Entry {
        if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\0']) {
            return Entry::Missing;
        }
        let Ok(root) = self.dir.canonicalize() else {
            return Entry::Missing;
        };
        let rel = match dir.map(|d| d.strip_prefix(&root)) {
            None => PathBuf::from(name),
            Some(Ok(rel)) => rel.join(name),
            Some(Err(_)) => return Entry::Missing,
        };
        lookup_in(&root, &rel.to_string_lossy())
    }
}

fn lookup_in(root: &Path, rel: &str) -> Entry {
    use std::os::unix::fs::FileTypeExt;
    let Ok(real) = root.join(rel).canonicalize() else {
        return Entry::Missing;
    };
    if !real.starts_with(root) {
        return Entry::Missing;
    }
    match std::fs::metadata(&real) {
        Ok(m) if m.file_type().is_socket() => Entry::Socket(real),
        Ok(m) if m.is_dir() => Entry::Dir(real),
        Ok(_) => Entry::Other,
        Err(_) => Entry::Missing,
    }
}

/// The socket type to try first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prefer {
    /// `SOCK_STREAM`, then `SOCK_SEQPACKET`.
    Stream,
    /// `SOCK_SEQPACKET` only.
    PacketOnly,
}

/// A connection to a UNIX-socket server.
pub enum Backend {
    /// A byte stream: message boundaries are not kept.
    Stream(UnixStream),
    /// A packet socket: one packet is one message.
    Packet(SeqPacket),
}

impl Backend {
    /// Connect to the socket at `path`.
    pub async fn connect(path: &Path, prefer: Prefer) -> io::Result<Backend> {
        if prefer == Prefer::Stream {
            match UnixStream::connect(path).await {
                Ok(s) => return Ok(Backend::Stream(s)),
                Err(e) if e.raw_os_error() != Some(libc::EPROTOTYPE) => return Err(e),
                Err(_) => {}
            }
        }
        SeqPacket::connect(path).await.map(Backend::Packet)
    }

    /// Whether message boundaries are kept.
    pub fn is_packet(&self) -> bool {
        matches!(self, Backend::Packet(_))
    }

    /// The raw descriptor (to pass a client socket over it).
    pub fn as_raw_fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsRawFd;
        match self {
            Backend::Stream(s) => s.as_raw_fd(),
            Backend::Packet(p) => p.as_raw_fd(),
        }
    }

    /// Split into a reading and a writing half.
    pub fn split(self) -> (BackendReader, BackendWriter) {
        match self {
            Backend::Stream(s) => {
                let (r, w) = s.into_split();
                (
                    BackendReader::Stream(r, BytesMut::new()),
                    BackendWriter::Stream(w),
                )
            }
            Backend::Packet(p) => {
                let p = std::sync::Arc::new(p);
                (BackendReader::Packet(p.clone()), BackendWriter::Packet(p))
            }
        }
    }
}

/// The reading half of a [`Backend`].
pub enum BackendReader {
    /// Stream socket, with its read buffer.
    Stream(OwnedReadHalf, BytesMut),
    /// Packet socket.
    Packet(std::sync::Arc<SeqPacket>),
}

impl BackendReader {
    /// The next chunk (stream) or packet, `None` at the end. A packet
    /// larger than `max` is an error.
    pub async fn read(&mut self, max: usize) -> io::Result<Option<Bytes>> {
        match self {
            BackendReader::Stream(r, buf) => {
                buf.reserve(READ_CHUNK);
                match r.read_buf(buf).await? {
                    0 => Ok(None),
                    _ => Ok(Some(buf.split().freeze())),
                }
            }
            BackendReader::Packet(p) => p.recv(max).await,
        }
    }
}

/// The writing half of a [`Backend`].
pub enum BackendWriter {
    /// Stream socket.
    Stream(OwnedWriteHalf),
    /// Packet socket.
    Packet(std::sync::Arc<SeqPacket>),
}

impl BackendWriter {
    /// Write `data`: all of it on a stream, as one packet on a packet
    /// socket (empty packets are not sent: they read as end of stream).
    pub async fn write(&mut self, data: &[u8]) -> io::Result<()> {
        match self {
            BackendWriter::Stream(w) => w.write_all(data).await,
            BackendWriter::Packet(_) if data.is_empty() => Ok(()),
            BackendWriter::Packet(p) => p.send(data).await,
        }
    }

    /// Tell the server nothing more will come (it reads end of stream).
    pub async fn shutdown(&mut self) {
        let _ = match self {
            BackendWriter::Stream(w) => w.shutdown().await,
            BackendWriter::Packet(p) => p.shutdown_write(),
        };
    }
}

/// Whether `headers` ask for an upgrade to `token` the way the original
/// tests it: `Connection` contains `upgrade` and `Upgrade` contains
/// `token`, both case-insensitive substrings.
pub fn wants_upgrade(headers: &HeaderMap, token: &str) -> bool {
    contains(headers, http::header::CONNECTION, "upgrade")
        && contains(headers, http::header::UPGRADE, token)
}

fn contains(headers: &HeaderMap, name: http::header::HeaderName, what: &str) -> bool {
    let what = what.to_ascii_lowercase();
    headers.get_all(name).iter().any(|v| {
        String::from_utf8_lossy(v.as_bytes())
            .to_ascii_lowercase()
            .contains(&what)
    })
}

/// Run `bridge` on the client connection once hyper hands it over (after
/// the `101` or the HTTP/2 `200` has been sent).
pub fn on_upgrade<F, Fut>(req: &mut Request, peer: std::net::SocketAddr, bridge: F)
where
    F: FnOnce(Upgraded) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let pending = crate::engine::upgrade::on(req);
    // Keep the connection counted (maxclients, process mode) while bridged.
    let hold = req
        .extensions()
        .get::<crate::engine::conn::ConnHold>()
        .cloned();
    tokio::spawn(async move {
        match pending.await {
            Ok(upgraded) => bridge(upgraded).await,
            Err(e) => log::debug!("{peer}: upgrade failed: {e}"),
        }
        drop(hold);
    });
}

/// The upgraded connection as a tokio byte stream.
pub type Client = Upgraded;

/// The header block sent first to a backend with option `user`: lines
/// `Name: value` ending with CRLF, then an empty line. `X-Remote-User` and
/// `X-Remote-Group` appear only for an authenticated request. Values never
/// contain CR or LF.
///
/// ```text
/// X-Remote-User: alice
/// X-Remote-Group: users
/// X-Remote-Addr: 192.0.2.7
/// X-Forwarded-Proto: https
/// X-Request-Path: /chat
/// ```
pub fn preamble(ctx: &RequestCtx) -> Bytes {
    let mut out = String::new();
    let mut line = |name: &str, value: &str| {
        let value: String = value.chars().filter(|c| *c != '\r' && *c != '\n').collect();
        out.push_str(name);
        out.push_str(": ");
        out.push_str(&value);
        out.push_str("\r\n");
    };
    if let Some(u) = &ctx.user {
        line("X-Remote-User", &u.name);
        if !u.group.is_empty() {
            line("X-Remote-Group", &u.group);
        }
    }
    line("X-Remote-Addr", &ctx.peer.ip().to_string());
    line(
        "X-Forwarded-Proto",
        if ctx.tls.is_some() { "https" } else { "http" },
    );
    line("X-Request-Path", &ctx.path);
    out.push_str("\r\n");
    Bytes::from(out)
}

#[cfg(test)]
mod tests;
