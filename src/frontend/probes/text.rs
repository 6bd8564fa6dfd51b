//! The text of one attach point, and pointing into it.
//!
//! An [`AttachPoint`]'s span covers its text byte for byte (when it came
//! from a source file), so byte `i` of the text is `span.start + i`: every
//! diagnostic about an attach point points at the exact sub-text that is
//! wrong. The helpers here split the text at its colons and build those
//! diagnostics; every probe kind's file uses them.

use std::ops::Range;

use super::spec::{ProbeSpec, ResolvedProbe};
use crate::diag::Diagnostic;
use crate::frontend::ast::AttachPoint;
use crate::source::Span;

/// The attach point text with a way to point into it.
pub struct At<'a> {
    pub text: &'a str,
    span: Span,
    /// The span covers the text exactly, so sub-spans are meaningful.
    exact: bool,
}

impl<'a> At<'a> {
    pub fn new(ap: &'a AttachPoint) -> At<'a> {
        let exact = ap.span.end.checked_sub(ap.span.start) == u32::try_from(ap.text.len()).ok();
        At { text: &ap.text, span: ap.span, exact }
    }

    /// The span of bytes `r` of the text (the whole attach point if the
    /// span does not cover the text exactly), widened to whole characters:
    /// "the last byte" of `uprobe:./dbé` is inside the `é`.
    pub fn sub(&self, r: Range<usize>) -> Span {
        if !self.exact || r.start > r.end || r.end > self.text.len() {
            return self.span;
        }
        let start = (0..=r.start).rev().find(|&i| self.text.is_char_boundary(i)).unwrap_or(0);
        let end = (r.end..=self.text.len()).find(|&i| self.text.is_char_boundary(i)).unwrap_or(self.text.len());
        Span::new(self.span.file, self.span.start as usize + start, self.span.start as usize + end)
    }

    /// An error pointing at bytes `r` of the text.
    pub fn err(&self, r: Range<usize>, message: impl Into<String>, label: impl Into<String>) -> Diagnostic {
        Diagnostic::error(message).at(self.sub(r), label)
    }

    /// A resolved probe of this attach point.
    pub fn probe(&self, spec: ProbeSpec, name: String) -> ResolvedProbe {
        ResolvedProbe { spec, name, span: self.span }
    }

    /// Where the probe type ends (the first `:`, or the end of the text).
    pub fn type_end(&self) -> usize {
        self.text.find(':').unwrap_or(self.text.len())
    }
}

/// The `:`-separated parts after the type, as byte ranges of the text.
pub fn parts(text: &str, from: usize) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = from;
    for (i, c) in text[from..].char_indices() {
        if c == ':' {
            out.push(start..from + i);
            start = from + i + 1;
        }
    }
    out.push(start..text.len());
    out
}

/// "incomplete attach point: missing WHAT", pointing at `from` (or the last
/// byte when the text ends there), with an example.
pub fn missing(at: &At, from: usize, what: &str, example: &str) -> Diagnostic {
    let r = if from >= at.text.len() { at.text.len().saturating_sub(1)..at.text.len() } else { from..at.text.len() };
    at.err(r, format!("incomplete attach point `{}`: missing {what}", at.text), format!("{what} expected here"))
        .note(format!("for example `{example}`"))
}

/// `` `a`, `b` or `c` ``
pub fn quoted_list(items: &[String]) -> String {
    let q: Vec<String> = items.iter().map(|s| format!("`{s}`")).collect();
    match q.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => q.join(""),
    }
}

/// An attach point's `+OFFSET`: the value and where it is written.
pub type Offset = (u64, Range<usize>);

/// `FUNC+OFFSET` in bytes `r` of the text: the function's range and the
/// offset with its range (`None` without one). `kind` is the probe type the
/// offset would belong to (`uprobe`), `full` the one written, which must
/// not be a return probe (`ret`).
pub fn split_offset(
    at: &At,
    r: Range<usize>,
    full: &str,
    kind: &str,
    ret: bool,
) -> Result<(Range<usize>, Option<Offset>), Diagnostic> {
    let Some(i) = at.text[r.clone()].rfind('+') else { return Ok((r, None)) };
    let off_r = r.start + i + 1..r.end;
    let off = parse_u64(&at.text[off_r.clone()]).ok_or_else(|| {
        at.err(off_r.clone(), format!("invalid offset `{}`", &at.text[off_r.clone()]), "expected a number")
            .note("offsets are decimal or hex (`+16`, `+0x10`)")
    })?;
    if ret {
        return Err(at
            .err(r.start + i..r.end, format!("`{full}` cannot take an offset"), "offset here")
            .note(format!("a return probe fires when the function returns; offsets only make sense for `{kind}`")));
    }
    Ok((r.start..r.start + i, Some((off, off_r))))
}

/// Decimal or `0x` hex.
pub fn parse_u64(s: &str) -> Option<u64> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None if s.bytes().all(|b| b.is_ascii_digit()) => s.parse().ok(),
        None => None,
    }
}
