//! Services of a live session (the REPL): counting how often each program
//! ran, and waiting on several file descriptors at once.

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

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
    let rc = unsafe {
        bpf::bpf_prog_get_info_by_fd(prog.as_raw_fd(), &mut info, &mut len)
    };
    if rc != 0 {
        return Err(SysError::os(Op::ObjInfo, "", last_errno()));
    }
    Ok(info.run_cnt)
}

/// Waits up to `timeout_ms` (-1: forever) until one of `fds` is readable;
/// returns which are. A signal interrupting the wait returns all `false`.
/// (A closed fd is reported by the kernel as POLLNVAL, never misused.)
pub fn wait_readable(fds: &[RawFd], timeout_ms: i32) -> Result<Vec<bool>, SysError> {
    let mut polls: Vec<libc::pollfd> =
        fds.iter().map(|fd| libc::pollfd { fd: *fd, events: libc::POLLIN, revents: 0 }).collect();
    // SAFETY: polls is a valid array of pollfd of the length passed.
    let rc = unsafe { libc::poll(polls.as_mut_ptr(), polls.len() as libc::nfds_t, timeout_ms) };
    if rc < 0 {
        let errno = last_errno();
        if errno == libc::EINTR {
            return Ok(vec![false; fds.len()]);
        }
        return Err(SysError::os(Op::Poll, "", errno));
    }
    Ok(polls.iter().map(|p| p.revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0).collect())
}
