//! Cutting a specifier into its parts, as byte ranges of the spec text.
//!
//! argdist splits on every `:` and `,`, so `a ? b : c`, `str(p, 8)` or a C++
//! `ns::x` in an expression breaks it. Here the prefix
//! (`type:library:function(signature)`) is cut at its first two colons and
//! its parentheses, and the rest (`:types:exprs:filter`) by a small scanner
//! that skips string and character literals, tracks `()[]{}` nesting and
//! pairs each `?` with its `:`. Unbalanced brackets are reported here, where
//! the whole spec is visible, rather than as a confusing parse error of one
//! piece.

use super::error::SpecError;
use crate::source::{FileId, Span};
use std::ops::Range;

/// One declared parameter: `db_shard_t* shard` has type `db_shard_t*`.
#[derive(Clone, Debug)]
pub struct ParamDecl {
    pub ty: Range<usize>,
    pub name: Range<usize>,
}

/// A specifier's parts. Ranges are trimmed of whitespace.
#[derive(Clone, Debug)]
pub struct Parts {
    pub letter: Range<usize>,
    /// The colons after the probe type and after the library.
    pub colons: (usize, usize),
    pub lib: Range<usize>,
    pub func: Range<usize>,
    /// The parameter list between the parentheses, and its parameters.
    pub signature: Range<usize>,
    pub params: Vec<ParamDecl>,
    /// `None` when the specifier stops after the signature (the defaults).
    pub values: Option<Values>,
    pub label: Option<Range<usize>>,
    /// The specifier without its label, trimmed.
    pub body: Range<usize>,
}

#[derive(Clone, Debug)]
pub struct Values {
    pub types_section: Range<usize>,
    pub types: Vec<Range<usize>>,
    pub exprs_section: Range<usize>,
    pub exprs: Vec<Range<usize>>,
    pub filter: Option<Range<usize>>,
}

struct Scanner<'a> {
    text: &'a str,
    bytes: &'a [u8],
    file: FileId,
}

/// Split `text`; the first problem found is returned.
pub fn split(text: &str, file: FileId) -> Result<Parts, SpecError> {
    Scanner { text, bytes: text.as_bytes(), file }.split()
}

impl Scanner<'_> {
    fn span(&self, r: Range<usize>) -> Span {
        Span::new(self.file, r.start, r.end)
    }

    fn trim(&self, r: Range<usize>) -> Range<usize> {
        let s = &self.text[r.clone()];
        let start = r.start + (s.len() - s.trim_start().len());
        let end = r.end - (s.len() - s.trim_end().len());
        start..end.max(start)
    }

    /// The first byte of `wanted` at or after `from`, outside literals.
    fn find_outside_quotes(&self, from: usize, end: usize, wanted: u8) -> Option<usize> {
        let mut i = from;
        while i < end {
            match self.bytes[i] {
                b'"' | b'\'' => i = self.skip_literal(i, end),
                b if b == wanted => return Some(i),
                _ => i += 1,
            }
        }
        None
    }

    /// Past the end of the string or character literal starting at `i`
    /// (`end` if it is unterminated; the expression parser reports that).
    fn skip_literal(&self, i: usize, end: usize) -> usize {
        let quote = self.bytes[i];
        let mut j = i + 1;
        while j < end {
            match self.bytes[j] {
                b'\\' => j += 2,
                b if b == quote => return j + 1,
                _ => j += 1,
            }
        }
        end
    }

    fn split(&self) -> Result<Parts, SpecError> {
        let len = self.text.len();
        let hash = self.find_outside_quotes(0, len, b'#');
        let label = hash.map(|h| h + 1..len);
        let body = self.trim(0..hash.unwrap_or(len));
        if body.is_empty() {
            return Err(SpecError::Empty { at: self.span(body) });
        }
        let colon = |from: usize| self.text[from..body.end].find(':').map(|i| from + i);
        let Some(c1) = colon(body.start) else {
            let at = self.trim(body.clone());
            return Err(SpecError::Missing { at: self.span(at.end..at.end), what: "`:library:function()`" });
        };
        let letter = self.trim(body.start..c1);
        let Some(c2) = colon(c1 + 1) else {
            return Err(SpecError::Missing { at: self.span(body.end..body.end), what: "`:function()`" });
        };
        let lib = self.trim(c1 + 1..c2);

        // The function runs to `(`; `::` (C++) may be part of it, a single
        // `:` means the parameter list was forgotten, except once in a USDT
        // probe's `PROVIDER:NAME`.
        let mut provider_colon = &self.text[letter.clone()] == "u";
        let mut i = c2 + 1;
        let open = loop {
            if i >= body.end {
                break None;
            }
            match self.bytes[i] {
                b'(' => break Some(i),
                b':' if self.bytes.get(i + 1) == Some(&b':') && i + 1 < body.end => i += 2,
                b':' if provider_colon => {
                    provider_colon = false;
                    i += 1;
                }
                b':' => break None,
                _ => i += 1,
            }
        };
        let func = self.trim(c2 + 1..open.unwrap_or(i));
        let func_text = &self.text[func.clone()];
        let Some(open) = open else {
            if func.is_empty() {
                return Err(SpecError::EmptyFunction { at: self.span(func.start..func.start) });
            }
            return Err(SpecError::MissingParens { at: self.span(func), func: func_text.to_string() });
        };
        if func.is_empty() {
            return Err(SpecError::EmptyFunction { at: self.span(open..open + 1) });
        }
        if func_text.contains(|c: char| c.is_whitespace() || "()[]{}\"'".contains(c)) {
            return Err(SpecError::BadFunction { at: self.span(func), func: func_text.to_string() });
        }
        let close = self.matching_paren(open, body.end)?;
        let signature = open + 1..close;
        let params = self.params(signature.clone())?;

        let rest = self.trim(close + 1..body.end);
        let values = if rest.is_empty() {
            None
        } else if self.bytes[rest.start] == b')' {
            return Err(SpecError::Unopened { at: self.span(rest.start..rest.start + 1), close: ')' });
        } else if self.bytes[rest.start] != b':' {
            return Err(SpecError::Trailing { at: self.span(rest) });
        } else {
            Some(self.values(rest.start + 1..body.end)?)
        };
        Ok(Parts { letter, colons: (c1, c2), lib, func, signature, params, values, label, body })
    }

    fn matching_paren(&self, open: usize, end: usize) -> Result<usize, SpecError> {
        let mut depth = 0usize;
        for i in open..end {
            match self.bytes[i] {
                b'(' => depth += 1,
                b')' => {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(i);
                    }
                }
                _ => {}
            }
        }
        Err(SpecError::Unclosed { at: self.span(open..open + 1), open: '(' })
    }

    /// `int fd, void *buf`: each parameter's name follows its last `*` or
    /// space, as argdist reads them. `()` and `(void)` declare none.
    fn params(&self, sig: Range<usize>) -> Result<Vec<ParamDecl>, SpecError> {
        let whole = self.trim(sig.clone());
        if whole.is_empty() || &self.text[whole.clone()] == "void" {
            return Ok(Vec::new());
        }
        let mut out: Vec<ParamDecl> = Vec::new();
        for piece in self.top_level_split(sig, b',') {
            let p = self.trim(piece.clone());
            let text = &self.text[p.clone()];
            let bad = || SpecError::BadParam {
                at: self.span(if p.is_empty() { piece.start..piece.start } else { p.clone() }),
                text: text.to_string(),
            };
            let cut = text.rfind('*').or_else(|| text.rfind(char::is_whitespace)).ok_or_else(bad)?;
            let name = self.trim(p.start + cut + 1..p.end);
            let ty = self.trim(p.start..p.start + cut + 1);
            if ty.is_empty() || !is_identifier(&self.text[name.clone()]) {
                return Err(bad());
            }
            if let Some(first) = out.iter().find(|q| self.text[q.name.clone()] == self.text[name.clone()]) {
                return Err(SpecError::DuplicateParam {
                    at: self.span(name.clone()),
                    first: self.span(first.name.clone()),
                    name: self.text[name].to_string(),
                });
            }
            out.push(ParamDecl { ty, name });
        }
        Ok(out)
    }

    /// `types:exprs[:filter]`, starting after the colon that ends the
    /// signature.
    fn values(&self, r: Range<usize>) -> Result<Values, SpecError> {
        // Types contain no colons, so the first one ends them.
        let types_end = self.text[r.clone()].find(':').map(|i| r.start + i);
        let types_section = self.trim(r.start..types_end.unwrap_or(r.end));
        let Some(types_end) = types_end else {
            return Err(SpecError::NoExprs { at: self.span(r.end..r.end) });
        };
        if types_section.is_empty() {
            return Err(SpecError::EmptyItem { at: self.span(types_section), what: "type list" });
        }
        let seps = self.scan_sections(types_end + 1..r.end)?;
        if seps.len() > 1 {
            return Err(SpecError::TooManyParts { at: self.span(seps[1]..r.end) });
        }
        let exprs_section = self.trim(types_end + 1..seps.first().copied().unwrap_or(r.end));
        if exprs_section.is_empty() {
            return Err(SpecError::EmptyItem { at: self.span(exprs_section), what: "expression list" });
        }
        let filter = seps.first().map(|&s| self.trim(s + 1..r.end)).filter(|f| !f.is_empty());
        let types = self.items(types_section.clone(), "type")?;
        let exprs = self.items(exprs_section.clone(), "expression")?;
        Ok(Values { types_section, types, exprs_section, exprs, filter })
    }

    fn items(&self, r: Range<usize>, what: &'static str) -> Result<Vec<Range<usize>>, SpecError> {
        let mut out = Vec::new();
        for piece in self.top_level_split(r, b',') {
            let t = self.trim(piece.clone());
            if t.is_empty() {
                return Err(SpecError::EmptyItem { at: self.span(piece.start..piece.start), what });
            }
            out.push(t);
        }
        Ok(out)
    }

    /// Pieces of `r` between separators outside brackets and literals.
    /// Brackets are already known to balance (or it does not matter).
    fn top_level_split(&self, r: Range<usize>, sep: u8) -> Vec<Range<usize>> {
        let mut out = Vec::new();
        let (mut depth, mut start, mut i) = (0usize, r.start, r.start);
        while i < r.end {
            match self.bytes[i] {
                b'"' | b'\'' => {
                    i = self.skip_literal(i, r.end);
                    continue;
                }
                b'(' | b'[' | b'{' => depth += 1,
                b')' | b']' | b'}' => depth = depth.saturating_sub(1),
                b if b == sep && depth == 0 => {
                    out.push(start..i);
                    start = i + 1;
                }
                _ => {}
            }
            i += 1;
        }
        out.push(start..r.end);
        out
    }

    /// Positions of the colons that separate expressions from the filter:
    /// outside literals and brackets, not half of `::`, and not the `:` of
    /// a `?:`. Checks that brackets balance.
    fn scan_sections(&self, r: Range<usize>) -> Result<Vec<usize>, SpecError> {
        let mut seps = Vec::new();
        let mut stack: Vec<(u8, usize)> = Vec::new();
        let mut pending_ternaries = 0usize;
        let mut i = r.start;
        while i < r.end {
            let b = self.bytes[i];
            match b {
                b'"' | b'\'' => {
                    i = self.skip_literal(i, r.end);
                    continue;
                }
                b'(' | b'[' | b'{' => stack.push((b, i)),
                b')' | b']' | b'}' => {
                    let want = match b {
                        b')' => b'(',
                        b']' => b'[',
                        _ => b'{',
                    };
                    match stack.pop() {
                        Some((open, _)) if open == want => {}
                        Some((open, at)) => {
                            return Err(SpecError::Mismatched {
                                at: self.span(i..i + 1),
                                close: b as char,
                                open_at: self.span(at..at + 1),
                                open: open as char,
                            })
                        }
                        None => return Err(SpecError::Unopened { at: self.span(i..i + 1), close: b as char }),
                    }
                }
                b'?' if stack.is_empty() => pending_ternaries += 1,
                b':' if stack.is_empty() => {
                    if self.bytes.get(i + 1) == Some(&b':') && i + 1 < r.end {
                        i += 2;
                        continue;
                    }
                    if pending_ternaries > 0 {
                        pending_ternaries -= 1;
                    } else {
                        seps.push(i);
                    }
                }
                _ => {}
            }
            i += 1;
        }
        if let Some(&(open, at)) = stack.last() {
            return Err(SpecError::Unclosed { at: self.span(at..at + 1), open: open as char });
        }
        Ok(seps)
    }
}

pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}
