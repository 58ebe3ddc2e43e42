//! Configuration in Ouistiti's libconfig format, read in three stages:
//!
//! 1. [`syntax`]: text → [`value::Group`] tree where every node has a
//!    [`value::Span`] (file:line:col). `@include` is resolved here.
//! 2. [`model`]: tree → typed [`Config`] (`ServerConfig`, each module's
//!    `*Config`). Type errors and unknown keys are collected as
//!    [`diag::Diagnostic`]s, not thrown one at a time.
//! 3. Runtime objects are built from the typed config by
//!    [`crate::Server::from_config`]; every fallible step (opening
//!    directories, compiling patterns) happens there, at start-up.
//!
//! Errors are printed sorted as `file:line:col: error: key.path: message`.

pub mod diag;
mod lexer;
pub mod model;
pub mod print;
pub mod syntax;
pub mod value;

use std::fmt;
use std::path::{Path, PathBuf};

pub use diag::{Diagnostic, Diagnostics, Problem, Section, Severity};
pub use model::{Config, MimeTypeConfig, ServerConfig};

/// A configuration that could not be used: every error found, sorted.
#[derive(Debug, thiserror::Error)]
pub struct ConfigError {
    /// The errors and warnings, sorted by position.
    pub diagnostics: Vec<Diagnostic>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for d in &self.diagnostics {
            if !first {
                writeln!(f)?;
            }
            first = false;
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

/// A loaded configuration and the warnings it produced.
#[derive(Debug)]
pub struct Loaded {
    /// The typed configuration.
    pub config: Config,
    /// Ignored keys and other non-fatal remarks, sorted.
    pub warnings: Vec<Diagnostic>,
}

/// Load a configuration file (and its `@include`s and `config_d`).
pub fn load_file(path: &Path) -> Result<Loaded, ConfigError> {
    let top = syntax::parse_file(path).map_err(one)?;
    typed(&top, path)
}

/// Load a configuration held in memory; `@include` paths are relative to the
/// current directory.
pub fn load_str(text: &str) -> Result<Loaded, ConfigError> {
    let origin = Path::new("<string>");
    let top = syntax::parse_str(text, origin, Path::new(".")).map_err(one)?;
    typed(&top, origin)
}

fn one(d: Diagnostic) -> ConfigError {
    ConfigError {
        diagnostics: vec![d],
    }
}

fn typed(top: &value::Group, origin: &Path) -> Result<Loaded, ConfigError> {
    let diag = Diagnostics::default();
    let span = value::Span {
        file: origin.into(),
        line: 1,
        col: 1,
    };
    let section = Section::new(top, String::new(), span, &diag);
    let mut config = Config::from_section(&section);
    section.finish();
    if let Some(dir) = config.config_d.clone() {
        config.servers.extend(config_d_servers(&dir, &diag));
    }
    check_ports(&config, &diag);
    let failed = diag.has_errors();
    let diagnostics = diag.into_sorted();
    if failed {
        return Err(ConfigError { diagnostics });
    }
    Ok(Loaded {
        config,
        warnings: diagnostics,
    })
}

/// Servers from `config_d`: every `*.conf` regular file of a directory (in
/// name order), or the named file. A file that does not parse is skipped
/// with a warning, as Ouistiti does.
fn config_d_servers(dir: &Path, diag: &Diagnostics) -> Vec<ServerConfig> {
    let files: Vec<PathBuf> = if dir.is_dir() {
        let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "conf"))
            .collect();
        v.sort_unstable();
        v
    } else {
        vec![dir.to_path_buf()]
    };
    let mut servers = Vec::new();
    for file in files {
        match syntax::parse_file(&file) {
            Ok(top) => {
                let span = value::Span {
                    file: file.as_path().into(),
                    line: 1,
                    col: 1,
                };
                let section = Section::new(&top, String::new(), span, diag);
                servers.extend(model::servers_of(&section));
            }
            Err(mut d) => {
                d.severity = Severity::Warning;
                diag.push(d.severity, d.span, d.path, d.problem);
            }
        }
    }
    servers
}

/// Two servers cannot listen on the same address and port: Ouistiti drops
/// the second one silently; marmoset refuses the file and says where.
fn check_ports(config: &Config, diag: &Diagnostics) {
    for (i, s) in config.servers.iter().enumerate() {
        let clash = config.servers[..i].iter().position(|o| {
            o.port == s.port
                && o.port != 0
                && (o.addr == s.addr || o.addr.is_none() || s.addr.is_none())
        });
        if let Some(j) = clash {
            diag.push(
                Severity::Error,
                s.span.clone(),
                format!("servers[{i}]"),
                Problem::BadValue(format!(
                    "port {} is already used by servers[{j}]; use `vhost` for several sites on one port",
                    s.port
                )),
            );
        }
    }
}
