//! `webstream` compiled out (cargo feature `webstream` off): the same entry
//! points as the real module. A configured section is reported as a warning
//! at its location and otherwise ignored, so no instance is ever built.

use std::path::Path;

use crate::config::value::Span;
use crate::config::{Diagnostic, Problem, Section, Severity};
use crate::modules::BuildEnv;
use crate::pipeline::{Module, Phases};

const NOT_BUILT: Problem = Problem::NotBuilt {
    module: "webstream",
    feature: "webstream",
};

/// Stands for a `webstream` section; never produced.
#[derive(Clone, Debug)]
pub struct WebstreamConfig;

impl WebstreamConfig {
    /// Warn that the module is not built; always `None`.
    pub fn from_section(sec: &Section<'_>) -> Option<WebstreamConfig> {
        sec.not_built("webstream", Severity::Warning);
        None
    }

    /// Never called (no value exists); nothing to print.
    pub fn print(&self) -> String {
        String::new()
    }
}

/// The module that is not there: it has no values.
pub enum Webstream {}

impl Webstream {
    /// Never reached ([`WebstreamConfig::from_section`] builds no config);
    /// refuses with the "not built" diagnostic.
    pub fn build(_cfg: &WebstreamConfig, _env: &BuildEnv) -> Result<Webstream, Diagnostic> {
        Err(Diagnostic {
            severity: Severity::Error,
            span: Span {
                file: Path::new("<webstream>").into(),
                line: 0,
                col: 0,
            },
            path: String::new(),
            problem: NOT_BUILT,
        })
    }
}

impl Module for Webstream {
    fn name(&self) -> &'static str {
        match *self {}
    }

    fn phases(&self) -> Phases {
        match *self {}
    }
}
