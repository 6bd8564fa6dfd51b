//! The project's own fuzz drivers: generated and mutated inputs through the
//! compiler and the binary readers, reporting inputs tried, crashes and
//! hangs per target.
//!
//!     cargo test --test fuzz                    the CI pass: a fixed seed and
//!                                               a fixed number of inputs per
//!                                               target (a few seconds)
//!     FUZZ_SECONDS=600 FUZZ_SEED=123 nice cargo test --profile fuzz --test fuzz
//!                                               ten minutes, shared evenly
//!                                               by the targets (the `fuzz`
//!                                               profile is `release` with
//!                                               overflow checks; `--release`
//!                                               works too, without them)
//!     cargo test --test fuzz -- files specs     some targets only
//!     FUZZ_SEED=123 FUZZ_REPLAY=files:4711 cargo test --test fuzz
//!                                               one input, in this process
//!
//! Targets (one file each):
//!
//! * `programs` (`fuzz/programs.rs`): grammar-aware generators, one of
//!   anything the grammar allows (`fuzz/grammar.rs`) and one of well-typed
//!   programs (`fuzz/typed.rs`), and a token mutator (`fuzz/mutate.rs`)
//!   over every `PROG` of the script cases, through `trace::compile`;
//! * `specs` (`fuzz/specs.rs`): argdist specifiers, generated and mutated
//!   from the script cases', through `compile_specs` and `compile_ast`;
//! * `files` (`fuzz/files.rs`): mutated copies of the binaries built from
//!   `tests/targets/` (`fuzz/targets.rs`; DWARF plain and compressed, USDT
//!   notes), through the ELF, DWARF and USDT readers and the compiler;
//! * `btf` (`fuzz/btf.rs`): mutated BTF blobs (hand-built, split, and a
//!   slice of the kernel's own) through the kernel-type reader.
//!
//! An input passes when nothing panics, a rejection is diagnostics that
//! render inside their source (`fuzz/check.rs`), and it ends within the hang
//! limit without the worker's memory passing the limit. How crashes and
//! hangs are caught, and why inputs run in a worker process, is
//! `fuzz/driver.rs`. Every input is a function of the seed, the target and
//! its number, so a finding's reproducer is written to
//! `target/fuzz-crashes/` and `FUZZ_REPLAY` runs it again. Before fuzzing,
//! the harness checks its detectors on a canary (`fuzz/selfcheck.rs`).
//!
//! Environment: `FUZZ_SECONDS` (unset: the CI pass), `FUZZ_SEED` (default
//! 1), `FUZZ_HANG_MS` (the hang limit, in CPU time per input; default 2000
//! in optimised builds, 10000 in debug ones, which are about ten times
//! slower), `FUZZ_RSS_MB` (the worker's memory limit, default 1024).
//!
//! Compressed sections of the mutated binaries claim at most 1 MiB (see
//! `fuzz/elfedit.rs`): the DWARF reader allocates what a section claims
//! before decompressing it, a known problem fixed elsewhere; the summary
//! counts the inputs whose claim was lowered.
//!
//! Why a custom harness (`harness = false`): one run is one long loop with
//! a budget and a summary, not a set of independent tests.

#[path = "fuzz/btf.rs"]
mod btf;
#[path = "fuzz/check.rs"]
mod check;
#[path = "fuzz/driver.rs"]
mod driver;
#[path = "fuzz/elfedit.rs"]
mod elfedit;
#[path = "fuzz/elfmut.rs"]
mod elfmut;
#[path = "fuzz/files.rs"]
mod files;
#[path = "fuzz/grammar.rs"]
mod grammar;
#[path = "fuzz/mutate.rs"]
mod mutate;
#[path = "fuzz/programs.rs"]
mod programs;
#[path = "fuzz/rng.rs"]
mod rng;
#[path = "fuzz/selfcheck.rs"]
mod selfcheck;
#[path = "fuzz/specs.rs"]
mod specs;
// The script cases' parser, for the corpus; the fuzzer reads only PROG and
// RUN from it.
#[allow(dead_code)]
#[path = "scripts/spec.rs"]
mod spec;
#[path = "fuzz/targets.rs"]
mod targets;
#[path = "fuzz/typed.rs"]
mod typed;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use driver::{Amount, Driven, Kind, Settings};

/// The targets, in the order they run.
const TARGETS: &[&str] = &["programs", "specs", "files", "btf"];

/// The CI pass: inputs per target (a few seconds of a debug build).
const CI_INPUTS: &[(&str, u64)] = &[("programs", 3000), ("specs", 2000), ("files", 500), ("btf", 2000)];

struct Paths {
    manifest: PathBuf,
    /// Where the target binaries are built; the workers' directory.
    targets: PathBuf,
    crashes: PathBuf,
    work: PathBuf,
}

fn paths() -> Paths {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    // target/<profile>/deps/fuzz-HASH ─► target/<profile>/ and target/
    let exe = std::env::current_exe().unwrap_or_default();
    let profile = exe.ancestors().nth(2).map(Path::to_path_buf).unwrap_or_else(|| manifest.join("target/debug"));
    let target = profile.parent().map(Path::to_path_buf).unwrap_or_else(|| manifest.join("target"));
    // One directory per supervisor, which its workers inherit, so that
    // runs side by side do not clean up each other's inputs.
    let work = match std::env::var_os("FUZZ_WORK") {
        Some(w) => PathBuf::from(w),
        None => profile.join("fuzz-work").join(std::process::id().to_string()),
    };
    Paths { targets: profile.join("fuzz-targets"), crashes: target.join("fuzz-crashes"), work, manifest }
}

fn make(name: &str, p: &Paths) -> Result<Box<dyn Driven>, String> {
    let tests = p.manifest.join("tests");
    Ok(match name {
        "programs" => {
            let corpus = programs::corpus(&[&tests.join("scripts"), &tests.join("pending")], &p.targets)?;
            if corpus.len() < 100 {
                return Err(format!("only {} PROG lines in tests/scripts and tests/pending", corpus.len()));
            }
            Box::new(programs::Programs::new(corpus))
        }
        "specs" => {
            let files = [tests.join("scripts/argdist.test"), tests.join("scripts/usdt.test")];
            let corpus = specs::corpus(&[&files[0], &files[1]])?;
            if corpus.len() < 10 {
                return Err(format!("only {} -C/-H specifiers in argdist.test and usdt.test", corpus.len()));
            }
            Box::new(specs::Specs::new(corpus))
        }
        "files" => Box::new(files::Files::new(&p.targets, targets::MUTATED, p.work.clone())?),
        "btf" => Box::new(btf::BtfTarget::new()),
        "canary" => Box::new(selfcheck::Canary),
        _ => return Err(format!("no fuzz target `{name}` (targets: {})", TARGETS.join(", "))),
    })
}

fn env_u64(name: &str) -> Result<Option<u64>, String> {
    match std::env::var(name) {
        Ok(v) => v.trim().parse().map(Some).map_err(|_| format!("{name}={v} is not a whole number")),
        Err(_) => Ok(None),
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            println!("fuzz: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<bool, String> {
    let p = paths();
    let seed = env_u64("FUZZ_SEED")?.unwrap_or(1);
    if let Ok(name) = std::env::var("FUZZ_WORKER") {
        let target = make(&name, &p)?;
        let from = env_u64("FUZZ_FROM")?.unwrap_or(0);
        let to = env_u64("FUZZ_TO")?.unwrap_or(u64::MAX);
        let until = env_u64("FUZZ_BUDGET_MS")?.map(|ms| Instant::now() + Duration::from_millis(ms));
        driver::work(target.as_ref(), seed, from, to, until);
        return Ok(true);
    }
    // libtest's flags, which cargo may pass to every test binary, are not
    // target names.
    let selected: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let selected: Vec<&str> =
        TARGETS.iter().copied().filter(|t| selected.is_empty() || selected.iter().any(|s| s == t)).collect();
    if selected.is_empty() {
        return Err(format!("no such target; the targets are {}", TARGETS.join(", ")));
    }
    std::env::set_var("FUZZ_WORK", &p.work);
    let built = targets::build(&p.manifest.join("tests/targets"), &p.targets)?;
    if let Ok(replay) = std::env::var("FUZZ_REPLAY") {
        let (name, index) = replay.split_once(':').ok_or("FUZZ_REPLAY is TARGET:INDEX")?;
        let index = index.parse().map_err(|_| format!("FUZZ_REPLAY: `{index}` is not an input number"))?;
        std::env::set_current_dir(&p.targets).map_err(|e| format!("cannot enter {}: {e}", p.targets.display()))?;
        let outcome = driver::replay(make(name, &p)?.as_ref(), seed, index, &p.crashes);
        let _ = std::fs::remove_dir_all(&p.work);
        println!("outcome: {outcome:?}");
        return Ok(outcome.is_ok());
    }

    let budget = env_u64("FUZZ_SECONDS")?;
    let release = !cfg!(debug_assertions);
    let settings = Settings {
        exe: std::env::current_exe().map_err(|e| format!("cannot find this binary: {e}"))?,
        cwd: p.targets.clone(),
        seed,
        hang_limit: Duration::from_millis(env_u64("FUZZ_HANG_MS")?.unwrap_or(if release { 2000 } else { 10_000 })),
        rss_limit: env_u64("FUZZ_RSS_MB")?.unwrap_or(1024) << 20,
        crash_dir: p.crashes.clone(),
        verbose: true,
    };
    let mode = match budget {
        Some(s) => format!("{s} s shared by {}", selected.join(", ")),
        None => "the CI pass: a fixed number of inputs per target".into(),
    };
    println!(
        "fuzz: seed {seed}, {mode}; hang limit {:?}, memory limit {} MiB",
        settings.hang_limit,
        settings.rss_limit >> 20
    );
    println!("fuzz: target binaries in {} ({built} rebuilt)", p.targets.display());

    let started = Instant::now();
    let mut targets = Vec::new();
    for name in &selected {
        let t = make(name, &p)?;
        selfcheck::deterministic(t.as_ref(), seed)?;
        targets.push(t);
    }
    selfcheck::canary(&settings)?;
    println!("fuzz: self-check passed (inputs are reproducible; a canary's panic, abort, wrong result, memory blow-up and hang are all caught) in {:.1} s", started.elapsed().as_secs_f64());

    let mut totals = (0u64, 0usize, 0usize);
    let mut hung = false;
    for (i, t) in targets.iter().enumerate() {
        if hung {
            println!("{:<9} not run: an earlier target hung", t.name());
            continue;
        }
        let amount = match budget {
            // What earlier targets left, shared by this one and the rest.
            Some(s) => {
                let left = Duration::from_secs(s).saturating_sub(started.elapsed());
                Amount::Time(left / (targets.len() - i) as u32)
            }
            None => Amount::Inputs(CI_INPUTS.iter().find(|(n, _)| *n == t.name()).map_or(1000, |c| c.1)),
        };
        let r = driver::supervise(t.as_ref(), amount, &settings);
        let (crashes, hangs) = (r.count(Kind::Crash), r.count(Kind::Hang));
        let labels: Vec<String> = r.labels.iter().map(|(l, n)| format!("{l} {n}")).collect();
        println!(
            "{:<9} {:>9} inputs  {crashes} crashes  {hangs} hangs  {:>7.1} s  {:>7.0}/s  slowest {:.0} ms (#{})  ({})",
            t.name(),
            r.tried,
            r.elapsed.as_secs_f64(),
            r.tried as f64 / r.elapsed.as_secs_f64().max(1e-9),
            r.slowest.0.as_secs_f64() * 1000.0,
            r.slowest.1,
            labels.join(", ")
        );
        totals = (totals.0 + r.tried, totals.1 + crashes, totals.2 + hangs);
        hung |= hangs > 0;
    }
    let _ = std::fs::remove_dir_all(&p.work);
    println!(
        "fuzz: {} inputs, {} crashes, {} hangs in {:.1} s (seed {seed})",
        totals.0,
        totals.1,
        totals.2,
        started.elapsed().as_secs_f64()
    );
    Ok(totals.1 == 0 && totals.2 == 0)
}
