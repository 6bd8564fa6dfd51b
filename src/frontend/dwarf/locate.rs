//! Finding a binary's DWARF and making its sections readable.
//!
//! Distributions ship binaries stripped and the debug info separately, so the
//! DWARF of `/usr/lib/x86_64-linux-gnu/libc.so.6` usually lives in another
//! file. The places are searched in gdb's order:
//!
//! 1. the binary itself, when it has a `.debug_info` section;
//! 2. `/usr/lib/debug/.build-id/xx/yyyy.debug`, named by the binary's
//!    `NT_GNU_BUILD_ID` note (checked against the candidate's own note). This
//!    comes before the debuglink because it identifies the file exactly and
//!    costs one `stat`, where a debuglink candidate costs a CRC of the whole
//!    candidate file;
//! 3. the `.gnu_debuglink` name, in the binary's directory, its `.debug/`
//!    subdirectory and `/usr/lib/debug/<directory>/`, accepted only when the
//!    candidate's CRC-32 matches the one recorded in the link.
//!
//! The binary is untrusted input, and so is everything it names. A debuglink
//! is a file name: one with a `/`, a `..`, or none at all is refused (with a
//! note saying so), never joined to a directory. A candidate is read whole
//! for its CRC only when it is a regular file of plausible size (an ELF
//! header's worth, at most [`MAX_DEBUG_FILE`]).
//!
//! A debug file is memory-mapped, not read: only the pages of the sections
//! actually used are ever touched. Compressed sections (`SHF_COMPRESSED` with
//! zlib or zstd, and the older `.zdebug_*` ones) are decompressed on first
//! use, once, and kept for the life of the [`DebugFile`]; `compressed.rs`
//! does it without trusting the size their headers claim.

use super::{compressed, DwarfError};
use crate::sys::Mmap;
use object::read::{CompressedFileRange, CompressionFormat, Object, ObjectKind, ObjectSection};
use std::cell::OnceCell;
use std::fs::File;
use std::path::{Path, PathBuf};

/// Where system debug files live.
const DEBUG_ROOT: &str = "/usr/lib/debug";

/// A compressed section claiming more than this is malformed. (What it
/// claims is never allocated up front; see `compressed.rs`.)
const MAX_SECTION: u64 = 1 << 32;

/// A debug file larger than this is not read for its CRC: the DWARF of the
/// largest programs (browsers, LLVM) stays well below it.
pub(super) const MAX_DEBUG_FILE: u64 = 1 << 34;

/// The smallest file that can be an ELF file (a 64-bit ELF header).
const MIN_ELF: u64 = 64;

/// The DWARF sections this reader uses; everything else (line tables,
/// location lists, frame info) is never decompressed.
const SECTIONS: [gimli::SectionId; 9] = [
    gimli::SectionId::DebugInfo,
    gimli::SectionId::DebugAbbrev,
    gimli::SectionId::DebugStr,
    gimli::SectionId::DebugLineStr,
    gimli::SectionId::DebugStrOffsets,
    gimli::SectionId::DebugAddr,
    gimli::SectionId::DebugRanges,
    gimli::SectionId::DebugRngLists,
    gimli::SectionId::DebugAranges,
];

/// One mapped file holding DWARF sections.
pub(super) struct DebugFile {
    pub path: PathBuf,
    map: Mmap,
    pub endian: gimli::RunTimeEndian,
    /// Indexed like [`SECTIONS`]; `None` when the file lacks the section.
    sections: [Option<Section>; SECTIONS.len()],
}

struct Section {
    name: &'static str,
    range: CompressedFileRange,
    /// The decompressed bytes of a compressed section, or why it could not
    /// be decompressed: a failure is remembered, never retried per lookup.
    data: OnceCell<Result<Vec<u8>, String>>,
}

impl DebugFile {
    /// The bytes of a section (empty when absent), decompressing on first use.
    pub fn section(&self, id: gimli::SectionId) -> Result<&[u8], DwarfError> {
        let Some(section) = SECTIONS.iter().position(|s| *s == id).and_then(|i| self.sections[i].as_ref()) else {
            return Ok(&[]);
        };
        let bad = |reason: String| DwarfError::Section { path: self.path.clone(), section: section.name, reason };
        let r = &section.range;
        if r.format == CompressionFormat::None {
            let start = usize::try_from(r.offset).map_err(|_| bad("offset out of range".into()))?;
            let len = usize::try_from(r.uncompressed_size).map_err(|_| bad("size out of range".into()))?;
            return start
                .checked_add(len)
                .and_then(|end| self.map.bytes().get(start..end))
                .ok_or_else(|| bad("extends past the end of the file".into()));
        }
        let data = section.data.get_or_init(|| {
            let compressed = r.data(self.map.bytes()).map_err(|e| format!("malformed: {e}"))?;
            compressed::decompress(r.format, compressed.data, r.uncompressed_size, MAX_SECTION)
        });
        data.as_deref().map_err(|reason| bad(reason.clone()))
    }

    /// Whether the file has any DWARF at all.
    fn has_debug_info(&self) -> bool {
        self.sections[0].as_ref().is_some_and(|s| s.range.uncompressed_size > 0)
    }
}

/// Facts about the binary that lead to its debug file.
struct Links {
    build_id: Option<Vec<u8>>,
    /// The `.gnu_debuglink` name (raw, unchecked) and CRC, or why the
    /// section could not be read.
    debuglink: Result<Option<(Vec<u8>, u32)>, String>,
}

/// What [`find`] found: the debug file, or when there is none, notes on
/// what was refused on the way (for the "no debug info" diagnostic).
pub(super) struct Found {
    pub file: Option<DebugFile>,
    pub notes: Vec<String>,
}

/// Find the DWARF for `binary` (a canonical path).
pub(super) fn find(binary: &Path) -> Result<Found, DwarfError> {
    let mut notes = Vec::new();
    let (own, links) = open(binary, open_file(binary)?)?;
    if own.has_debug_info() {
        return Ok(Found { file: Some(own), notes });
    }
    drop(own);
    if let Some(id) = links.build_id.as_deref().filter(|id| id.len() >= 2) {
        let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
        let path = Path::new(DEBUG_ROOT).join(".build-id").join(&hex[..2]).join(format!("{}.debug", &hex[2..]));
        if let Some(f) = plausible(&path, &mut notes)? {
            let (file, theirs) = open(&path, f)?;
            // A debug file carries the note of the binary it was split from;
            // a different one means a stale file from another build.
            if theirs.build_id.as_deref().is_none_or(|t| t == id) && file.has_debug_info() {
                return Ok(Found { file: Some(file), notes });
            }
        }
    }
    let link = match links.debuglink {
        Ok(Some((name, crc))) => match debuglink_name(&name) {
            Ok(name) => Some((name.to_string(), crc)),
            Err(why) => {
                notes.push(format!("its .gnu_debuglink was refused: {why}"));
                None
            }
        },
        Ok(None) => None,
        Err(why) => {
            notes.push(format!("its .gnu_debuglink section is malformed: {why}"));
            None
        }
    };
    if let Some((name, crc)) = link {
        let dir = binary.parent().unwrap_or(Path::new("/"));
        let candidates = [
            dir.join(&name),
            dir.join(".debug").join(&name),
            Path::new(DEBUG_ROOT).join(dir.strip_prefix("/").unwrap_or(dir)).join(&name),
        ];
        for path in candidates {
            if path == binary {
                continue;
            }
            let Some(f) = plausible(&path, &mut notes)? else { continue };
            let Some(f) = crc_matches(&path, f, crc)? else {
                notes.push(format!("{} is not the file its .gnu_debuglink names (the CRC differs)", path.display()));
                continue;
            };
            let (file, _) = open(&path, f)?;
            if file.has_debug_info() {
                return Ok(Found { file: Some(file), notes });
            }
        }
    }
    Ok(Found { file: None, notes })
}

/// A debuglink names a file beside the binary (or in the debug directories
/// mirroring it), never a path: the name comes from the binary, and
/// `../../etc/shadow` must not be opened on its say-so.
fn debuglink_name(name: &[u8]) -> Result<&str, String> {
    let shown = String::from_utf8_lossy(name);
    let name = std::str::from_utf8(name).map_err(|_| format!("`{}` is not UTF-8", shown.escape_debug()))?;
    if name.is_empty() {
        return Err("the name is empty".into());
    }
    if name.contains('/') || name.contains("..") || name == "." {
        return Err(format!("`{}` is a path, and a debuglink may only name a file", name.escape_debug()));
    }
    Ok(name)
}

/// `path` opened, when it is a regular file of a size a debug file can have;
/// `None` when it is absent or not a regular file (a FIFO would block, a
/// device never end), or with a note when its size is implausible.
fn plausible(path: &Path, notes: &mut Vec<String>) -> Result<Option<File>, DwarfError> {
    // Look before opening: opening a FIFO waits for a writer.
    if !std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
        return Ok(None);
    }
    let file = open_file(path)?;
    // The file actually opened, which may have been replaced since.
    let meta = file.metadata().map_err(|source| DwarfError::Io { path: path.to_path_buf(), source })?;
    if !meta.is_file() {
        return Ok(None);
    }
    let why = match meta.len() {
        n if n < MIN_ELF => format!("{n} bytes is too small for an ELF file"),
        n if n > MAX_DEBUG_FILE => format!("{n} bytes is more than a debug file may have ({MAX_DEBUG_FILE})"),
        _ => return Ok(Some(file)),
    };
    notes.push(format!("{} was not read: {why}", path.display()));
    Ok(None)
}

fn open_file(path: &Path) -> Result<File, DwarfError> {
    File::open(path).map_err(|source| DwarfError::Io { path: path.to_path_buf(), source })
}

/// Map `file` (at `path`) and locate its DWARF sections and debug links.
fn open(path: &Path, file: File) -> Result<(DebugFile, Links), DwarfError> {
    let io = |source| DwarfError::Io { path: path.to_path_buf(), source };
    let len = file.metadata().map_err(io)?.len();
    if len < MIN_ELF {
        return Err(DwarfError::Elf { path: path.to_path_buf(), reason: "not an ELF file".into() });
    }
    let map = Mmap::map(&file, len).map_err(io)?;
    let parsed = object::File::parse(map.bytes())
        .map_err(|e| DwarfError::Elf { path: path.to_path_buf(), reason: e.to_string() })?;
    if parsed.kind() == ObjectKind::Relocatable {
        // Its DWARF would need relocating first, and nothing can be
        // attached to an object file anyway.
        return Err(DwarfError::Elf {
            path: path.to_path_buf(),
            reason: "a relocatable object file (.o) has no usable debug info; use the linked binary".into(),
        });
    }
    let links = Links { build_id: parsed.build_id().ok().flatten().map(<[u8]>::to_vec), debuglink: debuglink(&parsed) };
    let endian = if parsed.is_little_endian() { gimli::RunTimeEndian::Little } else { gimli::RunTimeEndian::Big };
    let mut sections: [Option<Section>; SECTIONS.len()] = Default::default();
    for (slot, id) in sections.iter_mut().zip(SECTIONS) {
        // `section_by_name` also finds the `.zdebug_*` spelling.
        let Some(s) = parsed.section_by_name(id.name()) else { continue };
        // SHT_NOBITS: a stub left by `objcopy --only-keep-debug` or `strip`.
        if s.file_range().is_none() {
            continue;
        }
        let range = s.compressed_file_range().map_err(|e| DwarfError::Section {
            path: path.to_path_buf(),
            section: id.name(),
            reason: format!("malformed: {e}"),
        })?;
        *slot = Some(Section { name: id.name(), range, data: OnceCell::new() });
    }
    drop(parsed);
    Ok((DebugFile { path: path.to_path_buf(), map, endian, sections }, links))
}

/// The `.gnu_debuglink` section: a NUL-terminated name, padding to a
/// multiple of 4, and a CRC-32 in the file's byte order. (Read here rather
/// than by `object`, which wants the CRC aligned in memory.)
fn debuglink(parsed: &object::File) -> Result<Option<(Vec<u8>, u32)>, String> {
    let Some(section) = parsed.section_by_name(".gnu_debuglink") else { return Ok(None) };
    let data = section.data().map_err(|e| e.to_string())?;
    let nul = data.iter().position(|&b| b == 0).ok_or("the name has no terminating NUL")?;
    let at = (nul + 1).next_multiple_of(4);
    let crc: [u8; 4] = data.get(at..at + 4).and_then(|b| b.try_into().ok()).ok_or("no CRC after the name")?;
    let crc = if parsed.is_little_endian() { u32::from_le_bytes(crc) } else { u32::from_be_bytes(crc) };
    Ok(Some((data[..nul].to_vec(), crc)))
}

/// `file` back when its CRC-32 is `crc`: the one `.gnu_debuglink` records,
/// with the IEEE 802.3 polynomial, reflected, initial value and final xor
/// all ones (the zlib `crc32`). Mapped rather than read: [`plausible`] has
/// bounded its size.
fn crc_matches(path: &Path, file: File, crc: u32) -> Result<Option<File>, DwarfError> {
    let io = |source| DwarfError::Io { path: path.to_path_buf(), source };
    let len = file.metadata().map_err(io)?.len();
    let map = Mmap::map(&file, len).map_err(io)?;
    Ok((crc32(map.bytes()) == crc).then_some(file))
}

const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

pub(super) fn crc32(data: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in data {
        c = CRC_TABLE[((c ^ b as u32) & 0xff) as usize] ^ (c >> 8);
    }
    !c
}
