//! Kernel addresses to names, from `/proc/kallsyms`.
//!
//! kallsyms lists every symbol with its address and `nm` type but no size.
//! The table keeps the text symbols (`t`, `T`, `w`, `W`; modules' included,
//! and BPF programs', which the kernel lists as module `[bpf]`), sorted by
//! address; an address resolves to the greatest text symbol starting at or
//! below it, offset = address − start. Every other symbol (data, and the
//! `__pfx_`/`__cfi_` padding before functions) is kept only as a *bound*,
//! without its name: an address past the last function before such a
//! symbol is in no function. Addresses below the first symbol, or at and
//! past the last one, are unknown.
//!
//! Memory: 120k–200k text symbols on a distribution kernel. The file is
//! read line by line, not whole (it is several MB); names go into one
//! string arena as they are read, and each entry is 12 bytes (address,
//! name offset).

use crate::frontend::kfuncs::kallsyms_line;
use std::io::BufRead;

/// The name offset of an entry that only bounds the one before it.
const BOUND: u32 = u32::MAX;

/// The kernel's text symbols by address; see the module docs.
#[derive(Default)]
pub(super) struct KernelSymbols {
    starts: Vec<u64>,
    /// Per entry: where its name starts in `arena` (it ends at the next
    /// `\n`), or [`BOUND`].
    names: Vec<u32>,
    arena: String,
}

/// A kernel symbol covering an address.
pub(super) struct KernelSymbol<'a> {
    pub name: &'a str,
    pub start: u64,
    /// Its place in the table: a key for caching the name.
    pub index: u32,
}

impl KernelSymbols {
    /// The table of a kallsyms text (tests).
    #[cfg(test)]
    pub(super) fn parse(text: &str) -> KernelSymbols {
        KernelSymbols::read(text.as_bytes()).expect("reading a string")
    }

    /// The table of the kallsyms text `input`. Empty when kallsyms hides
    /// addresses (all zero).
    pub(super) fn read(mut input: impl BufRead) -> std::io::Result<KernelSymbols> {
        let mut table = KernelSymbols::default();
        // (address, rank: 0 T, 1 W, 2 t/w, 3 a bound; name offset).
        let mut all: Vec<(u64, u8, u32)> = Vec::new();
        let mut line = Vec::new();
        loop {
            line.clear();
            if input.read_until(b'\n', &mut line)? == 0 {
                break;
            }
            let Some(l) = std::str::from_utf8(&line).ok().and_then(kallsyms_line) else { continue };
            if l.addr == 0 {
                continue;
            }
            let rank = match l.kind {
                _ if l.is_padding() || !l.is_text() => 3,
                'T' => 0,
                'W' => 1,
                _ => 2,
            };
            let at = if rank == 3 {
                BOUND
            } else {
                let Ok(at) = u32::try_from(table.arena.len()) else { break };
                table.arena.push_str(l.name);
                table.arena.push('\n');
                at
            };
            all.push((l.addr, rank, at));
        }
        // At one address a text symbol wins over a bound, a global one over
        // a local one; the sort is stable, so then the first listed.
        all.sort_by_key(|e| (e.0, e.1));
        all.dedup_by_key(|e| e.0);
        // A run of bounds is one bound.
        all.dedup_by(|later, first| later.1 == 3 && first.1 == 3);
        table.starts = all.iter().map(|e| e.0).collect();
        table.names = all.iter().map(|e| e.2).collect();
        table.arena.shrink_to_fit();
        Ok(table)
    }

    /// How many entries the table has (text symbols and bounds).
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.starts.len()
    }

    /// Whether the table has no symbols (kallsyms hid the addresses).
    pub(super) fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    /// The text symbol covering `addr`; see the module docs.
    pub(super) fn find(&self, addr: u64) -> Option<KernelSymbol<'_>> {
        let i = self.starts.partition_point(|&s| s <= addr).checked_sub(1)?;
        if i + 1 == self.starts.len() {
            // The last symbol bounds the table: no size says how far it goes.
            return None;
        }
        let at = self.names[i];
        if at == BOUND {
            return None;
        }
        let rest = self.arena.get(at as usize..)?;
        let name = &rest[..rest.find('\n')?];
        Some(KernelSymbol { name, start: self.starts[i], index: u32::try_from(i).ok()? })
    }

    /// Bytes of memory the table holds.
    #[cfg(test)]
    pub(super) fn heap_bytes(&self) -> usize {
        self.starts.capacity() * 8 + self.names.capacity() * 4 + self.arena.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
ffffffff81000000 T _stext
ffffffff81000000 t local_alias
ffffffff81000100 t __pfx_do_read
ffffffff81000110 T do_read
ffffffff81000110 W do_read_weak_alias
ffffffff81000200 t helper.cold
ffffffff81000300 T _etext
ffffffff82000000 D jiffies
ffffffff82000008 d some_data
ffffffffc0000000 t snd_open\t[snd]
ffffffffc0000080 t snd_close\t[snd]
ffffffffc0001000 d snd_table\t[snd]
ffffffffc0002000 t bpf_prog_6deef7357e7b4530_sys_enter\t[bpf]
ffffffffc0002100 T __last_one
";

    fn name(t: &KernelSymbols, addr: u64) -> Option<(String, u64)> {
        t.find(addr).map(|s| (s.name.to_string(), addr - s.start))
    }

    #[test]
    fn nearest_text_symbol_below_within_bounds() {
        let t = KernelSymbols::parse(TEXT);
        let n = |s: &str, off: u64| Some((s.to_string(), off));
        assert_eq!(name(&t, 0xffffffff80ffffff), None, "below the first symbol");
        assert_eq!(name(&t, 0xffffffff81000000), n("_stext", 0), "T over t at one address");
        assert_eq!(name(&t, 0xffffffff810000ff), n("_stext", 0xff));
        assert_eq!(name(&t, 0xffffffff81000104), None, "in padding");
        assert_eq!(name(&t, 0xffffffff81000115), n("do_read", 5), "T over W");
        assert_eq!(name(&t, 0xffffffff81000250), n("helper.cold", 0x50));
        assert_eq!(name(&t, 0xffffffff81000400), n("_etext", 0x100));
        assert_eq!(name(&t, 0xffffffff82000004), None, "data");
        assert_eq!(name(&t, 0xffffffffc0000090), n("snd_close", 0x10), "a module's function");
        assert_eq!(name(&t, 0xffffffffc0001004), None, "a module's data");
        assert_eq!(name(&t, 0xffffffffc0002010), n("bpf_prog_6deef7357e7b4530_sys_enter", 0x10));
        assert_eq!(name(&t, 0xffffffffc0002100), None, "the last symbol is the end");
        assert_eq!(name(&t, u64::MAX), None);
        // _stext, bound, do_read, helper.cold, _etext, bound, snd_open,
        // snd_close, bound, bpf_prog, __last_one.
        assert_eq!(t.len(), 11);
    }

    #[test]
    fn hidden_addresses_make_an_empty_table() {
        let t = KernelSymbols::parse("0000000000000000 T _stext\n0000000000000000 T vfs_read\n");
        assert_eq!(t.len(), 0);
        assert!(t.find(0xffffffff81000000).is_none());
        assert!(KernelSymbols::parse("").find(1).is_none());
    }
}
