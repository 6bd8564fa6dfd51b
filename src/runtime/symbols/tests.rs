//! The symbolizer against live processes built with gcc (PIE, fixed-address,
//! a shared library, libc and its debug file), against the test process
//! itself (timing), and against the running kernel.
//!
//! Expected addresses are computed here independently of the code under
//! test: symbol values from `nm`, segments from `readelf`, and the load
//! bias from the first line of the file in `/proc/PID/maps` (the first
//! `PT_LOAD`, at file offset 0, mapped at `bias + p_vaddr`).

use super::*;
use crate::frontend::elf::test_support::{build_library, compile_c, readelf_loads};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};

const SLEEPER_C: &str = r#"
#include <stdio.h>
#include <unistd.h>
int global_var = 7;
static char big_bss[1 << 16];
extern int db_snapshot(int);
int __attribute__((noinline)) sleeper_fn(int x) { return x + global_var + big_bss[x]; }
int main(void) {
    printf("%d\n", sleeper_fn(0) + db_snapshot(0));
    fflush(stdout);
    pause();
    return 0;
}
"#;

/// The sleeper, linked against `libdbt.so` (from `build_library`), built
/// once per test process (tests run it concurrently).
fn build_sleeper(pie: bool) -> PathBuf {
    static PIE: OnceLock<PathBuf> = OnceLock::new();
    static FIXED: OnceLock<PathBuf> = OnceLock::new();
    // Both variants write sleeper.c: one at a time.
    static SOURCE: Mutex<()> = Mutex::new(());
    let build = || {
        let _one = SOURCE.lock().unwrap_or_else(|e| e.into_inner());
        let lib = build_library();
        let dir = lib.parent().unwrap().to_str().unwrap().to_string();
        let (out, flags) =
            if pie { ("sleeper-pie", ["-pie", "-fPIE"]) } else { ("sleeper-fixed", ["-no-pie", "-fno-pie"]) };
        let rpath = format!("-Wl,-rpath,{dir}");
        let mut args: Vec<&str> = flags.to_vec();
        args.extend(["-L", &dir, "-ldbt", &rpath]);
        compile_c("sleeper.c", SLEEPER_C, out, &args)
    };
    if pie { PIE.get_or_init(build) } else { FIXED.get_or_init(build) }.clone()
}

/// A running sleeper, killed when dropped.
struct Running(Child);

impl Running {
    fn start(exe: &Path) -> Running {
        let mut child = Command::new(exe).stdout(Stdio::piped()).spawn().expect("start the sleeper");
        // Its first line says it has started (and its libraries are mapped).
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
        assert!(!line.is_empty(), "the sleeper printed nothing");
        Running(child)
    }

    fn pid(&self) -> u32 {
        self.0.id()
    }

    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `nm`'s value of `name` (any symbol type) in `path`.
fn nm(path: &Path, name: &str) -> u64 {
    let out = Command::new("nm").arg(path).output().expect("run nm").stdout;
    String::from_utf8_lossy(&out)
        .lines()
        .find_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            (w.len() == 3 && w[2] == name).then(|| u64::from_str_radix(w[0], 16).unwrap())
        })
        .unwrap_or_else(|| panic!("{name} in {}", path.display()))
}

/// Where `path` is mapped in `pid`: (the path as maps shows it, load bias).
fn bias(pid: u32, path: &Path) -> (String, u64) {
    let canonical = std::fs::canonicalize(path).unwrap();
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
    let line = maps
        .lines()
        .find(|l| l.ends_with(canonical.to_str().unwrap()))
        .unwrap_or_else(|| panic!("{} mapped in {pid}", path.display()));
    let w: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(w[2], "00000000", "the first mapping is at offset 0");
    let start = u64::from_str_radix(w[0].split('-').next().unwrap(), 16).unwrap();
    let first_load = readelf_loads(path).into_iter().find(|&(_, _, off)| off == 0).expect("a PT_LOAD at offset 0");
    (w[5].to_string(), start - first_load.0)
}

/// What `user` should say: (symbol, offset, module).
fn expect(f: &Frame) -> (Option<&str>, u64, Option<&str>) {
    (f.symbol.as_deref(), f.offset, f.module.as_deref())
}

#[test]
fn pie_fixed_and_library_frames_before_and_after_exit() {
    let lib = build_library();
    for pie in [true, false] {
        let exe = build_sleeper(pie);
        let mut run = Running::start(&exe);
        let pid = run.pid();
        let mut s = Symbolizer::new();
        s.note_process(pid);
        let (exe_shown, exe_bias) = bias(pid, &exe);
        let (lib_shown, lib_bias) = bias(pid, &lib);
        if !pie {
            assert_eq!(exe_bias, 0, "a fixed-address executable runs at its link-time addresses");
        }
        let at = |bias: u64, file: &Path, name: &str, off: u64| bias + nm(file, name) + off;
        let cases = [
            (at(exe_bias, &exe, "sleeper_fn", 3), "sleeper_fn", 3, &exe_shown),
            (at(exe_bias, &exe, "main", 0), "main", 0, &exe_shown),
            (at(exe_bias, &exe, "global_var", 2), "global_var", 2, &exe_shown),
            // Past the file's last page: the anonymous mapping after it.
            (at(exe_bias, &exe, "big_bss", 0xf000), "big_bss", 0xf000, &exe_shown),
            (at(lib_bias, &lib, "db_snapshot", 5), "db_snapshot", 5, &lib_shown),
            (at(lib_bias, &lib, "static_helper", 1), "static_helper", 1, &lib_shown),
            (at(lib_bias, &lib, "db_counter", 0), "db_counter", 0, &lib_shown),
        ];
        for (addr, name, off, module) in &cases {
            let f = s.user(pid, *addr);
            assert_eq!(expect(&f), (Some(*name), *off, Some(module.as_str())), "pie={pie} {addr:#x}");
            assert_eq!(f.addr, *addr);
        }
        run.kill();
        // New addresses (not cached) in the snapshot taken while it ran.
        for (addr, name, off, module) in &cases {
            let f = s.user(pid, addr + 1);
            assert_eq!(expect(&f), (Some(*name), off + 1, Some(module.as_str())), "pie={pie} after exit");
        }
        assert_eq!(s.user(pid, 0x10), Frame::unknown(0x10), "in no mapping");
    }
}

#[test]
fn unnoted_processes_and_libraries_loaded_later() {
    let exe = build_sleeper(true);
    let lib = build_library();
    let run = Running::start(&exe);
    let pid = run.pid();
    let (_, lib_bias) = bias(pid, &lib);
    let addr = lib_bias + nm(&lib, "db_log_rotate") + 4;

    // Never noted: its map is read on first use.
    let mut s = Symbolizer::new();
    assert_eq!(s.user(pid, addr).symbol.as_deref(), Some("db_log_rotate"));

    // A library loaded after the snapshot (as with dlopen): the map is read
    // again for an address outside it.
    let mut s = Symbolizer::new();
    s.note_process(pid);
    let p = s.processes.get_mut(&pid).unwrap();
    p.maps.retain(|m| m.file.as_ref().is_none_or(|f| !f.path.ends_with("libdbt.so")));
    p.read_at = None;
    assert_eq!(expect(&s.user(pid, addr)).0, Some("db_log_rotate"));
    // ... but not again and again for addresses in no mapping.
    let p = s.processes.get_mut(&pid).unwrap();
    p.read_at = Some(Instant::now() + Duration::from_secs(3600));
    p.maps.clear();
    assert_eq!(s.user(pid, addr + 1), Frame::unknown(addr + 1));
}

#[test]
fn a_deleted_executable_is_read_while_it_runs() {
    let root = if crate::sys::euid() == 0 { Ok(()) } else { Err("not root".to_string()) };
    if crate::testing::skip_unless(root, "/proc/PID/map_files (needs root)") {
        return;
    }
    // A copy, deleted once started: /proc/PID/maps shows `PATH (deleted)`.
    let exe = build_sleeper(true);
    let copy = exe.with_file_name("sleeper-deleted");
    std::fs::copy(&exe, &copy).unwrap();
    let mut run = Running::start(&copy);
    let pid = run.pid();
    let (shown, bias) = bias(pid, &copy);
    std::fs::remove_file(&copy).unwrap();
    let addr = bias + nm(&exe, "sleeper_fn") + 2;
    let mut s = Symbolizer::new();
    s.note_process(pid);
    run.kill();
    // Named after the process is gone: the file was opened through
    // /proc/PID/map_files when the process was noted.
    let f = s.user(pid, addr);
    assert_eq!(expect(&f), (Some("sleeper_fn"), 2, Some(format!("{shown} (deleted)").as_str())));
}

#[test]
fn stripped_libc_names_local_functions_from_its_debug_file() {
    let exe = build_sleeper(true);
    let run = Running::start(&exe);
    let pid = run.pid();
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
    let libc = maps.lines().find_map(|l| l.split_whitespace().nth(5).filter(|p| p.contains("/libc.so"))).unwrap();
    let libc = Path::new(libc);
    let Some(debug) = crate::frontend::dwarf::debug_file_of(libc) else {
        crate::diag::stderr_line("skipping: libc has no separate debug file here (libc6-dbg)");
        return;
    };
    let (shown, bias) = bias(pid, libc);
    let mut s = Symbolizer::new();
    s.note_process(pid);
    // Only in the debug file's .symtab: libc.so.6 itself is stripped.
    let f = s.user(pid, bias + nm(&debug, "__libc_start_call_main") + 10);
    assert_eq!(expect(&f), (Some("__libc_start_call_main"), 10, Some(shown.as_str())));
    // Exported functions resolve too, under the name programs call them by.
    let out = Command::new("nm").args(["-D", "--defined-only"]).arg(libc).output().unwrap().stdout;
    let pause = String::from_utf8_lossy(&out)
        .lines()
        .find_map(|l| l.strip_suffix(" W pause@@GLIBC_2.2.5").map(|a| u64::from_str_radix(a, 16).unwrap()))
        .expect("pause in libc's dynamic symbols");
    // Weak `pause` over local `__libc_pause` at one address; global
    // `malloc` over global `__libc_malloc` (fewer leading underscores).
    assert_eq!(expect(&s.user(pid, bias + pause + 1)).0, Some("pause"));
    assert_eq!(expect(&s.user(pid, bias + nm(&debug, "__libc_malloc") + 1)).0, Some("malloc"));
}

#[test]
fn ten_thousand_addresses_of_this_binary() {
    // The test binary: tens of thousands of (mostly Rust) symbols.
    let pid = std::process::id();
    let maps = process::read_maps(pid).unwrap();
    // The mapping holding this function's code: the test binary's text.
    let here = ten_thousand_addresses_of_this_binary as *const () as u64;
    let text = maps.iter().find(|m| m.start <= here && here < m.end).expect("the test binary's text mapping");
    let step = ((text.end - text.start) / 10_000).max(1);
    let addrs: Vec<u64> = (0..10_000).map(|i| text.start + i * step).filter(|&a| a < text.end).collect();
    let mut s = Symbolizer::new();
    s.note_process(pid);
    let start = Instant::now();
    let named = addrs.iter().filter(|&&a| s.user(pid, a).symbol.is_some()).count();
    let first = start.elapsed();
    let start = Instant::now();
    let again = addrs.iter().filter(|&&a| s.user(pid, a).symbol.is_some()).count();
    let cached = start.elapsed();
    assert_eq!(named, again);
    assert!(named > addrs.len() / 2, "{named} of {} addresses named", addrs.len());
    // Generous for an unoptimised build on a loaded machine; the release
    // build takes a few milliseconds.
    assert!(first < Duration::from_secs(5), "{} addresses took {first:?}", addrs.len());
    assert!(cached < first, "cached {cached:?}, first {first:?}");
}

#[test]
fn kernel_addresses_from_kallsyms() {
    if crate::frontend::kfuncs::skip_without_kallsyms() {
        return;
    }
    let vfs_read = crate::frontend::kfuncs::kernel_address("vfs_read").unwrap().expect("vfs_read");
    let mut s = Symbolizer::new();
    let f = s.kernel(vfs_read + 4);
    assert_eq!(f, Frame { addr: vfs_read + 4, symbol: Some(Rc::from("vfs_read")), offset: 4, module: None });
    let again = s.kernel(vfs_read + 4);
    assert!(Rc::ptr_eq(f.symbol.as_ref().unwrap(), again.symbol.as_ref().unwrap()), "cached");
    assert_eq!(s.kernel(0x1000), Frame::unknown(0x1000), "a user-space address");
    // ~200k text symbols on a distribution kernel: a few MB.
    let table = s.kernel.as_ref().unwrap();
    assert!(
        table.len() > 1000 && table.heap_bytes() < 64 << 20,
        "{} entries, {} bytes",
        table.len(),
        table.heap_bytes()
    );
}
