//! Option `direct`: after the `101`, the client's TCP socket itself is sent
//! to the UNIX-socket server (`SCM_RIGHTS`), which then speaks WebSocket
//! framing on it; marmoset keeps nothing.
//!
//! The message carrying the descriptor has as payload the client's address
//! as text (`192.0.2.7:50612`), or with option `user` the
//! [`crate::modules::bridge::preamble`] block. Only for plain HTTP/1.1
//! connections: a TLS session cannot be handed to another process, so on
//! HTTPS (and HTTP/2) the connection is bridged as usual.
//!
//! If the client sent bytes right behind its handshake (before the `101`
//! arrived), they were already read by marmoset and cannot follow the
//! descriptor: the connection is closed.

use std::io::IoSlice;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;

use bytes::Bytes;
use nix::sys::socket::{ControlMessage, MsgFlags, UnixAddr, sendmsg};
use tokio::net::TcpStream;

use crate::engine::rewind::Rewind;
use crate::engine::upgrade::Upgraded;
use crate::modules::bridge::Backend;

/// The connection type of a plain HTTP/1 connection, as the engine builds it.
type PlainIo = Rewind<TcpStream>;

/// Send the client's socket to `backend`, then forget both.
pub async fn hand_over(
    client: Upgraded,
    backend: Backend,
    peer: SocketAddr,
    preamble: Option<Bytes>,
) {
    let client: Box<dyn std::any::Any + Send> = client;
    let plain = match client.downcast::<PlainIo>() {
        Ok(p) => p,
        Err(_) => {
            log::warn!("{peer}: websocket direct: not a plain TCP connection, closed");
            return;
        }
    };
    if !plain.is_drained() {
        log::debug!("{peer}: websocket direct: client data arrived before the hand-over, closed");
        return;
    }
    let tcp = plain.inner();
    let payload = preamble.unwrap_or_else(|| Bytes::from(peer.to_string()));
    let fds = [tcp.as_raw_fd()];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    for _ in 0..2 {
        let iov = [IoSlice::new(&payload)];
        let sent = sendmsg::<UnixAddr>(
            backend.as_raw_fd(),
            &iov,
            &cmsg,
            MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL,
            None,
        );
        match sent {
            Ok(_) => return,
            Err(nix::errno::Errno::EAGAIN) => {
                // The server's receive queue is full: wait once for room.
                if !writable(&backend).await {
                    break;
                }
            }
            Err(e) => {
                log::debug!("{peer}: websocket direct: {e}");
                return;
            }
        }
    }
    log::debug!("{peer}: websocket direct: the server does not take the socket");
}

async fn writable(backend: &Backend) -> bool {
    match backend {
        Backend::Stream(s) => s.writable().await.is_ok(),
        Backend::Packet(_) => {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            true
        }
    }
}
