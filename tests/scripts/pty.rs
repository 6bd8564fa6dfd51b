//! The pseudo-terminal REPL cases run trace on.
//!
//! trace decides between line editing and plain piped input by asking
//! whether stdin is a terminal, so the only way to test the editor is to
//! give it one: the slave end becomes trace's stdin, stdout, stderr and
//! controlling terminal (so Ctrl-C raises SIGINT when the editor is not in
//! raw mode, as on a real terminal), and the harness reads and types on the
//! master end.  The system calls behind it are in `sys.rs`.

use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::process::{Child, Command, Stdio};

use crate::sys;

pub struct Pty {
    master: File,
    slave: OwnedFd,
}

impl Pty {
    /// A new pseudo-terminal of `rows` x `cols` (wide, so nothing trace or
    /// the line editor prints wraps).  Neither end is inherited by commands
    /// the harness starts (`$` steps): trace's end of the terminal would
    /// then outlive trace.
    pub fn open(rows: u16, cols: u16) -> io::Result<Pty> {
        let (master, slave) = sys::openpty(rows, cols)?;
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
        sys::controlling_terminal_on_exec(&mut command);
        let child = command.spawn()?;
        drop(command);
        drop(self.slave);
        Ok((child, self.master))
    }
}
