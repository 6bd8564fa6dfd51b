//! The C tokenizer for script definitions and included files: identifiers,
//! integer, character and string literals, punctuators, and which tokens
//! start a line (so `#` directives are found). Comments and `\`-newline
//! continuations are blanks, as in C's translation phases 2 and 3.

use crate::diag::Diagnostic;
use crate::source::{FileId, Span};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum K {
    Ident(String),
    /// An integer or character constant (a `u` suffix sets `unsigned`).
    Int {
        value: i64,
        unsigned: bool,
    },
    Str(String),
    /// Punctuators, longest first as C reads them: `->`, `<<`, `...`.
    Punct(&'static str),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CTok {
    pub kind: K,
    pub span: Span,
    /// The first token of a source line (continuations excluded).
    pub line_start: bool,
}

impl CTok {
    pub fn is(&self, p: &str) -> bool {
        matches!(&self.kind, K::Punct(q) if *q == p)
    }

    pub fn ident(&self) -> Option<&str> {
        match &self.kind {
            K::Ident(s) => Some(s),
            _ => None,
        }
    }

    /// How the token reads in "unexpected `X`" messages.
    pub fn text(&self) -> String {
        match &self.kind {
            K::Ident(s) => s.clone(),
            K::Int { value, .. } => value.to_string(),
            K::Str(s) => format!("{s:?}"),
            K::Punct(p) => p.to_string(),
        }
    }
}

const PUNCTS: &[&str] = &[
    "...", "<<=", ">>=", "->", "++", "--", "<<", ">>", "<=", ">=", "==", "!=", "&&", "||", "##", "+=", "-=", "*=",
    "/=", "%=", "&=", "|=", "^=", "#", "{", "}", "[", "]", "(", ")", ";", ":", ",", ".", "?", "=", "+", "-", "*", "/",
    "%", "&", "|", "^", "~", "!", "<", ">",
];

/// Tokens of `text`, which is `file`'s text from byte `base` on.
pub fn tokenize(text: &str, file: FileId, base: usize) -> Result<Vec<CTok>, Diagnostic> {
    let b = text.as_bytes();
    let span = |s: usize, e: usize| Span::new(file, base + s, base + e);
    let mut out = Vec::new();
    let mut i = 0;
    let mut line_start = true;
    while i < b.len() {
        let c = b[i];
        if c == b'\n' {
            line_start = true;
            i += 1;
            continue;
        }
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c == b'\\' && matches!(b.get(i + 1), Some(b'\n')) {
            i += 2;
            continue;
        }
        if c == b'\\' && b.get(i + 1) == Some(&b'\r') && b.get(i + 2) == Some(&b'\n') {
            i += 3;
            continue;
        }
        if text[i..].starts_with("//") {
            i += text[i..].find('\n').unwrap_or(text.len() - i);
            continue;
        }
        if text[i..].starts_with("/*") {
            match text[i + 2..].find("*/") {
                Some(end) => i += end + 4,
                None => {
                    return Err(Diagnostic::error("unterminated comment")
                        .at(span(i, i + 2), "this comment has no closing `*/`"))
                }
            }
            continue;
        }
        let start = i;
        let kind = if c.is_ascii_alphabetic() || c == b'_' {
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            K::Ident(text[start..i].to_string())
        } else if c.is_ascii_digit() {
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            number(&text[start..i]).map_err(|why| Diagnostic::error(why).at(span(start, i), "in this number"))?
        } else if c == b'"' || c == b'\'' {
            let (value, end) =
                quoted(text, i).map_err(|(why, at)| Diagnostic::error(why).at(span(at.0, at.1), "in this literal"))?;
            i = end;
            if c == b'"' {
                K::Str(value)
            } else {
                let bytes = value.as_bytes();
                if bytes.len() != 1 {
                    return Err(
                        Diagnostic::error("a character constant holds one character").at(span(start, i), "here")
                    );
                }
                K::Int { value: bytes[0] as i8 as i64, unsigned: false }
            }
        } else {
            match PUNCTS.iter().find(|p| text[i..].starts_with(**p)) {
                Some(p) => {
                    i += p.len();
                    K::Punct(p)
                }
                None => {
                    let len = text[i..].chars().next().map_or(1, char::len_utf8);
                    return Err(Diagnostic::error("invalid character in a C declaration")
                        .at(span(i, i + len), "not part of any C token"));
                }
            }
        };
        out.push(CTok { kind, span: span(start, i), line_start: std::mem::take(&mut line_start) });
    }
    Ok(out)
}

/// An integer constant: decimal, `0x` hex, `0b` binary or `0` octal, with
/// `u`/`l` suffixes.
fn number(s: &str) -> Result<K, String> {
    let lower = s.to_ascii_lowercase();
    let digits = lower.trim_end_matches(['u', 'l']);
    let unsigned = lower[digits.len()..].contains('u');
    let (radix, body) = if let Some(h) = digits.strip_prefix("0x") {
        (16, h)
    } else if let Some(bin) = digits.strip_prefix("0b") {
        (2, bin)
    } else if digits.len() > 1 && digits.starts_with('0') {
        (8, &digits[1..])
    } else {
        (10, digits)
    };
    match u64::from_str_radix(body, radix) {
        Ok(v) => Ok(K::Int { value: v as i64, unsigned: unsigned || v > i64::MAX as u64 }),
        Err(_) => Err(format!("`{s}` is not an integer constant")),
    }
}

/// The text of a string or character literal starting at `start`, escapes
/// decoded, and the byte after its closing quote.
fn quoted(text: &str, start: usize) -> Result<(String, usize), (String, (usize, usize))> {
    let b = text.as_bytes();
    let q = b[start];
    let mut out = Vec::new();
    let mut i = start + 1;
    loop {
        match b.get(i) {
            None | Some(b'\n') => return Err(("unterminated literal".into(), (start, start + 1))),
            Some(&c) if c == q => return Ok((String::from_utf8_lossy(&out).into_owned(), i + 1)),
            Some(b'\\') => {
                let e = *b.get(i + 1).ok_or(("unterminated literal".to_string(), (start, start + 1)))?;
                i += 2;
                out.push(match e {
                    b'n' => b'\n',
                    b't' => b'\t',
                    b'r' => b'\r',
                    b'0'..=b'7' => {
                        let mut v = (e - b'0') as u32;
                        for _ in 0..2 {
                            match b.get(i) {
                                Some(d @ b'0'..=b'7') => {
                                    v = v * 8 + (d - b'0') as u32;
                                    i += 1;
                                }
                                _ => break,
                            }
                        }
                        v as u8
                    }
                    b'x' => {
                        let hex: String = text[i..].chars().take_while(char::is_ascii_hexdigit).take(2).collect();
                        i += hex.len();
                        u8::from_str_radix(&hex, 16).map_err(|_| ("invalid `\\x` escape".to_string(), (i - 2, i)))?
                    }
                    b'\\' | b'\'' | b'"' | b'?' => e,
                    b'a' => 7,
                    b'b' => 8,
                    b'f' => 12,
                    b'v' => 11,
                    _ => return Err(("invalid escape sequence".into(), (i - 2, i))),
                });
            }
            Some(&c) => {
                out.push(c);
                i += 1;
            }
        }
    }
}
