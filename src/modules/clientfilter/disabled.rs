//! `clientfilter` when the cargo feature is off: a configured section is an
//! error (refused clients would otherwise be served).

use crate::config::{Section, Severity};
use crate::engine::transport::{ConnFilter, Verdict};

/// Never constructed.
#[derive(Debug, Clone)]
pub enum ClientfilterConfig {}

impl ClientfilterConfig {
    /// Report the section as not built.
    pub fn from_section(s: &Section<'_>) -> Option<ClientfilterConfig> {
        s.not_built("clientfilter", Severity::Error);
        None
    }

    /// Unreachable.
    pub fn print(&self) -> String {
        match *self {}
    }
}

/// Never constructed.
pub enum Clientfilter {}

impl Clientfilter {
    /// Unreachable.
    pub fn new(cfg: &ClientfilterConfig) -> Clientfilter {
        match *cfg {}
    }
}

impl ConnFilter for Clientfilter {
    fn check(&self, _peer: &std::net::SocketAddr) -> Verdict {
        match *self {}
    }
}
