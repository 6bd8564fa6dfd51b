//! Script cases: runs every case in `tests/scripts/*.test` against the real
//! kernel with the `trace` binary, one after another, and reports
//! `N passed, N failed, N skipped`.
//!
//! Why one custom harness (`harness = false`) rather than a #[test] per case:
//! cases must run sequentially (probes from one would count the events of
//! another), need a root + BPF preflight that explains itself, share the
//! targets built once per run, and read like bpftrace's runtime tests, so
//! the format (see `scripts/spec.rs`) is data, not Rust.
//!
//! Without root or BPF, only the cases marked `UNPRIVILEGED` run (compile
//! errors, `-l` listings of binaries, argdist spec errors: trace loads
//! nothing into the kernel there); every other case is skipped, saying why.
//!
//!     cargo test --test scripts                  all cases
//!     cargo test --test scripts -- hist maps     cases whose name contains
//!                                                "hist" or in maps.test
//!     cargo test --test scripts -- --exact NAME  one case by its full name
//!     cargo test --test scripts -- --skip SLOW   leave matching cases out
//!     cargo test --test scripts -- --list        names only, run nothing
//!     cargo test --test scripts -- --no-kernel-cases   leave out the cases
//!                                                with a KERNEL directive
//!                                                (CI's TRACE_VM_KERNEL run:
//!                                                its first run had them)
//!     cargo test --test scripts -- --shard 2/3   every third case, from the
//!                                                second (CI runs the 6.1
//!                                                suite as parallel shards)
//!
//! Environment:
//!   CI=true      a skipped case counts as a failure (CI must run them all,
//!                so it runs as root with BPF).
//!   TRACE_BIN    run another binary instead of this build's `trace`. With a
//!                `bpftrace` binary the harness is in *oracle mode*: it checks
//!                that the expectations are bpftrace's real behaviour. PROGs
//!                are respelled for 0.17 (`args.x` → `args->x`), "Attaching"
//!                is also looked for on stdout, stderr expectations are not
//!                checked (wording differs by design), only success/failure
//!                of the exit code is, and NO_ORACLE and REPL cases are
//!                skipped (and, without root, all cases: bpftrace runs
//!                only as root).
//!   TRACE_VM_KERNEL=6.1   also run the cases without a KERNEL directive on
//!                that kernel, in the VM (see `scripts/vm.rs`): the suite's
//!                second row of the kernel matrix.  Cases marked HOST_KERNEL
//!                (about this machine's kernel) are left out, and listed.
//!   TRACE_VM_TIME_SCALE   what time limits are multiplied by in a VM
//!                (default `vm::DEFAULT_TIME_SCALE`; emulation is slow).
//!   TRACE_VM_INSIDE   set by the harness for its copy in the VM.
//!
//! Targets (`tests/targets/*.c`) are built with gcc at the start of each run
//! into `target/test-targets/`: `NAME` with `-O0` and `NAME-O2` with `-O2`,
//! both `-g -fno-omit-frame-pointer`.  Every command of a case runs there,
//! so `./db` means the same as in the docs.

// Only the OS module may use `unsafe` (it allows it for itself).
#![deny(unsafe_code)]

// The crate root is tests/scripts.rs, so plain `mod` would look in tests/.
#[path = "scripts/pty.rs"]
mod pty;
#[path = "scripts/repl.rs"]
mod repl;
#[path = "scripts/run.rs"]
mod run;
#[path = "scripts/spec.rs"]
mod spec;
#[path = "scripts/sys.rs"]
mod sys;
#[path = "scripts/vm.rs"]
mod vm;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use run::{Env, Outcome};
use spec::Case;

struct Options {
    filters: Vec<String>,
    skips: Vec<String>,
    exact: bool,
    list: bool,
    /// `--no-kernel-cases`: leave out the cases with a KERNEL directive.
    no_kernel_cases: bool,
    /// `--shard I/N`: only the selected cases at positions I, I+N, ...
    /// (1-based), so N harnesses can share the cases.
    shard: Option<(usize, usize)>,
}

fn options() -> Options {
    let mut o = Options {
        filters: Vec::new(),
        skips: Vec::new(),
        exact: false,
        list: false,
        no_kernel_cases: false,
        shard: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--list" => o.list = true,
            "--exact" => o.exact = true,
            "--no-kernel-cases" => o.no_kernel_cases = true,
            "--skip" => o.skips.extend(args.next()),
            "--shard" => {
                let spec = args.next().unwrap_or_default();
                let parsed = spec.split_once('/').and_then(|(i, n)| Some((i.parse().ok()?, n.parse().ok()?)));
                match parsed {
                    Some((i, n)) if 1 <= i && i <= n => o.shard = Some((i, n)),
                    _ => panic!("--shard takes I/N with 1 <= I <= N, not `{spec}`"),
                }
            }
            // libtest flags that cargo may forward to every test binary;
            // the ones taking a value must not become filters.
            "--test-threads" | "--color" | "--format" | "-Z" | "--logfile" => {
                args.next();
            }
            a if a.starts_with('-') => {}
            _ => o.filters.push(a),
        }
    }
    o
}

fn selected(o: &Options, file_stem: &str, case: &Case) -> bool {
    let hit = |p: &String| {
        if o.exact {
            case.name == *p
        } else {
            case.name.contains(p.as_str()) || file_stem == p
        }
    };
    (o.filters.is_empty() || o.filters.iter().any(hit))
        && !o.skips.iter().any(|s| case.name.contains(s.as_str()))
        && !(o.no_kernel_cases && case.kernel.is_some())
}

fn main() -> ExitCode {
    let opts = options();
    let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut failed = 0usize;
    let mut failures: Vec<String> = Vec::new();

    for (what, result) in [
        ("spec", spec::self_check()),
        ("run", run::self_check()),
        ("repl", repl::self_check()),
        ("sys", sys::self_check()),
        ("vm", vm::self_check()),
    ] {
        if let Err(e) = result {
            println!("harness self-check ({what}) FAILED: {e}");
            failed += 1;
        }
    }

    // Discover and parse; a malformed file is a failure, not a silent skip.
    let mut cases: Vec<(String, Case)> = Vec::new();
    for path in test_files(&manifest.join("tests/scripts")) {
        let rel = path.strip_prefix(manifest).unwrap_or(&path).display().to_string();
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                println!("FAILED to read {rel}: {e}");
                failed += 1;
                continue;
            }
        };
        let (parsed, errors) = spec::parse(&text);
        for e in &errors {
            println!("{rel}:{}: FAILED to parse: {}", e.line, e.message);
            failures.push(format!("{rel}:{}", e.line));
        }
        failed += errors.len();
        cases.extend(parsed.into_iter().map(|c| (rel.clone(), c)));
    }
    let mut names = std::collections::HashMap::new();
    for (file, case) in &cases {
        if let Some(first) = names.insert(case.name.clone(), format!("{file}:{}", case.line)) {
            println!("{file}:{}: FAILED: duplicate case name `{}` (first at {first})", case.line, case.name);
            failures.push(case.name.clone());
            failed += 1;
        }
    }
    cases.retain(|(file, case)| {
        let stem = Path::new(file).file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        selected(&opts, &stem, case)
    });
    if let Some((i, n)) = opts.shard {
        let mut position = 0;
        cases.retain(|_| {
            position += 1;
            (position - 1) % n == i - 1
        });
    }

    if opts.list {
        for (file, case) in &cases {
            println!("{file}:{}: {}", case.line, case.name);
        }
        return ExitCode::SUCCESS;
    }

    let trace =
        std::env::var_os("TRACE_BIN").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_trace")));
    let oracle = trace.file_name().is_some_and(|n| n.to_string_lossy().starts_with("bpftrace"));
    // target/<profile>/trace → target/test-targets
    let target_dir = Path::new(env!("CARGO_BIN_EXE_trace")).parent().and_then(Path::parent).unwrap_or(manifest);
    let targets = target_dir.join("test-targets");

    let vm_time_scale = match vm::time_scale() {
        Ok(scale) => scale,
        Err(e) => {
            println!("{e}");
            return ExitCode::FAILURE;
        }
    };
    // Decided once: without root or BPF only UNPRIVILEGED cases run (see
    // run::skip_reason); targets that do not build fail every case that runs.
    let env = Env {
        trace,
        targets: targets.clone(),
        scripts: manifest.join("tests/scripts"),
        oracle,
        no_kernel: kernel_unavailable(),
        time_scale: if vm::inside() { vm_time_scale } else { 1 },
    };
    if vm::inside() {
        // In the guest, for the host's harness: the targets are built.
        return vm::run_inside(&cases, &env);
    }
    let suite_kernel = std::env::var(vm::SUITE_KERNEL).ok().filter(|k| !k.is_empty());
    println!(
        "running {} script cases with {}{}{}",
        cases.len(),
        env.trace.display(),
        if oracle { " (oracle mode)" } else { "" },
        suite_kernel.as_ref().map_or(String::new(), |k| format!(" on kernel {k} ({}={k})", vm::SUITE_KERNEL)),
    );
    // Cases on another kernel run in its VM, as root there.
    let mut batches: BTreeMap<String, Vec<&(String, Case)>> = BTreeMap::new();
    let mut on_host = Vec::new();
    let mut left_out = Vec::new();
    for entry in &cases {
        if let (Some(kernel), Some(why)) = (&suite_kernel, &entry.1.host_kernel) {
            left_out.push(format!(
                "{} ({}:{}) on {kernel} ... left out (HOST_KERNEL: {why})",
                entry.1.name, entry.0, entry.1.line
            ));
            continue;
        }
        match vm::kernel_of(&entry.1, suite_kernel.as_deref()) {
            Some(kernel) => batches.entry(kernel).or_default().push(entry),
            None => on_host.push(entry),
        }
    }
    let runnable = on_host.iter().filter(|(_, case)| run::skip_reason(case, &env).is_none()).count();
    let mut blocked = None;
    if runnable > 0 || !batches.is_empty() {
        match build_targets(&manifest.join("tests/targets"), &targets) {
            Ok(built) => println!("built {} targets into {}", built, targets.display()),
            Err(e) => {
                println!("{e}");
                blocked = Some(format!("    targets failed to build: {}\n", e.lines().next().unwrap_or("")));
            }
        }
    }
    if let Some(why) = &env.no_kernel {
        println!("note: {why}: {runnable} of {} cases can run (UNPRIVILEGED), the others are skipped", on_host.len());
    } else if !Path::new("/sys/kernel/tracing/events").exists() {
        println!("note: tracefs is not mounted at /sys/kernel/tracing (tracepoint cases rely on trace mounting it)");
    }

    let mut tally = Tally { ci, passed: 0, failed, skipped: 0, failures };
    for (file, case) in on_host {
        let label = format!("{} ({file}:{})", case.name, case.line);
        let started = Instant::now();
        let outcome = match (run::skip_reason(case, &env), &blocked) {
            (Some(why), _) => Outcome::Skip(why),
            (None, Some(report)) => Outcome::Fail(report.clone()),
            (None, None) => run::run_case(case, &env),
        };
        tally.record(&label, &case.name, outcome, started.elapsed().as_secs_f64());
    }
    let host = vm::Host {
        runner: manifest.join("tests/vm/run-in-kernel.sh"),
        cache: target_dir.join("vm"),
        cwd: manifest,
        trace_bin: std::env::var_os("TRACE_BIN"),
        time_scale: vm_time_scale,
    };
    for line in &left_out {
        println!("case {line}");
    }
    for (kernel, batch) in &batches {
        let label = |i: usize| format!("{} ({}:{}) on {kernel}", batch[i].1.name, batch[i].0, batch[i].1.line);
        if let Some(report) = &blocked {
            for (i, (_, case)) in batch.iter().enumerate() {
                tally.record(&label(i), &case.name, Outcome::Fail(report.clone()), 0.0);
            }
            continue;
        }
        let batch_cases: Vec<&Case> = batch.iter().map(|(_, case)| case).collect();
        vm::run_batch(&host, kernel, &batch_cases, |i, outcome, secs| {
            tally.record(&label(i), &batch[i].1.name, outcome, secs)
        });
    }
    let Tally { passed, failed, skipped, failures, .. } = tally;

    if !failures.is_empty() {
        println!("\nfailures:");
        for f in &failures {
            println!("    {f}");
        }
    }
    if let (Some(why), true) = (&env.no_kernel, skipped > 0) {
        println!("\nnote: {skipped} cases need root and BPF and were skipped: {why}");
    }
    let left_out = match left_out.len() {
        0 => String::new(),
        n => format!(" ({n} left out: HOST_KERNEL)"),
    };
    println!("\n{passed} passed, {failed} failed, {skipped} skipped{left_out}");
    if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// The counts and the failures' names, as the cases finish.
struct Tally {
    /// CI=true: a skip counts as a failure.
    ci: bool,
    passed: usize,
    failed: usize,
    skipped: usize,
    failures: Vec<String>,
}

impl Tally {
    fn record(&mut self, label: &str, name: &str, outcome: Outcome, secs: f64) {
        match outcome {
            Outcome::Pass => {
                println!("case {label} ... ok ({secs:.2}s)");
                self.passed += 1;
            }
            Outcome::Skip(reason) if self.ci => {
                println!("case {label} ... FAILED: skipped in CI ({reason})");
                self.failures.push(name.to_string());
                self.failed += 1;
            }
            Outcome::Skip(reason) => {
                println!("case {label} ... skipped ({reason})");
                self.skipped += 1;
            }
            Outcome::Fail(report) => {
                println!("case {label} ... FAILED ({secs:.2}s)\n{report}");
                self.failures.push(name.to_string());
                self.failed += 1;
            }
        }
    }
}

fn test_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|e| e == "test")).collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// Why programs cannot be loaded here, or None if they can: root, and the
/// bpf() syscall answering a map creation (the cheapest proof that BPF works).
fn kernel_unavailable() -> Option<String> {
    let uid = sys::euid();
    if uid != 0 {
        return Some(format!("not root (euid {uid})"));
    }
    match sys::bpf_map_create() {
        Ok(()) => None,
        Err(e) => Some(format!("BPF unavailable: bpf(BPF_MAP_CREATE) failed: {e}")),
    }
}

/// Builds every tests/targets/lib/*.c as `libNAME.so` (-O0), then every
/// tests/targets/*.c at -O0 and -O2.  A target's header comment may add
/// arguments to its builds (`trace-build: -L. -lstackslib`) and ask for
/// variants (`trace-variant: nopie -no-pie` builds `NAME-nopie` and
/// `NAME-O2-nopie` with `-no-pie` too).  Built to a temporary name and
/// renamed, so a leftover process running the old binary does not make the
/// build fail with ETXTBSY.
fn build_targets(src: &Path, out: &Path) -> Result<usize, String> {
    std::fs::create_dir_all(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let c_files = |dir: &Path| -> Result<Vec<PathBuf>, String> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "c"))
            .collect();
        files.sort();
        Ok(files)
    };
    let stem_of = |p: &Path| p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let mut built = 0;
    for source in c_files(&src.join("lib"))? {
        let name = format!("lib{}.so", stem_of(&source));
        let args = ["-shared", "-fPIC", "-g", "-O0", "-fno-omit-frame-pointer", "-Wall"].map(String::from);
        gcc(&args, &source, out, &name)?;
        built += 1;
    }
    for source in c_files(src)? {
        let stem = stem_of(&source);
        let text = std::fs::read_to_string(&source).map_err(|e| format!("cannot read {}: {e}", source.display()))?;
        let directive = |key: &str| -> Vec<String> {
            text.lines()
                .filter_map(|l| l.trim_start_matches([' ', '*']).strip_prefix(key))
                .map(str::to_string)
                .collect()
        };
        let mut variants = vec![(String::new(), Vec::new())];
        for v in directive("trace-variant:") {
            let mut words = v.split_whitespace().map(String::from);
            let suffix = words.next().map(|s| format!("-{s}")).unwrap_or_default();
            variants.push((suffix, words.collect()));
        }
        for (suffix, variant_args) in &variants {
            for (opt, name) in [("-O0", format!("{stem}{suffix}")), ("-O2", format!("{stem}-O2{suffix}"))] {
                let mut args: Vec<String> = ["-g", opt, "-fno-omit-frame-pointer", "-Wall"].map(String::from).to_vec();
                args.extend(variant_args.iter().cloned());
                gcc(&args, &source, out, &name)?;
                built += 1;
            }
        }
    }
    Ok(built)
}

/// `gcc ARGS -o NAME SOURCE BUILD` in `out`, BUILD being the source's
/// `trace-build` arguments (after the source, as libraries must be).
fn gcc(args: &[String], source: &Path, out: &Path, name: &str) -> Result<(), String> {
    let text = std::fs::read_to_string(source).unwrap_or_default();
    let extra: Vec<&str> = text
        .lines()
        .filter_map(|l| l.trim_start_matches([' ', '*']).strip_prefix("trace-build:"))
        .flat_map(str::split_whitespace)
        .collect();
    // Per process: CI's shards build the same targets side by side.
    let tmp = format!(".{name}.{}.tmp", std::process::id());
    let result = Command::new("gcc")
        .current_dir(out)
        .args(args)
        .arg("-o")
        .arg(&tmp)
        .arg(source)
        .args(&extra)
        .output()
        .map_err(|e| format!("cannot run gcc to build the targets: {e}"))?;
    if !result.status.success() {
        return Err(format!(
            "gcc {} {} failed:\n{}",
            args.join(" "),
            source.display(),
            String::from_utf8_lossy(&result.stderr)
        ));
    }
    std::fs::rename(out.join(&tmp), out.join(name)).map_err(|e| format!("cannot install {name}: {e}"))
}
