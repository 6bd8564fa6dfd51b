//! `self:signal:SIGUSR1` (current bpftrace): a program that runs, through
//! `BPF_PROG_TEST_RUN` like `BEGIN`, each time trace itself receives the
//! signal; `kill -USR1 $(pidof trace)` asks a running session for a report.
//! Only the user signals: SIGINT and SIGTERM end the session.

use super::spec::{Context, Firing, ProbeKind, ProbeSpec, ResolvedProbe, SelfSignal};
use super::text::{missing, parts, At};
use super::{complete_nothing, describe_nothing, ProbeType, Status};
use crate::diag::Diagnostic;
use crate::sys::ProgKind;

pub const SELF: ProbeType = ProbeType {
    name: "self",
    aliases: &[],
    status: Status::Supported,
    takes_parts: true,
    expand: |at, _, rest, _| expand(at, rest),
    list: |at, _, _, _| Err(at.err(0..at.type_end(), "self probes cannot be listed", "nothing to list")),
    describe: describe_nothing,
    complete: complete_nothing,
};

/// The signals a `self:signal` probe may name, with their numbers.
const SIGNALS: &[(&str, i32)] = &[("SIGUSR1", libc::SIGUSR1), ("SIGUSR2", libc::SIGUSR2)];

fn expand(at: &At, rest: Option<usize>) -> Result<Vec<ResolvedProbe>, Diagnostic> {
    const EXAMPLE: &str = "self:signal:SIGUSR1";
    let text = at.text;
    let Some(rest) = rest.filter(|&r| r < text.len()) else { return Err(missing(at, text.len(), "event", EXAMPLE)) };
    let p = parts(text, rest);
    if &text[p[0].clone()] != "signal" {
        return Err(at
            .err(p[0].clone(), format!("unknown self event `{}`", &text[p[0].clone()]), "not `signal`")
            .note(format!("for example `{EXAMPLE}`")));
    }
    let Some(sig_r) = p.get(1).filter(|r| !r.is_empty()).cloned() else {
        return Err(missing(at, text.len(), "signal", EXAMPLE));
    };
    if let Some(extra) = p.get(2) {
        return Err(at.err(extra.start - 1..text.len(), "too many parts in `self` probe", "unexpected"));
    }
    let written = &text[sig_r.clone()];
    let full = if written.starts_with("SIG") { written.to_string() } else { format!("SIG{written}") };
    let Some(&(name, signal)) = SIGNALS.iter().find(|(n, _)| *n == full) else {
        return Err(at
            .err(sig_r, format!("`self:signal` cannot catch `{written}`"), "not a user signal")
            .note("self:signal probes take SIGUSR1 or SIGUSR2 (SIGINT and SIGTERM end the session)"));
    };
    Ok(vec![at.probe(ProbeSpec::SelfSignal(SelfSignal { signal }), format!("self:signal:{name}"))])
}

impl ProbeKind for SelfSignal {
    fn prog_kind(&self) -> ProgKind {
        ProgKind::RawTracepoint
    }
    fn firing(&self) -> Firing<'_> {
        Firing::OnSignal(self.signal)
    }
    fn context(&self) -> Context<'_> {
        super::special::NOTHING
    }
}
