//! The `tls` module when the cargo feature `tls` is off: a configured `tls`
//! section is an error, since serving plain HTTP where HTTPS was asked for
//! would fail open.

use crate::config::{Diagnostic, Section, Severity};
use crate::engine::transport::TlsAcceptor;
use crate::modules::BuildEnv;

/// Stand-in for the parsed section; never constructed.
#[derive(Debug, Clone)]
pub enum TlsConfig {}

impl TlsConfig {
    /// Report the section as not built.
    pub fn from_section(s: &Section<'_>) -> Option<TlsConfig> {
        s.not_built("tls", Severity::Error);
        None
    }

    /// Unreachable.
    pub fn print(&self) -> String {
        match *self {}
    }
}

/// Never constructed.
pub enum Tls {}

impl Tls {
    /// Unreachable: no `TlsConfig` is ever produced.
    pub fn build(
        cfg: &TlsConfig,
        _sni: Vec<(String, TlsConfig)>,
        _env: &BuildEnv,
        _addr: Option<std::net::IpAddr>,
        _h2: bool,
    ) -> Result<Tls, Diagnostic> {
        match *cfg {}
    }
}

impl TlsAcceptor for Tls {
    fn accept(
        &self,
        _tcp: tokio::net::TcpStream,
    ) -> crate::pipeline::BoxFuture<'static, std::io::Result<crate::engine::transport::Secured>>
    {
        match *self {}
    }

    fn reload(&self) -> Result<bool, String> {
        match *self {}
    }
}
