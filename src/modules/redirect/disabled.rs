//! `redirect` when the cargo feature is off: the section is reported and
//! ignored.

use crate::config::{Section, Severity};

/// Never constructed.
#[derive(Debug, Clone)]
pub enum RedirectConfig {}

impl RedirectConfig {
    /// Report the section as not built.
    pub fn from_section(s: &Section<'_>) -> Option<RedirectConfig> {
        s.not_built("redirect", Severity::Warning);
        None
    }

    /// Unreachable.
    pub fn print(&self) -> String {
        match *self {}
    }
}

/// Never constructed.
pub enum Redirect {}

impl Redirect {
    /// Unreachable.
    pub fn build(
        cfg: &RedirectConfig,
        _env: &crate::modules::BuildEnv,
    ) -> Result<Redirect, crate::config::Diagnostic> {
        match *cfg {}
    }
}

impl crate::pipeline::Module for Redirect {
    fn name(&self) -> &'static str {
        match *self {}
    }

    fn phases(&self) -> crate::pipeline::Phases {
        match *self {}
    }
}
