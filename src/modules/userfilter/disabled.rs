//! `userfilter` when the cargo feature is off: a configured section is an
//! error (requests would otherwise pass unchecked).

use crate::config::{Diagnostic, Section, Severity};

/// Never constructed.
#[derive(Debug, Clone)]
pub enum UserfilterConfig {}

impl UserfilterConfig {
    /// Report the section as not built.
    pub fn from_section(s: &Section<'_>) -> Option<UserfilterConfig> {
        s.not_built("userfilter", Severity::Error);
        None
    }

    /// Unreachable.
    pub fn print(&self) -> String {
        match *self {}
    }
}

/// Never constructed.
pub enum Userfilter {}

impl Userfilter {
    /// Unreachable.
    pub fn build(cfg: &UserfilterConfig) -> Result<Userfilter, Diagnostic> {
        match *cfg {}
    }
}

impl crate::pipeline::Module for Userfilter {
    fn name(&self) -> &'static str {
        match *self {}
    }

    fn phases(&self) -> crate::pipeline::Phases {
        match *self {}
    }
}
