//! perf_event_open, the perf ioctls and BPF links on perf events.
//!
//! Part of [`super`], the one FFI module: every probe the runtime attaches
//! is a perf event with a program bound to it.

use std::ffi::{c_int, CStr};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use libbpf_sys as bpf;

use super::{last_errno, Op, SysError};

/// What to count or sample with `perf_event_open`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PerfEventSpec<'a> {
    pub type_: u32,
    pub config: u64,
    /// For uprobe/kprobe PMU events: the binary path or kernel function
    /// name, passed as a pointer in `config1` (overrides `config1`).
    pub config1_str: Option<&'a CStr>,
    pub config1: u64,
    pub config2: u64,
    /// Sampling period (events) or, with `freq`, samples per second.
    pub sample: u64,
    pub freq: bool,
    pub pid: i32,
    pub cpu: i32,
}

pub(crate) const PERF_TYPE_SOFTWARE: u32 = bpf::PERF_TYPE_SOFTWARE;
pub(crate) const PERF_TYPE_TRACEPOINT: u32 = bpf::PERF_TYPE_TRACEPOINT;
pub(crate) const PERF_COUNT_SW_CPU_CLOCK: u64 = bpf::PERF_COUNT_SW_CPU_CLOCK as u64;

/// Opens a disabled perf event; enable it after attaching a program.
pub(crate) fn perf_event_open(spec: &PerfEventSpec<'_>, what: &str) -> Result<OwnedFd, SysError> {
    let mut attr = bpf::perf_event_attr {
        type_: spec.type_,
        size: std::mem::size_of::<bpf::perf_event_attr>() as u32,
        config: spec.config,
        ..Default::default()
    };
    attr.__bindgen_anon_1.sample_period = spec.sample;
    attr.__bindgen_anon_3.config1 = match spec.config1_str {
        Some(text) => text.as_ptr() as u64,
        None => spec.config1,
    };
    attr.__bindgen_anon_4.config2 = spec.config2;
    attr.set_disabled(1);
    if spec.freq {
        attr.set_freq(1);
    }
    // SAFETY: attr is fully initialised with its own size, and
    // `config1_str` (if any) is a NUL-terminated string that outlives the
    // syscall.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_perf_event_open,
            &attr as *const bpf::perf_event_attr,
            spec.pid as libc::c_long,
            spec.cpu as libc::c_long,
            -1 as libc::c_long,
            bpf::PERF_FLAG_FD_CLOEXEC as libc::c_ulong,
        )
    };
    if fd < 0 {
        return Err(SysError::os(Op::PerfEventOpen, what, last_errno()));
    }
    // SAFETY: the kernel just returned this fd to us alone.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as c_int) })
}

// The kernel's _IO/_IOW encoding: direction bits on top, then the
// argument size, the type ('$' for perf) and the number. mips, powerpc
// and sparc use different direction values and one fewer size bit.
#[cfg(any(
    target_arch = "mips",
    target_arch = "mips64",
    target_arch = "powerpc",
    target_arch = "powerpc64",
    target_arch = "sparc",
    target_arch = "sparc64"
))]
const IOC_DIR: (u64, u64, u64) = (1, 4, 29); // (none, write, dir shift)
#[cfg(not(any(
    target_arch = "mips",
    target_arch = "mips64",
    target_arch = "powerpc",
    target_arch = "powerpc64",
    target_arch = "sparc",
    target_arch = "sparc64"
)))]
const IOC_DIR: (u64, u64, u64) = (0, 1, 30);

const fn ioc(dir: u64, nr: u64, size: u64) -> u64 {
    (dir << IOC_DIR.2) | (size << 16) | ((b'$' as u64) << 8) | nr
}
const PERF_EVENT_IOC_ENABLE: u64 = ioc(IOC_DIR.0, 0, 0);
const PERF_EVENT_IOC_DISABLE: u64 = ioc(IOC_DIR.0, 1, 0);
const PERF_EVENT_IOC_SET_BPF: u64 = ioc(IOC_DIR.1, 8, 4);

fn perf_ioctl(perf: BorrowedFd<'_>, request: u64, arg: c_int, what: &str) -> Result<(), SysError> {
    // SAFETY: these perf ioctls take an integer argument, not a pointer.
    let rc = unsafe { libc::ioctl(perf.as_raw_fd(), request as _, arg) };
    if rc != 0 {
        return Err(SysError::os(Op::PerfEventIoctl, what, last_errno()));
    }
    Ok(())
}

pub(crate) fn perf_event_enable(perf: BorrowedFd<'_>) -> Result<(), SysError> {
    perf_ioctl(perf, PERF_EVENT_IOC_ENABLE, 0, "enable")
}

pub(crate) fn perf_event_disable(perf: BorrowedFd<'_>) -> Result<(), SysError> {
    perf_ioctl(perf, PERF_EVENT_IOC_DISABLE, 0, "disable")
}

/// Pre-5.15 way to attach: the program stays attached until the perf fd closes.
pub(crate) fn perf_event_set_bpf(perf: BorrowedFd<'_>, prog: BorrowedFd<'_>) -> Result<(), SysError> {
    perf_ioctl(perf, PERF_EVENT_IOC_SET_BPF, prog.as_raw_fd(), "PERF_EVENT_IOC_SET_BPF")
}

/// `BPF_LINK_CREATE` of a program on a perf event (kernel 5.15+).
pub(crate) fn link_create_perf(prog: BorrowedFd<'_>, perf: BorrowedFd<'_>) -> Result<OwnedFd, SysError> {
    let opts = bpf::bpf_link_create_opts {
        sz: std::mem::size_of::<bpf::bpf_link_create_opts>() as bpf::size_t,
        // SAFETY: the all-zero bit pattern is valid for this plain-data struct.
        ..unsafe { std::mem::zeroed() }
    };
    // SAFETY: opts is a valid, properly sized struct; fds are live.
    let fd = unsafe { bpf::bpf_link_create(prog.as_raw_fd(), perf.as_raw_fd(), bpf::BPF_PERF_EVENT, &opts) };
    if fd < 0 {
        return Err(SysError::os(Op::LinkCreate, "", last_errno()));
    }
    // SAFETY: the kernel just returned this fd to us alone.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    fn ioctl_numbers_match_the_uapi_headers() {
        assert_eq!(PERF_EVENT_IOC_ENABLE, 0x2400);
        assert_eq!(PERF_EVENT_IOC_DISABLE, 0x2401);
        assert_eq!(PERF_EVENT_IOC_SET_BPF, 0x4004_2408);
    }
}
