//! `vhost` when the cargo feature is off: the key is reported and ignored;
//! every request is served by the server's own modules.

use std::sync::Arc;

use crate::config::{Diagnostic, Problem, Section, Severity};
use crate::engine::VhostSpec;
use crate::mime::MimeTable;
use crate::server_info::ServerInfo;

/// Never constructed.
#[derive(Debug)]
pub enum VhostConfig {}

impl VhostConfig {
    /// Unreachable.
    pub fn print(&self) -> String {
        match *self {}
    }
}

/// Report the key as not built.
pub fn vhosts_of(s: &Section<'_>) -> Vec<VhostConfig> {
    if s.value("vhost").is_some() {
        s.diagnostics().push(
            Severity::Warning,
            s.span().clone(),
            format!("{}.vhost", s.path()),
            Problem::NotBuilt {
                module: "vhost",
                feature: "vhost",
            },
        );
    }
    Vec::new()
}

/// Never matches.
pub fn matches(_hostname: Option<&str>, _service: Option<&str>, _host: &str) -> bool {
    false
}

/// Unreachable.
pub fn build(
    vh: &VhostConfig,
    _parent: &ServerInfo,
    _mime: &Arc<MimeTable>,
) -> Result<VhostSpec, Vec<Diagnostic>> {
    match *vh {}
}

/// Unreachable.
pub fn sni(vh: &VhostConfig) -> Option<(String, crate::modules::tls::TlsConfig)> {
    match *vh {}
}
