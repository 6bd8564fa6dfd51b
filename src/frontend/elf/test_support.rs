//! Test targets built with gcc, and independent readings of them with
//! binutils, shared by the tests of `elf`, `probes`, `runtime::symbols` and
//! others.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const TARGET_C: &str = r#"
#include <stdio.h>
int db_counter = 0;
static int __attribute__((noinline)) static_helper(int x) { return x * 3 + db_counter; }
int __attribute__((noinline)) db_open(const char *p) { puts(p); return static_helper(1); }
int __attribute__((noinline)) db_snapshot(int shard) { db_counter += shard; return static_helper(shard); }
void __attribute__((noinline)) db_log_rotate(void) { db_counter++; }
int main(int argc, char **argv) { db_open(argv[0]); db_log_rotate(); return db_snapshot(argc); }
"#;

/// A directory private to this test process. Those of earlier runs
/// (whose process is gone) are removed.
pub fn temp_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        const PREFIX: &str = "trace-probes-test-";
        for e in std::fs::read_dir(std::env::temp_dir()).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(pid) = name.strip_prefix(PREFIX) {
                if !Path::new("/proc").join(pid).exists() {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        let d = std::env::temp_dir().join(format!("{PREFIX}{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("create temp dir");
        d
    })
    .clone()
}

fn gcc(out: &str, extra: &[&str]) -> PathBuf {
    compile_c("target.c", TARGET_C, out, extra)
}

/// `source` written to `file` in [`temp_dir`] (once) and compiled with
/// `gcc -g -O0 EXTRA -o OUT`; the flags come after the source, so `-l`
/// options work.
pub fn compile_c(file: &str, source: &str, out: &str, extra: &[&str]) -> PathBuf {
    let dir = temp_dir();
    let src = dir.join(file);
    if !src.exists() {
        std::fs::write(&src, source).unwrap_or_else(|e| panic!("write {file}: {e}"));
    }
    let out = dir.join(out);
    let status = Command::new("gcc").args(["-g", "-O0", "-o"]).arg(&out).arg(&src).args(extra).status();
    assert!(status.expect("run gcc").success(), "gcc {file} {extra:?} failed");
    out
}

/// The target as a PIE or a fixed-address executable, built once.
pub fn build_target(pie: bool) -> PathBuf {
    static PIE: OnceLock<PathBuf> = OnceLock::new();
    static FIXED: OnceLock<PathBuf> = OnceLock::new();
    if pie {
        PIE.get_or_init(|| gcc("db-pie", &["-pie", "-fPIE"])).clone()
    } else {
        FIXED.get_or_init(|| gcc("db-fixed", &["-no-pie", "-fno-pie"])).clone()
    }
}

/// The target as a shared library `libdbt.so`.
pub fn build_library() -> PathBuf {
    static LIB: OnceLock<PathBuf> = OnceLock::new();
    LIB.get_or_init(|| gcc("libdbt.so", &["-shared", "-fPIC"])).clone()
}

/// The target compiled but not linked.
pub fn build_object() -> PathBuf {
    static OBJ: OnceLock<PathBuf> = OnceLock::new();
    OBJ.get_or_init(|| gcc("target.o", &["-c"])).clone()
}

/// `nm`'s function symbols (`nm -D` too, for stripped files): name →
/// address, the default version (`@@`) winning for versioned names.
pub fn nm_functions(path: &Path) -> HashMap<String, u64> {
    let mut out = HashMap::new();
    for args in [&[][..], &["-D"][..]] {
        let text = Command::new("nm").args(args).arg(path).output().expect("run nm").stdout;
        for l in String::from_utf8_lossy(&text).lines() {
            let w: Vec<&str> = l.split_whitespace().collect();
            let [addr, kind, name] = w[..] else { continue };
            let Ok(addr) = u64::from_str_radix(addr, 16) else { continue };
            if !matches!(kind, "T" | "t" | "W" | "i") {
                continue;
            }
            let (base, default) = match name.split_once('@') {
                Some((b, v)) => (b, v.starts_with('@')),
                None => (name, true),
            };
            if default || !out.contains_key(base) {
                out.insert(base.to_string(), addr);
            }
        }
    }
    out
}

/// `readelf -l`'s PT_LOAD segments: (vaddr, memsz, offset).
pub fn readelf_loads(path: &Path) -> Vec<(u64, u64, u64)> {
    let out = Command::new("readelf").args(["-lW"]).arg(path).output().expect("run readelf");
    let hex = |s: &str| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.trim_start().starts_with("LOAD"))
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            Some((hex(w.get(2)?)?, hex(w.get(5)?)?, hex(w.get(1)?)?))
        })
        .collect()
}
