//! The one module that talks to the kernel through `unsafe` FFI.
//!
//! Everything that calls into libbpf-sys or issues a raw syscall lives here,
//! behind small safe functions, so the rest of the runtime is ordinary safe
//! Rust and the soundness argument can be read in one place (this file plus
//! its two submodules: `sys/perf.rs` for perf events and links,
//! `sys/ring.rs` for libbpf's ring buffer). The rules:
//!
//! * every file descriptor comes back as an [`OwnedFd`], so closing (and with
//!   it detaching a probe or freeing a map) happens on `Drop`;
//! * buffers handed to the kernel are checked against the sizes the kernel
//!   will read or write ([`MapHandle`] carries a map's key and value sizes),
//!   so no caller can make the kernel overrun a Rust slice;
//! * errors are [`SysError`]s that name the operation, the errno and a short
//!   human explanation of what usually causes it.
//!
//! libbpf's own diagnostic printing is switched off once ([`quiet_libbpf`]):
//! we report every failure ourselves, and its chatter (e.g. about
//! `RLIMIT_MEMLOCK`, which cannot be raised on cgroup-accounted kernels and
//! does not need to be) would only confuse users.

use std::ffi::CString;
use std::fmt;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::{Once, OnceLock};

use libbpf_sys as bpf;

mod perf;
mod poll;
mod process;
mod ring;
mod stats;
mod time;

pub(crate) use perf::{
    link_create_perf, perf_event_disable, perf_event_enable, perf_event_open, perf_event_set_bpf, PerfEventSpec,
    PERF_COUNT_SW_CPU_CLOCK, PERF_TYPE_SOFTWARE, PERF_TYPE_TRACEPOINT,
};
pub use poll::wait_readable;
pub use process::{catch_stop_signals, clear_stop, stop_requested, stop_signal, HeldChild, Mmap, TerminalMode};
pub(crate) use ring::RawRingBuffer;
pub use ring::SampleHandler;
pub use stats::{enable_run_stats, prog_run_count};
pub use time::{format_local_time, format_utc_time, monotonic_ns};

/// The map types the compiler uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MapKind {
    Hash,
    PercpuHash,
    Array,
    PercpuArray,
    /// `max_entries` is the ring size in bytes (a power-of-two multiple of
    /// the page size); key and value sizes are always 0.
    RingBuf,
}

impl MapKind {
    /// Per-CPU maps hold one value slot per possible CPU.
    pub fn is_percpu(self) -> bool {
        matches!(self, MapKind::PercpuHash | MapKind::PercpuArray)
    }

    /// Array maps have a fixed set of `u32` keys that cannot be deleted.
    pub fn is_array(self) -> bool {
        matches!(self, MapKind::Array | MapKind::PercpuArray)
    }

    fn raw(self) -> bpf::bpf_map_type {
        match self {
            MapKind::Hash => bpf::BPF_MAP_TYPE_HASH,
            MapKind::PercpuHash => bpf::BPF_MAP_TYPE_PERCPU_HASH,
            MapKind::Array => bpf::BPF_MAP_TYPE_ARRAY,
            MapKind::PercpuArray => bpf::BPF_MAP_TYPE_PERCPU_ARRAY,
            MapKind::RingBuf => bpf::BPF_MAP_TYPE_RINGBUF,
        }
    }
}

impl fmt::Display for MapKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MapKind::Hash => "hash",
            MapKind::PercpuHash => "percpu hash",
            MapKind::Array => "array",
            MapKind::PercpuArray => "percpu array",
            MapKind::RingBuf => "ringbuf",
        })
    }
}

/// The program types the compiler emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProgKind {
    /// kprobes and uprobes (the kernel uses one program type for both).
    Kprobe,
    Tracepoint,
    /// perf events: `interval`, `profile`, hardware/software counters.
    PerfEvent,
    /// BEGIN/END: never attached, run once with `BPF_PROG_TEST_RUN`.
    RawTracepoint,
}

impl ProgKind {
    fn raw(self) -> bpf::bpf_prog_type {
        match self {
            ProgKind::Kprobe => bpf::BPF_PROG_TYPE_KPROBE,
            ProgKind::Tracepoint => bpf::BPF_PROG_TYPE_TRACEPOINT,
            ProgKind::PerfEvent => bpf::BPF_PROG_TYPE_PERF_EVENT,
            ProgKind::RawTracepoint => bpf::BPF_PROG_TYPE_RAW_TRACEPOINT,
        }
    }
}

impl fmt::Display for ProgKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProgKind::Kprobe => "kprobe/uprobe",
            ProgKind::Tracepoint => "tracepoint",
            ProgKind::PerfEvent => "perf_event",
            ProgKind::RawTracepoint => "raw_tracepoint",
        })
    }
}

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

/// Turns off libbpf's printing to stderr (we report failures ourselves).
pub fn quiet_libbpf() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: passing no callback is documented to disable logging.
        unsafe {
            bpf::libbpf_set_print(None);
        }
    });
}

/// Kernel object names: at most 15 bytes of `[A-Za-z0-9_.]`.
pub fn object_name(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '.' { c } else { '_' }).take(15).collect()
}

// ---------------------------------------------------------------- CPUs, tracefs

fn read_cpu_list(path: &str) -> Result<Vec<u32>, SysError> {
    let text = std::fs::read_to_string(path).map_err(|source| SysError::Read { path: PathBuf::from(path), source })?;
    parse_cpu_list(text.trim()).map_err(|detail| SysError::Parse { path: PathBuf::from(path), detail })
}

/// Parses the kernel's CPU list format, e.g. `0-3,5,8-9`.
pub(crate) fn parse_cpu_list(text: &str) -> Result<Vec<u32>, String> {
    let mut cpus = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let num = |s: &str| s.trim().parse::<u32>().map_err(|_| format!("bad CPU number {s:?} in {text:?}"));
        match part.split_once('-') {
            Some((lo, hi)) => {
                let (lo, hi) = (num(lo)?, num(hi)?);
                if lo > hi {
                    return Err(format!("bad CPU range {part:?}"));
                }
                cpus.extend(lo..=hi);
            }
            None => cpus.push(num(part)?),
        }
    }
    if cpus.is_empty() {
        return Err("empty CPU list".to_string());
    }
    Ok(cpus)
}

/// Number of possible CPUs: the slot count of per-CPU map values.
pub fn possible_cpus() -> Result<usize, SysError> {
    static CACHE: OnceLock<usize> = OnceLock::new();
    if let Some(n) = CACHE.get() {
        return Ok(*n);
    }
    let n = read_cpu_list("/sys/devices/system/cpu/possible")?.len();
    Ok(*CACHE.get_or_init(|| n))
}

/// The CPUs that are online now (perf events are opened per CPU).
pub fn online_cpus() -> Result<Vec<u32>, SysError> {
    read_cpu_list("/sys/devices/system/cpu/online")
}

const TRACEFS: &str = "/sys/kernel/tracing";

/// Returns the tracefs mount point, mounting tracefs there if needed.
pub fn ensure_tracefs() -> Result<PathBuf, SysError> {
    let tracing = Path::new(TRACEFS);
    if tracing.join("events").is_dir() {
        return Ok(tracing.to_path_buf());
    }
    // Older setups only have it under debugfs.
    let legacy = Path::new("/sys/kernel/debug/tracing");
    if legacy.join("events").is_dir() {
        return Ok(legacy.to_path_buf());
    }
    let target = c"/sys/kernel/tracing";
    // SAFETY: all pointers are valid NUL-terminated strings; data may be NULL.
    let rc = unsafe { libc::mount(c"nodev".as_ptr(), target.as_ptr(), c"tracefs".as_ptr(), 0, std::ptr::null()) };
    if rc != 0 {
        let errno = last_errno();
        // Somebody else may have mounted it in the meantime.
        if !(errno == libc::EBUSY && tracing.join("events").is_dir()) {
            return Err(SysError::os(Op::MountTracefs, TRACEFS, errno));
        }
    }
    if tracing.join("events").is_dir() {
        Ok(tracing.to_path_buf())
    } else {
        Err(SysError::Invalid(format!("tracefs mounted at {TRACEFS} but it has no events directory")))
    }
}

/// The calling thread's id (what `bpf_get_current_pid_tgid` puts in its
/// low 32 bits), used to filter events down to one thread.
pub fn current_tid() -> u32 {
    // SAFETY: gettid has no preconditions and cannot fail.
    unsafe { libc::gettid() as u32 }
}

/// Cheap check that BPF works here: creates and drops a one-entry array.
pub fn bpf_available() -> Result<(), SysError> {
    MapHandle::create(MapKind::Array, "probe", 4, 4, 1).map(drop)
}

// ---------------------------------------------------------------- maps

/// A map fd together with the sizes the kernel reads and writes through it.
#[derive(Debug)]
pub(crate) struct MapHandle {
    fd: OwnedFd,
    key_size: usize,
    /// Bytes of a value as user space sees it (all slots for per-CPU maps).
    value_len: usize,
}

impl MapHandle {
    /// Creates a map; `name` must already be an [`object_name`].
    pub fn create(
        kind: MapKind,
        name: &str,
        key_size: u32,
        value_size: u32,
        max_entries: u32,
    ) -> Result<MapHandle, SysError> {
        quiet_libbpf();
        let value_len = if kind.is_percpu() {
            (value_size as usize).div_ceil(8) * 8 * possible_cpus()?
        } else {
            value_size as usize
        };
        let cname = CString::new(object_name(name)).unwrap_or_default();
        // Hash maps allocate entries on insert: preallocating a per-CPU hash
        // of 65,536 hist buckets costs ~65 ms at start-up for entries most
        // sessions never use. (Kernels before 6.1 refuse run-time allocated
        // hash maps in perf_event programs; this one does not.)
        let map_flags = match kind {
            MapKind::Hash | MapKind::PercpuHash => bpf::BPF_F_NO_PREALLOC,
            _ => 0,
        };
        let opts = bpf::bpf_map_create_opts {
            sz: std::mem::size_of::<bpf::bpf_map_create_opts>() as bpf::size_t,
            map_flags,
            ..Default::default()
        };
        // SAFETY: name is NUL-terminated and opts is a properly sized struct.
        let fd = unsafe { bpf::bpf_map_create(kind.raw(), cname.as_ptr(), key_size, value_size, max_entries, &opts) };
        if fd < 0 {
            let errno = last_errno();
            return Err(SysError::os(Op::MapCreate, format!("{kind} map {name:?}"), errno));
        }
        Ok(MapHandle {
            // SAFETY: the kernel just returned this fd to us alone.
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
            key_size: key_size as usize,
            value_len,
        })
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        use std::os::fd::AsFd;
        self.fd.as_fd()
    }

    pub fn value_len(&self) -> usize {
        self.value_len
    }

    fn check(&self, key: &[u8], value: Option<usize>) -> Result<(), SysError> {
        if key.len() != self.key_size {
            return Err(SysError::Size { what: "map key", expected: self.key_size, got: key.len() });
        }
        match value {
            Some(len) if len != self.value_len => {
                Err(SysError::Size { what: "map value", expected: self.value_len, got: len })
            }
            _ => Ok(()),
        }
    }

    /// Copies the value for `key` into `value`; `Ok(false)` if absent.
    pub fn lookup(&self, key: &[u8], value: &mut [u8]) -> Result<bool, SysError> {
        self.check(key, Some(value.len()))?;
        // SAFETY: both buffers have exactly the sizes the map was created with.
        let rc =
            unsafe { bpf::bpf_map_lookup_elem(self.fd.as_raw_fd(), key.as_ptr().cast(), value.as_mut_ptr().cast()) };
        match rc {
            0 => Ok(true),
            _ => match last_errno() {
                libc::ENOENT => Ok(false),
                errno => Err(SysError::os(Op::MapLookup, "", errno)),
            },
        }
    }

    pub fn update(&self, key: &[u8], value: &[u8]) -> Result<(), SysError> {
        self.check(key, Some(value.len()))?;
        // SAFETY: both buffers have exactly the sizes the map was created with.
        let rc = unsafe {
            bpf::bpf_map_update_elem(
                self.fd.as_raw_fd(),
                key.as_ptr().cast(),
                value.as_ptr().cast(),
                bpf::BPF_ANY as u64,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(SysError::os(Op::MapUpdate, "", last_errno()))
        }
    }

    /// Deletes `key`; `Ok(false)` if it was absent.
    pub fn delete(&self, key: &[u8]) -> Result<bool, SysError> {
        self.check(key, None)?;
        // SAFETY: the key buffer has the map's key size.
        let rc = unsafe { bpf::bpf_map_delete_elem(self.fd.as_raw_fd(), key.as_ptr().cast()) };
        match rc {
            0 => Ok(true),
            _ => match last_errno() {
                libc::ENOENT => Ok(false),
                errno => Err(SysError::os(Op::MapDelete, "", errno)),
            },
        }
    }

    /// Writes the key after `key` (the first key for `None`) into `next`;
    /// `Ok(false)` at the end of the map.
    pub fn next_key(&self, key: Option<&[u8]>, next: &mut [u8]) -> Result<bool, SysError> {
        if let Some(k) = key {
            self.check(k, None)?;
        }
        if next.len() != self.key_size {
            return Err(SysError::Size { what: "map key", expected: self.key_size, got: next.len() });
        }
        let key_ptr = key.map_or(std::ptr::null(), |k| k.as_ptr().cast());
        // SAFETY: key is NULL or key-sized; next is key-sized.
        let rc = unsafe { bpf::bpf_map_get_next_key(self.fd.as_raw_fd(), key_ptr, next.as_mut_ptr().cast()) };
        match rc {
            0 => Ok(true),
            _ => match last_errno() {
                libc::ENOENT => Ok(false),
                errno => Err(SysError::os(Op::MapNextKey, "", errno)),
            },
        }
    }
}

// ---------------------------------------------------------------- programs

/// A failed `BPF_PROG_LOAD`: the errno and the log size the kernel wanted.
#[derive(Debug)]
pub(crate) struct ProgLoadFailure {
    pub errno: i32,
    pub log_true_size: u32,
}

/// One `BPF_PROG_LOAD` attempt with license "GPL".
///
/// `insns` must be whole 8-byte `struct bpf_insn`s. With `log_level` 0 and a
/// log buffer, libbpf loads without a log and only on failure retries with
/// level 1 into `log`, so successful loads pay nothing for the log.
pub(crate) fn prog_load(
    kind: ProgKind,
    name: &str,
    insns: &[u8],
    log_level: u32,
    log: &mut [u8],
) -> Result<OwnedFd, ProgLoadFailure> {
    quiet_libbpf();
    if insns.is_empty() || !insns.len().is_multiple_of(8) || log.len() > u32::MAX as usize {
        return Err(ProgLoadFailure { errno: libc::EINVAL, log_true_size: 0 });
    }
    // Copy into u64s so the instructions are suitably aligned for
    // `struct bpf_insn` whatever the alignment of the caller's bytes.
    let words: Vec<u64> =
        insns.chunks_exact(8).map(|c| u64::from_ne_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]])).collect();
    let cname = CString::new(object_name(name)).unwrap_or_default();
    let mut opts = bpf::bpf_prog_load_opts {
        sz: std::mem::size_of::<bpf::bpf_prog_load_opts>() as bpf::size_t,
        ..Default::default()
    };
    if !log.is_empty() {
        opts.log_level = log_level;
        opts.log_size = log.len() as u32;
        opts.log_buf = log.as_mut_ptr().cast();
    }
    // SAFETY: strings are NUL-terminated, the instruction buffer holds
    // `words.len()` aligned 8-byte instructions, the log buffer is
    // `log.len()` writable bytes and outlives the call.
    let fd = unsafe {
        bpf::bpf_prog_load(
            kind.raw(),
            cname.as_ptr(),
            c"GPL".as_ptr(),
            words.as_ptr().cast(),
            words.len() as bpf::size_t,
            &mut opts,
        )
    };
    if fd < 0 {
        return Err(ProgLoadFailure { errno: last_errno(), log_true_size: opts.log_true_size });
    }
    // SAFETY: the kernel just returned this fd to us alone.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Runs a program once with `BPF_PROG_TEST_RUN` and no context; returns r0.
pub(crate) fn prog_test_run(prog: BorrowedFd<'_>) -> Result<u32, SysError> {
    let mut opts = bpf::bpf_test_run_opts {
        sz: std::mem::size_of::<bpf::bpf_test_run_opts>() as bpf::size_t,
        ..Default::default()
    };
    // SAFETY: opts is a valid, properly sized struct with no buffers.
    let rc = unsafe { bpf::bpf_prog_test_run_opts(prog.as_raw_fd(), &mut opts) };
    if rc != 0 {
        return Err(SysError::os(Op::ProgTestRun, "", last_errno()));
    }
    Ok(opts.retval)
}
