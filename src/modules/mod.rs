//! The module registry: the only place outside a module that knows which
//! modules exist, which cargo feature builds each one, and in which order
//! they run inside a phase.
//!
//! A module compiled out keeps a `disabled.rs` twin with the same
//! configuration entry point, which reports the section instead of parsing
//! it. Security modules (`auth`, `userfilter`, `clientfilter`, `tls`) that
//! are configured but not available are errors, not warnings: serving
//! without the protection the configuration asks for would fail open.

use std::sync::Arc;

use crate::config::{Diagnostic, Problem, Section};
use crate::engine::transport::TlsAcceptor;
use crate::mime::MimeTable;
use crate::pipeline::Module;
use crate::server_info::ServerInfo;

#[cfg(feature = "tls")]
pub mod tls;
#[cfg(not(feature = "tls"))]
#[path = "tls/disabled.rs"]
pub mod tls;

#[cfg(feature = "document")]
pub mod document;
#[cfg(not(feature = "document"))]
#[path = "document/disabled.rs"]
pub mod document;

/// What modules may use while they are built.
pub struct BuildEnv {
    /// The MIME table (built-in plus `mimetypes`).
    pub mime: Arc<MimeTable>,
    /// The server the module belongs to.
    pub server: Arc<ServerInfo>,
}

/// The typed configuration of every module of a server.
#[derive(Debug, Default)]
pub struct ModulesConfig {
    /// `document` / `filestorage` / `static_file` instances, in file order.
    pub document: Vec<document::DocumentConfig>,
    /// `tls`.
    pub tls: Option<tls::TlsConfig>,
}

/// Sections of Ouistiti modules marmoset does not provide yet, and whether
/// ignoring them would leave the server less protected than asked.
const NOT_YET: &[(&str, bool)] = &[
    ("auth", true),
    ("userfilter", true),
    ("clientfilter", true),
    ("cors", false),
    ("redirect", false),
    ("cgi", false),
    ("python", false),
    ("websocket", false),
    ("webstream", false),
    ("upgrade", false),
    ("vhost", false),
    ("signature", false),
    ("forward", false),
];

impl ModulesConfig {
    /// Read the module sections of a server group.
    pub fn from_section(s: &Section<'_>) -> ModulesConfig {
        let mut cfg = ModulesConfig::default();
        for key in ["document", "filestorage", "static_file"] {
            for g in s.groups(key) {
                if let Some(d) = document::DocumentConfig::from_section(&g, key == "filestorage") {
                    cfg.document.push(d);
                }
                g.finish();
            }
        }
        if let Some(g) = s.group("tls") {
            cfg.tls = tls::TlsConfig::from_section(&g);
            g.finish();
        }
        for &(key, protective) in NOT_YET {
            if s.value(key).is_none() {
                continue;
            }
            let problem = Problem::BadValue(format!(
                "module `{key}` is not supported by this version of marmoset"
            ));
            if protective {
                s.error(key, problem);
            } else {
                s.warn(key, problem);
            }
        }
        cfg
    }

    /// The module sections as libconfig text, for `-C`.
    pub fn print(&self) -> Vec<(&'static str, String)> {
        let tls = self.tls.iter().map(|t| ("tls", t.print()));
        tls.chain(self.document.iter().map(|d| ("document", d.print())))
            .collect()
    }

    /// The TLS acceptor of the server, when it has a `tls` section.
    pub fn build_tls(
        &self,
        env: &BuildEnv,
        addr: Option<std::net::IpAddr>,
    ) -> Result<Option<Arc<dyn TlsAcceptor>>, Diagnostic> {
        let Some(cfg) = &self.tls else {
            return Ok(None);
        };
        let h2 = crate::engine::h2::ENABLED
            && env.server.version >= crate::server_info::HttpVersion::Http11;
        let t = tls::Tls::build(cfg, Vec::new(), env, addr, h2)?;
        Ok(Some(Arc::new(t)))
    }

    /// Build the runtime modules, in registry order.
    pub fn build(&self, env: &BuildEnv) -> Result<Vec<Arc<dyn Module>>, Vec<Diagnostic>> {
        let mut modules: Vec<Arc<dyn Module>> = Vec::new();
        let mut errors = Vec::new();
        for d in &self.document {
            match document::Document::build(d, env) {
                Ok(m) => modules.push(Arc::new(m)),
                Err(e) => errors.push(e),
            }
        }
        if errors.is_empty() {
            Ok(modules)
        } else {
            Err(errors)
        }
    }
}
