//! Diagnostics: one error type that every stage produces, rendered with
//! codespan-reporting against the [`SourceMap`].
//!
//! A message is built once, where the knowledge is: an attach point's in its
//! probe kind's file, a type error in the checker, a verifier rejection in
//! the pipeline (`lib.rs`). Stages with typed error enums of their own (the
//! lexer, the argdist front end) implement [`IntoDiagnostic`]. The pipeline
//! collects [`Diagnostic`]s and renders them once.

use crate::source::{SourceMap, Span};
use codespan_reporting::diagnostic::{Diagnostic as CsDiagnostic, Label};
use codespan_reporting::term::{self, termcolor};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// One message, optionally pointing into the source, with notes below it.
#[derive(Clone, Debug)]
pub struct Diagnostic {
    pub severity: Severity,
    pub message: String,
    /// Primary location and its label text.
    pub primary: Option<(Span, String)>,
    /// Secondary locations.
    pub secondary: Vec<(Span, String)>,
    /// Free text lines shown under the snippet (`= note: ...`).
    pub notes: Vec<String>,
}

impl Diagnostic {
    pub fn error(message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            message: message.into(),
            primary: None,
            secondary: Vec::new(),
            notes: Vec::new(),
        }
    }

    pub fn warning(message: impl Into<String>) -> Diagnostic {
        Diagnostic { severity: Severity::Warning, ..Diagnostic::error(message) }
    }

    /// Point at `span` with a label.
    pub fn at(mut self, span: Span, label: impl Into<String>) -> Diagnostic {
        self.primary = Some((span, label.into()));
        self
    }

    pub fn also(mut self, span: Span, label: impl Into<String>) -> Diagnostic {
        self.secondary.push((span, label.into()));
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Diagnostic {
        self.notes.push(note.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// Implemented by every stage's error enum.
pub trait IntoDiagnostic {
    fn into_diagnostic(self) -> Diagnostic;
}

impl IntoDiagnostic for Diagnostic {
    fn into_diagnostic(self) -> Diagnostic {
        self
    }
}

/// At most this many diagnostics are rendered; one line then says how many
/// more there were (clang's default `-ferror-limit` is the same 20). Each
/// diagnostic shows its source line, so without a limit a long one-line
/// program with an error per statement (a few kilobytes, thousands of
/// cascading syntax errors) rendered that line thousands of times:
/// hundreds of megabytes and many seconds.
pub const MAX_RENDERED: usize = 20;

/// The diagnostics to render, and the line standing for the others.
fn shown(diags: &[Diagnostic]) -> (&[Diagnostic], Option<Diagnostic>) {
    if diags.len() <= MAX_RENDERED {
        return (diags, None);
    }
    let (shown, rest) = diags.split_at(MAX_RENDERED);
    let errors = rest.iter().filter(|d| d.is_error()).count();
    let plural = |n: usize, word: &str| format!("{n} more {word}{}", if n == 1 { "" } else { "s" });
    let more = match errors {
        0 => Diagnostic::warning(format!("{} not shown", plural(rest.len(), "warning"))),
        e if e == rest.len() => Diagnostic::error(format!("{} not shown", plural(e, "error"))),
        e => Diagnostic::error(format!("{} not shown ({e} of them errors)", plural(rest.len(), "diagnostic"))),
    };
    (shown, Some(more.note("fix the ones above first: later ones often follow from them")))
}

/// Render diagnostics to a string (no colour), e.g. for tests.
pub fn render_to_string(map: &SourceMap, diags: &[Diagnostic]) -> String {
    render_into(map, diags, termcolor::Buffer::no_color())
}

/// Render diagnostics to a string for a terminal: coloured unless the
/// environment says no (termcolor's rules: `NO_COLOR`, `TERM=dumb`).
pub fn render_for_terminal(map: &SourceMap, diags: &[Diagnostic]) -> String {
    render_into(map, diags, termcolor::BufferWriter::stderr(termcolor::ColorChoice::Auto).buffer())
}

fn render_into(map: &SourceMap, diags: &[Diagnostic], mut buf: termcolor::Buffer) -> String {
    let (diags, more) = shown(diags);
    for d in diags.iter().chain(&more) {
        emit(map, d, &mut buf);
    }
    String::from_utf8_lossy(buf.as_slice()).into_owned()
}

/// One diagnostic per mistake: a block with a wildcard is checked once per
/// probe it expands to, so an error in its body comes back once per probe
/// (720 times for `tracepoint:syscalls:*`). Diagnostics that point at the
/// same place with the same label are one: the first is kept, with a note
/// saying how many probes had it.
pub fn dedup(diags: Vec<Diagnostic>) -> Vec<Diagnostic> {
    let mut out: Vec<(Diagnostic, usize)> = Vec::new();
    for d in diags {
        let same =
            |o: &(Diagnostic, usize)| o.0.primary.is_some() && o.0.primary == d.primary && o.0.severity == d.severity;
        match out.iter_mut().find(|o| same(o)) {
            Some(o) => o.1 += 1,
            None => out.push((d, 1)),
        }
    }
    out.into_iter()
        .map(|(d, n)| if n > 1 { d.note(format!("the same in {n} of the probes this block expands to")) } else { d })
        .collect()
}

/// One line for the user on stderr: a warning, or a notice such as
/// "Attaching 3 probes...". A closed or full stderr loses the line, never
/// the session (the `eprintln!` family would abort the process).
pub fn stderr_line(text: impl std::fmt::Display) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}

/// `warning: TEXT` on stderr (see [`stderr_line`]).
pub fn warn(text: impl std::fmt::Display) {
    stderr_line(format_args!("warning: {text}"));
}

/// Render diagnostics to stderr, coloured when stderr is a terminal.
pub fn render_to_stderr(map: &SourceMap, diags: &[Diagnostic]) {
    let choice = if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        termcolor::ColorChoice::Auto
    } else {
        termcolor::ColorChoice::Never
    };
    let stderr = termcolor::StandardStream::stderr(choice);
    let mut lock = stderr.lock();
    let (diags, more) = shown(diags);
    for d in diags.iter().chain(&more) {
        emit(map, d, &mut lock);
    }
}

fn emit(map: &SourceMap, d: &Diagnostic, out: &mut dyn termcolor::WriteColor) {
    let mut cs = match d.severity {
        Severity::Error => CsDiagnostic::error(),
        Severity::Warning => CsDiagnostic::warning(),
    }
    .with_message(d.message.clone());
    let mut labels = Vec::new();
    if let Some((span, text)) = &d.primary {
        labels.push(Label::primary(span.file, span.range()).with_message(text.clone()));
    }
    for (span, text) in &d.secondary {
        labels.push(Label::secondary(span.file, span.range()).with_message(text.clone()));
    }
    cs = cs.with_labels(labels).with_notes(d.notes.clone());
    let config = term::Config::default();
    // A span outside its file cannot be rendered; fall back to the bare message.
    if term::emit(out, &config, &map.files, &cs).is_err() {
        let _ = std::io::Write::write_fmt(out, format_args!("error: {}\n", d.message));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One error per statement of a long one-line program: the line is
    /// shown for the first [`MAX_RENDERED`] only, and the rest are counted.
    #[test]
    fn many_errors_on_one_long_line_render_a_bounded_text() {
        let mut map = SourceMap::new();
        let text = format!("BEGIN {{ {}}}", "@x = \"a\" + 1; ".repeat(2000));
        let file = map.add("<long>", text.clone());
        let diags: Vec<Diagnostic> = (0..2000)
            .map(|i| {
                let at = 8 + 15 * i;
                Diagnostic::error(format!("error {i}")).at(Span::new(file, at, at + 2), "here")
            })
            .collect();
        let rendered = render_to_string(&map, &diags);
        assert!(rendered.contains("error 19"), "{}", &rendered[..500]);
        assert!(!rendered.contains("error 20\n"), "the 21st is not shown");
        assert!(rendered.contains("1980 more errors not shown"), "{}", &rendered[rendered.len() - 500..]);
        assert!(rendered.len() < (MAX_RENDERED + 1) * 2 * text.len(), "{} bytes", rendered.len());
    }

    #[test]
    fn a_few_diagnostics_render_in_full() {
        let mut map = SourceMap::new();
        let file = map.add("<short>", "BEGIN { x }");
        let diags: Vec<Diagnostic> = (0..MAX_RENDERED)
            .map(|i| Diagnostic::warning(format!("warning {i}")).at(Span::new(file, 8, 9), "x"))
            .collect();
        let rendered = render_to_string(&map, &diags);
        assert!(rendered.contains(&format!("warning {}", MAX_RENDERED - 1)));
        assert!(!rendered.contains("not shown"), "{rendered}");
        let more: Vec<Diagnostic> = diags.iter().cloned().chain([Diagnostic::warning("one more")]).collect();
        assert!(render_to_string(&map, &more).contains("1 more warning not shown"));
    }
}
