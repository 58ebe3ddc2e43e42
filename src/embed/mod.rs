//! The embedding API: an application gets an HTTP server it controls, with
//! the same engine, modules and gate as the `marmoset` binary.
//!
//! It is the library face of the OpenSIPS `httpd` module: listen address and
//! port, idle timeout, request size limits, a per-worker init hook, and
//! handlers registered under root paths — without that module's weaknesses:
//! responses stream (a handler can send chunks later, at its own pace, with
//! backpressure — see [`crate::Body::channel`]), request bodies arrive as a
//! bounded stream, idle connections are closed on time.
//!
//! ```
//! use marmoset::embed::Builder;
//! use marmoset::{Body, Request, Response};
//!
//! let server = Builder::new()
//!     .addr("127.0.0.1".parse().unwrap())
//!     .port(0)
//!     .register("status", "/json", |_req: Request| async {
//!         let mut resp = Response::new(Body::from(r#"{"ok":true}"#));
//!         resp.headers_mut().insert("content-type", "application/json".parse().unwrap());
//!         Ok(resp)
//!     })
//!     .unwrap()
//!     .start()
//!     .unwrap();
//! println!("serving on {:?}", server.local_addrs());
//! server.shutdown().unwrap();
//! ```

pub mod handler;

use std::io;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

pub use handler::{ConnInfo, Handler, RegisterError, Roots};

use crate::config::{Config, ConfigError};
use crate::engine::{InitHook, Limits, Listen, Mode, Running, Server};
use crate::pipeline::{Module, RootPath};
use crate::server_info::{HttpVersion, SERVER_NAME, ServerInfo};

/// Configures and starts an embedded server.
pub struct Builder {
    addr: Option<IpAddr>,
    port: u16,
    hostname: String,
    idle_timeout: Duration,
    header_timeout: Duration,
    max_head: usize,
    max_body: u64,
    maxclients: usize,
    mode: Mode,
    init: Option<InitHook>,
    roots: Roots,
    tls: Option<TlsSettings>,
    configured: Option<Server>,
}

/// TLS settings of an embedded server (see [`Builder::tls`]).
#[derive(Clone, Debug, Default)]
struct TlsSettings {
    crtfile: String,
    keyfile: String,
    protocols: Option<String>,
    ciphers: Option<String>,
}

impl Default for Builder {
    fn default() -> Self {
        Self::new()
    }
}

impl Builder {
    /// A server on all interfaces, port 8888, idle timeout 30 s, 64 KiB
    /// request heads, 1 MiB request bodies, 1000 connections, one thread.
    pub fn new() -> Self {
        Builder {
            addr: None,
            port: 8888,
            hostname: crate::config::model::default_hostname(),
            idle_timeout: Duration::from_secs(30),
            header_timeout: Duration::from_secs(30),
            max_head: 64 * 1024,
            max_body: 1024 * 1024,
            maxclients: 1000,
            mode: Mode::Mono,
            init: None,
            roots: Roots::default(),
            tls: None,
            configured: None,
        }
    }

    /// Start from a configuration (file or string, see [`crate::config`]):
    /// its servers and modules are built, and roots registered on this
    /// builder are served by every one of them, before their own modules.
    /// The listening settings of the builder are then ignored.
    pub fn from_config(config: &Config) -> Result<Self, ConfigError> {
        Ok(Builder {
            configured: Some(Server::from_config(config, None)?),
            ..Builder::new()
        })
    }

    /// Listen address (default: all IPv6 and IPv4 interfaces).
    pub fn addr(mut self, addr: IpAddr) -> Self {
        self.addr = Some(addr);
        self
    }

    /// Listen port (default 8888; 0 lets the system choose, see
    /// [`Running::local_addrs`]).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Host name of the server (default `<machine>.local`).
    pub fn hostname(mut self, name: impl Into<String>) -> Self {
        self.hostname = name.into();
        self
    }

    /// Close connections idle for this long (default 30 s). Zero never
    /// closes idle connections.
    pub fn idle_timeout(mut self, t: Duration) -> Self {
        self.idle_timeout = t;
        self
    }

    /// Largest request head in bytes (default 64 KiB); larger get 431.
    pub fn max_head_size(mut self, n: usize) -> Self {
        self.max_head = n.max(1024);
        self
    }

    /// Largest request body in bytes (default 1 MiB); larger get 413.
    pub fn max_body_size(mut self, n: u64) -> Self {
        self.max_body = n;
        self
    }

    /// Simultaneous connections (default 1000); beyond, clients get 503.
    pub fn max_clients(mut self, n: usize) -> Self {
        self.maxclients = n.max(1);
        self
    }

    /// Concurrency mode and worker count (default [`Mode::Mono`]).
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// Run `hook` once in each worker thread before it serves.
    pub fn on_worker_start(mut self, hook: impl Fn() + Send + Sync + 'static) -> Self {
        self.init = Some(Arc::new(hook));
        self
    }

    /// Serve HTTPS only, with this PEM certificate chain and key (plain
    /// HTTP is then off, as in the OpenSIPS module).
    pub fn tls(mut self, crtfile: impl Into<String>, keyfile: impl Into<String>) -> Self {
        let t = self.tls.get_or_insert_with(TlsSettings::default);
        t.crtfile = crtfile.into();
        t.keyfile = keyfile.into();
        self
    }

    /// Allowed TLS versions, e.g. `"TLSv1.3"` (default TLS 1.2 and 1.3).
    pub fn tls_protocols(mut self, list: impl Into<String>) -> Self {
        self.tls.get_or_insert_with(TlsSettings::default).protocols = Some(list.into());
        self
    }

    /// Allowed cipher suites, IANA or OpenSSL names separated by `:`.
    pub fn tls_ciphers(mut self, list: impl Into<String>) -> Self {
        self.tls.get_or_insert_with(TlsSettings::default).ciphers = Some(list.into());
        self
    }

    /// Serve every request under `root` (longest registered root wins) with
    /// `handler`, on behalf of `module`. Registering a root twice is an
    /// error.
    pub fn register(
        mut self,
        module: &str,
        root: &str,
        handler: impl Handler,
    ) -> Result<Self, RegisterError> {
        self.roots.register(module, root, Arc::new(handler))?;
        Ok(self)
    }

    /// The registered roots with the module owning each, longest first.
    pub fn root_paths(&self) -> Vec<RootPath> {
        self.roots.paths()
    }

    /// Bind the sockets and start serving on worker threads.
    pub fn start(self) -> io::Result<Running> {
        let mode = self.mode;
        let init = self.init.clone();
        let server = self.build().map_err(io::Error::other)?;
        server.bind()?.start(mode, init)
    }

    /// The server, ready to [`Server::bind`]. Fails when the TLS files
    /// cannot be used.
    pub fn build(self) -> Result<Server, ConfigError> {
        let roots: Arc<dyn Module> = Arc::new(self.roots.clone());
        if let Some(server) = self.configured {
            return Ok(server.with_first_module(roots));
        }
        let info = Arc::new(ServerInfo {
            hostname: self.hostname.clone(),
            service: crate::config::model::default_service(&self.hostname),
            port: self.port,
            tls: self.tls.is_some(),
            version: HttpVersion::Http11,
            default_headers: [(
                http::header::SERVER,
                http::HeaderValue::from_static(SERVER_NAME),
            )]
            .into_iter()
            .collect(),
        });
        let limits = Limits {
            keep_alive: true,
            idle_timeout: Some(self.idle_timeout).filter(|t| !t.is_zero()),
            header_timeout: self.header_timeout,
            max_header: self.max_head,
            max_body: self.max_body,
            maxclients: self.maxclients,
        };
        let tls = match &self.tls {
            Some(t) => tls_acceptor(t, &info)?,
            None => None,
        };
        Ok(Server::from_listens(vec![Listen {
            addr: self.addr,
            port: self.port,
            info,
            modules: vec![roots],
            max_uri: self.max_head,
            max_headers: self.max_head,
            limits,
            tls,
            filter: None,
            vhosts: Vec::new(),
        }]))
    }
}

/// Build the TLS acceptor through the configuration loader, so that the
/// builder and configuration files share one path (and one set of checks).
fn tls_acceptor(
    t: &TlsSettings,
    info: &Arc<ServerInfo>,
) -> Result<Option<Arc<dyn crate::engine::transport::TlsAcceptor>>, ConfigError> {
    use crate::config::print::quote;
    let mut text = format!(
        "tls = {{ crtfile = {}; keyfile = {};",
        quote(&t.crtfile),
        quote(&t.keyfile)
    );
    if let Some(p) = &t.protocols {
        text.push_str(&format!(" protocols = {};", quote(p)));
    }
    if let Some(c) = &t.ciphers {
        text.push_str(&format!(" ciphers = {};", quote(c)));
    }
    text.push_str(" };");
    let top = crate::config::syntax::parse_str(
        &text,
        std::path::Path::new("<builder>"),
        std::path::Path::new("."),
    )
    .map_err(|d| ConfigError {
        diagnostics: vec![d],
    })?;
    let diag = crate::config::Diagnostics::default();
    let section = crate::config::Section::new(&top, String::new(), top_span(), &diag);
    let modules = crate::modules::ModulesConfig::from_section_of_vhost(&section);
    if diag.has_errors() {
        return Err(ConfigError {
            diagnostics: diag.into_sorted(),
        });
    }
    let env = crate::modules::BuildEnv {
        mime: Arc::new(crate::mime::MimeTable::default()),
        server: info.clone(),
    };
    modules.build_tls(&env, None).map_err(|d| ConfigError {
        diagnostics: vec![d],
    })
}

fn top_span() -> crate::config::value::Span {
    crate::config::value::Span {
        file: std::path::Path::new("<builder>").into(),
        line: 1,
        col: 1,
    }
}
