//! The pseudo-terminal REPL cases run trace on: all of the harness's unsafe
//! terminal calls, in one place.
//!
//! trace decides between line editing and plain piped input by asking
//! whether stdin is a terminal, so the only way to test the editor is to
//! give it one: the slave end becomes trace's stdin, stdout, stderr and
//! controlling terminal (so Ctrl-C raises SIGINT when the editor is not in
//! raw mode, as on a real terminal), and the harness reads and types on the
//! master end.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};

pub struct Pty {
    master: File,
    slave: OwnedFd,
}

impl Pty {
    /// A new pseudo-terminal of `rows` x `cols` (wide, so nothing trace or
    /// the line editor prints wraps).
    pub fn open(rows: u16, cols: u16) -> io::Result<Pty> {
        let (mut master, mut slave): (RawFd, RawFd) = (-1, -1);
        // SAFETY: openpty stores two new descriptors through the first two
        // pointers; name, termios and winsize may be null.
        let rc =
            unsafe { libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), std::ptr::null()) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: both descriptors were just created and nothing else owns them.
        let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
        // Commands the harness starts (`$` steps) must not hold either end:
        // trace's end of the terminal would then outlive trace.
        for fd in [&master, &slave] {
            // SAFETY: F_SETFD on a descriptor we own.
            if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) } < 0 {
                return Err(io::Error::last_os_error());
            }
        }
        let size = libc::winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
        // SAFETY: TIOCSWINSZ reads one winsize through the pointer.
        if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &size) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Pty { master: File::from(master), slave })
    }

    /// Starts `command` in a session of its own with the terminal as its
    /// stdio and controlling terminal; returns it and the master end (read
    /// it for the output, write it to type).  The harness's copy of the
    /// slave is closed, so reading the master ends (EIO) once trace and
    /// everything it started have exited.
    /// The command is consumed: it holds copies of the slave.
    pub fn spawn(self, mut command: Command) -> io::Result<(Child, File)> {
        let stdio = || self.slave.try_clone().map(Stdio::from);
        command.stdin(stdio()?).stdout(stdio()?).stderr(stdio()?);
        // SAFETY: the closure runs in the child between fork and exec, after
        // stdio is set up, and calls only async-signal-safe functions.
        unsafe {
            command.pre_exec(|| {
                // A new session has no controlling terminal; TIOCSCTTY makes
                // stdin (the slave) this session's, with trace's process
                // group in the foreground.
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command.spawn()?;
        drop(command);
        drop(self.slave);
        Ok((child, self.master))
    }
}
