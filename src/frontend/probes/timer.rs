//! `interval:UNIT:N` and `profile:UNIT:N`: timers on perf's CPU clock.
//! An interval fires on one CPU every period; a profile probe samples every
//! CPU at a rate (time units are converted to the nearest rate; periods
//! above one second are refused). Their programs run in NMI context, where
//! they can interrupt another probe's program on the same CPU, and see the
//! interrupted context's registers (`arg0`..`arg5`).

use super::spec::Memory;
use super::spec::{AttachTarget, Context, Firing, Interval, NumberedArgs, ProbeContext, ProbeKind, ProbeSpec};
use super::spec::{Profile, ResolvedProbe};
use super::text::{missing, parts, At};
use super::{describe_nothing, starting_with, ProbeType, Status};
use crate::arch;
use crate::diag::Diagnostic;
use crate::sys::ProgKind;

pub const INTERVAL: ProbeType = ProbeType {
    name: "interval",
    aliases: &["i"],
    status: Status::Supported,
    takes_parts: true,
    expand: |at, full, rest, _| expand(at, full, false, rest),
    list: |at, full, _, _| Err(not_listable(at, full, "interval:s:1")),
    describe: describe_nothing,
    complete,
};

pub const PROFILE: ProbeType = ProbeType {
    name: "profile",
    aliases: &["p"],
    status: Status::Supported,
    takes_parts: true,
    expand: |at, full, rest, _| expand(at, full, true, rest),
    list: |at, full, _, _| Err(not_listable(at, full, "profile:hz:99")),
    describe: describe_nothing,
    complete,
};

/// What both timers' programs see: the interrupted context's registers,
/// in NMI context.
const INTERRUPTED: Context = Context {
    numbered_args: Some(NumberedArgs::Registers { count: arch::INT_ARG_REGS.len() as u8 }),
    named_args: None,
    retval: None,
    signature: None,
    function: None,
    binary: None,
    memory: Memory::Kernel,
    nmi: true,
    regs: true,
    entry_offset: None,
};

impl ProbeKind for Interval {
    fn prog_kind(&self) -> ProgKind {
        ProgKind::PerfEvent
    }
    fn firing(&self) -> Firing<'_> {
        Firing::On(AttachTarget::Interval { period_ns: self.period_ns })
    }
    fn context(&self) -> Context<'_> {
        INTERRUPTED
    }
}

impl ProbeKind for Profile {
    fn prog_kind(&self) -> ProgKind {
        ProgKind::PerfEvent
    }
    fn firing(&self) -> Firing<'_> {
        Firing::On(AttachTarget::Profile { hz: self.hz })
    }
    fn context(&self) -> Context<'_> {
        INTERRUPTED
    }
}

/// Both timers take the same units (`profile` converts times to a rate).
const UNITS: &[&str] = &["hz", "ms", "s", "us"];

fn complete(rest: &str, _: &ProbeContext) -> (usize, Vec<String>) {
    if rest.contains(':') {
        return (rest.len(), Vec::new());
    }
    (0, starting_with(rest, UNITS.iter().copied(), ":"))
}

fn not_listable(at: &At, full: &str, example: &str) -> Diagnostic {
    at.err(0..at.type_end(), format!("{full} probes cannot be listed"), "nothing to list")
        .note(format!("they take a period, e.g. `{example}`"))
}

fn expand(at: &At, full: &str, profile: bool, rest: Option<usize>) -> Result<Vec<ResolvedProbe>, Diagnostic> {
    let text = at.text;
    let units = if profile { "hz, s, ms, us" } else { "s, ms, us, hz" };
    let example = if profile { "profile:hz:99" } else { "interval:s:1" };
    let Some(rest) = rest.filter(|&r| r < text.len()) else {
        return Err(missing(at, text.len(), "unit and count", example).note(format!("units: {units}")));
    };
    let p = parts(text, rest);
    if p.len() > 2 {
        return Err(at
            .err(p[1].end..text.len(), format!("too many parts in `{full}` probe"), "unexpected")
            .note(format!("for example `{example}`")));
    }
    // Current bpftrace also writes the count first, in one part: `1s`,
    // `100ms`, `99hz`.
    let (unit_r, n_r) = match &p[..] {
        [one] => {
            let digits = text[one.clone()].bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 || digits == one.len() {
                let what = if digits == 0 { "count" } else { "unit" };
                return Err(missing(at, text.len(), what, example)
                    .note(format!("write `{full}:UNIT:COUNT` or `{full}:COUNTUNIT` with a unit among {units}")));
            }
            (one.start + digits..one.end, one.start..one.start + digits)
        }
        _ => (p[0].clone(), p[1].clone()),
    };
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
        return Ok(vec![at.probe(ProbeSpec::Interval(Interval { period_ns }), name)]);
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
    Ok(vec![at.probe(ProbeSpec::Profile(Profile { hz }), name)])
}

fn max_sample_rate() -> Option<u64> {
    std::fs::read_to_string("/proc/sys/kernel/perf_event_max_sample_rate").ok()?.trim().parse().ok()
}
