//! Process-level OS services: the `-c` child held before exec, the stop
//! signals (SIGINT, SIGTERM), and the terminal's settings.

use std::ffi::CString;
use std::sync::atomic::{AtomicI32, Ordering};

// ------------------------------------------------------------ stop signals

/// The last stop signal caught, 0 for none.
static STOP: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_stop_signal(signal: libc::c_int) {
    STOP.store(signal, Ordering::SeqCst);
}

/// Make SIGINT and SIGTERM set a flag (read with [`stop_requested`])
/// instead of killing the process, so a session can tear down cleanly.
pub fn catch_stop_signals() {
    // SAFETY: the handler only stores to an atomic.
    unsafe {
        libc::signal(libc::SIGINT, on_stop_signal as *const () as usize);
        libc::signal(libc::SIGTERM, on_stop_signal as *const () as usize);
    }
}

pub fn stop_requested() -> bool {
    STOP.load(Ordering::SeqCst) != 0
}

/// Which stop signal was caught (`libc::SIGINT`, `libc::SIGTERM`), if any.
pub fn stop_signal() -> Option<i32> {
    Some(STOP.load(Ordering::SeqCst)).filter(|s| *s != 0)
}

/// Forget a caught stop signal (the REPL turns SIGINT into "back to the
/// prompt", not the end of the session).
pub fn clear_stop() {
    STOP.store(0, Ordering::SeqCst);
}

// ------------------------------------------------------------- held child

/// A command forked before probes attach, held at a pipe until they are,
/// then released to exec, so uprobes can be limited to its pid from its
/// first instruction and no event is missed.
///
/// `std::process::Command` cannot do this: `spawn` waits until the child has
/// exec'd, so a child blocked before exec would block us too. Hence a plain
/// fork and exec, with everything the child needs prepared before the fork.
pub struct HeldChild {
    pid: i32,
    /// Write end of the gate pipe; closing it releases the child.
    gate: Option<i32>,
    status: Option<i32>,
}

impl HeldChild {
    /// Fork `/bin/sh -c "exec CMD"` (the shell parses quoting; `exec` keeps
    /// the pid we trace the command's own), blocked before exec.
    pub fn spawn(cmd: &str) -> std::io::Result<HeldChild> {
        check_program(cmd)?;
        let sh = CString::new("/bin/sh")?;
        let dash_c = CString::new("-c")?;
        let script = CString::new(format!("exec {cmd}"))?;
        let argv = [sh.as_ptr(), dash_c.as_ptr(), script.as_ptr(), std::ptr::null()];
        let mut fds = [0i32; 2];
        // SAFETY: pipe2 writes two fds into the array on success.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let [read_end, write_end] = fds;
        // SAFETY: after fork the child only calls async-signal-safe
        // functions (close, read, execv, _exit) on data prepared above.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            let e = std::io::Error::last_os_error();
            // SAFETY: closing fds we own.
            unsafe {
                libc::close(read_end);
                libc::close(write_end);
            }
            return Err(e);
        }
        if pid == 0 {
            // SAFETY: see above; the child never returns into Rust code.
            unsafe {
                libc::close(write_end);
                let mut b = 0u8;
                libc::read(read_end, (&mut b as *mut u8).cast(), 1);
                libc::execv(argv[0], argv.as_ptr());
                libc::_exit(127);
            }
        }
        // SAFETY: the parent does not need the read end.
        unsafe { libc::close(read_end) };
        Ok(HeldChild { pid, gate: Some(write_end), status: None })
    }

    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Let the command run.
    pub fn release(&mut self) {
        if let Some(fd) = self.gate.take() {
            // SAFETY: closing the gate fd we own.
            unsafe { libc::close(fd) };
        }
    }

    /// Has it exited? Reaps it if so.
    pub fn exited(&mut self) -> bool {
        if self.status.is_some() {
            return true;
        }
        let mut status = 0;
        // SAFETY: non-blocking wait for our own child.
        let r = unsafe { libc::waitpid(self.pid, &mut status, libc::WNOHANG) };
        if r == self.pid || r < 0 {
            self.status = Some(status);
            return true;
        }
        false
    }

    /// End it if still running (the session ended first), and reap it.
    pub fn finish(&mut self) {
        if self.gate.is_some() {
            // Never released: it has not exec'd and still has our signal
            // handlers (SIGTERM would only set a flag), so kill it outright;
            // the command never started.
            // SAFETY: signalling our own child.
            unsafe { libc::kill(self.pid, libc::SIGKILL) };
        }
        self.release();
        if !self.exited() {
            // SAFETY: signalling and waiting for our own child.
            unsafe {
                libc::kill(self.pid, libc::SIGTERM);
                let mut status = 0;
                libc::waitpid(self.pid, &mut status, 0);
                self.status = Some(status);
            }
        }
    }
}

impl Drop for HeldChild {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Fail early, with a clear message, when the command's program cannot be
/// found (the shell would only say so after probes were attached).
fn check_program(cmd: &str) -> std::io::Result<()> {
    let Some(first) = cmd.split_whitespace().next() else {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "the command is empty"));
    };
    let first = first.trim_matches(|c| c == '\'' || c == '"');
    let found = if first.contains('/') {
        std::path::Path::new(first).is_file()
    } else {
        let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into());
        std::env::split_paths(&path).any(|d| d.join(first).is_file()) || is_shell_word(first)
    };
    if found {
        Ok(())
    } else {
        Err(std::io::Error::new(std::io::ErrorKind::NotFound, format!("{first}: no such program")))
    }
}

/// Shell syntax that is not a program (`VAR=x cmd`, builtins such as `exec`).
fn is_shell_word(w: &str) -> bool {
    w.contains('=') || matches!(w, "exec" | "cd" | "true" | "false" | ":" | "." | "eval" | "command")
}

// ---------------------------------------------------------------- terminal

/// The terminal settings of stdin, saved so they can be put back if the
/// process must end while the line editor has the terminal in raw mode.
pub struct TerminalMode(libc::termios);

impl TerminalMode {
    /// `None` if stdin is not a terminal.
    pub fn save() -> Option<TerminalMode> {
        // SAFETY: termios is plain data; tcgetattr fills it or fails.
        unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            (libc::tcgetattr(libc::STDIN_FILENO, &mut t) == 0).then_some(TerminalMode(t))
        }
    }

    pub fn restore(&self) {
        // SAFETY: self.0 came from tcgetattr on the same fd.
        unsafe {
            libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &self.0);
        }
    }
}
