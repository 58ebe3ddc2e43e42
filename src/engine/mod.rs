//! The engine: listening sockets, connections, HTTP/0.9 sniffing, hyper, and
//! graceful shutdown.
//!
//! [`Server::from_config`] builds every module (all fallible work happens
//! there), [`Server::bind`] opens the sockets (done before privileges are
//! dropped), and [`Bound::serve`] runs until the shutdown future resolves,
//! then lets in-flight connections finish within a grace period.

pub mod conn;
#[cfg(feature = "http2")]
pub mod h2;
#[cfg(not(feature = "http2"))]
#[path = "h2_disabled.rs"]
pub mod h2;
pub mod http09;
pub mod listener;
pub mod mode;
pub mod rewind;
pub mod transport;

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, watch};

pub use conn::{Limits, Site};
pub use mode::{InitHook, Mode};

use crate::config::{Config, ConfigError, Diagnostic, ServerConfig};
use crate::mime::MimeTable;
use crate::modules::{BuildEnv, in_dir};
use crate::pipeline::{Chain, Module, Pipeline, RootPath};
use crate::server_info::ServerInfo;

/// How long in-flight connections may run after a shutdown request.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// A server ready to bind: one entry per listening port.
pub struct Server {
    listens: Vec<Listen>,
}

/// One listening server before its sockets are opened.
pub struct Listen {
    /// Bind address (`None`: all interfaces).
    pub addr: Option<IpAddr>,
    /// Port (0: chosen by the system).
    pub port: u16,
    /// The server's identity.
    pub info: Arc<ServerInfo>,
    /// Its modules, in registry order.
    pub modules: Vec<Arc<dyn Module>>,
    /// Longest request target (414 past it).
    pub max_uri: usize,
    /// Largest header block (431 past it).
    pub max_headers: usize,
    /// Connection limits.
    pub limits: Limits,
    /// TLS, when the server has a `tls` section.
    pub tls: Option<Arc<dyn transport::TlsAcceptor>>,
    /// Decides on connections before their first byte (`clientfilter`).
    pub filter: Option<Arc<dyn transport::ConnFilter>>,
    /// Virtual hosts, tried in order before the server's own modules.
    pub vhosts: Vec<VhostSpec>,
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
            match listen(s, &mime) {
                Ok(l) => listens.push(l),
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

    /// A server from explicit parts (used by the embedding API).
    pub fn from_listens(listens: Vec<Listen>) -> Server {
        Server { listens }
    }

    /// Put `module` first among the modules of every server.
    pub fn with_first_module(mut self, module: Arc<dyn Module>) -> Server {
        for l in &mut self.listens {
            l.modules.insert(0, module.clone());
        }
        self
    }

    /// Every root served, per configured server, and per virtual host.
    pub fn roots(&self) -> Vec<ServerRoots> {
        let roots = |m: &[Arc<dyn Module>]| m.iter().flat_map(|m| m.roots()).collect();
        self.listens
            .iter()
            .map(|l| ServerRoots {
                addr: l.addr,
                port: l.port,
                info: l.info.clone(),
                roots: roots(&l.modules),
                vhosts: l
                    .vhosts
                    .iter()
                    .map(|v| (v.info.clone(), roots(&v.modules)))
                    .collect(),
            })
            .collect()
    }

    /// Open the listening sockets.
    pub fn bind(self) -> io::Result<Bound> {
        self.bind_inherited(Vec::new())
    }

    /// Open the listening sockets, using `inherited` ones (systemd socket
    /// activation) for the first servers, in order.
    pub fn bind_inherited(self, inherited: Vec<std::net::TcpListener>) -> io::Result<Bound> {
        let mut listeners = Vec::new();
        let mut inherited = inherited.into_iter();
        for l in self.listens {
            let (addr, port) = (l.addr, l.port);
            let sock = match inherited.next() {
                Some(sock) => {
                    sock.set_nonblocking(true)?;
                    sock
                }
                None => listener::bind(addr, port).map_err(|e| {
                    let at = addr.map_or("*".to_string(), |a| a.to_string());
                    io::Error::new(e.kind(), format!("cannot listen on {at} port {port}: {e}"))
                })?,
            };
            let pipeline = Pipeline::new(l.info, Chain::new(l.modules), l.max_uri, l.max_headers);
            let mut site = Site::new(Arc::new(pipeline), l.limits, l.tls);
            site.filter = l.filter;
            site.vhosts = l
                .vhosts
                .into_iter()
                .map(|v| {
                    let p = Pipeline::new(v.info, Chain::new(v.modules), l.max_uri, l.max_headers);
                    conn::Vhost {
                        hostname: v.hostname,
                        service: v.service,
                        pipeline: Arc::new(p),
                    }
                })
                .collect();
            listeners.push((sock, Arc::new(site)));
        }
        Ok(Bound { listeners })
    }
}

fn listen(s: &ServerConfig, mime: &Arc<MimeTable>) -> Result<Listen, Vec<Diagnostic>> {
    let info = Arc::new(ServerInfo {
        hostname: s.hostname.clone(),
        service: s.service.clone(),
        port: s.port,
        tls: s.modules.tls.is_some(),
        version: s.version,
        default_headers: s.security.headers(),
    });
    let env = BuildEnv {
        mime: mime.clone(),
        server: info.clone(),
    };
    let modules = in_dir(s.root.as_deref(), || s.modules.build(&env)).map_err(|e| {
        vec![Diagnostic {
            severity: crate::config::Severity::Error,
            span: s.span.clone(),
            path: "root".into(),
            problem: crate::config::Problem::Io(e.to_string()),
        }]
    })??;
    let vhosts = s.modules.build_vhosts(&info, mime)?;
    let tls = s.modules.build_tls(&env, s.addr).map_err(|e| vec![e])?;
    let limits = Limits {
        keep_alive: !s.keepalive_timeout.is_zero(),
        idle_timeout: Some(s.keepalive_timeout),
        header_timeout: s.header_timeout,
        max_header: s.max_header_size + s.max_uri_size,
        max_body: s.max_body_size,
        maxclients: s.maxclients,
    };
    Ok(Listen {
        addr: s.addr,
        port: s.port,
        info,
        modules,
        max_uri: s.max_uri_size,
        max_headers: s.max_header_size,
        limits,
        tls,
        filter: s.modules.build_conn_filter(),
        vhosts,
    })
}

/// The roots a configured server serves (`--list-roots`).
pub struct ServerRoots {
    /// Bind address.
    pub addr: Option<IpAddr>,
    /// Port.
    pub port: u16,
    /// The server.
    pub info: Arc<ServerInfo>,
    /// Its own modules' roots.
    pub roots: Vec<RootPath>,
    /// Each virtual host with its roots.
    pub vhosts: Vec<(Arc<ServerInfo>, Vec<RootPath>)>,
}

/// A virtual host before its pipeline is built.
pub struct VhostSpec {
    /// `hostname` to match.
    pub hostname: Option<String>,
    /// `service` to match when there is no `hostname`.
    pub service: Option<String>,
    /// Its identity.
    pub info: Arc<ServerInfo>,
    /// Its modules.
    pub modules: Vec<Arc<dyn Module>>,
}

/// Servers with their sockets open.
pub struct Bound {
    listeners: Vec<(std::net::TcpListener, Arc<Site>)>,
}

/// A shareable copy of the sockets and connection slots, one per worker.
struct Shared {
    listeners: Vec<(std::net::TcpListener, Arc<Site>, Arc<Semaphore>)>,
}

impl Shared {
    fn try_clone(&self) -> io::Result<Shared> {
        let mut listeners = Vec::new();
        for (l, site, sem) in &self.listeners {
            listeners.push((l.try_clone()?, site.clone(), sem.clone()));
        }
        Ok(Shared { listeners })
    }

    /// Accept until `shutdown` turns true, then wait (bounded) for every
    /// connection of every worker to finish.
    async fn serve(self, shutdown: watch::Receiver<bool>) -> io::Result<()> {
        let mut loops = Vec::new();
        let mut slots = Vec::new();
        for (l, site, sem) in self.listeners {
            let l = tokio::net::TcpListener::from_std(l)?;
            slots.push((sem.clone(), site.limits.maxclients));
            loops.push(tokio::spawn(listener::accept_loop(
                l,
                site,
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
    /// The addresses actually bound (useful with port 0).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .filter_map(|(l, _)| l.local_addr().ok())
            .collect()
    }

    /// Every root served, per listening address.
    pub fn roots(&self) -> Vec<(SocketAddr, Vec<RootPath>)> {
        self.listeners
            .iter()
            .filter_map(|(l, site)| Some((l.local_addr().ok()?, site.pipeline.roots())))
            .collect()
    }

    /// Reload the certificates of every TLS server whose files changed;
    /// errors are logged and the old certificates stay in use.
    pub fn reloader(&self) -> Reloader {
        Reloader(
            self.listeners
                .iter()
                .filter_map(|(_, site)| site.tls.clone())
                .collect(),
        )
    }

    fn shared(self) -> Shared {
        Shared {
            listeners: self
                .listeners
                .into_iter()
                .map(|(l, site)| {
                    let sem = Arc::new(Semaphore::new(site.limits.maxclients));
                    (l, site, sem)
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

/// Reloads TLS certificates (on SIGHUP, or when their files change).
#[derive(Clone)]
pub struct Reloader(Vec<Arc<dyn transport::TlsAcceptor>>);

impl Reloader {
    /// Reload every certificate whose files changed.
    pub fn reload(&self) {
        for t in &self.0 {
            if let Err(e) = t.reload() {
                log::error!("certificate reload failed, keeping the current one: {e}");
            }
        }
    }

    /// Whether there is anything to reload.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Check the certificate files every `period` from a background thread.
    pub fn watch(self, period: Duration) {
        if self.is_empty() {
            return;
        }
        let _ = std::thread::Builder::new()
            .name("cert-watch".into())
            .spawn(move || loop {
                std::thread::sleep(period);
                self.reload();
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
