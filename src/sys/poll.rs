//! Waiting on several file descriptors at once (the REPL waits on the ring
//! buffer and on the user).

use std::os::fd::RawFd;

use super::{last_errno, Op, SysError};

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
