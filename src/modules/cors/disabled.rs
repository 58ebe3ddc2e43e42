//! `cors` when the cargo feature is off: the section is reported and ignored.

use crate::config::{Section, Severity};

/// Never constructed.
#[derive(Debug, Clone)]
pub enum CorsConfig {}

impl CorsConfig {
    /// Report the section as not built.
    pub fn from_section(s: &Section<'_>) -> Option<CorsConfig> {
        s.not_built("cors", Severity::Warning);
        None
    }

    /// Unreachable.
    pub fn print(&self) -> String {
        match *self {}
    }
}

/// Never constructed.
pub enum Cors {}

impl Cors {
    /// Unreachable.
    pub fn new(cfg: &CorsConfig, _hostname: &str) -> Cors {
        match *cfg {}
    }
}

impl crate::pipeline::Module for Cors {
    fn name(&self) -> &'static str {
        match *self {}
    }

    fn phases(&self) -> crate::pipeline::Phases {
        match *self {}
    }
}
