//! kprobes and kretprobes: one function through the `kprobe` perf PMU, or
//! many at once on a kprobe-multi link.
//!
//! Like uprobes, but `config1` names a kernel function (`MODULE:FUNC` for
//! one in a module) and `config2` is the offset into it. Many kernels have kprobes; some (including the machines
//! this project is developed on, with `CONFIG_KPROBES` off) do not, and
//! there the error says so and points at tracepoints, which cover most of
//! what people use kprobes for.

use std::ffi::CString;

use super::{pmu_format_bit, pmu_type, require_kind, AttachError, Link};
use crate::runtime::load::Prog;
use crate::sys as os;
use crate::sys::{PerfEventSpec, ProgKind};

const KPROBE_PMU: &str = "kprobe";

fn no_kprobes(reason: String) -> AttachError {
    AttachError::NoKprobes(format!(
        "{reason}: this kernel has no kprobe PMU (CONFIG_KPROBES off?); \
         use a tracepoint instead, e.g. tracepoint:syscalls:sys_enter_openat for kprobe:do_sys_open"
    ))
}

/// Attaches a Kprobe-kind program to `function+offset` in the kernel.
pub fn attach_kprobe(prog: &Prog, function: &str, offset: u64, retprobe: bool) -> Result<Link, AttachError> {
    let target = if retprobe { "kretprobe" } else { "kprobe" };
    require_kind(prog, ProgKind::Kprobe, target)?;
    if retprobe && offset != 0 {
        return Err(AttachError::Invalid(format!("kretprobe:{function} cannot have an offset (+{offset:#x})")));
    }
    let pmu_type = pmu_type(KPROBE_PMU).map_err(no_kprobes)?;
    let mut config = 0u64;
    if retprobe {
        config |= 1u64 << pmu_format_bit(KPROBE_PMU, "retprobe").map_err(no_kprobes)?;
    }
    let cfunc = CString::new(function)
        .map_err(|_| AttachError::Invalid(format!("{function:?} is not a kernel function name")))?;
    let spec = PerfEventSpec {
        type_: pmu_type,
        config,
        config1_str: Some(&cfunc),
        config1: 0,
        config2: offset,
        sample: 0,
        freq: false,
        pid: -1,
        cpu: 0,
    };
    let description =
        if offset == 0 { format!("{target} {function}") } else { format!("{target} {function}+{offset:#x}") };
    Link::single(prog, &spec, description).map_err(|e| match e {
        AttachError::Sys { source, .. } if offset != 0 && source.errno() == Some(libc::EILSEQ) => {
            AttachError::Invalid(format!(
                "{function}+{offset} is not at an instruction boundary of {function} (the kernel refused it); \
                 pick an offset where an instruction starts"
            ))
        }
        other => other,
    })
}

/// Attaches a KprobeMulti-kind program to every one of `functions` (vmlinux
/// functions, by name) with one link, at entry or at return.
pub fn attach_kprobe_multi(prog: &Prog, functions: &[String], retprobe: bool) -> Result<Link, AttachError> {
    let target = if retprobe { "kretprobe" } else { "kprobe" };
    require_kind(prog, ProgKind::KprobeMulti, target)?;
    let names = functions
        .iter()
        .map(|f| CString::new(f.as_str()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| AttachError::Invalid("a kernel function name contains a NUL byte".into()))?;
    let description = format!("{target} on {} functions", functions.len());
    let link = os::link_create_kprobe_multi(prog.borrowed_fd(), &names, retprobe)
        .map_err(|source| AttachError::Sys { what: description.clone(), source })?;
    Ok(Link::bpf_link(link, description))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::load::load_program;
    use crate::runtime::testing::{prog_return, skip_without_bpf};

    #[test]
    fn kprobe_attaches_or_explains_why_not() {
        if skip_without_bpf() {
            return;
        }
        let prog = load_program(ProgKind::Kprobe, "kp", &prog_return(0)).expect("load");
        match attach_kprobe(&prog, "do_sys_openat2", 0, false) {
            // A kernel with kprobes: the probe attaches and detaches on drop.
            Ok(link) => assert_eq!(link.description(), "kprobe do_sys_openat2"),
            Err(AttachError::NoKprobes(msg)) => assert!(msg.contains("tracepoint"), "{msg}"),
            Err(other) => panic!("unexpected error: {other}"),
        }
        assert!(matches!(attach_kprobe(&prog, "do_sys_openat2", 4, true), Err(AttachError::Invalid(_))));
    }
}
