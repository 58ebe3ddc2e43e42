//! `upgrade` compiled out (cargo feature `upgrade` off): the same entry
//! points as the real module. A configured section is reported as a warning
//! at its location and otherwise ignored, so no instance is ever built.

use std::path::Path;

use crate::config::value::Span;
use crate::config::{Diagnostic, Problem, Section, Severity};
use crate::modules::BuildEnv;
use crate::pipeline::{Module, Phases};

const NOT_BUILT: Problem = Problem::NotBuilt {
    module: "upgrade",
    feature: "upgrade",
};

/// Stands for a `upgrade` section; never produced.
#[derive(Clone, Debug)]
pub struct UpgradeConfig;

impl UpgradeConfig {
    /// Warn that the module is not built; always `None`.
    pub fn from_section(sec: &Section<'_>) -> Option<UpgradeConfig> {
        sec.not_built("upgrade", Severity::Warning);
        None
    }

    /// Never called (no value exists); nothing to print.
    pub fn print(&self) -> String {
        String::new()
    }
}

/// The module that is not there: it has no values.
pub enum Upgrade {}

impl Upgrade {
    /// Never reached ([`UpgradeConfig::from_section`] builds no config);
    /// refuses with the "not built" diagnostic.
    pub fn build(_cfg: &UpgradeConfig, _env: &BuildEnv) -> Result<Upgrade, Diagnostic> {
        Err(Diagnostic {
            severity: Severity::Error,
            span: Span {
                file: Path::new("<upgrade>").into(),
                line: 0,
                col: 0,
            },
            path: String::new(),
            problem: NOT_BUILT,
        })
    }
}

impl Module for Upgrade {
    fn name(&self) -> &'static str {
        match *self {}
    }

    fn phases(&self) -> Phases {
        match *self {}
    }
}
