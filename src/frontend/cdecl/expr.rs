//! Integer constant expressions of C: array sizes, enumerator values,
//! bitfield widths, `#if` conditions and `#define` values. Arithmetic is
//! on 64 bits, wrapping as the machine's; division by zero is an error.

use super::lex::{CTok, K};
use crate::diag::Diagnostic;
use crate::source::Span;

/// How deeply parentheses and unary operators may nest.
const MAX_DEPTH: u32 = 200;

/// The value of `toks` (all of them); `ident` gives the value of a name
/// (an enumerator), `whole` is where the expression is, for "missing"
/// errors.
pub fn eval(toks: &[CTok], ident: &dyn Fn(&str) -> Option<i64>, whole: Span) -> Result<i64, Diagnostic> {
    if toks.is_empty() {
        return Err(Diagnostic::error("expected a constant expression").at(whole, "empty"));
    }
    let mut e = Eval { toks, pos: 0, ident, whole, depth: 0 };
    let v = e.ternary()?;
    match e.toks.get(e.pos) {
        None => Ok(v),
        Some(t) => {
            Err(Diagnostic::error(format!("unexpected `{}` in a constant expression", t.text())).at(t.span, "here"))
        }
    }
}

struct Eval<'a> {
    toks: &'a [CTok],
    pos: usize,
    ident: &'a dyn Fn(&str) -> Option<i64>,
    whole: Span,
    depth: u32,
}

/// Binary operators by precedence, lowest first.
const LEVELS: &[&[&str]] = &[
    &["||"],
    &["&&"],
    &["|"],
    &["^"],
    &["&"],
    &["==", "!="],
    &["<", "<=", ">", ">="],
    &["<<", ">>"],
    &["+", "-"],
    &["*", "/", "%"],
];

impl Eval<'_> {
    fn peek(&self) -> Option<&CTok> {
        self.toks.get(self.pos)
    }

    fn eat(&mut self, p: &str) -> bool {
        if self.peek().is_some_and(|t| t.is(p)) {
            self.pos += 1;
            return true;
        }
        false
    }

    fn missing(&self, what: &str) -> Diagnostic {
        match self.peek() {
            Some(t) => Diagnostic::error(format!("expected {what}, found `{}`", t.text())).at(t.span, "here"),
            None => {
                let at = self.toks.last().map_or(self.whole, |t| t.span);
                Diagnostic::error(format!("expected {what} in this constant expression")).at(at, "after this")
            }
        }
    }

    fn ternary(&mut self) -> Result<i64, Diagnostic> {
        let c = self.binary(0)?;
        if !self.eat("?") {
            return Ok(c);
        }
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(Diagnostic::error("constant expression nested too deeply").at(self.whole, "here"));
        }
        let a = self.ternary()?;
        if !self.eat(":") {
            return Err(self.missing("`:`"));
        }
        let b = self.ternary()?;
        self.depth -= 1;
        Ok(if c != 0 { a } else { b })
    }

    fn binary(&mut self, level: usize) -> Result<i64, Diagnostic> {
        if level == LEVELS.len() {
            return self.unary();
        }
        let mut lhs = self.binary(level + 1)?;
        loop {
            let Some(op) = self.peek().and_then(|t| match &t.kind {
                K::Punct(p) if LEVELS[level].contains(p) => Some((*p, t.span)),
                _ => None,
            }) else {
                return Ok(lhs);
            };
            self.pos += 1;
            let rhs = self.binary(level + 1)?;
            lhs = apply(op.0, lhs, rhs).ok_or_else(|| Diagnostic::error("division by zero").at(op.1, "here"))?;
        }
    }

    fn unary(&mut self) -> Result<i64, Diagnostic> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(Diagnostic::error("constant expression nested too deeply").at(self.whole, "here"));
        }
        let v = self.unary_inner();
        self.depth -= 1;
        v
    }

    fn unary_inner(&mut self) -> Result<i64, Diagnostic> {
        let Some(t) = self.peek().cloned() else { return Err(self.missing("a value")) };
        self.pos += 1;
        match &t.kind {
            K::Int { value, .. } => Ok(*value),
            K::Punct("-") => Ok(self.unary()?.wrapping_neg()),
            K::Punct("+") => self.unary(),
            K::Punct("!") => Ok((self.unary()? == 0) as i64),
            K::Punct("~") => Ok(!self.unary()?),
            K::Punct("(") => {
                if let Some((size, signed)) = self.cast_type() {
                    let v = self.unary()?;
                    return Ok(truncate(v, size, signed));
                }
                let v = self.ternary()?;
                if !self.eat(")") {
                    return Err(self.missing("`)`"));
                }
                Ok(v)
            }
            K::Ident(name) if name == "sizeof" => {
                Err(Diagnostic::error("`sizeof` in a constant expression of a C definition is not supported by trace")
                    .at(t.span, "write the number"))
            }
            K::Ident(name) => (self.ident)(name).ok_or_else(|| {
                Diagnostic::error(format!("`{name}` is not a known constant"))
                    .at(t.span, "unknown name")
                    .note("constants here are enumerators and `#define`s defined before this point")
            }),
            _ => {
                Err(Diagnostic::error(format!("unexpected `{}` in a constant expression", t.text())).at(t.span, "here"))
            }
        }
    }

    /// After `(`: integer type words and `)`, as in `(unsigned long)1`.
    fn cast_type(&mut self) -> Option<(u8, bool)> {
        let start = self.pos;
        let mut words = Vec::new();
        while let Some(w) = self.peek().and_then(CTok::ident) {
            words.push(w.to_string());
            self.pos += 1;
        }
        if !words.is_empty() && self.eat(")") {
            if let Some(t) = super::parse::int_words(&words) {
                return Some(t);
            }
        }
        self.pos = start;
        None
    }
}

fn apply(op: &str, a: i64, b: i64) -> Option<i64> {
    Some(match op {
        "||" => (a != 0 || b != 0) as i64,
        "&&" => (a != 0 && b != 0) as i64,
        "|" => a | b,
        "^" => a ^ b,
        "&" => a & b,
        "==" => (a == b) as i64,
        "!=" => (a != b) as i64,
        "<" => (a < b) as i64,
        "<=" => (a <= b) as i64,
        ">" => (a > b) as i64,
        ">=" => (a >= b) as i64,
        "<<" => a.wrapping_shl(b as u32),
        ">>" => a.wrapping_shr(b as u32),
        "+" => a.wrapping_add(b),
        "-" => a.wrapping_sub(b),
        "*" => a.wrapping_mul(b),
        "/" => a.checked_div(b).or_else(|| (b == -1).then(|| a.wrapping_neg()))?,
        "%" => a.checked_rem(b).or_else(|| (b == -1).then_some(0))?,
        _ => return None,
    })
}

/// `v` as an integer of `size` bytes.
pub fn truncate(v: i64, size: u8, signed: bool) -> i64 {
    if size >= 8 {
        return v;
    }
    let bits = size as u32 * 8;
    let masked = (v as u64) & ((1u64 << bits) - 1);
    if signed && masked >> (bits - 1) == 1 {
        (masked | !((1u64 << bits) - 1)) as i64
    } else {
        masked as i64
    }
}
