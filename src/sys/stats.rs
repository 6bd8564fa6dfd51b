//! Counting how often each program ran (the REPL's hits per probe).

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use libbpf_sys as bpf;

use super::{last_errno, Op, SysError};

/// While the returned fd is open the kernel counts every program's runs
/// (`BPF_ENABLE_STATS`, `BPF_STATS_RUN_TIME`); closing it stops counting.
/// It costs two clock reads per program run, system-wide.
pub fn enable_run_stats() -> Result<OwnedFd, SysError> {
    // SAFETY: a plain syscall wrapper with no pointers.
    let fd = unsafe { bpf::bpf_enable_stats(bpf::BPF_STATS_RUN_TIME) };
    if fd < 0 {
        return Err(SysError::os(Op::EnableStats, "", -fd));
    }
    // SAFETY: the kernel just returned this fd and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// How many times the program has run since run statistics were enabled.
pub fn prog_run_count(prog: BorrowedFd<'_>) -> Result<u64, SysError> {
    let mut info = bpf::bpf_prog_info::default();
    let mut len = std::mem::size_of::<bpf::bpf_prog_info>() as u32;
    // SAFETY: info is a properly sized, zeroed bpf_prog_info and len says so;
    // its pointer fields are null, so the kernel fills in scalars only.
    let rc = unsafe { bpf::bpf_prog_get_info_by_fd(prog.as_raw_fd(), &mut info, &mut len) };
    if rc != 0 {
        return Err(SysError::os(Op::ObjInfo, "", last_errno()));
    }
    Ok(info.run_cnt)
}
