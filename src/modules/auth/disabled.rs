//! `auth` compiled out (cargo feature `auth` off): the same entry points as
//! the real module. A configured section is an **error** — serving without
//! the authentication the configuration asks for would fail open.

use std::path::Path;

use crate::config::value::Span;
use crate::config::{Diagnostic, Problem, Section, Severity};
use crate::modules::BuildEnv;
use crate::pipeline::{Module, Phases};

const NOT_BUILT: Problem = Problem::NotBuilt {
    module: "auth",
    feature: "auth",
};

/// Stands for an `auth` section; never produced.
#[derive(Clone, Debug)]
pub struct AuthConfig;

impl AuthConfig {
    /// Record that the module is not built (an error); always `None`.
    pub fn from_section(sec: &Section<'_>) -> Option<AuthConfig> {
        sec.not_built("auth", Severity::Error);
        None
    }

    /// Nothing to print (no value exists).
    pub fn print_all(_cfgs: &[AuthConfig]) -> Option<String> {
        None
    }
}

/// The module that is not there: it has no values.
pub enum Auth {}

impl Auth {
    /// Never reached ([`AuthConfig::from_section`] builds no config);
    /// refuses with the "not built" diagnostic.
    pub fn build(_cfgs: &[AuthConfig], _env: &BuildEnv) -> Result<Auth, Vec<Diagnostic>> {
        Err(vec![Diagnostic {
            severity: Severity::Error,
            span: Span {
                file: Path::new("<auth>").into(),
                line: 0,
                col: 0,
            },
            path: String::new(),
            problem: NOT_BUILT,
        }])
    }
}

impl Module for Auth {
    fn name(&self) -> &'static str {
        match *self {}
    }

    fn phases(&self) -> Phases {
        match *self {}
    }
}
