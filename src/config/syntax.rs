//! The syntax stage of the configuration: libconfig text → [`Group`] tree.
//!
//! Ouistiti reads its configuration with the C library libconfig (1.7). No Rust
//! crate reads that format with the fidelity we need (`file:line:col` on every
//! node, `@include` relative to the including file, libconfig's number rules),
//! so this module is a small hand-written recursive-descent parser: a `Lexer`
//! over the characters of one file, tracking line and column, and a
//! `Parser` that builds the tree. Like libconfig, the first error stops
//! parsing and is returned as a [`Diagnostic`].
//!
//! Supported, as libconfig 1.7 reads it:
//! * comments `# …`, `// …` and `/* … */` (not nested);
//! * names `[A-Za-z*][-A-Za-z0-9_*]*`, assigned with `=` or `:`, each setting
//!   optionally terminated by `;` or `,`; duplicates in one group are errors;
//! * strings with the escapes `\\ \" \n \r \t \f \xHH`; adjacent literals
//!   (separated by whitespace or comments) are concatenated;
//! * integers: decimal with optional sign, hex `0x…` (a bit pattern, so
//!   `0xFFFFFFFF` is 4294967295), `L`/`LL` suffix for int64; a decimal that
//!   does not fit 32 bits is promoted to 64 bits, as libconfig does;
//! * floats (`3.0`, `.5`, `5.`, `1e3`, `2.5e-1`), booleans `true`/`false` in
//!   any case;
//! * arrays `[ … ]` of scalars of one type (all integers count as one type),
//!   lists `( … )`, groups `{ … }`; no trailing comma in arrays and lists;
//! * `@include "file"` on its own line wherever a setting may appear: the
//!   file's settings are spliced in place, relative paths resolve against the
//!   including file's directory, nesting is limited to 10 levels.
//!
//! Not supported: libconfig's include hooks (globs, include directories) and
//! the binary/octal integer forms of libconfig ≥ 1.7.3; Ouistiti uses neither.

use std::fs;
use std::io;
use std::mem::discriminant;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::diag::{Diagnostic, Problem, Severity};
use super::lexer::{Lexer, Tok, Token};
use super::value::{Group, Setting, Span, Value, ValueKind};

/// libconfig's `MAX_INCLUDE_DEPTH`.
const MAX_INCLUDE_DEPTH: usize = 10;

/// How deep arrays, lists and groups may nest in one file: far more than any
/// real configuration, and keeps the recursion well inside a thread's stack.
const MAX_NESTING: usize = 100;

/// Parse a file (and its @include files).
///
/// # Errors
///
/// The first syntax error, or [`Problem::Io`] if the file or an included
/// file cannot be read (at 1:1 of the file, or at the `@include`).
pub fn parse_file(path: &Path) -> Result<Group, Diagnostic> {
    let file: Arc<Path> = Arc::from(path);
    let text = fs::read_to_string(path).map_err(|e| Diagnostic {
        severity: Severity::Error,
        span: Span {
            file: file.clone(),
            line: 1,
            col: 1,
        },
        path: String::new(),
        problem: Problem::Io(format!(
            "cannot read configuration file: {}",
            io_message(&e)
        )),
    })?;
    Parser::new(&text, file, parent_dir(path), 0).parse()
}

/// Parse text held in memory; `origin` names it in spans (e.g. `<string>`)
/// and @include paths are resolved against `base_dir`.
///
/// # Errors
///
/// As [`parse_file`].
pub fn parse_str(text: &str, origin: &Path, base_dir: &Path) -> Result<Group, Diagnostic> {
    Parser::new(text, Arc::from(origin), base_dir.to_path_buf(), 0).parse()
}

pub(super) fn syntax(span: Span, msg: impl Into<String>) -> Diagnostic {
    Diagnostic {
        severity: Severity::Error,
        span,
        path: String::new(),
        problem: Problem::Syntax(msg.into()),
    }
}

/// The OS message of an I/O error, without Rust's ` (os error N)` suffix.
fn io_message(e: &io::Error) -> String {
    let suffix = e
        .raw_os_error()
        .map(|code| format!(" (os error {code})"))
        .unwrap_or_default();
    let text = e.to_string();
    text.strip_suffix(suffix.as_str())
        .unwrap_or(&text)
        .to_owned()
}

fn parent_dir(path: &Path) -> PathBuf {
    path.parent().map(Path::to_path_buf).unwrap_or_default()
}

/// Builds the tree of one file; included files get a parser of their own.
struct Parser {
    lexer: Lexer,
    peeked: Option<Tok>,
    /// Where relative `@include` paths are resolved.
    base_dir: PathBuf,
    /// How many `@include` levels lead to this file.
    depth: usize,
    /// The open brackets, innermost last, to explain an early end of file.
    open: Vec<(char, Span)>,
}

impl Parser {
    fn new(text: &str, file: Arc<Path>, base_dir: PathBuf, depth: usize) -> Self {
        Parser {
            lexer: Lexer::new(text, file),
            peeked: None,
            base_dir,
            depth,
            open: Vec::new(),
        }
    }

    fn parse(mut self) -> Result<Group, Diagnostic> {
        let mut group = Group::default();
        self.settings(&mut group, None)?;
        Ok(group)
    }

    fn next(&mut self) -> Result<Tok, Diagnostic> {
        match self.peeked.take() {
            Some(tok) => Ok(tok),
            None => self.lexer.next_token(),
        }
    }

    fn peek(&mut self) -> Result<&Token, Diagnostic> {
        let tok = self.next()?;
        Ok(&self.peeked.insert(tok).kind)
    }

    /// Consumes the punctuation `c` if it comes next.
    fn eat(&mut self, c: char) -> Result<bool, Diagnostic> {
        let found = matches!(self.peek()?, Token::Punct(p) if *p == c);
        if found {
            self.peeked = None;
        }
        Ok(found)
    }

    /// Consumes a string literal if one comes next.
    fn next_str(&mut self) -> Result<Option<String>, Diagnostic> {
        self.peek()?;
        match self.peeked.take() {
            Some(Tok {
                kind: Token::Str(s),
                ..
            }) => Ok(Some(s)),
            other => {
                self.peeked = other;
                Ok(None)
            }
        }
    }

    fn unexpected(&self, found: Token, span: Span, expected: &str) -> Diagnostic {
        let msg = match (found, self.open.last()) {
            (Token::Eof, Some((c, at))) => format!(
                "unexpected end of file: '{c}' opened at {}:{} is not closed",
                at.line, at.col
            ),
            (Token::Eof, None) => format!("unexpected end of file, expected {expected}"),
            (found, _) => format!("expected {expected}, found {}", found.describe()),
        };
        syntax(span, msg)
    }

    /// A setting-list up to `close` (`}`), or to the end of file if `None`.
    fn settings(&mut self, group: &mut Group, close: Option<char>) -> Result<(), Diagnostic> {
        let mut need_sep = false;
        loop {
            let Tok { kind, span } = self.next()?;
            match kind {
                Token::Eof if close.is_none() => return Ok(()),
                Token::Punct(c) if Some(c) == close => return Ok(()),
                Token::Include(name) => {
                    self.include(&name, span, group)?;
                    need_sep = false;
                }
                Token::Name(name) => need_sep = !self.setting(name, span, group)?,
                kind => {
                    let expected = match (close, need_sep) {
                        (None, true) => "';' or a new setting",
                        (None, false) => "a setting",
                        (Some(_), true) => "';', '}' or a new setting",
                        (Some(_), false) => "a setting or '}'",
                    };
                    return Err(self.unexpected(kind, span, expected));
                }
            }
        }
    }

    /// The rest of the setting `name`; returns whether a terminator followed.
    fn setting(
        &mut self,
        name: String,
        name_span: Span,
        group: &mut Group,
    ) -> Result<bool, Diagnostic> {
        if group.get(&name).is_some() {
            return Err(syntax(name_span, format!("duplicate setting '{name}'")));
        }
        let Tok { kind, span } = self.next()?;
        if !matches!(kind, Token::Punct('=' | ':')) {
            return Err(self.unexpected(kind, span, &format!("'=' or ':' after '{name}'")));
        }
        let value = self.value()?;
        let terminated = self.eat(';')? || self.eat(',')?;
        group.settings.push(Setting {
            name,
            name_span,
            value,
        });
        Ok(terminated)
    }

    fn value(&mut self) -> Result<Value, Diagnostic> {
        let Tok { kind, span } = self.next()?;
        if matches!(kind, Token::Punct('[' | '(' | '{')) && self.open.len() >= MAX_NESTING {
            return Err(syntax(span, "values nested too deep"));
        }
        let kind = match kind {
            Token::Scalar(kind) => kind,
            Token::Str(mut s) => {
                while let Some(more) = self.next_str()? {
                    s.push_str(&more);
                }
                ValueKind::Str(s)
            }
            Token::Punct('[') => ValueKind::Array(self.sequence('[', ']', &span)?),
            Token::Punct('(') => ValueKind::List(self.sequence('(', ')', &span)?),
            Token::Punct('{') => {
                self.open.push(('{', span.clone()));
                let mut group = Group::default();
                self.settings(&mut group, Some('}'))?;
                self.open.pop();
                ValueKind::Group(group)
            }
            kind => return Err(self.unexpected(kind, span, "a value")),
        };
        Ok(Value { kind, span })
    }

    /// The elements of an array (`[`, scalars of one type) or a list (`(`).
    fn sequence(&mut self, open: char, close: char, span: &Span) -> Result<Vec<Value>, Diagnostic> {
        let array = open == '[';
        self.open.push((open, span.clone()));
        let mut items: Vec<Value> = Vec::new();
        if !self.eat(close)? {
            loop {
                if array && !matches!(self.peek()?, Token::Scalar(_) | Token::Str(_)) {
                    let Tok { kind, span } = self.next()?;
                    return Err(self.unexpected(kind, span, "a scalar value in array"));
                }
                let item = self.value()?;
                let differs = |f: &&Value| discriminant(&f.kind) != discriminant(&item.kind);
                if let Some(first) = items.first().filter(|f| array && differs(f)) {
                    let msg = format!(
                        "array elements must all have the same scalar type: expected {}, found {}",
                        first.kind.type_name(),
                        item.kind.type_name()
                    );
                    return Err(syntax(item.span, msg));
                }
                items.push(item);
                let Tok { kind, span } = self.next()?;
                match kind {
                    Token::Punct(',') if self.eat(close)? => {
                        let what = if array { "an array" } else { "a list" };
                        return Err(syntax(
                            span,
                            format!("trailing ',' is not allowed in {what}"),
                        ));
                    }
                    Token::Punct(',') => {}
                    Token::Punct(c) if c == close => break,
                    kind => return Err(self.unexpected(kind, span, &format!("',' or '{close}'"))),
                }
            }
        }
        self.open.pop();
        Ok(items)
    }

    /// Splices the settings of the included file `name` into `group`.
    fn include(&self, name: &str, at: Span, group: &mut Group) -> Result<(), Diagnostic> {
        if self.depth >= MAX_INCLUDE_DEPTH {
            return Err(syntax(at, "@include nested too deep"));
        }
        let path = self.base_dir.join(name);
        let text = fs::read_to_string(&path).map_err(|e| Diagnostic {
            severity: Severity::Error,
            span: at,
            path: String::new(),
            problem: Problem::Io(format!(
                "cannot read included file \"{name}\": {}",
                io_message(&e)
            )),
        })?;
        let file = Arc::from(path.as_path());
        Parser::new(&text, file, parent_dir(&path), self.depth + 1).settings(group, None)
    }
}

#[cfg(test)]
#[path = "syntax_tests.rs"]
mod tests;
