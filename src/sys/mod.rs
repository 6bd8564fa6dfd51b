//! The OS interface: the one module that talks to the kernel through
//! `unsafe` FFI, and the bottom layer of the crate (it uses nothing else of
//! trace; see ARCHITECTURE.md).
//!
//! Everything that calls into libbpf-sys or issues a raw syscall lives here,
//! behind small safe functions, so the rest of the crate is ordinary safe
//! Rust (the crate denies `unsafe_code` everywhere else) and the soundness
//! argument can be read in one place:
//!
//! * `bpf` — maps and programs (`bpf_map_create`, lookups, `BPF_PROG_LOAD`,
//!   `BPF_PROG_TEST_RUN`);
//! * `perf` — perf events and the BPF links on them;
//! * `links` — BPF links without a perf event (kprobe-multi, fentry/fexit);
//! * `ring` — libbpf's ring buffer behind a closure handler;
//! * `stats` — program run counts (`BPF_ENABLE_STATS`);
//! * `system` — CPU lists, tracefs (mounted when missing, unmounted after),
//!   thread ids;
//! * `files` — the files trace writes for the user, opened without following
//!   symbolic links or touching what is not a regular file of theirs;
//! * `process` — the `-c` child held before exec, stop signals, the terminal;
//! * `mmap` — read-only file mappings for symbol tables and debug info;
//! * `poll`, `time` — waiting on several fds; clocks and `strftime`.
//!
//! The rules:
//!
//! * every file descriptor comes back as an [`OwnedFd`](std::os::fd::OwnedFd),
//!   so closing (and with it detaching a probe or freeing a map) happens on
//!   `Drop`;
//! * buffers handed to the kernel are checked against the sizes the kernel
//!   will read or write (`MapHandle` carries a map's key and value sizes),
//!   so no caller can make the kernel overrun a Rust slice;
//! * errors are [`SysError`]s that name the operation, the errno and a short
//!   human explanation of what usually causes it.
//!
//! libbpf's own diagnostic printing is switched off once ([`quiet_libbpf`]):
//! we report every failure ourselves, and its chatter (e.g. about
//! `RLIMIT_MEMLOCK`, which cannot be raised on cgroup-accounted kernels and
//! does not need to be) would only confuse users.
#![allow(unsafe_code)]

use std::fmt;
use std::path::PathBuf;

mod bpf;
mod files;
mod links;
mod mmap;
mod perf;
mod poll;
#[cfg(test)]
pub(crate) mod probe_targets;
mod process;
mod ring;
mod stats;
mod system;
mod time;

pub use bpf::{
    bpf_available, btf_object_id, helper_available, object_name, quiet_libbpf, MapKind, ProgKind, TracingAttach,
};
pub(crate) use bpf::{prog_load, prog_test_run, MapHandle};
pub use files::{create_new, create_or_replace_own, euid, open_existing, Access, OpenRefused};
pub use links::kprobe_multi_available;
pub(crate) use links::{link_create_kprobe_multi, link_tracing};
pub use mmap::Mmap;
pub(crate) use perf::{
    link_create_perf, perf_event_disable, perf_event_enable, perf_event_open, perf_event_set_bpf, PerfEventSpec,
    PERF_COUNT_SW_CPU_CLOCK, PERF_TYPE_SOFTWARE, PERF_TYPE_TRACEPOINT,
};
pub use poll::wait_readable;
pub use process::{
    catch_stop_signals, catch_user_signal, check_command, clear_stop, close_in_background, command_program,
    process_alive, raise_open_file_limit, stop_requested, stop_signal, take_user_signal, HeldChild, TerminalMode,
};
pub(crate) use ring::RawRingBuffer;
pub use ring::SampleHandler;
pub use stats::{enable_run_stats, prog_run_count};
pub use system::{current_tid, ensure_tracefs, online_cpus, possible_cpus, unmount_tracefs};
pub use time::{format_local_time, format_utc_time, monotonic_ns};

/// The kernel operation that failed; decides the explanation of an errno.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    MapCreate,
    MapLookup,
    MapUpdate,
    MapDelete,
    MapNextKey,
    ProgLoad,
    ProgTestRun,
    PerfEventOpen,
    PerfEventIoctl,
    LinkCreate,
    RingBufNew,
    RingBufPoll,
    MountTracefs,
    UnmountTracefs,
    Dup,
    EnableStats,
    ObjInfo,
    Poll,
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::MapCreate => "BPF_MAP_CREATE",
            Op::MapLookup => "BPF_MAP_LOOKUP_ELEM",
            Op::MapUpdate => "BPF_MAP_UPDATE_ELEM",
            Op::MapDelete => "BPF_MAP_DELETE_ELEM",
            Op::MapNextKey => "BPF_MAP_GET_NEXT_KEY",
            Op::ProgLoad => "BPF_PROG_LOAD",
            Op::ProgTestRun => "BPF_PROG_TEST_RUN",
            Op::PerfEventOpen => "perf_event_open",
            Op::PerfEventIoctl => "perf event ioctl",
            Op::LinkCreate => "BPF_LINK_CREATE",
            Op::RingBufNew => "ring buffer setup",
            Op::RingBufPoll => "ring buffer poll",
            Op::MountTracefs => "mount tracefs",
            Op::UnmountTracefs => "unmount tracefs",
            Op::Dup => "dup",
            Op::EnableStats => "BPF_ENABLE_STATS",
            Op::ObjInfo => "BPF_OBJ_GET_INFO_BY_FD",
            Op::Poll => "poll",
        })
    }
}

#[derive(thiserror::Error, Debug)]
pub enum SysError {
    /// A syscall (or libbpf call) returned an error.
    #[error("{op}{}: {}{}", context_suffix(.context), errno_text(*.errno), hint_suffix(.hint))]
    Os {
        op: Op,
        /// What was being operated on, e.g. `map "counts"`; may be empty.
        context: String,
        errno: i32,
        hint: &'static str,
    },
    #[error("cannot read {}: {source}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("unexpected contents in {}: {detail}", .path.display())]
    Parse { path: PathBuf, detail: String },
    /// A buffer does not have the size the kernel will read or write.
    #[error("{what}: expected {expected} bytes, got {got}")]
    Size { what: &'static str, expected: usize, got: usize },
    /// tracefs is there but this user may not read it (it is root-only).
    #[error("cannot read tracefs at {}: permission denied (needs root)", .0.display())]
    TracefsDenied(PathBuf),
    #[error("{0}")]
    Invalid(String),
}

impl SysError {
    /// Builds an [`SysError::Os`] with the explanation for `op` and `errno`.
    pub fn os(op: Op, context: impl Into<String>, errno: i32) -> SysError {
        SysError::Os { op, context: context.into(), errno, hint: explain(op, errno) }
    }

    /// The errno of an OS-level failure, for callers that branch on it.
    pub fn errno(&self) -> Option<i32> {
        match self {
            SysError::Os { errno, .. } => Some(*errno),
            SysError::Read { source, .. } => source.raw_os_error(),
            SysError::TracefsDenied(_) => Some(libc::EACCES),
            _ => None,
        }
    }
}

fn context_suffix(context: &str) -> String {
    if context.is_empty() {
        String::new()
    } else {
        format!(" ({context})")
    }
}

fn errno_text(errno: i32) -> String {
    // ENOTSUPP (524) is kernel-internal and unknown to strerror.
    if errno == ENOTSUPP {
        return "operation not supported (errno 524)".to_string();
    }
    std::io::Error::from_raw_os_error(errno).to_string()
}

fn hint_suffix(hint: &str) -> String {
    if hint.is_empty() {
        String::new()
    } else {
        format!(" — {hint}")
    }
}

/// Kernel-internal "not supported" errno that BPF map operations leak.
const ENOTSUPP: i32 = 524;

/// The usual cause of `errno` for `op`, in words a user can act on.
fn explain(op: Op, errno: i32) -> &'static str {
    match (errno, op) {
        (libc::EPERM, Op::PerfEventOpen) => {
            "needs root / CAP_PERFMON (or a lower kernel.perf_event_paranoid)"
        }
        (libc::EPERM, Op::MountTracefs) => "needs root / CAP_SYS_ADMIN",
        (libc::EPERM, Op::ProgLoad) => {
            "needs root / CAP_BPF and CAP_PERFMON; this program type may also be disabled in this kernel"
        }
        (libc::EPERM, _) => "needs root / CAP_BPF",
        (libc::EACCES, Op::ProgLoad) => "the verifier rejected the program",
        (libc::EACCES, _) => "permission denied (needs root / CAP_BPF)",
        (libc::ENOMEM, _) => {
            "out of memory: BPF memory is charged to the cgroup (or RLIMIT_MEMLOCK on kernels before 5.11)"
        }
        (libc::E2BIG, Op::MapUpdate) => "the map is full (max_entries reached)",
        (libc::E2BIG, Op::ProgLoad) => "the program is too large",
        (libc::E2BIG, _) => "too large",
        (libc::ENOENT, Op::MapLookup | Op::MapDelete | Op::MapNextKey) => "no such key",
        (libc::ENOENT, Op::PerfEventOpen) => "no such event, PMU or file",
        (libc::EINVAL, Op::MapCreate) => {
            "invalid map parameters (key/value sizes, max_entries; ring buffers need a power-of-two multiple of the page size)"
        }
        (libc::EINVAL, Op::MapDelete) => "array map entries cannot be deleted (zero them instead)",
        (libc::EINVAL, Op::PerfEventOpen) => {
            "the kernel rejected the event attributes (bad offset, frequency above kernel.perf_event_max_sample_rate, or unsupported event)"
        }
        (libc::EINVAL, Op::LinkCreate | Op::PerfEventIoctl) => {
            "the program type does not match the event it is attached to"
        }
        (libc::EINVAL, Op::ProgTestRun) => "this program cannot be run with BPF_PROG_TEST_RUN as given",
        (libc::EINVAL, _) => "invalid argument",
        (libc::EBADF, _) => "bad file descriptor (object already closed?)",
        (libc::EMFILE | libc::ENFILE, _) => "too many open files; raise the limit with `ulimit -n`",
        (libc::EOPNOTSUPP | ENOTSUPP, Op::ProgTestRun) => {
            "BPF_PROG_TEST_RUN cannot run this program type (BEGIN/END use raw tracepoint programs)"
        }
        (libc::EOPNOTSUPP | ENOTSUPP, _) => "not supported by this kernel or map type",
        (libc::EBUSY, Op::UnmountTracefs) => "it is still in use (by another trace?), so it stays mounted",
        (libc::EBUSY, _) => "the resource is busy (already attached?)",
        (libc::ESRCH, _) => "the target process does not exist (has it exited?)",
        (libc::ENOSYS, _) => "the syscall is not available in this kernel",
        (libc::ENOSPC, Op::ProgLoad) => "the verifier log did not fit in the buffer",
        (libc::ENODEV, Op::PerfEventOpen) => "the PMU does not support this event on this CPU",
        _ => "",
    }
}

/// errno of the call that just failed (libbpf sets errno too).
fn last_errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO)
}
