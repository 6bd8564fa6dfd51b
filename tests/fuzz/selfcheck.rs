//! The harness checks itself before fuzzing, so a detector that stopped
//! working fails the run instead of reporting a clean zero:
//!
//! * every target generates the same input for the same number twice (the
//!   supervisor relies on it to write reproducers), and different inputs
//!   for different numbers;
//! * a canary target whose inputs misbehave on purpose (a panic, an abort,
//!   a wrong result, a memory blow-up, a hang) is run under the supervisor,
//!   which must report each, at its input, and resume after the ones that
//!   kill the worker.

use std::time::Duration;

use crate::driver::{self, Amount, Driven, Kind, Settings};

/// Misbehaves by input number; see [`EXPECTED`].
pub struct Canary;

/// Input number, and what the supervisor must make of it (`None`: fine):
/// the kind of finding and what its message says. The panic must be
/// caught in the worker (`panicked at`), not kill it (`died`): a build
/// with `panic = "abort"` would lose every input after a panic.
const EXPECTED: &[(u64, Option<(Kind, &str)>)] = &[
    (0, None),
    (1, Some((Kind::Crash, "panicked at tests/fuzz/selfcheck.rs"))),
    (2, Some((Kind::Crash, "the worker died"))),
    (3, Some((Kind::Crash, "wrong result: the canary is wrong"))),
    (4, Some((Kind::Crash, "resident memory"))),
    (5, None),
    (6, Some((Kind::Hang, "still running"))),
];

/// The canary's memory blow-up, well over the limit the check sets.
const BLOW_UP: usize = 256 << 20;

impl Driven for Canary {
    fn name(&self) -> &'static str {
        "canary"
    }

    fn run_index(&self, _seed: u64, index: u64) -> Result<&'static str, String> {
        match index {
            1 => panic!("the canary panics"),
            2 => std::process::abort(),
            3 => Err("the canary is wrong".into()),
            4 => {
                let mut v = vec![0u8; BLOW_UP];
                for i in (0..v.len()).step_by(4096) {
                    v[i] = 1;
                }
                std::thread::sleep(Duration::from_secs(60));
                Ok(if v[4096] == 1 { "fine" } else { "unreachable" })
            }
            6 => {
                // Busy: a hang is CPU time over the limit.
                let mut x = 0u64;
                loop {
                    x = std::hint::black_box(x.wrapping_add(1));
                }
            }
            _ => Ok("fine"),
        }
    }

    fn reproducer_index(&self, _seed: u64, index: u64) -> (&'static str, Vec<u8>, String) {
        ("txt", index.to_string().into_bytes(), "cat {}".into())
    }
}

/// Same number, same input; another number, another input.
pub fn deterministic(target: &dyn Driven, seed: u64) -> Result<(), String> {
    let (_, a, _) = target.reproducer_index(seed, 5);
    let (_, b, _) = target.reproducer_index(seed, 5);
    if a != b {
        return Err(format!("{}: input 5 differs between two generations", target.name()));
    }
    if (6..16).all(|i| target.reproducer_index(seed, i).1 == a) {
        return Err(format!("{}: inputs 5 to 15 are all the same", target.name()));
    }
    Ok(())
}

/// Runs the canary under the supervisor (quietly, reproducers in a
/// scratch directory) and compares what it reports with [`EXPECTED`].
pub fn canary(settings: &Settings) -> Result<(), String> {
    let s = Settings {
        hang_limit: Duration::from_millis(500),
        rss_limit: 128 << 20,
        verbose: false,
        crash_dir: settings.crash_dir.join("self-check"),
        exe: settings.exe.clone(),
        cwd: settings.cwd.clone(),
        seed: settings.seed,
    };
    let report = driver::supervise(&Canary, Amount::Inputs(EXPECTED.len() as u64), &s);
    let _ = std::fs::remove_dir_all(&s.crash_dir);
    let mut problems = Vec::new();
    for &(index, expected) in EXPECTED {
        let found = report.findings.iter().find(|f| f.index == index);
        match (expected, found) {
            (None, None) => {}
            (None, Some(f)) => problems.push(format!("input {index} is fine, but was reported: {}", f.message)),
            (Some((kind, text)), None) => problems.push(format!("input {index} ({kind:?}: {text}) was not reported")),
            (Some((kind, text)), Some(f)) => {
                if f.kind != kind || !f.message.contains(text) {
                    problems
                        .push(format!("input {index} should be {kind:?} `{text}`, was {:?} `{}`", f.kind, f.message));
                }
                if f.reproducer.is_none() {
                    problems.push(format!("input {index} has no reproducer"));
                }
            }
        }
    }
    if report.workers != 3 {
        problems.push(format!("{} workers ran, not 3: the abort and the memory blow-up end one each", report.workers));
    }
    if report.tried != EXPECTED.len() as u64 {
        problems.push(format!("{} inputs counted, not {}", report.tried, EXPECTED.len()));
    }
    if report.labels.get("fine") != Some(&2) {
        problems.push(format!("the fine inputs were counted as {:?}", report.labels));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("the supervisor misreports the canary:\n  {}", problems.join("\n  ")))
    }
}
