//! Servers with their sockets open: serving in the caller's runtime or on
//! worker threads, graceful shutdown, and reloads while serving.

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::{Semaphore, watch};

use super::{InitHook, Mode, SHUTDOWN_GRACE, Server, Site, listener};
use crate::pipeline::RootPath;

/// The current site of a listening socket: replaced as a whole by a
/// configuration reload, while connections keep the site they started with.
pub type SiteSlot = Arc<RwLock<Arc<Site>>>;

/// A listening socket, its configured address and its site.
pub(crate) struct Listener {
    pub(crate) sock: std::net::TcpListener,
    pub(crate) key: (Option<IpAddr>, u16),
    pub(crate) slot: SiteSlot,
}

/// Servers with their sockets open.
pub struct Bound {
    listeners: Vec<Listener>,
}

/// A shareable copy of the sockets and connection slots, one per worker.
struct Shared {
    listeners: Vec<(std::net::TcpListener, SiteSlot, Arc<Semaphore>)>,
}

/// The site a slot holds now.
pub fn current(slot: &SiteSlot) -> Arc<Site> {
    match slot.read() {
        Ok(s) => s.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    }
}

impl Shared {
    fn try_clone(&self) -> io::Result<Shared> {
        let mut listeners = Vec::new();
        for (l, slot, sem) in &self.listeners {
            listeners.push((l.try_clone()?, slot.clone(), sem.clone()));
        }
        Ok(Shared { listeners })
    }

    /// Accept until `shutdown` turns true, then wait (bounded) for every
    /// connection of every worker to finish.
    async fn serve(self, shutdown: watch::Receiver<bool>) -> io::Result<()> {
        let mut loops = Vec::new();
        let mut slots = Vec::new();
        for (l, slot, sem) in self.listeners {
            let l = tokio::net::TcpListener::from_std(l)?;
            slots.push((sem.clone(), current(&slot).limits.maxclients));
            loops.push(tokio::spawn(listener::accept_loop(
                l,
                slot,
                sem,
                shutdown.clone(),
            )));
        }
        for l in loops {
            let _ = l.await;
        }
        let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
            for (sem, n) in &slots {
                let _ = sem.acquire_many(*n as u32).await;
            }
        })
        .await;
        if drained.is_err() {
            log::warn!("connections still open after {SHUTDOWN_GRACE:?}, closing them");
        }
        Ok(())
    }
}

impl Bound {
    pub(crate) fn new(listeners: Vec<Listener>) -> Bound {
        Bound { listeners }
    }

    /// The addresses actually bound (useful with port 0).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .filter_map(|l| l.sock.local_addr().ok())
            .collect()
    }

    /// Every root served, per listening address.
    pub fn roots(&self) -> Vec<(SocketAddr, Vec<RootPath>)> {
        self.listeners
            .iter()
            .filter_map(|l| Some((l.sock.local_addr().ok()?, current(&l.slot).pipeline.roots())))
            .collect()
    }

    /// The sockets and their sites, for a caller that runs its own accept
    /// loop (the binary's process-per-connection mode).
    pub fn into_listeners(self) -> Vec<(std::net::TcpListener, SiteSlot)> {
        self.listeners
            .into_iter()
            .map(|l| (l.sock, l.slot))
            .collect()
    }

    /// A handle that reloads certificates and configurations while serving.
    pub fn reloader(&self) -> Reloader {
        Reloader(
            self.listeners
                .iter()
                .map(|l| (l.key, l.slot.clone()))
                .collect(),
        )
    }

    fn shared(self) -> Shared {
        Shared {
            listeners: self
                .listeners
                .into_iter()
                .map(|l| {
                    let sem = Arc::new(Semaphore::new(current(&l.slot).limits.maxclients));
                    (l.sock, l.slot, sem)
                })
                .collect(),
        }
    }

    /// Serve in the current tokio runtime until `shutdown` resolves, then
    /// stop accepting, ask every connection to finish its current response,
    /// and wait for them (at most [`SHUTDOWN_GRACE`]).
    pub async fn serve(self, shutdown: impl Future<Output = ()>) -> io::Result<()> {
        let (tx, rx) = watch::channel(false);
        let shared = self.shared();
        let serving = shared.serve(rx);
        tokio::pin!(serving);
        tokio::select! {
            r = serving.as_mut() => return r,
            _ = shutdown => {}
        }
        log::info!("shutting down");
        let _ = tx.send(true);
        serving.await
    }

    /// Start serving on worker threads of their own, as `mode` says, running
    /// `init` once in each before it serves. Returns at once with a handle.
    pub fn start(self, mode: Mode, init: Option<InitHook>) -> io::Result<Running> {
        let addrs = self.local_addrs();
        let (tx, rx) = watch::channel(false);
        let shared = self.shared();
        let mut workers = Vec::new();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        for i in 0..mode.workers() {
            let part = shared.try_clone()?;
            let rx = rx.clone();
            let init = init.clone();
            let ready = ready_tx.clone();
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let worker = std::thread::Builder::new()
                .name(format!("marmoset-{i}"))
                .spawn(move || {
                    if let Some(init) = init {
                        init();
                    }
                    let _ = ready.send(());
                    rt.block_on(part.serve(rx))
                })?;
            workers.push(worker);
        }
        // Return once every worker has run its init hook.
        drop(ready_tx);
        for _ in 0..workers.len() {
            if ready_rx.recv().is_err() {
                break;
            }
        }
        Ok(Running {
            addrs,
            shutdown: tx,
            workers,
        })
    }
}

/// Reloads certificates and configurations while serving (SIGHUP, or a
/// certificate file that changed).
#[derive(Clone)]
pub struct Reloader(Vec<((Option<IpAddr>, u16), SiteSlot)>);

impl Reloader {
    /// Reload every certificate whose files changed.
    pub fn reload(&self) {
        for (_, slot) in &self.0 {
            if let Some(t) = current(slot).tls.clone()
                && let Err(e) = t.reload()
            {
                log::error!("certificate reload failed, keeping the current one: {e}");
            }
        }
    }

    /// Serve a new configuration: each listening server (matched by its
    /// configured address and port) gets the new modules for its next
    /// connections; established connections finish with the old ones.
    /// Servers added or removed need a restart (they are reported).
    pub fn replace(&self, server: Server) {
        let mut sites = server.into_sites();
        for (key, slot) in &self.0 {
            match sites.iter().position(|(k, _)| k == key) {
                Some(i) => {
                    let (_, site) = sites.remove(i);
                    match slot.write() {
                        Ok(mut s) => *s = Arc::new(site),
                        Err(poisoned) => *poisoned.into_inner() = Arc::new(site),
                    }
                }
                None => log::warn!(
                    "reload: the server on port {} is no longer configured; it keeps serving until a restart",
                    key.1
                ),
            }
        }
        for ((_, port), _) in sites {
            log::warn!("reload: a new server on port {port} needs a restart");
        }
    }

    /// Check the certificate files every `period` from a background thread.
    pub fn watch(self, period: Duration) {
        if !self.0.iter().any(|(_, s)| current(s).tls.is_some()) {
            return;
        }
        let _ = std::thread::Builder::new()
            .name("cert-watch".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(period);
                    self.reload();
                }
            });
    }
}

/// Servers running on their own threads.
pub struct Running {
    addrs: Vec<SocketAddr>,
    shutdown: watch::Sender<bool>,
    workers: Vec<std::thread::JoinHandle<io::Result<()>>>,
}

impl Running {
    /// The addresses the servers listen on.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// Stop gracefully: no new connections, in-flight responses finish (at
    /// most [`SHUTDOWN_GRACE`]); returns when every worker has stopped.
    pub fn shutdown(self) -> io::Result<()> {
        let _ = self.shutdown.send(true);
        self.join()
    }

    /// Wait until the servers stop (after [`Running::stopper`] was used).
    pub fn join(self) -> io::Result<()> {
        let mut result = Ok(());
        for w in self.workers {
            match w.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => result = Err(e),
                Err(_) => result = Err(io::Error::other("a worker thread panicked")),
            }
        }
        result
    }

    /// A handle that stops the servers from anywhere (a signal handler, an
    /// other thread).
    pub fn stopper(&self) -> Stopper {
        Stopper(self.shutdown.clone())
    }
}

/// Stops running servers when [`Stopper::stop`] is called.
#[derive(Clone)]
pub struct Stopper(watch::Sender<bool>);

impl Stopper {
    /// Ask the servers to stop gracefully.
    pub fn stop(&self) {
        let _ = self.0.send(true);
    }
}
