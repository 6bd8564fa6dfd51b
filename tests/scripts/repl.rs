//! Running a REPL case: `trace` with no program on a pseudo-terminal
//! (`pty.rs`), the case's steps typed or run one after another, and what
//! the terminal received rendered as the screen shows it: the transcript,
//! which the expectations check as stdout.
//!
//! When to type next: rustyline turns bracketed paste on (`ESC[?2004h`)
//! exactly once each time it starts reading a line, so one more of those
//! than before Enter means trace has dealt with the line and reads again.
//! The prompt is no such signal: rustyline repaints `trace> ` whenever
//! output is printed above the line being edited.
//!
//! Output about a line can still reach the screen just after the next
//! prompt (trace hands it to a printer thread, and rustyline shows it when
//! it next looks), so after each prompt the driver also waits for the
//! output to go quiet for a moment, as a person would before typing on.
//! Without that, a Ctrl-D typed right after the prompt can overtake it:
//! rustyline reads keys before pending output, and output still pending
//! when the editor closes is never shown.
//!
//! Each session gets a fresh, empty $HOME (history is written there), in a
//! temporary directory removed at the end.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::pty::Pty;
use crate::run::{self, Captured, Env};
use crate::spec::{Case, Key, Step};
use crate::sys;

/// Big enough that nothing wraps (the renderer knows no wrapping).
const ROWS: u16 = 40;
const COLS: u16 = 250;
/// Output must be quiet this long after a prompt before the next step...
const SETTLE: Duration = Duration::from_millis(50);
/// ...but a probe printing all the time must not stall the case.
const SETTLE_MAX: Duration = Duration::from_millis(500);
const POLL: Duration = Duration::from_millis(5);
/// What rustyline writes each time it starts reading a line.
const READING: &[u8] = b"\x1b[?2004h";

/// Runs the session; returns what it left behind and how to reproduce it.
pub fn run(case: &Case, steps: &[Step], env: &Env, before_pid: Option<u32>) -> (io::Result<Captured>, String) {
    let args: Vec<String> = case.args.iter().map(|a| run::subst(a, env, before_pid)).collect();
    let repro = repro(steps, &args, env, before_pid);
    let captured = temp_dir().and_then(|base| {
        let result = session(case, steps, &args, env, before_pid, &base);
        let _ = std::fs::remove_dir_all(&base);
        result
    });
    (captured, repro)
}

/// `{{REPL_HOME}}`, in steps and expectations.
pub fn subst_home(text: &str, home: &Path) -> String {
    text.replace("{{REPL_HOME}}", &home.to_string_lossy())
}

fn session(
    case: &Case,
    steps: &[Step],
    args: &[String],
    env: &Env,
    before_pid: Option<u32>,
    base: &Path,
) -> io::Result<Captured> {
    let home = base.join("home");
    std::fs::create_dir(&home)?;
    let fill = |text: &str| subst_home(&run::subst(text, env, before_pid), &home);

    let mut command = Command::new(&env.trace);
    command.args(args).current_dir(&env.targets).env("HOME", &home).env("TERM", "xterm");
    run::plain_env(&mut command);
    let start = Instant::now();
    let (child, master) = Pty::open(ROWS, COLS)?.spawn(command)?;
    let mut s = Session::new(child, master, start + env.scaled(case.timeout))?;

    let mut problems = Vec::new();
    // What the session was doing when TIMEOUT came, if it came.
    let mut timed_out = None;
    let mut ended = false;
    match s.wait_until(|s| s.prompts() > 0) {
        Waited::Ready => s.settle(),
        Waited::Exited => ended = true,
        Waited::TimedOut => timed_out = Some("waiting for the first prompt".to_string()),
    }
    for (i, step) in steps.iter().enumerate() {
        if timed_out.is_some() {
            break;
        }
        let what = format!("step {} (`{step}`)", i + 1);
        let step = filled(step, &fill);
        if let Step::Shell(cmd) = &step {
            if let Err(e) = shell_step(cmd, env, &home, base, s.deadline) {
                problems.push(format!("{what} {e}"));
                break;
            }
            continue;
        }
        if ended {
            let status = s.status.map_or("?".into(), run::describe);
            problems.push(format!("{what}: the session had already ended ({status})"));
            break;
        }
        let prompts = s.prompts();
        if let Err(e) = s.type_keys(&step.keys().unwrap_or_default()) {
            problems.push(format!("{what}: cannot type: {e}"));
            break;
        }
        let waited = match step {
            Step::Line(_) | Step::Key(Key::CtrlC) => s.wait_until(|s| s.prompts() > prompts),
            Step::Key(Key::CtrlD) => s.wait_until(|_| false),
            _ => continue,
        };
        match waited {
            Waited::Ready => s.settle(),
            Waited::Exited => ended = true,
            Waited::TimedOut => timed_out = Some(what),
        }
    }
    if !ended && timed_out.is_none() {
        match s.type_keys(&[Key::CtrlD.byte()]) {
            Ok(()) => {
                if let Waited::TimedOut = s.wait_until(|_| false) {
                    timed_out = Some("waiting for the session to end after Ctrl-D".into());
                }
            }
            Err(e) => problems.push(format!("cannot type Ctrl-D after the last step: {e}")),
        }
    }
    let killed = timed_out.map(|what| format!("TIMEOUT ({}) at {what}; killed", env.timeout_text(case)));
    let (status, transcript) = s.finish();
    Ok(Captured {
        stdout: render(&transcript),
        stderr: String::new(),
        status,
        problems,
        interrupted: false,
        killed,
        elapsed: start.elapsed(),
        repl_home: Some(home),
    })
}

/// The step with placeholders replaced in its text.
fn filled(step: &Step, fill: &dyn Fn(&str) -> String) -> Step {
    match step {
        Step::Line(t) => Step::Line(fill(t)),
        Step::Partial(t) => Step::Partial(fill(t)),
        Step::Shell(c) => Step::Shell(fill(c)),
        Step::Key(k) => Step::Key(*k),
    }
}

fn repro(steps: &[Step], args: &[String], env: &Env, before_pid: Option<u32>) -> String {
    let mut r = format!(
        "REPL_HOME=$(mktemp -d); cd {} && HOME=$REPL_HOME TERM=xterm {}",
        env.targets.display(),
        env.trace.display()
    );
    for a in args {
        r.push(' ');
        r.push_str(&run::quote(a));
    }
    r.push_str("\n      then, one after another (> type and Enter, $ in another shell):");
    for step in steps {
        let step = filled(step, &|t| run::subst(t, env, before_pid).replace("{{REPL_HOME}}", "$REPL_HOME"));
        r.push_str(&format!("\n        {step}"));
    }
    r
}

/// A directory of our own under $TMPDIR: trace's $HOME and step output.
fn temp_dir() -> io::Result<PathBuf> {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    loop {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("trace-repl-{}-{n}", std::process::id()));
        match std::fs::create_dir(&dir) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            other => return other.map(|()| dir),
        }
    }
}

/// A `$` step: `sh -c CMD` in the targets directory, waited for; its
/// output is shown only if it fails.
fn shell_step(cmd: &str, env: &Env, home: &Path, base: &Path, deadline: Instant) -> Result<(), String> {
    let out_path = base.join("step.out");
    let out = File::create(&out_path).map_err(|e| format!("cannot create {}: {e}", out_path.display()))?;
    let err = out.try_clone().map_err(|e| e.to_string())?;
    let mut command = run::shell(cmd, &env.targets, false);
    command.env("REPL_HOME", home).stdout(out).stderr(err).process_group(0);
    let mut child = command.spawn().map_err(|e| format!("cannot start: {e}"))?;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => thread::sleep(POLL),
            Ok(None) => {
                sys::kill_group(child.id(), sys::SIGKILL);
                let _ = child.wait();
                return Err("was still running at TIMEOUT; killed".into());
            }
            Err(e) => return Err(format!("cannot wait: {e}")),
        }
    };
    // Whatever it started in the background goes with it.
    sys::kill_group(child.id(), sys::SIGKILL);
    if status.success() {
        return Ok(());
    }
    let output = std::fs::read_to_string(&out_path).unwrap_or_default();
    let mut e = format!("failed ({})", run::describe(status));
    for line in output.lines().take(20) {
        e.push_str(&format!("\n        > {line}"));
    }
    Err(e)
}

enum Waited {
    Ready,
    Exited,
    TimedOut,
}

/// trace running on the terminal, and everything it has written so far.
struct Session {
    child: Child,
    master: File,
    output: Arc<Mutex<Vec<u8>>>,
    /// Signals the end of the output (trace and its children are gone).
    eof: mpsc::Receiver<()>,
    deadline: Instant,
    status: Option<ExitStatus>,
}

impl Session {
    fn new(mut child: Child, master: File, deadline: Instant) -> io::Result<Session> {
        let output = Arc::new(Mutex::new(Vec::new()));
        let (tx, eof) = mpsc::channel();
        let mut reader = match master.try_clone() {
            Ok(reader) => reader,
            Err(e) => {
                sys::kill_group(child.id(), sys::SIGKILL);
                let _ = child.wait();
                return Err(e);
            }
        };
        let sink = output.clone();
        thread::spawn(move || {
            let mut chunk = [0u8; 8192];
            loop {
                match reader.read(&mut chunk) {
                    Ok(0) => break,
                    Ok(n) => match sink.lock() {
                        Ok(mut out) => out.extend_from_slice(&chunk[..n]),
                        Err(_) => break,
                    },
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    // EIO: no process has the terminal open any more.
                    Err(_) => break,
                }
            }
            let _ = tx.send(());
        });
        Ok(Session { child, master, output, eof, deadline, status: None })
    }

    fn output(&self) -> Vec<u8> {
        self.output.lock().map(|o| o.clone()).unwrap_or_default()
    }

    fn len(&self) -> usize {
        self.output.lock().map_or(0, |o| o.len())
    }

    /// How many times trace has started reading a line.
    fn prompts(&self) -> usize {
        self.output.lock().map_or(0, |o| o.windows(READING.len()).filter(|w| *w == READING).count())
    }

    fn exited(&mut self) -> bool {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status.is_some()
    }

    fn wait_until(&mut self, ready: impl Fn(&Session) -> bool) -> Waited {
        loop {
            if ready(self) {
                return Waited::Ready;
            }
            if self.exited() {
                return Waited::Exited;
            }
            if Instant::now() >= self.deadline {
                return Waited::TimedOut;
            }
            thread::sleep(POLL);
        }
    }

    /// Waits until nothing has been written for SETTLE.
    fn settle(&mut self) {
        let start = Instant::now();
        let (mut len, mut quiet_since) = (self.len(), start);
        loop {
            let now = Instant::now();
            if now - quiet_since >= SETTLE || now - start >= SETTLE_MAX || now >= self.deadline {
                return;
            }
            thread::sleep(POLL);
            let l = self.len();
            if l != len {
                (len, quiet_since) = (l, Instant::now());
            }
        }
    }

    fn type_keys(&mut self, keys: &[u8]) -> io::Result<()> {
        self.master.write_all(keys)
    }

    /// Ends whatever is left of the session; its exit status and output.
    fn finish(mut self) -> (Option<ExitStatus>, Vec<u8>) {
        let pid = self.child.id();
        if !self.exited() {
            sys::kill_group(pid, sys::SIGKILL);
            self.status = self.child.wait().ok();
        }
        // Anything trace started dies with its process group (it leads a
        // session of its own, see pty.rs).
        sys::kill_group(pid, sys::SIGKILL);
        // The output ends when the last holder of the terminal is gone; one
        // that escaped the group must not hang the harness.
        let _ = self.eof.recv_timeout(Duration::from_secs(2));
        (self.status, self.output())
    }
}

/// The terminal output as the screen shows it, one line per row: `\r`,
/// printable characters overwriting at the cursor, cursor moves (`ESC[nA`,
/// `B`, `C`, `D`) and `ESC[K` (clear to the end of the line) are followed;
/// every other escape sequence (colours, bracketed paste, ...) is dropped.
/// Up and down matter because rustyline repaints a block of several lines
/// from its first line.  `\n` starts the next line at column 0 (the
/// terminal's ONLCR, which rustyline relies on too).  A Tab stays a Tab
/// character, so lines compare equal to what trace prints to a pipe.
/// Trailing blanks of each line and trailing empty lines are removed.
pub fn render(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut screen = Screen::default();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' => {
                screen.row += 1;
                screen.col = 0;
            }
            '\r' => screen.col = 0,
            '\x08' => screen.col = screen.col.saturating_sub(1),
            '\x1b' => match chars.next() {
                Some('[') => {
                    let mut params = String::new();
                    for c in chars.by_ref() {
                        if ('\x40'..='\x7e').contains(&c) {
                            screen.csi(&params, c);
                            break;
                        }
                        params.push(c);
                    }
                }
                // OSC (e.g. a window title) runs to BEL or ESC \.
                Some(']') => {
                    while let Some(c) = chars.next() {
                        if c == '\x07' {
                            break;
                        }
                        if c == '\x1b' {
                            chars.next_if_eq(&'\\');
                            break;
                        }
                    }
                }
                _ => {}
            },
            '\t' => screen.put(c),
            c if c.is_control() => {}
            c => screen.put(c),
        }
    }
    let mut lines: Vec<String> =
        screen.lines.iter().map(|l| l.iter().collect::<String>().trim_end().to_string()).collect();
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines.join("\n")
}

#[derive(Default)]
struct Screen {
    lines: Vec<Vec<char>>,
    row: usize,
    col: usize,
}

impl Screen {
    fn line(&mut self) -> &mut Vec<char> {
        if self.lines.len() <= self.row {
            self.lines.resize(self.row + 1, Vec::new());
        }
        &mut self.lines[self.row]
    }

    fn put(&mut self, c: char) {
        let col = self.col;
        let line = self.line();
        if line.len() <= col {
            line.resize(col, ' ');
            line.push(c);
        } else {
            line[col] = c;
        }
        self.col += 1;
    }

    fn csi(&mut self, params: &str, last: char) {
        // Private modes (`?2004h`) and colours (`1;31m`) do not move anything.
        let Ok(n) = (if params.is_empty() { Ok(0) } else { params.parse::<usize>() }) else {
            return;
        };
        let steps = n.max(1);
        match last {
            'A' => self.row = self.row.saturating_sub(steps),
            'B' => self.row += steps,
            'C' => self.col += steps,
            'D' => self.col = self.col.saturating_sub(steps),
            'K' => {
                let col = self.col;
                let line = self.line();
                match n {
                    0 => line.truncate(col),
                    1 => line.iter_mut().take(col + 1).for_each(|c| *c = ' '),
                    _ => line.clear(),
                }
            }
            _ => {}
        }
    }
}

/// Checks run at harness start-up (the harness has no #[test] functions).
pub fn self_check() -> Result<(), String> {
    let cases: &[(&str, &str)] = &[
        // A line typed and accepted.
        ("\x1b[?2004h\r\x1b[Ktrace> \r\x1b[7C.probes\x1b[?2004l\r", "trace> .probes"),
        // Output printed above the line being edited, then the repaint.
        (
            "\x1b[?2004h\x1b[?2026h\r\x1b[Ktrace> \r\x1b[7C\x1b[?2026lpri\
             \x1b[?2026h\r\x1b[K@n: 10\r\ntrace> pri\r\x1b[10C\x1b[?2026l",
            "@n: 10\ntrace> pri",
        ),
        // A block over three lines, repainted from its first (as rustyline 19 does).
        (
            "trace> \r\x1b[7C\x1b[?2026luprobe:./db:snapshot {\x1b[?2026h\r\x1b[Ktrace> uprobe:./db:snapshot {\r\n\
             \r\x1b[?2026l  @n = count();\x1b[?2026h\r\x1b[K\x1b[A\r\x1b[Ktrace> uprobe:./db:snapshot {\r\n\
             \x20 @n = count();\r\n\r\x1b[?2026l}\x1b[?2004l\r\nattached [1]\r\n",
            "trace> uprobe:./db:snapshot {\n  @n = count();\n}\nattached [1]",
        ),
        // Colours, UTF-8, and a blank line kept between others.
        (
            "\x1b[0m\x1b[1m\x1b[38;5;9merror\x1b[0m\x1b[1m: map\x1b[0m\r\n\r\n  \x1b[34m┌─\x1b[0m <line 2>:1:6\r\n",
            "error: map\n\n  ┌─ <line 2>:1:6",
        ),
        // Moves, clearing, a title, trailing blanks.
        ("abcdef\x1b[3D\x1b[K\x1b[2Cx\r\n\x1b]0;title\x07ok   \r\nxyz\r\x1b[0Kq\r\n\tCOUNT", "abc  x\nok\nq\n\tCOUNT"),
    ];
    for (input, want) in cases {
        let got = render(input.as_bytes());
        if got != *want {
            return Err(format!("render({input:?}) = {got:?}, want {want:?}"));
        }
    }
    if subst_home("x {{REPL_HOME}}/n.bt", Path::new("/tmp/h")) != "x /tmp/h/n.bt" {
        return Err("subst_home".into());
    }
    Ok(())
}
