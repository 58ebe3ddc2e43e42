//! `document` compiled out (cargo feature `document` off): the same entry
//! points as the real module. A configured section is reported as a warning
//! at its location and otherwise ignored, so no instance is ever built.

use std::path::Path;

use crate::config::value::Span;
use crate::config::{Diagnostic, Problem, Section, Severity};
use crate::modules::BuildEnv;
use crate::pipeline::{Module, Phases};

const NOT_BUILT: Problem = Problem::NotBuilt {
    module: "document",
    feature: "document",
};

/// Stands for a `document` section; never produced.
#[derive(Clone, Debug)]
pub struct DocumentConfig;

impl DocumentConfig {
    /// Warn that the module is not built; always `None`.
    pub fn from_section(sec: &Section<'_>, _filestorage: bool) -> Option<DocumentConfig> {
        sec.not_built("document", Severity::Warning);
        None
    }

    /// Never called (no value exists); nothing to print.
    pub fn print(&self) -> String {
        String::new()
    }
}

/// The module that is not there: it has no values.
pub enum Document {}

impl Document {
    /// Never reached ([`DocumentConfig::from_section`] builds no config);
    /// refuses with the "not built" diagnostic.
    pub fn build(_cfg: &DocumentConfig, _env: &BuildEnv) -> Result<Document, Diagnostic> {
        Err(Diagnostic {
            severity: Severity::Error,
            span: Span {
                file: Path::new("<document>").into(),
                line: 0,
                col: 0,
            },
            path: String::new(),
            problem: NOT_BUILT,
        })
    }
}

impl Module for Document {
    fn name(&self) -> &'static str {
        match *self {}
    }

    fn phases(&self) -> Phases {
        match *self {}
    }
}
