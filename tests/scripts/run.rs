//! Running one case: start its BEFORE commands, run trace (PROG) or the RUN
//! command line in its own process group, start AFTER once trace says
//! "Attaching", end it with SIGINT at TIMEOUT (SIGKILL if it ignores that),
//! then check exit code and expectations and build a readable report.
//! A REPL session is driven by `repl.rs` instead, and checked the same way.
//!
//! Every process a case starts is in a process group of its own and the
//! whole group is killed at the end, so a `-c` child, a BEFORE loop or a
//! wedged trace cannot leak into the next case (probes from one case would
//! otherwise count events of the next).

use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::repl;
use crate::spec::{Case, Check, Program};
use crate::sys;

/// How long trace may take to print its maps and exit after SIGINT.
/// Short, because a trace that hangs costs TIMEOUT + this in every case.
pub const SIGINT_GRACE: Duration = Duration::from_secs(3);
/// How long a BEFORE command gets to exec its program.
const BEFORE_STARTUP: Duration = Duration::from_secs(2);
/// Lines of stdout/stderr shown in a failure report.
const REPORT_LINES: usize = 60;

pub struct Env {
    /// The binary under test (`{{TRACE}}`).
    pub trace: PathBuf,
    /// Built targets; the cwd of every command (`{{TARGETS}}`).
    pub targets: PathBuf,
    /// tests/scripts, for script files (`{{SCRIPTS}}`).
    pub scripts: PathBuf,
    /// Running bpftrace itself to check the expectations (see scripts.rs).
    pub oracle: bool,
    /// Why programs cannot be loaded here (not root, no BPF), if they
    /// cannot: then only the UNPRIVILEGED cases run, the others are skipped.
    pub no_kernel: Option<String>,
    /// Every time limit is multiplied by this (TIMEOUT, the SIGINT grace,
    /// a BEFORE's start) and `{{TIME_SCALE}}` is this: 1 on the host, more
    /// in an emulated VM (see `vm::TIME_SCALE`).
    pub time_scale: u32,
}

impl Env {
    /// A time limit, scaled for where the cases run.
    pub fn scaled(&self, limit: Duration) -> Duration {
        limit * self.time_scale
    }

    /// The case's TIMEOUT as scaled, for messages: `5s`, or `50s (5s × 10)`.
    pub fn timeout_text(&self, case: &Case) -> String {
        let secs = case.timeout.as_secs_f64();
        if self.time_scale == 1 {
            format!("{secs}s")
        } else {
            format!("{}s ({secs}s × {})", self.scaled(case.timeout).as_secs_f64(), self.time_scale)
        }
    }
}

#[derive(Clone)]
pub enum Outcome {
    Pass,
    Fail(String),
    Skip(String),
}

/// What a finished trace run left behind.
pub struct Captured {
    /// Stdout, or a REPL session's transcript.
    pub stdout: String,
    pub stderr: String,
    pub status: Option<ExitStatus>,
    /// What went wrong around trace: an AFTER that did not run, a REPL
    /// step that failed.
    pub problems: Vec<String>,
    pub interrupted: bool,
    /// Why trace was killed, if it was (its exit status then says nothing).
    pub killed: Option<String>,
    pub elapsed: Duration,
    /// A REPL session: stdout is the terminal's transcript, and
    /// `{{REPL_HOME}}` in expectations is this directory.
    pub repl_home: Option<PathBuf>,
}

/// Why `case` cannot run here at all, before anything of it runs (REQUIRES
/// commands may mean something only as root): it needs root and BPF and
/// this is not such a machine.
pub fn skip_reason(case: &Case, env: &Env) -> Option<String> {
    let why = env.no_kernel.as_ref()?;
    if env.oracle {
        Some(format!("needs root and BPF: bpftrace runs only as root; {why}"))
    } else if !case.unprivileged {
        Some(format!("needs root and BPF: it loads programs or reads root-only files (not UNPRIVILEGED); {why}"))
    } else {
        None
    }
}

/// Runs `case`, which [`skip_reason`] lets run.
pub fn run_case(case: &Case, env: &Env) -> Outcome {
    for cmd in &case.requires {
        let ok =
            shell(&subst(cmd, env, None), &env.targets, false).stdout(Stdio::null()).stderr(Stdio::null()).status();
        if !ok.is_ok_and(|s| s.success()) {
            return Outcome::Skip(format!("REQUIRES `{cmd}` failed"));
        }
    }
    if env.oracle {
        if let Some(reason) = &case.no_oracle {
            return Outcome::Skip(format!("NO_ORACLE: {reason}"));
        }
        if matches!(case.program, Program::Repl(_)) {
            return Outcome::Skip("REPL: bpftrace has no interactive REPL".into());
        }
    }

    let mut before = Vec::new();
    let mut before_pid = None;
    for cmd in &case.before {
        let cmd = subst(cmd, env, before_pid);
        match start_background(&cmd, env, true, &[]) {
            Ok(child) => {
                before_pid.get_or_insert(child.id());
                before.push((cmd, child));
            }
            Err(e) => {
                kill_all(&mut before);
                return Outcome::Fail(format!("    cannot start BEFORE `{cmd}`: {e}\n"));
            }
        }
    }
    for (cmd, child) in &mut before {
        if let Err(e) = wait_for_exec(child, env.scaled(BEFORE_STARTUP)) {
            let report = format!("    BEFORE `{cmd}` {e}\n");
            kill_all(&mut before);
            return Outcome::Fail(report);
        }
    }

    let (captured, repro) = match &case.program {
        Program::Repl(steps) => repl::run(case, steps, env, before_pid),
        _ => {
            let (mut command, repro) = trace_command(case, env, before_pid);
            (run_trace(&mut command, case, env, before_pid), repro)
        }
    };
    kill_all(&mut before);
    let captured = match captured {
        Ok(c) => c,
        Err(e) => {
            return Outcome::Fail(format!("    cannot run `{}`: {e}\n    reproduce: {repro}\n", env.trace.display()))
        }
    };
    let problems = check(case, env, &captured, before_pid);
    if problems.is_empty() {
        Outcome::Pass
    } else {
        Outcome::Fail(report(&problems, &captured, &repro, env))
    }
}

/// `sh -c CMD`.  With `exec`, and CMD one simple command, `exec` goes in
/// front so the pid we hold is the program's own (signals and
/// {{BEFORE_PID}} reach it, not a shell).
pub fn shell(cmd: &str, cwd: &Path, exec: bool) -> Command {
    let mut command = Command::new("sh");
    command.arg("-c").arg(if exec && is_simple(cmd) { format!("exec {cmd}") } else { cmd.to_string() });
    plain_env(command.current_dir(cwd).stdin(Stdio::null()));
    command
}

/// cargo runs tests with LD_LIBRARY_PATH pointing into target/; a target
/// inheriting it would search those directories first, and the failed opens
/// would show up in the syscall counts the cases assert.
pub fn plain_env(command: &mut Command) -> &mut Command {
    command.env_remove("LD_LIBRARY_PATH")
}

/// True if `cmd` has no shell operator outside quotes (`;` inside a quoted
/// program text is fine), so prefixing `exec` keeps its meaning.
fn is_simple(cmd: &str) -> bool {
    // `exec ! cmd`, `exec if ...` or `exec VAR=x cmd` would change meaning.
    let first = cmd.split_whitespace().next().unwrap_or("");
    if ["!", "if", "for", "while", "until", "case", "{", "[[", "time"].contains(&first) || first.contains('=') {
        return false;
    }
    let mut quote = None;
    let mut chars = cmd.chars().peekable();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None | Some('"'), '\\') => {
                chars.next();
            }
            (None, ';' | '&' | '|' | '`' | '(' | ')' | '<' | '>' | '\n') => return false,
            (None | Some('"'), '$') if chars.peek() == Some(&'(') => return false,
            (Some('"'), '`') => return false,
            _ => {}
        }
    }
    true
}

pub fn subst(text: &str, env: &Env, before_pid: Option<u32>) -> String {
    let mut out = text
        .replace("{{TRACE}}", &env.trace.to_string_lossy())
        .replace("{{TARGETS}}", &env.targets.to_string_lossy())
        .replace("{{SCRIPTS}}", &env.scripts.to_string_lossy())
        .replace("{{TIME_SCALE}}", &env.time_scale.to_string());
    if let Some(pid) = before_pid {
        out = out.replace("{{BEFORE_PID}}", &pid.to_string());
    }
    out
}

fn start_background(cmd: &str, env: &Env, exec: bool, vars: &[(&str, String)]) -> std::io::Result<Child> {
    let mut command = shell(cmd, &env.targets, exec);
    command.stdout(Stdio::null()).stderr(Stdio::null()).process_group(0);
    for (k, v) in vars {
        command.env(k, v);
    }
    command.spawn()
}

/// Waits until a BEFORE process is no longer the shell, i.e. its program is
/// mapped and can be attached to with -p.
fn wait_for_exec(child: &mut Child, limit: Duration) -> Result<(), String> {
    let exe = |pid: u32| std::fs::read_link(format!("/proc/{pid}/exe")).ok();
    let shell = std::fs::canonicalize("/bin/sh").ok();
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("exited early ({})", describe(status)));
        }
        if exe(child.id()).is_some_and(|e| Some(&e) != shell.as_ref()) {
            // A moment for the dynamic loader, so the first events exist.
            thread::sleep(Duration::from_millis(50));
            return Ok(());
        }
        thread::sleep(Duration::from_millis(5));
    }
    // A compound command stays a shell; it had its chance to start.
    Ok(())
}

fn kill_all(children: &mut Vec<(String, Child)>) {
    for (_, child) in children.iter_mut() {
        sys::kill_group(child.id(), sys::SIGKILL);
        let _ = child.wait();
    }
    children.clear();
}

fn trace_command(case: &Case, env: &Env, before_pid: Option<u32>) -> (Command, String) {
    match &case.program {
        Program::Prog(prog) => {
            let mut prog = subst(prog, env, before_pid);
            if env.oracle {
                prog = oracle_spelling(&prog);
            }
            let args: Vec<String> = case.args.iter().map(|a| subst(a, env, before_pid)).collect();
            let mut command = Command::new(&env.trace);
            command.arg("-e").arg(&prog).args(&args).current_dir(&env.targets).stdin(Stdio::null());
            plain_env(&mut command);
            let mut repro = format!("cd {} && {} -e {}", env.targets.display(), env.trace.display(), quote(&prog));
            for a in &args {
                repro.push(' ');
                repro.push_str(&quote(a));
            }
            (command, repro)
        }
        Program::Run(run) => {
            let run = subst(run, env, before_pid);
            (shell(&run, &env.targets, true), format!("cd {} && {run}", env.targets.display()))
        }
        Program::Repl(_) => unreachable!("REPL sessions are run by repl::run"),
    }
}

/// bpftrace 0.17 spells `args.x` as `args->x`; rewrite so the oracle can
/// run the same programs (trace accepts both).
pub fn oracle_spelling(prog: &str) -> String {
    let chars: Vec<char> = prog.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let word_before = i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_' || chars[i - 1] == '$');
        let rest: String = chars[i..chars.len().min(i + 6)].iter().collect();
        if !word_before
            && rest.len() == 6
            && rest.starts_with("args.")
            && rest[5..].starts_with(|c: char| c.is_alphabetic() || c == '_')
        {
            out.push_str("args->");
            i += 5;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

pub fn quote(arg: &str) -> String {
    if !arg.is_empty() && arg.chars().all(|c| c.is_alphanumeric() || "-_./:=@%+,".contains(c)) {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

fn run_trace(command: &mut Command, case: &Case, env: &Env, before_pid: Option<u32>) -> std::io::Result<Captured> {
    command.stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0);
    let start = Instant::now();
    let mut child = command.spawn()?;
    let pid = child.id();
    // With `exec` the group leader is trace itself: signal just it, as
    // `kill -INT` would; otherwise signal the group, as Ctrl-C would.
    let direct = matches!(case.program, Program::Prog(_));

    let attached = Arc::new(AtomicBool::new(false));
    let (done_tx, done_rx) = mpsc::channel();
    let stdout = reader(child.stdout.take(), env.oracle.then(|| attached.clone()), done_tx.clone());
    let stderr = reader(child.stderr.take(), Some(attached.clone()), done_tx);

    let mut after: Vec<(String, Child)> = Vec::new();
    let mut after_started = case.after.is_empty();
    let mut after_problem = None;
    let mut interrupted = false;
    let mut killed = None;
    let deadline = start + env.scaled(case.timeout);
    let mut kill_at = None;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if !after_started && attached.load(Ordering::SeqCst) {
            after_started = true;
            for cmd in &case.after {
                let cmd = subst(cmd, env, before_pid);
                match start_background(&cmd, env, false, &[("TRACE_PID", pid.to_string())]) {
                    Ok(c) => after.push((cmd, c)),
                    Err(e) => after_problem = Some(format!("cannot start AFTER `{cmd}`: {e}")),
                }
            }
        }
        let now = Instant::now();
        if !interrupted && now >= deadline {
            interrupted = true;
            if direct {
                sys::kill(pid, sys::SIGINT);
            } else {
                sys::kill_group(pid, sys::SIGINT);
            }
            kill_at = Some(now + env.scaled(SIGINT_GRACE));
        }
        if kill_at.is_some_and(|t| now >= t) {
            killed = Some(format!(
                "did not exit within {}s of SIGINT (sent at TIMEOUT {}); killed",
                env.scaled(SIGINT_GRACE).as_secs(),
                env.timeout_text(case)
            ));
            sys::kill_group(pid, sys::SIGKILL);
            break child.wait().ok();
        }
        thread::sleep(Duration::from_millis(5));
    };
    let elapsed = start.elapsed();
    if !after_started {
        after_problem = Some("AFTER never ran: trace printed no \"Attaching\" line".into());
    }
    // Leftovers (a -c child, a RUN pipeline's other half) die with the group.
    sys::kill_group(pid, sys::SIGKILL);
    kill_all(&mut after);
    // Readers finish at EOF; a grandchild that escaped the group could hold
    // a pipe open forever, so do not wait for them indefinitely.
    let until = Instant::now() + Duration::from_secs(2);
    for _ in 0..2 {
        let left = until.saturating_duration_since(Instant::now());
        let _ = done_rx.recv_timeout(left);
    }
    let text = |buf: &Arc<Mutex<Vec<u8>>>| {
        String::from_utf8_lossy(&buf.lock().map(|b| b.clone()).unwrap_or_default()).into_owned()
    };
    Ok(Captured {
        stdout: text(&stdout),
        stderr: text(&stderr),
        status,
        problems: after_problem.into_iter().collect(),
        interrupted,
        killed,
        elapsed,
        repl_home: None,
    })
}

fn reader<R: Read + Send + 'static>(
    source: Option<R>,
    attached: Option<Arc<AtomicBool>>,
    done: mpsc::Sender<()>,
) -> Arc<Mutex<Vec<u8>>> {
    let buf = Arc::new(Mutex::new(Vec::new()));
    let sink = buf.clone();
    thread::spawn(move || {
        if let Some(mut source) = source {
            let mut chunk = [0u8; 8192];
            while let Ok(n) = source.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                if let Ok(mut b) = sink.lock() {
                    b.extend_from_slice(&chunk[..n]);
                    if let Some(flag) = &attached {
                        if b.windows(9).any(|w| w == b"Attaching") {
                            flag.store(true, Ordering::SeqCst);
                        }
                    }
                }
            }
        }
        let _ = done.send(());
    });
    buf
}

pub fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        _ => "unknown status".into(),
    }
}

fn lines(text: &str) -> Vec<&str> {
    text.lines().map(str::trim_end).collect()
}

fn check(case: &Case, env: &Env, got: &Captured, before_pid: Option<u32>) -> Vec<String> {
    let mut problems = Vec::new();
    if let Some(why) = &got.killed {
        problems.push(why.clone());
    } else if let Some(status) = got.status {
        let ok = match status.code() {
            // bpftrace's exit codes are its own; only success vs failure carries over.
            Some(code) if env.oracle => (code == 0) == (case.exit_code == 0),
            Some(code) => code == case.exit_code,
            None => false,
        };
        if !ok {
            problems.push(format!("expected exit code {}, got {}", case.exit_code, describe(status)));
        }
    }
    problems.extend(got.problems.iter().cloned());
    let out_name = if got.repl_home.is_some() { "transcript" } else { "stdout" };
    let out = lines(&got.stdout);
    let err = lines(&got.stderr);
    let s = |t: &String| match &got.repl_home {
        Some(home) => repl::subst_home(&subst(t, env, before_pid), home),
        None => subst(t, env, before_pid),
    };
    for c in &case.checks {
        match c {
            Check::Line(l) if !out.contains(&s(l).as_str()) => {
                problems.push(format!("missing {out_name} line: {}", s(l)))
            }
            Check::None(l) if out.contains(&s(l).as_str()) => {
                problems.push(format!("unwanted {out_name} line: {}", s(l)))
            }
            Check::Regex(r) if !out.iter().any(|l| r.is_match(l)) => {
                problems.push(format!("no {out_name} line matches /{}/", r.as_str()))
            }
            Check::RegexNone(r) => {
                for l in out.iter().filter(|l| r.is_match(l)) {
                    problems.push(format!("unwanted {out_name} line (matches /{}/): {l}", r.as_str()));
                }
            }
            Check::Block(block) => {
                let block: Vec<String> = block.iter().map(s).collect();
                if let Some(diff) = block_diff(&block, &out) {
                    problems.push(format!("block not in {out_name} (- expected, + actual):\n{diff}"));
                }
            }
            // bpftrace's diagnostics are worded differently by design.
            Check::StderrLine(_) | Check::StderrRegex(_) if env.oracle => {}
            Check::StderrLine(l) if !err.contains(&s(l).as_str()) => {
                problems.push(format!("missing stderr line: {}", s(l)))
            }
            Check::StderrRegex(r) if !err.iter().any(|l| r.is_match(l)) => {
                problems.push(format!("no stderr line matches /{}/", r.as_str()))
            }
            _ => {}
        }
    }
    problems
}

/// None if `block` occurs contiguously in `out`; otherwise a diff against
/// the window of `out` that agrees with it most.
fn block_diff(block: &[String], out: &[&str]) -> Option<String> {
    let n = block.len();
    let score = |start: usize| (0..n).filter(|&i| out.get(start + i) == Some(&block[i].as_str())).count();
    let (best, matched) = (0..out.len().max(1)).map(|s| (s, score(s))).max_by_key(|&(s, m)| (m, usize::MAX - s))?;
    if matched == n {
        return None;
    }
    let mut diff = String::new();
    for (i, want) in block.iter().enumerate() {
        let have = if matched == 0 { None } else { out.get(best + i).copied() };
        match have {
            Some(h) if h == want => diff.push_str(&format!("        {want}\n")),
            Some(h) => diff.push_str(&format!("      - {want}\n      + {h}\n")),
            None => diff.push_str(&format!("      - {want}\n")),
        }
    }
    if matched == 0 {
        diff.push_str("      (no line of the block appears in the output)\n");
    }
    Some(diff.trim_end().to_string())
}

fn report(problems: &[String], got: &Captured, repro: &str, env: &Env) -> String {
    let mut r = String::new();
    for p in problems {
        r.push_str(&format!("    {p}\n"));
    }
    let status = got.status.map(describe).unwrap_or_else(|| "no status".into());
    let signal = if got.interrupted { ", SIGINT sent at TIMEOUT" } else { "" };
    r.push_str(&format!("    ran {:.2}s, {status}{signal}\n", got.elapsed.as_secs_f64()));
    let streams: &[(&str, &String)] = if got.repl_home.is_some() {
        &[("transcript", &got.stdout)]
    } else {
        &[("stdout", &got.stdout), ("stderr", &got.stderr)]
    };
    for &(name, text) in streams {
        let all = lines(text);
        if all.iter().all(|l| l.is_empty()) {
            r.push_str(&format!("    {name}: (empty)\n"));
            continue;
        }
        r.push_str(&format!("    {name} ({} lines):\n", all.len()));
        for l in all.iter().take(REPORT_LINES) {
            r.push_str(&format!("      | {l}\n"));
        }
        if all.len() > REPORT_LINES {
            r.push_str(&format!("      | ... {} more lines\n", all.len() - REPORT_LINES));
        }
    }
    r.push_str(&format!("    reproduce: {repro}\n"));
    if env.oracle {
        r.push_str("    (oracle mode: PROG spelled for bpftrace 0.17)\n");
    }
    r
}

/// Checks run at harness start-up (the harness has no #[test] functions).
pub fn self_check() -> Result<(), String> {
    let spelled = oracle_spelling("t:x:y { @[args.filename] = $args.x; @[str(args.a->b)] = xargs.c; }");
    if spelled != "t:x:y { @[args->filename] = $args.x; @[str(args->a->b)] = xargs.c; }" {
        return Err(format!("oracle_spelling: {spelled}"));
    }
    let out = ["@h:", "[1]   1 |@|", "[2, 4)   2 |@@|", ""];
    let block = |b: &[&str]| b.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    if block_diff(&block(&["[1]   1 |@|", "[2, 4)   2 |@@|"]), &out).is_some() {
        return Err("block_diff: contiguous block not found".into());
    }
    match block_diff(&block(&["@h:", "[2, 4)   2 |@@|"]), &out) {
        Some(d) if d.contains("- [2, 4)   2 |@@|") && d.contains("+ [1]   1 |@|") => {}
        other => return Err(format!("block_diff: non-contiguous block: {other:?}")),
    }
    if block_diff(&block(&["x"]), &[]).is_none() {
        return Err("block_diff: block found in empty output".into());
    }
    let simple = [
        ("./loop", true),
        ("x -e 'BEGIN { exit(); }' a", true),
        ("a; b", false),
        ("a | b", false),
        ("a \"$(b)\"", false),
    ];
    for (cmd, want) in simple {
        if is_simple(cmd) != want {
            return Err(format!("is_simple({cmd:?}) should be {want}"));
        }
    }
    if quote("-c") != "-c" || quote("./db 10") != "'./db 10'" || quote("it's") != r"'it'\''s'" {
        return Err("quote: wrong shell quoting".into());
    }
    Ok(())
}
