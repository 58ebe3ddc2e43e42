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

fn syntax(span: Span, msg: impl Into<String>) -> Diagnostic {
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

/// A token of the libconfig grammar.
#[derive(Debug)]
enum Token {
    /// A setting name.
    Name(String),
    /// A boolean, integer or float.
    Scalar(ValueKind),
    /// One string literal (the parser concatenates adjacent ones).
    Str(String),
    /// `@include "file"`, with the file name.
    Include(String),
    /// One of `= : ; , { } ( ) [ ]`.
    Punct(char),
    Eof,
}

impl Token {
    /// How the token is named in "found …" messages.
    fn describe(&self) -> String {
        match self {
            Token::Name(name) => format!("'{name}'"),
            Token::Scalar(ValueKind::Bool(b)) => format!("'{b}'"),
            Token::Scalar(ValueKind::Int { value, .. }) => format!("'{value}'"),
            Token::Scalar(ValueKind::Float(f)) => format!("'{f:?}'"),
            Token::Scalar(other) => format!("a {}", other.type_name()),
            Token::Str(_) => "a string".to_owned(),
            Token::Include(_) => "'@include'".to_owned(),
            Token::Punct(c) => format!("'{c}'"),
            Token::Eof => "end of file".to_owned(),
        }
    }
}

/// A token and where it starts.
struct Tok {
    kind: Token,
    span: Span,
}

/// Splits one file into tokens, tracking 1-based line and column.
struct Lexer {
    chars: Vec<char>,
    pos: usize,
    line: u32,
    col: u32,
    file: Arc<Path>,
}

impl Lexer {
    fn new(text: &str, file: Arc<Path>) -> Self {
        Lexer {
            chars: text.chars().collect(),
            pos: 0,
            line: 1,
            col: 1,
            file,
        }
    }

    fn span(&self) -> Span {
        Span {
            file: self.file.clone(),
            line: self.line,
            col: self.col,
        }
    }

    fn peek_at(&self, n: usize) -> Option<char> {
        self.chars.get(self.pos + n).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek_at(0)?;
        self.pos += 1;
        if c == '\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        Some(c)
    }

    fn eat_while(&mut self, keep: impl Fn(char) -> bool) -> String {
        let mut out = String::new();
        while let Some(c) = self.peek_at(0).filter(|&c| keep(c)) {
            out.push(c);
            self.bump();
        }
        out
    }

    /// Error at the current (end of file) position about something left open.
    fn eof_in(&self, what: &str, start: &Span) -> Diagnostic {
        let msg = format!(
            "unexpected end of file: unterminated {what} (opened at {}:{})",
            start.line, start.col
        );
        syntax(self.span(), msg)
    }

    /// Skips whitespace and comments.
    fn skip_trivia(&mut self) -> Result<(), Diagnostic> {
        loop {
            match (self.peek_at(0), self.peek_at(1)) {
                (Some(c), _) if c.is_ascii_whitespace() => {
                    self.bump();
                }
                (Some('#'), _) | (Some('/'), Some('/')) => {
                    self.eat_while(|c| c != '\n');
                }
                (Some('/'), Some('*')) => {
                    let start = self.span();
                    self.bump();
                    self.bump();
                    loop {
                        match self.bump() {
                            None => return Err(self.eof_in("comment", &start)),
                            Some('*') if self.peek_at(0) == Some('/') => {
                                self.bump();
                                break;
                            }
                            Some(_) => {}
                        }
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    fn next_token(&mut self) -> Result<Tok, Diagnostic> {
        self.skip_trivia()?;
        let span = self.span();
        let Some(c) = self.peek_at(0) else {
            return Ok(Tok {
                kind: Token::Eof,
                span,
            });
        };
        let kind = match c {
            '=' | ':' | ';' | ',' | '{' | '}' | '(' | ')' | '[' | ']' => {
                self.bump();
                Token::Punct(c)
            }
            '"' => Token::Str(self.string(&span)?),
            '@' => self.include(&span)?,
            c if c.is_ascii_alphabetic() || c == '*' => self.word(),
            c if c.is_ascii_digit() || matches!(c, '+' | '-' | '.') => self.number(&span)?,
            c => return Err(syntax(span, format!("unexpected character '{c}'"))),
        };
        Ok(Tok { kind, span })
    }

    /// A name, or a boolean (a whole word `true`/`false` in any case).
    fn word(&mut self) -> Token {
        let word = self.eat_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '*'));
        if word.eq_ignore_ascii_case("true") {
            Token::Scalar(ValueKind::Bool(true))
        } else if word.eq_ignore_ascii_case("false") {
            Token::Scalar(ValueKind::Bool(false))
        } else {
            Token::Name(word)
        }
    }

    /// A string literal starting at `start` (on the opening quote).
    fn string(&mut self, start: &Span) -> Result<String, Diagnostic> {
        self.bump();
        // libconfig strings are bytes: `\xHH` escapes may build UTF-8 sequences.
        let mut bytes = Vec::new();
        loop {
            let at = self.span();
            match self.bump() {
                None => return Err(self.eof_in("string", start)),
                Some('"') => break,
                Some('\\') => {
                    let byte = match self.bump() {
                        Some('\\') => b'\\',
                        Some('"') => b'"',
                        Some('n') => b'\n',
                        Some('r') => b'\r',
                        Some('t') => b'\t',
                        Some('f') => 0x0c,
                        Some('x') => self.hex_escape().ok_or_else(|| {
                            syntax(at, "invalid escape '\\x': expected two hex digits")
                        })?,
                        Some(c) => return Err(syntax(at, format!("invalid escape '\\{c}'"))),
                        None => continue,
                    };
                    bytes.push(byte);
                }
                Some(c) => bytes.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
            }
        }
        String::from_utf8(bytes).map_err(|_| {
            syntax(
                start.clone(),
                "string is not valid UTF-8 (check its \\x escapes)",
            )
        })
    }

    fn hex_escape(&mut self) -> Option<u8> {
        let hi = self.peek_at(0)?.to_digit(16)?;
        let lo = self.peek_at(1)?.to_digit(16)?;
        self.bump();
        self.bump();
        u8::try_from(hi * 16 + lo).ok()
    }

    /// `@include "file"`, which must be the first thing on its line.
    fn include(&mut self, start: &Span) -> Result<Token, Diagnostic> {
        let before = &self.chars[..self.pos];
        let line_start = before.iter().rposition(|&c| c == '\n').map_or(0, |i| i + 1);
        let own_line = before[line_start..].iter().all(|&c| c == ' ' || c == '\t');
        self.bump();
        let word = self.eat_while(|c| c.is_ascii_alphanumeric());
        if word != "include" {
            return Err(syntax(
                start.clone(),
                format!("unknown directive '@{word}'"),
            ));
        }
        if !own_line {
            return Err(syntax(start.clone(), "'@include' must be on its own line"));
        }
        let blanks = self.eat_while(|c| c == ' ' || c == '\t');
        let name_start = self.span();
        if blanks.is_empty() || self.peek_at(0) != Some('"') {
            return Err(syntax(
                name_start,
                "expected a quoted file name after '@include'",
            ));
        }
        Ok(Token::Include(self.string(&name_start)?))
    }

    /// A `+`/`-`/`.`/digit starts a number: integer, hex or float.
    fn number(&mut self, start: &Span) -> Result<Token, Diagnostic> {
        let is_digit = |c: char| c.is_ascii_digit();
        let begin = self.pos;
        if self.peek_at(0) == Some('0')
            && matches!(self.peek_at(1), Some('x' | 'X'))
            && self.peek_at(2).is_some_and(|c| c.is_ascii_hexdigit())
        {
            self.bump();
            self.bump();
            let digits = self.eat_while(|c| c.is_ascii_hexdigit());
            let wide = self.wide_suffix();
            let bits = u64::from_str_radix(&digits, 16)
                .map_err(|_| syntax(start.clone(), "integer out of range"))?;
            // Like libconfig's strtoull: the digits are a 64-bit pattern.
            let value = i64::from_ne_bytes(bits.to_ne_bytes());
            return Ok(Token::Scalar(ValueKind::Int { value, wide }));
        }
        if matches!(self.peek_at(0), Some('+' | '-')) {
            self.bump();
        }
        let int_digits = self.eat_while(is_digit);
        let mut float = false;
        if self.peek_at(0) == Some('.')
            && (!int_digits.is_empty() || self.peek_at(1).is_some_and(is_digit))
        {
            self.bump();
            self.eat_while(is_digit);
            float = true;
        }
        if int_digits.is_empty() && !float {
            let c = self.chars.get(begin).copied().unwrap_or_default();
            return Err(syntax(start.clone(), format!("unexpected character '{c}'")));
        }
        if matches!(self.peek_at(0), Some('e' | 'E')) {
            let sign = usize::from(matches!(self.peek_at(1), Some('+' | '-')));
            if self.peek_at(1 + sign).is_some_and(is_digit) {
                for _ in 0..=sign {
                    self.bump();
                }
                self.eat_while(is_digit);
                float = true;
            }
        }
        let text: String = self.chars[begin..self.pos].iter().collect();
        if float {
            let f = text
                .parse::<f64>()
                .map_err(|_| syntax(start.clone(), format!("invalid number '{text}'")))?;
            return Ok(Token::Scalar(ValueKind::Float(f)));
        }
        let wide = self.wide_suffix();
        let value = text
            .parse::<i64>()
            .map_err(|_| syntax(start.clone(), "integer out of range"))?;
        Ok(Token::Scalar(ValueKind::Int { value, wide }))
    }

    /// The `L` / `LL` suffix of a 64-bit integer.
    fn wide_suffix(&mut self) -> bool {
        if self.peek_at(0) != Some('L') {
            return false;
        }
        self.bump();
        if self.peek_at(0) == Some('L') {
            self.bump();
        }
        true
    }
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
