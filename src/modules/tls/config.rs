//! The `tls` section of a server.

use std::path::PathBuf;

use crate::config::{Problem, Section, value::Span};

/// Parsed `tls = { … }`.
#[derive(Debug, Clone)]
pub struct TlsConfig {
    /// Where the section is written.
    pub span: Span,
    /// Its key path (`servers[0].tls`).
    pub path: String,
    /// `crtfile`: certificate chain, PEM, leaf first.
    pub crtfile: PathBuf,
    /// `keyfile`: private key, PEM (PKCS#8, PKCS#1 RSA or SEC1 EC).
    pub keyfile: PathBuf,
    /// `cachain`: CA certificates to verify client certificates with
    /// (optional: clients without a certificate are still accepted).
    pub cachain: Option<PathBuf>,
    /// `ciphers` (marmoset): allowed suites, in preference order.
    pub ciphers: Option<String>,
    /// `protocols` (marmoset): allowed versions (`TLSv1.2`, `TLSv1.3`).
    pub protocols: Option<String>,
    /// `generate` (marmoset): create a self-signed certificate and key at
    /// `crtfile`/`keyfile` when `crtfile` does not exist.
    pub generate: bool,
}

impl TlsConfig {
    /// Read the section; `None` (with errors recorded) when unusable.
    pub fn from_section(s: &Section<'_>) -> Option<TlsConfig> {
        if s.value("dhmfile").is_some() {
            s.warn(
                "dhmfile",
                Problem::BadValue(
                    "ignored: marmoset uses ECDHE key exchange only, DH parameters are not needed"
                        .into(),
                ),
            );
        }
        let crtfile = s.str("crtfile");
        let keyfile = s.str("keyfile");
        let cfg = TlsConfig {
            span: s.span().clone(),
            path: s.path().to_string(),
            crtfile: PathBuf::new(),
            keyfile: PathBuf::new(),
            cachain: s.str("cachain").map(PathBuf::from),
            ciphers: s.str("ciphers"),
            protocols: s.str("protocols"),
            generate: s.bool("generate").unwrap_or(false),
        };
        if let Some(c) = &cfg.ciphers
            && let Err(e) = super::suites::parse_suites(c)
        {
            s.error("ciphers", Problem::BadValue(e));
        }
        if let Some(p) = &cfg.protocols
            && let Err(e) = super::suites::parse_versions(p)
        {
            s.error("protocols", Problem::BadValue(e));
        }
        match (crtfile, keyfile) {
            (Some(c), Some(k)) => Some(TlsConfig {
                crtfile: c.into(),
                keyfile: k.into(),
                ..cfg
            }),
            (c, k) => {
                if c.is_none() {
                    s.error("crtfile", Problem::MissingKey("crtfile"));
                }
                if k.is_none() {
                    s.error("keyfile", Problem::MissingKey("keyfile"));
                }
                None
            }
        }
    }

    /// The section as libconfig text, for `-C`.
    pub fn print(&self) -> String {
        use crate::config::print::quote;
        let mut parts = vec![
            format!("crtfile = {};", quote(&self.crtfile.to_string_lossy())),
            format!("keyfile = {};", quote(&self.keyfile.to_string_lossy())),
        ];
        if let Some(c) = &self.cachain {
            parts.push(format!("cachain = {};", quote(&c.to_string_lossy())));
        }
        parts.push(format!(
            "protocols = {};",
            quote(self.protocols.as_deref().unwrap_or("TLSv1.2,TLSv1.3"))
        ));
        if let Some(c) = &self.ciphers {
            parts.push(format!("ciphers = {};", quote(c)));
        }
        if self.generate {
            parts.push("generate = true;".into());
        }
        format!("{{ {} }}", parts.join(" "))
    }
}
