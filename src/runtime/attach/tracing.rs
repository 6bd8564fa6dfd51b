//! Tracing programs — fentry, fexit, BTF raw tracepoints: a program loaded
//! for one kernel function or tracepoint (its BTF id is part of the
//! program, see `sys::ProgKind::Tracing`) is attached by opening a link
//! for it; there is no perf event.

use super::{AttachError, Link};
use crate::runtime::load::Prog;
use crate::sys::{self, ProgKind, TracingAttach};

/// Attaches a tracing program to what it was loaded for; `name` names it
/// in messages.
pub fn attach_tracing(prog: &Prog, name: &str) -> Result<Link, AttachError> {
    let ProgKind::Tracing { attach, .. } = prog.kind() else {
        return Err(AttachError::WrongProgKind {
            target: "fentry/fexit/raw tracepoint",
            expected: ProgKind::Tracing { btf_id: 0, btf_object: 0, attach: TracingAttach::Fentry },
            got: prog.kind(),
        });
    };
    let what = match attach {
        TracingAttach::Fentry => "fentry",
        TracingAttach::Fexit => "fexit",
        TracingAttach::RawTracepoint => "rawtracepoint",
    };
    let description = format!("{what} {name}");
    let link = sys::link_tracing(prog.borrowed_fd())
        .map_err(|source| AttachError::Sys { what: description.clone(), source })?;
    Ok(Link::bpf_link(link, description))
}
