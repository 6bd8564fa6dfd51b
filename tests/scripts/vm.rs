//! Cases on another kernel: the `KERNEL` directive, and `TRACE_VM_KERNEL`
//! for the whole suite.  The host harness groups those cases by kernel and
//! boots each kernel once (`tests/vm/run-in-kernel.sh`, QEMU), running this
//! same harness binary in the guest, which sees the host's files: the
//! binary, the built targets and trace are where they are on the host.
//!
//! The guest harness (`TRACE_VM_INSIDE=1`) reads the names of its cases on
//! stdin, one per line, runs them one after another exactly as the host
//! would, and writes one record per case on stdout as it finishes, which
//! the runner carries out of the guest as it is written:
//!
//! ```text
//! result <TAB> INDEX <TAB> ok|fail|skip <TAB> SECONDS <TAB> REPORT
//! ```
//!
//! INDEX is the case's line number in the list (from 0), REPORT the
//! failure report or skip reason with `\` as `\\` and newlines as `\n`.  Its
//! progress goes to stderr.  The host prints the records as its own
//! `case ... ok/FAILED` lines (so CI's rule on skips applies there), and a
//! case without a record (the guest died, or timed out) fails with the
//! runner's last words.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::run::{self, Env, Outcome};
use crate::spec::Case;

/// Set in the guest: this process runs the cases named on stdin.
pub const INSIDE: &str = "TRACE_VM_INSIDE";
/// Runs every case without a KERNEL on this kernel too.
pub const SUITE_KERNEL: &str = "TRACE_VM_KERNEL";
/// Overrides [`DEFAULT_TIME_SCALE`] (a whole number from 1 to 100).
pub const TIME_SCALE: &str = "TRACE_VM_TIME_SCALE";
/// What every time limit of a case is multiplied by in the VM: its TIMEOUT,
/// the SIGINT grace, a BEFORE's start, and `{{TIME_SCALE}}` in the case's
/// own wall-clock checks.  Under QEMU's TCG a case takes 8-27 times as long
/// as on the host.  Measured on a 2-core machine, whole suite on 6.1, in
/// TIMEOUTs: a 1,500-statement probe (edges.test, TIMEOUT 10) 4.6-5.7, the
/// pgbench cluster (usdt.test) 3.3, a full ring buffer (hardening.test)
/// 2.6, listing kernel functions (kprobe.test, fentry.test) 2.4, every
/// other case under 2.  10 leaves a margin of 1.75 on the slowest, and a
/// hang still ends at 10 TIMEOUTs (50 s for the default 5 s).  Only hung
/// or failing cases wait that long: passing ones end by exit(), -c or
/// their own timers, so the scale costs them nothing.
pub const DEFAULT_TIME_SCALE: u32 = 10;
/// What a guest spends booting and starting, before its first case.
const BOOT_ALLOWANCE: Duration = Duration::from_secs(300);
/// Per case, beyond its scaled TIMEOUT and SIGINT grace: a slow start
/// under emulation, BEFORE commands, REQUIRES.
const CASE_ALLOWANCE: Duration = Duration::from_secs(30);
/// Lines of the runner's output shown when cases get no result.
const REPORT_LINES: usize = 40;

pub fn inside() -> bool {
    std::env::var_os(INSIDE).is_some()
}

/// The VM's time scale: [`TIME_SCALE`] from the environment, else
/// [`DEFAULT_TIME_SCALE`].
pub fn time_scale() -> Result<u32, String> {
    parse_scale(std::env::var(TIME_SCALE).ok().as_deref())
}

fn parse_scale(value: Option<&str>) -> Result<u32, String> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(DEFAULT_TIME_SCALE),
        Some(v) => match v.parse::<u32>() {
            Ok(n) if (1..=100).contains(&n) => Ok(n),
            _ => Err(format!("{TIME_SCALE}={v}: wanted a whole number from 1 to 100")),
        },
    }
}

/// The kernel `case` runs on: its KERNEL, else the whole suite's, else the
/// host's (None).  Never inside the guest: there every case is on this one.
pub fn kernel_of(case: &Case, suite: Option<&str>) -> Option<String> {
    if inside() {
        return None;
    }
    case.kernel.clone().or_else(|| suite.map(str::to_string))
}

/// The guest's side: runs the cases named on stdin (their targets were
/// built by the host) and writes their records on stdout.
pub fn run_inside(cases: &[(String, Case)], env: &Env) -> ExitCode {
    let mut names = String::new();
    if let Err(e) = std::io::stdin().read_to_string(&mut names) {
        eprintln!("cannot read the case names on stdin: {e}");
        return ExitCode::FAILURE;
    }
    let mut out = std::io::stdout().lock();
    for (index, name) in names.lines().enumerate() {
        let started = Instant::now();
        let outcome = match cases.iter().find(|(_, c)| c.name == name) {
            None => Outcome::Fail(format!("    the guest harness has no case named `{name}`\n")),
            Some((_, case)) => run::skip_reason(case, env).map_or_else(|| run::run_case(case, env), Outcome::Skip),
        };
        let secs = started.elapsed().as_secs_f64();
        let (kind, text) = match &outcome {
            Outcome::Pass => ("ok", String::new()),
            Outcome::Fail(report) => ("fail", report.clone()),
            Outcome::Skip(why) => ("skip", why.clone()),
        };
        eprintln!("case {name} ... {kind} ({secs:.2}s)");
        let record = format!("result\t{index}\t{kind}\t{secs:.2}\t{}\n", escape(&text));
        if out.write_all(record.as_bytes()).and_then(|()| out.flush()).is_err() {
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

/// What the host needs to boot a guest.
pub struct Host<'a> {
    /// tests/vm/run-in-kernel.sh.
    pub runner: PathBuf,
    /// Where the runner keeps kernels (`target/vm`).
    pub cache: PathBuf,
    /// The working directory of the guest harness (the crate's root, as
    /// cargo runs tests).
    pub cwd: &'a Path,
    /// TRACE_BIN, passed on to the guest.
    pub trace_bin: Option<std::ffi::OsString>,
    /// The guest's time scale ([`time_scale`]), passed on to it.
    pub time_scale: u32,
}

/// Boots `kernel` once and runs `cases` in it; `done` gets each case's
/// index, outcome and seconds as its record arrives.  Every case gets an
/// outcome: a kernel that cannot boot here skips them all, saying why.
pub fn run_batch(host: &Host, kernel: &str, cases: &[&Case], mut done: impl FnMut(usize, Outcome, f64)) {
    let mut reported = vec![false; cases.len()];
    let mut finish = |i: usize, outcome: Outcome, secs: f64| {
        if let Some(seen) = reported.get_mut(i).filter(|seen| !**seen) {
            *seen = true;
            done(i, outcome, secs);
        }
    };
    if let Err(why) = available(host, kernel) {
        for i in 0..cases.len() {
            finish(i, Outcome::Skip(format!("needs kernel {kernel} in a VM: {why}")), 0.0);
        }
        return;
    }
    println!("booting kernel {kernel} in QEMU for {} cases ({})", cases.len(), host.runner.display());
    let started = Instant::now();
    let (last_words, status) = match boot(host, kernel, cases, &mut finish) {
        Ok(ended) => ended,
        Err(e) => (format!("cannot run {}: {e}", host.runner.display()), None),
    };
    let status = status.map_or_else(|| "did not run".to_string(), run::describe);
    for line in last_words.lines().filter(|l| l.starts_with("run-in-kernel: ") && l.contains(" started ")) {
        println!("{line}");
    }
    println!("kernel {kernel}: {} cases in {:.1}s ({status})", cases.len(), started.elapsed().as_secs_f64());
    let mut why = format!("    no result from the VM (tests/vm/run-in-kernel.sh: {status}); its last output:\n");
    let lines: Vec<&str> = last_words.lines().collect();
    for l in &lines[lines.len().saturating_sub(REPORT_LINES)..] {
        why.push_str(&format!("      | {l}\n"));
    }
    for i in 0..cases.len() {
        finish(i, Outcome::Fail(why.clone()), 0.0);
    }
}

/// Ok if the runner can boot `kernel` without downloading anything.
fn available(host: &Host, kernel: &str) -> Result<(), String> {
    if !host.runner.exists() {
        return Err(format!("{} is missing", host.runner.display()));
    }
    let out = Command::new(&host.runner)
        .arg("--check")
        .arg(kernel)
        .env("TRACE_VM_CACHE", &host.cache)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", host.runner.display()))?;
    if out.status.success() {
        Ok(())
    } else {
        let text =
            String::from_utf8_lossy(&out.stdout).trim().to_string() + String::from_utf8_lossy(&out.stderr).trim();
        Err(text)
    }
}

/// Runs the guest; returns the runner's stderr and stray stdout (for a
/// report) and its exit status.
fn boot(
    host: &Host,
    kernel: &str,
    cases: &[&Case],
    finish: &mut impl FnMut(usize, Outcome, f64),
) -> std::io::Result<(String, Option<std::process::ExitStatus>)> {
    let exe = std::env::current_exe()?;
    let mut names = String::new();
    for case in cases {
        names.push_str(&case.name);
        names.push('\n');
    }
    let mut command = format!("{INSIDE}=1 {TIME_SCALE}={} ", host.time_scale);
    if let Some(bin) = &host.trace_bin {
        command.push_str(&format!("TRACE_BIN={} ", run::quote(&bin.to_string_lossy())));
    }
    // The names go in as a here-document: no file to share or clean up.
    let end = "END_OF_TRACE_CASE_NAMES";
    command.push_str(&format!("exec {} <<'{end}'\n{names}{end}\n", run::quote(&exe.to_string_lossy())));
    let per_case = |c: &&Case| (c.timeout + run::SIGINT_GRACE) * host.time_scale + CASE_ALLOWANCE;
    let limit = cases.iter().fold(BOOT_ALLOWANCE, |t, c| t + per_case(c));
    let mut child = Command::new(&host.runner)
        .args(["--verbose", "--timeout", &limit.as_secs().to_string(), kernel, &command])
        .env("TRACE_VM_CACHE", &host.cache)
        .current_dir(host.cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let stderr = child.stderr.take().map(|mut s| {
        thread::spawn(move || {
            let mut text = Vec::new();
            let _ = s.read_to_end(&mut text);
            String::from_utf8_lossy(&text).into_owned()
        })
    });
    let mut stray = String::new();
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines() {
            let line = line?;
            match parse_record(&line) {
                Some((i, Outcome::Fail(report), secs)) => finish(i, Outcome::Fail(in_vm(&report, kernel)), secs),
                Some((i, outcome, secs)) => finish(i, outcome, secs),
                None => stray.push_str(&format!("{line}\n")),
            }
        }
    }
    let status = child.wait()?;
    let mut words = stderr.and_then(|t| t.join().ok()).unwrap_or_default();
    words.push_str(&stray);
    Ok((words, Some(status)))
}

/// A guest's failure report, with its `reproduce:` command wrapped to run
/// where the case ran.
fn in_vm(report: &str, kernel: &str) -> String {
    let mut out = String::new();
    for line in report.lines() {
        out.push_str(line);
        out.push('\n');
        if let Some(command) = line.strip_prefix("    reproduce: ") {
            let wrapped = format!("tests/vm/run-in-kernel.sh {kernel} {}", run::quote(command));
            out.push_str(&format!("    reproduce on kernel {kernel}: {wrapped}\n"));
        }
    }
    out
}

fn parse_record(line: &str) -> Option<(usize, Outcome, f64)> {
    let mut fields = line.strip_prefix("result\t")?.splitn(4, '\t');
    let index = fields.next()?.parse().ok()?;
    let kind = fields.next()?;
    let secs = fields.next()?.parse().ok()?;
    let text = unescape(fields.next()?);
    let outcome = match kind {
        "ok" => Outcome::Pass,
        "fail" => Outcome::Fail(text),
        "skip" => Outcome::Skip(text),
        _ => return None,
    };
    Some((index, outcome, secs))
}

fn escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\n', "\\n").replace('\t', "\\t")
}

fn unescape(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// Checks run at harness start-up (the harness has no #[test] functions).
pub fn self_check() -> Result<(), String> {
    let report = "    missing stdout line: a\\b\tc\n      | x\n";
    let line = format!("result\t3\tfail\t1.25\t{}", escape(report));
    if line.contains('\n') {
        return Err(format!("escape left a newline in {line:?}"));
    }
    match parse_record(&line) {
        Some((3, Outcome::Fail(text), secs)) if text == report && secs == 1.25 => {}
        _ => return Err(format!("record {line:?} did not read back")),
    }
    let wrapped = in_vm("    ran 1s\n    reproduce: cd /t && ./x 'a'\n", "6.1");
    let want = r#"    reproduce on kernel 6.1: tests/vm/run-in-kernel.sh 6.1 'cd /t && ./x '\''a'\'''"#;
    if !wrapped.ends_with(&format!("{want}\n")) {
        return Err(format!("in_vm: {wrapped:?}"));
    }
    for (value, want) in [(None, Ok(DEFAULT_TIME_SCALE)), (Some(" 3 "), Ok(3)), (Some(""), Ok(DEFAULT_TIME_SCALE))] {
        if parse_scale(value) != want {
            return Err(format!("parse_scale({value:?}): got {:?}", parse_scale(value)));
        }
    }
    for bad in ["0", "101", "1.5", "x"] {
        if parse_scale(Some(bad)).is_ok() {
            return Err(format!("{TIME_SCALE}={bad} was accepted"));
        }
    }
    for bad in ["result\t1\tmaybe\t0.1\t", "result\tx\tok\t0.1\t", "case a ... ok", "result\t1\tok"] {
        if parse_record(bad).is_some() {
            return Err(format!("{bad:?} read as a record"));
        }
    }
    Ok(())
}
