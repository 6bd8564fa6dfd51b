//! The command started by `-c`: created before probes attach, held at a
//! pipe until they are, then released so that no event is missed.

use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};

pub struct HeldChild {
    pub child: Child,
    /// Closing this releases the child.
    gate: Option<OwnedFd>,
}

impl HeldChild {
    /// Start `/bin/sh -c "exec CMD"` (so the shell parses quoting and the
    /// pid we trace is the command's own), blocked before exec.
    pub fn spawn(cmd: &str) -> std::io::Result<HeldChild> {
        let mut fds = [0i32; 2];
        // SAFETY: pipe2 writes two fds into the array on success.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: both fds were just created and are owned only here.
        let (read_end, write_end) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        let mut gate_reader = std::fs::File::from(read_end);
        let write_raw = fds[1];
        let mut command = Command::new("/bin/sh");
        command.arg("-c").arg(format!("exec {cmd}"));
        // SAFETY: the closure only calls async-signal-safe functions
        // (close, read) between fork and exec.
        unsafe {
            command.pre_exec(move || {
                libc::close(write_raw);
                let mut b = [0u8; 1];
                let _ = gate_reader.read(&mut b);
                Ok(())
            });
        }
        let child = command.spawn()?;
        Ok(HeldChild { child, gate: Some(write_end) })
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Let the command run.
    pub fn release(&mut self) {
        self.gate.take();
    }

    /// Has it exited (reaped)?
    pub fn exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }

    /// End it if still running (the session ended first).
    pub fn finish(&mut self) {
        self.release();
        if !self.exited() {
            // SAFETY: plain kill(2) of our own child.
            unsafe { libc::kill(self.pid(), libc::SIGTERM) };
            let _ = self.child.wait();
        }
    }
}

impl Drop for HeldChild {
    fn drop(&mut self) {
        self.finish();
    }
}
