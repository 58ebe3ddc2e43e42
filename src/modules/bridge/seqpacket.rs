//! An asynchronous `SOCK_SEQPACKET` UNIX client (tokio has none). The
//! connected, non-blocking socket is carried by a [`tokio::net::UnixStream`]
//! — used only for its reactor registration and readiness, never for its
//! byte-stream reads — and packets are moved with `recv`/`send` inside
//! `try_io`. (tokio's `AsyncFd` would do the same, but registering a raw
//! descriptor with it is `unsafe` in current tokio.)
//!
//! Every packet is read whole: its length is learnt first with
//! `MSG_PEEK | MSG_TRUNC` (Linux ≥ 3.4 returns the real length for UNIX
//! packet sockets), then a buffer of exactly that size receives it. So a
//! connection costs no fixed large buffer, and a packet over the limit is
//! discarded and reported instead of being silently cut.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use nix::errno::Errno;
use nix::sys::socket::{
    AddressFamily, MsgFlags, Shutdown, SockFlag, SockType, UnixAddr, connect, recv, send, shutdown,
    socket,
};
use tokio::io::Interest;
use tokio::net::UnixStream;

/// How often a connect refused for a full backlog is retried, and how long
/// apart.
const CONNECT_RETRIES: u32 = 50;
const CONNECT_PAUSE: Duration = Duration::from_millis(10);

/// A connected `SOCK_SEQPACKET` socket.
pub struct SeqPacket {
    fd: UnixStream,
}

/// A packet was larger than the reader accepts.
#[derive(Debug, thiserror::Error)]
#[error("packet of {len} bytes exceeds the limit of {max} bytes")]
pub struct TooLarge {
    /// Its length.
    pub len: usize,
    /// The limit.
    pub max: usize,
}

impl SeqPacket {
    /// Connect to the packet socket at `path`.
    pub async fn connect(path: &Path) -> io::Result<SeqPacket> {
        let fd = socket(
            AddressFamily::Unix,
            SockType::SeqPacket,
            SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
            None,
        )?;
        let addr = UnixAddr::new(path)?;
        let mut tries = 0;
        loop {
            match connect(fd.as_raw_fd(), &addr) {
                Ok(()) => break,
                // A non-blocking UNIX connect fails with EAGAIN while the
                // listener's backlog is full: wait a little, a bounded number
                // of times.
                Err(Errno::EAGAIN) if tries < CONNECT_RETRIES => {
                    tries += 1;
                    tokio::time::sleep(CONNECT_PAUSE).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
        let std = std::os::unix::net::UnixStream::from(fd);
        Ok(SeqPacket {
            fd: UnixStream::from_std(std)?,
        })
    }

    /// The next packet, `None` at end of stream (an empty packet reads the
    /// same way). A packet longer than `max` is consumed and reported as
    /// an [`io::ErrorKind::InvalidData`] error wrapping [`TooLarge`].
    pub async fn recv(&self, max: usize) -> io::Result<Option<Bytes>> {
        let fd = self.fd.as_raw_fd();
        loop {
            self.fd.readable().await?;
            match self.fd.try_io(Interest::READABLE, || recv_packet(fd, max)) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                r => return r,
            }
        }
    }

    /// Send `data` as one packet (`EMSGSIZE` when it exceeds the socket's
    /// send buffer).
    pub async fn send(&self, data: &[u8]) -> io::Result<()> {
        let fd = self.fd.as_raw_fd();
        let flags = MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL;
        loop {
            self.fd.writable().await?;
            let sent = self.fd.try_io(Interest::WRITABLE, || {
                send(fd, data, flags).map_err(io::Error::from)
            });
            match sent {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                r => return r.map(|_| ()),
            }
        }
    }

    /// Shut down the sending direction: the server reads end of stream.
    pub fn shutdown_write(&self) -> io::Result<()> {
        shutdown(self.fd.as_raw_fd(), Shutdown::Write).map_err(io::Error::from)
    }

    /// The raw descriptor.
    pub fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

fn recv_packet(fd: RawFd, max: usize) -> io::Result<Option<Bytes>> {
    let mut probe = [0u8; 1];
    let peek = MsgFlags::MSG_PEEK | MsgFlags::MSG_TRUNC | MsgFlags::MSG_DONTWAIT;
    let len = recv(fd, &mut probe, peek)?;
    if len == 0 {
        // End of stream, or an empty packet: consume it either way.
        recv(fd, &mut probe, MsgFlags::MSG_DONTWAIT)?;
        return Ok(None);
    }
    if len > max {
        recv(fd, &mut probe, MsgFlags::MSG_DONTWAIT)?;
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            TooLarge { len, max },
        ));
    }
    let mut buf = vec![0u8; len];
    let n = recv(fd, &mut buf, MsgFlags::MSG_DONTWAIT)?;
    buf.truncate(n);
    Ok(Some(Bytes::from(buf)))
}
