//! Tests of the symbol index against gcc-built targets and binutils.

use super::test_support::{build_library, build_object, build_target, nm_functions, readelf_loads, temp_dir};
use super::*;

fn expected_offset(path: &Path, vaddr: u64) -> u64 {
    let loads = readelf_loads(path);
    let (v, _, off) =
        loads.iter().find(|(v, memsz, _)| *v <= vaddr && vaddr < v + memsz).copied().expect("address in a PT_LOAD");
    vaddr - v + off
}

#[test]
fn lookup_matches_nm_and_readelf() {
    for pie in [false, true] {
        let exe = build_target(pie);
        let syms = open(&exe).expect("open target");
        let nm = nm_functions(&exe);
        for name in ["db_snapshot", "db_log_rotate", "main", "static_helper"] {
            let sym = syms.lookup(name).unwrap_or_else(|| panic!("{name} in {}", exe.display()));
            assert_eq!(Some(&sym.vaddr), nm.get(name), "{name} vaddr");
            assert_eq!(sym.file_offset, expected_offset(&exe, sym.vaddr), "{name} file offset");
            assert!(sym.size > 0);
        }
        if !pie {
            // Non-PIE executables load at 0x400000: offsets differ from addresses.
            let s = syms.lookup("db_snapshot").unwrap();
            assert_ne!(s.vaddr, s.file_offset);
        }
    }
}

/// Found by the fuzzer (tests/fuzz.rs): a segment whose `p_offset` was
/// damaged to near 2^64 overflowed the translation (a panic with
/// overflow checks, a wrapped-around offset without).
#[test]
fn an_offset_past_any_file_is_no_offset() {
    let loads = [Load { vaddr: 0x1000, memsz: 0x2000, offset: u64::MAX - 0x10, filesz: 0x2000, exec: true }];
    assert_eq!(file_offset(&loads, 0x1008), Some(u64::MAX - 8));
    assert_eq!(file_offset(&loads, 0x1020), None);
    assert_eq!(file_offset(&loads, 0x3000), None, "outside the segment");
}

#[test]
fn status_explains_missing_names() {
    let syms = open(&build_target(true)).unwrap();
    assert!(matches!(syms.status("db_snapshot"), SymbolStatus::Function(_)));
    assert_eq!(syms.status("db_counter"), SymbolStatus::Data);
    assert_eq!(syms.status("puts"), SymbolStatus::Imported);
    assert_eq!(syms.status("no_such_fn"), SymbolStatus::Missing);
    assert!(syms.needed().iter().any(|n| n == "libc.so.6"));
}

#[test]
fn matching_is_sorted_and_deduplicated() {
    let syms = open(&build_target(true)).unwrap();
    let names: Vec<String> = syms.matching("db_*").into_iter().map(|s| s.name).collect();
    assert_eq!(names, ["db_log_rotate", "db_open", "db_snapshot"]);
    assert!(syms.matching("zz*").is_empty());
}

#[test]
fn libc_versioned_symbols_pick_the_default_version() {
    let libc = Path::new("/lib/x86_64-linux-gnu/libc.so.6");
    if !libc.exists() {
        return;
    }
    let syms = open(libc).unwrap();
    let malloc = syms.lookup("malloc").expect("malloc");
    assert_eq!(malloc.file_offset, expected_offset(libc, malloc.vaddr));
    // realpath@@GLIBC_2.3 (default) and realpath@GLIBC_2.2.5 both exist;
    // the default is what a program linked today calls.
    let out = std::process::Command::new("readelf").args(["--dyn-syms", "-W"]).arg(libc).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let default = text
        .lines()
        .find(|l| l.trim_end().ends_with(" realpath@@GLIBC_2.3"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| u64::from_str_radix(v, 16).ok());
    if let Some(v) = default {
        assert_eq!(syms.lookup("realpath").unwrap().vaddr, v);
    }
    // Both versions appear once in listings.
    assert_eq!(syms.matching("realpath").len(), 1);
}

#[test]
fn rejects_non_elf_and_object_files() {
    let dir = temp_dir();
    let txt = dir.join("not-elf.txt");
    std::fs::write(&txt, "hello, this is text, long enough").unwrap();
    assert!(matches!(open(&txt), Err(ElfError::NotElf { .. })));
    let empty = dir.join("empty");
    std::fs::write(&empty, "").unwrap();
    assert!(matches!(open(&empty), Err(ElfError::NotElf { .. })));
    let obj = build_object();
    assert!(matches!(open(&obj), Err(ElfError::Relocatable { .. })));
    assert!(matches!(open(Path::new("/nonexistent/x")), Err(ElfError::Io { .. })));
    // A truncated ELF header must be an error, not a panic.
    let trunc = dir.join("trunc");
    let bytes = std::fs::read(build_target(true)).unwrap();
    std::fs::write(&trunc, &bytes[..40]).unwrap();
    assert!(open(&trunc).is_err());
}

/// `nm`'s value of every defined symbol, by name.
fn nm_all(path: &Path) -> HashMap<String, (char, u64)> {
    let out = std::process::Command::new("nm").arg(path).output().expect("run nm").stdout;
    String::from_utf8_lossy(&out)
        .lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            let [addr, kind, name] = w[..] else { return None };
            Some((name.to_string(), (kind.chars().next()?, u64::from_str_radix(addr, 16).ok()?)))
        })
        .collect()
}

#[test]
fn address_of_functions_and_data() {
    for pie in [false, true] {
        let exe = build_target(pie);
        let nm = nm_all(&exe);
        for name in ["db_snapshot", "static_helper", "db_counter"] {
            let got = address_of(&exe, name).unwrap().unwrap_or_else(|| panic!("{name}"));
            assert_eq!((got.vaddr, got.pie), (nm[name].1, pie), "{name} pie={pie}");
            assert!(got.size > 0);
        }
        assert_eq!(address_of(&exe, "db_counter").unwrap().unwrap().size, 4, "an int");
        assert_eq!(address_of(&exe, "puts").unwrap(), None, "imported, not defined here");
        assert_eq!(address_of(&exe, "no_such_symbol").unwrap(), None);
    }
    assert!(address_of(&build_library(), "db_counter").unwrap().unwrap().pie);
    assert!(matches!(address_of(Path::new("/nonexistent/x"), "main"), Err(ElfError::Io { .. })));
}

#[test]
fn symbol_at_names_functions_and_objects_with_offsets() {
    for exe in [build_target(false), build_target(true), build_library()] {
        let syms = open(&exe).unwrap();
        let nm = nm_all(&exe);
        for name in ["db_open", "db_snapshot", "static_helper", "db_counter"] {
            let start = nm[name].1;
            for off in [0, 1, 3] {
                let s = syms.symbol_at(start + off).unwrap_or_else(|| panic!("{name}+{off} in {}", exe.display()));
                assert_eq!((s.name, s.start, s.sized), (name, start, true), "{}", exe.display());
            }
        }
        // Past the end of the last function, before the next symbol: no
        // sized symbol covers it.
        let end = syms.lookup("db_log_rotate").map(|s| s.vaddr + s.size).unwrap();
        assert!(syms.symbol_at(end).is_none_or(|s| s.name != "db_log_rotate"));
        assert!(syms.symbol_at(0).is_none() && syms.symbol_at(u64::MAX).is_none());
    }
}

#[test]
fn file_offsets_to_addresses_through_segments() {
    for pie in [false, true] {
        let exe = build_target(pie);
        let syms = open(&exe).unwrap();
        for name in ["db_snapshot", "main"] {
            let s = syms.lookup(name).unwrap();
            assert_eq!(syms.vaddr_of_offset(s.file_offset), Some(s.vaddr), "{name} pie={pie}");
        }
        assert!(syms.has_symtab());
    }
    // A .bss offset: past the writable segment's file bytes, within its memory.
    let loads = [
        Load { vaddr: 0x1000, memsz: 0x100, offset: 0x1000, filesz: 0x100, exec: true },
        Load { vaddr: 0x3df0, memsz: 0x2000, offset: 0x2df0, filesz: 0x230, exec: false },
    ];
    let syms = open(&build_target(true)).unwrap();
    let with = |loads: &[Load]| ElfSymbols { loads: loads.to_vec(), ..open_uncached(syms.path()).unwrap() };
    let fake = with(&loads);
    assert_eq!(fake.vaddr_of_offset(0x1010), Some(0x1010));
    assert_eq!(fake.vaddr_of_offset(0x2e00), Some(0x3e00), "file bytes of the data segment");
    assert_eq!(fake.vaddr_of_offset(0x4000), Some(0x5000), ".bss");
    assert_eq!(fake.vaddr_of_offset(0x4df0), None, "past its memory");
    assert_eq!(fake.vaddr_of_offset(u64::MAX), None);
}

#[test]
fn stripped_libc_has_no_symtab_and_its_debug_file_does() {
    let libc = Path::new("/lib/x86_64-linux-gnu/libc.so.6");
    if !libc.exists() {
        return;
    }
    let syms = open(libc).unwrap();
    assert!(!syms.has_symtab(), "Debian strips libc.so.6");
    let Some(debug) = crate::frontend::dwarf::debug_file_of(libc) else { return };
    let debug = open(&debug).unwrap();
    assert!(debug.has_symtab());
    let nm = nm_all(debug.path());
    let start = nm["__libc_start_call_main"].1;
    assert_eq!(debug.symbol_at(start + 7).map(|s| (s.name, s.start)), Some(("__libc_start_call_main", start)));
    // The binary alone does not know it.
    assert_ne!(syms.symbol_at(start + 7).map(|s| s.name), Some("__libc_start_call_main"));
}
