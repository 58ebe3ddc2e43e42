//! The engine: listening sockets, connections, HTTP/0.9 sniffing, HTTP/1
//! (marmoset's own, [`h1`]), HTTP/2 (hyper, [`h2`]), and graceful shutdown.
//!
//! [`Server::from_config`] builds every module (all fallible work happens
//! there), [`Server::bind`] opens the sockets (done before privileges are
//! dropped), and [`Bound::serve`] runs until the shutdown future resolves,
//! then lets in-flight connections finish within a grace period.

pub mod bound;
pub mod conn;
pub mod h1;
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
pub mod upgrade;

use std::io;
use std::net::IpAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

pub use bound::{Bound, Reloader, Running, SiteSlot, Stopper};
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
            let key = (l.addr, l.port);
            let slot = Arc::new(RwLock::new(Arc::new(l.into_site())));
            listeners.push(bound::Listener { sock, key, slot });
        }
        Ok(Bound::new(listeners))
    }

    /// The sites of this server without opening sockets, keyed by their
    /// configured address and port (for a configuration reload).
    pub(crate) fn into_sites(self) -> Vec<((Option<IpAddr>, u16), Site)> {
        self.listens
            .into_iter()
            .map(|l| ((l.addr, l.port), l.into_site()))
            .collect()
    }
}

impl Listen {
    /// Build the pipelines of the server and of its virtual hosts.
    fn into_site(self) -> Site {
        let pipeline = Pipeline::new(
            self.info,
            Chain::new(self.modules),
            self.max_uri,
            self.max_headers,
        );
        let mut site = Site::new(Arc::new(pipeline), self.limits, self.tls);
        site.filter = self.filter;
        let (max_uri, max_headers) = (self.max_uri, self.max_headers);
        site.vhosts = self
            .vhosts
            .into_iter()
            .map(|v| {
                let pipeline = Pipeline::new(v.info, Chain::new(v.modules), max_uri, max_headers);
                conn::Vhost::new(v.hostname, v.service, Arc::new(pipeline))
            })
            .collect();
        site
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
