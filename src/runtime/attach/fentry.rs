//! fentry and fexit: a tracing program loaded for one kernel function (its
//! BTF id is part of the program, see `sys::ProgKind::Fentry`) is attached
//! by opening a link for it; there is no perf event.

use super::{AttachError, Link};
use crate::runtime::load::Prog;
use crate::sys::{self, ProgKind};

/// Attaches an fentry/fexit program to the function it was loaded for;
/// `function` names it in messages.
pub fn attach_fentry(prog: &Prog, function: &str) -> Result<Link, AttachError> {
    let ProgKind::Fentry { ret, .. } = prog.kind() else {
        return Err(AttachError::WrongProgKind {
            target: "fentry",
            expected: ProgKind::Fentry { btf_id: 0, ret: false },
            got: prog.kind(),
        });
    };
    let description = format!("{} {function}", if ret { "fexit" } else { "fentry" });
    let link = sys::link_tracing(prog.borrowed_fd())
        .map_err(|source| AttachError::Sys { what: description.clone(), source })?;
    Ok(Link::bpf_link(link, description))
}
