//! Attach points: from the text a user wrote to concrete, checked probes.
//!
//! `expand` turns one [`AttachPoint`] (`u:./db:db_*`, `t:syscalls:sys_enter_open*`,
//! `i:s:1`) into the probes it denotes: aliases normalised to bpftrace's full
//! names, binaries resolved to canonical paths (see `libpath`), functions
//! resolved to file offsets (see `elf`), wildcards expanded against the symbol
//! table or the tracefs `events/` tree, tracepoint formats read. Everything
//! that can be wrong about an attach point is found here, before any BPF is
//! generated, and reported on the exact sub-text that is wrong: the
//! [`AttachPoint`] span covers its text byte for byte, so byte `i` of the
//! text is `span.start + i`.
//!
//! Probe types this kernel cannot attach (kprobes, fentry/fexit) are
//! recognised and rejected with the reason and the tracepoint to use instead,
//! rather than failing later with a bare EPERM or ENOENT from the kernel.
//!
//! Each message is built in one place, next to the knowledge it needs:
//! attach point syntax, uprobe offsets and timers here; binary paths in
//! `libpath::resolve_for_probe`; ELF files and functions in
//! `elf::open_for_probe` / `elf::not_a_function`; tracepoints and the kernel
//! probe types this kernel lacks in `tracepoint`. `list` (for `trace -l`)
//! reuses the same functions, so `-l` and a script report alike.

use std::ops::Range;
use std::path::PathBuf;

use super::ast::AttachPoint;
use super::elf::{self, SymbolStatus};
use super::libpath;
use super::names::{is_glob, similar_names};
use super::tracepoint::{self, TracepointFormat};
use super::usdt;
use crate::diag::Diagnostic;
use crate::source::Span;

#[derive(Clone, Debug)]
pub enum ProbeSpec {
    Begin,
    End,
    Uprobe {
        /// Absolute and canonical.
        binary: PathBuf,
        /// The function (or the address as written, for `uprobe:PATH:0x1139`).
        func: String,
        /// The `+OFFSET` as written (0 without one).
        func_offset: u64,
        /// Where to attach: the symbol's file offset plus `func_offset`.
        file_offset: u64,
        ret: bool,
    },
    /// One site of a USDT probe (see `usdt`): a probe with several sites,
    /// or a wildcard, expands to one of these per site.
    Usdt {
        /// Absolute and canonical.
        binary: PathBuf,
        site: usdt::Site,
    },
    /// One concrete tracepoint (wildcards are expanded), with its layout.
    Tracepoint {
        category: String,
        name: String,
        format: TracepointFormat,
    },
    /// Fires on one CPU every `period_ns`.
    Interval {
        period_ns: u64,
    },
    /// Samples every CPU `hz` times a second (time units are converted to
    /// the nearest rate; periods above one second are rejected).
    Profile {
        hz: u64,
    },
}

#[derive(Clone, Debug)]
pub struct ResolvedProbe {
    pub spec: ProbeSpec,
    /// The full name for the `probe` builtin, bpftrace style:
    /// `uprobe:/abs/db:snapshot`, `tracepoint:syscalls:sys_enter_openat`,
    /// `interval:s:1`, `BEGIN`.
    pub name: String,
    pub span: Span,
}

/// What the attach points are resolved against.
#[derive(Clone, Debug, Default)]
pub struct ProbeContext {
    /// The traced process (`-p`, or the child of `-c`): bare binary and
    /// library names are first looked up in its `/proc/PID/exe` and maps.
    pub pid: Option<i32>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Begin,
    End,
    Uprobe,
    Uretprobe,
    Tracepoint,
    Interval,
    Profile,
    Kprobe,
    Kretprobe,
    Fentry,
    Fexit,
    Usdt,
    /// A bpftrace probe type `trace` does not implement.
    Other,
}

/// Every spelling bpftrace accepts, with the full name used in probe names
/// and messages (aliases are normalised: `u:` is reported as `uprobe:`).
const TYPES: &[(&str, Kind, &str)] = &[
    ("BEGIN", Kind::Begin, "BEGIN"),
    ("END", Kind::End, "END"),
    ("uprobe", Kind::Uprobe, "uprobe"),
    ("u", Kind::Uprobe, "uprobe"),
    ("uretprobe", Kind::Uretprobe, "uretprobe"),
    ("ur", Kind::Uretprobe, "uretprobe"),
    ("tracepoint", Kind::Tracepoint, "tracepoint"),
    ("t", Kind::Tracepoint, "tracepoint"),
    ("interval", Kind::Interval, "interval"),
    ("i", Kind::Interval, "interval"),
    ("profile", Kind::Profile, "profile"),
    ("p", Kind::Profile, "profile"),
    ("kprobe", Kind::Kprobe, "kprobe"),
    ("k", Kind::Kprobe, "kprobe"),
    ("kretprobe", Kind::Kretprobe, "kretprobe"),
    ("kr", Kind::Kretprobe, "kretprobe"),
    ("fentry", Kind::Fentry, "fentry"),
    ("kfunc", Kind::Fentry, "kfunc"),
    ("f", Kind::Fentry, "fentry"),
    ("fexit", Kind::Fexit, "fexit"),
    ("kretfunc", Kind::Fexit, "kretfunc"),
    ("fr", Kind::Fexit, "fexit"),
    ("usdt", Kind::Usdt, "usdt"),
    ("U", Kind::Usdt, "usdt"),
    ("software", Kind::Other, "software"),
    ("s", Kind::Other, "software"),
    ("hardware", Kind::Other, "hardware"),
    ("h", Kind::Other, "hardware"),
    ("watchpoint", Kind::Other, "watchpoint"),
    ("w", Kind::Other, "watchpoint"),
    ("asyncwatchpoint", Kind::Other, "asyncwatchpoint"),
    ("aw", Kind::Other, "asyncwatchpoint"),
    ("rawtracepoint", Kind::Other, "rawtracepoint"),
    ("rt", Kind::Other, "rawtracepoint"),
    ("iter", Kind::Other, "iter"),
    ("it", Kind::Other, "iter"),
];

fn kind_of(ty: &str) -> Option<(Kind, &'static str)> {
    TYPES.iter().find(|t| t.0 == ty).map(|t| (t.1, t.2))
}

/// The attach point text with a way to point into it.
pub(crate) struct At<'a> {
    pub(crate) text: &'a str,
    span: Span,
    /// The span covers the text exactly, so sub-spans are meaningful.
    exact: bool,
}

impl<'a> At<'a> {
    fn new(ap: &'a AttachPoint) -> At<'a> {
        let exact = ap.span.end.checked_sub(ap.span.start) == u32::try_from(ap.text.len()).ok();
        At { text: &ap.text, span: ap.span, exact }
    }

    pub(crate) fn sub(&self, r: Range<usize>) -> Span {
        if !self.exact || r.start > r.end || r.end > self.text.len() {
            return self.span;
        }
        Span::new(self.span.file, self.span.start as usize + r.start, self.span.start as usize + r.end)
    }

    pub(crate) fn err(&self, r: Range<usize>, message: impl Into<String>, label: impl Into<String>) -> Diagnostic {
        Diagnostic::error(message).at(self.sub(r), label)
    }

    pub(crate) fn probe(&self, spec: ProbeSpec, name: String) -> ResolvedProbe {
        ResolvedProbe { spec, name, span: self.span }
    }
}

/// The `:`-separated parts after the type, as byte ranges of the text.
pub(crate) fn parts(text: &str, from: usize) -> Vec<Range<usize>> {
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

/// Expand one attach point into the probes it denotes (several for a
/// wildcard), or explain what is wrong with it.
pub fn expand(ap: &AttachPoint, ctx: &ProbeContext) -> Result<Vec<ResolvedProbe>, Diagnostic> {
    let at = At::new(ap);
    let text = at.text;
    let ty_end = text.find(':').unwrap_or(text.len());
    let ty = &text[..ty_end];
    let Some((kind, full)) = kind_of(ty) else { return Err(unknown_type(&at, ty_end)) };
    let rest = (ty_end < text.len()).then_some(ty_end + 1);
    match kind {
        Kind::Begin | Kind::End => match rest {
            None => {
                Ok(vec![at.probe(if kind == Kind::Begin { ProbeSpec::Begin } else { ProbeSpec::End }, full.into())])
            }
            Some(r) => Err(at
                .err(ty_end..text.len(), format!("`{full}` takes no arguments"), "unexpected")
                .note(format!("write just `{full}`{}", if r < text.len() { "" } else { " (without the colon)" }))),
        },
        Kind::Uprobe | Kind::Uretprobe => expand_uprobe(&at, full, kind == Kind::Uretprobe, rest, ctx),
        Kind::Tracepoint => tracepoint::expand_attach(&at, rest),
        Kind::Usdt => usdt::expand(&at, full, rest, ctx),
        Kind::Interval | Kind::Profile => expand_timer(&at, full, kind == Kind::Profile, rest),
        _ => Err(tracepoint::unavailable(&at, kind, full, ty_end, rest)),
    }
}

pub(crate) fn missing(at: &At, from: usize, what: &str, example: &str) -> Diagnostic {
    let r = if from >= at.text.len() { at.text.len().saturating_sub(1)..at.text.len() } else { from..at.text.len() };
    at.err(r, format!("incomplete attach point `{}`: missing {what}", at.text), format!("{what} expected here"))
        .note(format!("for example `{example}`"))
}

fn unknown_type(at: &At, ty_end: usize) -> Diagnostic {
    let ty = &at.text[..ty_end];
    // Compared case-insensitively so that `begin` suggests `BEGIN`.
    let close = similar_names(ty, TYPES.iter().map(|t| t.2), 1, true);
    let mut d = at.err(0..ty_end, format!("unknown probe type `{ty}`"), "unknown probe type");
    if let Some(s) = close.first() {
        d = d.note(format!("did you mean `{s}`?"));
    }
    d.note("probe types: BEGIN, END, uprobe (u), uretprobe (ur), usdt (U), tracepoint (t), interval (i), profile (p)")
}

// ---------------------------------------------------------------- uprobes

fn expand_uprobe(
    at: &At,
    full: &str,
    ret: bool,
    rest: Option<usize>,
    ctx: &ProbeContext,
) -> Result<Vec<ResolvedProbe>, Diagnostic> {
    let text = at.text;
    let example = format!("{full}:./db:db_snapshot");
    let Some(rest) = rest.filter(|&r| r < text.len()) else {
        return Err(missing(at, text.len(), "binary path and function", &example));
    };
    // The function is after the last colon, so a path may contain colons.
    let Some(colon) = text[rest..].rfind(':').map(|i| rest + i) else {
        return Err(missing(at, text.len(), "function name", &format!("{full}:{}:FUNCTION", &text[rest..])));
    };
    let (path_r, func_r) = (rest..colon, colon + 1..text.len());
    if path_r.is_empty() {
        return Err(missing(at, rest, "binary path", &example));
    }
    if func_r.is_empty() {
        return Err(missing(at, colon, "function name", &format!("{}FUNCTION", &text[..=colon])));
    }
    let binary = libpath::resolve_for_probe(at, path_r.clone(), ctx.pid)?;
    let syms = elf::open_for_probe(at, path_r.clone(), &binary)?;

    let func_text = &text[func_r.clone()];
    let (name_r, offset) = match func_text.rfind('+') {
        None => (func_r.clone(), None),
        Some(i) => {
            let off_r = func_r.start + i + 1..func_r.end;
            let off = parse_u64(&text[off_r.clone()]).ok_or_else(|| {
                at.err(off_r.clone(), format!("invalid offset `{}`", &text[off_r.clone()]), "expected a number")
                    .note("offsets are decimal or hex (`+16`, `+0x10`)")
            })?;
            if ret {
                return Err(at
                    .err(func_r.start + i..func_r.end, format!("`{full}` cannot take an offset"), "offset here")
                    .note("a return probe fires when the function returns; offsets only make sense for `uprobe`"));
            }
            (func_r.start..func_r.start + i, Some((off, off_r)))
        }
    };
    let name = &text[name_r.clone()];
    if name.is_empty() {
        return Err(missing(at, name_r.start, "function name", &example));
    }
    let func_offset = offset.as_ref().map_or(0, |o| o.0);
    // Probe names keep the path as written, as bpftrace's do, so `probe`
    // and `-l` show what the user typed.
    let written = &text[path_r.clone()];
    let mk = |func: &str, file_offset: u64| {
        let suffix = if func_offset > 0 { format!("+{func_offset}") } else { String::new() };
        at.probe(
            ProbeSpec::Uprobe { binary: binary.clone(), func: func.to_string(), func_offset, file_offset, ret },
            format!("{full}:{written}:{func}{suffix}"),
        )
    };

    // An address instead of a name: `uprobe:./db:0x1139`.
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        let addr = parse_u64(name)
            .ok_or_else(|| at.err(name_r.clone(), format!("invalid address `{name}`"), "not a number"))?;
        let Some((_, off)) = syms.at_address(addr) else {
            return Err(at.err(
                name_r,
                format!("address {name} is not in a loaded segment of {}", binary.display()),
                "no code here",
            ));
        };
        return Ok(vec![mk(name, off + func_offset)]);
    }

    if is_glob(name) {
        if let Some((_, off_r)) = offset {
            return Err(at.err(off_r, "an offset cannot be combined with a wildcard", "offset here"));
        }
        let found = syms.matching(name);
        if found.is_empty() {
            return Err(at
                .err(name_r, format!("no function in {} matches `{name}`", binary.display()), "matches nothing")
                .note(format!("list the functions with `trace -l '{full}:{}:*'`", binary.display())));
        }
        return Ok(found.iter().map(|s| mk(&s.name, s.file_offset)).collect());
    }

    match syms.status(name) {
        SymbolStatus::Function(sym) => {
            if let Some((off, off_r)) = offset {
                if sym.size > 0 && off >= sym.size {
                    return Err(at.err(
                        off_r,
                        format!("offset {off} is outside `{name}`"),
                        format!("`{name}` is {} bytes long", sym.size),
                    ));
                }
            }
            Ok(vec![mk(name, sym.file_offset + func_offset)])
        }
        status => Err(elf::not_a_function(at, name_r, &syms, status, full, ctx.pid)),
    }
}

/// Decimal or `0x` hex.
fn parse_u64(s: &str) -> Option<u64> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None if s.bytes().all(|b| b.is_ascii_digit()) => s.parse().ok(),
        None => None,
    }
}

// ------------------------------------------------------- interval, profile

fn expand_timer(at: &At, full: &str, profile: bool, rest: Option<usize>) -> Result<Vec<ResolvedProbe>, Diagnostic> {
    let text = at.text;
    let units = if profile { "hz, s, ms, us" } else { "s, ms, us, hz" };
    let example = if profile { "profile:hz:99" } else { "interval:s:1" };
    let Some(rest) = rest.filter(|&r| r < text.len()) else {
        return Err(missing(at, text.len(), "unit and count", example).note(format!("units: {units}")));
    };
    let p = parts(text, rest);
    if p.len() == 1 {
        return Err(missing(at, text.len(), "count", example)
            .note(format!("write `{full}:UNIT:COUNT` with a unit among {units}")));
    }
    if p.len() > 2 {
        return Err(at
            .err(p[1].end..text.len(), format!("too many parts in `{full}` probe"), "unexpected")
            .note(format!("for example `{example}`")));
    }
    let (unit_r, n_r) = (p[0].clone(), p[1].clone());
    let (unit, n) = (&text[unit_r.clone()], &text[n_r.clone()]);
    let unit_ns: Option<u64> = match unit {
        "s" => Some(1_000_000_000),
        "ms" => Some(1_000_000),
        "us" => Some(1_000),
        "hz" => None,
        _ => {
            return Err(at
                .err(unit_r, format!("unknown {full} unit `{unit}`"), "unknown unit")
                .note(format!("units: {units} (for example `{example}`)")));
        }
    };
    if n.is_empty() {
        return Err(missing(at, n_r.start, "count", example));
    }
    let count = n
        .parse::<u64>()
        .ok()
        .filter(|&c| c > 0)
        .ok_or_else(|| at.err(n_r.clone(), format!("invalid {full} count `{n}`"), "expected a positive integer"))?;
    let too_fast =
        |limit: &str| at.err(n_r.clone(), format!("{full} rate too high: {unit}:{count}"), limit.to_string());
    let name = format!("{full}:{unit}:{count}");
    let period_ns = match unit_ns {
        Some(ns) => count
            .checked_mul(ns)
            .ok_or_else(|| at.err(n_r.clone(), format!("{full} period too long: {unit}:{count}"), "overflows"))?,
        None if count > 1_000_000_000 => return Err(too_fast("at most 1000000000 (1 ns)")),
        None => 1_000_000_000 / count,
    };
    if !profile {
        return Ok(vec![at.probe(ProbeSpec::Interval { period_ns }, name)]);
    }
    // Profiling samples with perf's cpu-clock at a frequency.
    let hz = match unit_ns {
        None => count,
        Some(_) if period_ns > 1_000_000_000 => {
            return Err(at.err(n_r, format!("profile period longer than a second: {unit}:{count}"), "too slow").note(
                format!("profile probes sample at 1 Hz or more; for a slower timer use `interval:{unit}:{count}`"),
            ));
        }
        Some(_) => (1_000_000_000 + period_ns / 2) / period_ns,
    };
    if let Some(max) = max_sample_rate() {
        if hz > max {
            return Err(too_fast(&format!("above the kernel's limit of {max} Hz"))
                .note(format!("the limit is /proc/sys/kernel/perf_event_max_sample_rate ({max})")));
        }
    }
    Ok(vec![at.probe(ProbeSpec::Profile { hz }, name)])
}

fn max_sample_rate() -> Option<u64> {
    std::fs::read_to_string("/proc/sys/kernel/perf_event_max_sample_rate").ok()?.trim().parse().ok()
}

// ------------------------------------------------------------------ list

/// Probe names matching `pattern`, for `trace -l`, sorted. Without a probe
/// type the pattern is matched against tracepoints (`sys_enter_open*`,
/// `syscalls:*`); `uprobe:PATH[:FUNC]` lists the functions of a binary.
pub fn list(pattern: &str, ctx: &ProbeContext) -> Result<Vec<String>, Diagnostic> {
    let ap = AttachPoint { text: pattern.trim().to_string(), span: Span::default() };
    // There is no source text behind a `-l` pattern to point into.
    list_at(&At::new(&ap), ctx).map_err(|d| Diagnostic { primary: None, ..d })
}

fn list_at(at: &At, ctx: &ProbeContext) -> Result<Vec<String>, Diagnostic> {
    let text = at.text;
    let ty_end = text.find(':').unwrap_or(text.len());
    let known = kind_of(&text[..ty_end]);
    let Some((kind, full)) = known else { return tracepoint::list_matching(text, None) };
    let rest = (ty_end < text.len()).then_some(ty_end + 1);
    match kind {
        Kind::Begin | Kind::End => Ok(vec![full.to_string()]),
        Kind::Tracepoint => tracepoint::list_matching(text, rest),
        Kind::Usdt => usdt::list(at, full, rest, ctx),
        Kind::Uprobe | Kind::Uretprobe => {
            let Some(rest) = rest.filter(|&r| r < text.len()) else {
                return Err(missing(at, text.len(), "binary path", &format!("{full}:/bin/bash:read*")));
            };
            // `uprobe:PATH` lists everything; otherwise the last part is the
            // function pattern.
            let (path_r, func) = match text[rest..].rfind(':') {
                Some(i) => (rest..rest + i, &text[rest + i + 1..]),
                None => (rest..text.len(), "*"),
            };
            let binary = libpath::resolve_for_probe(at, path_r.clone(), ctx.pid)?;
            let written = &text[path_r.clone()];
            let syms = elf::open_for_probe(at, path_r, &binary)?;
            let func = if func.is_empty() { "*" } else { func };
            Ok(syms.matching(func).into_iter().map(|s| format!("{full}:{written}:{}", s.name)).collect())
        }
        Kind::Interval | Kind::Profile => {
            Err(at.err(0..ty_end, format!("{full} probes cannot be listed"), "nothing to list").note(format!(
                "they take a period, e.g. `{}`",
                if kind == Kind::Profile { "profile:hz:99" } else { "interval:s:1" }
            )))
        }
        _ => Err(tracepoint::unavailable(at, kind, full, ty_end, rest)),
    }
}

// --------------------------------------------------------------- helpers

/// `` `a`, `b` or `c` ``
pub(crate) fn quoted_list(items: &[String]) -> String {
    let q: Vec<String> = items.iter().map(|s| format!("`{s}`")).collect();
    match q.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => q.join(""),
    }
}

#[cfg(test)]
#[path = "probes_tests.rs"]
mod tests;
