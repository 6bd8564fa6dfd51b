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
//! A debug file is memory-mapped, not read: only the pages of the sections
//! actually used are ever touched. Compressed sections (`SHF_COMPRESSED` with
//! zlib or zstd, and the older `.zdebug_*` ones) are decompressed on first
//! use, once, and kept for the life of the [`DebugFile`].

use super::DwarfError;
use crate::sys::Mmap;
use object::read::{CompressedFileRange, CompressionFormat, Object, ObjectKind, ObjectSection};
use std::cell::OnceCell;
use std::fs::File;
use std::path::{Path, PathBuf};

/// Where system debug files live.
const DEBUG_ROOT: &str = "/usr/lib/debug";

/// A decompressed section larger than this is treated as malformed rather
/// than trusted with an allocation of that size.
const MAX_SECTION: u64 = 1 << 32;

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
    /// The decompressed bytes, for a compressed section.
    data: OnceCell<Vec<u8>>,
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
        if let Some(data) = section.data.get() {
            return Ok(data);
        }
        if r.uncompressed_size > MAX_SECTION {
            return Err(bad(format!("claims an uncompressed size of {} bytes", r.uncompressed_size)));
        }
        let data = r
            .data(self.map.bytes())
            .and_then(|c| c.decompress())
            .map_err(|e| bad(format!("cannot decompress: {e}")))?
            .into_owned();
        let _ = section.data.set(data);
        Ok(section.data.get().map(Vec::as_slice).unwrap_or(&[]))
    }

    /// Whether the file has any DWARF at all.
    fn has_debug_info(&self) -> bool {
        self.sections[0].as_ref().is_some_and(|s| s.range.uncompressed_size > 0)
    }
}

/// Facts about the binary that lead to its debug file.
struct Links {
    build_id: Option<Vec<u8>>,
    debuglink: Option<(String, u32)>,
}

/// Find the DWARF for `binary` (a canonical path); `None` when there is none.
pub(super) fn find(binary: &Path) -> Result<Option<DebugFile>, DwarfError> {
    let (own, links) = open(binary)?;
    if own.has_debug_info() {
        return Ok(Some(own));
    }
    drop(own);
    if let Some(id) = links.build_id.as_deref().filter(|id| id.len() >= 2) {
        let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
        let path = Path::new(DEBUG_ROOT).join(".build-id").join(&hex[..2]).join(format!("{}.debug", &hex[2..]));
        if path.is_file() {
            let (file, theirs) = open(&path)?;
            // A debug file carries the note of the binary it was split from;
            // a different one means a stale file from another build.
            if theirs.build_id.as_deref().is_none_or(|t| t == id) && file.has_debug_info() {
                return Ok(Some(file));
            }
        }
    }
    if let Some((name, crc)) = &links.debuglink {
        let dir = binary.parent().unwrap_or(Path::new("/"));
        let candidates = [
            dir.join(name),
            dir.join(".debug").join(name),
            Path::new(DEBUG_ROOT).join(dir.strip_prefix("/").unwrap_or(dir)).join(name),
        ];
        for path in candidates {
            if path == binary || !path.is_file() || file_crc(&path)? != *crc {
                continue;
            }
            let (file, _) = open(&path)?;
            if file.has_debug_info() {
                return Ok(Some(file));
            }
        }
    }
    Ok(None)
}

/// Map `path` and locate its DWARF sections and debug links.
fn open(path: &Path) -> Result<(DebugFile, Links), DwarfError> {
    let io = |source| DwarfError::Io { path: path.to_path_buf(), source };
    let file = File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    if len < 64 {
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
    let links = Links {
        build_id: parsed.build_id().ok().flatten().map(<[u8]>::to_vec),
        debuglink: parsed
            .gnu_debuglink()
            .ok()
            .flatten()
            .and_then(|(name, crc)| Some((std::str::from_utf8(name).ok()?.to_string(), crc))),
    };
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
            reason: e.to_string(),
        })?;
        *slot = Some(Section { name: id.name(), range, data: OnceCell::new() });
    }
    drop(parsed);
    Ok((DebugFile { path: path.to_path_buf(), map, endian, sections }, links))
}

/// The CRC-32 `.gnu_debuglink` records: the IEEE 802.3 polynomial, reflected,
/// initial value and final xor all ones (the zlib `crc32`).
fn file_crc(path: &Path) -> Result<u32, DwarfError> {
    let io = |source| DwarfError::Io { path: path.to_path_buf(), source };
    let file = File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    if len == 0 {
        return Ok(crc32(&[]));
    }
    let map = Mmap::map(&file, len).map_err(io)?;
    Ok(crc32(map.bytes()))
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
