//! argdist expressions ─► our expressions.
//!
//! Each expression or filter is parsed by the language's own parser, from a
//! copy of the whole spec text in which everything else is blanked out, so
//! every span (and so every later diagnostic) points into the spec. Then
//! argdist's vocabulary is rewritten in the tree:
//!
//! * a parameter name ─► `args.NAME` (debug info) or `(TYPE)argN`;
//! * `$retval` ─► `retval`, `$PID` ─► `pid`, `$COMM` ─► `comm`;
//! * `$latency` ─► `(nsecs - @__ad_start_K[tid])`, the start being recorded
//!   by an entry probe;
//! * `$entry(p)` ─► `(TYPE)@__ad_entry_K_p[tid]`, stored by the entry probe;
//! * `x == "text"` ─► `str(x, N) == "text"`: argdist compares the string a
//!   pointer points to with a literal (bcc's strcmp rewrite), and `str()`
//!   of what already is a string is that string.
//!
//! Our lexer reads `$entry` as a variable followed by a parenthesis, so
//! `$entry(p)` is first rewritten, in the blanked copy and keeping its
//! length, to the variable `$entry_p_`; the occurrence is remembered by its
//! byte offset, so the rewrite cannot be confused with a real variable.

use super::ctype::{int_name, int_type, ValueType};
use super::error::SpecError;
use super::split::is_identifier;
use crate::diag::{Diagnostic, IntoDiagnostic};
use crate::frontend::ast::*;
use crate::frontend::names::similar_names;
use crate::frontend::parser::parse_expr;
use crate::source::{FileId, Span};
use std::ops::Range;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Letter {
    /// `p`: function entry.
    Entry,
    /// `r`: function return.
    Return,
    /// `t`: kernel tracepoint.
    Tracepoint,
    /// `u`: USDT probe.
    Usdt,
}

/// How a declared parameter is read at function entry.
#[derive(Clone, Debug)]
pub enum ParamRead {
    /// `args.NAME`, typed by the binary's debug info.
    Field(String),
    /// `(cast)argN`, from the declared type.
    Reg { index: usize, cast: TypeName },
    /// Not readable; the error says why (its span is replaced by the use).
    Unreadable(Unreadable),
}

#[derive(Clone, Debug)]
pub enum Unreadable {
    TooFar { number: usize },
    NeedsDwarf { ty: String },
    BadType { ty: String },
}

#[derive(Clone, Debug)]
pub struct Param {
    pub name: String,
    pub read: ParamRead,
    /// Gives a value stored in a map back its type, for `$entry(name)`.
    pub entry_cast: Option<TypeName>,
}

impl Param {
    /// The expression reading this parameter, spanned at its use.
    pub fn read_expr(&self, span: Span) -> Result<Expr, SpecError> {
        match &self.read {
            ParamRead::Field(field) => {
                let base = Expr::new(ExprKind::Ident("args".into()), span);
                let kind =
                    ExprKind::Field { base: Box::new(base), field: field.clone(), field_span: span, arrow: false };
                Ok(Expr::new(kind, span))
            }
            ParamRead::Reg { index, cast } => {
                let reg = Expr::new(ExprKind::Ident(format!("arg{index}")), span);
                Ok(Expr::new(ExprKind::Cast { ty: cast.clone(), expr: Box::new(reg) }, span))
            }
            ParamRead::Unreadable(why) => {
                let name = self.name.clone();
                Err(match why {
                    Unreadable::TooFar { number } => SpecError::ParamTooFar { at: span, name, number: *number },
                    Unreadable::NeedsDwarf { ty } => SpecError::ParamNeedsDwarf { at: span, name, ty: ty.clone() },
                    Unreadable::BadType { ty } => SpecError::ParamType { at: span, ty: ty.clone() },
                })
            }
        }
    }
}

pub fn result_map(index: usize) -> String {
    format!("__ad_{index}")
}

pub fn start_map(index: usize) -> String {
    format!("__ad_start_{index}")
}

pub fn entry_map(index: usize, param: &str) -> String {
    format!("__ad_entry_{index}_{param}")
}

/// `@name[tid]`
pub fn per_thread(name: String, span: Span) -> MapRef {
    MapRef { name, keys: vec![Expr::new(ExprKind::Ident("tid".into()), span)], span }
}

/// A `$entry(name)` rewritten in the blanked copy.
struct EntryRef {
    at: usize,
    name: String,
    name_span: Span,
}

pub struct Translator<'a> {
    pub file: FileId,
    pub text: &'a str,
    pub letter: Letter,
    pub index: usize,
    pub params: &'a [Param],
    /// `-z`: bytes read from a `char*`.
    pub string_size: u32,
    /// `$latency` or `$entry` was used: an entry probe records the start.
    pub needs_entry: bool,
    /// Parameters stored at entry for `$entry`, by index into `params`,
    /// with the span of their first use.
    pub entry_params: Vec<(usize, Span)>,
    pub errors: Vec<Diagnostic>,
    entries: Vec<EntryRef>,
}

const SPECIALS: &[&str] = &["retval", "latency", "entry", "PID", "COMM"];

impl<'a> Translator<'a> {
    pub fn new(
        file: FileId,
        text: &'a str,
        letter: Letter,
        index: usize,
        params: &'a [Param],
        string_size: u32,
    ) -> Translator<'a> {
        Translator {
            file,
            text,
            letter,
            index,
            params,
            string_size,
            needs_entry: false,
            entry_params: Vec::new(),
            errors: Vec::new(),
            entries: Vec::new(),
        }
    }

    fn span(&self, r: Range<usize>) -> Span {
        Span::new(self.file, r.start, r.end)
    }

    fn error(&mut self, e: SpecError) {
        self.errors.push(e.into_diagnostic());
    }

    /// Parse and rewrite the expression at `r`; `None` after an error.
    pub fn expr(&mut self, r: Range<usize>) -> Option<Expr> {
        let masked = self.mask(r)?;
        let mut e = match parse_expr(&masked, self.file) {
            Ok(e) => e,
            Err(diags) => {
                self.errors.extend(diags);
                return None;
            }
        };
        let before = self.errors.len();
        self.rewrite(&mut e);
        (self.errors.len() == before).then_some(e)
    }

    /// The spec text with everything outside `r` blanked and `$entry(p)`
    /// rewritten to a variable of the same length.
    fn mask(&mut self, r: Range<usize>) -> Option<String> {
        self.entries.clear();
        let src = self.text.as_bytes();
        let mut bytes = vec![b' '; src.len()];
        bytes[r.clone()].copy_from_slice(&src[r.clone()]);
        let mut i = r.start;
        let mut ok = true;
        while i < r.end {
            match src[i] {
                b'"' | b'\'' => {
                    let quote = src[i];
                    i += 1;
                    while i < r.end && src[i] != quote {
                        i += if src[i] == b'\\' { 2 } else { 1 };
                    }
                    i += 1;
                }
                b'$' if self.text[i..r.end].starts_with("$entry")
                    && !src.get(i + 6).is_some_and(|&c| c.is_ascii_alphanumeric() || c == b'_') =>
                {
                    match self.entry_call(i, r.end) {
                        Ok(Some((end, name, name_r))) => {
                            let mut var = format!("$entry_{name}").into_bytes();
                            var.resize(end - i, b'_');
                            bytes[i..end].copy_from_slice(&var);
                            self.entries.push(EntryRef { at: i, name, name_span: self.span(name_r) });
                            i = end;
                        }
                        Ok(None) => i += 6,
                        Err(e) => {
                            self.error(e);
                            ok = false;
                            i += 6;
                        }
                    }
                }
                _ => i += 1,
            }
        }
        // Only whole characters were copied and only ASCII written.
        ok.then(|| String::from_utf8(bytes).ok()).flatten()
    }

    /// `$entry ( name )` at `at`: its end, the name and the name's range.
    /// `None` when no parenthesis follows (the bare `$entry` is reported
    /// after parsing).
    #[allow(clippy::type_complexity)]
    fn entry_call(&self, at: usize, end: usize) -> Result<Option<(usize, String, Range<usize>)>, SpecError> {
        let src = self.text.as_bytes();
        let mut j = at + 6;
        while j < end && src[j].is_ascii_whitespace() {
            j += 1;
        }
        if j >= end || src[j] != b'(' {
            return Ok(None);
        }
        let open = j;
        let mut depth = 0usize;
        let close = loop {
            if j >= end {
                return Err(SpecError::Unclosed { at: self.span(open..open + 1), open: '(' });
            }
            match src[j] {
                b'(' => depth += 1,
                b')' => {
                    depth -= 1;
                    if depth == 0 {
                        break j;
                    }
                }
                _ => {}
            }
            j += 1;
        };
        let inner = &self.text[open + 1..close];
        let name = inner.trim();
        if !is_identifier(name) {
            let start = open + 1 + (inner.len() - inner.trim_start().len());
            let at = if name.is_empty() { open..close + 1 } else { start..start + name.len() };
            return Err(SpecError::EntryArgument { at: self.span(at) });
        }
        let start = open + 1 + (inner.len() - inner.trim_start().len());
        Ok(Some((close + 1, name.to_string(), start..start + name.len())))
    }

    /// Rewrites children first, so a replacement is never walked again.
    fn rewrite(&mut self, e: &mut Expr) {
        match &mut e.kind {
            ExprKind::Map(m) => m.keys.iter_mut().for_each(|k| self.rewrite(k)),
            ExprKind::Call { args, .. } => args.iter_mut().for_each(|a| self.rewrite(a)),
            ExprKind::Binary { lhs, rhs, .. } => {
                self.rewrite(lhs);
                self.rewrite(rhs);
            }
            ExprKind::Unary { expr, .. } | ExprKind::Cast { expr, .. } => self.rewrite(expr),
            ExprKind::Ternary { cond, then, els } => {
                self.rewrite(cond);
                self.rewrite(then);
                self.rewrite(els);
            }
            ExprKind::Field { base, .. } => self.rewrite(base),
            ExprKind::Index { base, index } => {
                self.rewrite(base);
                self.rewrite(index);
            }
            ExprKind::IncDec { target, .. } => self.rewrite(target),
            ExprKind::Sizeof(SizeofArg::Expr(x)) => self.rewrite(x),
            _ => {}
        }
        let span = e.span;
        let replacement = match &e.kind {
            ExprKind::Var(name) => {
                let name = name.clone();
                self.special(&name, span)
            }
            ExprKind::Ident(name) => {
                let name = name.clone();
                self.parameter(&name, span)
            }
            ExprKind::Binary { op: op @ (BinOp::Eq | BinOp::Ne), lhs, rhs } => {
                let is_str = |e: &Expr| matches!(e.kind, ExprKind::Str(_));
                let (mut lhs, mut rhs) = (lhs.clone(), rhs.clone());
                match (is_str(&lhs), is_str(&rhs)) {
                    (true, false) => *rhs = self.as_string(*rhs),
                    (false, true) => *lhs = self.as_string(*lhs),
                    _ => return,
                }
                Some(Expr::new(ExprKind::Binary { op: *op, lhs, rhs }, span))
            }
            _ => None,
        };
        if let Some(r) = replacement {
            *e = r;
        }
    }

    /// `str(e, -z)`: a no-op on what already is a string.
    fn as_string(&self, e: Expr) -> Expr {
        let span = e.span;
        let size = Expr::new(ExprKind::Int(self.string_size as i64), span);
        Expr::new(ExprKind::Call { name: "str".into(), name_span: span, args: vec![e, size] }, span)
    }

    fn ident(name: &str, span: Span) -> Expr {
        Expr::new(ExprKind::Ident(name.into()), span)
    }

    fn special(&mut self, name: &str, span: Span) -> Option<Expr> {
        let ret = self.letter == Letter::Return;
        if let Some(i) = self.entries.iter().position(|r| r.at == span.start as usize) {
            let (pname, name_span) = (self.entries[i].name.clone(), self.entries[i].name_span);
            if !ret {
                self.error(SpecError::ReturnOnly { at: span, name: "entry" });
                return None;
            }
            let Some(p) = self.params.iter().position(|p| p.name == pname) else {
                let params = self.params.iter().map(|p| p.name.clone()).collect();
                self.error(SpecError::UnknownEntry { at: name_span, param: pname, params });
                return None;
            };
            self.needs_entry = true;
            if !self.entry_params.iter().any(|(q, _)| *q == p) {
                self.entry_params.push((p, span));
            }
            let stored = Expr::new(ExprKind::Map(per_thread(entry_map(self.index, &pname), span)), span);
            return Some(match &self.params[p].entry_cast {
                Some(ty) => {
                    Expr::new(ExprKind::Cast { ty: TypeName { span, ..ty.clone() }, expr: Box::new(stored) }, span)
                }
                None => stored,
            });
        }
        match name {
            "retval" | "latency" if !ret => {
                let name = if name == "retval" { "retval" } else { "latency" };
                self.error(SpecError::ReturnOnly { at: span, name });
                None
            }
            "retval" => Some(Self::ident("retval", span)),
            "latency" => {
                self.needs_entry = true;
                let start = Expr::new(ExprKind::Map(per_thread(start_map(self.index), span)), span);
                let kind = ExprKind::Binary {
                    op: BinOp::Sub,
                    lhs: Box::new(Self::ident("nsecs", span)),
                    rhs: Box::new(start),
                };
                Some(Expr::new(kind, span))
            }
            "PID" => Some(Self::ident("pid", span)),
            "COMM" => Some(Self::ident("comm", span)),
            "entry" => {
                self.error(SpecError::EntryArgument { at: span });
                None
            }
            other => {
                let suggestion =
                    similar_names(other, SPECIALS.iter().copied(), 1, true).pop().map(|s| match s.as_str() {
                        "entry" => "$entry(param)".to_string(),
                        s => format!("${s}"),
                    });
                self.error(SpecError::UnknownSpecial { at: span, name: other.to_string(), suggestion });
                None
            }
        }
    }

    fn parameter(&mut self, name: &str, span: Span) -> Option<Expr> {
        let Some(p) = self.params.iter().find(|p| p.name == name) else {
            return self.usdt_arg(name, span);
        };
        match self.letter {
            Letter::Return => {
                self.error(SpecError::ParamInReturn { at: span, name: name.to_string() });
                None
            }
            _ => match p.read_expr(span) {
                Ok(e) => Some(e),
                Err(err) => {
                    self.error(err);
                    None
                }
            },
        }
    }
}

impl Translator<'_> {
    /// argdist's `argN` in a `u:` probe is the probe's N-th argument,
    /// counted from 1 (bcc's `bpf_usdt_readarg` numbering): our `arg{N-1}`.
    fn usdt_arg(&mut self, name: &str, span: Span) -> Option<Expr> {
        if self.letter != Letter::Usdt {
            return None;
        }
        let digits = name.strip_prefix("arg")?;
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.len() > 2 {
            return None;
        }
        match digits.parse::<usize>().ok()? {
            0 => {
                self.error(SpecError::UsdtArgZero { at: span });
                None
            }
            n => Some(Self::ident(&format!("arg{}", n - 1), span)),
        }
    }
}

/// The value as collected: cast to its integer type, or read as a string.
pub fn typed(e: Expr, ty: &ValueType, type_span: Span, string_size: u32) -> Expr {
    let span = e.span;
    match ty {
        ValueType::Int(size, signed) => {
            // `(int32)arg0` typed `int` is already what it should be.
            if let ExprKind::Cast { ty, .. } = &e.kind {
                if ty.pointers == 0 && ty.tag.is_none() && ty.name == int_name(*size, *signed) {
                    return e;
                }
            }
            Expr::new(ExprKind::Cast { ty: int_type(*size, *signed, type_span), expr: Box::new(e) }, span)
        }
        ValueType::Str => {
            let size = Expr::new(ExprKind::Int(string_size as i64), type_span);
            Expr::new(ExprKind::Call { name: "str".into(), name_span: type_span, args: vec![e, size] }, span)
        }
    }
}

/// An expression as argdist displays it in `expr = value`: as written,
/// with `$entry(p)` shown as `p`.
pub fn display(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("$entry") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 6..];
        let inner = after.trim_start().strip_prefix('(').and_then(|s| s.split_once(')'));
        match inner {
            Some((name, tail)) if is_identifier(name.trim()) => {
                out.push_str(name.trim());
                rest = tail;
            }
            _ => {
                out.push_str("$entry");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}
