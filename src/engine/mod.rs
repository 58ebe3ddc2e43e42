//! The engine: listening sockets, connections, HTTP/0.9 sniffing, hyper, and
//! graceful shutdown.
//!
//! [`Server::from_config`] builds every module (all fallible work happens
//! there), [`Server::bind`] opens the sockets (done before privileges are
//! dropped), and [`Bound::serve`] runs until the shutdown future resolves,
//! then lets in-flight connections finish within a grace period.

pub mod conn;
pub mod http09;
pub mod listener;
pub mod rewind;

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, watch};

pub use conn::{Limits, Site};

use crate::config::{Config, ConfigError, Diagnostic, ServerConfig};
use crate::mime::MimeTable;
use crate::modules::BuildEnv;
use crate::pipeline::{Chain, Pipeline};
use crate::server_info::ServerInfo;

/// How long in-flight connections may run after a shutdown request.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// A server ready to bind: one entry per listening port.
pub struct Server {
    listens: Vec<(Option<IpAddr>, u16, Arc<Site>)>,
}

impl Server {
    /// Build every server of `config` (or only the `only`-th, 1-based).
    pub fn from_config(config: &Config, only: Option<usize>) -> Result<Server, ConfigError> {
        let mime = Arc::new(MimeTable::new(&config.mimetypes));
        let mut listens = Vec::new();
        let mut errors: Vec<Diagnostic> = Vec::new();
        for (i, s) in config.servers.iter().enumerate() {
            if only.is_some_and(|n| n != i + 1) {
                continue;
            }
            match site(s, &mime) {
                Ok(site) => listens.push((s.addr, s.port, Arc::new(site))),
                Err(e) => errors.extend(e),
            }
        }
        if !errors.is_empty() {
            return Err(ConfigError {
                diagnostics: errors,
            });
        }
        Ok(Server { listens })
    }

    /// Build a server from parts (used by the embedding API).
    pub fn from_sites(listens: Vec<(Option<IpAddr>, u16, Arc<Site>)>) -> Server {
        Server { listens }
    }

    /// Open the listening sockets.
    pub fn bind(self) -> io::Result<Bound> {
        let mut listeners = Vec::new();
        for (addr, port, site) in self.listens {
            let l = listener::bind(addr, port).map_err(|e| {
                let at = addr.map_or("*".to_string(), |a| a.to_string());
                io::Error::new(e.kind(), format!("cannot listen on {at} port {port}: {e}"))
            })?;
            listeners.push((l, site));
        }
        Ok(Bound { listeners })
    }
}

fn site(s: &ServerConfig, mime: &Arc<MimeTable>) -> Result<Site, Vec<Diagnostic>> {
    let info = Arc::new(ServerInfo {
        hostname: s.hostname.clone(),
        service: s.service.clone(),
        port: s.port,
        tls: false,
        version: s.version,
        default_headers: s.security.headers(),
    });
    let env = BuildEnv {
        mime: mime.clone(),
        server: info.clone(),
    };
    let modules = s.modules.build(&env)?;
    let pipeline = Pipeline::new(info, Chain::new(modules), s.max_uri_size);
    let limits = Limits {
        keepalive: s.keepalive_timeout,
        header_timeout: s.header_timeout,
        max_header: s.max_header_size + s.max_uri_size,
        max_body: s.max_body_size,
        maxclients: s.maxclients,
    };
    Ok(Site::new(Arc::new(pipeline), limits))
}

/// Servers with their sockets open.
pub struct Bound {
    listeners: Vec<(std::net::TcpListener, Arc<Site>)>,
}

impl Bound {
    /// The addresses actually bound (useful with port 0).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .filter_map(|(l, _)| l.local_addr().ok())
            .collect()
    }

    /// Serve until `shutdown` resolves, then stop accepting, ask every
    /// connection to finish its current response, and wait for them (at
    /// most [`SHUTDOWN_GRACE`]). Must run inside a tokio runtime.
    pub async fn serve(self, shutdown: impl Future<Output = ()>) -> io::Result<()> {
        let (tx, rx) = watch::channel(false);
        let mut slots = Vec::new();
        let mut loops = Vec::new();
        for (l, site) in self.listeners {
            let l = tokio::net::TcpListener::from_std(l)?;
            let sem = Arc::new(Semaphore::new(site.limits.maxclients));
            slots.push((sem.clone(), site.limits.maxclients));
            loops.push(tokio::spawn(listener::accept_loop(l, site, sem, rx.clone())));
        }
        shutdown.await;
        log::info!("shutting down");
        let _ = tx.send(true);
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
