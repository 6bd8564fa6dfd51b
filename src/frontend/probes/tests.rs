//! Tests of attach-point expansion: every spelling, wildcards, libraries,
//! and every diagnostic with the sub-span it points at.

use super::*;
use crate::frontend::elf::test_support::{build_library, build_target, nm_functions, readelf_loads, temp_dir};
use crate::frontend::tracefs::{events, tracefs_root};
use crate::frontend::tracefs::{skip_without_tracefs, tracefs_readable};
use std::path::Path;

/// Attach points start at this offset of their (imaginary) file, so the
/// tests see that sub-spans are offset from the attach point's start.
const AT: usize = 7;

fn ap(text: &str) -> AttachPoint {
    AttachPoint { text: text.to_string(), span: Span::new(3, AT, AT + text.len()) }
}

fn ok(text: &str) -> Vec<ResolvedProbe> {
    expand(&ap(text), &ProbeContext::default()).unwrap_or_else(|d| panic!("{text}: {d:?}"))
}

/// The error, and the sub-text its primary span points at.
fn err(text: &str) -> (Diagnostic, String) {
    let d = match expand(&ap(text), &ProbeContext::default()) {
        Ok(p) => panic!("{text}: expected an error, got {p:?}"),
        Err(d) => d,
    };
    let (span, _) = d.primary.clone().expect("primary span");
    assert_eq!(span.file, 3);
    let pointed = text[span.start as usize - AT..span.end as usize - AT].to_string();
    (d, pointed)
}

fn notes(d: &Diagnostic) -> String {
    d.notes.join("\n")
}

/// File offset computed from binutils' output, independently of `elf`.
fn binutils_offset(path: &Path, func: &str) -> u64 {
    let vaddr = nm_functions(path)[func];
    let (v, _, off) = readelf_loads(path).into_iter().find(|(v, m, _)| *v <= vaddr && vaddr < v + m).unwrap();
    vaddr - v + off
}

fn uprobe(p: &ResolvedProbe) -> (&Path, &str, u64, u64, bool) {
    match &p.spec {
        ProbeSpec::Uprobe(Uprobe { binary, func, func_offset, file_offset, ret }) => {
            (binary, func, *func_offset, *file_offset, *ret)
        }
        other => panic!("not a uprobe: {other:?}"),
    }
}

#[test]
fn begin_end() {
    assert!(matches!(ok("BEGIN")[0].spec, ProbeSpec::Begin));
    assert_eq!(ok("END")[0].name, "END");
    assert_eq!(ok("END")[0].span, ap("END").span);
    let (d, at) = err("BEGIN:x");
    assert!(d.message.contains("takes no arguments"));
    assert_eq!(at, ":x");
}

#[test]
fn uprobe_spellings_and_offsets() {
    for pie in [true, false] {
        let exe = build_target(pie);
        let path = exe.to_str().unwrap();
        let want = binutils_offset(&exe, "db_snapshot");
        for (spelling, full, ret) in [
            ("uprobe", "uprobe", false),
            ("u", "uprobe", false),
            ("uretprobe", "uretprobe", true),
            ("ur", "uretprobe", true),
        ] {
            let p = ok(&format!("{spelling}:{path}:db_snapshot"));
            assert_eq!(p.len(), 1);
            assert_eq!(uprobe(&p[0]), (exe.as_path(), "db_snapshot", 0, want, ret));
            assert_eq!(p[0].name, format!("{full}:{path}:db_snapshot"));
        }
        for off in ["4", "0x4"] {
            let p = ok(&format!("uprobe:{path}:db_snapshot+{off}"));
            assert_eq!(uprobe(&p[0]).2..=uprobe(&p[0]).3, 4..=want + 4);
            assert_eq!(p[0].name, format!("uprobe:{path}:db_snapshot+4"));
        }
        // By address.
        let vaddr = nm_functions(&exe)["db_log_rotate"];
        let p = ok(&format!("uprobe:{path}:{vaddr:#x}"));
        assert_eq!(uprobe(&p[0]).3, binutils_offset(&exe, "db_log_rotate"));
    }
    let lib = build_library();
    let p = ok(&format!("uprobe:{}:db_open", lib.display()));
    assert_eq!(uprobe(&p[0]).3, binutils_offset(&lib, "db_open"));
}

#[test]
fn uprobe_paths_and_names() {
    // Relative to the current directory.
    let exe = build_target(true);
    let cwd = std::env::current_dir().unwrap();
    let up = "../".repeat(cwd.components().count() - 1);
    let rel = format!("{up}{}", exe.to_str().unwrap().trim_start_matches('/'));
    assert_eq!(uprobe(&ok(&format!("uprobe:{rel}:main"))[0]).0, exe);

    let libc = std::fs::canonicalize("/lib/x86_64-linux-gnu/libc.so.6").unwrap();
    for name in ["libc", "c", "libc.so.6"] {
        let p = ok(&format!("uprobe:{name}:malloc"));
        assert_eq!(uprobe(&p[0]).0, libc);
        assert_eq!(uprobe(&p[0]).3, binutils_offset(&libc, "malloc"));
        // The name keeps the spelling the user wrote.
        assert_eq!(p[0].name, format!("uprobe:{name}:malloc"));
    }
    let bash = std::fs::canonicalize("/bin/bash").unwrap();
    let p = ok("uprobe:bash:readline");
    assert_eq!(uprobe(&p[0]).0, bash);
    assert_eq!(uprobe(&p[0]).3, binutils_offset(&bash, "readline"));
    // With a pid, names resolve through the process's mappings.
    let ctx = ProbeContext { pid: Some(std::process::id() as i32) };
    assert_eq!(uprobe(&expand(&ap("uprobe:c:free"), &ctx).unwrap()[0]).0, libc);
}

#[test]
fn uprobe_wildcards() {
    let exe = build_target(true);
    let path = exe.to_str().unwrap();
    let p = ok(&format!("uprobe:{path}:db_*"));
    let names: Vec<&str> = p.iter().map(|p| uprobe(p).1).collect();
    assert_eq!(names, ["db_log_rotate", "db_open", "db_snapshot"]);
    for p in &p {
        assert_eq!(uprobe(p).3, binutils_offset(&exe, uprobe(p).1));
    }
    assert_eq!(uprobe(&ok(&format!("u:{path}:db_?pen"))[0]).1, "db_open");
    assert!(ok("uprobe:/bin/bash:read*").len() > 3);
}

#[test]
fn timers() {
    let period = |t: &str| match ok(t)[0].spec {
        ProbeSpec::Interval(Interval { period_ns }) => period_ns,
        ref other => panic!("{other:?}"),
    };
    assert_eq!(period("interval:s:1"), 1_000_000_000);
    assert_eq!(period("i:ms:100"), 100_000_000);
    assert_eq!(period("interval:us:500"), 500_000);
    assert_eq!(period("interval:hz:4"), 250_000_000);
    assert_eq!(ok("i:ms:100")[0].name, "interval:ms:100");
    let hz = |t: &str| match ok(t)[0].spec {
        ProbeSpec::Profile(Profile { hz }) => hz,
        ref other => panic!("{other:?}"),
    };
    assert_eq!(hz("profile:hz:99"), 99);
    assert_eq!(hz("p:ms:10"), 100);
    assert_eq!(hz("profile:s:1"), 1);
    assert_eq!(hz("profile:us:100"), 10_000);
    assert_eq!(ok("p:hz:99")[0].name, "profile:hz:99");
}

/// Every diagnostic: (attach point, part of the message, the sub-text
/// the error points at, part of the notes). `{exe}` is the test target.
#[test]
fn diagnostics() {
    let script = temp_dir().join("script.sh");
    std::fs::write(&script, "#!/bin/sh\necho hi\n").unwrap();
    let script = format!("uprobe:{}:f", script.display());
    #[rustfmt::skip]
    let cases: &[(&str, &str, &str, &str)] = &[
        ("uprob:./db:f", "unknown probe type `uprob`", "uprob", "did you mean `uprobe`?"),
        ("Begin", "unknown probe type", "Begin", "did you mean `BEGIN`?"),
        ("tracpoint:a:b", "unknown probe type", "tracpoint", "did you mean `tracepoint`?"),
        ("BEGIN:x", "takes no arguments", ":x", ""),
        // Binaries.
        ("uprobe:./no/such/db:f", "no such file", "./no/such/db", "current directory"),
        ("uprobe:/etc/passwd:f", "not an ELF file", "/etc/passwd", "executables and shared libraries"),
        (&script, "not an ELF file", &script[7..script.len() - 2], "probe its interpreter"),
        ("uprobe:no_such_prog_xyz:f", "cannot find `no_such_prog_xyz`", "no_such_prog_xyz", "$PATH"),
        ("uprobe:Cargo.toml:f", "cannot find", "Cargo.toml", "write `./Cargo.toml`"),
        ("uprobe:/usr/bin/*:main", "wildcards in the binary path", "/usr/bin/*", ""),
        // Functions.
        ("uprobe:{exe}:db_snapshto", "function `db_snapshto` not found", "db_snapshto", "did you mean `db_snapshot`?"),
        ("uprobe:{exe}:puts", "imported from a shared library", "puts", "libc.so.6:puts`"),
        ("uprobe:{exe}:db_counter", "is a data object", "db_counter", ""),
        ("uprobe:{exe}:zz*", "matches `zz*`", "zz*", "trace -l"),
        ("uprobe:{exe}:db_log_rotate+100000", "outside `db_log_rotate`", "100000", ""),
        ("uprobe:{exe}:main+zz", "invalid offset", "zz", "hex"),
        ("uretprobe:{exe}:main+4", "cannot take an offset", "+4", ""),
        ("uprobe:{exe}:db_*+4", "offset cannot be combined with a wildcard", "4", ""),
        // Missing parts point at where the part should be.
        ("uprobe:./db", "missing function name", "b", "`uprobe:./db:FUNCTION`"),
        ("uprobe:", "missing binary path and function", ":", ""),
        ("uprobe::f", "missing binary path", ":f", ""),
        ("uprobe:{exe}:", "missing function name", ":", ""),
        // Found by the fuzzer (tests/fuzz.rs): "the last byte" was inside a
        // multi-byte character, a span that points nowhere.
        ("uprobe:./db\u{feff}", "missing function name", "\u{feff}", ""),
        ("interval:s\u{e9}", "missing count", "\u{e9}", ""),
        // Tracepoints.
        ("tracepoint:syscalls:sys_enter_opnat", "unknown tracepoint `syscalls:sys_enter_opnat`", "sys_enter_opnat", "`sys_enter_openat`"),
        ("tracepoint:syscall:sys_enter_openat", "unknown tracepoint category", "syscall", "did you mean `syscalls`"),
        ("t:syscalls:zzz*", "no tracepoint matches", "syscalls:zzz*", ""),
        ("t:zzz*:x", "no tracepoint category matches", "zzz*", ""),
        ("tracepoint:sys_enter_openat", "missing event name", "t", "write `tracepoint:syscalls:sys_enter_openat`"),
        ("tracepoint:syscalls", "missing event name", "s", ""),
        ("tracepoint:syscalls:", "missing event name", ":", ""),
        ("tracepoint:a:b:c", "too many parts", ":c", ""),
        // Timers.
        ("interval:sec:1", "unknown interval unit `sec`", "sec", "units: s, ms, us, hz"),
        ("interval:s:0", "invalid interval count", "0", ""),
        ("interval:s:abc", "invalid interval count", "abc", ""),
        ("profile:xx:1", "unknown profile unit", "xx", ""),
        ("profile:hz:2000000000", "rate too high", "2000000000", ""),
        ("profile:s:2", "longer than a second", "2", "use `interval:s:2`"),
        ("interval:s", "missing count", "s", ""),
        ("interval", "missing unit and count", "l", ""),
        ("interval:s:1:2", "too many parts", ":2", ""),
        // Probe types this kernel or trace lacks.
        ("kprobe:do_sys_openat2", "kprobe probes are not", "kprobe", "`tracepoint:syscalls:sys_enter_openat`"),
        ("k:do_sys_openat2", "kprobe probes are not", "k", "`tracepoint:syscalls:sys_enter_openat`"),
        ("kretprobe:vfs_read", "kretprobe probes are not", "kretprobe", "`tracepoint:syscalls:sys_exit_read`"),
        ("kfunc:vfs_read", "kfunc probes are not", "kfunc", "`tracepoint:syscalls:sys_enter_read`"),
        ("fentry:vfs_read", "fentry probes are not", "fentry", "tracepoint:syscalls:sys_enter_*"),
        ("fexit:vmlinux:vfs_read", "fexit probes are not", "fexit", "`tracepoint:syscalls:sys_exit_read`"),
        ("kretfunc:tcp_retransmit_skb", "kretfunc probes", "kretfunc", "`tracepoint:tcp:tcp_retransmit_skb`"),
        ("software:cpu-clock:1", "software probes are not supported", "software", "profile:hz:N"),
    ];
    let exe = build_target(true);
    // Tracepoints, and the tracepoints suggested for kernel probes, come
    // from tracefs.
    let tracefs = tracefs_readable();
    let kernel_probe = |t: &str| ["t:", "tracepoint:", "k", "f"].iter().any(|p| t.starts_with(p));
    for &(text, message, pointed, note) in cases.iter().filter(|c| tracefs || !kernel_probe(c.0)) {
        let text = text.replace("{exe}", exe.to_str().unwrap());
        let (d, at) = err(&text);
        assert!(d.message.contains(message), "{text}: message {:?}", d.message);
        assert_eq!(at, pointed, "{text}: span");
        assert!(notes(&d).contains(note), "{text}: notes {:?}", d.notes);
    }
    // Why kprobes fail is machine-specific; here they are compiled out.
    let reason = notes(&err("kprobe:vfs_read").0);
    let missing = matches!(kernel::kprobes_support(), kernel::Support::Missing(_));
    assert_eq!(missing, reason.contains("CONFIG_KPROBES"), "{reason}");
}

/// Found by the fuzzer (tests/fuzz.rs): `uprobe:BIN:0x1139+18446744073709551615`
/// overflowed adding the offset (a panic with overflow checks; without, a
/// probe silently one byte before the address).
#[test]
fn an_offset_past_the_end_of_the_file_is_refused() {
    let exe = build_target(true);
    let main = crate::frontend::elf::open(&exe).unwrap().lookup("main").unwrap();
    let (d, at) = err(&format!("uprobe:{}:{:#x}+18446744073709551615", exe.display(), main.vaddr));
    assert!(d.message.contains("offset 18446744073709551615 points past the end of"), "{}", d.message);
    assert_eq!(at, "18446744073709551615");
}

#[test]
fn listing() {
    let ctx = ProbeContext::default();
    let tracefs = tracefs_readable();
    if tracefs {
        let l = list("tracepoint:syscalls:sys_enter_openat*", &ctx).unwrap();
        assert_eq!(l, ["tracepoint:syscalls:sys_enter_openat", "tracepoint:syscalls:sys_enter_openat2"]);
        assert_eq!(list("sys_enter_openat", &ctx).unwrap(), ["tracepoint:syscalls:sys_enter_openat"]);
        assert!(list("syscalls:*", &ctx).unwrap().len() > 100);
        assert!(list("", &ctx).unwrap().len() > 1000);
    }
    let exe = build_target(true);
    let path = exe.to_str().unwrap();
    assert_eq!(
        list(&format!("uprobe:{path}:db_*"), &ctx).unwrap(),
        [
            format!("uprobe:{path}:db_log_rotate"),
            format!("uprobe:{path}:db_open"),
            format!("uprobe:{path}:db_snapshot"),
        ]
    );
    assert!(list(&format!("uprobe:{path}"), &ctx).unwrap().contains(&format!("uprobe:{path}:main")));
    assert_eq!(list("BEGIN", &ctx).unwrap(), ["BEGIN"]);
    let d = list("kprobe:vfs_read", &ctx).unwrap_err();
    assert!(d.primary.is_none() && d.message.contains("kprobe"));
    assert!(list("uprobe:./no/such:f", &ctx).is_err());

    // bpftrace, where installed, is the oracle for names and order.
    let patterns = ["tracepoint:syscalls:sys_enter_open*".to_string(), format!("uprobe:{path}:*")];
    for pat in patterns.into_iter().filter(|p| tracefs || p.starts_with("uprobe")) {
        let Ok(out) = std::process::Command::new("bpftrace").args(["-l", &pat]).output() else { return };
        let theirs: Vec<String> = String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect();
        assert_eq!(list(&pat, &ctx).unwrap(), theirs, "{pat}");
    }
}

#[test]
fn diagnostics_render_on_the_source() {
    let mut map = crate::source::SourceMap::new();
    let src = "uprobe:./no/such/db:f { }";
    let file = map.add("-e", src);
    let ap = AttachPoint { text: "uprobe:./no/such/db:f".into(), span: Span::new(file, 0, 21) };
    let d = expand(&ap, &ProbeContext::default()).unwrap_err();
    let out = crate::diag::render_to_string(&map, &[d]);
    assert!(out.contains("no such file") && out.contains("^^^^^^^^^^^^"), "{out}");
}

/// `tracepoint:` attach points through `probes::expand`.
#[test]
fn attach_points() {
    if skip_without_tracefs() {
        return;
    }
    let ok = |text: &str| {
        let ap = AttachPoint { text: text.into(), span: crate::source::Span::new(0, 0, text.len()) };
        expand(&ap, &ProbeContext::default()).unwrap_or_else(|d| panic!("{text}: {d:?}"))
    };
    let p = ok("tracepoint:syscalls:sys_enter_openat");
    let id = std::fs::read_to_string(tracefs_root().unwrap().join("events/syscalls/sys_enter_openat/id"));
    match &p[0].spec {
        ProbeSpec::Tracepoint(Tracepoint { category, name, format }) => {
            assert_eq!((category.as_str(), name.as_str()), ("syscalls", "sys_enter_openat"));
            assert_eq!(format.id.to_string(), id.unwrap().trim());
            assert!(format.fields.iter().any(|f| f.name == "filename"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(p[0].name, "tracepoint:syscalls:sys_enter_openat");
    assert_eq!(ok("t:sched:sched_switch")[0].name, "tracepoint:sched:sched_switch");
    let names: Vec<String> = ok("t:syscalls:sys_enter_open*").into_iter().map(|p| p.name).collect();
    let want: Vec<String> = events("syscalls")
        .unwrap()
        .into_iter()
        .filter(|e| e.starts_with("sys_enter_open"))
        .map(|e| format!("tracepoint:syscalls:{e}"))
        .collect();
    assert!(want.len() >= 3);
    assert_eq!(names, want);
    assert_eq!(ok("tracepoint:sche?:sched_switch").len(), 1);
}
