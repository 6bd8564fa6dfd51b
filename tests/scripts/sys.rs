//! The harness's OS module: every libc call it makes, each behind a small
//! safe function, so that this is the one file of the harness that may use
//! `unsafe` (the crate root denies it everywhere else).
//!
//! What the harness needs from the OS that std does not offer: its
//! effective uid and a proof that BPF works (to tell which cases can run),
//! signals to processes and process groups (to end a case's processes), and
//! a pseudo-terminal that becomes a child's controlling terminal (for the
//! REPL cases, see `pty.rs`).
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::Command;

pub use libc::{SIGINT, SIGKILL};

/// The effective uid of the harness.
pub fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Whether the bpf() syscall works for us: it answers a map creation (the
/// cheapest proof), and the map is closed again at once.
pub fn bpf_map_create() -> io::Result<()> {
    // union bpf_attr for BPF_MAP_CREATE: map_type, key_size, value_size,
    // max_entries, map_flags; the kernel zero-fills the rest.
    let attr: [u32; 5] = [2 /* BPF_MAP_TYPE_ARRAY */, 4, 4, 1, 0];
    // SAFETY: attr is a valid, correctly sized prefix of union bpf_attr, and
    // the kernel only reads it.
    let fd = unsafe {
        libc::syscall(libc::SYS_bpf, 0 /* BPF_MAP_CREATE */, attr.as_ptr(), std::mem::size_of_val(&attr))
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this descriptor to us and nothing
    // else owns it; dropping the OwnedFd closes it once.
    drop(unsafe { OwnedFd::from_raw_fd(fd as RawFd) });
    Ok(())
}

/// Sends `signal` to the process `pid`.  A process already gone (ESRCH)
/// is not an error worth reporting: the callers only want it ended.
pub fn kill(pid: u32, signal: i32) {
    // SAFETY: kill takes plain integers; the worst a wrong pid can do is
    // fail with ESRCH or EPERM, which is ignored on purpose.
    unsafe {
        libc::kill(pid as libc::pid_t, signal);
    }
}

/// Sends `signal` to every process of the process group `pgid` (a case's
/// processes each lead a group of their own).
pub fn kill_group(pgid: u32, signal: i32) {
    // SAFETY: as for kill(); a negative pid names the process group.
    unsafe {
        libc::kill(-(pgid as libc::pid_t), signal);
    }
}

/// A new pseudo-terminal of `rows` x `cols`: (master, slave), both
/// close-on-exec, so commands the harness starts do not inherit either end.
pub fn openpty(rows: u16, cols: u16) -> io::Result<(OwnedFd, OwnedFd)> {
    let (mut master, mut slave): (RawFd, RawFd) = (-1, -1);
    // SAFETY: openpty stores two new descriptors through the first two
    // pointers, which point at live locals; name, termios and winsize may
    // be null.
    let rc =
        unsafe { libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), std::ptr::null()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both descriptors were just created and nothing else owns them.
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    for fd in [&master, &slave] {
        // SAFETY: F_SETFD with an integer argument on a descriptor we own.
        if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) } < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    let size = libc::winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCSWINSZ reads one winsize through the pointer, which points
    // at a live local, from a descriptor we own.
    if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &size) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((master, slave))
}

/// Makes `command`'s child start a session of its own whose controlling
/// terminal is the child's stdin, which must be a terminal's slave end by
/// then (set stdin before spawning).  Its process group is then the
/// terminal's foreground group, so Ctrl-C typed on the master raises SIGINT
/// in it as on a real terminal.
pub fn controlling_terminal_on_exec(command: &mut Command) {
    // SAFETY: the closure runs in the child between fork and exec, after
    // stdio is set up; it calls only setsid and ioctl, which are
    // async-signal-safe, and touches no memory of the parent.
    unsafe {
        command.pre_exec(|| {
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Checks run at harness start-up (the harness has no #[test] functions):
/// the wrappers report what the kernel says.
pub fn self_check() -> Result<(), String> {
    let (master, slave) = openpty(40, 250).map_err(|e| format!("openpty: {e}"))?;
    for (name, fd) in [("master", &master), ("slave", &slave)] {
        // Read back through /proc: both ends must be close-on-exec.
        let fdinfo = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_raw_fd()))
            .map_err(|e| format!("fdinfo of the pty {name}: {e}"))?;
        let flags = fdinfo
            .lines()
            .find_map(|l| l.strip_prefix("flags:"))
            .and_then(|f| u32::from_str_radix(f.trim(), 8).ok())
            .ok_or_else(|| format!("no flags in the fdinfo of the pty {name}: {fdinfo:?}"))?;
        if flags & libc::O_CLOEXEC as u32 == 0 {
            return Err(format!("pty {name} is not close-on-exec (flags {flags:o})"));
        }
    }
    let status = std::fs::read_to_string("/proc/self/status").map_err(|e| format!("/proc/self/status: {e}"))?;
    let proc_euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        .and_then(|id| id.parse::<u32>().ok());
    if proc_euid != Some(euid()) {
        return Err(format!("euid() = {} but /proc/self/status says {proc_euid:?}", euid()));
    }
    Ok(())
}
