//! bcc argdist probe specifiers (`-C`, `-H`) translated into our AST.
//!
//! ```text
//! {p,r,t,u}:{[library],category}:function(signature)[:type[,type...]:expr[,expr...][:filter]][#label]
//! ```
//!
//! There is no second code generator: a specifier becomes an ordinary
//! program, so it gets DWARF-typed arguments, our diagnostics and our code
//! generation. `-C 'p:./db:db_log_rotate(db_shard_t* shard):u32:shard->version.epoch'`
//! becomes
//!
//! ```text
//! uprobe:./db:db_log_rotate { @__ad_0[(uint32)args.shard->version.epoch] = count(); }
//! ```
//!
//! and `-H 'r:./db:snapshot():u64:$latency'` an entry probe plus a return
//! probe:
//!
//! ```text
//! uprobe:./db:snapshot { @__ad_start_0[tid] = nsecs; }
//! uretprobe:./db:snapshot /@__ad_start_0[tid]/ { @__ad_0 = hist((uint64)(nsecs - @__ad_start_0[tid])); delete(@__ad_start_0[tid]); }
//! ```
//!
//! A `u:` specifier names a USDT probe (`u:./db:checkpoint()` or
//! `u:./db:db:checkpoint()`, `PROVIDER:NAME`) and becomes a `usdt:` probe;
//! its expressions number the probe's arguments from `arg1`, as argdist
//! does (bcc's `bpf_usdt_readarg` counts from 1), so `arg1` becomes `arg0`.
//!
//! The caller registers each specifier's text as its own source file, so
//! every diagnostic, including those of the later passes, points into the
//! specifier. Attach points are expanded here once (with spans mapped back
//! onto the specifier) to learn the binary, whose debug info decides how a
//! parameter is read: `args.NAME` when the function is described, else a
//! cast of its register, `(TYPE)argN`, from the declared type.
//!
//! Where argdist is loose this is strict (a `:` inside an expression does
//! not split it, unknown `$` names, parameters used in return probes and
//! mismatched type lists are errors), and where it is strict this is too
//! (the type list casts each value, as argdist's typed keys do).
//!
//! The parts: `split` cuts the text, `ctype` reads C types, `translate`
//! rewrites expressions, `print` shows the result as program text.

mod ctype;
mod error;
mod print;
mod split;
#[cfg(test)]
mod tests;
mod translate;

pub use error::SpecError;
pub use print::{expr_text, program_text};

use crate::arch;
use crate::diag::{Diagnostic, IntoDiagnostic};
use crate::frontend::ast::*;
use crate::frontend::dwarf::{self, Function};
use crate::frontend::names::is_glob;
use crate::frontend::probes::{self, ProbeContext};
use crate::source::{FileId, SourceMap, Span};
use ctype::ValueType;
use split::Parts;
use std::ops::Range;
use translate::{entry_map, per_thread, result_map, start_map, Letter, Param, ParamRead, Translator, Unreadable};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpecKind {
    /// `-C`: a count per distinct value.
    Count,
    /// `-H`: a log2 histogram of one value.
    Hist,
}

/// What the caller needs to print one specifier's results as argdist does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpecOutput {
    /// The map (without `@`): `@__ad_K[keys] = count()` for -C (no keys
    /// for the default `total calls` count), `@__ad_K = hist(v)` for -H.
    pub map: String,
    pub kind: SpecKind,
    /// What -C prints above its table: the `#label`, else the spec as written.
    pub title: String,
    /// Per key part, the expression as argdist names it in `expr = value`
    /// (as written, `$entry(p)` shown as `p`). Empty for the default count
    /// of `p`/`t`; `["retval"]` for the default of `r`.
    pub expr_labels: Vec<String>,
    /// `total calls` for `p`/`t` without expressions (rows print just
    /// that), `retval` for `r` without expressions; `None` otherwise.
    pub default_label: Option<String>,
    /// For -H: the histogram header's label (the `#label`, else the
    /// expression as displayed, else `retval`).
    pub hist_label: String,
}

#[derive(Clone, Debug)]
pub struct ArgdistOptions {
    /// `-z`: how many bytes of a `char*` value are read (argdist's default 80).
    pub string_size: u32,
    /// `-p`: the traced process; library names resolve through its maps,
    /// as in `probes::expand`.
    pub pid: Option<i32>,
}

impl Default for ArgdistOptions {
    fn default() -> Self {
        ArgdistOptions { string_size: 80, pid: None }
    }
}

#[derive(Clone, Debug)]
pub struct ArgdistProgram {
    pub program: Program,
    /// One per specifier, in order.
    pub outputs: Vec<SpecOutput>,
    /// Warnings to show (the signature disagrees with the debug info, ...).
    pub warnings: Vec<Diagnostic>,
}

/// Translate every specifier into one program; all problems of all
/// specifiers are reported together.
pub fn compile_specs(
    specs: &[(FileId, SpecKind)],
    sources: &SourceMap,
    opts: &ArgdistOptions,
) -> Result<ArgdistProgram, Vec<Diagnostic>> {
    let mut diags = Vec::new();
    let mut program = Program::default();
    let mut outputs = Vec::new();
    for (index, &(file, kind)) in specs.iter().enumerate() {
        let spec = Spec { index, file, text: sources.text(file), kind, opts };
        if let Some((probes, output)) = spec.translate(&mut diags) {
            program.probes.extend(probes);
            outputs.push(output);
        }
    }
    if diags.iter().any(Diagnostic::is_error) {
        return Err(diags);
    }
    Ok(ArgdistProgram { program, outputs, warnings: diags })
}

struct Spec<'a> {
    index: usize,
    file: FileId,
    text: &'a str,
    kind: SpecKind,
    opts: &'a ArgdistOptions,
}

/// What the values part of a specifier comes to.
struct Collected {
    /// Each key part with its type's span and type.
    values: Vec<(Range<usize>, Range<usize>, ValueType)>,
    /// No types and expressions: argdist's defaults.
    default: bool,
}

impl Spec<'_> {
    fn span(&self, r: Range<usize>) -> Span {
        Span::new(self.file, r.start, r.end)
    }

    fn translate(&self, diags: &mut Vec<Diagnostic>) -> Option<(Vec<Probe>, SpecOutput)> {
        let errors_before = diags.iter().filter(|d| d.is_error()).count();
        let parts = match split::split(self.text, self.file) {
            Ok(p) => p,
            Err(e) => {
                diags.push(e.into_diagnostic());
                return None;
            }
        };
        let letter = match &self.text[parts.letter.clone()] {
            "p" => Letter::Entry,
            "r" => Letter::Return,
            "t" => Letter::Tracepoint,
            "u" => Letter::Usdt,
            other => {
                let at = self.span(parts.letter.clone());
                let e = match other {
                    "" => SpecError::Missing { at, what: "probe type" },
                    _ => SpecError::WrongType { at, found: other.to_string() },
                };
                diags.push(e.into_diagnostic());
                return None;
            }
        };
        let func = &self.text[parts.func.clone()];
        if is_glob(func) {
            diags.push(SpecError::Wildcard { at: self.span(parts.func.clone()) }.into_diagnostic());
            return None;
        }
        if letter == Letter::Tracepoint && !self.text[parts.signature.clone()].trim().is_empty() {
            let sig = &self.text[parts.signature.clone()];
            let start = parts.signature.start + (sig.len() - sig.trim_start().len());
            let at = self.span(start..start + sig.trim().len());
            diags.push(SpecError::TracepointSignature { at }.into_diagnostic());
            return None;
        }

        let main = Shadow::new(self, &parts, letter);
        let function = match main.expand(self, !parts.params.is_empty()) {
            Ok(found) => found,
            Err(d) => {
                diags.push(d);
                None
            }
        };
        let params = self.params(&parts, function.as_ref(), diags);
        let collected = self.collected(&parts, letter, diags);

        let mut tr = Translator::new(self.file, self.text, letter, self.index, &params, self.opts.string_size);
        let mut keys = Vec::new();
        let values = parts.values.as_ref();
        if let Some(c) = &collected {
            for (expr_r, type_r, ty) in &c.values {
                if let Some(e) = tr.expr(expr_r.clone()) {
                    keys.push(translate::typed(e, ty, self.span(type_r.clone()), self.opts.string_size));
                }
            }
        }
        let filter = values.and_then(|v| v.filter.clone()).and_then(|f| tr.expr(f));
        diags.append(&mut tr.errors);
        let collected = collected?;
        if diags.iter().filter(|d| d.is_error()).count() > errors_before {
            return None;
        }

        // argdist's defaults: count the calls, or the return values.
        let whole = self.span(parts.body.clone());
        if collected.default && letter == Letter::Return {
            let retval = Expr::new(ExprKind::Ident("retval".into()), whole);
            keys.push(translate::typed(retval, &ValueType::Int(4, true), whole, self.opts.string_size));
        }
        let probes = self.probes(&parts, &main, &tr, &params, keys, filter, diags);
        Some((probes, self.output(&parts, letter, collected.default)))
    }

    /// Reads the signature into parameters, against the debug info of the
    /// function when there is one.
    fn params(&self, parts: &Parts, function: Option<&Function>, diags: &mut Vec<Diagnostic>) -> Vec<Param> {
        let mut out = Vec::new();
        for (i, decl) in parts.params.iter().enumerate() {
            let name = self.text[decl.name.clone()].to_string();
            let ty_text = &self.text[decl.ty.clone()];
            let ty_span = self.span(decl.ty.clone());
            let declared = ctype::parse(ty_text);
            let dwarf = function.and_then(|f| f.params.get(i)).filter(|p| !p.name.is_empty());
            if let (Some(f), None) = (function, dwarf) {
                let at = self.span(decl.name.clone());
                let count = f.params.len();
                diags.push(SpecError::ExtraParam { at, func: f.name.clone(), count }.into_diagnostic());
            }
            let param = match (dwarf, &declared) {
                (Some(d), _) => {
                    if let Some(c) = &declared {
                        if !c.agrees_with(&d.ty, &d.c_type) {
                            let func = function.map(|f| f.name.clone()).unwrap_or_default();
                            let (declared, dwarf) = (ty_text.to_string(), d.c_type.clone());
                            let e = SpecError::TypeMismatch { at: ty_span, number: i + 1, declared, dwarf, func };
                            diags.push(e.into_diagnostic());
                        }
                    }
                    let entry_cast = match &d.ty {
                        crate::frontend::types::Type::Int { size, signed } => {
                            Some(ctype::int_type(*size, *signed, ty_span))
                        }
                        _ => ctype::parse(&d.c_type).and_then(|c| c.cast(ty_span)),
                    }
                    .or_else(|| declared.as_ref().and_then(|c| c.cast(ty_span)));
                    Param { name, read: ParamRead::Field(d.name.clone()), entry_cast }
                }
                (None, None) => Param {
                    name,
                    read: ParamRead::Unreadable(Unreadable::BadType { ty: ty_text.into() }),
                    entry_cast: None,
                },
                (None, Some(c)) => {
                    // A USDT probe has up to 12 arguments; a function's are
                    // in registers up to the sixth.
                    let usdt = &self.text[parts.letter.clone()] == "u";
                    let read = match c.cast(ty_span) {
                        _ if i >= if usdt { 12 } else { arch::INT_ARG_REGS.len() } => {
                            ParamRead::Unreadable(Unreadable::TooFar { number: i + 1 })
                        }
                        Some(cast) => ParamRead::Reg { index: i, cast },
                        None => ParamRead::Unreadable(Unreadable::NeedsDwarf { ty: ty_text.into() }),
                    };
                    Param { name, read, entry_cast: c.cast(ty_span) }
                }
            };
            out.push(param);
        }
        out
    }

    /// The type list against the expression list, or the defaults.
    fn collected(&self, parts: &Parts, letter: Letter, diags: &mut Vec<Diagnostic>) -> Option<Collected> {
        let Some(v) = &parts.values else {
            if self.kind == SpecKind::Hist && letter != Letter::Return {
                diags.push(SpecError::HistDefault { at: self.span(parts.body.clone()) }.into_diagnostic());
                return None;
            }
            return Some(Collected { values: Vec::new(), default: true });
        };
        let mut failed = false;
        let mut types = Vec::new();
        for r in &v.types {
            let text = &self.text[r.clone()];
            match ctype::value_type(text) {
                Some(ValueType::Str) if self.kind == SpecKind::Hist => {
                    diags.push(SpecError::HistString { at: self.span(r.clone()) }.into_diagnostic());
                    failed = true;
                }
                Some(t) => types.push(t),
                None => {
                    let name = text.to_string();
                    diags.push(SpecError::UnknownType { at: self.span(r.clone()), name }.into_diagnostic());
                    failed = true;
                }
            }
        }
        if self.kind == SpecKind::Hist && v.exprs.len() > 1 {
            let at = self.span(v.exprs[1].start..v.exprs[v.exprs.len() - 1].end);
            diags.push(SpecError::HistMany { at, count: v.exprs.len() }.into_diagnostic());
            return None;
        }
        if v.types.len() != v.exprs.len() {
            let e = SpecError::CountMismatch {
                types_at: self.span(v.types_section.clone()),
                exprs_at: self.span(v.exprs_section.clone()),
                types: v.types.len(),
                exprs: v.exprs.len(),
            };
            diags.push(e.into_diagnostic());
            return None;
        }
        if failed {
            return None;
        }
        let values = v.exprs.iter().zip(&v.types).zip(types).map(|((e, t), ty)| (e.clone(), t.clone(), ty)).collect();
        Some(Collected { values, default: false })
    }

    #[allow(clippy::too_many_arguments)]
    fn probes(
        &self,
        parts: &Parts,
        main: &Shadow,
        tr: &Translator,
        params: &[Param],
        keys: Vec<Expr>,
        filter: Option<Expr>,
        diags: &mut Vec<Diagnostic>,
    ) -> Vec<Probe> {
        let whole = self.span(parts.body.clone());
        let prefix = self.span(parts.letter.start..parts.signature.end + 1);
        let stmt = |kind: StmtKind| Stmt { kind, span: whole };
        let map_span = parts.values.as_ref().map_or(whole, |v| self.span(v.exprs_section.clone()));
        let aggregate = match self.kind {
            SpecKind::Count => {
                let count =
                    Expr::new(ExprKind::Call { name: "count".into(), name_span: whole, args: Vec::new() }, whole);
                let map = MapRef { name: result_map(self.index), keys, span: map_span };
                stmt(StmtKind::AssignMap { map, op: None, value: count })
            }
            SpecKind::Hist => {
                let hist = Expr::new(ExprKind::Call { name: "hist".into(), name_span: whole, args: keys }, whole);
                let map = MapRef { name: result_map(self.index), keys: Vec::new(), span: map_span };
                stmt(StmtKind::AssignMap { map, op: None, value: hist })
            }
        };
        let attach = |shadow: &Shadow| vec![AttachPoint { text: shadow.text.clone(), span: prefix }];
        let block = |stmts: Vec<Stmt>| Block { stmts, span: whole };
        if !tr.needs_entry {
            let body = block(vec![aggregate]);
            return vec![Probe { attach: attach(main), pred: filter, body, span: whole }];
        }

        // `$latency` and `$entry`: an entry probe records the start time
        // (which also marks that the entry was seen) and the parameters.
        let at_entry = Shadow::new(self, parts, Letter::Entry);
        let start = |span: Span| per_thread(start_map(self.index), span);
        let nsecs = Expr::new(ExprKind::Ident("nsecs".into()), whole);
        let mut entry_body = vec![stmt(StmtKind::AssignMap { map: start(whole), op: None, value: nsecs })];
        let mut cleanup = vec![delete(start(whole), whole)];
        for &(p, use_span) in &tr.entry_params {
            let param = &params[p];
            match param.read_expr(use_span) {
                Ok(value) => {
                    let map = per_thread(entry_map(self.index, &param.name), use_span);
                    entry_body.push(stmt(StmtKind::AssignMap { map: map.clone(), op: None, value }));
                    cleanup.push(delete(map, whole));
                }
                Err(e) => diags.push(e.into_diagnostic()),
            }
        }
        let seen = Expr::new(ExprKind::Map(start(whole)), whole);
        let mut body = match filter {
            Some(cond) => vec![stmt(StmtKind::If { cond, then: block(vec![aggregate]), els: None })],
            None => vec![aggregate],
        };
        body.extend(cleanup);
        vec![
            Probe { attach: attach(&at_entry), pred: None, body: block(entry_body), span: whole },
            Probe { attach: attach(main), pred: Some(seen), body: block(body), span: whole },
        ]
    }

    fn output(&self, parts: &Parts, letter: Letter, default: bool) -> SpecOutput {
        let label = parts.label.clone().map(|r| self.text[r].to_string()).filter(|l| !l.is_empty());
        let expr_labels: Vec<String> = match &parts.values {
            Some(v) => v.exprs.iter().map(|r| translate::display(&self.text[r.clone()])).collect(),
            None if letter == Letter::Return => vec!["retval".to_string()],
            None => Vec::new(),
        };
        let default_label =
            default.then(|| if letter == Letter::Return { "retval" } else { "total calls" }.to_string());
        let hist_label = label
            .clone()
            .or_else(|| expr_labels.first().cloned())
            .or_else(|| default_label.clone())
            .unwrap_or_else(|| "retval".into());
        SpecOutput {
            map: result_map(self.index),
            kind: self.kind,
            title: label.unwrap_or_else(|| self.text.to_string()),
            expr_labels,
            default_label,
            hist_label,
        }
    }
}

fn delete(map: MapRef, span: Span) -> Stmt {
    let arg = Expr::new(ExprKind::Map(map), span);
    let call = ExprKind::Call { name: "delete".into(), name_span: span, args: vec![arg] };
    Stmt { kind: StmtKind::Expr(Expr::new(call, span)), span }
}

/// Where virtual spans start: far beyond any specifier's length.
const SHADOW_BASE: usize = 1 << 30;

/// The attach point a specifier denotes (`uprobe:./db:f` for
/// `p:./db:f(...)`), with the map from its bytes back to the specifier's,
/// so that `probes::expand`'s diagnostics point into the specifier.
struct Shadow {
    text: String,
    /// (range in `text`, range in the specifier); a range of another
    /// length maps onto the whole of the other.
    segments: Vec<(Range<usize>, Range<usize>)>,
}

impl Shadow {
    fn new(spec: &Spec, parts: &Parts, letter: Letter) -> Shadow {
        let kernel = parts.lib.is_empty() && !matches!(letter, Letter::Tracepoint | Letter::Usdt);
        let full = match (letter, kernel) {
            (Letter::Usdt, _) => "usdt",
            (Letter::Entry, false) => "uprobe",
            (Letter::Return, false) => "uretprobe",
            (Letter::Entry, true) => "kprobe",
            (Letter::Return, true) => "kretprobe",
            (Letter::Tracepoint, _) => "tracepoint",
        };
        let (c1, c2) = parts.colons;
        let mut text = String::from(full);
        let mut segments = vec![(0..full.len(), parts.letter.clone())];
        let mut push = |text: &mut String, real: Range<usize>| {
            let start = text.len();
            text.push_str(&spec.text[real.clone()]);
            segments.push((start..text.len(), real));
        };
        if !kernel {
            push(&mut text, c1..c1 + 1);
            push(&mut text, parts.lib.clone());
        }
        push(&mut text, c2..c2 + 1);
        push(&mut text, parts.func.clone());
        Shadow { text, segments }
    }

    /// Expand the attach point; for a uprobe whose signature declares
    /// parameters, also find the function's debug info (when there is any).
    fn expand(&self, spec: &Spec, want_params: bool) -> Result<Option<Function>, Diagnostic> {
        let span = Span::new(spec.file, SHADOW_BASE, SHADOW_BASE + self.text.len());
        let ap = AttachPoint { text: self.text.clone(), span };
        let ctx = ProbeContext { pid: spec.opts.pid };
        let resolved = probes::expand(&ap, &ctx).map_err(|d| self.remap(d, spec))?;
        let context = resolved.first().map(|r| r.spec.context());
        let Some((binary, func)) = context.and_then(|c| c.binary.zip(c.function)) else {
            return Ok(None);
        };
        if !want_params {
            return Ok(None);
        }
        let function = match dwarf::load(binary) {
            Ok(Some(info)) => info.function(func),
            Ok(None) => Ok(None),
            Err(e) => Err(e),
        };
        match function {
            Ok(f) => Ok(f),
            // Without debug info parameters are still read from registers.
            Err(e) => Err(SpecError::DwarfUnreadable {
                at: Span::new(spec.file, self.segments[0].1.start, self.segments[self.segments.len() - 1].1.end),
                binary: binary.display().to_string(),
                reason: e.to_string(),
            }
            .into_diagnostic()),
        }
    }

    fn remap(&self, mut d: Diagnostic, spec: &Spec) -> Diagnostic {
        let map = |s: Span| self.map_span(s, spec.file);
        if let Some((s, _)) = &mut d.primary {
            *s = map(*s);
        }
        for (s, _) in &mut d.secondary {
            *s = map(*s);
        }
        if self.text.starts_with('k') {
            d = d.note(
                "an empty library means a kernel function; argdist names tracepoints `t:CATEGORY:EVENT()`, e.g. `t:syscalls:sys_enter_openat()`",
            );
        }
        d
    }

    fn map_span(&self, s: Span, file: FileId) -> Span {
        if s.file != file || (s.start as usize) < SHADOW_BASE {
            return s;
        }
        let (vs, ve) = ((s.start as usize).saturating_sub(SHADOW_BASE), (s.end as usize).saturating_sub(SHADOW_BASE));
        let first = &self.segments[0].1;
        let last = &self.segments[self.segments.len() - 1].1;
        let pos = |v: usize, end: bool| -> usize {
            for (virt, real) in &self.segments {
                let inside = if end { virt.start < v && v <= virt.end } else { virt.start <= v && v < virt.end };
                if inside {
                    return if virt.len() == real.len() {
                        real.start + (v - virt.start)
                    } else if end {
                        real.end
                    } else {
                        real.start
                    };
                }
            }
            if v == 0 {
                first.start
            } else {
                last.end
            }
        };
        let start = pos(vs, false);
        let end = if ve > vs { pos(ve, true) } else { start };
        Span::new(file, start, end.max(start))
    }
}
