//! Symbols by address: which function or data object covers an address,
//! for naming the frames of a captured stack and `usym` — the other
//! direction of the name index in `elf.rs`, over the same mapping.
//!
//! The table is built on first use from `.symtab` and `.dynsym` merged:
//! functions (`STT_FUNC`, `STT_GNU_IFUNC`) and data objects (`STT_OBJECT`,
//! so that `usym(uaddr("global_var"))` names the variable). A symbol covers
//! `[value, value + size)`; one of size 0 (hand-written assembly, some
//! linker-made symbols) covers up to the next symbol, and never past the end
//! of its `PT_LOAD` segment. A symbol whose value lies in no segment is no
//! address (an absolute constant, a damaged value) and is left out.
//!
//! Aliases (several symbols at one address) keep one entry: a function over
//! an object, global over weak over local, a plain name over a versioned one
//! (`foo@@V2`, the default, over `foo@V1`), a sized one over one of size 0,
//! fewer leading underscores (`malloc` over `__libc_malloc`, as perf
//! chooses), then the first name in byte order, so the choice does not
//! depend on the order of the tables. When symbols nest (a local symbol inside a bigger
//! function) the innermost one covering the address wins.
//!
//! An entry is 32 bytes and its name a byte range of the mapped file:
//! nothing is allocated per symbol, only per name actually printed (by the
//! caller).

use super::{symbols_of, Load, NameRef};
use object::elf;

/// How many entries before an address are tried for one covering it, when
/// the nearest does not (it ends before the address, and an earlier,
/// bigger symbol may enclose it). Nesting is shallow in practice.
const LOOK_BACK: usize = 8;

/// One file's symbols, sorted by start address, one per address.
pub(super) struct AddressTable {
    entries: Vec<Entry>,
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    start: u64,
    /// Exclusive.
    end: u64,
    name: NameRef,
    sized: bool,
}

/// The symbol covering an address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SymbolAt<'a> {
    pub name: &'a str,
    /// The symbol's value: the address minus this is the offset into it.
    pub start: u64,
    /// The symbol's place in its file's table, fixed for the file's life:
    /// a key for caching what is made from the name (its demangled form).
    pub index: u32,
    /// The symbol's size covers the address; `false` when the symbol has
    /// size 0 and is only the last one before the address.
    pub sized: bool,
}

impl AddressTable {
    /// The table of the mapped file `data`, whose segments are `loads`.
    /// `data` was indexed by `elf.rs` already, so its symbol tables parse;
    /// should they not, the table is empty.
    pub(super) fn build(data: &[u8], loads: &[Load]) -> AddressTable {
        // (entry, type rank, bind rank, version rank) before choosing.
        let mut all: Vec<(Entry, u8, u8, u8)> = Vec::new();
        let walked = symbols_of(data, |s| {
            let type_rank = match s.st_type {
                elf::STT_FUNC | elf::STT_GNU_IFUNC => 0,
                elf::STT_OBJECT => 1,
                _ => return,
            };
            if s.undefined || s.value == 0 {
                return;
            }
            let Some(seg) = loads.iter().find(|l| l.vaddr <= s.value && s.value - l.vaddr < l.memsz) else {
                return;
            };
            let sized = s.size > 0;
            let end = if sized { s.value.saturating_add(s.size) } else { seg.vaddr.saturating_add(seg.memsz) };
            let entry = Entry { start: s.value, end, name: s.name, sized };
            all.push((entry, type_rank, s.bind_rank, s.version_rank));
        });
        if walked.is_err() {
            return AddressTable { entries: Vec::new() };
        }
        let name = |n: &NameRef| data.get(n.start..n.start + n.len as usize).unwrap_or_default();
        let underscores = |n: &NameRef| name(n).iter().take_while(|&&b| b == b'_').count();
        all.sort_by(|(a, at, ab, av), (b, bt, bb, bv)| {
            (a.start, at, ab, av, !a.sized)
                .cmp(&(b.start, bt, bb, bv, !b.sized))
                .then_with(|| underscores(&a.name).cmp(&underscores(&b.name)))
                .then_with(|| name(&a.name).cmp(name(&b.name)))
        });
        let mut entries: Vec<Entry> = all.into_iter().map(|(e, ..)| e).collect();
        entries.dedup_by_key(|e| e.start);
        // A size-0 symbol ends where the next one starts.
        for i in 1..entries.len() {
            let next = entries[i].start;
            let prev = &mut entries[i - 1];
            if !prev.sized {
                prev.end = prev.end.min(next);
            }
        }
        entries.shrink_to_fit();
        AddressTable { entries }
    }

    /// The symbol covering `vaddr`, its name read through `name`.
    pub(super) fn find<'a>(&self, vaddr: u64, name: impl Fn(NameRef) -> &'a str) -> Option<SymbolAt<'a>> {
        let after = self.entries.partition_point(|e| e.start <= vaddr);
        let i = (after.saturating_sub(LOOK_BACK)..after).rev().find(|&i| vaddr < self.entries[i].end)?;
        let e = &self.entries[i];
        Some(SymbolAt { name: name(e.name), start: e.start, index: u32::try_from(i).ok()?, sized: e.sized })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A table over made-up names (`NameRef`s into `NAMES`).
    fn table(syms: &[(u64, u64, &str)]) -> AddressTable {
        let mut entries: Vec<Entry> = syms
            .iter()
            .map(|&(start, size, n)| {
                let at = NAMES.find(n).unwrap();
                let name = NameRef { start: at, len: n.len() as u32 };
                Entry { start, end: if size > 0 { start + size } else { u64::MAX }, name, sized: size > 0 }
            })
            .collect();
        for i in 1..entries.len() {
            let next = entries[i].start;
            if !entries[i - 1].sized {
                entries[i - 1].end = next;
            }
        }
        AddressTable { entries }
    }

    const NAMES: &str = "outer inner asm_label last";

    fn at(t: &AddressTable, vaddr: u64) -> Option<(&'static str, u64)> {
        t.find(vaddr, |n| &NAMES[n.start..n.start + n.len as usize]).map(|s| (s.name, vaddr - s.start))
    }

    #[test]
    fn nested_gaps_and_size_zero() {
        let t =
            table(&[(0x100, 0x100, "outer"), (0x140, 0x10, "inner"), (0x300, 0, "asm_label"), (0x380, 0x10, "last")]);
        assert_eq!(at(&t, 0xff), None, "before the first symbol");
        assert_eq!(at(&t, 0x100), Some(("outer", 0)));
        assert_eq!(at(&t, 0x145), Some(("inner", 5)), "the innermost symbol");
        assert_eq!(at(&t, 0x150), Some(("outer", 0x50)), "past the inner one, still in the outer one");
        assert_eq!(at(&t, 0x200), None, "a gap after a sized symbol");
        assert_eq!(at(&t, 0x37f), Some(("asm_label", 0x7f)), "size 0 reaches the next symbol");
        assert_eq!(at(&t, 0x38f), Some(("last", 0xf)));
        assert_eq!(at(&t, 0x390), None);
    }
}
