//! A binary's own DWARF, read lazily: function signatures and named types
//! for `uprobe:BIN:FUNC { args.shard->version.epoch }`.
//!
//! # Laziness is the design
//!
//! A C++ service or libc's debug file has thousands of compile units (CUs);
//! tracing one function must not parse them all. So nothing is read at
//! [`load`] beyond the section headers, and a query touches as little as it
//! can:
//!
//! * [`DebugInfo::function`] finds the function's address in the *binary's*
//!   ELF symbol table (the debug file's for a stripped binary's local
//!   functions), maps the address to a CU through `.debug_aranges` (or, for
//!   producers that omit aranges, the CUs' root `low_pc`/`high_pc`/`ranges`,
//!   read once), and walks only that CU's top-level DIEs. Only when no symbol
//!   or no CU is found does it scan CUs by name, one at a time, stopping at
//!   the first definition. A CU that covers the address but has no
//!   subprogram there (assembly) answers `None` without a scan.
//! * [`DebugInfo::named_type`] looks in the CUs already walked, then walks
//!   the others in order until one defines the name.
//! * Types are converted from DIEs only when reached from what was asked, and
//!   cached by DIE offset. A struct's `Rc<Record>` is cached before its fields
//!   are filled (from a work list, not recursion), so self-referential and
//!   mutually recursive structs terminate and deep pointer graphs cannot
//!   overflow the stack.
//!
//! Each walked CU is recorded in an index (subprograms by entry address and
//! name, types by name), so repeated queries are hash lookups. gimli's parsed
//! abbreviations are kept across queries; `gimli::Dwarf`/`Unit` values borrow
//! the mapped sections and are rebuilt per query, which is cheap.
//!
//! # Parameter locations are the ABI's, not the DWARF's
//!
//! A uprobe fires on the function's first instruction, before the prologue
//! has stored anything. At `-O0` each parameter's DWARF location is a frame
//! slot (`DW_OP_fbreg`) that only the prologue fills, so it is wrong at entry;
//! at `-O2` it is a location list whose first entry usually, but not always,
//! covers the entry. The entry location is therefore computed from the SysV
//! x86-64 calling convention (see `abi.rs`): integer-class values in rdi, rsi,
//! rdx, rcx, r8, r9, the rest on the stack above the return address,
//! floating point and small structs in registers the probe cannot read as
//! memory ([`ParamLoc::Unavailable`] says why).
//!
//! Where the DWARF comes from (the binary, a build-id or debuglink file,
//! compressed sections) is `locate.rs` (decompression: `compressed.rs`);
//! the unit index is `index.rs`; DIE to
//! [`Type`] and C spelling is `convert.rs`.

mod abi;
mod compressed;
mod convert;
mod index;
mod locate;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_files;
#[cfg(test)]
mod tests_langs;

use super::elf::{self, ElfSymbols};
use super::types::Type;
use std::cell::{OnceCell, RefCell};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::SystemTime;

#[derive(thiserror::Error, Debug)]
pub enum DwarfError {
    #[error("cannot read {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{}: {reason}", path.display())]
    Elf { path: PathBuf, reason: String },
    #[error("{}: section {section}: {reason}", path.display())]
    Section { path: PathBuf, section: &'static str, reason: String },
    #[error("{}: malformed DWARF: {reason}", path.display())]
    Malformed { path: PathBuf, reason: String },
    #[error("{}: unsupported DWARF: {what}", path.display())]
    Unsupported { path: PathBuf, what: String },
}

/// An error inside one query, before the debug file's name is attached.
#[derive(Debug)]
enum Error {
    Gimli(gimli::Error),
    Malformed(String),
    Unsupported(String),
    File(DwarfError),
}

impl From<gimli::Error> for Error {
    fn from(e: gimli::Error) -> Self {
        Error::Gimli(e)
    }
}

impl From<DwarfError> for Error {
    fn from(e: DwarfError) -> Self {
        Error::File(e)
    }
}

impl Error {
    fn with_path(self, path: &Path) -> DwarfError {
        let path = path.to_path_buf();
        match self {
            Error::Gimli(e) => DwarfError::Malformed { path, reason: e.to_string() },
            Error::Malformed(reason) => DwarfError::Malformed { path, reason },
            Error::Unsupported(what) => DwarfError::Unsupported { path, what },
            Error::File(e) => e,
        }
    }
}

type Result<T, E = Error> = std::result::Result<T, E>;

/// The kind named by `struct`, `union` or `enum` before a type name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TypeTag {
    Struct,
    Union,
    Enum,
}

/// A function's signature as the probe sees it at entry.
#[derive(Clone, Debug, PartialEq)]
pub struct Function {
    /// The name that was looked up (the symbol), which may differ from the
    /// DWARF name: libc's `malloc` is described as `__libc_malloc`.
    pub name: String,
    pub params: Vec<Param>,
    /// `Type::Void` for a function returning nothing.
    pub ret: Type,
    /// The return type as C spells it ("int", "db_shard_t *", "void").
    pub ret_c_type: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    /// "" for an unnamed parameter.
    pub name: String,
    pub ty: Type,
    /// The type as C spells it, from the DWARF names: "db_shard_t *",
    /// "const char *", "long int", "int (*)[3]".
    pub c_type: String,
    pub loc: ParamLoc,
}

/// Where a parameter's value is when the function's first instruction runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParamLoc {
    /// In this register at function entry: its `struct pt_regs` byte
    /// offset (see `crate::arch`).
    Reg { pt_regs_offset: u16 },
    /// In memory at (the value of sp at entry) + offset, e.g. the 7th
    /// integer argument at sp+8. A struct passed in memory starts there.
    Stack { sp_offset: i64 },
    /// The `index`th 8-byte slot of a tracing program's context, where the
    /// kernel's fentry/fexit trampoline saved it (signatures from BTF).
    Slot { index: u16 },
    /// Cannot be read at entry; the string says why.
    Unavailable(String),
}

/// One binary's DWARF; see the module docs.
pub struct DebugInfo {
    binary: PathBuf,
    file: locate::DebugFile,
    symbols: OnceCell<Option<Rc<ElfSymbols>>>,
    debug_symbols: OnceCell<Option<Rc<ElfSymbols>>>,
    state: RefCell<index::State>,
}

/// (size, mtime): a rebuilt binary is read again, an unchanged one is not.
type Stamp = (u64, Option<SystemTime>);

/// Per canonical path: the stamp it was loaded at, and what was found.
type Cache = HashMap<PathBuf, (Stamp, Lookup)>;

/// What [`lookup`] found for a binary.
#[derive(Clone, Default)]
pub struct Lookup {
    /// The DWARF, or `None` when there is none anywhere.
    pub info: Option<Rc<DebugInfo>>,
    /// When there is none: what was refused on the way, for the "no debug
    /// info" diagnostic ("its .gnu_debuglink was refused: ...").
    pub notes: Vec<String>,
}

thread_local! {
    static CACHE: RefCell<Cache> = RefCell::new(HashMap::new());
}

/// The DWARF of `binary`, or `None` when there is none anywhere (see
/// `locate.rs` for where it is looked for). Cached per canonical path, so
/// repeated calls are free.
pub fn load(binary: &Path) -> Result<Option<Rc<DebugInfo>>, DwarfError> {
    lookup(binary).map(|l| l.info)
}

/// [`load`], with the notes that explain an absence.
pub fn lookup(binary: &Path) -> Result<Lookup, DwarfError> {
    let io = |source| DwarfError::Io { path: binary.to_path_buf(), source };
    let canonical = std::fs::canonicalize(binary).map_err(io)?;
    let meta = std::fs::metadata(&canonical).map_err(io)?;
    if !meta.is_file() {
        return Err(DwarfError::Elf { path: binary.to_path_buf(), reason: "not a regular file".into() });
    }
    let stamp = (meta.len(), meta.modified().ok());
    let cached = CACHE.with(|c| match c.borrow().get(&canonical) {
        Some((s, info)) if *s == stamp => Some(info.clone()),
        _ => None,
    });
    if let Some(info) = cached {
        return Ok(info);
    }
    let found = locate::find(&canonical)?;
    let info = found.file.map(|file| {
        Rc::new(DebugInfo {
            binary: canonical.clone(),
            file,
            symbols: OnceCell::new(),
            debug_symbols: OnceCell::new(),
            state: RefCell::new(index::State::default()),
        })
    });
    let notes = if info.is_some() { Vec::new() } else { found.notes };
    let lookup = Lookup { info, notes };
    CACHE.with(|c| c.borrow_mut().insert(canonical, (stamp, lookup.clone())));
    Ok(lookup)
}

/// The separate debug file of `binary` (found by build-id or
/// `.gnu_debuglink`, see `locate.rs`), whose `.symtab` keeps the local
/// symbols a stripped binary lost. `None` when the binary carries its own
/// DWARF, when there is none, or when the binary cannot be read.
pub fn debug_file_of(binary: &Path) -> Option<PathBuf> {
    let info = load(binary).ok()??;
    (info.file.path != info.binary).then(|| info.file.path.clone())
}

impl DebugInfo {
    /// The file the DWARF was read from (the binary itself or its debug file).
    pub fn debug_file(&self) -> &Path {
        &self.file.path
    }

    /// The signature of the function `name`; see the module docs for how
    /// little this reads. `None` when the DWARF does not describe it.
    pub fn function(&self, name: &str) -> Result<Option<Function>, DwarfError> {
        let addr = self.symbol_address(name);
        let mut state = self.state.borrow_mut();
        let run = |state: &mut index::State| -> Result<Option<Function>> {
            let mut cx = index::Ctx::new(&self.file, state)?;
            match cx.find_function(name, addr)? {
                Some(die) => convert::function(&mut cx, die, name).map(Some),
                None => Ok(None),
            }
        };
        run(&mut state).map_err(|e| e.with_path(self.debug_file()))
    }

    /// The type called `name`: a typedef or base type (`db_shard_t`,
    /// `size_t`), or with `tag` a struct, union or enum tag. Without a tag,
    /// tags are tried after ordinary names (C++ uses class names bare); a
    /// `struct `/`union `/`enum ` prefix in `name` is understood too.
    pub fn named_type(&self, name: &str, tag: Option<TypeTag>) -> Result<Option<Type>, DwarfError> {
        let (name, tag) = match tag {
            Some(t) => (name.trim(), Some(t)),
            None => split_tag(name.trim()),
        };
        let mut state = self.state.borrow_mut();
        let run = |state: &mut index::State| -> Result<Option<Type>> {
            let mut cx = index::Ctx::new(&self.file, state)?;
            match cx.find_type(name, tag)? {
                Some(die) => convert::top_type(&mut cx, die).map(Some),
                None => Ok(None),
            }
        };
        run(&mut state).map_err(|e| e.with_path(self.debug_file()))
    }

    /// How many compile units have had their DIEs walked so far: the measure
    /// of the laziness contract (one function lookup walks one unit).
    pub fn parsed_units(&self) -> usize {
        self.state.borrow().parsed
    }

    /// The function's entry address: the binary's symbol table first (what
    /// the uprobe attaches to), then the debug file's, which keeps the local
    /// symbols a stripped binary lost.
    fn symbol_address(&self, name: &str) -> Option<u64> {
        let own = self.symbols.get_or_init(|| elf::open(&self.binary).ok());
        if let Some(sym) = own.as_ref().and_then(|s| s.lookup(name)) {
            return Some(sym.vaddr);
        }
        if self.file.path == self.binary {
            return None;
        }
        let debug = self.debug_symbols.get_or_init(|| elf::open(&self.file.path).ok());
        debug.as_ref().and_then(|s| s.lookup(name)).map(|s| s.vaddr)
    }
}

fn split_tag(name: &str) -> (&str, Option<TypeTag>) {
    for (prefix, tag) in [
        ("struct ", TypeTag::Struct),
        ("class ", TypeTag::Struct),
        ("union ", TypeTag::Union),
        ("enum ", TypeTag::Enum),
    ] {
        if let Some(rest) = name.strip_prefix(prefix) {
            return (rest.trim(), Some(tag));
        }
    }
    (name, None)
}

/// The lines `trace -lv` prints under a probe, as `bpftrace -lv` does: one
/// per parameter, type then name, four spaces in, the `*` against the type
/// (`    db_shard_t* shard`, `    char* const* argv`). bpftrace prints no
/// line for the return value or for `...`, and neither does this.
pub fn c_prototype(f: &Function) -> Vec<String> {
    f.params
        .iter()
        .map(|p| {
            let ty = bpftrace_spelling(&p.c_type);
            if p.name.is_empty() {
                format!("    {ty}")
            } else {
                format!("    {ty} {}", p.name)
            }
        })
        .collect()
}

/// "char *const *" → "char* const*": bpftrace attaches each `*` to what
/// precedes it and separates a qualifier that follows.
fn bpftrace_spelling(c: &str) -> String {
    let mut out = String::with_capacity(c.len());
    let mut chars = c.chars().peekable();
    while let Some(ch) = chars.next() {
        if ch == ' ' && chars.peek() == Some(&'*') {
            continue;
        }
        out.push(ch);
        if ch == '*' && chars.peek().is_some_and(|n| n.is_alphabetic()) {
            out.push(' ');
        }
    }
    out
}
