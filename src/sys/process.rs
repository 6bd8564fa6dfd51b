//! Process-level OS services: the `-c` child held before exec, the stop
//! signals (SIGINT, SIGTERM), the limit on open files, and the terminal's
//! settings.

use std::ffi::CString;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};

// ------------------------------------------------------------ open files

/// The soft limit on open files trace started with, if it raised it.
static NOFILE_BEFORE: AtomicU64 = AtomicU64::new(u64::MAX);

/// Raise the soft limit on open files to the hard one. Every attached
/// probe holds a program, a perf event and a link: at 1,024, a common
/// default soft limit, a wildcard runs out at about 340 tracepoints. The
/// `-c` command gets the limit trace started with back.
pub fn raise_open_file_limit() {
    let mut now = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes into the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut now) } != 0 || now.rlim_cur >= now.rlim_max {
        return;
    }
    let raised = libc::rlimit { rlim_cur: now.rlim_max, rlim_max: now.rlim_max };
    // SAFETY: setrlimit reads the struct we pass. A hard limit above the
    // kernel's nr_open is refused (EPERM): then nothing changes.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
        NOFILE_BEFORE.store(now.rlim_cur, Ordering::SeqCst);
    }
}

/// The limit a child should start with: trace's own before it was raised.
fn child_open_file_limit() -> Option<libc::rlimit> {
    let before = NOFILE_BEFORE.load(Ordering::SeqCst);
    let mut now = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes into the struct we pass.
    let ok = before != u64::MAX && unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut now) } == 0;
    ok.then_some(libc::rlimit { rlim_cur: before.min(now.rlim_max), rlim_max: now.rlim_max })
}

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

/// User signals caught and not yet handled: bit N for signal N.
static USER_SIGNALS: AtomicU64 = AtomicU64::new(0);

extern "C" fn on_user_signal(signal: libc::c_int) {
    USER_SIGNALS.fetch_or(1 << (signal as u32 & 63), Ordering::SeqCst);
}

/// Make `signal` (SIGUSR1, SIGUSR2) set a flag, read with
/// [`take_user_signal`], instead of killing the process; waits in `poll`
/// return early when it arrives.
pub fn catch_user_signal(signal: i32) {
    // SAFETY: the handler only updates an atomic.
    unsafe {
        libc::signal(signal, on_user_signal as *const () as usize);
    }
}

/// Whether `signal` arrived since the last call (and forget it).
pub fn take_user_signal(signal: i32) -> bool {
    let bit = 1 << (signal as u32 & 63);
    USER_SIGNALS.fetch_and(!bit, Ordering::SeqCst) & bit != 0
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
    ///
    /// The child gets default signal dispositions and an empty signal mask
    /// (what trace ignores, such as SIGPIPE, would otherwise survive the
    /// exec), and runs only when [`HeldChild::release`] says so: if trace
    /// dies first, the child sees the gate close without the go byte and
    /// exits without running the command untraced.
    pub fn spawn(cmd: &str) -> std::io::Result<HeldChild> {
        check_command(cmd)?;
        let sh = CString::new("/bin/sh")?;
        let dash_c = CString::new("-c")?;
        let script = CString::new(format!("exec {cmd}"))?;
        let argv = [sh.as_ptr(), dash_c.as_ptr(), script.as_ptr(), std::ptr::null()];
        let nofile = child_open_file_limit();
        let mut fds = [0i32; 2];
        // SAFETY: pipe2 writes two fds into the array on success.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let [read_end, write_end] = fds;
        // SAFETY: after fork the child only calls async-signal-safe
        // functions (close, signal, sigprocmask, setrlimit, read, execv,
        // _exit) on data prepared above.
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
                // The raw system call: glibc's wrappers refuse its own
                // signals (32, 33), which an ignoring parent passes on too.
                let default = KernelSigaction { handler: libc::SIG_DFL, flags: 0, restorer: 0, mask: 0 };
                for sig in 1..SIGNALS {
                    libc::syscall(libc::SYS_rt_sigaction, sig, &default, std::ptr::null_mut::<KernelSigaction>(), 8);
                }
                let mut none: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut none);
                libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
                if let Some(limit) = &nofile {
                    libc::setrlimit(libc::RLIMIT_NOFILE, limit);
                }
                let mut b = 0u8;
                let got = loop {
                    let r = libc::read(read_end, (&mut b as *mut u8).cast(), 1);
                    if r >= 0 || *libc::__errno_location() != libc::EINTR {
                        break r;
                    }
                };
                if got != 1 {
                    // The gate closed without the go byte: trace is gone.
                    libc::_exit(127);
                }
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

    /// Let the command run: the go byte, then the gate closes.
    pub fn release(&mut self) {
        if let Some(fd) = self.gate.take() {
            // SAFETY: writing one byte to and closing the gate fd we own.
            unsafe {
                libc::write(fd, b"g".as_ptr().cast(), 1);
                libc::close(fd);
            }
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
        if let Some(fd) = self.gate.take() {
            // Never released: the command never started; closing the gate
            // without the go byte ends the child, and it is killed anyway.
            // SAFETY: signalling our own child, closing the gate fd we own.
            unsafe {
                libc::kill(self.pid, libc::SIGKILL);
                libc::close(fd);
            }
        }
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

/// Signals 1 to 64: every standard and real-time signal.
const SIGNALS: libc::c_long = 65;

/// The kernel's `struct sigaction` for `rt_sigaction` on x86-64 (glibc's
/// has a larger mask and another order).
#[repr(C)]
struct KernelSigaction {
    handler: libc::sighandler_t,
    flags: libc::c_ulong,
    restorer: usize,
    mask: u64,
}

/// Fail early, with a clear message, when the command cannot be started:
/// its program is not found or not executable, or the shell cannot parse
/// it (the shell would only say so after probes were attached).
/// The program a `-c` command runs: its first word, through `PATH`
/// unless it has a `/` (`None` for a shell word such as `exec`).
pub fn command_program(cmd: &str) -> Option<std::path::PathBuf> {
    let first = cmd.split_whitespace().next()?.trim_matches(|c| c == '\'' || c == '"');
    if first.contains('/') {
        return Some(first.into());
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into());
    std::env::split_paths(&path).map(|d| d.join(first)).find(|p| executable(p))
}

pub fn check_command(cmd: &str) -> std::io::Result<()> {
    use std::io::{Error, ErrorKind};
    let Some(first) = cmd.split_whitespace().next() else {
        return Err(Error::new(ErrorKind::InvalidInput, "the command is empty"));
    };
    let first = first.trim_matches(|c| c == '\'' || c == '"');
    let candidates: Vec<std::path::PathBuf> = if first.contains('/') {
        vec![first.into()]
    } else if is_shell_word(first) {
        Vec::new()
    } else {
        let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into());
        std::env::split_paths(&path).map(|d| d.join(first)).filter(|p| p.is_file()).collect()
    };
    if !is_shell_word(first) {
        if candidates.iter().all(|p| !p.is_file()) {
            return Err(Error::new(ErrorKind::NotFound, format!("{first}: no such program")));
        }
        if !candidates.iter().any(|p| executable(p)) {
            return Err(Error::new(ErrorKind::PermissionDenied, format!("{first}: not executable")));
        }
    }
    // `sh -n` parses without running anything.
    let parsed = std::process::Command::new("/bin/sh")
        .args(["-n", "-c", &format!("exec {cmd}")])
        .stdin(std::process::Stdio::null())
        .output()?;
    if !parsed.status.success() {
        let why = String::from_utf8_lossy(&parsed.stderr);
        let why = why.trim().trim_start_matches("/bin/sh: ").trim_start_matches("1: ");
        return Err(Error::new(ErrorKind::InvalidInput, format!("the shell cannot parse it: {why}")));
    }
    Ok(())
}

/// Whether this process may execute `path`.
fn executable(path: &std::path::Path) -> bool {
    let Ok(c) = CString::new(path.as_os_str().as_encoded_bytes()) else { return false };
    // SAFETY: access reads the NUL-terminated path we own.
    unsafe { libc::access(c.as_ptr(), libc::X_OK) == 0 }
}

/// Whether process `pid` exists and has not exited (a zombie has). With
/// `-p`, the session ends when its process does.
pub fn process_alive(pid: i32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
    // `pid (comm) S ...`: the state follows the last `)`.
    let state = stat.rsplit_once(')').and_then(|(_, rest)| rest.trim_start().chars().next());
    !matches!(state, Some('Z' | 'X') | None)
}

/// Shell syntax that is not a program (`VAR=x cmd`, builtins such as `exec`).
fn is_shell_word(w: &str) -> bool {
    w.contains('=') || matches!(w, "exec" | "cd" | "true" | "false" | ":" | "." | "eval" | "command")
}

// ------------------------------------------------------ background close

/// Hand `fds` to a child process that closes them and exits, so this
/// process can end at once. `close_ours` closes this process's copies; it
/// runs here either way (false: the child could not be made, and the
/// copies closed were the last, so the detach happened here).
///
/// Detaching a probe waits for the kernel (tens of milliseconds per
/// tracepoint, serialised by the kernel): 720 syscall tracepoints take
/// half a minute. The probes are stopped first, so none does anything
/// meanwhile. The child waits until `close_ours` has run (the end of a
/// pipe) before closing its copies, so it always holds the last
/// references, whatever the scheduler does; the kernel finishes the detach
/// whether it closes them or is killed. Every other descriptor is closed
/// in the child first, so a pipe trace writes to sees its end now.
pub fn close_in_background(fds: &[std::os::fd::RawFd], close_ours: impl FnOnce()) -> bool {
    let mut keep: Vec<u32> = fds.iter().filter_map(|fd| u32::try_from(*fd).ok()).collect();
    keep.sort_unstable();
    keep.dedup();
    let mut ends = [-1; 2];
    // SAFETY: pipe2 fills the two descriptors or fails.
    if unsafe { libc::pipe2(ends.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        close_ours();
        return false;
    }
    let [read_end, write_end] = ends;
    // The child keeps the read end open while it closes everything else.
    let mut open: Vec<u32> = keep.iter().copied().chain(u32::try_from(read_end).ok()).collect();
    open.sort_unstable();
    // SAFETY: after fork the child only makes raw system calls (prctl,
    // close_range, read, close, _exit), which are async-signal-safe, on
    // the data above.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: see above; the child never returns into Rust code.
        unsafe {
            // `ps` shows what it is.
            libc::prctl(libc::PR_SET_NAME, c"trace-detach".as_ptr());
            let mut from = 0u32;
            for &fd in &open {
                if fd > from {
                    libc::syscall(libc::SYS_close_range, from, fd - 1, 0);
                }
                from = fd + 1;
            }
            libc::syscall(libc::SYS_close_range, from, u32::MAX, 0);
            // End of file once the parent closed its copies (or died);
            // a signal (the parent's handlers are inherited) reads again.
            let mut byte = 0u8;
            while libc::read(read_end, (&raw mut byte).cast(), 1) < 0 && *libc::__errno_location() == libc::EINTR {}
            for &fd in &keep {
                libc::close(fd as i32);
            }
            libc::_exit(0);
        }
    }
    // SAFETY: both ends are ours; each is closed once.
    unsafe { libc::close(read_end) };
    close_ours();
    // SAFETY: as above.
    unsafe { libc::close(write_end) };
    pid > 0
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Waits for the child and returns its exit code.
    fn exit_code(c: &mut HeldChild) -> i32 {
        let mut status = 0;
        // SAFETY: waiting for our own child.
        unsafe { libc::waitpid(c.pid, &mut status, 0) };
        c.status = Some(status);
        libc::WEXITSTATUS(status)
    }

    fn marker(name: &str) -> std::path::PathBuf {
        let p = std::env::temp_dir().join(format!("trace-held-{name}-{}", std::process::id()));
        let _ = std::fs::remove_file(&p);
        p
    }

    #[test]
    fn a_released_command_runs() {
        let ran = marker("released");
        let mut c = HeldChild::spawn(&format!("touch {}", ran.display())).expect("spawns");
        c.release();
        assert_eq!(exit_code(&mut c), 0);
        assert!(ran.exists());
        let _ = std::fs::remove_file(ran);
    }

    /// What the child sees when trace dies holding it: the gate closes
    /// without the go byte. The command must not run untraced.
    #[test]
    fn a_command_whose_tracer_died_never_runs() {
        let ran = marker("abandoned");
        let mut c = HeldChild::spawn(&format!("touch {}", ran.display())).expect("spawns");
        if let Some(fd) = c.gate.take() {
            // SAFETY: closing the gate fd we own, as the kernel does when
            // the process dies.
            unsafe { libc::close(fd) };
        }
        assert_eq!(exit_code(&mut c), 127);
        assert!(!ran.exists(), "the command ran");
    }

    /// trace may open as many files as it is allowed; its `-c` command
    /// starts with the soft limit trace started with.
    #[test]
    fn the_open_file_limit_is_raised_for_trace_only() {
        let mut before = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: getrlimit writes into the struct we pass.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut before) }, 0);
        raise_open_file_limit();
        let mut after = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: as above.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut after) }, 0);
        assert_eq!(after.rlim_cur, after.rlim_max);
        let soft = marker("nofile");
        let mut c = HeldChild::spawn(&format!("sh -c 'ulimit -n > {}'", soft.display())).expect("spawns");
        c.release();
        assert_eq!(exit_code(&mut c), 0);
        let seen = std::fs::read_to_string(&soft).expect("the child wrote its limit");
        let _ = std::fs::remove_file(soft);
        // Other tests may have raised it first: the original is what the
        // first raise saw.
        let original = NOFILE_BEFORE.load(Ordering::SeqCst);
        let want = if original == u64::MAX { before.rlim_cur } else { original };
        assert_eq!(seen.trim(), want.to_string());
    }

    #[test]
    fn commands_that_cannot_start_are_refused() {
        let err = |cmd: &str| check_command(cmd).expect_err(cmd).to_string();
        assert!(err("./no/such/program").contains("no such program"));
        assert!(err("/etc/passwd").contains("not executable"));
        assert!(err("true ( (").contains("cannot parse"));
        assert!(err("   ").contains("empty"));
        assert!(check_command("true && echo 'a b'").is_ok());
        assert!(check_command("X=1 true").is_ok());
    }

    /// The child closes its copies only after ours are closed, so it holds
    /// the last reference (the one whose close does the slow detach).
    #[test]
    fn background_close_keeps_the_last_copy() {
        let mut ends = [-1; 2];
        // SAFETY: pipe2 fills the two descriptors.
        assert_eq!(unsafe { libc::pipe2(ends.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        let [read_end, write_end] = ends;
        // SAFETY (both): writing one byte from a live buffer to our pipe.
        let write = || unsafe { libc::write(write_end, b"x".as_ptr().cast(), 1) };
        let handed = close_in_background(&[read_end], || {
            // SAFETY: our copy of the read end, closed once.
            unsafe { libc::close(read_end) };
            std::thread::sleep(std::time::Duration::from_millis(50));
            assert_eq!(write(), 1, "the child still holds the read end");
        });
        assert!(handed);
        // Then the child closes it: the pipe has no reader left.
        let closed = (0..200).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(10));
            write() < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EPIPE)
        });
        // SAFETY: our write end, closed once.
        unsafe { libc::close(write_end) };
        assert!(closed, "the child closed its copy");
    }
}
