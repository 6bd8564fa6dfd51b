//! USDT probes: the `.note.stapsdt` notes of an executable or shared
//! library, read into probe sites that a uprobe can attach to.
//!
//! sys/sdt.h compiles a probe into a `nop` plus one ELF note (owner
//! `stapsdt`, type 3) whose description is, for a 64-bit file:
//!
//! ```text
//! u64 pc          link-time address of the nop
//! u64 base        link-time address of `.stapsdt.base` when assembled
//! u64 semaphore   link-time address of the probe's semaphore, or 0
//! provider\0 name\0 arguments\0
//! ```
//!
//! (addresses are 4 bytes in a 32-bit file). The notes are not loaded and
//! not relocated, so tools that move a file after linking (prelink) leave
//! them stale; `.stapsdt.base` *is* moved, so the difference between its
//! real address and the note's `base` is added to `pc` and to the
//! semaphore, as gdb and systemtap do.
//!
//! A uprobe attaches at a file offset, so `pc` is translated through the
//! executable `PT_LOAD` segment containing it (as for function symbols in
//! `elf`), and the semaphore through the writable segment containing it:
//! the kernel takes the semaphore as `ref_ctr_offset`, a file offset, and
//! increments the counter in every process the probe is installed in, so
//! `if (PROBE_ENABLED())`-guarded probes fire while we are attached.
//!
//! A probe inlined or expanded in several places has several notes with
//! the same provider and name; each note is one [`Site`], and a script's
//! probe attaches to every site. Argument strings are decoded per site (the
//! compiler picks different registers at each) by `operand`. Attach points
//! (`usdt:PATH:PROVIDER:NAME`) are expanded in `probes::usdt`.
//!
//! `open` maps the file and reads the notes once per process (like
//! `elf::open`); the symbol tables are only read when an operand names a
//! symbol (`8@foo(%rip)`).
//!
//! The file is untrusted: a note that is cut short, lacks a string's NUL,
//! or has sizes running past its section makes the file malformed
//! ([`UsdtError::Note`], naming the note), as libbpf treats it; it is never
//! skipped into "no USDT probes".

pub mod operand;
#[cfg(test)]
pub(crate) mod tests;
#[cfg(test)]
mod tests_notes;

pub use operand::{ArgLoc, Reg, UsdtArg};

use std::cell::RefCell;
use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::SystemTime;

use object::elf;
use object::read::elf::{FileHeader, ProgramHeader as _, SectionHeader as _, Sym as _};
use object::Endianness;

use crate::sys::Mmap;

/// One probe site: one note.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Site {
    pub provider: String,
    pub name: String,
    /// Link-time address of the probe's instruction (adjusted for
    /// `.stapsdt.base`).
    pub vaddr: u64,
    /// Where the uprobe attaches.
    pub file_offset: u64,
    pub semaphore: Option<Semaphore>,
    /// The argument string as written in the note.
    pub args_text: String,
    pub args: Vec<UsdtArg>,
}

/// A probe's semaphore: a `unsigned short` the program tests before
/// computing the probe's arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Semaphore {
    pub vaddr: u64,
    /// The kernel's `ref_ctr_offset`.
    pub file_offset: u64,
}

/// The USDT probes of one file, in note order.
#[derive(Debug)]
pub struct UsdtFile {
    pub path: PathBuf,
    pub sites: Vec<Site>,
}

#[derive(Debug, thiserror::Error)]
pub enum UsdtError {
    #[error("cannot read {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{} is not an ELF file", path.display())]
    NotElf { path: PathBuf },
    #[error("{}: malformed ELF file: {reason}", path.display())]
    Malformed { path: PathBuf, reason: String },
    #[error("{}: malformed USDT note in {section}: {reason}", path.display())]
    Note { path: PathBuf, section: String, reason: String },
}

/// A file's modification time and length when it was read.
type Stamp = (Option<SystemTime>, u64);

/// Read the USDT probes of `path` (cached per file while it is unchanged).
pub fn open(path: &Path) -> Result<Rc<UsdtFile>, UsdtError> {
    thread_local! {
        static CACHE: RefCell<HashMap<PathBuf, (Stamp, Rc<UsdtFile>)>> = RefCell::default();
    }
    let meta = std::fs::metadata(path).ok();
    let stamp: Stamp = (meta.as_ref().and_then(|m| m.modified().ok()), meta.as_ref().map_or(0, |m| m.len()));
    let cached = CACHE.with(|c| c.borrow().get(path).filter(|e| e.0 == stamp).map(|e| e.1.clone()));
    if let Some(f) = cached {
        return Ok(f);
    }
    let file = Rc::new(open_uncached(path)?);
    CACHE.with(|c| c.borrow_mut().insert(path.to_path_buf(), (stamp, file.clone())));
    Ok(file)
}

fn open_uncached(path: &Path) -> Result<UsdtFile, UsdtError> {
    let io = |source| UsdtError::Io { path: path.to_path_buf(), source };
    if !std::fs::metadata(path).map_err(io)?.is_file() {
        return Err(UsdtError::NotElf { path: path.to_path_buf() });
    }
    let file = File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    if len < 16 {
        return Err(UsdtError::NotElf { path: path.to_path_buf() });
    }
    let map = Mmap::map(&file, len).map_err(io)?;
    let data = map.bytes();
    if &data[..4] != b"\x7fELF" {
        return Err(UsdtError::NotElf { path: path.to_path_buf() });
    }
    let path = path.to_path_buf();
    let sites = match data[4] {
        elf::ELFCLASS32 => read_sites::<elf::FileHeader32<Endianness>>(data),
        elf::ELFCLASS64 => read_sites::<elf::FileHeader64<Endianness>>(data),
        _ => Err(Bad::Elf("unknown ELF class".to_string())),
    }
    .map_err(|bad| match bad {
        Bad::Elf(reason) => UsdtError::Malformed { path: path.clone(), reason },
        Bad::Note { section, reason } => UsdtError::Note { path: path.clone(), section, reason },
    })?;
    Ok(UsdtFile { path, sites })
}

/// What is wrong with a file, before its path is attached.
enum Bad {
    Elf(String),
    Note { section: String, reason: String },
}

/// A note's description, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawNote {
    pub pc: u64,
    pub base: u64,
    pub semaphore: u64,
    pub provider: String,
    pub name: String,
    pub args: String,
}

/// Parse a `stapsdt` note's description (`addr_size` 4 or 8 bytes), or say
/// what is wrong with it.
pub fn parse_note_desc(desc: &[u8], addr_size: usize, little_endian: bool) -> Result<RawNote, String> {
    if addr_size != 4 && addr_size != 8 {
        return Err(format!("addresses of {addr_size} bytes"));
    }
    let Some((addrs, mut rest)) = desc.split_at_checked(3 * addr_size) else {
        return Err(format!("{} bytes, too short for its three {addr_size}-byte addresses", desc.len()));
    };
    let addr = |i: usize| {
        let b = &addrs[i * addr_size..(i + 1) * addr_size];
        b.iter().enumerate().fold(0u64, |v, (k, &byte)| {
            let shift = if little_endian { k } else { addr_size - 1 - k };
            v | (byte as u64) << (8 * shift)
        })
    };
    // Each string ends at its NUL; a string without one was cut short.
    let text = |rest: &mut &[u8], what: &str| -> Result<String, String> {
        let nul = rest.iter().position(|&b| b == 0).ok_or_else(|| format!("the {what} has no terminating NUL"))?;
        let s = std::str::from_utf8(&rest[..nul]).map_err(|_| format!("the {what} is not UTF-8"))?;
        *rest = &rest[nul + 1..];
        Ok(s.to_string())
    };
    let provider = text(&mut rest, "provider")?;
    let name = text(&mut rest, "probe name")?;
    // Probes without arguments may end right after the name.
    let args = if rest.is_empty() { String::new() } else { text(&mut rest, "argument string")? };
    if provider.is_empty() || name.is_empty() {
        return Err(format!("an empty {}", if provider.is_empty() { "provider" } else { "probe name" }));
    }
    Ok(RawNote { pc: addr(0), base: addr(1), semaphore: addr(2), provider, name, args })
}

/// A `PT_LOAD` segment: (vaddr, memsz, offset, flags).
type Load = (u64, u64, u64, u32);

/// The file offset of `vaddr`, from the segment containing it that has
/// `flag` (`PF_X` for code, `PF_W` for a semaphore) if there is one.
fn offset_of(loads: &[Load], vaddr: u64, flag: u32) -> Option<u64> {
    let contains = |l: &&Load| l.0 <= vaddr && vaddr < l.0.saturating_add(l.1);
    let seg = loads.iter().filter(|l| l.3 & flag != 0).find(contains).or_else(|| loads.iter().find(contains))?;
    (vaddr - seg.0).checked_add(seg.2)
}

fn read_sites<Elf: FileHeader<Endian = Endianness>>(data: &[u8]) -> Result<Vec<Site>, Bad> {
    let bad = |e: object::read::Error| Bad::Elf(e.to_string());
    let header = Elf::parse(data).map_err(bad)?;
    let endian = header.endian().map_err(bad)?;
    let loads: Vec<Load> = header
        .program_headers(endian, data)
        .map_err(bad)?
        .iter()
        .filter(|p| p.p_type(endian) == elf::PT_LOAD)
        .map(|p| (p.p_vaddr(endian).into(), p.p_memsz(endian).into(), p.p_offset(endian).into(), p.p_flags(endian)))
        .collect();
    let sections = header.sections(endian, data).map_err(bad)?;
    let base_addr: Option<u64> =
        sections.section_by_name(endian, b".stapsdt.base").map(|(_, s)| s.sh_addr(endian).into());
    let addr_size = if header.is_class_64() { 8 } else { 4 };
    let little = header.is_little_endian();

    let mut raw = Vec::new();
    for (i, section) in sections.iter().enumerate() {
        if section.sh_type(endian) != elf::SHT_NOTE {
            continue;
        }
        let section_name = sections
            .section_name(endian, section)
            .map_or_else(|_| format!("section {i}"), |n| String::from_utf8_lossy(n).into_owned());
        let malformed = |reason: String| Bad::Note { section: section_name.clone(), reason };
        let Some(mut notes) = section.notes(endian, data).map_err(|e| malformed(e.to_string()))? else { continue };
        for index in 1.. {
            let Some(note) = notes.next().map_err(|e| malformed(format!("note {index}: {e}")))? else { break };
            if note.name() != b"stapsdt" || note.n_type(endian) != 3 {
                continue;
            }
            let n =
                parse_note_desc(note.desc(), addr_size, little).map_err(|e| malformed(format!("note {index}: {e}")))?;
            raw.push((section_name.clone(), index, n));
        }
    }

    // Symbols are only needed for operands like `8@foo(%rip)`.
    let needs_symbols = raw.iter().any(|(_, _, n)| has_symbol(&n.args));
    let symbols: HashMap<&[u8], u64> = if needs_symbols {
        let mut map = HashMap::new();
        // .symtab last, so its (more complete) entries win.
        for sh_type in [elf::SHT_DYNSYM, elf::SHT_SYMTAB] {
            let Ok(table) = sections.symbols(endian, data, sh_type) else { continue };
            for sym in table.iter() {
                if sym.is_undefined(endian) {
                    continue;
                }
                if let Ok(name) = sym.name(endian, table.strings()) {
                    if !name.is_empty() {
                        map.insert(name, sym.st_value(endian).into());
                    }
                }
            }
        }
        map
    } else {
        HashMap::new()
    };
    let lookup = |name: &str| -> Option<u64> {
        symbols.get(name.as_bytes()).copied().or_else(|| {
            // `foo@GLIBC_2.2.5`-style versioned names match their base.
            let (base, _) = name.split_once('@')?;
            symbols.get(base.as_bytes()).copied()
        })
    };

    let mut sites = Vec::new();
    for (section, index, n) in raw {
        let delta = match base_addr {
            Some(actual) if n.base != 0 => actual.wrapping_sub(n.base),
            _ => 0,
        };
        // An address in no segment cannot be attached to (nor counted, for
        // a semaphore): the note is wrong, and libbpf refuses it too.
        let outside = |what: &str, vaddr: u64| Bad::Note {
            section: section.clone(),
            reason: format!("note {index} ({}:{}): {what} {vaddr:#x} is in no loadable segment", n.provider, n.name),
        };
        let vaddr = n.pc.wrapping_add(delta);
        let file_offset = offset_of(&loads, vaddr, elf::PF_X).ok_or_else(|| outside("its address", vaddr))?;
        let semaphore = match n.semaphore {
            0 => None,
            s => {
                let vaddr = s.wrapping_add(delta);
                let file_offset = offset_of(&loads, vaddr, elf::PF_W).ok_or_else(|| outside("its semaphore", vaddr))?;
                Some(Semaphore { vaddr, file_offset })
            }
        };
        let args = operand::decode_args(&n.args, vaddr, &lookup);
        sites.push(Site { provider: n.provider, name: n.name, vaddr, file_offset, semaphore, args_text: n.args, args });
    }
    Ok(sites)
}

/// Whether an argument string names a symbol in some operand (a letter
/// outside register names, sizes and hex digits).
fn has_symbol(args: &str) -> bool {
    args.split_whitespace().any(|a| {
        let op = a.split_once('@').map_or(a, |(_, op)| op);
        !op.starts_with('%') && !op.starts_with('$') && {
            let disp = op.split('(').next().unwrap_or("");
            disp.split(['+', '-']).any(|t| t.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_' || c == '.'))
        }
    })
}
