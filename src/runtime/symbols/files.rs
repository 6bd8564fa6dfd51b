//! One mapped file's symbols, for naming the user addresses in it: the
//! file's own tables (`frontend::elf`, `.symtab` and `.dynsym`), and for a
//! stripped file the `.symtab` of its separate debug file too (found as the
//! DWARF reader finds it: build-id, then `.gnu_debuglink`), which keeps the
//! local functions stripping removed (`__libc_start_call_main`).
//!
//! The file is untrusted: one that cannot be indexed names nothing (its
//! frames keep their address and file) and is reported once, when opened.

use super::demangle::demangle;
use crate::diag;
use crate::frontend::dwarf;
use crate::frontend::elf::{self, ElfError, ElfSymbols, SymbolAt};
use std::collections::HashMap;
use std::path::Path;
use std::rc::Rc;

/// A file's symbol tables and the names made from them so far.
pub(super) struct FileSymbols {
    /// `None` when the file could not be indexed.
    elf: Option<Rc<ElfSymbols>>,
    /// The debug file's tables, for a file without `.symtab`.
    debug: Option<Rc<ElfSymbols>>,
    /// Names as printed (demangled), by (from the debug file, symbol
    /// index): each is made once, and frames in one function share it.
    names: HashMap<(bool, u32), Rc<str>>,
}

impl FileSymbols {
    /// Index the file at `path` (`shown` is how the process named it, for
    /// messages).
    pub(super) fn open(path: &Path, shown: &str) -> FileSymbols {
        Self::open_reporting(path, shown, true)
    }

    /// [`open`](Self::open) without a word on failure: for a path through
    /// `/proc/PID/`, which vanishes with the process (the caller tries the
    /// file's own path later).
    pub(super) fn open_quietly(path: &Path, shown: &str) -> FileSymbols {
        Self::open_reporting(path, shown, false)
    }

    fn open_reporting(path: &Path, shown: &str, say: bool) -> FileSymbols {
        let report = |shown: &str, e: &ElfError| {
            if say {
                report(shown, e)
            }
        };
        let elf = elf::open(path).map_err(|e| report(shown, &e)).ok();
        let debug = elf
            .as_ref()
            .filter(|e| !e.has_symtab())
            .and_then(|_| dwarf::debug_file_of(path))
            .and_then(|d| elf::open(&d).map_err(|e| report(&d.display().to_string(), &e)).ok());
        FileSymbols { elf, debug, names: HashMap::new() }
    }

    /// Whether the file was indexed with all its symbols: its own
    /// `.symtab`, or a debug file's for a stripped file.
    pub(super) fn is_complete(&self) -> bool {
        self.elf.as_ref().is_some_and(|e| e.has_symtab()) || self.debug.is_some()
    }

    /// Whether the file loads anything at link-time address `vaddr`.
    pub(super) fn contains_vaddr(&self, vaddr: u64) -> bool {
        self.elf.as_ref().is_some_and(|e| e.contains_vaddr(vaddr))
    }

    /// The link-time virtual address at file offset `offset`.
    pub(super) fn vaddr_of_offset(&self, offset: u64) -> Option<u64> {
        self.elf.as_ref()?.vaddr_of_offset(offset)
    }

    /// The symbol covering link-time address `vaddr`, demangled, and its
    /// start. A symbol whose size covers the address beats one that is
    /// only the last before it; the debug file's beats the file's own at
    /// equal footing (it has the local symbols too).
    pub(super) fn symbol(&mut self, vaddr: u64) -> Option<(Rc<str>, u64)> {
        let mut best: Option<(bool, SymbolAt)> = None;
        let tables = [(true, self.debug.as_deref()), (false, self.elf.as_deref())];
        for (from_debug, table) in tables {
            let Some(s) = table.and_then(|t| t.symbol_at(vaddr)) else { continue };
            if s.sized {
                best = Some((from_debug, s));
                break;
            }
            best.get_or_insert((from_debug, s));
        }
        let (from_debug, s) = best?;
        let name = self
            .names
            .entry((from_debug, s.index))
            .or_insert_with(|| demangle(s.name).map_or_else(|| Rc::from(s.name), Rc::from))
            .clone();
        Some((name, s.start))
    }
}

/// Say once (files are opened once) why a file names nothing, when that is
/// worth saying: a damaged file, or one that cannot be read. A mapped file
/// that is not ELF (a locale archive, a font) is no news, nor is one that
/// is gone.
fn report(shown: &str, e: &ElfError) {
    let worth = match e {
        ElfError::Malformed { .. } => true,
        ElfError::Io { source, .. } => source.kind() != std::io::ErrorKind::NotFound,
        ElfError::NotElf { .. } | ElfError::Relocatable { .. } | ElfError::UnsupportedType { .. } => false,
    };
    if worth {
        diag::warn(format_args!("addresses in {shown} are shown as numbers: {e}"));
    }
}
