//! Configuration diagnostics and the reader used by the typed stage.
//!
//! Errors and warnings are collected, never thrown one at a time: the user sees
//! every problem of a file in one run, sorted by position, each as
//! `file:line:col: key.path: message`.

use std::cell::RefCell;
use std::fmt;

use super::value::{Group, Span, Value, ValueKind};

/// What is wrong with a configuration node.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Problem {
    /// The text is not valid libconfig.
    #[error("syntax error: {0}")]
    Syntax(String),
    /// A file could not be read.
    #[error("{0}")]
    Io(String),
    /// A required key is absent.
    #[error("missing key `{0}`")]
    MissingKey(&'static str),
    /// A key has a value of the wrong type.
    #[error("expected {expected}, found {found}")]
    WrongType {
        /// The type the key needs.
        expected: &'static str,
        /// The type that was written.
        found: &'static str,
    },
    /// The value has the right type but cannot be used.
    #[error("{0}")]
    BadValue(String),
    /// The key is not known here (a warning: Ouistiti ignores it too).
    #[error("unknown key, ignored")]
    UnknownKey,
    /// A module is configured but compiled out.
    #[error("module `{module}` is configured but not built (cargo feature `{feature}`), ignored")]
    NotBuilt {
        /// The configuration section.
        module: &'static str,
        /// The cargo feature that builds it.
        feature: &'static str,
    },
}

/// How serious a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// The configuration is refused.
    Error,
    /// The configuration is used, but something in it is ignored.
    Warning,
}

/// One problem at one place.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// Where it was written.
    pub span: Span,
    /// The dotted key path (`servers[0].document.docroot`), empty at top level.
    pub path: String,
    /// What is wrong.
    pub problem: Problem,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        if self.path.is_empty() {
            write!(f, "{}: {kind}: {}", self.span, self.problem)
        } else {
            write!(f, "{}: {kind}: {}: {}", self.span, self.path, self.problem)
        }
    }
}

/// Collected diagnostics of one load.
#[derive(Debug, Default)]
pub struct Diagnostics {
    items: RefCell<Vec<Diagnostic>>,
}

impl Diagnostics {
    /// Record a diagnostic.
    pub fn push(&self, severity: Severity, span: Span, path: String, problem: Problem) {
        self.items.borrow_mut().push(Diagnostic {
            severity,
            span,
            path,
            problem,
        });
    }

    /// Whether any error was recorded.
    pub fn has_errors(&self) -> bool {
        self.items
            .borrow()
            .iter()
            .any(|d| d.severity == Severity::Error)
    }

    /// All diagnostics, sorted by file, line and column.
    pub fn into_sorted(self) -> Vec<Diagnostic> {
        let mut v = self.items.into_inner();
        v.sort_by(|a, b| {
            (a.span.file.as_ref(), a.span.line, a.span.col).cmp(&(
                b.span.file.as_ref(),
                b.span.line,
                b.span.col,
            ))
        });
        v
    }
}

/// A group being read by the typed stage: typed getters that record type
/// errors, and a check that warns about every key nobody asked for.
pub struct Section<'a> {
    group: &'a Group,
    path: String,
    span: Span,
    diag: &'a Diagnostics,
    used: RefCell<Vec<&'a str>>,
}

impl<'a> Section<'a> {
    /// Read `group`, known as `path`, written at `span`.
    pub fn new(group: &'a Group, path: String, span: Span, diag: &'a Diagnostics) -> Self {
        Section {
            group,
            path,
            span,
            diag,
            used: RefCell::new(Vec::new()),
        }
    }

    /// Where the group starts.
    pub fn span(&self) -> &Span {
        &self.span
    }

    /// The dotted path of the group.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The diagnostics sink.
    pub fn diagnostics(&self) -> &'a Diagnostics {
        self.diag
    }

    fn key_path(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// The raw value of `key`, marking the key as known.
    pub fn value(&self, key: &'a str) -> Option<&'a Value> {
        self.used.borrow_mut().push(key);
        self.group.get(key).map(|s| &s.value)
    }

    /// Mark keys as known without reading them (kept for later modules).
    pub fn accept(&self, keys: &[&'a str]) {
        self.used.borrow_mut().extend_from_slice(keys);
    }

    /// Whether `key` is present (does not mark it as known).
    pub fn has(&self, key: &str) -> bool {
        self.group.get(key).is_some()
    }

    /// Report this section's module as compiled out (cargo feature `module`):
    /// an error for security modules, a warning for the others.
    pub fn not_built(&self, module: &'static str, severity: Severity) {
        self.diag.push(
            severity,
            self.span.clone(),
            self.path.clone(),
            Problem::NotBuilt {
                module,
                feature: module,
            },
        );
    }

    /// Record an error about `key` (at its value, or at the group if absent).
    pub fn error(&self, key: &str, problem: Problem) {
        let span = self
            .group
            .get(key)
            .map(|s| s.value.span.clone())
            .unwrap_or_else(|| self.span.clone());
        self.diag
            .push(Severity::Error, span, self.key_path(key), problem);
    }

    /// Record a warning about `key`.
    pub fn warn(&self, key: &str, problem: Problem) {
        let span = self
            .group
            .get(key)
            .map(|s| s.name_span.clone())
            .unwrap_or_else(|| self.span.clone());
        self.diag
            .push(Severity::Warning, span, self.key_path(key), problem);
    }

    fn wrong_type(&self, key: &str, expected: &'static str, v: &Value) {
        self.error(
            key,
            Problem::WrongType {
                expected,
                found: v.kind.type_name(),
            },
        );
    }

    /// A string setting.
    pub fn str(&self, key: &'a str) -> Option<String> {
        let v = self.value(key)?;
        match &v.kind {
            ValueKind::Str(s) => Some(s.clone()),
            _ => {
                self.wrong_type(key, "string", v);
                None
            }
        }
    }

    /// An integer setting that fits in 32 bits, as Ouistiti reads it.
    pub fn int(&self, key: &'a str) -> Option<i64> {
        let v = self.value(key)?;
        match &v.kind {
            ValueKind::Int { value, .. } if i32::try_from(*value).is_ok() => Some(*value),
            ValueKind::Int { .. } => {
                self.error(key, Problem::BadValue("integer out of 32-bit range".into()));
                None
            }
            _ => {
                self.wrong_type(key, "integer", v);
                None
            }
        }
    }

    /// A non-negative integer setting.
    pub fn uint(&self, key: &'a str) -> Option<u64> {
        let n = self.int(key)?;
        match u64::try_from(n) {
            Ok(n) => Some(n),
            Err(_) => {
                self.error(
                    key,
                    Problem::BadValue(format!("must not be negative, got {n}")),
                );
                None
            }
        }
    }

    /// A float setting (an integer is accepted, as libconfig does).
    pub fn float(&self, key: &'a str) -> Option<f64> {
        let v = self.value(key)?;
        match &v.kind {
            ValueKind::Float(f) => Some(*f),
            ValueKind::Int { value, .. } => Some(*value as f64),
            _ => {
                self.wrong_type(key, "float", v);
                None
            }
        }
    }

    /// A boolean setting.
    pub fn bool(&self, key: &'a str) -> Option<bool> {
        let v = self.value(key)?;
        match &v.kind {
            ValueKind::Bool(b) => Some(*b),
            _ => {
                self.wrong_type(key, "boolean", v);
                None
            }
        }
    }

    /// A nested group for a single-instance module (`tls = { … }`).
    pub fn group(&self, key: &'a str) -> Option<Section<'a>> {
        let v = self.value(key)?;
        match &v.kind {
            ValueKind::Group(g) => Some(Section::new(
                g,
                self.key_path(key),
                v.span.clone(),
                self.diag,
            )),
            _ => {
                self.wrong_type(key, "group", v);
                None
            }
        }
    }

    /// The groups of a list-or-single-group key (`servers`, `auth`, …).
    /// Non-group elements are reported as errors and skipped.
    pub fn groups(&self, key: &'a str) -> Vec<Section<'a>> {
        let Some(v) = self.value(key) else {
            return Vec::new();
        };
        let Some(items) = v.elements() else {
            self.wrong_type(key, "group or list of groups", v);
            return Vec::new();
        };
        let single = matches!(v.kind, ValueKind::Group(_));
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let path = if single {
                self.key_path(key)
            } else {
                format!("{}[{i}]", self.key_path(key))
            };
            match &item.kind {
                ValueKind::Group(g) => {
                    out.push(Section::new(g, path, item.span.clone(), self.diag))
                }
                other => self.diag.push(
                    Severity::Error,
                    item.span.clone(),
                    path,
                    Problem::WrongType {
                        expected: "group",
                        found: other.type_name(),
                    },
                ),
            }
        }
        out
    }

    /// Warn about every key of the group that was never read or accepted.
    pub fn finish(self) {
        let used = self.used.borrow();
        for s in &self.group.settings {
            if !used.contains(&s.name.as_str()) {
                self.diag.push(
                    Severity::Warning,
                    s.name_span.clone(),
                    self.key_path(&s.name),
                    Problem::UnknownKey,
                );
            }
        }
    }
}
