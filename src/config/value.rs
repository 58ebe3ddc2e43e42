//! Stage 1 of the configuration: the libconfig value tree.
//!
//! Every node carries the [`Span`] (file, line, column) where it was written, so
//! that the typed stage can report errors and warnings at the exact place of the
//! offending setting. The tree keeps settings in file order: Ouistiti creates
//! modules and servers in that order.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

/// Where a configuration node was written: file, 1-based line and column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Span {
    /// The file the node comes from (or a name such as `<string>` for
    /// configurations loaded from memory).
    pub file: Arc<Path>,
    /// 1-based line.
    pub line: u32,
    /// 1-based column (in characters).
    pub col: u32,
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.col)
    }
}

/// A configuration value with its location.
#[derive(Clone, Debug, PartialEq)]
pub struct Value {
    /// What the value is.
    pub kind: ValueKind,
    /// Where the value starts.
    pub span: Span,
}

/// The libconfig value types.
#[derive(Clone, Debug, PartialEq)]
pub enum ValueKind {
    /// `true` / `false` (any case).
    Bool(bool),
    /// Decimal or hex integer; `wide` is set for the `L`/`LL` suffix (int64).
    Int {
        /// The value.
        value: i64,
        /// Written with the `L` suffix.
        wide: bool,
    },
    /// Floating point number.
    Float(f64),
    /// String, escapes resolved and adjacent literals concatenated.
    Str(String),
    /// `[ … ]`: scalars of one type.
    Array(Vec<Value>),
    /// `( … )`: any values.
    List(Vec<Value>),
    /// `{ … }`: named settings.
    Group(Group),
}

/// A named setting inside a group.
#[derive(Clone, Debug, PartialEq)]
pub struct Setting {
    /// The setting's name (case-sensitive).
    pub name: String,
    /// Where the name is written.
    pub name_span: Span,
    /// The value.
    pub value: Value,
}

/// A group of settings (`{ … }` or the top level of a file), in file order.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Group {
    /// Settings in the order they were written.
    pub settings: Vec<Setting>,
}

impl Group {
    /// The setting named `name`, if present.
    pub fn get(&self, name: &str) -> Option<&Setting> {
        self.settings.iter().find(|s| s.name == name)
    }
}

impl ValueKind {
    /// The libconfig name of the type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            ValueKind::Bool(_) => "boolean",
            ValueKind::Int { .. } => "integer",
            ValueKind::Float(_) => "float",
            ValueKind::Str(_) => "string",
            ValueKind::Array(_) => "array",
            ValueKind::List(_) => "list",
            ValueKind::Group(_) => "group",
        }
    }
}

impl Value {
    /// The elements of a list or array; a single group counts as a one-element
    /// list (Ouistiti's "list or single group" rule).
    pub fn elements(&self) -> Option<&[Value]> {
        match &self.kind {
            ValueKind::List(v) | ValueKind::Array(v) => Some(v),
            ValueKind::Group(_) => Some(std::slice::from_ref(self)),
            _ => None,
        }
    }
}
