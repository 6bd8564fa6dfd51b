//! Kernel probes on a kernel that cannot run them — `kprobe`/`kretprobe`
//! without kprobes, `fentry`/`fexit` without BTF or without a kernel that
//! lets BPF attach to functions — and the bpftrace probe types trace does
//! not implement.
//!
//! They are refused with the reason and with the tracepoint to use
//! instead, found from the function name (`kprobe.rs` and `fentry.rs` call
//! here when the kernel says no).

use std::path::{Path, PathBuf};

use super::text::{parts, quoted_list, At};
use super::{complete_nothing, describe_nothing, supported_types, ProbeType, Status};
use crate::diag::Diagnostic;
use crate::frontend::names::is_glob;
use crate::frontend::tracefs::{categories, exists, tracefs_root, valid_component, TracepointError};

/// Which kind of unavailable probe a type is.
#[derive(Clone, Copy)]
enum Family {
    Kprobe {
        ret: bool,
    },
    Fentry {
        ret: bool,
    },
    /// A bpftrace type trace does not implement.
    Other,
}

/// A row of the probe-type table for a probe trace refuses.
macro_rules! refused {
    ($name:literal, [$($alias:literal),*], $status:expr, $family:expr) => {
        ProbeType {
            name: $name,
            aliases: &[$($alias),*],
            status: $status,
            takes_parts: true,
            expand: |at, full, rest, _| Err(unavailable(at, $family, full, rest)),
            list: |at, full, rest, _| Err(unavailable(at, $family, full, rest)),
            describe: describe_nothing,
            complete: complete_nothing,
        }
    };
}

pub const SOFTWARE: ProbeType = refused!("software", ["s"], Status::NotImplemented, Family::Other);
pub const HARDWARE: ProbeType = refused!("hardware", ["h"], Status::NotImplemented, Family::Other);
pub const WATCHPOINT: ProbeType = refused!("watchpoint", ["w"], Status::NotImplemented, Family::Other);
pub const ASYNCWATCHPOINT: ProbeType = refused!("asyncwatchpoint", ["aw"], Status::NotImplemented, Family::Other);
pub const ITER: ProbeType = refused!("iter", ["it"], Status::NotImplemented, Family::Other);

/// The refusal of `fentry`/`fexit` where the kernel cannot run them (no
/// BTF, or BPF may not attach to functions), with tracepoints instead.
pub(super) fn refuse_fentry(at: &At, full: &str, rest: Option<usize>, ret: bool) -> Diagnostic {
    unavailable(at, Family::Fentry { ret }, full, rest)
}

/// The refusal of a probe that needs kernel BTF (`rawtracepoint`) where
/// there is none (`reason` says why), with the tracepoint to use.
pub(super) fn refuse_btf_probe(at: &At, full: &str, reason: String) -> Diagnostic {
    at.err(0..at.type_end(), format!("{full} probes are not available on this kernel"), "needs kernel BTF")
        .note(reason)
        .note("use `tracepoint:CATEGORY:NAME`: the same events, with their fields copied out")
}

/// The refusal of `kprobe`/`kretprobe` on a kernel without kprobes (or
/// where trace cannot tell), with the tracepoints to use instead.
pub(super) fn refuse_kprobe(at: &At, full: &str, rest: Option<usize>, ret: bool) -> Diagnostic {
    unavailable(at, Family::Kprobe { ret }, full, rest)
}

/// The diagnostic for a probe type that cannot be used: kernel probes
/// (with why this kernel lacks them and the tracepoints to use instead),
/// and bpftrace types `trace` does not implement.
fn unavailable(at: &At, family: Family, full: &str, rest: Option<usize>) -> Diagnostic {
    let text = at.text;
    let ty_r = 0..at.type_end();
    // The kernel function is the last part (`kfunc:vmlinux:f`, `kprobe:f+8`).
    let func = rest.map(|r| {
        let last = parts(text, r).pop().unwrap_or(r..text.len());
        let s = &text[last];
        s.split('+').next().unwrap_or(s).to_string()
    });
    match family {
        Family::Kprobe { ret } | Family::Fentry { ret } => {
            let (what, support) = match family {
                Family::Kprobe { .. } => ("kprobes", kprobes_support()),
                _ => ("fentry/fexit", fentry_support()),
            };
            let (message, label, reason) = match support {
                Support::Missing(reason) => (
                    format!("{full} probes are not available on this kernel"),
                    format!("{what} are not available"),
                    reason,
                ),
                Support::Present => (
                    format!("{full} probes are not supported by trace yet"),
                    "not supported yet".into(),
                    format!("this kernel supports {what}, but trace does not attach to them yet"),
                ),
                Support::Unknown(reason) => match family {
                    Family::Kprobe { .. } => {
                        (format!("{full} probes cannot be used here"), format!("cannot tell if {what} work"), reason)
                    }
                    // Whatever the kernel has, trace does not attach them
                    // yet: that much is certain.
                    _ => (format!("{full} probes are not supported by trace yet"), "not supported yet".into(), reason),
                },
            };
            let mut d = at.err(ty_r, message, label).note(reason);
            let alts = func
                .as_deref()
                .filter(|f| !f.is_empty() && !is_glob(f))
                .map(|f| alternatives_for_kernel_function(f, ret));
            match alts {
                Some(alts) if !alts.is_empty() => {
                    d = d.note(format!("use a tracepoint instead: {}", quoted_list(&alts)))
                }
                _ => {}
            }
            let dir = if ret { "exit" } else { "enter" };
            d.note(format!(
                "kernel activity can be traced through tracepoints: `tracepoint:syscalls:sys_{dir}_*` for system calls; \
                 `trace -l 'tracepoint:*'` lists them all"
            ))
        }
        _ => {
            let hint = match full {
                "software" | "hardware" => {
                    "for sampling use `profile:hz:N`; for periodic work `interval:s:N`".to_string()
                }
                _ => format!("supported probe types: {}", supported_types(false)),
            };
            at.err(ty_r, format!("{full} probes are not supported by trace"), "not supported").note(hint)
        }
    }
}

/// Whether a kernel feature is there, as far as files tell without
/// loading a program.
#[derive(Debug)]
pub(super) enum Support {
    Present,
    /// It is not, and why.
    Missing(String),
    /// The files that tell are root-only (tracefs), or cannot be read: why
    /// trace cannot tell.
    Unknown(String),
}

/// Whether this kernel has kprobes.
pub(super) fn kprobes_support() -> Support {
    if Path::new("/sys/bus/event_source/devices/kprobe").exists() {
        return Support::Present;
    }
    kprobes_in_tracefs(tracefs_root())
}

/// [`kprobes_support`] once the kprobe PMU is known to be absent.
fn kprobes_in_tracefs(root: Result<PathBuf, TracepointError>) -> Support {
    match root {
        Ok(r) if r.join("kprobe_events").exists() => Support::Present,
        Err(e @ TracepointError::TracefsDenied(_)) => {
            Support::Unknown(format!("trace cannot tell without root whether this kernel has kprobes: {e}"))
        }
        _ => Support::Missing(
            "this kernel was built without kprobes (CONFIG_KPROBES): there is no \
             /sys/bus/event_source/devices/kprobe and no kprobe_events in tracefs"
                .into(),
        ),
    }
}

/// Whether fentry/fexit can work here, if we can tell without loading a
/// program: they need kernel BTF and a kernel that lets BPF attach to
/// functions through ftrace, whose function list must be readable.
pub(super) fn fentry_support() -> Support {
    if !Path::new("/sys/kernel/btf/vmlinux").exists() {
        return Support::Missing("the kernel has no BTF (/sys/kernel/btf/vmlinux), which fentry/fexit need".into());
    }
    fentry_in_tracefs(tracefs_root())
}

/// [`fentry_support`] once kernel BTF is known to be there.
fn fentry_in_tracefs(root: Result<PathBuf, TracepointError>) -> Support {
    let root = match root {
        Ok(root) => root,
        // Not knowing is not a yes: without root, tracefs is unreadable.
        Err(e) => {
            return Support::Unknown(format!(
                "trace cannot tell without root whether this kernel lets BPF attach to kernel functions: {e}"
            ))
        }
    };
    let list = root.join("available_filter_functions");
    match std::fs::File::open(&list).and_then(|mut f| std::io::Read::read(&mut f, &mut [0u8; 1])) {
        Ok(_) => Support::Present,
        Err(e) => Support::Missing(format!(
            "the kernel does not allow BPF tracing programs to attach to kernel functions here \
             ({} is not readable: {e})",
            list.display()
        )),
    }
}

/// Tracepoints a user of `kprobe:FUNC` (or `kretprobe:`) probably wants
/// instead, as `tracepoint:CAT:NAME` strings that exist on this kernel.
///
/// Syscall implementations are recognised by their prefixes
/// (`__x64_sys_openat`, `do_sys_openat2`, `ksys_read`, ...) and map to the
/// `syscalls` tracepoints; a few well-known kernel functions that many
/// syscalls funnel into have a table; otherwise an event of the same name in
/// any category (`tcp_retransmit_skb` → `tcp:tcp_retransmit_skb`).
pub fn alternatives_for_kernel_function(func: &str, ret: bool) -> Vec<String> {
    let dir = if ret { "exit" } else { "enter" };
    let mut syscalls: Vec<&str> = Vec::new();
    // Shared entry points of whole syscall families.
    const FAMILIES: &[(&str, &[&str])] = &[
        ("do_sys_open", &["openat", "open"]),
        ("do_sys_openat2", &["openat", "open", "openat2"]),
        ("do_filp_open", &["openat", "open"]),
        ("vfs_read", &["read", "pread64", "readv"]),
        ("vfs_write", &["write", "pwrite64", "writev"]),
        ("do_execveat_common", &["execve", "execveat"]),
        ("do_execve", &["execve"]),
        ("__sys_connect", &["connect"]),
        ("__sys_accept4", &["accept4", "accept"]),
        ("__sys_sendto", &["sendto"]),
        ("__sys_recvfrom", &["recvfrom"]),
        ("do_unlinkat", &["unlinkat", "unlink"]),
        ("do_mkdirat", &["mkdirat", "mkdir"]),
        ("ksys_mmap_pgoff", &["mmap"]),
    ];
    if let Some((_, names)) = FAMILIES.iter().find(|(f, _)| *f == func) {
        syscalls.extend_from_slice(names);
    }
    const PREFIXES: &[&str] = &[
        "__x64_sys_",
        "__ia32_sys_",
        "__arm64_sys_",
        "__riscv_sys_",
        "__se_sys_",
        "__do_sys_",
        "do_sys_",
        "ksys_",
        "sys_",
    ];
    if let Some(rest) = PREFIXES.iter().find_map(|p| func.strip_prefix(p)) {
        syscalls.push(rest);
    }
    let mut out: Vec<String> = Vec::new();
    for s in syscalls {
        let name = format!("sys_{dir}_{s}");
        if exists("syscalls", &name) {
            let full = format!("tracepoint:syscalls:{name}");
            if !out.contains(&full) {
                out.push(full);
            }
        }
    }
    const EVENTS: &[(&str, &str)] = &[
        ("do_exit", "sched:sched_process_exit"),
        ("kernel_clone", "sched:sched_process_fork"),
        ("wake_up_new_task", "sched:sched_process_fork"),
        ("finish_task_switch", "sched:sched_switch"),
        ("__schedule", "sched:sched_switch"),
        ("try_to_wake_up", "sched:sched_wakeup"),
        ("kmalloc", "kmem:kmalloc"),
        ("__kmalloc", "kmem:kmalloc"),
        ("kfree", "kmem:kfree"),
        ("blk_mq_start_request", "block:block_rq_issue"),
    ];
    for (f, ev) in EVENTS {
        if *f == func {
            if let Some((c, n)) = ev.split_once(':') {
                if exists(c, n) {
                    out.push(format!("tracepoint:{ev}"));
                }
            }
        }
    }
    if out.is_empty() && valid_component(func) {
        if let Ok(cats) = categories() {
            for c in cats {
                if exists(&c, func) {
                    out.push(format!("tracepoint:{c}:{func}"));
                }
            }
        }
    }
    out.truncate(3);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kprobe_alternatives() {
        if crate::frontend::tracefs::skip_without_tracefs() {
            return;
        }
        let alts = alternatives_for_kernel_function("do_sys_openat2", false);
        assert_eq!(alts.first().map(String::as_str), Some("tracepoint:syscalls:sys_enter_openat"));
        assert!(alternatives_for_kernel_function("__x64_sys_read", true)
            .contains(&"tracepoint:syscalls:sys_exit_read".to_string()));
        assert_eq!(alternatives_for_kernel_function("sched_switch", false), ["tracepoint:sched:sched_switch"]);
        assert!(alternatives_for_kernel_function("definitely_not_a_function", false).is_empty());
    }

    #[test]
    fn unreadable_tracefs_is_not_an_answer() {
        // As an ordinary user, tracefs is mounted but root-only.
        let denied = || Err(TracepointError::TracefsDenied("/sys/kernel/tracing".into()));
        let want = "without root whether this kernel lets BPF attach to kernel functions: \
                    cannot read tracefs at /sys/kernel/tracing: permission denied (needs root)";
        assert!(matches!(fentry_in_tracefs(denied()), Support::Unknown(r) if r.ends_with(want)));
        let want = "without root whether this kernel has kprobes: cannot read tracefs at /sys/kernel/tracing: \
                    permission denied (needs root)";
        assert!(matches!(kprobes_in_tracefs(denied()), Support::Unknown(r) if r.ends_with(want)));
        // A readable tracefs does answer.
        let dir = std::env::temp_dir().join(format!("trace-fakefs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert!(
            matches!(fentry_in_tracefs(Ok(dir.clone())), Support::Missing(r) if r.contains("available_filter_functions"))
        );
        assert!(matches!(kprobes_in_tracefs(Ok(dir.clone())), Support::Missing(r) if r.contains("CONFIG_KPROBES")));
        std::fs::write(dir.join("available_filter_functions"), "vfs_read\n").unwrap();
        std::fs::write(dir.join("kprobe_events"), "").unwrap();
        assert!(matches!(fentry_in_tracefs(Ok(dir.clone())), Support::Present));
        assert!(matches!(kprobes_in_tracefs(Ok(dir.clone())), Support::Present));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
