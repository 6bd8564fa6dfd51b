//! Typing of traced programs' own data, from their DWARF: uprobe `args` by
//! parameter name, `retval` by return type, struct and union members
//! through pointers, array and pointer indexing, dereference, and casts,
//! `sizeof` and `offsetof` with the binary's type names.
//!
//! Debug information is loaded only when a probe body needs it, and only the
//! probed function's compile unit is read (see `frontend::dwarf`). Probes
//! without a binary (kernel probes, tracepoints, BEGIN) name kernel types,
//! from the kernel's BTF (`frontend::btf`), read as lazily.

use super::typeck::Cx;
use crate::diag::Diagnostic;
use crate::frontend::ast::TypeName;
use crate::frontend::btf;
use crate::frontend::dwarf::{self, DebugInfo, Function, ParamLoc, TypeTag};
use crate::frontend::names::similar_names;
use crate::frontend::types::{Record, Type};
use crate::source::Span;
use std::path::Path;
use std::rc::Rc;

/// What has been learnt from a probe's binary so far; kept on the probe so
/// that the second type-checking round and code generation reuse it.
#[derive(Clone, Default)]
pub struct DwarfCache {
    /// `Some(None)`: looked, the binary has no debug info.
    debug: Option<Option<Rc<DebugInfo>>>,
    /// The probed function's parameters and return type.
    pub function: Option<Option<Rc<Function>>>,
    /// Why loading failed (malformed DWARF, unreadable file).
    failure: Option<String>,
    /// Without debug info: what was refused looking for it (a debuglink
    /// that names a path, ...).
    absence: Vec<String>,
    /// The script's own C definitions, consulted first (see `cdefs.rs`).
    pub script: Rc<crate::frontend::cdecl::Defs>,
}

impl std::fmt::Debug for DwarfCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DwarfCache {{ function: {:?} }}", self.function.as_ref().map(|f| f.as_ref().map(|f| &f.name)))
    }
}

/// How a value of this type is used when it comes out of memory: `char[N]`
/// reads as a string, everything else as itself.
pub fn value_type(t: &Type) -> Type {
    match t {
        Type::Array { elem, len } if matches!(**elem, Type::Int { size: 1, .. }) => Type::Str { size: *len },
        other => other.clone(),
    }
}

impl DwarfCache {
    /// Nothing learnt yet, but the script's own definitions.
    pub fn with_script(script: Rc<crate::frontend::cdecl::Defs>) -> DwarfCache {
        DwarfCache { script, ..Default::default() }
    }
}

impl Cx<'_> {
    /// The type a read of `t` from memory gives, or a diagnostic when trace
    /// cannot read it (floating point).
    pub(super) fn readable(&mut self, t: &Type, span: Span) -> Type {
        match super::dwarf_types::value_type(t) {
            Type::Unknown => {
                self.error(
                    Diagnostic::error("this value has a type trace cannot read (floating point?)")
                        .at(span, "unreadable type"),
                );
                Type::Unknown
            }
            t => t,
        }
    }

    /// A constant index becomes a constant offset from the base address:
    /// refused when that offset is beyond any address (user space is 2^47
    /// bytes), which also keeps a chain of them far from overflowing.
    pub(super) fn index_in_reach(&mut self, index: i64, elem_size: u32, span: Span) {
        const REACH: i64 = 1 << 47;
        if index.checked_mul(elem_size as i64).is_none_or(|b| !(-REACH..=REACH).contains(&b)) {
            let msg =
                format!("index {index} is out of reach: {elem_size}-byte elements that far are beyond any address");
            self.error(Diagnostic::error(msg).at(span, "too far"));
        }
    }

    /// The file whose debug info types this probe's data.
    fn binary(&self) -> Option<std::path::PathBuf> {
        self.spec.context().binary.map(Path::to_path_buf)
    }

    /// The traced function's name ("" outside a function).
    fn func_name(&self) -> String {
        self.spec.context().function.unwrap_or_default().to_string()
    }

    /// The probe binary's debug info, loading it on first use.
    fn debug_info(&mut self) -> Option<Rc<DebugInfo>> {
        if self.dwarf.debug.is_none() {
            let loaded = match self.binary() {
                Some(b) => match dwarf::lookup(&b) {
                    Ok(found) => {
                        self.dwarf.absence = found.notes;
                        found.info
                    }
                    Err(e) => {
                        self.dwarf.failure = Some(e.to_string());
                        None
                    }
                },
                None => None,
            };
            self.dwarf.debug = Some(loaded);
        }
        self.dwarf.debug.clone().flatten()
    }

    /// The signature the probe kind knows without debug info (fentry and
    /// fexit, from BTF), taken as the function's description.
    fn known_signature(&mut self) {
        if self.dwarf.function.is_none() {
            if let Some(f) = self.spec.context().signature {
                self.dwarf.function = Some(Some(Rc::new(f.clone())));
            }
        }
    }

    /// Explain why there are no types here.
    fn no_debug_info(&mut self, span: Span, what: &str) {
        let Some(binary) = self.binary() else {
            let msg = format!("{what} needs a binary's debug info, so it works only in uprobe and uretprobe probes");
            self.error(Diagnostic::error(msg).at(span, "no binary here"));
            return;
        };
        let d = match self.dwarf.failure.clone() {
            Some(why) => Diagnostic::error(format!("cannot read the debug info of {}: {why}", binary.display())),
            None => {
                let mut d = Diagnostic::error(format!("{} has no debug info, which {what} needs", binary.display()));
                for refused in &self.dwarf.absence {
                    d = d.note(refused.clone());
                }
                d.note("install its debug symbols (Debian and Ubuntu: the `-dbg` or `-dbgsym` package; Fedora: `-debuginfo`), or rebuild it with `-g`")
                    .note("arg0..arg5 and retval work without debug info")
            }
        };
        self.error(d.at(span, "needs debug info"));
    }

    /// The probed function's DWARF description, loading it on first use.
    pub(super) fn function(&mut self, span: Span, what: &str) -> Option<Rc<Function>> {
        self.known_signature();
        if self.dwarf.function.is_none() {
            let func = self.func_name();
            let found = match self.debug_info() {
                Some(d) => match d.function(&func) {
                    Ok(f) => f.map(Rc::new),
                    Err(e) => {
                        self.dwarf.failure = Some(e.to_string());
                        None
                    }
                },
                None => None,
            };
            self.dwarf.function = Some(found);
        }
        let found = self.dwarf.function.clone().flatten();
        if found.is_none() {
            match (self.debug_info(), self.dwarf.failure.is_some()) {
                (Some(d), false) => {
                    let func = self.func_name();
                    let msg = format!("the debug info in {} does not describe `{func}`", d.debug_file().display());
                    self.error(Diagnostic::error(msg).at(span, format!("{what} needs it")));
                }
                _ => self.no_debug_info(span, what),
            }
        }
        found
    }

    /// `args.NAME` in a uprobe (`at_entry` false: at the function's return).
    pub(super) fn uprobe_arg(&mut self, name: &str, span: Span, at_entry: bool) -> Type {
        if !at_entry {
            let msg = "`args` is not available in uretprobes: the arguments are gone when the function returns";
            self.error(Diagnostic::error(msg).at(span, "read it in the uprobe and keep it in a map keyed by tid"));
            return Type::Unknown;
        }
        let Some(f) = self.function(span, "`args`") else { return Type::Unknown };
        match f.params.iter().find(|p| p.name == name) {
            Some(p) => match &p.loc {
                ParamLoc::Unavailable(why) => {
                    let msg = format!("parameter `{name}` cannot be read at entry: {why}");
                    self.error(Diagnostic::error(msg).at(span, "not readable"));
                    Type::Unknown
                }
                // A type the model has no value for (a 128-bit integer or a
                // float passed on the stack: the location is known, the
                // value is not) is reported here, as for members.
                _ => match value_type(&p.ty) {
                    Type::Unknown => {
                        let msg = format!("parameter `{name}` has a type trace cannot read: {}", p.c_type);
                        self.error(Diagnostic::error(msg).at(span, "unreadable type"));
                        Type::Unknown
                    }
                    t => t,
                },
            },
            None if !f.params.is_empty() && f.params.iter().all(|p| p.name.is_empty()) => {
                let msg = format!("the arguments of `{}` have no names here", f.name);
                let types: Vec<String> =
                    f.params.iter().enumerate().map(|(i, p)| format!("arg{i} is `{}`", p.c_type)).collect();
                let d = Diagnostic::error(msg)
                    .at(span, "unnamed")
                    .note("this kernel's BTF describes their types but not their names")
                    .note(format!("read them by number, with a cast where needed: {}", types.join(", ")));
                self.error(d);
                Type::Unknown
            }
            None => {
                let names: Vec<&str> = f.params.iter().map(|p| p.name.as_str()).collect();
                let mut d =
                    Diagnostic::error(format!("`{}` has no parameter `{name}`", f.name)).at(span, "unknown parameter");
                if let Some(s) = similar_names(name, names.iter().copied(), 1, false).first() {
                    d = d.note(format!("did you mean `{s}`?"));
                }
                let list = if names.is_empty() { "none".to_string() } else { names.join(", ") };
                self.error(d.note(format!("its parameters are: {list}")));
                Type::Unknown
            }
        }
    }

    /// `retval` in a uretprobe: typed by the function's return type when
    /// debug info has it, else a signed 64-bit integer.
    pub(super) fn typed_retval(&mut self) -> Type {
        self.known_signature();
        if self.dwarf.function.is_none() && self.debug_info().is_none() {
            return Type::I64;
        }
        let Some(func) = self.spec.context().function.map(str::to_string) else { return Type::I64 };
        if self.dwarf.function.is_none() {
            let f = self.debug_info().and_then(|d| d.function(&func).ok().flatten()).map(Rc::new);
            self.dwarf.function = Some(f);
        }
        match self.dwarf.function.clone().flatten().map(|f| f.ret.clone()) {
            Some(t @ (Type::Int { .. } | Type::Ptr { .. })) => t,
            _ => Type::I64,
        }
    }

    /// A type named in a probe without a binary (kernel probes, BEGIN,
    /// tracepoints...): from the kernel's BTF, pointers to kernel memory.
    fn kernel_type(&mut self, ty: &TypeName, tag: Option<TypeTag>) -> Option<Type> {
        let found = btf::vmlinux().and_then(|b| b.named_type(&ty.name, tag));
        let base = match found {
            Ok(Some(t)) => t,
            Ok(None) => {
                let msg = format!("no type `{}` in the kernel's BTF", written(ty));
                self.error(Diagnostic::error(msg).at(ty.span, "unknown type"));
                return None;
            }
            Err(e) => {
                let msg = format!("the type `{}` needs the kernel's BTF: {e}", written(ty));
                self.error(Diagnostic::error(msg).at(ty.span, "no kernel types"));
                return None;
            }
        };
        let mut t = base;
        for _ in 0..ty.pointers {
            t = Type::Ptr { to: Rc::new(t), user: false };
        }
        Some(t)
    }

    /// `curtask`: the current thread's `struct task_struct *`, typed from
    /// the kernel's BTF (a plain address where there is none).
    pub(super) fn curtask_type(&mut self) -> Type {
        // A `struct task_struct` the script defines comes first.
        if let Some(t) = self.dwarf.script.named_type(Some("struct"), "task_struct") {
            return Type::Ptr { to: Rc::new(t), user: false };
        }
        match btf::vmlinux().and_then(|b| b.named_type("task_struct", Some(TypeTag::Struct))) {
            Ok(Some(t)) => Type::Ptr { to: Rc::new(t), user: false },
            _ => Type::U64,
        }
    }

    /// `base.name` / `base->name` on a struct or union.
    pub(super) fn member(&mut self, rec: &Record, name: &str, span: Span) -> Type {
        // A kernel struct reached through a pointer gets its members when
        // first used (see `frontend::btf`).
        if rec.fields.get().is_none() {
            if let Err(e) = btf::complete_anywhere(rec) {
                let msg = format!("cannot read the members of struct {} from the kernel's BTF: {e}", rec.name);
                self.error(Diagnostic::error(msg).at(span, "here"));
                return Type::Unknown;
            }
        }
        match rec.field(name) {
            Some(f) => match value_type(&f.ty) {
                Type::Unknown => {
                    let msg = format!("member `{name}` has a type trace cannot read (floating point?)");
                    self.error(Diagnostic::error(msg).at(span, "unreadable type"));
                    Type::Unknown
                }
                t => t,
            },
            None => {
                let kind = if rec.is_union { "union" } else { "struct" };
                let names = rec.field_names();
                let mut d =
                    Diagnostic::error(format!("{kind} {} has no member `{name}`", rec.name)).at(span, "unknown member");
                if let Some(s) = similar_names(name, names.iter().map(String::as_str), 1, false).first() {
                    d = d.note(format!("did you mean `{s}`?"));
                }
                if rec.fields().is_empty() {
                    d = d.note("the debug info only declares this type; it has no layout");
                } else {
                    d = d.note(format!("its members are: {}", names.join(", ")));
                }
                self.error(d);
                Type::Unknown
            }
        }
    }

    /// A type as written in a cast, `sizeof` or `offsetof`, looked up in the
    /// probe binary's debug info (integer type names need none).
    pub(super) fn named_type(&mut self, ty: &TypeName) -> Option<Type> {
        let base = if let Some(t) = super::typeck::int_type_name(&TypeName { pointers: 0, ..ty.clone() }) {
            t
        } else {
            if let Some(t) = self.script_type(ty) {
                return Some(t);
            }
            let tag = match ty.tag.as_deref() {
                Some("struct") => Some(TypeTag::Struct),
                Some("union") => Some(TypeTag::Union),
                Some("enum") => Some(TypeTag::Enum),
                _ => None,
            };
            if self.binary().is_none() {
                return self.kernel_type(ty, tag);
            }
            let Some(debug) = self.debug_info() else {
                self.no_debug_info(ty.span, &format!("the type `{}`", written(ty)));
                return None;
            };
            match debug.named_type(&ty.name, tag) {
                Ok(Some(t)) => t,
                Ok(None) => {
                    let msg =
                        format!("no type `{}` in the debug info of {}", written(ty), debug.debug_file().display());
                    self.error(Diagnostic::error(msg).at(ty.span, "unknown type"));
                    return None;
                }
                Err(e) => {
                    self.error(
                        Diagnostic::error(format!("cannot read type `{}`: {e}", written(ty))).at(ty.span, "here"),
                    );
                    return None;
                }
            }
        };
        let mut t = base;
        for _ in 0..ty.pointers {
            t = Type::Ptr { to: Rc::new(t), user: true };
        }
        Some(t)
    }
}

/// `struct foo` / `foo` as the user wrote it.
fn written(ty: &TypeName) -> String {
    match &ty.tag {
        Some(tag) => format!("{tag} {}", ty.name),
        None => ty.name.clone(),
    }
}
