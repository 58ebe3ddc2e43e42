//! The tokens of libconfig: names, scalars, strings with their escapes,
//! `@include`, punctuation; comments and whitespace skipped. Tracks 1-based
//! line and column so every error names its place.

use std::path::Path;
use std::sync::Arc;

use super::diag::Diagnostic;
use super::syntax::syntax;
use super::value::{Span, ValueKind};

/// A token of the libconfig grammar.
#[derive(Debug)]
pub(super) enum Token {
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
    /// How the token is named in "found …" messages. A float is named by
    /// its type, as a string is: printing an `f64` links core's float
    /// formatting (19 KB of the documents-only binary) for this one message,
    /// and the line:col already points at it.
    pub(super) fn describe(&self) -> String {
        match self {
            Token::Name(name) => format!("'{name}'"),
            Token::Scalar(ValueKind::Bool(b)) => format!("'{b}'"),
            Token::Scalar(ValueKind::Int { value, .. }) => format!("'{value}'"),
            Token::Scalar(other) => format!("a {}", other.type_name()),
            Token::Str(_) => "a string".to_owned(),
            Token::Include(_) => "'@include'".to_owned(),
            Token::Punct(c) => format!("'{c}'"),
            Token::Eof => "end of file".to_owned(),
        }
    }
}

/// A token and where it starts.
pub(super) struct Tok {
    pub(super) kind: Token,
    pub(super) span: Span,
}

/// Splits one file into tokens, tracking 1-based line and column.
pub(super) struct Lexer {
    chars: Vec<char>,
    pos: usize,
    line: u32,
    col: u32,
    file: Arc<Path>,
}

impl Lexer {
    pub(super) fn new(text: &str, file: Arc<Path>) -> Self {
        Lexer {
            chars: text.chars().collect(),
            pos: 0,
            line: 1,
            col: 1,
            file,
        }
    }

    pub(super) fn span(&self) -> Span {
        Span {
            file: self.file.clone(),
            line: self.line,
            col: self.col,
        }
    }

    pub(super) fn peek_at(&self, n: usize) -> Option<char> {
        self.chars.get(self.pos + n).copied()
    }

    pub(super) fn bump(&mut self) -> Option<char> {
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

    pub(super) fn eat_while(&mut self, keep: impl Fn(char) -> bool) -> String {
        let mut out = String::new();
        while let Some(c) = self.peek_at(0).filter(|&c| keep(c)) {
            out.push(c);
            self.bump();
        }
        out
    }

    /// Error at the current (end of file) position about something left open.
    pub(super) fn eof_in(&self, what: &str, start: &Span) -> Diagnostic {
        let msg = format!(
            "unexpected end of file: unterminated {what} (opened at {}:{})",
            start.line, start.col
        );
        syntax(self.span(), msg)
    }

    /// Skips whitespace and comments.
    pub(super) fn skip_trivia(&mut self) -> Result<(), Diagnostic> {
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

    pub(super) fn next_token(&mut self) -> Result<Tok, Diagnostic> {
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
    pub(super) fn word(&mut self) -> Token {
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
    pub(super) fn string(&mut self, start: &Span) -> Result<String, Diagnostic> {
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

    pub(super) fn hex_escape(&mut self) -> Option<u8> {
        let hi = self.peek_at(0)?.to_digit(16)?;
        let lo = self.peek_at(1)?.to_digit(16)?;
        self.bump();
        self.bump();
        u8::try_from(hi * 16 + lo).ok()
    }

    /// `@include "file"`, which must be the first thing on its line.
    pub(super) fn include(&mut self, start: &Span) -> Result<Token, Diagnostic> {
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
    pub(super) fn number(&mut self, start: &Span) -> Result<Token, Diagnostic> {
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
    pub(super) fn wide_suffix(&mut self) -> bool {
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
