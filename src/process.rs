//! Process mode: one child process per connection, as Ouistiti's reference
//! build serves. A crash in one connection's process takes only that
//! connection; the parent only accepts and forks.
//!
//! The parent runs no async runtime and no thread (so `fork` is safe): it
//! polls the listening sockets, forks a child per accepted connection, and
//! reaps children. `maxclients` bounds the number of children per server;
//! beyond, clients get 503. The child builds a one-thread runtime and
//! serves the connection with the same engine as the other modes, then
//! exits. SIGTERM stops accepting and waits (10 s at most) for the children;
//! SIGHUP reloads the configuration for the next connections.

use std::io::Write;
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use marmoset::engine::listener::BUSY;
use marmoset::engine::{Reloader, SHUTDOWN_GRACE, SiteSlot, bound::current};

use crate::sys;

/// Serve `listeners` until SIGTERM/SIGINT; `on_hup` runs on SIGHUP.
pub fn serve(
    listeners: Vec<(std::net::TcpListener, SiteSlot)>,
    reloader: Reloader,
    on_hup: impl Fn(&Reloader),
) {
    sys::install_flag_handlers();
    let fds: Vec<i32> = listeners.iter().map(|(l, _)| l.as_raw_fd()).collect();
    let mut children: Vec<(i32, usize)> = Vec::new();
    while !sys::STOP.load(Ordering::SeqCst) {
        if sys::HUP.swap(false, Ordering::SeqCst) {
            on_hup(&reloader);
        }
        while let Some(pid) = sys::reap() {
            children.retain(|(p, _)| *p != pid);
        }
        log::logger().flush();
        let ready = sys::poll_readable(&fds, 200);
        for (i, (listener, slot)) in listeners.iter().enumerate() {
            if ready[i] {
                accept_one(i, listener, slot, &listeners, &mut children);
            }
        }
    }
    log::info!("shutting down");
    let deadline = Instant::now() + SHUTDOWN_GRACE;
    while !children.is_empty() && Instant::now() < deadline {
        while let Some(pid) = sys::reap() {
            children.retain(|(p, _)| *p != pid);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    for (pid, _) in &children {
        let _ = sys::kill(*pid, libc::SIGTERM);
    }
}

fn accept_one(
    index: usize,
    listener: &std::net::TcpListener,
    slot: &SiteSlot,
    all: &[(std::net::TcpListener, SiteSlot)],
    children: &mut Vec<(i32, usize)>,
) {
    let (mut stream, peer) = match listener.accept() {
        Ok(a) => a,
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
        Err(e) => {
            log::error!("accept: {e}");
            std::thread::sleep(Duration::from_millis(100));
            return;
        }
    };
    let site = current(slot);
    if children.iter().filter(|(_, i)| *i == index).count() >= site.limits().maxclients {
        log::warn!("{peer}: maxclients reached, answering 503");
        let _ = stream.write_all(BUSY);
        return;
    }
    log::logger().flush();
    match sys::fork() {
        Ok(0) => {
            for (l, _) in all {
                sys::close(l.as_raw_fd());
            }
            sys::default_signals();
            let code = child(stream, peer, site);
            log::logger().flush();
            std::process::exit(code);
        }
        Ok(pid) => children.push((pid, index)),
        Err(e) => log::error!("fork: {e}"),
    }
}

/// In the child: serve the one connection, then exit.
fn child(
    stream: std::net::TcpStream,
    peer: std::net::SocketAddr,
    site: std::sync::Arc<marmoset::engine::Site>,
) -> i32 {
    // One connection per process: inotify would cost more than it saves.
    marmoset::open_cache::watch_changes(false);
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return 1;
    };
    rt.block_on(async move {
        if stream.set_nonblocking(true).is_err() {
            return 1;
        }
        let Ok(stream) = tokio::net::TcpStream::from_std(stream) else {
            return 1;
        };
        let peer = std::net::SocketAddr::new(peer.ip().to_canonical(), peer.port());
        if site.check_peer(&peer) != marmoset::engine::transport::Verdict::Accept {
            return 0;
        }
        let (_tx, rx) = tokio::sync::watch::channel(false);
        let token = std::sync::Arc::new(());
        let hold = marmoset::engine::conn::ConnHold::new(token.clone());
        let accepted = marmoset::engine::conn::Accepted::default();
        marmoset::engine::conn::serve(stream, peer, accepted, site, rx, hold).await;
        // An upgraded connection (WebSocket, Upgrade bridge) lives on in
        // its own task: stay until it is done.
        while std::sync::Arc::strong_count(&token) > 1 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        0
    })
}
