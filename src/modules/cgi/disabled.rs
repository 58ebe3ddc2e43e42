//! `cgi` compiled out (cargo feature `cgi` off): the same entry points as
//! the real module. A configured section is reported as a warning at its
//! location and otherwise ignored, so no instance is ever built.

use std::path::Path;

use crate::config::value::Span;
use crate::config::{Diagnostic, Problem, Section, Severity};
use crate::modules::BuildEnv;
use crate::pipeline::{Module, Phases};

const NOT_BUILT: Problem = Problem::NotBuilt {
    module: "cgi",
    feature: "cgi",
};

/// Stands for a `cgi` section; never produced.
#[derive(Clone, Debug)]
pub struct CgiConfig;

impl CgiConfig {
    /// Warn that the module is not built; always `None`.
    pub fn from_section(sec: &Section<'_>, _server: &Section<'_>) -> Option<CgiConfig> {
        sec.not_built("cgi", Severity::Warning);
        None
    }

    /// Never called (no value exists); nothing to print.
    pub fn print(&self) -> String {
        String::new()
    }
}

/// The module that is not there: it has no values.
pub enum Cgi {}

impl Cgi {
    /// Never reached ([`CgiConfig::from_section`] builds no config).
    pub fn build(_cfg: &CgiConfig, _env: &BuildEnv) -> Result<Cgi, Diagnostic> {
        Err(Diagnostic {
            severity: Severity::Error,
            span: Span {
                file: Path::new("<cgi>").into(),
                line: 0,
                col: 0,
            },
            path: String::new(),
            problem: NOT_BUILT,
        })
    }
}

impl Module for Cgi {
    fn name(&self) -> &'static str {
        match *self {}
    }

    fn phases(&self) -> Phases {
        match *self {}
    }
}
