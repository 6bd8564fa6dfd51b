//! DIEs to [`Type`]s, C spellings and [`Function`]s.
//!
//! Conversion follows `DW_AT_type` chains only as far as what was asked
//! needs: typedefs and qualifiers are looked through, a pointer converts its
//! target, a struct converts its members. Every converted DIE is cached by
//! its global offset. A struct's `Rc<Record>` enters the cache *before* its
//! fields exist and is queued in `Ctx::pending`; [`finish`] drains the queue,
//! so `struct db_shard_t *peer` inside `db_shard_t` finds the record being
//! built, and a long chain of structs costs a loop, not stack depth. Only
//! typedef/qualifier/pointer/array chains recurse, and real ones are short,
//! so a chain deeper than [`MAX_DEPTH`] is reported as malformed (a cycle).
//!
//! C spellings are built inside-out like C declarators, so a pointer to an
//! array reads `int (*)[3]` and a function pointer `int (*)(const char *,
//! ...)`; base type names are the compiler's (`long int`, `long unsigned
//! int`), as bpftrace and gdb print them.

use super::abi;
use super::index::{Ctx, DieRef, R};
use super::{Error, Function, Param, Result};
use crate::frontend::types::{Field, Record, Type};
use gimli::{constants as dw, AttributeValue, UnitOffset};
use std::cell::OnceCell;
use std::rc::Rc;

pub(super) const MAX_DEPTH: u32 = 64;

/// The attributes of one DIE this reader uses, read in a single pass.
pub(super) struct Attrs<'a> {
    pub tag: dw::DwTag,
    pub name: Option<String>,
    pub ty: Option<DieRef>,
    pub origin: Option<DieRef>,
    pub specification: Option<DieRef>,
    pub byte_size: Option<u64>,
    pub bit_size: Option<u64>,
    pub bit_offset: Option<i64>,
    pub data_bit_offset: Option<u64>,
    pub member_location: Option<AttributeValue<R<'a>>>,
    pub encoding: Option<dw::DwAte>,
    pub declaration: bool,
    pub external: bool,
    pub prototyped: bool,
    pub count: Option<AttributeValue<R<'a>>>,
    pub upper_bound: Option<AttributeValue<R<'a>>>,
    pub lower_bound: Option<AttributeValue<R<'a>>>,
    pub negative_value: bool,
    pub calling_convention: Option<dw::DwCc>,
    pub alignment: Option<u64>,
    pub artificial: bool,
    /// A virtual member function, or a class with a vtable.
    pub virtual_: bool,
    /// `= default` in the class body.
    pub defaulted_in_class: bool,
}

pub(super) fn attrs<'a>(cx: &mut Ctx<'a>, die: DieRef) -> Result<Attrs<'a>> {
    let unit = cx.unit(die.unit)?;
    let entry = unit.entry(die.off)?;
    let mut a = Attrs {
        tag: entry.tag(),
        name: None,
        ty: None,
        origin: None,
        specification: None,
        byte_size: None,
        bit_size: None,
        bit_offset: None,
        data_bit_offset: None,
        member_location: None,
        encoding: None,
        declaration: false,
        external: false,
        prototyped: false,
        count: None,
        upper_bound: None,
        lower_bound: None,
        negative_value: false,
        calling_convention: None,
        alignment: None,
        artificial: false,
        virtual_: false,
        defaulted_in_class: false,
    };
    let mut refs = Vec::new();
    let mut it = entry.attrs();
    while let Some(at) = it.next()? {
        let v = at.value();
        match at.name() {
            dw::DW_AT_name => a.name = Some(cx.string(&unit, v)?),
            dw::DW_AT_type | dw::DW_AT_abstract_origin | dw::DW_AT_specification => refs.push((at.name(), v)),
            dw::DW_AT_byte_size => a.byte_size = v.udata_value(),
            dw::DW_AT_bit_size => a.bit_size = v.udata_value(),
            dw::DW_AT_bit_offset => a.bit_offset = v.sdata_value(),
            dw::DW_AT_data_bit_offset => a.data_bit_offset = v.udata_value(),
            dw::DW_AT_data_member_location => a.member_location = Some(v),
            dw::DW_AT_encoding => {
                if let AttributeValue::Encoding(e) = v {
                    a.encoding = Some(e)
                }
            }
            dw::DW_AT_declaration => a.declaration = matches!(v, AttributeValue::Flag(true)),
            dw::DW_AT_external => a.external = matches!(v, AttributeValue::Flag(true)),
            dw::DW_AT_prototyped => a.prototyped = matches!(v, AttributeValue::Flag(true)),
            dw::DW_AT_count => a.count = Some(v),
            dw::DW_AT_upper_bound => a.upper_bound = Some(v),
            dw::DW_AT_lower_bound => a.lower_bound = Some(v),
            dw::DW_AT_const_value => a.negative_value = matches!(v, AttributeValue::Sdata(x) if x < 0),
            dw::DW_AT_calling_convention => {
                if let AttributeValue::CallingConvention(c) = v {
                    a.calling_convention = Some(c)
                }
            }
            dw::DW_AT_alignment => a.alignment = v.udata_value(),
            dw::DW_AT_artificial => a.artificial = matches!(v, AttributeValue::Flag(true)),
            dw::DW_AT_virtuality => a.virtual_ = !matches!(v, AttributeValue::Virtuality(dw::DW_VIRTUALITY_none)),
            dw::DW_AT_containing_type => a.virtual_ = true,
            dw::DW_AT_defaulted => a.defaulted_in_class = v.udata_value() == Some(dw::DW_DEFAULTED_in_class.0 as u64),
            _ => {}
        }
    }
    for (name, v) in refs {
        let r = cx.resolve(die.unit, v)?;
        match name {
            dw::DW_AT_type => a.ty = r,
            dw::DW_AT_abstract_origin => a.origin = r,
            _ => a.specification = r,
        }
    }
    Ok(a)
}

/// The direct children of a DIE: (tag, offset).
pub(super) fn children(cx: &mut Ctx<'_>, die: DieRef) -> Result<Vec<(dw::DwTag, UnitOffset)>> {
    let unit = cx.unit(die.unit)?;
    let mut tree = unit.entries_tree(Some(die.off))?;
    let mut it = tree.root()?.children();
    let mut out = Vec::new();
    while let Some(c) = it.next()? {
        out.push((c.entry().tag(), c.entry().offset()));
    }
    Ok(out)
}

fn too_deep(cx: &Ctx<'_>, die: DieRef) -> Error {
    Error::Malformed(format!("type chain deeper than {MAX_DEPTH} at DIE 0x{:x} (a reference cycle?)", cx.global(die)))
}

/// Convert the type DIE `die` (absent: void) and everything it reaches.
pub(super) fn type_of(cx: &mut Ctx<'_>, die: Option<DieRef>) -> Result<Type> {
    let t = ty(cx, die, None, 0);
    finish(cx, t)
}

pub(super) fn top_type(cx: &mut Ctx<'_>, die: DieRef) -> Result<Type> {
    type_of(cx, Some(die))
}

/// Fill the fields of every queued record. On an error the whole type
/// cache is dropped, so no half-built record is ever returned later.
fn finish<T>(cx: &mut Ctx<'_>, value: Result<T>) -> Result<T> {
    let drained = value.and_then(|v| {
        while let Some((rec, die)) = cx.pending.pop() {
            let fields = fields(cx, die, rec.size as u64)?;
            let _ = rec.fields.set(fields);
        }
        Ok(v)
    });
    if drained.is_err() {
        cx.pending.clear();
        cx.st.types.clear();
    }
    drained
}

/// `hint` names an anonymous struct, union or enum reached through a typedef
/// (`typedef struct { .. } db_version_t`).
fn ty(cx: &mut Ctx<'_>, die: Option<DieRef>, hint: Option<&str>, depth: u32) -> Result<Type> {
    let Some(die) = die else { return Ok(Type::Void) };
    if depth > MAX_DEPTH {
        return Err(too_deep(cx, die));
    }
    let key = cx.global(die);
    if let Some(t) = cx.st.types.get(&key) {
        return Ok(t.clone());
    }
    let a = attrs(cx, die)?;
    let t = match a.tag {
        dw::DW_TAG_base_type => base(&a),
        dw::DW_TAG_pointer_type | dw::DW_TAG_reference_type | dw::DW_TAG_rvalue_reference_type => {
            let to = match a.ty {
                Some(target) if attrs(cx, target)?.tag == dw::DW_TAG_subroutine_type => Type::Void,
                target => ty(cx, target, None, depth + 1)?,
            };
            Type::Ptr { to: Rc::new(to), user: true }
        }
        dw::DW_TAG_typedef => {
            let name = a.name.clone();
            ty(cx, a.ty, name.as_deref(), depth + 1)?
        }
        tag if is_qualifier(tag) => ty(cx, a.ty, hint, depth + 1)?,
        dw::DW_TAG_structure_type | dw::DW_TAG_class_type | dw::DW_TAG_union_type => {
            let size = u32::try_from(a.byte_size.unwrap_or(0))
                .map_err(|_| Error::Malformed(format!("struct of {} bytes", a.byte_size.unwrap_or(0))))?;
            let name = a.name.clone().or_else(|| hint.map(str::to_string)).unwrap_or_default();
            let rec = Rc::new(Record { name, is_union: a.tag == dw::DW_TAG_union_type, size, fields: OnceCell::new() });
            // Cached before the fields exist: see the module docs. A
            // declaration stays without fields (an incomplete type).
            if !a.declaration {
                cx.pending.push((rec.clone(), die));
            }
            Type::Record(rec)
        }
        dw::DW_TAG_enumeration_type => enumeration(cx, die, &a)?,
        dw::DW_TAG_array_type => {
            let elem = match a.ty {
                Some(_) => ty(cx, a.ty, None, depth + 1)?,
                None => Type::Unknown,
            };
            let mut t = elem;
            for len in dims(cx, die)?.into_iter().rev() {
                t = match u32::try_from(len.unwrap_or(0)) {
                    Ok(len) => Type::Array { elem: Rc::new(t), len },
                    Err(_) => Type::Unknown,
                };
            }
            t
        }
        _ => Type::Unknown,
    };
    cx.st.types.insert(key, t.clone());
    Ok(t)
}

fn base(a: &Attrs<'_>) -> Type {
    let size = a.byte_size.unwrap_or(0);
    let signed = match a.encoding {
        Some(dw::DW_ATE_signed | dw::DW_ATE_signed_char) => true,
        Some(dw::DW_ATE_unsigned | dw::DW_ATE_unsigned_char | dw::DW_ATE_boolean | dw::DW_ATE_UTF)
        | Some(dw::DW_ATE_address) => false,
        // Floating point, complex, decimal: the type model has no floats.
        _ => return Type::Unknown,
    };
    match size {
        1 | 2 | 4 | 8 => Type::Int { size: size as u8, signed },
        _ => Type::Unknown,
    }
}

fn enumeration(cx: &mut Ctx<'_>, die: DieRef, a: &Attrs<'_>) -> Result<Type> {
    let size = match a.byte_size {
        Some(s @ (1 | 2 | 4 | 8)) => s as u8,
        _ => return Ok(Type::Unknown),
    };
    // The underlying type says it when present (DWARF 3+); otherwise an
    // enum is signed exactly when some enumerator is negative.
    let signed = match a.ty {
        Some(u) => matches!(ty(cx, Some(u), None, 1)?, Type::Int { signed: true, .. }),
        None => {
            let mut neg = false;
            for (tag, off) in children(cx, die)? {
                if tag == dw::DW_TAG_enumerator && attrs(cx, DieRef { unit: die.unit, off })?.negative_value {
                    neg = true;
                    break;
                }
            }
            neg
        }
    };
    Ok(Type::Int { size, signed })
}

/// The lengths of an array's dimensions, outermost first; `None` when not
/// a constant (a flexible or variable-length array).
pub(super) fn dims(cx: &mut Ctx<'_>, die: DieRef) -> Result<Vec<Option<u64>>> {
    let mut out = Vec::new();
    for (tag, off) in children(cx, die)? {
        if tag != dw::DW_TAG_subrange_type && tag != dw::DW_TAG_enumeration_type {
            continue;
        }
        let s = attrs(cx, DieRef { unit: die.unit, off })?;
        let constant = |v: &Option<AttributeValue<R<'_>>>| match v {
            Some(AttributeValue::Sdata(x)) => Some(*x),
            Some(v) => v.udata_value().and_then(|x| i64::try_from(x).ok()),
            None => None,
        };
        let len = match (constant(&s.count), constant(&s.upper_bound)) {
            (Some(n), _) => u64::try_from(n).ok(),
            (None, Some(hi)) => {
                let lo = constant(&s.lower_bound).unwrap_or(0);
                Some(hi.checked_sub(lo).and_then(|n| n.checked_add(1)).and_then(|n| u64::try_from(n).ok()).unwrap_or(0))
            }
            _ => None,
        };
        out.push(len);
    }
    Ok(out)
}

/// A member's byte offset (`DW_AT_data_member_location`), or `None` when it
/// is computed at run time (a virtual base class).
pub(super) fn member_offset(cx: &mut Ctx<'_>, unit: usize, m: &Attrs<'_>) -> Result<Option<u64>> {
    let Some(v) = &m.member_location else { return Ok(Some(0)) };
    if let Some(off) = v.udata_value() {
        return Ok(Some(off));
    }
    let Some(expr) = v.exprloc_value() else {
        return Err(Error::Malformed(format!("member location of form {v:?}")));
    };
    // DWARF 2 spells a constant offset as `DW_OP_plus_uconst N`.
    let encoding = cx.unit(unit)?.encoding();
    let mut ops = expr.operations(encoding);
    let mut off = 0u64;
    while let Some(op) = ops.next()? {
        match op {
            gimli::Operation::PlusConstant { value } => off = off.wrapping_add(value),
            gimli::Operation::UnsignedConstant { value } => off = value,
            _ => return Ok(None),
        }
    }
    Ok(Some(off))
}

/// The bit position of a bitfield's least significant bit from the start of
/// its record (x86-64 is little-endian), from either DWARF encoding.
pub(super) fn bit_position(m: &Attrs<'_>, base: u64, type_size: u64) -> Option<u64> {
    let width = m.bit_size?;
    if let Some(b) = m.data_bit_offset {
        return base.checked_mul(8)?.checked_add(b);
    }
    // DWARF 2/3: `DW_AT_bit_offset` counts from the most significant bit of
    // a `DW_AT_byte_size` storage unit at the member location.
    let unit_bits = i64::try_from(m.byte_size.unwrap_or(type_size).checked_mul(8)?).ok()?;
    let from_msb = m.bit_offset.unwrap_or(0);
    let pos = i64::try_from(base).ok()?.checked_mul(8)?.checked_add(unit_bits)?.checked_sub(from_msb)?;
    u64::try_from(pos.checked_sub(i64::try_from(width).ok()?)?).ok()
}

/// Where to load a bitfield of `width` bits at bit `pos`: a unit of the
/// field type's size `t`, aligned when that covers the bits (the ordinary
/// layout), else at a byte offset that does and stays inside the record
/// (packed structs). A field that straddles every `t`-byte unit widens the
/// load. Returns (byte offset, shift, unit size).
pub(super) fn place_bitfield(pos: u64, width: u64, t: u64, record_size: u64) -> Option<(u64, u64, u64)> {
    let fits = |o: u64, t: u64| record_size == 0 || o + t <= record_size;
    for t in [t, 2, 4, 8].into_iter().filter(|&u| u >= t && u.is_power_of_two()) {
        let hi = pos / 8;
        let lo = pos.checked_add(width)?.div_ceil(8).saturating_sub(t);
        if lo > hi {
            continue;
        }
        let aligned = pos / (8 * t) * t;
        let off = if (lo..=hi).contains(&aligned) && fits(aligned, t) {
            aligned
        } else {
            (lo..=hi).rev().find(|&o| fits(o, t)).unwrap_or(hi)
        };
        return Some((off, pos - 8 * off, t));
    }
    None
}

/// The fields of the struct or union `die`.
fn fields(cx: &mut Ctx<'_>, die: DieRef, record_size: u64) -> Result<Vec<Field>> {
    let mut out = Vec::new();
    for (tag, off) in children(cx, die)? {
        if tag != dw::DW_TAG_member && tag != dw::DW_TAG_inheritance {
            continue;
        }
        let mref = DieRef { unit: die.unit, off };
        let m = attrs(cx, mref)?;
        // Static data members (DWARF 4 spells them as members).
        if tag == dw::DW_TAG_member && (m.external || m.declaration) {
            continue;
        }
        let name = if tag == dw::DW_TAG_inheritance { String::new() } else { m.name.clone().unwrap_or_default() };
        let field_ty = match m.ty {
            Some(_) => ty(cx, m.ty, None, 1)?,
            None => Type::Unknown,
        };
        // An unnamed member that is not a struct is padding (`int : 3`). A
        // base class becomes an anonymous member, so its fields are found
        // through `Record::field` like an anonymous struct's.
        if name.is_empty() && !matches!(field_ty, Type::Record(_)) {
            continue;
        }
        let Some(base) = member_offset(cx, die.unit, &m)? else { continue };
        let too_far = || Error::Malformed(format!("member offset {base} at DIE 0x{:x}", cx.global(mref)));
        if m.bit_size.is_none() {
            let offset = u32::try_from(base).map_err(|_| too_far())?;
            out.push(Field { name, ty: field_ty, offset, bitfield: None });
            continue;
        }
        let width = m.bit_size.unwrap_or(0);
        let (ty, offset, bitfield) = match field_ty {
            Type::Int { size, signed } if (1..=64).contains(&width) => {
                let placed = bit_position(&m, base, size as u64)
                    .and_then(|pos| place_bitfield(pos, width, size as u64, record_size));
                match placed {
                    Some((off, shift, unit)) => (
                        Type::Int { size: unit as u8, signed },
                        u32::try_from(off).map_err(|_| too_far())?,
                        Some((shift as u8, width as u8)),
                    ),
                    None => (Type::Unknown, u32::try_from(base).map_err(|_| too_far())?, None),
                }
            }
            _ => (Type::Unknown, u32::try_from(base).map_err(|_| too_far())?, None),
        };
        out.push(Field { name, ty, offset, bitfield });
    }
    Ok(out)
}

/// The type `die` as C spells it ("void" when absent).
pub(super) fn spell(cx: &mut Ctx<'_>, die: Option<DieRef>) -> Result<String> {
    declarator(cx, die, String::new(), 0)
}

/// Join a type's leading part and a declarator: `int` + `*` → `int *`,
/// `int` + `[3]` → `int[3]`.
fn join(base: &str, inner: &str) -> String {
    if inner.is_empty() || inner.starts_with('[') {
        format!("{base}{inner}")
    } else {
        format!("{base} {inner}")
    }
}

fn declarator(cx: &mut Ctx<'_>, die: Option<DieRef>, inner: String, depth: u32) -> Result<String> {
    let Some(die) = die else { return Ok(join("void", &inner)) };
    if depth > MAX_DEPTH {
        return Err(too_deep(cx, die));
    }
    let a = attrs(cx, die)?;
    Ok(match a.tag {
        dw::DW_TAG_base_type | dw::DW_TAG_typedef | dw::DW_TAG_unspecified_type => {
            join(a.name.as_deref().unwrap_or("<unnamed>"), &inner)
        }
        dw::DW_TAG_structure_type | dw::DW_TAG_class_type | dw::DW_TAG_union_type | dw::DW_TAG_enumeration_type => {
            let keyword = match a.tag {
                dw::DW_TAG_union_type => "union",
                dw::DW_TAG_enumeration_type => "enum",
                _ => "struct",
            };
            // C++ and Rust name their types without a keyword.
            let c = !matches!(
                cx.lang(die.unit)?,
                Some(dw::DW_LANG_C_plus_plus | dw::DW_LANG_C_plus_plus_03 | dw::DW_LANG_C_plus_plus_11)
                    | Some(dw::DW_LANG_C_plus_plus_14 | dw::DW_LANG_Rust)
            );
            let name = match (&a.name, c) {
                (Some(n), true) => format!("{keyword} {n}"),
                (Some(n), false) => n.clone(),
                (None, _) => format!("{keyword} (anonymous)"),
            };
            join(&name, &inner)
        }
        // Rust names its pointer types (`&Point`, `*const u8`).
        dw::DW_TAG_pointer_type if a.name.is_some() && cx.lang(die.unit)? == Some(dw::DW_LANG_Rust) => {
            join(a.name.as_deref().unwrap_or(""), &inner)
        }
        dw::DW_TAG_pointer_type | dw::DW_TAG_reference_type | dw::DW_TAG_rvalue_reference_type => {
            pointer(cx, &a, &[], inner, depth)?
        }
        tag if is_qualifier(tag) => {
            // Gather the qualifier chain; on a pointer they follow the `*`.
            let mut quals = vec![qualifier(a.tag)];
            let mut next = a.ty;
            let mut end = None;
            while let Some(n) = next {
                let na = attrs(cx, n)?;
                if !is_qualifier(na.tag) {
                    end = Some((n, na));
                    break;
                }
                if quals.len() > MAX_DEPTH as usize {
                    return Err(too_deep(cx, n));
                }
                quals.push(qualifier(na.tag));
                next = na.ty;
            }
            quals.retain(|q| !q.is_empty());
            let prefixed = |rest: String| if quals.is_empty() { rest } else { format!("{} {rest}", quals.join(" ")) };
            match end {
                Some((_, ea)) if is_pointer(ea.tag) => pointer(cx, &ea, &quals, inner, depth)?,
                Some((e, _)) => prefixed(declarator(cx, Some(e), inner, depth + 1)?),
                None => prefixed(join("void", &inner)),
            }
        }
        dw::DW_TAG_array_type => {
            let dims: String =
                dims(cx, die)?.into_iter().map(|d| d.map_or("[]".to_string(), |n| format!("[{n}]"))).collect();
            let dims = if dims.is_empty() { "[]".to_string() } else { dims };
            declarator(cx, a.ty, format!("{inner}{dims}"), depth + 1)?
        }
        dw::DW_TAG_subroutine_type => {
            let mut params = Vec::new();
            for (tag, off) in children(cx, die)? {
                match tag {
                    dw::DW_TAG_formal_parameter => {
                        let p = attrs(cx, DieRef { unit: die.unit, off })?;
                        params.push(declarator(cx, p.ty, String::new(), depth + 1)?);
                    }
                    dw::DW_TAG_unspecified_parameters => params.push("...".into()),
                    _ => {}
                }
            }
            if params.is_empty() && a.prototyped {
                params.push("void".into());
            }
            declarator(cx, a.ty, format!("{inner}({})", params.join(", ")), depth + 1)?
        }
        dw::DW_TAG_ptr_to_member_type => join("<pointer to member>", &inner),
        _ => join("<unknown>", &inner),
    })
}

fn is_qualifier(tag: dw::DwTag) -> bool {
    matches!(
        tag,
        dw::DW_TAG_const_type
            | dw::DW_TAG_volatile_type
            | dw::DW_TAG_restrict_type
            | dw::DW_TAG_atomic_type
            | dw::DW_TAG_immutable_type
            | dw::DW_TAG_packed_type
            | dw::DW_TAG_shared_type
    )
}

fn qualifier(tag: dw::DwTag) -> &'static str {
    match tag {
        dw::DW_TAG_const_type => "const",
        dw::DW_TAG_volatile_type => "volatile",
        dw::DW_TAG_restrict_type => "restrict",
        dw::DW_TAG_atomic_type => "_Atomic",
        _ => "",
    }
}

fn is_pointer(tag: dw::DwTag) -> bool {
    matches!(tag, dw::DW_TAG_pointer_type | dw::DW_TAG_reference_type | dw::DW_TAG_rvalue_reference_type)
}

/// The first non-qualifier DIE of a chain starting at `die`.
pub(super) fn chain_end(cx: &mut Ctx<'_>, mut die: Option<DieRef>, depth: u32) -> Result<Option<DieRef>> {
    for _ in depth..=MAX_DEPTH {
        let Some(d) = die else { return Ok(None) };
        let a = attrs(cx, d)?;
        if !is_qualifier(a.tag) {
            return Ok(Some(d));
        }
        die = a.ty;
    }
    match die {
        Some(d) => Err(too_deep(cx, d)),
        None => Ok(None),
    }
}

/// A pointer or reference declarator with its own qualifiers (`*const`).
fn pointer(cx: &mut Ctx<'_>, a: &Attrs<'_>, quals: &[&str], inner: String, depth: u32) -> Result<String> {
    let mut s = String::from(match a.tag {
        dw::DW_TAG_reference_type => "&",
        dw::DW_TAG_rvalue_reference_type => "&&",
        _ => "*",
    });
    s.push_str(&quals.join(" "));
    if !inner.is_empty() {
        if !quals.is_empty() {
            s.push(' ');
        }
        s.push_str(&inner);
    }
    // A pointer to an array or function needs parentheses: `int (*)[3]`.
    let target = chain_end(cx, a.ty, depth)?;
    if let Some(t) = target {
        if matches!(attrs(cx, t)?.tag, dw::DW_TAG_array_type | dw::DW_TAG_subroutine_type) {
            s = format!("({s})");
        }
    }
    declarator(cx, a.ty, s, depth + 1)
}

/// The function described by the subprogram DIE `die`, looked up as `name`.
pub(super) fn function(cx: &mut Ctx<'_>, die: DieRef, name: &str) -> Result<Function> {
    let d = attrs(cx, die)?;
    // A concrete instance takes its signature from its abstract origin; an
    // out-of-line member definition from its in-class declaration.
    let origin = match d.origin {
        Some(o) => Some((o, attrs(cx, o)?)),
        None => None,
    };
    let spec_ref = d.specification.or_else(|| origin.as_ref().and_then(|(_, a)| a.specification));
    let spec = match spec_ref {
        Some(s) => Some((s, attrs(cx, s)?)),
        None => None,
    };
    let ret_die =
        d.ty.or_else(|| origin.as_ref().and_then(|(_, a)| a.ty)).or_else(|| spec.as_ref().and_then(|(_, a)| a.ty));
    let mut param_dies = params_of(cx, origin.as_ref().map_or(die, |(o, _)| *o))?;
    if param_dies.is_empty() {
        if let Some((s, _)) = spec {
            param_dies = params_of(cx, s)?;
        }
    }
    let rust = cx.lang(die.unit)? == Some(dw::DW_LANG_Rust);
    let ret_abi = abi::describe(cx, ret_die)?;
    let ret = type_of(cx, ret_die)?;
    let ret_c_type = spell(cx, ret_die)?;
    let mut params = Vec::new();
    let mut abis = Vec::new();
    for p in param_dies {
        let mut a = attrs(cx, p)?;
        if let Some(o) = a.origin {
            let oa = attrs(cx, o)?;
            a.name = a.name.or(oa.name);
            a.ty = a.ty.or(oa.ty);
        }
        abis.push(abi::describe(cx, a.ty)?);
        let ty = match a.ty {
            Some(_) => type_of(cx, a.ty)?,
            None => Type::Unknown,
        };
        let c_type = match a.ty {
            Some(_) => spell(cx, a.ty)?,
            None => "<unknown>".into(),
        };
        params.push(Param {
            name: a.name.unwrap_or_default(),
            ty,
            c_type,
            loc: super::ParamLoc::Unavailable(String::new()),
        });
    }
    // gcc's specialized copies (`helper.constprop.0.isra.0`) drop, reorder
    // or constant-fold parameters, and a function marked DW_CC_nocall no
    // longer follows the ABI: the source's parameter list says nothing
    // about where their values are.
    let clone = [".isra.", ".constprop.", ".part.", ".cold"].iter().any(|s| format!("{name}.").contains(s));
    let nocall = std::iter::once(&d)
        .chain(origin.as_ref().map(|(_, a)| a))
        .any(|a| a.calling_convention == Some(dw::DW_CC_nocall));
    let locs = if clone || nocall {
        let why = if clone {
            format!("{name} is a copy gcc specialized; its parameters differ from the source's")
        } else {
            "the compiler gave this function a private calling convention".to_string()
        };
        vec![super::ParamLoc::Unavailable(why); params.len()]
    } else {
        abi::locations(&ret_abi, &abis, rust)
    };
    for (p, loc) in params.iter_mut().zip(locs) {
        p.loc = loc;
    }
    Ok(Function { name: name.to_string(), params, ret, ret_c_type })
}

fn params_of(cx: &mut Ctx<'_>, die: DieRef) -> Result<Vec<DieRef>> {
    Ok(children(cx, die)?
        .into_iter()
        .filter(|(tag, _)| *tag == dw::DW_TAG_formal_parameter)
        .map(|(_, off)| DieRef { unit: die.unit, off })
        .collect())
}
