//! The supervisor and the worker: how inputs are run, and how crashes,
//! hangs and memory blow-ups are caught and reported.
//!
//! Each target runs in a *worker*: this same test binary started again with
//! `FUZZ_WORKER=<target>`. The worker runs inputs `from..to` (or until its
//! time budget is spent), each under `catch_unwind`, and tells the
//! supervisor on its stdout, one line per event:
//!
//! ```text
//! > 41             input 41 starts
//! < compiled       it ended normally; the label is counted (`compiled`, `rejected`, ...)
//! ! 41 MESSAGE     it panicked, or gave a wrong result (MESSAGE says which)
//! done             the worker finished its range or its budget
//! ```
//!
//! Why a separate process: a panic is caught in the worker, but a stack
//! overflow or an allocation failure aborts the process, and a hung thread
//! cannot be stopped from inside. The supervisor sees all of them:
//!
//! * the worker's death: a crash of the input in flight; a new worker
//!   resumes at the next input;
//! * an input that has used more CPU time than the hang limit, or ten times
//!   the limit in wall time while blocked: a hang; the worker is killed and
//!   the run fails. CPU time rather than wall time, so that a machine busy
//!   with other builds does not turn slow inputs into hangs;
//! * the worker's resident memory over the limit (`/proc/PID/status`): a
//!   crash, as an allocation failure would be.
//!
//! Since every input is a pure function of `(seed, target, index)` (see
//! `rng.rs`), the supervisor rebuilds the input in flight itself and writes
//! it to `target/fuzz-crashes/` as a reproducer.

use std::collections::{BTreeMap, VecDeque};
use std::io::{BufRead, BufReader, Write};
use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::rng::Rng;

/// One fuzz target: a generator of inputs and the code under test.
pub trait Target {
    type Input;
    fn name(&self) -> &'static str;
    /// The input for this generator state; only `rng` may vary it.
    fn generate(&self, rng: &mut Rng) -> Self::Input;
    /// Runs one input. `Ok` is a label counted in the summary; `Err` is a
    /// wrong result that is not a panic (a diagnostic that does not render).
    fn run(&self, input: &Self::Input) -> Result<&'static str, String>;
    /// The reproducer: its file extension, its bytes, and how to replay it
    /// with the `trace` binary (`{}` stands for the file's path).
    fn reproducer(&self, input: &Self::Input) -> (&'static str, Vec<u8>, String);
    /// How many inputs one worker runs before a fresh one takes over: for
    /// code under test that keeps what it reads for the life of the
    /// process (the BTF reader's records point at each other through `Rc`
    /// and are never freed), so that memory held by earlier inputs is not
    /// charged to a later one.
    fn inputs_per_worker(&self) -> u64 {
        u64::MAX
    }
}

/// A target with its input type erased, driven by input number.
pub trait Driven {
    fn name(&self) -> &'static str;
    fn run_index(&self, seed: u64, index: u64) -> Result<&'static str, String>;
    fn reproducer_index(&self, seed: u64, index: u64) -> (&'static str, Vec<u8>, String);
    fn inputs_per_worker(&self) -> u64 {
        u64::MAX
    }
}

impl<T: Target> Driven for T {
    fn name(&self) -> &'static str {
        Target::name(self)
    }

    fn run_index(&self, seed: u64, index: u64) -> Result<&'static str, String> {
        let input = self.generate(&mut Rng::for_input(seed, Target::name(self), index));
        self.run(&input)
    }

    fn reproducer_index(&self, seed: u64, index: u64) -> (&'static str, Vec<u8>, String) {
        let input = self.generate(&mut Rng::for_input(seed, Target::name(self), index));
        self.reproducer(&input)
    }

    fn inputs_per_worker(&self) -> u64 {
        Target::inputs_per_worker(self)
    }
}

/// The message of the last panic, kept by the worker's panic hook.
static LAST_PANIC: Mutex<Option<String>> = Mutex::new(None);

/// Runs `f`, turning a panic into `Err` with the panic's message and place.
pub fn catch<R>(f: impl FnOnce() -> Result<R, String>) -> Result<R, String> {
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r.map_err(|e| format!("wrong result: {e}")),
        Err(_) => {
            // The hook's `panicked at FILE:LINE:COLUMN:\nMESSAGE`.
            let msg = LAST_PANIC.lock().map(|mut m| m.take()).unwrap_or_default();
            Err(msg.unwrap_or_else(|| "panicked (no message)".into()))
        }
    }
}

/// The worker's side: run inputs `from..to` of `target` until `until`,
/// reporting each on stdout (see the module docs).
pub fn work(target: &dyn Driven, seed: u64, from: u64, to: u64, until: Option<Instant>) {
    panic::set_hook(Box::new(|info| {
        // Shown by the supervisor only if the worker dies of it.
        eprintln!("{info}");
        if let Ok(mut last) = LAST_PANIC.lock() {
            *last = Some(info.to_string());
        }
    }));
    let mut out = std::io::stdout().lock();
    for index in from..to {
        if until.is_some_and(|u| Instant::now() >= u) {
            break;
        }
        let _ = writeln!(out, "> {index}").and_then(|_| out.flush());
        let line = match catch(|| target.run_index(seed, index)) {
            Ok(label) => format!("< {label}"),
            Err(e) => format!("! {index} {}", e.replace('\n', "\u{23ce}")),
        };
        let _ = writeln!(out, "{line}").and_then(|_| out.flush());
    }
    let _ = writeln!(out, "done").and_then(|_| out.flush());
}

/// How a supervisor run is set up.
pub struct Settings {
    pub exe: PathBuf,
    /// The worker's working directory (where `./db` is).
    pub cwd: PathBuf,
    pub seed: u64,
    /// No input may use more CPU time than this (or, blocked, ten times
    /// this in wall time).
    pub hang_limit: Duration,
    /// The worker's resident memory may not grow beyond this many bytes.
    pub rss_limit: u64,
    /// Where reproducers go.
    pub crash_dir: PathBuf,
    /// Print each finding as it happens.
    pub verbose: bool,
}

/// How much to run of one target.
#[derive(Clone, Copy, Debug)]
pub enum Amount {
    Inputs(u64),
    Time(Duration),
}

/// One crash, hang or wrong result, with its reproducer.
#[derive(Debug)]
pub struct Finding {
    pub index: u64,
    pub kind: Kind,
    pub message: String,
    pub reproducer: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A panic, a wrong result, an abort or the memory limit.
    Crash,
    Hang,
}

/// What one target's run came to.
#[derive(Debug, Default)]
pub struct Report {
    pub tried: u64,
    pub labels: BTreeMap<String, u64>,
    pub findings: Vec<Finding>,
    pub elapsed: Duration,
    /// Workers started (1 unless one died, or the target asks for fresh
    /// ones: `Target::inputs_per_worker`).
    pub workers: u32,
    /// Of those, started because the one before had run its share.
    pub recycled: u32,
    /// The longest an input that ended took, and its number.
    pub slowest: (Duration, u64),
}

impl Report {
    pub fn count(&self, kind: Kind) -> usize {
        self.findings.iter().filter(|f| f.kind == kind).count()
    }
}

/// Workers may die this often (each a crash) before a target is given up.
const MAX_WORKERS: u32 = 50;

/// The supervisor's side: run `target` for `amount` in workers, collecting
/// every finding. Stops at the first hang.
pub fn supervise(target: &dyn Driven, amount: Amount, s: &Settings) -> Report {
    let started = Instant::now();
    let mut report = Report::default();
    let (mut next, end) = match amount {
        Amount::Inputs(n) => (0, n),
        Amount::Time(_) => (0, u64::MAX),
    };
    while next < end && report.workers - report.recycled < MAX_WORKERS {
        let budget = match amount {
            Amount::Time(t) if started.elapsed() >= t => break,
            Amount::Time(t) => Some(t - started.elapsed()),
            Amount::Inputs(_) => None,
        };
        report.workers += 1;
        let to = next.saturating_add(target.inputs_per_worker()).min(end);
        match run_worker(target, s, next, to, budget, &mut report) {
            // Its share run: a fresh worker goes on (if time is left, which
            // the loop's head decides).
            WorkerEnd::Done if to < end => {
                report.recycled += 1;
                next = to;
            }
            WorkerEnd::Done => break,
            WorkerEnd::Died(index) => next = index + 1,
            WorkerEnd::Hung | WorkerEnd::Broken => break,
        }
    }
    report.elapsed = started.elapsed();
    report
}

enum WorkerEnd {
    Done,
    /// Died running this input (a crash, recorded).
    Died(u64),
    Hung,
    /// Died between inputs, or could not be started: a harness problem,
    /// recorded as a crash without an input.
    Broken,
}

struct Worker {
    child: Child,
    lines: Receiver<String>,
    stderr: Arc<Mutex<VecDeque<String>>>,
}

fn start_worker(
    target: &dyn Driven,
    s: &Settings,
    from: u64,
    to: u64,
    budget: Option<Duration>,
) -> Result<Worker, String> {
    let mut cmd = Command::new(&s.exe);
    cmd.current_dir(&s.cwd)
        .env("FUZZ_WORKER", target.name())
        .env("FUZZ_SEED", s.seed.to_string())
        .env("FUZZ_FROM", from.to_string())
        .env("FUZZ_TO", to.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(b) = budget {
        cmd.env("FUZZ_BUDGET_MS", b.as_millis().to_string());
    }
    let mut child = cmd.spawn().map_err(|e| format!("cannot start a worker ({}): {e}", s.exe.display()))?;
    let (tx, lines) = mpsc::channel();
    let stdout = child.stdout.take().ok_or("no worker stdout")?;
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let stderr = Arc::new(Mutex::new(VecDeque::new()));
    let tail = stderr.clone();
    let pipe = child.stderr.take().ok_or("no worker stderr")?;
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            if let Ok(mut t) = tail.lock() {
                if t.len() == 20 {
                    t.pop_front();
                }
                t.push_back(line);
            }
        }
    });
    Ok(Worker { child, lines, stderr })
}

fn run_worker(
    target: &dyn Driven,
    s: &Settings,
    from: u64,
    to: u64,
    budget: Option<Duration>,
    report: &mut Report,
) -> WorkerEnd {
    let mut w = match start_worker(target, s, from, to, budget) {
        Ok(w) => w,
        Err(e) => {
            record(target, s, report, None, Kind::Crash, e);
            return WorkerEnd::Broken;
        }
    };
    let tick = Duration::from_millis(50);
    let mut current: Option<InFlight> = None;
    let mut checked = Instant::now();
    loop {
        match w.lines.recv_timeout(tick) {
            Ok(line) => {
                if let Some(i) = line.strip_prefix("> ") {
                    current = i.parse().ok().map(|index| InFlight { index, since: Instant::now(), cpu_base: None });
                } else if let Some(label) = line.strip_prefix("< ") {
                    *report.labels.entry(label.to_string()).or_default() += 1;
                    report.tried += 1;
                    if let Some(f) = current.take() {
                        report.slowest = report.slowest.max((f.since.elapsed(), f.index));
                    }
                } else if let Some(rest) = line.strip_prefix("! ") {
                    let (i, msg) = rest.split_once(' ').unwrap_or((rest, ""));
                    report.tried += 1;
                    current = None;
                    record(target, s, report, i.parse().ok(), Kind::Crash, msg.replace('\u{23ce}', "\n"));
                } else if line == "done" {
                    let _ = w.child.wait();
                    return WorkerEnd::Done;
                } else {
                    println!("{}: worker: {line}", target.name());
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                let status = w.child.wait().map(|s| s.to_string()).unwrap_or_else(|e| e.to_string());
                let tail =
                    w.stderr.lock().map(|t| t.iter().cloned().collect::<Vec<_>>().join("\n")).unwrap_or_default();
                let msg = format!("the worker died ({status}); its last words:\n{tail}");
                return match current {
                    Some(f) => {
                        report.tried += 1;
                        record(target, s, report, Some(f.index), Kind::Crash, msg);
                        WorkerEnd::Died(f.index)
                    }
                    None => {
                        record(target, s, report, None, Kind::Crash, msg);
                        WorkerEnd::Broken
                    }
                };
            }
        }
        // Inputs shorter than a tick are not watched at all: reading
        // /proc for each of thousands of inputs a second would cost more
        // than the inputs.
        let Some(f) = current.as_mut() else { continue };
        if f.since.elapsed() < tick || checked.elapsed() < tick {
            continue;
        }
        checked = Instant::now();
        let pid = w.child.id();
        let cpu = cpu_time(pid).unwrap_or_default();
        let base = *f.cpu_base.get_or_insert(cpu);
        let (index, wall, used) = (f.index, f.since.elapsed(), cpu.saturating_sub(base));
        let finding = if used >= s.hang_limit {
            Some((Kind::Hang, format!("still running after {used:.1?} of CPU time (the limit is {:?})", s.hang_limit)))
        } else if wall >= s.hang_limit * BLOCKED {
            Some((Kind::Hang, format!("still running after {wall:.1?}, blocked: it used {used:.1?} of CPU time")))
        } else {
            resident_bytes(pid).filter(|&r| r > s.rss_limit).map(|rss| {
                (Kind::Crash, format!("resident memory {} MiB, over the limit of {} MiB", rss >> 20, s.rss_limit >> 20))
            })
        };
        let Some((kind, msg)) = finding else { continue };
        let _ = w.child.kill();
        let _ = w.child.wait();
        report.tried += 1;
        record(target, s, report, Some(index), kind, msg);
        return if kind == Kind::Hang { WorkerEnd::Hung } else { WorkerEnd::Died(index) };
    }
}

/// The input a worker is running.
struct InFlight {
    index: u64,
    since: Instant,
    /// The worker's CPU time when the input was first watched.
    cpu_base: Option<Duration>,
}

/// An input that uses little CPU (blocked on something) is a hang after
/// this many times the hang limit of wall time.
const BLOCKED: u32 = 10;

/// User plus system CPU time of a process (all its threads), from
/// `/proc/PID/stat`, in `USER_HZ` ticks (100 a second on Linux).
fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After `PID (COMM) `: state is field 3, utime 14, stime 15.
    let fields: Vec<&str> = stat.get(stat.rfind(')')? + 2..)?.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// VmRSS of a process, in bytes.
fn resident_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Findings past this many per target are counted, not shown or saved: one
/// bug found over and over would otherwise fill the disk and the log.
const MAX_SHOWN: usize = 20;

/// Records a finding, writing the reproducer of input `index`.
fn record(target: &dyn Driven, s: &Settings, report: &mut Report, index: Option<u64>, kind: Kind, message: String) {
    let mut reproducer = None;
    let mut replay = String::new();
    if report.findings.len() >= MAX_SHOWN {
        if report.findings.len() == MAX_SHOWN && s.verbose {
            println!("{}: more findings are counted, not shown", target.name());
        }
        report.findings.push(Finding { index: index.unwrap_or(u64::MAX), kind, message, reproducer });
        return;
    }
    if let Some(i) = index {
        // Rebuilding the input may itself panic (it did not in the worker,
        // which generated it the same way): report that rather than die.
        let built = catch(|| Ok(target.reproducer_index(s.seed, i)));
        match built.and_then(|(ext, bytes, how)| {
            let path = s.crash_dir.join(format!("{}-{}-{i}.{ext}", target.name(), s.seed));
            std::fs::create_dir_all(&s.crash_dir)
                .and_then(|_| std::fs::write(&path, bytes))
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            Ok((path, how))
        }) {
            Ok((path, how)) => {
                replay = format!(
                    "\n  reproducer: {}\n  replay:     (cd {} && {})\n  or:         FUZZ_SEED={} FUZZ_REPLAY={}:{i} cargo test --test fuzz",
                    path.display(),
                    s.cwd.display(),
                    how.replace("{}", &path.display().to_string()),
                    s.seed,
                    target.name(),
                );
                reproducer = Some(path);
            }
            Err(e) => replay = format!("\n  no reproducer: {e}"),
        }
    }
    let what = match kind {
        Kind::Crash => "CRASH",
        Kind::Hang => "HANG",
    };
    if s.verbose {
        let at = index.map_or("outside any input".to_string(), |i| format!("input {i}"));
        println!("{}: {what} at {at}: {message}{replay}", target.name());
    }
    report.findings.push(Finding { index: index.unwrap_or(u64::MAX), kind, message, reproducer });
}

/// `FUZZ_REPLAY=target:index`: run one input in this process, without
/// catching anything, so a panic shows its backtrace. The input is written
/// to `dir` first.
pub fn replay(target: &dyn Driven, seed: u64, index: u64, dir: &std::path::Path) -> Result<&'static str, String> {
    let (ext, bytes, how) = target.reproducer_index(seed, index);
    let path = dir.join(format!("{}-{seed}-{index}.{ext}", target.name()));
    std::fs::create_dir_all(dir)
        .and_then(|_| std::fs::write(&path, &bytes))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    println!("input {index} of {} (seed {seed}): {} ({} bytes)", target.name(), path.display(), bytes.len());
    println!("replay: {}", how.replace("{}", &path.display().to_string()));
    let started = Instant::now();
    let outcome = target.run_index(seed, index);
    println!("ran in {:.1} ms", started.elapsed().as_secs_f64() * 1000.0);
    outcome
}
