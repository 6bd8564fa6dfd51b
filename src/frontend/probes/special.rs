//! `BEGIN` and `END`: programs that run once, through `BPF_PROG_TEST_RUN`,
//! before any probe is attached and after every probe is detached. They
//! are loaded as raw-tracepoint programs (the program type that test runs
//! need no context for) and attach to nothing.

use super::spec::Memory;
use super::spec::{Begin, Context, End, Firing, ProbeContext, ProbeKind, ProbeSpec, ResolvedProbe};
use super::text::At;
use super::{complete_nothing, describe_nothing, ProbeType, Status};
use crate::diag::Diagnostic;
use crate::sys::ProgKind;

pub const BEGIN: ProbeType = ProbeType {
    name: "BEGIN",
    // Current bpftrace's spelling.
    aliases: &["begin"],
    status: Status::Supported,
    takes_parts: false,
    expand: |at, full, rest, _| expand(at, full, rest, ProbeSpec::Begin),
    list: list_itself,
    describe: describe_nothing,
    complete: complete_nothing,
};

pub const END: ProbeType = ProbeType {
    name: "END",
    aliases: &["end"],
    status: Status::Supported,
    takes_parts: false,
    expand: |at, full, rest, _| expand(at, full, rest, ProbeSpec::End),
    list: list_itself,
    describe: describe_nothing,
    complete: complete_nothing,
};

fn expand(at: &At, full: &str, rest: Option<usize>, spec: ProbeSpec) -> Result<Vec<ResolvedProbe>, Diagnostic> {
    let Some(r) = rest else { return Ok(vec![at.probe(spec, full.into())]) };
    let text = at.text;
    Err(at
        .err(at.type_end()..text.len(), format!("`{full}` takes no arguments"), "unexpected")
        .note(format!("write just `{full}`{}", if r < text.len() { "" } else { " (without the colon)" })))
}

fn list_itself(_: &At, full: &'static str, _: Option<usize>, _: &ProbeContext) -> Result<Vec<String>, Diagnostic> {
    Ok(vec![full.to_string()])
}

/// BEGIN and END run in no event: nothing to read but the builtins every
/// probe has, in kernel context.
pub(super) const NOTHING: Context = Context {
    numbered_args: None,
    named_args: None,
    retval: None,
    signature: None,
    function: None,
    binary: None,
    memory: Memory::Kernel,
    nmi: false,
    regs: false,
    entry_offset: None,
};

impl ProbeKind for Begin {
    fn prog_kind(&self) -> ProgKind {
        ProgKind::RawTracepoint
    }
    fn firing(&self) -> Firing<'_> {
        Firing::AtStart
    }
    fn context(&self) -> Context<'_> {
        NOTHING
    }
}

impl ProbeKind for End {
    fn prog_kind(&self) -> ProgKind {
        ProgKind::RawTracepoint
    }
    fn firing(&self) -> Firing<'_> {
        Firing::AtEnd
    }
    fn context(&self) -> Context<'_> {
        NOTHING
    }
}
