//! `websocket` compiled out (cargo feature `websocket` off): the same entry
//! points as the real module. A configured section is reported as a warning
//! at its location and otherwise ignored, so no instance is ever built.

use std::path::Path;

use crate::config::value::Span;
use crate::config::{Diagnostic, Problem, Section, Severity};
use crate::modules::BuildEnv;
use crate::pipeline::{Module, Phases};

const NOT_BUILT: Problem = Problem::NotBuilt {
    module: "websocket",
    feature: "websocket",
};

/// Stands for a `websocket` section; never produced.
#[derive(Clone, Debug)]
pub struct WebsocketConfig;

impl WebsocketConfig {
    /// Warn that the module is not built; always `None`.
    pub fn from_section(sec: &Section<'_>) -> Option<WebsocketConfig> {
        sec.not_built("websocket", Severity::Warning);
        None
    }

    /// Never called (no value exists); nothing to print.
    pub fn print(&self) -> String {
        String::new()
    }
}

/// The module that is not there: it has no values.
pub enum Websocket {}

impl Websocket {
    /// Never reached ([`WebsocketConfig::from_section`] builds no config);
    /// refuses with the "not built" diagnostic.
    pub fn build(_cfg: &WebsocketConfig, _env: &BuildEnv) -> Result<Websocket, Diagnostic> {
        Err(Diagnostic {
            severity: Severity::Error,
            span: Span {
                file: Path::new("<websocket>").into(),
                line: 0,
                col: 0,
            },
            path: String::new(),
            problem: NOT_BUILT,
        })
    }
}

impl Module for Websocket {
    fn name(&self) -> &'static str {
        match *self {}
    }

    fn phases(&self) -> Phases {
        match *self {}
    }
}
