//! BPF links that are not perf events: one kprobe-multi link attaching a
//! program to many kernel functions at once (kernel 5.18+, through ftrace's
//! fprobe), and the feature check that says whether this kernel has them;
//! the link of an fentry/fexit program to the function it was loaded for.
//!
//! Part of [`super`], the one FFI module.

use std::ffi::{c_char, CString};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::OnceLock;

use libbpf_sys as bpf;

use super::bpf::{prog_load, ProgKind};
use super::{last_errno, Op, SysError};

/// `BPF_F_KPROBE_MULTI_RETURN`: the link fires at the functions' returns.
const KPROBE_MULTI_RETURN: u32 = 1;

/// `BPF_LINK_CREATE` of a `KprobeMulti` program on every function in
/// `functions` (by name; the kernel resolves them), at entry or at return.
pub(crate) fn link_create_kprobe_multi(
    prog: BorrowedFd<'_>,
    functions: &[CString],
    ret: bool,
) -> Result<OwnedFd, SysError> {
    let count = u32::try_from(functions.len())
        .map_err(|_| SysError::os(Op::LinkCreate, "too many functions for one link", libc::E2BIG))?;
    let mut syms: Vec<*const c_char> = functions.iter().map(|f| f.as_ptr()).collect();
    let mut opts = bpf::bpf_link_create_opts {
        sz: std::mem::size_of::<bpf::bpf_link_create_opts>() as bpf::size_t,
        // SAFETY: the all-zero bit pattern is valid for this plain-data struct.
        ..unsafe { std::mem::zeroed() }
    };
    opts.__bindgen_anon_1.kprobe_multi = bpf::bpf_link_create_opts__bindgen_ty_1__bindgen_ty_2 {
        flags: if ret { KPROBE_MULTI_RETURN } else { 0 },
        cnt: count,
        syms: syms.as_mut_ptr(),
        addrs: std::ptr::null(),
        cookies: std::ptr::null(),
    };
    // SAFETY: opts is a valid, properly sized struct; `syms` holds `count`
    // pointers to NUL-terminated strings, all alive for the call; the
    // kernel copies them. The target fd is unused for this attach type.
    let fd = unsafe { bpf::bpf_link_create(prog.as_raw_fd(), 0, bpf::BPF_TRACE_KPROBE_MULTI, &opts) };
    if fd < 0 {
        return Err(SysError::os(Op::LinkCreate, "kprobe-multi", last_errno()));
    }
    // SAFETY: the kernel just returned this fd to us alone.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Attaches an fentry/fexit program to the function named at load time
/// (`BPF_RAW_TRACEPOINT_OPEN` without a name, kernel 5.5+).
pub(crate) fn link_tracing(prog: BorrowedFd<'_>) -> Result<OwnedFd, SysError> {
    // SAFETY: a NULL name is how tracing programs are attached; the fd is live.
    let fd = unsafe { bpf::bpf_raw_tracepoint_open(std::ptr::null(), prog.as_raw_fd()) };
    if fd < 0 {
        return Err(SysError::os(Op::LinkCreate, "fentry/fexit", last_errno()));
    }
    // SAFETY: the kernel just returned this fd to us alone.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Whether this kernel has kprobe-multi links: a program loaded for them
/// and attached to a function that does not exist fails to find it
/// (`ESRCH`) where they exist, and for any other reason where not. Checked
/// once per process.
pub fn kprobe_multi_available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        // r0 = 0; exit
        let insns: [u8; 16] = [0xb7, 0, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0];
        let Ok(prog) = prog_load(ProgKind::KprobeMulti, "kpm_check", &insns, &[], 0, &mut []) else { return false };
        let missing = [CString::from(c"trace_no_such_function_for_a_feature_check")];
        match link_create_kprobe_multi(std::os::fd::AsFd::as_fd(&prog), &missing, false) {
            Ok(_) => true,
            Err(e) => e.errno() == Some(libc::ESRCH),
        }
    })
}
