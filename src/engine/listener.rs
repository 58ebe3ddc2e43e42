//! Listening sockets and the accept loop with `maxclients`.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};

use super::conn;
use super::transport::Verdict;

/// Bind `addr:port`; without an address, the IPv6 wildcard accepting IPv4
/// too, or the IPv4 wildcard where IPv6 is unavailable.
pub fn bind(addr: Option<IpAddr>, port: u16) -> io::Result<std::net::TcpListener> {
    match addr {
        Some(ip) => bind_one(SocketAddr::new(ip, port)),
        None => bind_one(SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), port))
            .or_else(|_| bind_one(SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), port))),
    }
}

fn bind_one(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(false)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

/// Answer sent to clients beyond `maxclients`.
pub const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 26\r\nConnection: Close\r\n\r\n 503 Service Unavailable\r\n";

/// Answer sent to clients refused by `clientfilter` with `refuse = "403"`.
const FORBIDDEN: &[u8] = b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 16\r\nConnection: Close\r\n\r\n 403 Forbidden\r\n";

/// How many refused clients may be waiting for their 503 at once; beyond
/// that they are simply closed.
const MAX_REFUSING: usize = 64;

/// Accept connections until `shutdown` turns true. `slots` holds
/// `maxclients` permits; a connection keeps one while it lives.
pub async fn accept_loop(
    listener: TcpListener,
    slot: super::SiteSlot,
    slots: Arc<Semaphore>,
    mut shutdown: watch::Receiver<bool>,
) {
    let refusing = Arc::new(Semaphore::new(MAX_REFUSING));
    // Options and address every connection would otherwise ask for: set
    // and read once here (three system calls less per connection).
    conn::tune(socket2::SockRef::from(&listener));
    let mut known = conn::Accepted {
        tuned: false,
        local: listener
            .local_addr()
            .ok()
            .filter(|a| !a.ip().is_unspecified()),
    };
    // Whether connections inherit the options: known after the first one.
    let mut inherited = None;
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.changed() => return,
        };
        let (stream, peer) = match accepted {
            Ok((s, peer)) => (s, SocketAddr::new(peer.ip().to_canonical(), peer.port())),
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                log::error!("accept: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let site = match slot.read() {
            Ok(s) => s.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        let verdict = site
            .filter
            .as_ref()
            .map_or(Verdict::Accept, |f| f.check(&peer));
        if verdict != Verdict::Accept {
            if verdict == Verdict::Forbid
                && let Ok(p) = refusing.clone().try_acquire_owned()
            {
                tokio::spawn(async move {
                    refuse(stream, FORBIDDEN).await;
                    drop(p);
                });
            }
            continue;
        }
        match slots.clone().try_acquire_owned() {
            Ok(permit) => {
                known.tuned = *inherited.get_or_insert_with(|| stream.nodelay().unwrap_or(false));
                let site = site.clone();
                let shutdown = shutdown.clone();
                tokio::spawn(conn::serve(
                    stream,
                    peer,
                    known,
                    site,
                    shutdown,
                    conn::ConnHold::new(permit),
                ));
            }
            Err(_) => {
                log::warn!("{peer}: maxclients reached, answering 503");
                if let Ok(p) = refusing.clone().try_acquire_owned() {
                    tokio::spawn(async move {
                        refuse(stream, BUSY).await;
                        drop(p);
                    });
                }
            }
        }
    }
}

/// Send the 503, then drain what the client sends for a moment so that the
/// close does not reset the connection before the answer is read.
async fn refuse(mut stream: TcpStream, answer: &'static [u8]) {
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        stream.write_all(answer).await?;
        stream.shutdown().await?;
        let mut sink = [0u8; 1024];
        while stream.read(&mut sink).await? > 0 {}
        Ok::<_, io::Error>(())
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `accept_loop` relies on to skip two `setsockopt` per
    /// connection (and checks on its first connection anyway).
    #[test]
    fn accepted_connections_inherit_the_listeners_options() {
        let listener = bind(Some(Ipv4Addr::LOCALHOST.into()), 0).unwrap();
        conn::tune(socket2::SockRef::from(&listener));
        let addr = listener.local_addr().unwrap();
        let _client = std::net::TcpStream::connect(addr).unwrap();
        let (accepted, _) = listener.accept().unwrap();
        let s = socket2::SockRef::from(&accepted);
        assert!(s.tcp_nodelay().unwrap());
        assert_eq!(s.tcp_notsent_lowat().unwrap(), conn::NOTSENT_LOWAT);
    }
}
