//! Note parsing and operand decoding, checked against binutils' reading of
//! real binaries (the USDT test target built with gcc, python3.11 when
//! installed) and against hand-made notes for every operand form.

use super::operand::{decode_args, fit, parse_operand, split_size, ArgLoc, Operand, Reg, UsdtArg};
use super::*;
use crate::frontend::ast::AttachPoint;
use crate::frontend::elf::test_support::temp_dir;
use crate::frontend::libpath;
use crate::frontend::probes::{expand, list_verbose, ProbeContext, ProbeSpec, ResolvedProbe, Usdt};
use crate::source::Span;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

// ------------------------------------------------------------ registers

fn reg(name: &str) -> Reg {
    Reg::named(name).unwrap_or_else(|| panic!("register {name}"))
}

#[test]
fn registers_of_every_width() {
    // (names of one register from 64 bits down, pt_regs offset)
    let families: &[(&[&str], u16)] = &[
        (&["rax", "eax", "ax", "al"], 80),
        (&["rbx", "ebx", "bx", "bl"], 40),
        (&["rcx", "ecx", "cx", "cl"], 88),
        (&["rdx", "edx", "dx", "dl"], 96),
        (&["rsi", "esi", "si", "sil"], 104),
        (&["rdi", "edi", "di", "dil"], 112),
        (&["rbp", "ebp", "bp", "bpl"], 32),
        (&["rsp", "esp", "sp", "spl"], 152),
        (&["r8", "r8d", "r8w", "r8b"], 72),
        (&["r9", "r9d", "r9w", "r9b"], 64),
        (&["r10", "r10d", "r10w", "r10b"], 56),
        (&["r11", "r11d", "r11w", "r11b"], 48),
        (&["r12", "r12d", "r12w", "r12b"], 24),
        (&["r13", "r13d", "r13w", "r13b"], 16),
        (&["r14", "r14d", "r14w", "r14b"], 8),
        (&["r15", "r15d", "r15w", "r15b"], 0),
    ];
    for (names, off) in families {
        for (name, width) in names.iter().zip([8, 4, 2, 1]) {
            assert_eq!(reg(name), Reg { pt_regs_offset: *off, width, shift: 0 }, "%{name}");
        }
    }
    for (name, off) in [("ah", 80), ("bh", 40), ("ch", 88), ("dh", 96)] {
        assert_eq!(reg(name), Reg { pt_regs_offset: off, width: 1, shift: 8 }, "%{name}");
    }
    assert_eq!(reg("r13l"), reg("r13b"));
    assert!(reg("rip").is_ip());
    for bad in ["r16", "r7", "sih", "xmm0", "eip", "r8q", "", "rr8"] {
        assert_eq!(Reg::named(bad), None, "%{bad}");
    }
}

// ------------------------------------------------------------- operands

#[test]
fn sizes() {
    assert_eq!(split_size("-4@%eax"), Ok((4, true, false, "%eax")));
    assert_eq!(split_size("8@-20(%rbp)"), Ok((8, false, false, "-20(%rbp)")));
    assert_eq!(split_size("1@$0"), Ok((1, false, false, "$0")));
    assert_eq!(split_size("-2@%ax"), Ok((2, true, false, "%ax")));
    assert_eq!(split_size("8f@%xmm0"), Ok((8, false, true, "%xmm0")));
    assert_eq!(split_size("-4f@-4(%rbp)"), Ok((4, true, true, "-4(%rbp)")));
    // Old notes without sizes: an unsigned long.
    assert_eq!(split_size("%rdi"), Ok((8, false, false, "%rdi")));
    assert!(split_size("3@%eax").is_err());
    assert!(split_size("16@%eax").is_err());
}

#[test]
fn operand_forms() {
    let mem = |disp: i64, symbol: Option<&str>, base: Option<&str>, index: Option<(&str, u8)>| Operand::Mem {
        disp,
        symbol: symbol.map(str::to_string),
        base: base.map(reg),
        index: index.map(|(r, s)| (reg(r), s)),
    };
    let cases: Vec<(&str, Operand)> = vec![
        ("%r12", Operand::Reg(reg("r12"))),
        ("%eax", Operand::Reg(reg("eax"))),
        ("%ah", Operand::Reg(reg("ah"))),
        ("$0", Operand::Imm(0)),
        ("$-16", Operand::Imm(-16)),
        ("$0x10", Operand::Imm(16)),
        ("$8192", Operand::Imm(8192)),
        ("$0xffffffffffffffff", Operand::Imm(-1)),
        ("-20(%rbp)", mem(-20, None, Some("rbp"), None)),
        ("152(%rbx)", mem(152, None, Some("rbx"), None)),
        ("(%r12)", mem(0, None, Some("r12"), None)),
        ("0(%r13)", mem(0, None, Some("r13"), None)),
        ("0x18(%rsp)", mem(0x18, None, Some("rsp"), None)),
        ("-4(%rbp,%rax,4)", mem(-4, None, Some("rbp"), Some(("rax", 4)))),
        ("(%rdx,%rax,4)", mem(0, None, Some("rdx"), Some(("rax", 4)))),
        ("(%rbx,%rcx)", mem(0, None, Some("rbx"), Some(("rcx", 1)))),
        ("8(%rbx, %rcx, 2)", mem(8, None, Some("rbx"), Some(("rcx", 2)))),
        ("foo(%rip)", mem(0, Some("foo"), Some("rip"), None)),
        ("foo+24(%rip)", mem(24, Some("foo"), Some("rip"), None)),
        ("52+CheckpointStats(%rip)", mem(52, Some("CheckpointStats"), Some("rip"), None)),
        ("foo-8(%rip)", mem(-8, Some("foo"), Some("rip"), None)),
        ("0x10(%rip)", mem(16, None, Some("rip"), None)),
        ("table(,%rax,8)", mem(0, Some("table"), None, Some(("rax", 8)))),
        ("_ZN3foo3barE.lto_priv.0(%rip)", mem(0, Some("_ZN3foo3barE.lto_priv.0"), Some("rip"), None)),
        ("0x601040", mem(0x601040, None, None, None)),
        ("foo", mem(0, Some("foo"), None, None)),
    ];
    for (text, want) in cases {
        assert_eq!(parse_operand(text), Ok(want), "{text}");
    }
    for (bad, why) in [
        ("%fs:0x28", "segment"),
        ("%xmm0", "floating-point"),
        ("%zz", "unknown register"),
        ("4(%rbp,%rax,3)", "scale"),
        ("foo+bar(%rip)", "displacement"),
        ("-foo(%rip)", "displacement"),
        ("(%rax", "parentheses"),
        ("()", "empty"),
        ("$foo", "immediate"),
        ("(%rip,%rax,8)", "%rip"),
        ("(%eax,%rip)", "%rip"),
        ("8(rax)", "not a register"),
        ("", "empty"),
    ] {
        let e = parse_operand(bad).expect_err(bad);
        assert!(e.contains(why), "{bad}: {e}");
    }
}

#[test]
fn fitting_values_to_their_declared_size() {
    assert_eq!(fit(4294967295, 4, true), -1);
    assert_eq!(fit(-1, 4, false), 4294967295);
    assert_eq!(fit(255, 1, true), -1);
    assert_eq!(fit(0x1ff, 1, false), 255);
    assert_eq!(fit(-16, 8, true), -16);
    assert_eq!(fit(0x18081, 2, true), -32639);
}

#[test]
fn decoding_resolves_symbols_and_rip() {
    const PROBE: u64 = 0x1234;
    let symbols = |name: &str| match name {
        "foo" => Some(0x4010),
        "CheckpointStats" => Some(0x9000),
        _ => None,
    };
    let args = decode_args(
        "-4@%eax 8@-20(%rbp) 8@foo(%rip) -4@52+CheckpointStats(%rip) 8@0x10(%rip) 1@$256 -4@$4294967295 \
         8@foo(,%rax,8) 8@%rip 8@bar(%rip) 8f@%xmm1 3@%eax 8@%fs:0x28",
        PROBE,
        &symbols,
    );
    let locs: Vec<&ArgLoc> = args.iter().map(|a| &a.loc).collect();
    assert_eq!(args[0], UsdtArg { text: "-4@%eax".into(), size: 4, signed: true, loc: ArgLoc::Reg(reg("eax")) });
    assert_eq!(*locs[1], ArgLoc::Mem { base: Some(reg("rbp")), index: None, disp: -20, relocated: false });
    assert_eq!(*locs[2], ArgLoc::Mem { base: None, index: None, disp: 0x4010, relocated: true });
    assert_eq!(*locs[3], ArgLoc::Mem { base: None, index: None, disp: 0x9034, relocated: true });
    // N(%rip) is relative to the probe's own address.
    assert_eq!(*locs[4], ArgLoc::Mem { base: None, index: None, disp: 0x1244, relocated: true });
    // Constants are cut to their declared size.
    assert_eq!(*locs[5], ArgLoc::Const(0));
    assert_eq!(*locs[6], ArgLoc::Const(-1));
    assert_eq!(*locs[7], ArgLoc::Mem { base: None, index: Some((reg("rax"), 8)), disp: 0x4010, relocated: true });
    assert_eq!(*locs[8], ArgLoc::Reg(reg("rip")));
    for (i, why) in [(9, "symbol `bar`"), (10, "floating-point"), (11, "size"), (12, "segment")] {
        match locs[i] {
            ArgLoc::Unsupported(e) => assert!(e.contains(why), "{}: {e}", args[i].text),
            other => panic!("{}: {other:?}", args[i].text),
        }
    }
    assert_eq!(args[0].type_name(), "int32");
    assert_eq!(args[1].type_name(), "uint64");
    assert!(decode_args("", PROBE, &symbols).is_empty());
}

// ----------------------------------------------------------------- notes

fn desc(addr_size: usize, le: bool, addrs: [u64; 3], strings: &[&str]) -> Vec<u8> {
    let mut d = Vec::new();
    for a in addrs {
        match (addr_size, le) {
            (8, true) => d.extend(a.to_le_bytes()),
            (8, false) => d.extend(a.to_be_bytes()),
            (_, true) => d.extend((a as u32).to_le_bytes()),
            (_, false) => d.extend((a as u32).to_be_bytes()),
        }
    }
    for s in strings {
        d.extend(s.as_bytes());
        d.push(0);
    }
    d
}

#[test]
fn note_descriptions() {
    for (size, le) in [(8, true), (8, false), (4, true), (4, false)] {
        let d = desc(size, le, [0x1139, 0x2004, 0x4010], &["db", "checkpoint", "-4@%eax 8@%rdx"]);
        let n = parse_note_desc(&d, size, le).expect("parses");
        assert_eq!(
            n,
            RawNote {
                pc: 0x1139,
                base: 0x2004,
                semaphore: 0x4010,
                provider: "db".into(),
                name: "checkpoint".into(),
                args: "-4@%eax 8@%rdx".into(),
            }
        );
    }
    // No arguments: the string may be empty or missing.
    let d = desc(8, true, [1, 2, 0], &["p", "n", ""]);
    assert_eq!(parse_note_desc(&d, 8, true).unwrap().args, "");
    let mut d = desc(8, true, [1, 2, 0], &["p", "n"]);
    assert_eq!(parse_note_desc(&d, 8, true).unwrap().name, "n");
    // Truncated, unterminated or nameless: rejected with the reason, never
    // a panic.
    let err = |d: &[u8], size: usize| parse_note_desc(d, size, true).expect_err("malformed");
    d.truncate(20);
    assert_eq!(err(&d, 8), "20 bytes, too short for its three 8-byte addresses");
    assert_eq!(err(&[], 8), "0 bytes, too short for its three 8-byte addresses");
    assert_eq!(err(&desc(8, true, [1, 2, 0], &["", "n"]), 8), "an empty provider");
    assert_eq!(err(&desc(8, true, [1, 2, 0], &["p", ""]), 8), "an empty probe name");
    assert_eq!(err(&desc(8, true, [1, 2, 0], &["p", "n"]), 3), "addresses of 3 bytes");
    let mut d = desc(4, true, [1, 2, 0], &["p", "n", "8@%rdi"]);
    d.pop();
    assert_eq!(err(&d, 4), "the argument string has no terminating NUL");
    d.truncate(d.len() - 7);
    assert_eq!(err(&d, 4), "the probe name has no terminating NUL");
    d.truncate(13);
    assert_eq!(err(&d, 4), "the provider has no terminating NUL");
    let mut latin1 = desc(8, true, [1, 2, 0], &["p", "n"]);
    latin1[24] = 0xe9;
    assert_eq!(err(&latin1, 8), "the provider is not UTF-8");
}

/// `readelf -n`'s stapsdt notes: (provider, name, pc, base, semaphore, args).
fn readelf_notes(path: &Path) -> Vec<(String, String, u64, u64, u64, String)> {
    let out = Command::new("readelf").args(["-n"]).arg(path).output().expect("run readelf");
    let text = String::from_utf8_lossy(&out.stdout);
    let hex = |s: &str| u64::from_str_radix(s.trim().trim_end_matches(',').trim_start_matches("0x"), 16).unwrap();
    let mut notes = Vec::new();
    for line in text.lines() {
        let field = |key: &str| line.find(key).map(|i| line[i + key.len()..].trim().to_string());
        if let Some(p) = field("Provider:") {
            notes.push((p, String::new(), 0, 0, 0, String::new()));
        }
        let Some(n) = notes.last_mut() else { continue };
        if let Some(v) = field("Name:") {
            n.1 = v;
        }
        if let Some(v) = field("Location:") {
            // "0x.., Base: 0x.., Semaphore: 0x.."
            let w: Vec<&str> = v.split_whitespace().collect();
            (n.2, n.3, n.4) = (hex(w[0]), hex(w[2]), hex(w[4]));
        }
        if let Some(v) = field("Arguments:") {
            n.5 = v;
        }
    }
    notes
}

fn segment_offset(path: &Path, vaddr: u64, writable: bool) -> u64 {
    let out = Command::new("readelf").args(["-lW"]).arg(path).output().expect("run readelf");
    let hex = |s: &str| u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.trim_start().starts_with("LOAD"))
        .map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        // Flags are one or two words (`R E`, `RW`) before the alignment.
        .filter(|w| w[6..w.len() - 1].concat().contains(if writable { 'W' } else { 'E' }))
        .map(|w| (hex(&w[2]), hex(&w[5]), hex(&w[1])))
        .find(|(v, m, _)| *v <= vaddr && vaddr < v + m)
        .map(|(v, _, off)| vaddr - v + off)
        .expect("address in a segment")
}

/// tests/targets/usdt.c built at `opt` (and the shared library).
pub(crate) fn build_usdt(opt: &str) -> PathBuf {
    static BUILT: OnceLock<std::sync::Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    let built = BUILT.get_or_init(Default::default);
    let mut built = built.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = built.get(opt) {
        return p.clone();
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/targets");
    let out = temp_dir().join(format!("usdt{opt}"));
    let args: Vec<String> = if opt == ".so" {
        vec!["-shared".into(), "-fPIC".into(), src.join("lib/usdtlib.c").display().to_string()]
    } else {
        vec![opt.into(), "-fno-omit-frame-pointer".into(), src.join("usdt.c").display().to_string()]
    };
    let status = Command::new("gcc").arg("-g").args(&args).arg("-o").arg(&out).status().expect("run gcc");
    assert!(status.success(), "gcc {args:?}");
    built.insert(opt.into(), out.clone());
    out
}

fn check_against_binutils(path: &Path) {
    let file = open(path).expect("notes");
    let theirs = readelf_notes(path);
    assert_eq!(file.sites.len(), theirs.len(), "{}", path.display());
    for (site, (provider, name, pc, _base, sem, args)) in file.sites.iter().zip(&theirs) {
        assert_eq!((&site.provider, &site.name, site.vaddr, &site.args_text), (provider, name, *pc, args));
        assert_eq!(site.file_offset, segment_offset(path, *pc, false), "{name}");
        assert_eq!(site.args.len(), args.split_whitespace().count(), "{name}");
        match site.semaphore {
            Some(s) => {
                assert_eq!(s.vaddr, *sem);
                assert_eq!(s.file_offset, segment_offset(path, *sem, true), "{name} semaphore");
            }
            None => assert_eq!(*sem, 0),
        }
    }
}

#[test]
fn notes_of_the_test_target_match_readelf() {
    for opt in ["-O0", "-O2", ".so"] {
        check_against_binutils(&build_usdt(opt));
    }
    let file = open(&build_usdt("-O2")).unwrap();
    let inlined: Vec<&Site> = file.sites.iter().filter(|s| s.name == "inlined").collect();
    assert_eq!(inlined.len(), 2, "one probe, two sites");
    // Every operand the compiler and the hand-written notes use is readable.
    for s in &file.sites {
        for a in &s.args {
            assert!(!matches!(a.loc, ArgLoc::Unsupported(_)), "{}:{} {}", s.provider, s.name, a.text);
        }
    }
}

#[test]
fn notes_of_installed_programs_match_readelf() {
    // Non-PIE with semaphores (python) and PIE with RIP-relative globals
    // (postgres), when installed.
    for p in ["/usr/bin/python3.11", "/usr/lib/postgresql/15/bin/postgres"] {
        if Path::new(p).exists() {
            check_against_binutils(Path::new(p));
        }
    }
}

/// Found by the fuzzer (tests/fuzz.rs): a segment whose `p_offset` was
/// damaged to near 2^64 overflowed the translation of a probe's address (a
/// panic with overflow checks, a wrapped-around offset without).
#[test]
fn an_offset_past_any_file_is_no_offset() {
    let loads = [(0x1000, 0x2000, u64::MAX - 0x10, elf::PF_X)];
    assert_eq!(offset_of(&loads, 0x1008, elf::PF_X), Some(u64::MAX - 8));
    assert_eq!(offset_of(&loads, 0x1020, elf::PF_X), None);
}

#[test]
fn stapsdt_base_adjusts_moved_notes() {
    // Simulate prelink: the file moved by 0x100 after the notes were made,
    // i.e. each note's pc, base and semaphore are 0x100 too low.
    let exe = build_usdt("-O0");
    let mut bytes = std::fs::read(&exe).unwrap();
    let theirs = readelf_notes(&exe);
    let (_, _, pc, base, sem, _) = theirs.iter().find(|n| n.1 == "guarded").cloned().unwrap();
    let mut needle = Vec::new();
    for a in [pc, base, sem] {
        needle.extend(a.to_le_bytes());
    }
    let at = bytes.windows(24).position(|w| w == needle).expect("the note in the file");
    for (i, a) in [pc, base, sem].into_iter().enumerate() {
        bytes[at + 8 * i..at + 8 * i + 8].copy_from_slice(&(a - 0x100).to_le_bytes());
    }
    let moved = temp_dir().join("usdt-moved");
    std::fs::write(&moved, &bytes).unwrap();
    let file = open(&moved).unwrap();
    let site = file.sites.iter().find(|s| s.name == "guarded").unwrap();
    assert_eq!(site.vaddr, pc);
    assert_eq!(site.semaphore.map(|s| s.vaddr), Some(sem));
}

#[test]
fn files_without_notes_and_bad_files() {
    let file = open(Path::new("/bin/true")).expect("an ELF file");
    assert!(file.sites.is_empty());
    let txt = temp_dir().join("usdt-not-elf.txt");
    std::fs::write(&txt, "this is not an ELF file at all").unwrap();
    assert!(matches!(open(&txt), Err(UsdtError::NotElf { .. })));
    assert!(matches!(open(Path::new("/no/such/file")), Err(UsdtError::Io { .. })));
    // Truncated: an error, not a panic.
    let bytes = std::fs::read(build_usdt("-O0")).unwrap();
    let trunc = temp_dir().join("usdt-trunc");
    std::fs::write(&trunc, &bytes[..200]).unwrap();
    assert!(open(&trunc).is_err());
}

// --------------------------------------------------------- attach points

const AT: usize = 5;

fn ap(text: &str) -> AttachPoint {
    AttachPoint { text: text.to_string(), span: Span::new(2, AT, AT + text.len()) }
}

fn ok(text: &str) -> Vec<ResolvedProbe> {
    expand(&ap(text), &ProbeContext::default()).unwrap_or_else(|d| panic!("{text}: {d:?}"))
}

fn site(p: &ResolvedProbe) -> &Site {
    match &p.spec {
        ProbeSpec::Usdt(Usdt { site, .. }) => site,
        other => panic!("not usdt: {other:?}"),
    }
}

#[test]
fn attach_points() {
    let exe = build_usdt("-O2");
    let path = exe.to_str().unwrap();
    let p = ok(&format!("usdt:{path}:usdt:values"));
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].name, format!("usdt:{path}:usdt:values"));
    assert_eq!(site(&p[0]).args.len(), 6);
    assert!(site(&p[0]).semaphore.is_some());
    // Without the provider, when unambiguous; `U` is the short type.
    assert_eq!(ok(&format!("U:{path}:values"))[0].name, format!("usdt:{path}:usdt:values"));
    // Two sites, two probes with one name.
    let p = ok(&format!("usdt:{path}:usdt:inlined"));
    assert_eq!(p.len(), 2);
    assert!(p.iter().all(|p| p.name == format!("usdt:{path}:usdt:inlined")));
    assert_ne!(site(&p[0]).file_offset, site(&p[1]).file_offset);
    // Wildcards.
    let names =
        |t: &str| -> Vec<String> { ok(t).iter().map(|p| format!("{}:{}", site(p).provider, site(p).name)).collect() };
    assert_eq!(names(&format!("usdt:{path}:*:dup")), ["other:dup", "usdt:dup"]);
    assert_eq!(names(&format!("usdt:{path}:usdt:reg*")), ["usdt:regs", "usdt:regs2"]);
    assert_eq!(names(&format!("usdt:{path}:*")).len(), 12);
    assert_eq!(names(&format!("usdt:{path}:usdt:*")).len(), 11);
    // A shared library, by path.
    let lib = build_usdt(".so");
    let p = ok(&format!("usdt:{}:usdtlib:work", lib.display()));
    assert_eq!(site(&p[0]).args.len(), 3);
    // A library by name, when libstdc++ (which has probes) is installed.
    if let Ok(libstdcxx) = libpath::resolve("libstdc++", None) {
        let p = ok("usdt:libstdc++:libstdcxx:throw");
        assert!(matches!(&p[0].spec, ProbeSpec::Usdt(Usdt { binary, .. }) if *binary == libstdcxx));
        assert_eq!(p[0].name, "usdt:libstdc++:libstdcxx:throw");
    }
    // With a pid, `*` searches the process's files: this test binary has
    // no notes, but libstdc++ may be mapped; either way no error for `*`
    // unless nothing matches.
    let ctx = ProbeContext { pid: Some(std::process::id() as i32) };
    let d = expand(&ap("usdt:*:nosuchprovider:nosuchprobe"), &ctx).unwrap_err();
    assert!(d.message.contains("in the files of process"), "{}", d.message);
}

#[test]
fn attach_point_diagnostics() {
    let exe = build_usdt("-O0");
    let path = exe.to_str().unwrap();
    #[rustfmt::skip]
    let cases: &[(&str, &str, &str, &str)] = &[
        ("usdt:{exe}:dup", "ambiguous: providers `other` and `usdt`", "dup", "usdt:{exe}:other:dup"),
        ("usdt:{exe}:usdt:valuse", "USDT probe `usdt:valuse` not found", "valuse", "did you mean `values`?"),
        ("usdt:{exe}:usdtt:values", "no USDT provider `usdtt`", "usdtt", "did you mean `usdt`?"),
        ("usdt:{exe}:zz*", "matches `zz*`", "zz*", "trace -l"),
        ("usdt:/bin/true:x", "has no USDT probes", "/bin/true", "sys/sdt.h"),
        ("usdt:{exe}", "missing probe name", "}", "PROVIDER:NAME"),
        ("usdt:{exe}::x", "empty provider", "::", ""),
        ("usdt:{exe}:usdt:", "missing probe name", ":", ""),
        ("usdt:", "missing binary path and probe name", ":", ""),
        ("usdt:*:x", "wildcards in the binary path", "*", "-p PID"),
        ("usdt:./no/such:p:n", "no such file", "./no/such", ""),
        ("usdt:/etc/passwd:p:n", "not an ELF file", "/etc/passwd", ""),
    ];
    for &(text, message, pointed, note) in cases {
        let text = text.replace("{exe}", path);
        let d = expand(&ap(&text), &ProbeContext::default()).err().unwrap_or_else(|| panic!("{text}: no error"));
        assert!(d.message.contains(message), "{text}: {}", d.message);
        let (span, _) = d.primary.clone().expect("points into the attach point");
        let at = &text[span.start as usize - AT..span.end as usize - AT];
        let pointed = if pointed == "}" { &text[text.len() - 1..] } else { pointed };
        assert_eq!(at, pointed, "{text}");
        let note = note.replace("{exe}", path);
        assert!(d.notes.join("\n").contains(&note), "{text}: {:?}", d.notes);
    }
}

#[test]
fn listing() {
    let exe = build_usdt("-O0");
    let path = exe.to_str().unwrap();
    let ctx = ProbeContext::default();
    let all = crate::frontend::probes::list(&format!("usdt:{path}"), &ctx).unwrap();
    assert_eq!(all.len(), 11, "one line per probe, not per site: {all:?}");
    assert_eq!(all[0], format!("usdt:{path}:other:dup"));
    assert_eq!(crate::frontend::probes::list(&format!("usdt:{path}:*"), &ctx).unwrap(), all);
    assert_eq!(
        crate::frontend::probes::list(&format!("usdt:{path}:usdt:reg*"), &ctx).unwrap(),
        [format!("usdt:{path}:usdt:regs"), format!("usdt:{path}:usdt:regs2")]
    );
    let lines = list_verbose(&format!("usdt:{path}:usdt:inlined"), &ctx).unwrap().lines;
    assert_eq!(lines[0], format!("usdt:{path}:usdt:inlined"));
    assert!(lines[1].contains("site 1 of 2") && lines[2].contains("int32 arg0: memory -8(%rbp)"), "{lines:?}");
    let lines = list_verbose(&format!("usdt:{path}:usdt:regs"), &ctx).unwrap().lines;
    assert!(lines.contains(&"    uint8 arg4: register %ah".to_string()), "{lines:?}");
    // bpftrace, where installed, agrees on names and order.
    let Ok(out) = Command::new("bpftrace").args(["-l", &format!("usdt:{path}:*")]).output() else { return };
    let theirs: Vec<String> = String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect();
    if !theirs.is_empty() {
        assert_eq!(all, theirs);
    }
}

#[test]
fn arg_types_and_arity() {
    let exe = build_usdt("-O0");
    let path = exe.to_str().unwrap();
    let check = |prog: &str| {
        let mut sources = crate::source::SourceMap::new();
        let file = sources.add("<test>", prog.to_string());
        crate::compile(&mut sources, file, &crate::CompileOptions::default())
            .map(|_| ())
            .map_err(|d| crate::diag::render_to_string(&sources, &d))
    };
    check(&format!("usdt:{path}:usdt:many {{ @[arg11, arg6] = sum(arg0); }}")).expect("arg0..arg11");
    check(&format!("usdt:{path}:usdt:values {{ printf(\"%s\\n\", str(arg3)); }}")).expect("strings");
    let e = check(&format!("usdt:{path}:usdt:inlined {{ @ = arg1; }}")).unwrap_err();
    assert!(e.contains("`arg1` is out of range: `usdt:") && e.contains("has 1 argument, arg0"), "{e}");
    // Two sites, one message.
    assert_eq!(e.matches("out of range").count(), 1, "{e}");
    let e = check(&format!("usdt:{path}:usdt:values {{ @ = arg6; }}")).unwrap_err();
    assert!(e.contains("has 6 arguments, arg0 to arg5"), "{e}");
    let e = check(&format!("uprobe:{path}:main {{ @ = arg6; }}")).unwrap_err();
    assert!(e.contains("`arg6` is not available") && e.contains("arg0 to arg5"), "{e}");
    let e = check("BEGIN { @ = arg11; }").unwrap_err();
    assert!(e.contains("only in uprobe, kprobe and usdt probes"), "{e}");
}
