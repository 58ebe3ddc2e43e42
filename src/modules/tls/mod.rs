//! `tls`: HTTPS on rustls with the ring provider (cargo feature `tls`).
//!
//! A server with a `tls` section speaks only HTTPS on its port. Safe by
//! default: TLS 1.2 and 1.3 with AEAD suites only (rustls has nothing
//! weaker); `protocols` and `ciphers` narrow that further. The whole chain of
//! `crtfile` is sent. `cachain` enables optional client-certificate
//! verification. HTTP/2 is offered by ALPN unless the server's `version`
//! caps it below HTTP/1.1.
//!
//! Certificates are chosen per connection by a resolver (SNI), and the
//! server configuration sits behind a lock that [`Tls::reload`] swaps when
//! the files change: a renewed certificate is used by new connections while
//! established ones continue undisturbed.
//!
//! `generate = true` creates a self-signed certificate (host name,
//! `localhost`, the bind address) at `crtfile`/`keyfile` on first start, the
//! key readable by its owner only, and reuses it afterwards.

pub mod certs;
pub mod config;
pub mod suites;

use std::collections::HashMap;
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use tokio::net::TcpStream;

pub use config::TlsConfig;

use crate::config::{Diagnostic, Problem, Severity};
use crate::engine::transport::{Secured, TlsAcceptor, TlsInfo};
use crate::modules::BuildEnv;
use crate::pipeline::BoxFuture;

/// Picks the certificate: by SNI among the virtual hosts', else the
/// server's own.
#[derive(Debug)]
struct Resolver {
    default: Arc<CertifiedKey>,
    by_name: HashMap<String, Arc<CertifiedKey>>,
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let named = hello
            .server_name()
            .and_then(|n| self.by_name.get(&n.to_ascii_lowercase()));
        Some(named.unwrap_or(&self.default).clone())
    }
}

/// A TLS server configuration that can be reloaded.
pub struct Tls {
    cfg: TlsConfig,
    /// Certificates of virtual hosts, by host name.
    sni: Vec<(String, TlsConfig)>,
    h2: bool,
    current: RwLock<(Arc<ServerConfig>, Vec<Option<SystemTime>>)>,
}

impl Tls {
    /// Build from the server's section (generating the certificate when
    /// asked); `h2` offers HTTP/2 by ALPN. `sni` adds per-host certificates.
    pub fn build(
        cfg: &TlsConfig,
        sni: Vec<(String, TlsConfig)>,
        env: &BuildEnv,
        addr: Option<std::net::IpAddr>,
        h2: bool,
    ) -> Result<Tls, Diagnostic> {
        let err = |msg: String| Diagnostic {
            severity: Severity::Error,
            span: cfg.span.clone(),
            path: cfg.path.clone(),
            problem: Problem::BadValue(msg),
        };
        if cfg.generate && !cfg.crtfile.exists() {
            let addrs: Vec<_> = addr.into_iter().filter(|a| !a.is_unspecified()).collect();
            certs::generate(&cfg.crtfile, &cfg.keyfile, &env.server.hostname, &addrs)
                .map_err(err)?;
        }
        let config = server_config(cfg, &sni, h2).map_err(err)?;
        let stamps = stamps(cfg, &sni);
        Ok(Tls {
            cfg: cfg.clone(),
            sni,
            h2,
            current: RwLock::new((config, stamps)),
        })
    }
}

/// Modification times of every file a configuration reads.
fn stamps(cfg: &TlsConfig, sni: &[(String, TlsConfig)]) -> Vec<Option<SystemTime>> {
    let mut files: Vec<&PathBuf> = vec![&cfg.crtfile, &cfg.keyfile];
    files.extend(cfg.cachain.as_ref());
    for (_, c) in sni {
        files.push(&c.crtfile);
        files.push(&c.keyfile);
    }
    files
        .iter()
        .map(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
        .collect()
}

fn provider(cfg: &TlsConfig) -> Result<Arc<CryptoProvider>, String> {
    let mut provider = rustls::crypto::ring::default_provider();
    if let Some(c) = &cfg.ciphers {
        provider.cipher_suites = suites::parse_suites(c)?;
    }
    Ok(Arc::new(provider))
}

/// A fresh rustls configuration from the files.
fn server_config(
    cfg: &TlsConfig,
    sni: &[(String, TlsConfig)],
    h2: bool,
) -> Result<Arc<ServerConfig>, String> {
    let provider = provider(cfg)?;
    let versions = match &cfg.protocols {
        Some(p) => suites::parse_versions(p)?,
        None => vec![&rustls::version::TLS13, &rustls::version::TLS12],
    };
    let default = certs::load_key_pair(&cfg.crtfile, &cfg.keyfile, &provider)?;
    let mut by_name = HashMap::new();
    for (name, c) in sni {
        by_name.insert(
            name.to_ascii_lowercase(),
            certs::load_key_pair(&c.crtfile, &c.keyfile, &provider)?,
        );
    }
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| format!("the cipher suites and protocol versions do not fit together: {e}"))?;
    let builder = match &cfg.cachain {
        Some(ca) => {
            let roots = certs::load_roots(ca)?;
            let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider)
                .allow_unauthenticated()
                .build()
                .map_err(|e| format!("cachain {}: {e}", ca.display()))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_cert_resolver(Arc::new(Resolver { default, by_name }));
    config.alpn_protocols = if h2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    Ok(Arc::new(config))
}

impl TlsAcceptor for Tls {
    fn accept(&self, tcp: TcpStream) -> BoxFuture<'static, io::Result<Secured>> {
        let config = match self.current.read() {
            Ok(c) => c.0.clone(),
            Err(_) => {
                return Box::pin(std::future::ready(Err(io::Error::other(
                    "tls lock poisoned",
                ))));
            }
        };
        Box::pin(async move {
            let stream = tokio_rustls::TlsAcceptor::from(config).accept(tcp).await?;
            let (_, conn) = stream.get_ref();
            let info = TlsInfo {
                sni: conn.server_name().map(str::to_string),
                version: match conn.protocol_version() {
                    Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3",
                    Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2",
                    _ => "",
                },
                h2: conn.alpn_protocol() == Some(b"h2"),
            };
            Ok(Secured {
                io: Box::new(stream),
                info,
            })
        })
    }

    fn reload(&self) -> Result<bool, String> {
        let stamps = stamps(&self.cfg, &self.sni);
        let unchanged = self.current.read().map(|c| c.1 == stamps).unwrap_or(false);
        if unchanged {
            return Ok(false);
        }
        let config = server_config(&self.cfg, &self.sni, self.h2)?;
        let mut current = self
            .current
            .write()
            .map_err(|_| "tls lock poisoned".to_string())?;
        *current = (config, stamps);
        log::info!("reloaded the certificate of {}", self.cfg.crtfile.display());
        Ok(true)
    }
}
