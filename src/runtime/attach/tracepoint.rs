//! Static kernel tracepoints (`tracepoint:CATEGORY:NAME`).
//!
//! A tracepoint's numeric id comes from tracefs (`events/CAT/NAME/id`,
//! mounting tracefs first if the system has not); the program is bound to
//! a `PERF_TYPE_TRACEPOINT` event with that id. One event on CPU 0 with no
//! pid suffices: the kernel runs tracepoint programs on every CPU.

use std::path::PathBuf;

use super::{require_kind, AttachError, Link};
use crate::runtime::load::Prog;
use crate::sys::{self, PerfEventSpec, ProgKind, PERF_TYPE_TRACEPOINT};

/// The tracefs id of `category:name`.
pub fn tracepoint_id(category: &str, name: &str) -> Result<u32, AttachError> {
    let valid = |s: &str| !s.is_empty() && s != "." && s != ".." && !s.contains('/') && !s.contains('\0');
    if !valid(category) || !valid(name) {
        return Err(AttachError::Invalid(format!("{category:?}:{name:?} is not a tracepoint name")));
    }
    let tracefs = sys::ensure_tracefs().map_err(AttachError::sys("tracefs"))?;
    let path: PathBuf = tracefs.join("events").join(category).join(name).join("id");
    let text = std::fs::read_to_string(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            AttachError::NoSuchTracepoint { category: category.to_string(), name: name.to_string(), path: path.clone() }
        }
        // Out of file descriptors, say: not a missing tracepoint.
        _ => AttachError::Invalid(format!("cannot read {}: {e}", path.display())),
    })?;
    text.trim()
        .parse()
        .map_err(|_| AttachError::Invalid(format!("unexpected contents of {}: {:?}", path.display(), text.trim())))
}

/// Attaches a Tracepoint-kind program to `category:name`.
pub fn attach_tracepoint(prog: &Prog, category: &str, name: &str) -> Result<Link, AttachError> {
    require_kind(prog, ProgKind::Tracepoint, "tracepoint")?;
    let id = tracepoint_id(category, name)?;
    let spec = PerfEventSpec {
        type_: PERF_TYPE_TRACEPOINT,
        config: u64::from(id),
        config1_str: None,
        config1: 0,
        config2: 0,
        sample: 0,
        freq: false,
        pid: -1,
        cpu: 0,
    };
    let description = format!("tracepoint {category}:{name}");
    Link::single(prog, &spec, description)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::load::load_program;
    use crate::runtime::maps::Map;
    use crate::runtime::testing::{prog_count, prog_return, read_count, skip_without_bpf};
    use crate::sys::{current_tid, MapKind};

    /// `std::process::id()` is one getpid(2) call each time (glibc no
    /// longer caches the pid).
    fn getpid_n(n: usize) {
        for _ in 0..n {
            std::hint::black_box(std::process::id());
        }
    }

    #[test]
    fn counts_getpid_syscalls() {
        if skip_without_bpf() {
            return;
        }
        let map = Map::create("tpcount", MapKind::Array, 4, 8, 1).expect("map");
        // Count only this thread: getpid is common elsewhere.
        let insns = prog_count(map.fd(), Some(current_tid()));
        let prog = load_program(ProgKind::Tracepoint, "tp_getpid", &insns).expect("load");
        let link = attach_tracepoint(&prog, "syscalls", "sys_enter_getpid").expect("attach");
        assert_eq!(link.description(), "tracepoint syscalls:sys_enter_getpid");
        getpid_n(25);
        assert_eq!(read_count(&map), 25);
        drop(link);
        // Other tests spawn processes (gcc, targets); a child between fork
        // and exec briefly holds a copy of every fd, and with it the probe.
        // Give such a window time to close before checking the detach.
        std::thread::sleep(std::time::Duration::from_millis(100));
        getpid_n(10);
        assert_eq!(read_count(&map), 25, "tracepoint fired after its Link was dropped");
    }

    #[test]
    fn missing_tracepoint_is_explained() {
        if skip_without_bpf() {
            return;
        }
        let prog = load_program(ProgKind::Tracepoint, "tp_none", &prog_return(0)).expect("load");
        let err = attach_tracepoint(&prog, "syscalls", "sys_enter_no_such_call").expect_err("missing");
        assert!(matches!(err, AttachError::NoSuchTracepoint { .. }), "{err}");
        assert!(err.to_string().contains("syscalls:sys_enter_no_such_call"), "{err}");
        let err = attach_tracepoint(&prog, "../etc", "x").expect_err("bad name");
        assert!(matches!(err, AttachError::Invalid(_)), "{err}");
        let kp = load_program(ProgKind::Kprobe, "kp", &prog_return(0)).expect("load");
        let err = attach_tracepoint(&kp, "syscalls", "sys_enter_getpid").expect_err("wrong kind");
        assert!(matches!(err, AttachError::WrongProgKind { .. }), "{err}");
    }
}
