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
//!
//! The other direction, address to symbol (naming the frames of a captured
//! stack, `usym`), is a second index over the same mapping, built only when
//! first asked for: `addresses.rs`.

mod addresses;
#[cfg(test)]
mod tests;

pub use addresses::SymbolAt;

use super::names::glob_match;
use crate::sys::Mmap;
use addresses::AddressTable;
use std::cell::{OnceCell, RefCell};
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

/// Where `uaddr("NAME")` points: a function's or data object's link-time
/// address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SymbolAddress {
    /// The symbol value (for a function, its entry).
    pub vaddr: u64,
    /// Size in bytes (0 when the symbol table does not say).
    pub size: u64,
    /// The file is position-independent (`ET_DYN`: a PIE or a shared
    /// library), so the run-time address is `vaddr` plus the load base.
    pub pie: bool,
}

/// The function symbols of one file; see the module docs.
pub struct ElfSymbols {
    path: PathBuf,
    map: Mmap,
    /// Defined functions, one per name, sorted by name.
    funcs: Vec<RawSym>,
    /// Defined non-function symbols, one per name, sorted by name.
    data: Vec<DataSym>,
    /// Names of undefined (imported) symbols, sorted.
    imports: Vec<NameRef>,
    /// `DT_NEEDED` entries, in order.
    needed: Vec<String>,
    loads: Vec<Load>,
    /// `ET_DYN`: a PIE or a shared library.
    pie: bool,
    /// Whether the file has a (non-empty) `.symtab`, or was stripped to
    /// its `.dynsym`.
    has_symtab: bool,
    /// Symbols by address, built on first use (see `addresses.rs`).
    addresses: OnceCell<AddressTable>,
}

/// A cached index and what identifies the file it was made from
/// (modification time, size).
type CacheEntry = (Option<SystemTime>, u64, Rc<ElfSymbols>);

/// The link-time address of the function or data object `name` in the
/// executable or library `path` (for `uaddr("NAME")`); `None` when `path`
/// defines no such symbol.
pub fn address_of(path: &Path, name: &str) -> Result<Option<SymbolAddress>, ElfError> {
    Ok(open(path)?.address_of(name))
}

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
        pie: index.pie,
        has_symtab: index.has_symtab,
        addresses: OnceCell::new(),
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
        if self.data_symbol(name).is_some() {
            SymbolStatus::Data
        } else if self.imports.binary_search_by(|n| self.name(*n).cmp(name)).is_ok() {
            SymbolStatus::Imported
        } else {
            SymbolStatus::Missing
        }
    }

    /// The function or data object `name` (a function first), as
    /// [`address_of`] reports it. Thread-local (`STT_TLS`) and common
    /// symbols have no address.
    pub fn address_of(&self, name: &str) -> Option<SymbolAddress> {
        let (vaddr, size) = match self.lookup(name) {
            Some(f) => (f.vaddr, f.size),
            None => self.data_symbol(name).and_then(|d| Some((d.vaddr?, d.size)))?,
        };
        Some(SymbolAddress { vaddr, size, pie: self.pie })
    }

    fn data_symbol(&self, name: &str) -> Option<&DataSym> {
        let i = self.data.binary_search_by(|d| self.name(d.name).cmp(name)).ok()?;
        Some(&self.data[i])
    }

    /// Whether the file is `ET_DYN` (a PIE or a shared library).
    pub fn is_pie(&self) -> bool {
        self.pie
    }

    /// Whether the file has a `.symtab`; without one (a stripped binary)
    /// only its exported symbols are known, and local functions must come
    /// from its separate debug file.
    pub fn has_symtab(&self) -> bool {
        self.has_symtab
    }

    /// The virtual address that file offset `offset` is loaded at, through
    /// the `PT_LOAD` segment holding it (for a mapping's offset in
    /// `/proc/PID/maps`). An offset past a segment's file bytes but within
    /// its memory size is in its `.bss`: an anonymous mapping continuing
    /// the file's last one is translated that way.
    pub fn vaddr_of_offset(&self, offset: u64) -> Option<u64> {
        let within =
            |end: fn(&Load) -> u64| self.loads.iter().find(|l| l.offset <= offset && offset - l.offset < end(l));
        let seg = within(|l| l.filesz).or_else(|| within(|l| l.memsz))?;
        (offset - seg.offset).checked_add(seg.vaddr)
    }

    /// Whether a `PT_LOAD` segment holds link-time address `vaddr`.
    pub fn contains_vaddr(&self, vaddr: u64) -> bool {
        self.loads.iter().any(|l| l.vaddr <= vaddr && vaddr - l.vaddr < l.memsz)
    }

    /// The file's `NT_GNU_BUILD_ID`, if it has one.
    pub fn build_id(&self) -> Option<Vec<u8>> {
        use object::read::Object;
        let file = object::read::File::parse(self.map.bytes()).ok()?;
        file.build_id().ok().flatten().map(<[u8]>::to_vec)
    }

    /// The function or data object covering virtual address `vaddr`; see
    /// `addresses.rs` for which one when several do.
    pub fn symbol_at(&self, vaddr: u64) -> Option<SymbolAt<'_>> {
        let table = self.addresses.get_or_init(|| AddressTable::build(self.map.bytes(), &self.loads));
        table.find(vaddr, |n| self.name(n))
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

/// A defined non-function symbol.
#[derive(Clone, Copy, Debug)]
struct DataSym {
    name: NameRef,
    /// `None` for thread-local and common symbols, whose value is no
    /// address.
    vaddr: Option<u64>,
    size: u64,
}

/// A `PT_LOAD` segment.
#[derive(Clone, Copy, Debug)]
struct Load {
    vaddr: u64,
    memsz: u64,
    offset: u64,
    filesz: u64,
    exec: bool,
}

struct Index {
    funcs: Vec<RawSym>,
    data: Vec<DataSym>,
    imports: Vec<NameRef>,
    needed: Vec<String>,
    loads: Vec<Load>,
    pie: bool,
    has_symtab: bool,
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
    let pie = match header.e_type(endian) {
        elf::ET_EXEC => false,
        elf::ET_DYN => true,
        elf::ET_REL => return Err(IndexError::Relocatable),
        other => return Err(IndexError::Type(other)),
    };
    let loads = loads(header, endian, data)?;
    let sections = header.sections(endian, data)?;

    let mut funcs = Vec::new();
    let mut others = Vec::new();
    let mut imports = Vec::new();
    let has_symtab = each_symbol(endian, data, &sections, |sym| {
        if sym.undefined {
            imports.push(sym.name);
            return;
        }
        match sym.st_type {
            elf::STT_FUNC | elf::STT_GNU_IFUNC => {
                let Some(file_offset) = file_offset(&loads, sym.value) else { return };
                funcs.push(RawSym {
                    name: sym.name,
                    vaddr: sym.value,
                    size: sym.size,
                    file_offset,
                    ifunc: sym.st_type == elf::STT_GNU_IFUNC,
                    rank: sym.version_rank * 4 + sym.bind_rank,
                });
            }
            elf::STT_OBJECT | elf::STT_TLS | elf::STT_COMMON => others.push((
                sym.version_rank * 4 + sym.bind_rank,
                DataSym {
                    name: sym.name,
                    vaddr: (sym.st_type == elf::STT_OBJECT).then_some(sym.value),
                    size: sym.size,
                },
            )),
            _ => {}
        }
    })?;
    let bytes = |n: &NameRef| &data[n.start..n.start + n.len as usize];
    funcs.sort_by(|a, b| bytes(&a.name).cmp(bytes(&b.name)).then(a.rank.cmp(&b.rank)).then(a.vaddr.cmp(&b.vaddr)));
    funcs.dedup_by(|later, first| bytes(&later.name) == bytes(&first.name));
    // Objects with an address before thread-locals, then as for functions.
    others.sort_by(|(ra, a), (rb, b)| {
        bytes(&a.name).cmp(bytes(&b.name)).then(a.vaddr.is_none().cmp(&b.vaddr.is_none())).then(ra.cmp(rb))
    });
    others.dedup_by(|later, first| bytes(&later.1.name) == bytes(&first.1.name));
    imports.sort_by(|a, b| bytes(a).cmp(bytes(b)));
    imports.dedup_by(|a, b| bytes(a) == bytes(b));

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
    let data = others.into_iter().map(|(_, d)| d).collect();
    Ok(Index { funcs, data, imports, needed, loads, pie, has_symtab })
}

fn loads<Elf: FileHeader<Endian = Endianness>>(
    header: &Elf,
    endian: Endianness,
    data: &[u8],
) -> Result<Vec<Load>, IndexError> {
    Ok(header
        .program_headers(endian, data)?
        .iter()
        .filter(|p| p.p_type(endian) == elf::PT_LOAD)
        .map(|p| Load {
            vaddr: p.p_vaddr(endian).into(),
            memsz: p.p_memsz(endian).into(),
            offset: p.p_offset(endian).into(),
            filesz: p.p_filesz(endian).into(),
            exec: p.p_flags(endian) & elf::PF_X != 0,
        })
        .collect())
}

/// One named symbol of `.symtab` or `.dynsym`, as both indexes read it.
#[derive(Clone, Copy, Debug)]
struct SymEntry {
    name: NameRef,
    value: u64,
    size: u64,
    st_type: u8,
    undefined: bool,
    /// 0 global, 1 weak, 2 local.
    bind_rank: u8,
    /// 0 for a plain name (or the default version in `.dynsym`), 1 for a
    /// default version spelt out (`foo@@V1`, in `.symtab`), 2 for any other
    /// version (`foo@V0`, or hidden in `.dynsym`'s version table).
    version_rank: u8,
}

/// Call `f` for every symbol with a UTF-8 name in `.symtab` and `.dynsym`
/// (in that order); says whether there was a non-empty `.symtab`.
fn each_symbol<Elf: FileHeader<Endian = Endianness>>(
    endian: Endianness,
    data: &[u8],
    sections: &object::read::elf::SectionTable<'_, Elf>,
    mut f: impl FnMut(SymEntry),
) -> Result<bool, IndexError> {
    let base = data.as_ptr() as usize;
    // Names are slices of `data`; remember where, not a copy.
    let name_ref = |bytes: &[u8]| -> Option<NameRef> {
        if bytes.is_empty() || std::str::from_utf8(bytes).is_err() {
            return None;
        }
        Some(NameRef { start: bytes.as_ptr() as usize - base, len: u32::try_from(bytes.len()).ok()? })
    };
    let mut has_symtab = false;
    for sh_type in [elf::SHT_SYMTAB, elf::SHT_DYNSYM] {
        let table = sections.symbols(endian, data, sh_type)?;
        has_symtab |= sh_type == elf::SHT_SYMTAB && !table.is_empty();
        // Versions only rank duplicates; a damaged version table is not fatal.
        let versions = if sh_type == elf::SHT_DYNSYM { sections.versions(endian, data).ok().flatten() } else { None };
        for (i, sym) in table.enumerate() {
            let Ok(raw) = sym.name(endian, table.strings()) else { continue };
            let Some(name) = name_ref(raw) else { continue };
            let hidden = versions.as_ref().is_some_and(|v| v.version_index(endian, i).is_hidden());
            let version_rank = match raw.iter().position(|&b| b == b'@') {
                _ if hidden => 2,
                None => 0,
                Some(at) if raw.get(at + 1) == Some(&b'@') => 1,
                Some(_) => 2,
            };
            f(SymEntry {
                name,
                value: sym.st_value(endian).into(),
                size: sym.st_size(endian).into(),
                st_type: sym.st_type(),
                undefined: sym.is_undefined(endian),
                bind_rank: match sym.st_bind() {
                    elf::STB_GLOBAL => 0,
                    elf::STB_WEAK => 1,
                    _ => 2,
                },
                version_rank,
            });
        }
    }
    Ok(has_symtab)
}

/// [`each_symbol`] on the mapped file `data`, of either class.
fn symbols_of(data: &[u8], f: impl FnMut(SymEntry)) -> Result<(), IndexError> {
    fn walk<Elf: FileHeader<Endian = Endianness>>(data: &[u8], f: impl FnMut(SymEntry)) -> Result<(), IndexError> {
        let header = Elf::parse(data)?;
        let endian = header.endian()?;
        each_symbol(endian, data, &header.sections(endian, data)?, f).map(drop)
    }
    match data.get(4) {
        Some(&elf::ELFCLASS32) => walk::<elf::FileHeader32<Endianness>>(data, f),
        Some(&elf::ELFCLASS64) => walk::<elf::FileHeader64<Endianness>>(data, f),
        _ => Err(IndexError::Malformed("unknown ELF class".into())),
    }
}

/// Translate a virtual address through the `PT_LOAD` segment containing it,
/// preferring executable segments (code can only be in those; a data
/// segment overlapping the address would give a wrong offset). `None` also
/// when a damaged `p_offset` puts it past any file.
fn file_offset(loads: &[Load], vaddr: u64) -> Option<u64> {
    let contains = |l: &&Load| l.vaddr <= vaddr && vaddr < l.vaddr.saturating_add(l.memsz);
    let seg = loads.iter().filter(|l| l.exec).find(contains).or_else(|| loads.iter().find(contains))?;
    (vaddr - seg.vaddr).checked_add(seg.offset)
}

/// Test targets built with gcc, and independent readings of them with
/// binutils, shared by the tests of this module and of `probes`.
#[cfg(test)]
pub(crate) mod test_support;
