//! `python` compiled out (cargo feature `python` off, the default): the
//! same entry points as the real module. A configured section is reported
//! as a warning at its location and otherwise ignored.

use std::path::Path;

use crate::config::value::Span;
use crate::config::{Diagnostic, Problem, Section, Severity};
use crate::modules::BuildEnv;
use crate::pipeline::{Module, Phases};

const NOT_BUILT: Problem = Problem::NotBuilt {
    module: "python",
    feature: "python",
};

/// Stands for a `python` section; never produced.
#[derive(Clone, Debug)]
pub struct PythonConfig;

impl PythonConfig {
    /// Warn that the module is not built; always `None`.
    pub fn from_section(sec: &Section<'_>) -> Option<PythonConfig> {
        sec.not_built("python", Severity::Warning);
        None
    }

    /// Never called (no value exists); nothing to print.
    pub fn print(&self) -> String {
        String::new()
    }
}

/// The module that is not there: it has no values.
pub enum PythonModule {}

impl PythonModule {
    /// Never reached ([`PythonConfig::from_section`] builds no config).
    pub fn build(_cfg: &PythonConfig, _env: &BuildEnv) -> Result<PythonModule, Diagnostic> {
        Err(Diagnostic {
            severity: Severity::Error,
            span: Span {
                file: Path::new("<python>").into(),
                line: 0,
                col: 0,
            },
            path: String::new(),
            problem: NOT_BUILT,
        })
    }
}

impl Module for PythonModule {
    fn name(&self) -> &'static str {
        match *self {}
    }

    fn phases(&self) -> Phases {
        match *self {}
    }
}
