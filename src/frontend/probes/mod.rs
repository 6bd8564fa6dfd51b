//! Attach points: from the text a user wrote to concrete, checked probes.
//!
//! One home per probe kind. [`PROBE_TYPES`] is the one table of probe types
//! and their aliases; it feeds expansion ([`expand`]), listing (`trace -l`,
//! [`list`]), REPL completion ([`complete`]), "did you mean" and the help
//! notes. Each row points at the functions of its kind's file:
//!
//! * `special.rs` — `BEGIN`, `END`;
//! * `signal.rs` — `self:signal:SIGUSR1`;
//! * `uprobe.rs` — `uprobe`, `uretprobe` (paths via `libpath`, functions
//!   via `elf`);
//! * `usdt.rs` — `usdt` (notes via `frontend::usdt`);
//! * `tracepoint.rs` — `tracepoint` (formats via `frontend::tracefs`);
//! * `timer.rs` — `interval`, `profile`;
//! * `kprobe.rs` — `kprobe`, `kretprobe` (functions via `frontend::kfuncs`);
//! * `fentry.rs` — `fentry`/`kfunc`, `fexit`/`kretfunc` (signatures via
//!   `frontend::btf`);
//! * `rawtracepoint.rs` — `rawtracepoint` (BTF raw tracepoints, arguments
//!   typed by `frontend::btf`);
//! * `kernel.rs` — the refusal of kernel probes on kernels without them
//!   (with the tracepoint to use instead), and bpftrace's types trace does
//!   not implement.
//!
//! Expansion turns one attach point (`u:./db:db_*`, `t:syscalls:sys_enter_open*`,
//! `i:s:1`) into the probes it denotes: aliases normalised to bpftrace's
//! full names, binaries resolved to canonical paths, functions resolved to
//! file offsets, wildcards expanded against the symbol table, the USDT
//! notes or the tracefs `events/` tree, tracepoint formats read. Everything
//! that can be wrong about an attach point is found here, before any BPF is
//! generated, and reported on the exact sub-text that is wrong (see
//! `text.rs`). `-l` uses the same functions, so `-l` and a script report
//! alike.
//!
//! What the rest of the pipeline needs from a resolved probe is asked of
//! its kind through [`ProbeKind`] (`spec.rs`), never by matching on the
//! variants of [`ProbeSpec`].

mod fentry;
mod kernel;
mod kprobe;
mod rawtracepoint;
mod signal;
mod spec;
mod special;
mod text;
mod timer;
mod tracepoint;
mod uprobe;
mod usdt;

#[cfg(test)]
mod tests;

pub use kprobe::coalesce;
pub use spec::{
    AttachTarget, Context, Fentry, Firing, Interval, Kprobe, Memory, NamedArgs, NumberedArgs, ProbeContext, ProbeKind,
    ProbeSpec, Profile, RawTracepoint, ResolvedProbe, ReturnValue, Tracepoint, Uprobe, Usdt,
};
pub use text::At;
pub use tracepoint::field_type;
pub use uprobe::file_paths;
pub use usdt::arg_type as usdt_arg_type;

use crate::diag::Diagnostic;
use crate::frontend::ast::AttachPoint;
use crate::frontend::names::similar_names;
use crate::source::Span;

/// Completion offers at most this many candidates (a binary may have
/// hundreds of thousands of functions).
pub const MAX_COMPLETIONS: usize = 200;

/// Whether trace can use a probe type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Supported,
    /// A kernel probe: recognised, and refused with the reason (this
    /// kernel lacks it, or trace does not attach it yet) and the
    /// tracepoint to use instead.
    Kernel,
    /// A bpftrace probe type trace does not implement.
    NotImplemented,
}

/// `(attach point, full type name, where the part after `TYPE:` starts, context)`
/// ─► the probes it denotes.
pub type Expand = fn(&At, &'static str, Option<usize>, &ProbeContext) -> Result<Vec<ResolvedProbe>, Diagnostic>;
/// The same arguments ─► the probe names `trace -l` prints.
pub type List = fn(&At, &'static str, Option<usize>, &ProbeContext) -> Result<Vec<String>, Diagnostic>;
/// The probes of one listed name ─► what `trace -lv` prints under it.
pub type Describe = fn(&[ResolvedProbe]) -> Listing;
/// `(text after TYPE:, context)` ─► where the word being completed starts in
/// that text, and the candidates for it.
pub type Complete = fn(&str, &ProbeContext) -> (usize, Vec<String>);

/// One probe type: its spellings and its kind's functions.
pub struct ProbeType {
    /// The name probe names and messages use (`uprobe`).
    pub name: &'static str,
    /// Other spellings (`u`).
    pub aliases: &'static [&'static str],
    pub status: Status,
    /// Whether attach points of this type have parts after the type.
    pub takes_parts: bool,
    pub expand: Expand,
    pub list: List,
    pub describe: Describe,
    pub complete: Complete,
}

/// Every spelling bpftrace accepts. Supported types come first, in the
/// order help text lists them.
pub const PROBE_TYPES: &[ProbeType] = &[
    special::BEGIN,
    special::END,
    signal::SELF,
    uprobe::UPROBE,
    uprobe::URETPROBE,
    usdt::USDT,
    tracepoint::TRACEPOINT,
    timer::INTERVAL,
    timer::PROFILE,
    kprobe::KPROBE,
    kprobe::KRETPROBE,
    fentry::FENTRY,
    fentry::KFUNC,
    fentry::FEXIT,
    fentry::KRETFUNC,
    kernel::SOFTWARE,
    kernel::HARDWARE,
    kernel::WATCHPOINT,
    kernel::ASYNCWATCHPOINT,
    rawtracepoint::RAWTRACEPOINT,
    kernel::ITER,
];

/// The table row for a type as written (a name or an alias).
pub fn probe_type(written: &str) -> Option<&'static ProbeType> {
    PROBE_TYPES.iter().find(|t| t.name == written || t.aliases.contains(&written))
}

/// Every spelling of the types trace can attach or recognises as kernel
/// probes, for completion: `(spelling, takes parts after a colon)`.
pub fn completable_types() -> impl Iterator<Item = (&'static str, bool)> {
    PROBE_TYPES
        .iter()
        .filter(|t| t.status != Status::NotImplemented)
        .flat_map(|t| std::iter::once(t.name).chain(t.aliases.iter().copied()).map(|s| (s, t.takes_parts)))
}

/// `BEGIN, END, uprobe (u), ...`: the supported types, with their first
/// alias, for help notes; bare names with `aliases` false.
pub(crate) fn supported_types(aliases: bool) -> String {
    let names = PROBE_TYPES.iter().filter(|t| t.status == Status::Supported).map(|t| match t.aliases.first() {
        Some(a) if aliases => format!("{} ({a})", t.name),
        _ => t.name.to_string(),
    });
    names.collect::<Vec<_>>().join(", ")
}

/// Expand one attach point into the probes it denotes (several for a
/// wildcard), or explain what is wrong with it.
pub fn expand(ap: &AttachPoint, ctx: &ProbeContext) -> Result<Vec<ResolvedProbe>, Diagnostic> {
    let at = At::new(ap);
    let ty_end = at.type_end();
    let Some(ty) = probe_type(&at.text[..ty_end]) else { return Err(unknown_type(&at, ty_end)) };
    let rest = (ty_end < at.text.len()).then_some(ty_end + 1);
    (ty.expand)(&at, ty.name, rest, ctx)
}

fn unknown_type(at: &At, ty_end: usize) -> Diagnostic {
    let ty = &at.text[..ty_end];
    // Compared case-insensitively so that `begin` suggests `BEGIN`.
    let close = similar_names(ty, PROBE_TYPES.iter().map(|t| t.name), 1, true);
    let mut d = at.err(0..ty_end, format!("unknown probe type `{ty}`"), "unknown probe type");
    if let Some(s) = close.first() {
        d = d.note(format!("did you mean `{s}`?"));
    }
    d.note(format!("probe types: {}", supported_types(true)))
}

/// What `trace -lv PATTERN` prints (or a kind's `describe` prints under
/// one probe name): lines for stdout, and warnings for stderr, each once.
#[derive(Debug, Default)]
pub struct Listing {
    pub lines: Vec<String>,
    pub warnings: Vec<String>,
}

/// Probe names matching `pattern` (`trace -l`), sorted. Without a probe
/// type the pattern is matched against tracepoints (`sys_enter_open*`,
/// `syscalls:*`).
pub fn list(pattern: &str, ctx: &ProbeContext) -> Result<Vec<String>, Diagnostic> {
    let ap = AttachPoint { text: pattern.trim().to_string(), span: Span::default() };
    // There is no source text behind a `-l` pattern to point into.
    list_at(&At::new(&ap), ctx).map_err(|d| Diagnostic { primary: None, ..d })
}

/// `trace -lv`: the names [`list`] gives, each followed by what the probe
/// offers (a uprobe's parameters from DWARF, a tracepoint's fields, a USDT
/// probe's arguments per site), in bpftrace's layout: one indented line per
/// item.
pub fn list_verbose(pattern: &str, ctx: &ProbeContext) -> Result<Listing, Diagnostic> {
    let mut out = Listing::default();
    for name in list(pattern, ctx)? {
        let ap = AttachPoint { text: name.clone(), span: Span::default() };
        let resolved = expand(&ap, ctx)?;
        out.lines.push(name);
        let Some(ty) = probe_type(&ap.text[..At::new(&ap).type_end()]) else { continue };
        let details = (ty.describe)(&resolved);
        out.lines.extend(details.lines);
        for w in details.warnings {
            if !out.warnings.contains(&w) {
                out.warnings.push(w);
            }
        }
    }
    Ok(out)
}

fn list_at(at: &At, ctx: &ProbeContext) -> Result<Vec<String>, Diagnostic> {
    let ty_end = at.type_end();
    let Some(ty) = probe_type(&at.text[..ty_end]) else { return tracepoint::list_bare(at.text) };
    let rest = (ty_end < at.text.len()).then_some(ty_end + 1);
    (ty.list)(at, ty.name, rest, ctx)
}

/// Completion of one attach point's text (as typed so far): the offset in
/// `text` where the replaced word starts, and the candidates.
pub fn complete(text: &str, ctx: &ProbeContext) -> (usize, Vec<String>) {
    let Some(colon) = text.find(':') else {
        let types = completable_types().map(|(t, parts)| format!("{t}{}", if parts { ":" } else { "" }));
        return (0, types.filter(|t| t.starts_with(text)).collect());
    };
    match probe_type(&text[..colon]) {
        Some(ty) => {
            let (at, found) = (ty.complete)(&text[colon + 1..], ctx);
            (colon + 1 + at, found)
        }
        None => (text.len(), Vec::new()),
    }
}

/// The `names` starting with `prefix`, each with `suffix` appended.
pub(crate) fn starting_with<'n>(prefix: &str, names: impl IntoIterator<Item = &'n str>, suffix: &str) -> Vec<String> {
    names.into_iter().filter(|n| n.starts_with(prefix)).map(|n| format!("{n}{suffix}")).collect()
}

/// Completion for types whose attach points have nothing to complete.
fn complete_nothing(rest: &str, _: &ProbeContext) -> (usize, Vec<String>) {
    (rest.len(), Vec::new())
}

/// `-lv` details for types that have none.
fn describe_nothing(_: &[ResolvedProbe]) -> Listing {
    Listing::default()
}
