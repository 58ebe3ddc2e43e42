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
use crate::engine::VhostSpec;
use crate::engine::transport::{ConnFilter, TlsAcceptor};
use crate::mime::MimeTable;
use crate::pipeline::Module;
use crate::server_info::ServerInfo;

#[cfg(feature = "tls")]
pub mod tls;
#[cfg(not(feature = "tls"))]
#[path = "tls/disabled.rs"]
pub mod tls;

#[cfg(feature = "clientfilter")]
pub mod clientfilter;
#[cfg(not(feature = "clientfilter"))]
#[path = "clientfilter/disabled.rs"]
pub mod clientfilter;

#[cfg(feature = "cors")]
pub mod cors;
#[cfg(not(feature = "cors"))]
#[path = "cors/disabled.rs"]
pub mod cors;

#[cfg(feature = "redirect")]
pub mod redirect;
#[cfg(not(feature = "redirect"))]
#[path = "redirect/disabled.rs"]
pub mod redirect;

#[cfg(feature = "vhost")]
pub mod vhost;
#[cfg(not(feature = "vhost"))]
#[path = "vhost/disabled.rs"]
pub mod vhost;

#[cfg(feature = "auth")]
pub mod auth;
#[cfg(not(feature = "auth"))]
#[path = "auth/disabled.rs"]
pub mod auth;

#[cfg(feature = "userfilter")]
pub mod userfilter;
#[cfg(not(feature = "userfilter"))]
#[path = "userfilter/disabled.rs"]
pub mod userfilter;

#[cfg(feature = "bridge")]
pub mod bridge;

#[cfg(feature = "websocket")]
pub mod websocket;
#[cfg(not(feature = "websocket"))]
#[path = "websocket/disabled.rs"]
pub mod websocket;

#[cfg(feature = "webstream")]
pub mod webstream;
#[cfg(not(feature = "webstream"))]
#[path = "webstream/disabled.rs"]
pub mod webstream;

#[cfg(feature = "upgrade")]
pub mod upgrade;
#[cfg(not(feature = "upgrade"))]
#[path = "upgrade/disabled.rs"]
pub mod upgrade;

#[cfg(feature = "cgi")]
pub mod cgi;
#[cfg(not(feature = "cgi"))]
#[path = "cgi/disabled.rs"]
pub mod cgi;

#[cfg(feature = "python")]
pub mod python;
#[cfg(not(feature = "python"))]
#[path = "python/disabled.rs"]
pub mod python;

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
    /// `auth`: one section, or a list (a multi-factor chain, in order).
    pub auth: Vec<auth::AuthConfig>,
    /// `tls`.
    pub tls: Option<tls::TlsConfig>,
    /// `clientfilter`.
    pub clientfilter: Option<clientfilter::ClientfilterConfig>,
    /// `cors`.
    pub cors: Option<cors::CorsConfig>,
    /// `redirect`.
    pub redirect: Option<redirect::RedirectConfig>,
    /// `userfilter`.
    pub userfilter: Option<userfilter::UserfilterConfig>,
    /// `vhost` (servers only).
    pub vhosts: Vec<vhost::VhostConfig>,
    /// `websocket` instances, in file order.
    pub websocket: Vec<websocket::WebsocketConfig>,
    /// `webstream` instances, in file order.
    pub webstream: Vec<webstream::WebstreamConfig>,
    /// `upgrade` instances, in file order.
    pub upgrade: Vec<upgrade::UpgradeConfig>,
    /// `cgi` instances, in file order.
    pub cgi: Vec<cgi::CgiConfig>,
    /// `python` instances, in file order.
    pub python: Vec<python::PythonConfig>,
}

/// Sections of Ouistiti modules marmoset does not provide yet, and whether
/// ignoring them would leave the server less protected than asked.
const NOT_YET: &[(&str, bool)] = &[("signature", false), ("forward", false)];

impl ModulesConfig {
    /// Read the module sections of a server group.
    pub fn from_section(s: &Section<'_>) -> ModulesConfig {
        let mut cfg = Self::from_section_of_vhost(s);
        cfg.vhosts = vhost::vhosts_of(s);
        cfg
    }

    /// Read the module sections of a virtual host (no nested `vhost`).
    pub fn from_section_of_vhost(s: &Section<'_>) -> ModulesConfig {
        let mut cfg = ModulesConfig::default();
        for key in ["document", "filestorage", "static_file"] {
            for g in s.groups(key) {
                if let Some(d) = document::DocumentConfig::from_section(&g, key == "filestorage") {
                    cfg.document.push(d);
                }
                g.finish();
            }
        }
        for g in s.groups("auth") {
            if let Some(a) = auth::AuthConfig::from_section(&g) {
                cfg.auth.push(a);
            }
            g.finish();
        }
        if let Some(g) = s.group("tls") {
            cfg.tls = tls::TlsConfig::from_section(&g);
            g.finish();
        }
        if let Some(g) = s.group("userfilter") {
            cfg.userfilter = userfilter::UserfilterConfig::from_section(&g);
            g.finish();
        }
        if let Some(g) = s.group("cors") {
            cfg.cors = cors::CorsConfig::from_section(&g);
            g.finish();
        }
        if let Some(g) = s.group("redirect") {
            cfg.redirect = redirect::RedirectConfig::from_section(&g);
            g.finish();
        }
        if let Some(g) = s.group("clientfilter") {
            cfg.clientfilter = clientfilter::ClientfilterConfig::from_section(&g);
            g.finish();
        }
        for g in s.groups("websocket") {
            cfg.websocket
                .extend(websocket::WebsocketConfig::from_section(&g));
            g.finish();
        }
        for g in s.groups("webstream") {
            cfg.webstream
                .extend(webstream::WebstreamConfig::from_section(&g));
            g.finish();
        }
        for g in s.groups("upgrade") {
            cfg.upgrade.extend(upgrade::UpgradeConfig::from_section(&g));
            g.finish();
        }
        for g in s.groups("cgi") {
            cfg.cgi.extend(cgi::CgiConfig::from_section(&g, s));
            g.finish();
        }
        for g in s.groups("python") {
            cfg.python.extend(python::PythonConfig::from_section(&g));
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
        let tls = tls.chain(
            self.clientfilter
                .iter()
                .map(|c| ("clientfilter", c.print())),
        );
        let tls = tls.chain(self.cors.iter().map(|c| ("cors", c.print())));
        let tls = tls.chain(self.redirect.iter().map(|c| ("redirect", c.print())));
        let tls = tls.chain(self.userfilter.iter().map(|c| ("userfilter", c.print())));
        let vhosts = list_or_group("vhost", self.vhosts.iter().map(|v| v.print()).collect());
        let tls = tls.chain(vhosts);
        let tls = tls.chain(auth::AuthConfig::print_all(&self.auth).map(|a| ("auth", a)));
        let bridges = [
            (
                "websocket",
                self.websocket.iter().map(|c| c.print()).collect(),
            ),
            ("upgrade", self.upgrade.iter().map(|c| c.print()).collect()),
            (
                "webstream",
                self.webstream.iter().map(|c| c.print()).collect(),
            ),
        ];
        let tls = tls.chain(bridges.into_iter().filter_map(|(k, v)| list_or_group(k, v)));
        let tls = tls.chain(self.cgi.iter().map(|c| ("cgi", c.print())));
        let tls = tls.chain(self.python.iter().map(|c| ("python", c.print())));
        let documents = self.document.iter().map(|d| d.print()).collect();
        tls.chain(list_or_group("document", documents)).collect()
    }

    /// The connection filter of the server, when it has a `clientfilter`.
    pub fn build_conn_filter(&self) -> Option<Arc<dyn ConnFilter>> {
        self.clientfilter
            .as_ref()
            .map(|c| Arc::new(clientfilter::Clientfilter::new(c)) as Arc<dyn ConnFilter>)
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
        let sni = self.vhosts.iter().filter_map(vhost::sni).collect();
        let t = tls::Tls::build(cfg, sni, env, addr, h2)?;
        Ok(Some(Arc::new(t)))
    }

    /// Build the virtual hosts of a server described by `parent`.
    pub fn build_vhosts(
        &self,
        parent: &ServerInfo,
        mime: &Arc<MimeTable>,
    ) -> Result<Vec<VhostSpec>, Vec<Diagnostic>> {
        let mut out = Vec::new();
        let mut errors = Vec::new();
        for v in &self.vhosts {
            match vhost::build(v, parent, mime) {
                Ok(spec) => out.push(spec),
                Err(e) => errors.extend(e),
            }
        }
        if errors.is_empty() {
            Ok(out)
        } else {
            Err(errors)
        }
    }

    /// Build the runtime modules, in registry order.
    // With optional modules compiled out, their (uninhabited) configs make
    // the matching arms unreachable.
    #[allow(unreachable_code)]
    pub fn build(&self, env: &BuildEnv) -> Result<Vec<Arc<dyn Module>>, Vec<Diagnostic>> {
        let mut modules: Vec<Arc<dyn Module>> = Vec::new();
        let mut errors = Vec::new();
        if !self.auth.is_empty() {
            match auth::Auth::build(&self.auth, env) {
                Ok(m) => modules.push(Arc::new(m)),
                Err(e) => errors.extend(e),
            }
        }
        if let Some(c) = &self.cors {
            modules.push(Arc::new(cors::Cors::new(c, &env.server.hostname)));
        }
        if let Some(u) = &self.userfilter {
            match userfilter::Userfilter::build(u) {
                Ok(m) => modules.push(Arc::new(m)),
                Err(e) => errors.push(e),
            }
        }
        if let Some(r) = &self.redirect {
            match redirect::Redirect::build(r, env) {
                Ok(m) => modules.push(Arc::new(m)),
                Err(e) => errors.push(e),
            }
        }
        for c in &self.websocket {
            match websocket::Websocket::build(c, env) {
                Ok(m) => modules.push(Arc::new(m)),
                Err(e) => errors.push(e),
            }
        }
        for c in &self.upgrade {
            match upgrade::Upgrade::build(c, env) {
                Ok(m) => modules.push(Arc::new(m)),
                Err(e) => errors.push(e),
            }
        }
        for c in &self.webstream {
            match webstream::Webstream::build(c, env) {
                Ok(m) => modules.push(Arc::new(m)),
                Err(e) => errors.push(e),
            }
        }
        for c in &self.cgi {
            match cgi::Cgi::build(c, env) {
                Ok(m) => modules.push(Arc::new(m)),
                Err(e) => errors.push(e),
            }
        }
        for c in &self.python {
            match python::PythonModule::build(c, env) {
                Ok(m) => modules.push(Arc::new(m)),
                Err(e) => errors.push(e),
            }
        }
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

/// Several instances of a section printed as one list, one as a group.
fn list_or_group(key: &'static str, items: Vec<String>) -> Option<(&'static str, String)> {
    match items.len() {
        0 => None,
        1 => items.into_iter().next().map(|g| (key, g)),
        _ => Some((key, format!("( {} )", items.join(", ")))),
    }
}

/// Run `f` with `dir` as the working directory (Ouistiti's `root` key:
/// relative module paths resolve against it), then return to the previous
/// one. Only called while the configuration is built, before any thread
/// serves.
pub fn in_dir<T>(dir: Option<&std::path::Path>, f: impl FnOnce() -> T) -> std::io::Result<T> {
    let Some(dir) = dir else {
        return Ok(f());
    };
    let back = std::env::current_dir()?;
    std::env::set_current_dir(dir)
        .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", dir.display())))?;
    let out = f();
    std::env::set_current_dir(back)?;
    Ok(out)
}
