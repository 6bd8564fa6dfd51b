//! Mutations of an ELF file: random bit flips and truncations, and edits
//! that know the format (header, section and program header fields, symbol
//! entries, `stapsdt` notes, compression headers, DWARF section bytes),
//! plus splices from the other target binaries.
//!
//! Structure-aware edits matter because most random flips land in code or
//! padding that no reader looks at; an edit of `e_shoff`, of a symbol's
//! `st_value`, of a note's `descsz` or of a LEB128 in `.debug_info` hits
//! exactly the fields the readers under test trust.

use crate::elfedit::{self, Field, Layout};
use crate::rng::Rng;

/// The sections whose bytes are worth corrupting, by reader.
const DWARF: &[&str] = &[
    ".debug_info",
    ".debug_abbrev",
    ".debug_str",
    ".debug_line_str",
    ".debug_aranges",
    ".debug_rnglists",
    ".debug_str_offsets",
    ".debug_addr",
    ".zdebug_info",
    ".zdebug_abbrev",
];
const TABLES: &[&str] = &[".symtab", ".dynsym", ".strtab", ".dynstr", ".dynamic", ".gnu.version", ".gnu.version_d"];
const NOTES: &[&str] = &[".note.stapsdt", ".note.gnu.build-id", ".gnu_debuglink", ".stapsdt.base", ".probes"];

const SYMBOL_TABLES: [&str; 2] = [".symtab", ".dynsym"];
const NOTE_SECTIONS: [&str; 3] = [".note.stapsdt", ".note.gnu.build-id", ".note.ABI-tag"];

/// USDT argument strings, valid and not, for rewriting a note's arguments.
const OPERANDS: &[&str] = &[
    "-4@%eax",
    "8@-8(%rbp)",
    "4@$5",
    "-8@usdt_table+24(%rip)",
    "-8@(%rbx,%rax,8)",
    "8@3(%rip)",
    "1@%ah",
    "2@%r10w",
    "-8@$-16",
    "16@%rax",
    "8@%xmm0",
    "-4@-4(%rdx,%rax,4)",
    "8@nosuch(%rip)",
    "@",
    "8@",
    "@%rax",
    "-0@%rax",
    "8@(%rax,",
    "8@99999999999999999999(%rax)",
    "4@%eax 4@%eax 4@%eax 4@%eax 4@%eax 4@%eax 4@%eax 4@%eax 4@%eax 4@%eax 4@%eax 4@%eax 4@%eax",
    "",
    " ",
    "\u{1}",
];

/// A value for a field: an edge, a neighbour of the old value, or the
/// file's size, which offsets and sizes are checked against.
fn interesting(rng: &mut Rng, old: u64, len: u64) -> u64 {
    match rng.below(14) {
        0 => 0,
        1 => 1,
        2 => *rng.pick(&[0x7f, 0x80, 0xff, 0xffff, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff]),
        3 => *rng.pick(&[1 << 32, 1 << 63, u64::MAX, u64::MAX - 7, 1 << 40]),
        4 => old.wrapping_add(1),
        5 => old.wrapping_sub(1),
        6 => old.wrapping_mul(2),
        7 => old / 2,
        8 => old ^ (1 << rng.below(64)),
        9 => len,
        10 => len.wrapping_sub(rng.below(64) as u64),
        11 => len + rng.below(64) as u64,
        12 => old.wrapping_add(rng.below(8192) as u64).wrapping_sub(4096),
        _ => rng.next(),
    }
}

/// A random field of the file's structures.
fn field(rng: &mut Rng, l: &Layout, data: &[u8]) -> Option<(Field, &'static str)> {
    let phsize = if l.wide { 56 } else { 32 };
    match rng.below(6) {
        0 => Some((*rng.pick(&elfedit::header_fields(l.wide)), "ELF header")),
        1 if !l.sections.is_empty() => {
            let s = rng.pick(&l.sections);
            Some((*rng.pick(&elfedit::section_fields(l.wide, s.header)), "section header"))
        }
        2 if l.phnum > 0 => {
            let at = l.phoff.checked_add(rng.below(l.phnum.min(64) as usize) as u64 * phsize)?;
            Some((*rng.pick(&elfedit::segment_fields(l.wide, usize::try_from(at).ok()?)), "program header"))
        }
        3 => {
            let s = l.section(rng.word(&SYMBOL_TABLES))?;
            let r = l.range(s, data.len())?;
            let size = elfedit::symbol_size(l.wide);
            let at = r.start + rng.below(r.len() / size) * size;
            Some((*rng.pick(&elfedit::symbol_fields(l.wide, at)), "symbol"))
        }
        4 => {
            let s = l.sections.iter().filter(|s| s.flags & 0x800 != 0).nth(rng.below(4))?;
            let at = usize::try_from(s.offset).ok()?;
            Some((*rng.pick(&elfedit::chdr_fields(l.wide, at)), "compression header"))
        }
        _ => {
            // A note header's namesz, descsz or type.
            let s = l.section(rng.word(&NOTE_SECTIONS))?;
            let r = l.range(s, data.len())?;
            let mut notes = Vec::new();
            let mut at = r.start;
            while at + 12 <= r.end {
                notes.push(at);
                let word = |i: usize| elfedit::read(data, Field { at: at + 4 * i, width: 4 }, l.little);
                let (name, desc) = (word(0)? as usize, word(1)? as usize);
                at += 12 + name.div_ceil(4) * 4 + desc.div_ceil(4) * 4;
            }
            if notes.is_empty() {
                return None;
            }
            let note = *rng.pick(&notes);
            Some((Field { at: note + 4 * rng.below(3), width: 4 }, "note header"))
        }
    }
}

/// The byte range of a section named in `names`, if it is in the file.
fn section_bytes(rng: &mut Rng, l: &Layout, len: usize, names: &[&str]) -> Option<std::ops::Range<usize>> {
    let present: Vec<_> = l.sections.iter().filter(|s| names.contains(&s.name.as_str())).collect();
    let s = present.get(rng.below(present.len()))?;
    l.range(s, len)
}

/// Applies one mutation to `data` (taking splices from `others`), and says
/// what it did.
pub fn mutate(rng: &mut Rng, data: &mut Vec<u8>, others: &[&[u8]]) -> String {
    let len = data.len();
    let layout = elfedit::layout(data);
    let region = |rng: &mut Rng, names: &[&str]| layout.as_ref().and_then(|l| section_bytes(rng, l, len, names));
    match rng.below(12) {
        0 | 1 if len > 0 => {
            let flips = rng.range(1, 8);
            for _ in 0..flips {
                let at = rng.below(len);
                data[at] ^= 1 << rng.below(8);
            }
            format!("{flips} random bit flips")
        }
        2..=4 => {
            let Some(l) = &layout else { return "no layout: nothing to edit".into() };
            let Some((f, what)) = field(rng, l, data) else { return "no field there".into() };
            let old = elfedit::read(data, f, l.little).unwrap_or(0);
            let new = interesting(rng, old, len as u64);
            elfedit::write(data, f, l.little, new);
            format!("{what} field at {:#x} ({} bytes): {old:#x} -> {new:#x}", f.at, f.width)
        }
        5 => {
            let cut = match layout.as_ref().filter(|l| !l.sections.is_empty() && rng.chance(1, 2)) {
                Some(l) => {
                    let s = rng.pick(&l.sections);
                    let edge = if rng.chance(1, 2) { s.offset } else { s.offset.saturating_add(s.size) };
                    (edge as usize).saturating_add(rng.below(16)).saturating_sub(8).min(len)
                }
                None => rng.below(len + 1),
            };
            data.truncate(cut);
            format!("truncated to {cut} bytes")
        }
        6 if !others.is_empty() => {
            let other = rng.pick(others);
            let n = rng.range(1, 4096).min(other.len());
            let from = rng.below(other.len() - n + 1);
            let to = if rng.chance(1, 2) { from } else { rng.below(len + 1) };
            let end = (to + n).min(len);
            data[to.min(end)..end].copy_from_slice(&other[from..from + (end - to.min(end))]);
            format!("spliced {n} bytes from another binary's {from:#x} at {to:#x}")
        }
        7 => {
            let at = rng.below(len + 1);
            if rng.chance(1, 2) {
                let n = rng.range(1, 256).min(len - at);
                data.drain(at..at + n);
                format!("deleted {n} bytes at {at:#x}")
            } else {
                let n = rng.range(1, 256);
                let fill = rng.next() as u8;
                data.splice(at..at, std::iter::repeat_n(fill, n));
                format!("inserted {n} bytes at {at:#x}")
            }
        }
        8 | 9 => {
            let Some(r) = region(rng, DWARF) else { return "no DWARF section".into() };
            let at = r.start + rng.below(r.len());
            let bytes: Vec<u8> = match rng.below(4) {
                0 => vec![0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
                1 => vec![0x80, 0x80, 0x80, 0x80, 0x10],
                2 => vec![rng.next() as u8],
                _ => vec![*rng.pick(&[0u8, 1, 0x0b, 0x13, 0x21, 0x2c, 0x7f, 0xff])],
            };
            let end = (at + bytes.len()).min(r.end);
            data[at..end].copy_from_slice(&bytes[..end - at]);
            format!("DWARF bytes at {at:#x}: {bytes:02x?}")
        }
        10 => {
            let Some(r) = region(rng, NOTES).or_else(|| region(rng, TABLES)) else { return "no note or table".into() };
            let text = if rng.chance(1, 2) { *rng.pick(OPERANDS) } else { *rng.pick(&["usdt", "", "x", "\u{ff}"]) };
            let at = r.start + rng.below(r.len());
            let end = (at + text.len() + 1).min(r.end);
            let mut bytes = text.as_bytes().to_vec();
            bytes.push(0);
            data[at..end].copy_from_slice(&bytes[..end - at]);
            format!("wrote {text:?} at {at:#x}")
        }
        _ => {
            let Some(r) = region(rng, TABLES).or_else(|| region(rng, DWARF)) else { return "no table".into() };
            let at = r.start + rng.below(r.len());
            let n = rng.range(1, 16).min(r.end - at);
            for b in &mut data[at..at + n] {
                *b = rng.next() as u8;
            }
            format!("{n} random bytes at {at:#x} in a table")
        }
    }
}
