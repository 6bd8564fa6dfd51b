//! Function symbols of an ELF executable or shared library, for uprobes.
//!
//! A uprobe is attached at a *file offset*, so resolving `uprobe:PATH:FUNC`
//! means: find `FUNC` in the symbol table, then translate its virtual address
//! through the executable `PT_LOAD` segment that contains it
//! (`file_offset = vaddr - p_vaddr + p_offset`).
//!
//! This runs for every uprobe attach point and for `trace -l`, on binaries
//! that may be hundreds of megabytes with DWARF, so it must stay cheap: the
//! file is memory-mapped (only the pages of the symbol and string tables are
//! ever touched), DWARF is never parsed here, and symbol names are kept as
//! byte ranges into the mapping instead of one allocation per symbol.
//!
//! `.symtab` and `.dynsym` are both read and merged: a stripped binary only
//! has `.dynsym`, and an unstripped one has everything in `.symtab`, so the
//! merge is a superset of "symtab, falling back to dynsym" at little cost.
//! When one name has several definitions (versioned `memcpy@GLIBC_2.2.5` and
//! `memcpy@@GLIBC_2.14`, or `static` functions of the same name in different
//! compilation units) one is chosen: the default symbol version first, then
//! global over weak over local, then the lowest address.

use super::names::glob_match;
use crate::sys::Mmap;
use std::cell::RefCell;
use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::SystemTime;

use object::elf;
use object::read::elf::{Dyn as _, FileHeader, ProgramHeader as _, Sym as _};
use object::Endianness;

/// A function symbol resolved to the place a uprobe attaches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sym {
    pub name: String,
    /// The symbol value: the function's link-time virtual address.
    pub vaddr: u64,
    /// Size in bytes (0 when the symbol table does not say).
    pub size: u64,
    /// Offset of the first instruction in the file.
    pub file_offset: u64,
    /// A GNU indirect function: the symbol is the *resolver* that the dynamic
    /// linker runs once, not the implementation called at run time.
    pub ifunc: bool,
}

/// What a name is in one binary; used to explain why a lookup failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SymbolStatus {
    Function(Sym),
    /// Defined, but a data object (or other non-function symbol).
    Data,
    /// Only referenced: the binary imports it from a shared library.
    Imported,
    Missing,
}

#[derive(Debug, thiserror::Error)]
pub enum ElfError {
    #[error("cannot read {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{} is not an ELF file", path.display())]
    NotElf { path: PathBuf },
    #[error("{} is a relocatable object file (.o), not an executable or shared library", path.display())]
    Relocatable { path: PathBuf },
    #[error("{} is an ELF file of type {e_type}, not an executable or shared library", path.display())]
    UnsupportedType { path: PathBuf, e_type: u16 },
    #[error("{}: malformed ELF file: {reason}", path.display())]
    Malformed { path: PathBuf, reason: String },
}

/// The function symbols of one file; see the module docs.
pub struct ElfSymbols {
    path: PathBuf,
    map: Mmap,
    /// Defined functions, one per name, sorted by name.
    funcs: Vec<RawSym>,
    /// Names of defined non-function symbols, sorted.
    data: Vec<NameRef>,
    /// Names of undefined (imported) symbols, sorted.
    imports: Vec<NameRef>,
    /// `DT_NEEDED` entries, in order.
    needed: Vec<String>,
    loads: Vec<Load>,
}

/// A cached index and what identifies the file it was made from
/// (modification time, size).
type CacheEntry = (Option<SystemTime>, u64, Rc<ElfSymbols>);

/// Open and index `path`.
pub fn open(path: &Path) -> Result<Rc<ElfSymbols>, ElfError> {
    // Attach-point expansion and the DWARF reader both need a binary's
    // symbols: index each file once per process (and again if it changes).
    thread_local! {
        static CACHE: RefCell<HashMap<PathBuf, CacheEntry>> = RefCell::default();
    }
    let meta = std::fs::metadata(path).ok();
    let stamp = (meta.as_ref().and_then(|m| m.modified().ok()), meta.as_ref().map_or(0, |m| m.len()));
    let cached = CACHE.with(|c| c.borrow().get(path).filter(|e| (e.0, e.1) == stamp).map(|e| e.2.clone()));
    if let Some(syms) = cached {
        return Ok(syms);
    }
    let syms = Rc::new(open_uncached(path)?);
    CACHE.with(|c| c.borrow_mut().insert(path.to_path_buf(), (stamp.0, stamp.1, syms.clone())));
    Ok(syms)
}

fn open_uncached(path: &Path) -> Result<ElfSymbols, ElfError> {
    let io = |source| ElfError::Io { path: path.to_path_buf(), source };
    // Checked before opening: opening a FIFO would block, and mapping a
    // device makes no sense.
    if !std::fs::metadata(path).map_err(io)?.is_file() {
        return Err(ElfError::NotElf { path: path.to_path_buf() });
    }
    let file = File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    if len < 16 {
        return Err(ElfError::NotElf { path: path.to_path_buf() });
    }
    let map = Mmap::map(&file, len).map_err(io)?;
    let data: &[u8] = map.bytes();
    if &data[..4] != b"\x7fELF" {
        return Err(ElfError::NotElf { path: path.to_path_buf() });
    }
    // e_ident[EI_CLASS]
    let index = match data[4] {
        elf::ELFCLASS32 => index::<elf::FileHeader32<Endianness>>(data),
        elf::ELFCLASS64 => index::<elf::FileHeader64<Endianness>>(data),
        _ => Err(IndexError::Malformed("unknown ELF class".into())),
    };
    let index = index.map_err(|e| match e {
        IndexError::Malformed(reason) => ElfError::Malformed { path: path.to_path_buf(), reason },
        IndexError::Relocatable => ElfError::Relocatable { path: path.to_path_buf() },
        IndexError::Type(e_type) => ElfError::UnsupportedType { path: path.to_path_buf(), e_type },
    })?;
    Ok(ElfSymbols {
        path: path.to_path_buf(),
        map,
        funcs: index.funcs,
        data: index.data,
        imports: index.imports,
        needed: index.needed,
        loads: index.loads,
    })
}

impl ElfSymbols {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The defined function called `name`.
    pub fn lookup(&self, name: &str) -> Option<Sym> {
        let i = self.funcs.binary_search_by(|s| self.name(s.name).cmp(name)).ok()?;
        Some(self.sym(&self.funcs[i]))
    }

    /// Defined functions whose names match a `*`/`?` glob, one per name,
    /// sorted by name.
    pub fn matching(&self, glob: &str) -> Vec<Sym> {
        self.funcs.iter().filter(|s| glob_match(glob, self.name(s.name))).map(|s| self.sym(s)).collect()
    }

    /// Like [`lookup`](Self::lookup), but says what `name` is when it is
    /// not a defined function.
    pub fn status(&self, name: &str) -> SymbolStatus {
        if let Some(sym) = self.lookup(name) {
            return SymbolStatus::Function(sym);
        }
        let has = |v: &[NameRef]| v.binary_search_by(|n| self.name(*n).cmp(name)).is_ok();
        if has(&self.data) {
            SymbolStatus::Data
        } else if has(&self.imports) {
            SymbolStatus::Imported
        } else {
            SymbolStatus::Missing
        }
    }

    /// Names of all defined functions, sorted.
    pub fn function_names(&self) -> impl Iterator<Item = &str> + '_ {
        self.funcs.iter().map(|s| self.name(s.name))
    }

    /// The shared libraries this file was linked against (`DT_NEEDED`),
    /// e.g. `libc.so.6`.
    pub fn needed(&self) -> &[String] {
        &self.needed
    }

    /// The function containing virtual address `vaddr`, if any, and the
    /// file offset of `vaddr` (for attach points given as an address).
    pub fn at_address(&self, vaddr: u64) -> Option<(Option<Sym>, u64)> {
        let file_offset = file_offset(&self.loads, vaddr)?;
        let containing = self
            .funcs
            .iter()
            .find(|s| s.vaddr <= vaddr && vaddr < s.vaddr.saturating_add(s.size.max(1)))
            .map(|s| self.sym(s));
        Some((containing, file_offset))
    }

    fn name(&self, n: NameRef) -> &str {
        // Names were checked to be UTF-8 when the index was built.
        self.map.bytes().get(n.start..n.start + n.len as usize).and_then(|b| std::str::from_utf8(b).ok()).unwrap_or("")
    }

    fn sym(&self, s: &RawSym) -> Sym {
        Sym {
            name: self.name(s.name).to_string(),
            vaddr: s.vaddr,
            size: s.size,
            file_offset: s.file_offset,
            ifunc: s.ifunc,
        }
    }
}

/// A symbol name: a byte range of the mapped file.
#[derive(Clone, Copy, Debug)]
struct NameRef {
    start: usize,
    len: u32,
}

#[derive(Clone, Copy, Debug)]
struct RawSym {
    name: NameRef,
    vaddr: u64,
    size: u64,
    file_offset: u64,
    ifunc: bool,
    /// Lower is preferred when one name has several definitions.
    rank: u8,
}

/// A `PT_LOAD` segment: `(p_vaddr, p_memsz, p_offset, executable)`.
type Load = (u64, u64, u64, bool);

struct Index {
    funcs: Vec<RawSym>,
    data: Vec<NameRef>,
    imports: Vec<NameRef>,
    needed: Vec<String>,
    loads: Vec<Load>,
}

enum IndexError {
    Malformed(String),
    Relocatable,
    Type(u16),
}

impl From<object::read::Error> for IndexError {
    fn from(e: object::read::Error) -> Self {
        IndexError::Malformed(e.to_string())
    }
}

fn index<Elf: FileHeader<Endian = Endianness>>(data: &[u8]) -> Result<Index, IndexError> {
    let header = Elf::parse(data)?;
    let endian = header.endian()?;
    match header.e_type(endian) {
        elf::ET_EXEC | elf::ET_DYN => {}
        elf::ET_REL => return Err(IndexError::Relocatable),
        other => return Err(IndexError::Type(other)),
    }
    let loads: Vec<Load> = header
        .program_headers(endian, data)?
        .iter()
        .filter(|p| p.p_type(endian) == elf::PT_LOAD)
        .map(|p| {
            (
                p.p_vaddr(endian).into(),
                p.p_memsz(endian).into(),
                p.p_offset(endian).into(),
                p.p_flags(endian) & elf::PF_X != 0,
            )
        })
        .collect();
    let sections = header.sections(endian, data)?;
    let base = data.as_ptr() as usize;
    // Names are slices of `data`; remember where, not a copy.
    let name_ref = |bytes: &[u8]| -> Option<NameRef> {
        if bytes.is_empty() || std::str::from_utf8(bytes).is_err() {
            return None;
        }
        Some(NameRef { start: bytes.as_ptr() as usize - base, len: u32::try_from(bytes.len()).ok()? })
    };

    let mut funcs = Vec::new();
    let mut others = Vec::new();
    let mut imports = Vec::new();
    for sh_type in [elf::SHT_SYMTAB, elf::SHT_DYNSYM] {
        let table = sections.symbols(endian, data, sh_type)?;
        // Versions only rank duplicates; a damaged version table is not fatal.
        let versions = if sh_type == elf::SHT_DYNSYM { sections.versions(endian, data).ok().flatten() } else { None };
        for (i, sym) in table.enumerate() {
            let Some(name) = sym.name(endian, table.strings()).ok().and_then(name_ref) else { continue };
            if sym.is_undefined(endian) {
                imports.push(name);
                continue;
            }
            let st_type = sym.st_type();
            let is_func = st_type == elf::STT_FUNC || st_type == elf::STT_GNU_IFUNC;
            if !is_func {
                if matches!(st_type, elf::STT_OBJECT | elf::STT_TLS | elf::STT_COMMON) {
                    others.push(name);
                }
                continue;
            }
            let vaddr: u64 = sym.st_value(endian).into();
            let Some(file_offset) = file_offset(&loads, vaddr) else { continue };
            let hidden = versions.as_ref().is_some_and(|v| v.version_index(endian, i).is_hidden());
            let bind_rank = match sym.st_bind() {
                elf::STB_GLOBAL => 0,
                elf::STB_WEAK => 1,
                _ => 2,
            };
            funcs.push(RawSym {
                name,
                vaddr,
                size: sym.st_size(endian).into(),
                file_offset,
                ifunc: st_type == elf::STT_GNU_IFUNC,
                rank: u8::from(hidden) * 4 + bind_rank,
            });
        }
    }
    let bytes = |n: &NameRef| &data[n.start..n.start + n.len as usize];
    funcs.sort_by(|a, b| bytes(&a.name).cmp(bytes(&b.name)).then(a.rank.cmp(&b.rank)).then(a.vaddr.cmp(&b.vaddr)));
    funcs.dedup_by(|later, first| bytes(&later.name) == bytes(&first.name));
    for v in [&mut others, &mut imports] {
        v.sort_by(|a, b| bytes(a).cmp(bytes(b)));
        v.dedup_by(|a, b| bytes(a) == bytes(b));
    }

    let mut needed = Vec::new();
    // Only used for hints; a damaged dynamic section is not fatal.
    if let Some((entries, strings)) = sections
        .dynamic(endian, data)
        .ok()
        .flatten()
        .and_then(|(entries, strtab)| Some((entries, sections.strings(endian, data, strtab).ok()?)))
    {
        for d in entries {
            if d.tag32(endian) == Some(elf::DT_NEEDED) {
                if let Ok(name) = d.string(endian, strings) {
                    needed.push(String::from_utf8_lossy(name).into_owned());
                }
            }
        }
    }
    Ok(Index { funcs, data: others, imports, needed, loads })
}

/// Translate a virtual address through the `PT_LOAD` segment containing it,
/// preferring executable segments (code can only be in those; a data
/// segment overlapping the address would give a wrong offset). `None` also
/// when a damaged `p_offset` puts it past any file.
fn file_offset(loads: &[Load], vaddr: u64) -> Option<u64> {
    let contains = |&&(v, memsz, _, _): &&Load| v <= vaddr && vaddr < v.saturating_add(memsz);
    let seg = loads.iter().filter(|l| l.3).find(contains).or_else(|| loads.iter().find(contains))?;
    (vaddr - seg.0).checked_add(seg.2)
}

/// Test targets built with gcc, and independent readings of them with
/// binutils, shared by the tests of this module and of `probes`.
#[cfg(test)]
pub(crate) mod test_support {
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
        let dir = temp_dir();
        let src = dir.join("target.c");
        if !src.exists() {
            std::fs::write(&src, TARGET_C).expect("write target.c");
        }
        let out = dir.join(out);
        let status = Command::new("gcc").args(["-g", "-O0"]).args(extra).arg("-o").arg(&out).arg(&src).status();
        assert!(status.expect("run gcc").success(), "gcc {extra:?} failed");
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
}

#[cfg(test)]
mod tests {
    use super::test_support::{build_object, build_target, nm_functions, readelf_loads, temp_dir};
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
        let loads = [(0x1000, 0x2000, u64::MAX - 0x10, true)];
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
}
