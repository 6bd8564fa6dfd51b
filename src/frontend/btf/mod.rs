//! The kernel's own types, from BTF: `fentry`/`fexit` signatures, casts to
//! kernel structs, `sizeof`/`offsetof` of kernel types, typed tracepoint
//! records (`struct trace_event_raw_<event>`).
//!
//! # Laziness is the design
//!
//! `/sys/kernel/btf/vmlinux` holds ~130k type entries (5.5 MB on 6.18);
//! naming one kernel function must not parse them all. So:
//!
//! * [`vmlinux`] maps the file (or reads it, on kernels that cannot map
//!   sysfs BTF) and makes one pass recording where each entry starts: ids
//!   are sequential but entries are variable-length, so this table is what
//!   makes "type id N" a lookup. Nothing is decoded beyond each entry's
//!   kind and length.
//! * A name lookup ([`Btf::function`], [`Btf::named_type`]) scans the
//!   offset table, looking at each entry's kind first and comparing its
//!   name in place only when the kind is wanted. The first
//!   `SCANS_BEFORE_INDEX` (8) lookups scan; the next builds a name index
//!   (hashes of every name, sorted) that answers the rest. Measured on
//!   6.18's vmlinux (release build): opening ~1.5–2 ms and ~0.5 MB (the
//!   offset table; the file itself is mapped), a scan ~0.2–0.7 ms, the
//!   index ~6 ms and ~2 MB, an indexed lookup ~2 µs. A program naming a
//!   few kernel functions never pays for the index; a wildcard over
//!   hundreds does, once.
//! * Types are converted to [`Type`] only when asked, cached by id. A
//!   struct's `Rc<Record>` is created and cached before its fields exist.
//!   Records reached *by value* (the one asked for, embedded structs and
//!   unions, arrays of them) get their fields at once; records reached only
//!   *through a pointer* are left without fields until someone asks
//!   ([`Btf::complete`]). So converting `struct task_struct` converts its
//!   members' types and its embedded structs, not every struct the kernel
//!   can reach through `task_struct`'s pointers (which is most of it).
//!   A record whose fields are not yet set (`rec.fields.get()` is `None`) is
//!   always such a lazy record; an incomplete type (a forward declaration
//!   with no definition) has its fields set to an empty list.
//! * A record's fields are set only once its whole by-value closure has
//!   converted, all at once; a conversion error sets nothing, so no
//!   half-built record is ever seen, and the next request fails the same way.
//!
//! # Conventions (as `dwarf/convert.rs`)
//!
//! Integers by size and signedness (enums as their integer, `_Bool`
//! unsigned), `char[N]` as an array of 1-byte integers (which the checker
//! reads as a string), typedefs and qualifiers looked through (a typedef's
//! name names an anonymous struct behind it), floating point and 128-bit
//! integers as [`Type::Unknown`], pointers to functions as pointers to
//! `void`, bitfields as (bit offset from the least significant bit of the
//! loaded unit, width). C spellings are built like C declarators
//! (`struct file *`, `char *`, `int (*)[3]`).
//!
//! Kernel pointers are [`Type::Ptr`] with `user: false`, except where the
//! BTF tags the pointee `user` (a `BTF_KIND_TYPE_TAG`, which clang emits for
//! `__user` when the kernel is built with `CONFIG_DEBUG_INFO_BTF` and
//! clang). Kernels built with gcc (Debian's, among others) have no such tags,
//! so there a `char __user *buf` reads as a kernel pointer: callers that know
//! better (a syscall's arguments) must say so themselves.
//!
//! # Modules
//!
//! A module's BTF (`/sys/kernel/btf/<module>`) is split BTF: its type ids
//! continue after vmlinux's and its string offsets after vmlinux's string
//! section, and it refers to vmlinux's types freely. [`module`] opens it on
//! top of [`vmlinux`]; a lookup in a module looks at the module's own
//! entries, then at vmlinux's.
//!
//! # Limits
//!
//! Converted records are never freed: a record that points at itself
//! (`struct list_head *next`) holds an `Rc` cycle, as the DWARF reader's
//! do. trace keeps one reader per file for the life of the process, so a
//! type is converted, and held, once. A malformed file cannot make
//! records that hold themselves by value or nest deeper than
//! `convert::MAX_NESTING` (both errors): those would overflow the stack of
//! whatever walks them. Only little-endian BTF is read (x86-64's).
//!
//! The encoding is `raw.rs`; conversion to [`Type`] and C spellings is
//! `convert.rs`.

mod convert;
mod raw;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_kernel;

use super::dwarf::TypeTag;
use super::types::{Record, Type};
use crate::sys::Mmap;
use raw::{Entry, Kind, Layout};
use std::cell::{Cell, OnceCell, RefCell};
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// Where the kernel publishes its BTF.
pub const SYSFS_BTF: &str = "/sys/kernel/btf";

/// The largest BTF file read: vmlinux's is ~5.5 MB, a module's a few kB.
pub const MAX_BTF: u64 = 256 << 20;

#[derive(thiserror::Error, Debug)]
pub enum BtfError {
    #[error("cannot read {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{}: malformed BTF: {reason}", path.display())]
    Malformed { path: PathBuf, reason: String },
    #[error("{}: unsupported BTF: {what}", path.display())]
    Unsupported { path: PathBuf, what: String },
    #[error("`{name}` is not a kernel module name")]
    BadModuleName { name: String },
}

/// An error inside one reader, before the file's name is attached.
#[derive(Debug)]
enum Bad {
    Malformed(String),
    Unsupported(String),
}

impl Bad {
    fn at(self, path: &Path) -> BtfError {
        let path = path.to_path_buf();
        match self {
            Bad::Malformed(reason) => BtfError::Malformed { path, reason },
            Bad::Unsupported(what) => BtfError::Unsupported { path, what },
        }
    }
}

type Result<T, E = Bad> = std::result::Result<T, E>;

/// A kernel function (`BTF_KIND_FUNC`) with its prototype.
#[derive(Clone, Debug, PartialEq)]
pub struct KernelFunction {
    pub name: String,
    /// The id of the `FUNC` entry: an fentry/fexit program's `attach_btf_id`.
    pub btf_id: u32,
    pub linkage: Linkage,
    pub params: Vec<KernelParam>,
    /// Takes `...` after its parameters.
    pub variadic: bool,
    /// `Type::Void` for a function returning nothing.
    pub ret: Type,
    /// The return type as C spells it (`ssize_t`, `void`).
    pub ret_c_type: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct KernelParam {
    /// "" when the BTF does not name it.
    pub name: String,
    pub ty: Type,
    /// The type as C spells it: `struct file *`, `size_t`, `int (*)(void *)`.
    pub c_type: String,
}

/// A `FUNC`'s linkage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Linkage {
    Static,
    Global,
    Extern,
}

/// The lines `trace -lv` prints under an fentry probe, as `bpftrace -lv`
/// prints a kfunc's: one per parameter, then the return value as `retval`
/// (none for `void`), four spaces in (`    struct file * file`).
pub fn signature_lines(f: &KernelFunction) -> Vec<String> {
    let params = f.params.iter().map(|p| (p.c_type.as_str(), p.name.as_str()));
    let mut out = signature_lines_of(params, None);
    if f.variadic {
        out.push("    ...".into());
    }
    if f.ret != Type::Void {
        out.extend(signature_lines_of(std::iter::empty(), Some(&f.ret_c_type)));
    }
    out
}

/// [`signature_lines`] from `(C type, name)` pairs and the return type's
/// C spelling (`None` for `void`).
pub fn signature_lines_of<'a>(params: impl Iterator<Item = (&'a str, &'a str)>, ret: Option<&str>) -> Vec<String> {
    let spaced = |c: &str| c.replace(" *", " * ").replace("**", "* *").trim_end().to_string();
    let mut out: Vec<String> = params.map(|(c, name)| format!("    {} {name}", spaced(c))).collect();
    if let Some(r) = ret {
        out.push(format!("    {} retval", spaced(r)));
    }
    out.iter_mut().for_each(|l| *l = l.trim_end().to_string());
    out
}

/// The bytes of one BTF file.
enum Data {
    Mapped(Mmap),
    Owned(Vec<u8>),
}

impl Data {
    fn bytes(&self) -> &[u8] {
        match self {
            Data::Mapped(m) => m.bytes(),
            Data::Owned(v) => v,
        }
    }
}

/// One BTF blob: vmlinux's, or a module's on top of it.
pub struct Btf {
    path: PathBuf,
    data: Data,
    layout: Layout,
    base: Option<Rc<Btf>>,
    state: RefCell<convert::State>,
    /// Lookups answered by scanning so far.
    scans: Cell<u32>,
    /// Built on the lookup after [`SCANS_BEFORE_INDEX`] scans.
    index: OnceCell<raw::NameIndex>,
}

/// Name lookups that scan the entries before a name index is built: a scan
/// costs well under a millisecond, the index a few (see the module docs).
const SCANS_BEFORE_INDEX: u32 = 8;

thread_local! {
    static VMLINUX: RefCell<Option<Rc<Btf>>> = const { RefCell::new(None) };
    static MODULES: RefCell<HashMap<String, Option<Rc<Btf>>>> = RefCell::new(HashMap::new());
}

/// The running kernel's BTF, opened on first use and kept (per thread, as
/// the DWARF cache is: `Rc` and the caches inside are not `Send`).
pub fn vmlinux() -> Result<Rc<Btf>, BtfError> {
    if let Some(b) = VMLINUX.with(|v| v.borrow().clone()) {
        return Ok(b);
    }
    let btf = Rc::new(Btf::open(&Path::new(SYSFS_BTF).join("vmlinux"), None)?);
    VMLINUX.with(|v| *v.borrow_mut() = Some(btf.clone()));
    Ok(btf)
}

/// A loaded module's BTF on top of vmlinux's; `None` when the module is not
/// loaded or has no BTF. `vmlinux` names the kernel's own.
pub fn module(name: &str) -> Result<Option<Rc<Btf>>, BtfError> {
    if name == "vmlinux" {
        return vmlinux().map(Some);
    }
    let valid = !name.is_empty() && name.len() <= 64 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !valid {
        return Err(BtfError::BadModuleName { name: name.to_string() });
    }
    if let Some(found) = MODULES.with(|m| m.borrow().get(name).cloned()) {
        return Ok(found);
    }
    let path = Path::new(SYSFS_BTF).join(name);
    let found = if path.exists() { Some(Rc::new(Btf::open(&path, Some(vmlinux()?))?)) } else { None };
    MODULES.with(|m| m.borrow_mut().insert(name.to_string(), found.clone()));
    Ok(found)
}

/// Give a lazy record (see the module docs) its fields from whichever BTF
/// opened so far converted it: vmlinux's, then the modules'. A no-op for
/// any other record.
pub fn complete_anywhere(rec: &Record) -> Result<(), BtfError> {
    vmlinux()?.complete(rec)?;
    let modules: Vec<Rc<Btf>> = MODULES.with(|m| m.borrow().values().flatten().cloned().collect());
    for m in modules {
        if rec.fields.get().is_some() {
            break;
        }
        m.complete(rec)?;
    }
    Ok(())
}

impl Btf {
    /// Read the BTF file at `path` (split BTF when `base` is given).
    pub fn open(path: &Path, base: Option<Rc<Btf>>) -> Result<Btf, BtfError> {
        let io = |source| BtfError::Io { path: path.to_path_buf(), source };
        let file = std::fs::File::open(path).map_err(io)?;
        let meta = file.metadata().map_err(io)?;
        if !meta.is_file() {
            return Err(Bad::Malformed("not a regular file".into()).at(path));
        }
        if meta.len() > MAX_BTF {
            return Err(
                Bad::Unsupported(format!("{} bytes, more than the {MAX_BTF} this reader takes", meta.len())).at(path)
            );
        }
        // sysfs maps vmlinux's BTF since 6.16; elsewhere (modules, older
        // kernels, a size the file does not state) it is read, capped.
        let data = match Mmap::map(&file, meta.len()) {
            Ok(m) if meta.len() > 0 => Data::Mapped(m),
            _ => {
                let mut v = Vec::new();
                (&file).take(MAX_BTF + 1).read_to_end(&mut v).map_err(io)?;
                if v.len() as u64 > MAX_BTF {
                    return Err(Bad::Unsupported(format!("more than the {MAX_BTF} bytes this reader takes")).at(path));
                }
                Data::Owned(v)
            }
        };
        Btf::new(path.to_path_buf(), data, base)
    }

    /// BTF from memory; `name` stands for the file in messages.
    pub fn from_bytes(name: &str, bytes: Vec<u8>, base: Option<Rc<Btf>>) -> Result<Btf, BtfError> {
        Btf::new(PathBuf::from(name), Data::Owned(bytes), base)
    }

    fn new(path: PathBuf, data: Data, base: Option<Rc<Btf>>) -> Result<Btf, BtfError> {
        let split = base.as_ref().map(|b| (b.layout.next_id(), b.str_end()));
        let layout = Layout::read(data.bytes(), split).map_err(|e| e.at(&path))?;
        Ok(Btf { path, data, layout, base, state: RefCell::default(), scans: Cell::new(0), index: OnceCell::new() })
    }

    /// The file this was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `vmlinux`, or the module's name: what bpftrace prints between
    /// `kfunc:` and the function's name.
    pub fn module_name(&self) -> String {
        self.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
    }

    /// How many type entries this blob has (its base's not counted).
    pub fn type_count(&self) -> u32 {
        self.layout.count()
    }

    /// How many type ids have been converted so far, here and in the base:
    /// the measure of the laziness contract.
    pub fn converted_types(&self) -> usize {
        self.state.borrow().converted() + self.base.as_ref().map_or(0, |b| b.converted_types())
    }

    /// The function `name` (a `FUNC` entry, static or global) with its
    /// prototype; `None` when the BTF does not describe it.
    pub fn function(&self, name: &str) -> Result<Option<KernelFunction>, BtfError> {
        let run = || -> Result<Option<KernelFunction>> {
            match self.find(name, |k| k == Kind::Func)? {
                Some(id) => convert::function(self, id).map(Some),
                None => Ok(None),
            }
        };
        run().map_err(|e| e.at(&self.path))
    }

    /// The names of this blob's own functions (`FUNC` entries), in id
    /// order; a name may repeat (static functions of several files).
    pub fn function_names(&self) -> Result<Vec<&str>, BtfError> {
        let data = self.data.bytes();
        let mut out = Vec::new();
        for (_, name, kind) in self.layout.names(data) {
            if kind == Some(Kind::Func) {
                out.push(self.string(name).map_err(|e| e.at(&self.path))?);
            }
        }
        Ok(out)
    }

    /// The type called `name`: a typedef or base type (`size_t`, `u64`,
    /// `unsigned int`), or with `tag` a struct, union or enum tag. Without a
    /// tag, a `struct `/`union `/`enum ` prefix in `name` is understood, and
    /// tags are tried after ordinary names. Records it names have fields;
    /// see the module docs for the ones reached through pointers.
    pub fn named_type(&self, name: &str, tag: Option<TypeTag>) -> Result<Option<Type>, BtfError> {
        let (name, tag) = match tag {
            Some(t) => (name.trim(), Some(t)),
            None => split_tag(name.trim()),
        };
        let run = || -> Result<Option<Type>> {
            let ordinary = |k: Kind| matches!(k, Kind::Typedef | Kind::Int | Kind::Float);
            let kinds: &[&dyn Fn(Kind) -> bool] = match tag {
                Some(TypeTag::Struct) => &[&|k| k == Kind::Struct, &|k| k == Kind::Fwd],
                Some(TypeTag::Union) => &[&|k| k == Kind::Union, &|k| k == Kind::Fwd],
                Some(TypeTag::Enum) => &[&|k| matches!(k, Kind::Enum | Kind::Enum64)],
                None => &[&ordinary, &|k| matches!(k, Kind::Struct | Kind::Union | Kind::Enum | Kind::Enum64)],
            };
            for wanted in kinds {
                if let Some(id) = self.find(name, *wanted)? {
                    let t = convert::type_of(self, id)?;
                    convert::complete_type(self, &t)?;
                    return Ok(Some(t));
                }
            }
            Ok(None)
        };
        run().map_err(|e| e.at(&self.path))
    }

    /// The value of the enumerator `name` (`TCP_ESTABLISHED`), from this
    /// blob's enums, then its base's. A scan of every enum: only names
    /// nothing else knows are looked up.
    pub fn enum_value(&self, name: &str) -> Result<Option<i64>, BtfError> {
        let data = self.data.bytes();
        for id in self.layout.first_id..self.layout.next_id() {
            let e = self.layout.entry(data, id).map_err(|e| e.at(&self.path))?;
            if let Some((_, v)) = e.enumerators().into_iter().find(|(off, _)| self.string_is(*off, name.as_bytes())) {
                return Ok(Some(v));
            }
        }
        match &self.base {
            Some(base) => base.enum_value(name),
            None => Ok(None),
        }
    }

    /// The typedef `name` when it is a pointer to a function prototype
    /// (`btf_trace_sched_switch`), as a function: its id (a BTF raw
    /// tracepoint program's `attach_btf_id`) and parameters, which BTF
    /// leaves unnamed.
    pub fn typedef_function(&self, name: &str) -> Result<Option<KernelFunction>, BtfError> {
        let run = || -> Result<Option<KernelFunction>> {
            match self.find(name, |k| k == Kind::Typedef)? {
                Some(id) => convert::typedef_prototype(self, id),
                None => Ok(None),
            }
        };
        run().map_err(|e| e.at(&self.path))
    }

    /// The names of this blob's own typedefs that start with `prefix`.
    pub fn typedef_names(&self, prefix: &str) -> Result<Vec<&str>, BtfError> {
        let data = self.data.bytes();
        let mut out = Vec::new();
        for (_, name, kind) in self.layout.names(data) {
            if kind == Some(Kind::Typedef) {
                let n = self.string(name).map_err(|e| e.at(&self.path))?;
                if n.starts_with(prefix) {
                    out.push(n);
                }
            }
        }
        Ok(out)
    }

    /// `struct name` with its fields.
    pub fn struct_by_name(&self, name: &str) -> Result<Option<Rc<Record>>, BtfError> {
        Ok(match self.named_type(name, Some(TypeTag::Struct))? {
            Some(Type::Record(r)) => Some(r),
            _ => None,
        })
    }

    /// The type with id `id` (records by value get their fields).
    pub fn type_by_id(&self, id: u32) -> Result<Type, BtfError> {
        let run = || -> Result<Type> {
            let t = convert::type_of(self, id)?;
            convert::complete_type(self, &t)?;
            Ok(t)
        };
        run().map_err(|e| e.at(&self.path))
    }

    /// Give `rec` its fields if it is a lazy record of this BTF (or its
    /// base), reached through a pointer; a no-op for any other record.
    /// Call before reading the fields of a pointee: `p->f` on a kernel
    /// pointer.
    pub fn complete(&self, rec: &Record) -> Result<(), BtfError> {
        if rec.fields.get().is_some() {
            return Ok(());
        }
        convert::complete(self, rec).map_err(|e| e.at(&self.path))
    }

    /// The string at (global) offset `off`.
    fn string(&self, off: u32) -> Result<&str> {
        match (off.checked_sub(self.layout.str_base), &self.base) {
            (Some(local), _) => self.layout.string(self.data.bytes(), local),
            (None, Some(base)) => base.string(off),
            (None, None) => Err(Bad::Malformed(format!("string offset {off} is past the string section"))),
        }
    }

    /// The string offset after this blob's strings (a split blob's start).
    fn str_end(&self) -> u32 {
        self.layout.str_base.saturating_add(self.layout.str_len())
    }

    /// The entry `id`, here or in the base.
    fn entry(&self, id: u32) -> Result<Entry<'_>> {
        match (&self.base, id < self.layout.first_id) {
            (Some(base), true) => base.entry(id),
            _ => self.layout.entry(self.data.bytes(), id),
        }
    }

    /// The blob that owns type `id`: this one or a base.
    fn owner(&self, id: u32) -> &Btf {
        match &self.base {
            Some(base) if id < self.layout.first_id => base.owner(id),
            _ => self,
        }
    }

    /// The first entry named `name` whose kind `wanted` accepts: this
    /// blob's own, then its base's. The first [`SCANS_BEFORE_INDEX`]
    /// lookups scan the entries; then a name index is built (see the
    /// module docs for the figures).
    fn find(&self, name: &str, wanted: impl Fn(Kind) -> bool + Copy) -> Result<Option<u32>> {
        if name.is_empty() || name.contains('\0') {
            return Ok(None);
        }
        let data = self.data.bytes();
        let bytes = name.as_bytes();
        let scans = self.scans.get();
        if scans >= SCANS_BEFORE_INDEX && self.index.get().is_none() {
            let _ = self.index.set(self.build_index());
        }
        let matches = |id: u32, off: u32, kind: Option<Kind>| {
            (kind.is_some_and(wanted) && self.string_is(off, bytes)).then_some(id)
        };
        let hit = match self.index.get() {
            Some(index) => index.candidates(bytes).find_map(|id| {
                let e = self.layout.entry(data, id).ok()?;
                matches(id, e.name_off, Some(e.kind))
            }),
            None => {
                self.scans.set(scans + 1);
                self.layout.names(data).find_map(|(id, off, kind)| matches(id, off, kind))
            }
        };
        match (hit, &self.base) {
            (Some(id), _) => Ok(Some(id)),
            (None, Some(base)) => base.find(name, wanted),
            (None, None) => Ok(None),
        }
    }

    /// Every own named entry by the hash of its name.
    fn build_index(&self) -> raw::NameIndex {
        let data = self.data.bytes();
        let mut pairs = Vec::with_capacity(self.layout.count() as usize);
        for (id, off, _) in self.layout.names(data) {
            let bytes = match off.checked_sub(self.layout.str_base) {
                Some(local) => self.layout.string_bytes(data, local),
                None => self.base.as_ref().and_then(|b| b.string(off).ok()).map(str::as_bytes),
            };
            if let Some(b) = bytes.filter(|b| !b.is_empty()) {
                pairs.push((raw::name_hash(b), id));
            }
        }
        raw::NameIndex::new(pairs)
    }

    /// Whether the string at (global) offset `off` is `name`.
    fn string_is(&self, off: u32, name: &[u8]) -> bool {
        match (off.checked_sub(self.layout.str_base), &self.base) {
            (Some(local), _) => self.layout.string_is(self.data.bytes(), local, name),
            (None, Some(base)) => base.string_is(off, name),
            (None, None) => false,
        }
    }
}

fn split_tag(name: &str) -> (&str, Option<TypeTag>) {
    for (prefix, tag) in [("struct ", TypeTag::Struct), ("union ", TypeTag::Union), ("enum ", TypeTag::Enum)] {
        if let Some(rest) = name.strip_prefix(prefix) {
            return (rest.trim(), Some(tag));
        }
    }
    (name, None)
}
