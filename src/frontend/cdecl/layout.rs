//! Parsed C definitions ─► trace's types, laid out as C on x86-64: each
//! member at the next multiple of its alignment, a record as aligned as
//! its most aligned member and padded to a multiple of that; bitfields
//! packed into units of their declared type, never straddling one (System
//! V ABI); `packed` and `aligned(N)` as GCC.
//!
//! A type the script does not define comes from the kernel's BTF (through
//! `ext`), as bpftrace 0.17 resolves it. A pointer to a struct found
//! nowhere stays an incomplete struct, as in C.

use super::parse::{Derived, Parsed, RecordDef, Spec};
use crate::diag::Diagnostic;
use crate::frontend::dwarf::TypeTag;
use crate::frontend::types::{Field, Record, Type};
use crate::source::Span;
use std::collections::HashMap;
use std::rc::Rc;

/// Looks a type up outside the script: `(name, tag)` ─► the type, or why
/// it cannot be known.
pub type External<'a> = dyn FnMut(&str, Option<TypeTag>) -> Result<Option<Type>, String> + 'a;

/// A type with its C size and alignment (floats have no `Type` of their
/// own but still take room).
#[derive(Clone, Debug)]
pub struct Sized {
    pub ty: Type,
    pub size: u32,
    pub align: u32,
}

enum Slot {
    Sizing,
    Done(Rc<Record>, u32),
}

pub struct Resolver<'a, 'e> {
    p: &'a Parsed,
    slots: HashMap<usize, Slot>,
    ext: &'a mut External<'e>,
    /// Typedefs and records being resolved inside each other (a typedef
    /// of itself is an error).
    typedef_depth: u32,
    record_depth: u32,
}

type R<T> = Result<T, Diagnostic>;

/// Standard and kernel fixed-width names, known without a definition.
pub fn standard_int(name: &str) -> Option<(u8, bool)> {
    Some(match name {
        "u8" | "__u8" | "uint8_t" | "u_int8_t" | "uint8" | "bool" | "_Bool" => (1, false),
        "s8" | "__s8" | "int8_t" | "int8" => (1, true),
        "u16" | "__u16" | "uint16_t" | "u_int16_t" | "uint16" | "__be16" | "__le16" => (2, false),
        "s16" | "__s16" | "int16_t" | "int16" => (2, true),
        "u32" | "__u32" | "uint32_t" | "u_int32_t" | "uint32" | "__be32" | "__le32" | "uid_t" | "gid_t" => (4, false),
        "s32" | "__s32" | "int32_t" | "int32" | "pid_t" => (4, true),
        "u64" | "__u64" | "uint64_t" | "u_int64_t" | "uint64" | "__be64" | "__le64" | "size_t" | "uintptr_t" => {
            (8, false)
        }
        "s64" | "__s64" | "int64_t" | "int64" | "ssize_t" | "intptr_t" | "off_t" | "loff_t" | "ptrdiff_t" => (8, true),
        _ => return None,
    })
}

fn align_up(v: u64, a: u64) -> u64 {
    v.div_ceil(a) * a
}

/// The alignment of a type that did not come from the script: its
/// widest scalar.
pub fn natural_align(t: &Type, depth: u32) -> u32 {
    match t {
        Type::Int { size, .. } => *size as u32,
        Type::Ptr { .. } => 8,
        Type::Array { elem, .. } => natural_align(elem, depth),
        Type::Record(r) if depth < 16 => r.fields().iter().map(|f| natural_align(&f.ty, depth + 1)).max().unwrap_or(1),
        _ => 1,
    }
}

impl<'a, 'e> Resolver<'a, 'e> {
    pub fn new(p: &'a Parsed, ext: &'a mut External<'e>) -> Resolver<'a, 'e> {
        Resolver { p, slots: HashMap::new(), ext, typedef_depth: 0, record_depth: 0 }
    }

    /// The type `spec` + `derived` names. `shallow`: pointees are not
    /// resolved (while sizing a record that may be pointed to by its own
    /// members).
    pub fn sized(&mut self, spec: &Spec, derived: &[Derived], shallow: bool) -> R<Sized> {
        let pointee_only = matches!(derived.first(), Some(Derived::Ptr | Derived::Func));
        let mut s = if pointee_only && shallow {
            Sized { ty: Type::Void, size: 1, align: 1 }
        } else {
            self.base(spec, pointee_only)?
        };
        for d in derived {
            s = match d {
                Derived::Ptr => Sized { ty: Type::Ptr { to: Rc::new(s.ty), user: true }, size: 8, align: 8 },
                // What matters of a function is that it is pointed to.
                Derived::Func => Sized { ty: Type::Void, size: 1, align: 1 },
                Derived::Array(n) => {
                    let size = s.size.checked_mul(*n).ok_or_else(|| {
                        Diagnostic::error("this array is larger than 4 GiB").at(spec_span(spec), "here")
                    })?;
                    Sized { ty: Type::Array { elem: Rc::new(s.ty), len: *n }, size, align: s.align }
                }
            };
        }
        Ok(s)
    }

    /// The base type of a declaration. `pointee_only`: the declaration
    /// points to it, so an unknown struct may stay incomplete.
    fn base(&mut self, spec: &Spec, pointee_only: bool) -> R<Sized> {
        match spec {
            Spec::Int { size, signed } => Ok(int(*size, *signed)),
            Spec::Float(size) => Ok(Sized { ty: Type::Unknown, size: *size as u32, align: *size as u32 }),
            Spec::Void if pointee_only => Ok(Sized { ty: Type::Void, size: 1, align: 1 }),
            Spec::Void => Err(Diagnostic::error("a member cannot be `void`").at(spec_span(spec), "here")),
            Spec::Record { def: Some(i), .. } => self.record(*i),
            Spec::Record { union, name: Some(name), def: None, span } => {
                let kind = if *union { "union" } else { "struct" };
                if let Some((i, _)) = self.p.tags.get(&(kind, name.clone())) {
                    return self.record(*i);
                }
                let tag = if *union { TypeTag::Union } else { TypeTag::Struct };
                match (self.ext)(name, Some(tag)) {
                    Ok(Some(t)) => Ok(external(t)),
                    _ if pointee_only => {
                        let incomplete =
                            Record { name: name.clone(), is_union: *union, size: 0, fields: Default::default() };
                        Ok(Sized { ty: Type::Record(Rc::new(incomplete)), size: 0, align: 1 })
                    }
                    found => Err(unknown(&format!("{kind} {name}"), *span, found.err())),
                }
            }
            Spec::Record { span, .. } => Err(unknown("an anonymous struct", *span, None)),
            Spec::Enum { def: Some(i), .. } => Ok(enum_type(&self.p.enums[*i].values)),
            Spec::Enum { name, span, .. } => {
                let name = name.clone().unwrap_or_default();
                if let Some((i, _)) = self.p.tags.get(&("enum", name.clone())) {
                    return Ok(enum_type(&self.p.enums[*i].values));
                }
                match (self.ext)(&name, Some(TypeTag::Enum)) {
                    Ok(Some(t)) => Ok(external(t)),
                    _ if pointee_only => Ok(int(4, false)),
                    found => Err(unknown(&format!("enum {name}"), *span, found.err())),
                }
            }
            Spec::Named(name, span) => {
                if let Some(td) = self.p.typedefs.get(name) {
                    if self.typedef_depth > 32 {
                        let msg = format!("typedef `{name}` is nested too deeply (or refers to itself)");
                        return Err(Diagnostic::error(msg).at(*span, "here"));
                    }
                    self.typedef_depth += 1;
                    let t = self.sized(&td.spec, &td.derived, pointee_only);
                    self.typedef_depth -= 1;
                    return t;
                }
                if let Some((size, signed)) = standard_int(name) {
                    return Ok(int(size, signed));
                }
                match (self.ext)(name, None) {
                    Ok(Some(t)) => Ok(external(t)),
                    found => Err(unknown(name, *span, found.err())),
                }
            }
        }
    }

    /// The script's record at `i`, laid out (once).
    pub fn record(&mut self, i: usize) -> R<Sized> {
        match self.slots.get(&i) {
            Some(Slot::Done(r, align)) => {
                return Ok(Sized { ty: Type::Record(r.clone()), size: r.size, align: *align });
            }
            Some(Slot::Sizing) => {
                let p = self.p;
                let def = &p.records[i];
                let what = def.name.clone().unwrap_or_default();
                return Err(Diagnostic::error(format!("struct {what} contains itself"))
                    .at(def.span, "a member of this type is this type")
                    .note("a struct can hold a pointer to itself, not itself"));
            }
            None => {}
        }
        self.slots.insert(i, Slot::Sizing);
        let p = self.p;
        let def = &p.records[i];
        if self.record_depth > 64 {
            return Err(Diagnostic::error("structs nested more than 64 levels deep").at(def.span, "here"));
        }
        self.record_depth += 1;
        let sized = self.layout(def, true);
        self.record_depth -= 1;
        let (size, align, _) = sized?;
        let rec = Rc::new(Record {
            name: def.name.clone().unwrap_or_default(),
            is_union: def.union,
            size,
            fields: Default::default(),
        });
        self.slots.insert(i, Slot::Done(rec.clone(), align));
        // Now that the record exists, members may point to it.
        let (_, _, fields) = self.layout(def, false)?;
        let _ = rec.fields.set(fields);
        Ok(Sized { ty: Type::Record(rec), size, align })
    }

    /// Size, alignment and fields of a record definition.
    fn layout(&mut self, def: &RecordDef, shallow: bool) -> R<(u32, u32, Vec<Field>)> {
        let mut fields = Vec::new();
        let mut bit: u64 = 0;
        let mut end_bits: u64 = 0;
        let mut align: u32 = 1;
        for m in &def.members {
            let s = self.sized(&m.spec, &m.derived, shallow)?;
            let mut a = if def.packed { 1 } else { s.align };
            if let Some(forced) = m.aligned {
                a = a.max(forced);
            }
            let name = m.name.as_ref().map_or(String::new(), |n| n.0.clone());
            if let Some((width, at)) = m.bits {
                let Type::Int { size, .. } = s.ty else {
                    return Err(Diagnostic::error("a bitfield must have an integer type").at(m.span, "not an integer"));
                };
                let unit = size as u64 * 8;
                if width as u64 > unit {
                    let msg = format!("bitfield of {width} bits is wider than its {unit}-bit type");
                    return Err(Diagnostic::error(msg).at(at, "too wide"));
                }
                if width == 0 {
                    bit = align_up(bit, unit);
                    continue;
                }
                if !def.packed && bit / unit != (bit + width as u64 - 1) / unit {
                    bit = align_up(bit, unit);
                }
                let start = if def.union { 0 } else { bit };
                let unit_off = start / unit * size as u64;
                let pos = start - unit_off * 8;
                if pos + width as u64 > unit {
                    let msg = "a packed bitfield that straddles its type's unit is not supported by trace";
                    return Err(Diagnostic::error(msg).at(at, "here"));
                }
                if m.name.is_some() {
                    let bitfield = Some((pos as u8, width as u8));
                    fields.push(Field { name, ty: s.ty, offset: offset(unit_off, at)?, bitfield });
                    align = align.max(a);
                }
                bit = if def.union { bit } else { start + width as u64 };
                end_bits = end_bits.max(start + width as u64);
                continue;
            }
            let off = if def.union { 0 } else { align_up(bit, a as u64 * 8) / 8 };
            fields.push(Field { name, ty: s.ty, offset: offset(off, m.span)?, bitfield: None });
            if !def.union {
                bit = off * 8 + s.size as u64 * 8;
            }
            end_bits = end_bits.max(off * 8 + s.size as u64 * 8);
            align = align.max(a);
        }
        if let Some(forced) = def.aligned {
            align = align.max(forced);
        }
        let size = align_up(end_bits.div_ceil(8), align as u64);
        Ok((offset(size, def.span)?, align, fields))
    }
}

fn offset(v: u64, at: Span) -> R<u32> {
    u32::try_from(v).map_err(|_| Diagnostic::error("this struct is larger than 4 GiB").at(at, "here"))
}

fn int(size: u8, signed: bool) -> Sized {
    Sized { ty: Type::Int { size, signed }, size: size as u32, align: size as u32 }
}

fn external(t: Type) -> Sized {
    let size = t.c_size();
    let align = natural_align(&t, 0);
    Sized { ty: t, size, align }
}

/// An enum's type: `unsigned int` unless a value needs a sign or more
/// bits (as GCC chooses).
pub fn enum_type(values: &[i64]) -> Sized {
    let negative = values.iter().any(|v| *v < 0);
    let fits32 = values.iter().all(|v| if negative { i32::try_from(*v).is_ok() } else { u32::try_from(*v).is_ok() });
    if fits32 {
        int(4, negative)
    } else {
        int(8, negative)
    }
}

fn spec_span(spec: &Spec) -> Span {
    match spec {
        Spec::Record { span, .. } | Spec::Enum { span, .. } | Spec::Named(_, span) => *span,
        _ => Span::default(),
    }
}

fn unknown(what: &str, span: Span, why: Option<String>) -> Diagnostic {
    let mut d = Diagnostic::error(format!("unknown type `{what}`")).at(span, "not defined");
    d = d.note("define it in the script (before its use), or use a type from the kernel's BTF");
    if let Some(why) = why {
        d = d.note(format!("the kernel's BTF could not be read: {why}"));
    }
    d
}
