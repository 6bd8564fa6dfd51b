//! What every compile must satisfy, whatever its input: a rejection is a
//! non-empty list of diagnostics, at least one an error, none an internal
//! error (those are compiler bugs by definition), each pointing
//! inside the source it names and rendering with its message (the first
//! `diag::MAX_RENDERED` are rendered); an accepted
//! program links (with placeholder map numbers, as `-d` does) and
//! disassembles.

use trace::diag::{render_to_string, Diagnostic, MAX_RENDERED};
use trace::source::{SourceMap, Span};

/// The problems with a rejection's diagnostics, if any.
pub fn diagnostics(sources: &SourceMap, diags: &[Diagnostic]) -> Result<(), String> {
    if diags.is_empty() {
        return Err("rejected with no diagnostic".into());
    }
    if !diags.iter().any(Diagnostic::is_error) {
        return Err("rejected with warnings only".into());
    }
    for d in diags {
        // Stages report states an earlier stage should have excluded this
        // way (ARCHITECTURE.md, invariant 5): a compiler bug, not the
        // input's fault.
        if d.message.starts_with("internal error") {
            return Err(format!("a compiler bug reported as a diagnostic: {}", d.message));
        }
        if d.message.trim().is_empty() {
            return Err(format!("a diagnostic without a message: {d:?}"));
        }
        let spans = d.primary.iter().chain(&d.secondary).map(|(s, _)| *s);
        for span in spans {
            span_inside(sources, span).map_err(|e| format!("{e}, in the diagnostic `{}`", d.message))?;
        }
    }
    let text = render_to_string(sources, diags);
    for d in diags.iter().take(MAX_RENDERED) {
        if !text.contains(d.message.lines().next().unwrap_or("")) {
            return Err(format!("the rendering lacks the message `{}`:\n{text}", d.message));
        }
    }
    Ok(())
}

/// A span must name a source and lie inside it, on character boundaries.
fn span_inside(sources: &SourceMap, span: Span) -> Result<(), String> {
    let file =
        sources.files.get(span.file).map_err(|_| format!("a span names source #{} that does not exist", span.file))?;
    let text = file.source();
    let r = span.range();
    if r.start > r.end || r.end > text.len() || !text.is_char_boundary(r.start) || !text.is_char_boundary(r.end) {
        return Err(format!("the span {r:?} is not inside its source of {} bytes", text.len()));
    }
    Ok(())
}

/// Everything `-d` does with an accepted program: link each probe with
/// map numbers for file descriptors, disassemble it and dump its IR.
pub fn accepted(sources: &SourceMap, program: &trace::Program) -> Result<(), String> {
    let ids: Vec<i32> = (0..program.compiled.maps.len() as i32).collect();
    let linked = trace::link_all(program, &ids)
        .map_err(|d| format!("an accepted program does not link: {}", render_to_string(sources, &d)))?;
    for (p, l) in program.compiled.probes.iter().zip(&linked) {
        if l.insns.is_empty() {
            return Err(format!("probe `{}` links to no instructions", p.resolved.name));
        }
        trace::codegen::disasm::disassemble(&l.insns, &l.spans, sources);
        trace::codegen::disasm::dump_ir(&p.ir);
    }
    Ok(())
}
