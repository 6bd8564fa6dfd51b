//! The binaries the fuzz targets read, built from `tests/targets/` into
//! `target/fuzz-targets/` (a directory of their own, so the script cases'
//! `target/test-targets/` is left alone):
//!
//! * every `tests/targets/*.c` as `NAME` (`-O0`) and `NAME-O2`, with
//!   `-g -fno-omit-frame-pointer`, as `tests/scripts.rs` builds them, so
//!   the corpus programs' `./db`, `./usdt-O2`, ... resolve;
//! * `libusdtlib.so` from `tests/targets/lib/usdtlib.c` (a shared library
//!   with a USDT note) and `libstackslib.so`, which `stacks` links;
//! * `db` with compressed DWARF three ways: `db-gz` (`SHF_COMPRESSED`,
//!   zlib), `db-zstd` (the same, zstd, by objcopy) and `db-zdebug` (GNU
//!   `.zdebug_*` sections);
//! * `db-stripped` without DWARF and `db.debug` with only DWARF, joined by a
//!   `.gnu_debuglink`.
//!
//! A binary is rebuilt when it is older than its source or than the fuzz
//! binary itself (so a change of the recipes below rebuilds everything).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

/// The binaries the `files` target mutates, by name in the build directory.
pub const MUTATED: &[&str] = &[
    "db",
    "db-O2",
    "types-O2",
    "usdt",
    "usdt-O2",
    "loop",
    "libusdtlib.so",
    "db-gz",
    "db-zstd",
    "db-zdebug",
    "db-stripped",
    "db.debug",
];

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Runs `program args...` in `dir`, failing with its stderr.
fn run(dir: &Path, program: &str, args: &[&str]) -> Result<(), String> {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .map_err(|e| format!("cannot run {program} (the fuzz targets need gcc and binutils): {e}"))?;
    if !out.status.success() {
        return Err(format!("{program} {} failed:\n{}", args.join(" "), String::from_utf8_lossy(&out.stderr)));
    }
    Ok(())
}

/// One output, its inputs, and the commands that make it (`{out}` is the
/// temporary output name, renamed into place when all succeed).
struct Recipe {
    out: String,
    inputs: Vec<PathBuf>,
    steps: Vec<(&'static str, Vec<String>)>,
}

fn recipes(src: &Path, dir: &Path) -> Result<Vec<Recipe>, String> {
    let mut sources: Vec<PathBuf> = std::fs::read_dir(src)
        .map_err(|e| format!("cannot read {}: {e}", src.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "c"))
        .collect();
    sources.sort();
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let mut out = Vec::new();
    // Libraries first: a target may link one (`trace-build:` in its header,
    // as tests/scripts.rs reads it).
    for lib in ["usdtlib", "stackslib"] {
        let source = src.join(format!("lib/{lib}.c"));
        let lib_args = s(&["-shared", "-fPIC", "-g", "-o", "{out}", &source.display().to_string()]);
        out.push(Recipe { out: format!("lib{lib}.so"), inputs: vec![source], steps: vec![("gcc", lib_args)] });
    }
    for source in &sources {
        let stem = source.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let c = source.display().to_string();
        let text = std::fs::read_to_string(source).unwrap_or_default();
        let build: Vec<String> = text
            .lines()
            .filter_map(|l| l.trim_start_matches([' ', '*']).strip_prefix("trace-build:"))
            .flat_map(str::split_whitespace)
            .map(String::from)
            .collect();
        for (opt, name) in [("-O0", stem.clone()), ("-O2", format!("{stem}-O2"))] {
            let mut args = s(&["-g", opt, "-fno-omit-frame-pointer", "-Wall", "-o", "{out}", &c]);
            args.extend(build.iter().cloned());
            out.push(Recipe { out: name, inputs: vec![source.clone()], steps: vec![("gcc", args)] });
        }
    }
    let db = src.join("db.c").display().to_string();
    for (name, gz) in [("db-gz", "-gz=zlib"), ("db-zdebug", "-gz=zlib-gnu")] {
        let args = s(&["-g", gz, "-O0", "-fno-omit-frame-pointer", "-o", "{out}", &db]);
        out.push(Recipe { out: name.into(), inputs: vec![src.join("db.c")], steps: vec![("gcc", args)] });
    }
    // Made from the built `db` (and the link from `db.debug`'s CRC).
    let from = |name: &str, inputs: &[&str], steps| Recipe {
        out: name.into(),
        inputs: inputs.iter().map(|i| dir.join(i)).collect(),
        steps,
    };
    out.push(from("db-zstd", &["db"], vec![("objcopy", s(&["--compress-debug-sections=zstd", "db", "{out}"]))]));
    out.push(from("db.debug", &["db"], vec![("objcopy", s(&["--only-keep-debug", "db", "{out}"]))]));
    let strip = s(&["--strip-debug", "--add-gnu-debuglink=db.debug", "db", "{out}"]);
    out.push(from("db-stripped", &["db", "db.debug"], vec![("objcopy", strip)]));
    Ok(out)
}

/// Builds what is missing or stale into `out`; returns how many were built.
pub fn build(src: &Path, out: &Path) -> Result<usize, String> {
    std::fs::create_dir_all(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let exe = std::env::current_exe().ok().and_then(|p| modified(&p));
    let mut built = 0;
    for r in recipes(src, out)? {
        let target = out.join(&r.out);
        let newest = r.inputs.iter().filter_map(|p| modified(p)).chain(exe).max();
        if modified(&target).is_some_and(|t| newest.is_none_or(|n| t >= n)) {
            continue;
        }
        let tmp = format!(".{}.tmp", r.out);
        for (program, args) in &r.steps {
            let args: Vec<String> = args.iter().map(|a| a.replace("{out}", &tmp)).collect();
            run(out, program, &args.iter().map(String::as_str).collect::<Vec<_>>())?;
        }
        std::fs::rename(out.join(&tmp), &target).map_err(|e| format!("cannot install {}: {e}", r.out))?;
        built += 1;
    }
    Ok(built)
}
