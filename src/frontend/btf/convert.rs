//! BTF entries to [`Type`]s, C spellings and [`KernelFunction`]s.
//!
//! [`type_of`] follows typedef, qualifier, tag, pointer and array chains
//! (recursively: real chains are a handful of links, so one longer than
//! [`MAX_DEPTH`] is reported as a reference cycle) and stops at records: a
//! struct or union becomes an `Rc<Record>` without fields, cached by id and
//! remembered by address. Fields are set by [`fill`], from a work list, for
//! the records a caller holds by value ([`complete_type`]) or asks for
//! ([`complete`]); the members' own by-value records join the list, the
//! records behind their pointers do not. See the module docs of
//! [`super`] for why.

use super::raw::{Entry, Kind};
use super::{Bad, Btf, KernelFunction, KernelParam, Linkage, Result};
use crate::frontend::types::{Field, Record, Type};
use std::cell::OnceCell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

pub(super) const MAX_DEPTH: u32 = 64;

/// One blob's conversion cache.
#[derive(Default)]
pub(super) struct State {
    /// Converted types by id.
    types: HashMap<u32, Type>,
    /// Every record made here, by address: its id, and the record.
    records: HashMap<usize, (u32, Rc<Record>)>,
    /// How deep the filled records nest records by value (1: none).
    depths: HashMap<usize, u32>,
}

/// Records nest by value at most this deep. The kernel's deepest is far
/// less; deeper is a malformed file, whose records would overflow the stack
/// of everything that walks them (`Record::field`, dropping them).
pub(super) const MAX_NESTING: u32 = 64;

impl State {
    pub(super) fn converted(&self) -> usize {
        self.types.len()
    }
}

fn too_deep(id: u32) -> Bad {
    Bad::Malformed(format!("type chain deeper than {MAX_DEPTH} at type {id} (a reference cycle?)"))
}

/// The type `id` (0: void), without filling any record's fields.
pub(super) fn type_of(btf: &Btf, id: u32) -> Result<Type> {
    ty(btf, id, None, 0)
}

/// `hint` names an anonymous record or enum reached through a typedef.
fn ty(btf: &Btf, id: u32, hint: Option<&str>, depth: u32) -> Result<Type> {
    if id == 0 {
        return Ok(Type::Void);
    }
    let owner = btf.owner(id);
    if let Some(t) = owner.state.borrow().types.get(&id) {
        return Ok(t.clone());
    }
    if depth > MAX_DEPTH {
        return Err(too_deep(id));
    }
    let e = owner.entry(id)?;
    let t = match e.kind {
        Kind::Int => int(&e),
        Kind::Ptr => {
            let (target, user) = pointee(owner, e.size_or_type)?;
            let to = match target {
                0 => Type::Void,
                t if owner.entry(t)?.kind == Kind::FuncProto => Type::Void,
                t => ty(owner, t, None, depth + 1)?,
            };
            Type::Ptr { to: Rc::new(to), user }
        }
        Kind::Array => {
            let (elem, _, len) = e.array();
            let elem = ty(owner, elem, None, depth + 1)?;
            // A size past 4 GiB is no array a probe can read or measure
            // (in memory or in a map: an element may store wider).
            if elem.c_size().max(elem.storage_size()) as u64 * len as u64 > u32::MAX as u64 {
                Type::Unknown
            } else {
                Type::Array { elem: Rc::new(elem), len }
            }
        }
        Kind::Struct | Kind::Union => {
            let name = match owner.string(e.name_off)? {
                "" => hint.unwrap_or(""),
                n => n,
            };
            let rec = Rc::new(Record {
                name: name.to_string(),
                is_union: e.kind == Kind::Union,
                size: e.size_or_type,
                fields: OnceCell::new(),
            });
            owner.state.borrow_mut().records.insert(Rc::as_ptr(&rec) as usize, (id, rec.clone()));
            Type::Record(rec)
        }
        Kind::Enum | Kind::Enum64 => match e.size_or_type {
            s @ (1 | 2 | 4 | 8) => Type::Int { size: s as u8, signed: e.kflag },
            _ => Type::Unknown,
        },
        Kind::Fwd => forward(owner, &e, depth)?,
        Kind::Typedef => {
            let name = owner.string(e.name_off)?;
            ty(owner, e.size_or_type, Some(name), depth + 1)?
        }
        k if k.is_modifier() => ty(owner, e.size_or_type, hint, depth + 1)?,
        // Floats, functions, variables, sections, declaration tags.
        _ => Type::Unknown,
    };
    owner.state.borrow_mut().types.insert(id, t.clone());
    Ok(t)
}

/// `BTF_INT_SIGNED` in an `INT`'s encoding (`CHAR` and `BOOL` are unsigned).
const INT_SIGNED: u32 = 1;

fn int(e: &Entry<'_>) -> Type {
    let (encoding, _, _) = e.int();
    match e.size_or_type {
        s @ (1 | 2 | 4 | 8) => Type::Int { size: s as u8, signed: encoding & INT_SIGNED != 0 },
        _ => Type::Unknown,
    }
}

/// What a pointer points to past qualifiers and type tags, and whether a
/// `user` tag on the way says it is a user-space pointer.
fn pointee(btf: &Btf, mut id: u32) -> Result<(u32, bool)> {
    let mut user = false;
    for _ in 0..=MAX_DEPTH {
        if id == 0 {
            return Ok((0, user));
        }
        let e = btf.entry(id)?;
        if !e.kind.is_modifier() {
            return Ok((id, user));
        }
        // A tag with kind_flag set is an attribute, not a `btf_type_tag`.
        if e.kind == Kind::TypeTag && !e.kflag && btf.string(e.name_off)? == "user" {
            user = true;
        }
        id = e.size_or_type;
    }
    Err(too_deep(id))
}

/// A forward declaration: the definition of the same name if there is one,
/// else an incomplete record (no fields, no size).
fn forward(btf: &Btf, e: &Entry<'_>, depth: u32) -> Result<Type> {
    let name = btf.string(e.name_off)?;
    let kind = if e.kflag { Kind::Union } else { Kind::Struct };
    match btf.find(name, |k| k == kind)? {
        Some(def) => ty(btf, def, None, depth + 1),
        None => Ok(Type::Record(Rc::new(Record::new(name, kind == Kind::Union, 0, Vec::new())))),
    }
}

/// Give fields to the records `t` holds by value, and to theirs.
pub(super) fn complete_type(btf: &Btf, t: &Type) -> Result<()> {
    let mut queue = Vec::new();
    by_value(t, &mut queue);
    fill(btf, queue)
}

/// Give fields to `rec` if it is one of `btf`'s (or a base's) lazy records.
pub(super) fn complete(btf: &Btf, rec: &Record) -> Result<()> {
    match record(btf, rec as *const Record as usize) {
        Some((_, rc)) => fill(btf, vec![rc]),
        None => Ok(()),
    }
}

/// The id and record made at address `addr`, here or in a base.
fn record(btf: &Btf, addr: usize) -> Option<(u32, Rc<Record>)> {
    let mut b = Some(btf);
    while let Some(blob) = b {
        if let Some(found) = blob.state.borrow().records.get(&addr) {
            return Some(found.clone());
        }
        b = blob.base.as_deref();
    }
    None
}

fn addr(r: &Rc<Record>) -> usize {
    Rc::as_ptr(r) as usize
}

/// The record a member of type `t` holds by value (itself, or arrays of it).
fn held(mut t: &Type) -> Option<&Rc<Record>> {
    loop {
        match t {
            Type::Record(r) => return Some(r),
            Type::Array { elem, .. } => t = elem,
            _ => return None,
        }
    }
}

/// The nesting depth of an already filled record (1 when not known here:
/// one made elsewhere, which has no fields).
fn known_depth(btf: &Btf, r: &Rc<Record>) -> u32 {
    let mut b = Some(btf);
    while let Some(blob) = b {
        if let Some(&d) = blob.state.borrow().depths.get(&addr(r)) {
            return d;
        }
        b = blob.base.as_deref();
    }
    1
}

/// How deep each record of a batch nests records by value; an error for a
/// record that holds itself or nests past [`MAX_NESTING`]. Depth first,
/// with an explicit stack: the batch may be long.
fn nesting(btf: &Btf, done: &[(Rc<Record>, Vec<Field>)]) -> Result<Vec<u32>> {
    let index: HashMap<usize, usize> = done.iter().enumerate().map(|(i, (r, _))| (addr(r), i)).collect();
    let kind = |r: &Record| if r.is_union { "union" } else { "struct" };
    let mut depth = vec![0u32; done.len()];
    let mut on_stack = vec![false; done.len()];
    for start in 0..done.len() {
        if depth[start] != 0 {
            continue;
        }
        let mut stack = vec![(start, 0usize)];
        on_stack[start] = true;
        while let Some(&(i, next)) = stack.last() {
            let fields = &done[i].1;
            if let Some(f) = fields.get(next) {
                if let Some(top) = stack.last_mut() {
                    top.1 += 1;
                }
                match held(&f.ty).and_then(|r| index.get(&addr(r))) {
                    Some(&j) if on_stack[j] => {
                        let r = &done[j].0;
                        return Err(Bad::Malformed(format!("{} {} holds itself by value", kind(r), r.name)));
                    }
                    Some(&j) if depth[j] == 0 => {
                        on_stack[j] = true;
                        stack.push((j, 0));
                    }
                    _ => {}
                }
                continue;
            }
            let inner = fields.iter().filter_map(|f| held(&f.ty)).map(|r| match index.get(&addr(r)) {
                Some(&j) => depth[j],
                None => known_depth(btf, r),
            });
            let d = 1 + inner.max().unwrap_or(0);
            if d > MAX_NESTING {
                let r = &done[i].0;
                return Err(Bad::Malformed(format!(
                    "{} {} nests records more than {MAX_NESTING} deep",
                    kind(r),
                    r.name
                )));
            }
            depth[i] = d;
            on_stack[i] = false;
            stack.pop();
        }
    }
    Ok(depth)
}

fn by_value(t: &Type, queue: &mut Vec<Rc<Record>>) {
    match t {
        Type::Record(r) if r.fields.get().is_none() => queue.push(r.clone()),
        Type::Array { elem, .. } => by_value(elem, queue),
        _ => {}
    }
}

/// Set the fields of the queued records and of every record they hold by
/// value, all at once when all have converted (see the module docs).
fn fill(btf: &Btf, mut queue: Vec<Rc<Record>>) -> Result<()> {
    let mut seen = HashSet::new();
    let mut done = Vec::new();
    while let Some(rec) = queue.pop() {
        if rec.fields.get().is_some() || !seen.insert(addr(&rec)) {
            continue;
        }
        // Records made elsewhere (an incomplete forward declaration) have
        // their fields already; anything else is not this reader's.
        let Some((id, _)) = record(btf, addr(&rec)) else { continue };
        let fields = fields(btf, id, rec.size)?;
        for f in &fields {
            by_value(&f.ty, &mut queue);
        }
        done.push((rec, fields));
    }
    let depths = nesting(btf, &done)?;
    for ((rec, fields), depth) in done.into_iter().zip(depths) {
        if let Some((id, _)) = record(btf, addr(&rec)) {
            btf.owner(id).state.borrow_mut().depths.insert(addr(&rec), depth);
        }
        let _ = rec.fields.set(fields);
    }
    Ok(())
}

/// For a member whose type is a plain `INT` narrower than its size (the
/// encoding before `kind_flag` bitfields): (bit offset within it, bits).
fn int_bits(btf: &Btf, mut id: u32) -> Result<Option<(u32, u32)>> {
    for _ in 0..=MAX_DEPTH {
        if id == 0 {
            return Ok(None);
        }
        let e = btf.entry(id)?;
        match e.kind {
            Kind::Typedef => id = e.size_or_type,
            k if k.is_modifier() => id = e.size_or_type,
            Kind::Int => {
                let (_, off, bits) = e.int();
                let whole = e.size_or_type as u64 * 8;
                return Ok((off != 0 || bits as u64 != whole).then_some((off, bits)));
            }
            _ => return Ok(None),
        }
    }
    Err(too_deep(id))
}

/// The fields of the struct or union `id`.
fn fields(btf: &Btf, id: u32, record_size: u32) -> Result<Vec<Field>> {
    let owner = btf.owner(id);
    let e = owner.entry(id)?;
    let mut out = Vec::with_capacity(e.vlen as usize);
    for (name_off, tid, word) in e.members() {
        let name = owner.string(name_off)?.to_string();
        let field_ty = ty(owner, tid, None, 1)?;
        // An unnamed member that is not a record is padding (`int : 3`).
        if name.is_empty() && !matches!(field_ty, Type::Record(_)) {
            continue;
        }
        let (pos, width) = if e.kflag {
            (word & 0x00ff_ffff, word >> 24)
        } else {
            match int_bits(owner, tid)? {
                Some((off, bits)) => (word.saturating_add(off), bits),
                None => (word, 0),
            }
        };
        if width == 0 {
            // A member that does not start on a byte cannot be loaded as its type.
            let ty = if pos % 8 == 0 { field_ty } else { Type::Unknown };
            out.push(Field { name, ty, offset: pos / 8, bitfield: None });
            continue;
        }
        let placed = match field_ty {
            Type::Int { size, signed } if width <= 64 => {
                place_bitfield(pos as u64, width as u64, size as u64, record_size as u64).map(|(off, shift, unit)| {
                    Field {
                        name: name.clone(),
                        ty: Type::Int { size: unit as u8, signed },
                        offset: off as u32,
                        bitfield: Some((shift as u8, width as u8)),
                    }
                })
            }
            _ => None,
        };
        out.push(placed.unwrap_or(Field { name, ty: Type::Unknown, offset: pos / 8, bitfield: None }));
    }
    Ok(out)
}

/// Where to load a bitfield of `width` bits whose lowest bit is bit `pos`
/// of the record: a unit of the member type's size `t`, aligned to its size
/// when that covers the bits (how C lays bitfields out), else the unit at
/// the highest byte offset that covers them and stays inside the record
/// (packed structs), else a wider unit. Returns (byte offset, shift from
/// the unit's least significant bit, unit size).
fn place_bitfield(pos: u64, width: u64, t: u64, record_size: u64) -> Option<(u64, u64, u64)> {
    let inside = |off: u64, unit: u64| record_size == 0 || off + unit <= record_size;
    let end = pos.checked_add(width)?;
    for unit in [1u64, 2, 4, 8].into_iter().filter(|&u| u >= t) {
        // Unit offsets whose bytes cover bits pos..end.
        let highest = pos / 8;
        let lowest = end.div_ceil(8).saturating_sub(unit);
        if lowest > highest {
            continue;
        }
        let aligned = pos / (8 * unit) * unit;
        let off = if aligned >= lowest && inside(aligned, unit) {
            aligned
        } else {
            (lowest..=highest).rev().find(|&o| inside(o, unit)).unwrap_or(highest)
        };
        return Some((off, pos - 8 * off, unit));
    }
    None
}

/// The type `id` as C spells it ("void" for 0).
pub(super) fn spell(btf: &Btf, id: u32) -> Result<String> {
    declarator(btf, id, String::new(), 0)
}

/// A type's leading part and a declarator: `int` + `*` → `int *`,
/// `int` + `[3]` → `int[3]`.
fn join(base: &str, inner: &str) -> String {
    if inner.is_empty() || inner.starts_with('[') {
        format!("{base}{inner}")
    } else {
        format!("{base} {inner}")
    }
}

fn qualifier(kind: Kind) -> Option<&'static str> {
    match kind {
        Kind::Const => Some("const"),
        Kind::Volatile => Some("volatile"),
        Kind::Restrict => Some("restrict"),
        _ => None,
    }
}

fn declarator(btf: &Btf, id: u32, inner: String, depth: u32) -> Result<String> {
    if id == 0 {
        return Ok(join("void", &inner));
    }
    if depth > MAX_DEPTH {
        return Err(too_deep(id));
    }
    let e = btf.entry(id)?;
    let named = |fallback: &str| -> Result<String> {
        Ok(match btf.string(e.name_off)? {
            "" => fallback.to_string(),
            n => n.to_string(),
        })
    };
    Ok(match e.kind {
        Kind::Int | Kind::Float | Kind::Typedef | Kind::Func => join(&named("<unnamed>")?, &inner),
        Kind::Struct | Kind::Union | Kind::Enum | Kind::Enum64 | Kind::Fwd => {
            let keyword = match e.kind {
                Kind::Union => "union",
                Kind::Fwd if e.kflag => "union",
                Kind::Enum | Kind::Enum64 => "enum",
                _ => "struct",
            };
            join(&format!("{keyword} {}", named("(anonymous)")?), &inner)
        }
        Kind::Ptr => pointer(btf, e.size_or_type, &[], inner, depth)?,
        k if k.is_modifier() => {
            // Gather the chain; on a pointer the qualifiers follow the `*`.
            let mut quals: Vec<&str> = qualifier(k).into_iter().collect();
            let mut next = e.size_or_type;
            let mut steps = 0;
            let end = loop {
                if next == 0 {
                    break None;
                }
                let n = btf.entry(next)?;
                if !n.kind.is_modifier() {
                    break Some(n);
                }
                steps += 1;
                if steps > MAX_DEPTH {
                    return Err(too_deep(next));
                }
                quals.extend(qualifier(n.kind));
                next = n.size_or_type;
            };
            let prefixed = |rest: String| if quals.is_empty() { rest } else { format!("{} {rest}", quals.join(" ")) };
            match end {
                Some(p) if p.kind == Kind::Ptr => pointer(btf, p.size_or_type, &quals, inner, depth)?,
                Some(p) => prefixed(declarator(btf, p.id, inner, depth + 1)?),
                None => prefixed(join("void", &inner)),
            }
        }
        Kind::Array => {
            let (elem, _, len) = e.array();
            declarator(btf, elem, format!("{inner}[{len}]"), depth + 1)?
        }
        Kind::FuncProto => {
            let mut params = Vec::new();
            for (_, t) in e.params() {
                params.push(if t == 0 { "...".to_string() } else { declarator(btf, t, String::new(), depth + 1)? });
            }
            if params.is_empty() {
                params.push("void".into());
            }
            declarator(btf, e.size_or_type, format!("{inner}({})", params.join(", ")), depth + 1)?
        }
        _ => join("<unknown>", &inner),
    })
}

/// A pointer declarator with its own qualifiers (`*const`) to `target`.
fn pointer(btf: &Btf, target: u32, quals: &[&str], inner: String, depth: u32) -> Result<String> {
    let mut s = format!("*{}", quals.join(" "));
    if !inner.is_empty() {
        if !quals.is_empty() {
            s.push(' ');
        }
        s.push_str(&inner);
    }
    // A pointer to an array or a function needs parentheses: `int (*)[3]`.
    let (end, _) = pointee(btf, target)?;
    if end != 0 && matches!(btf.entry(end)?.kind, Kind::Array | Kind::FuncProto) {
        s = format!("({s})");
    }
    declarator(btf, target, s, depth + 1)
}

/// The function whose `FUNC` entry is `id`.
pub(super) fn function(btf: &Btf, id: u32) -> Result<KernelFunction> {
    let e = btf.entry(id)?;
    let name = btf.string(e.name_off)?.to_string();
    let linkage = match e.vlen {
        0 => Linkage::Static,
        1 => Linkage::Global,
        2 => Linkage::Extern,
        n => return Err(Bad::Malformed(format!("function {name} (type {id}) has linkage {n}"))),
    };
    prototype(btf, name, id, linkage, e.size_or_type)
}

/// The typedef `id` of a pointer to a function prototype (`btf_trace_NAME`)
/// as a function named after the typedef; `None` for any other typedef.
pub(super) fn typedef_prototype(btf: &Btf, id: u32) -> Result<Option<KernelFunction>> {
    let e = btf.entry(id)?;
    let name = btf.string(e.name_off)?.to_string();
    let ptr = btf.entry(e.size_or_type)?;
    if ptr.kind != Kind::Ptr || btf.entry(ptr.size_or_type)?.kind != Kind::FuncProto {
        return Ok(None);
    }
    prototype(btf, name, id, Linkage::Static, ptr.size_or_type).map(Some)
}

/// A function `name` (BTF id `id`) of the prototype `proto_id`.
fn prototype(btf: &Btf, name: String, id: u32, linkage: Linkage, proto_id: u32) -> Result<KernelFunction> {
    let proto = btf.entry(proto_id)?;
    if proto.kind != Kind::FuncProto {
        return Err(Bad::Malformed(format!(
            "function {name} (type {id}) has type {proto_id}, a {:?}, not a prototype",
            proto.kind
        )));
    }
    let ret = type_of(btf, proto.size_or_type)?;
    let mut by_val = Vec::new();
    by_value(&ret, &mut by_val);
    let ret_c_type = spell(btf, proto.size_or_type)?;
    let mut params = Vec::new();
    let mut variadic = false;
    let count = proto.vlen as usize;
    for (i, (name_off, t)) in proto.params().enumerate() {
        if t == 0 {
            if i + 1 == count {
                variadic = true;
                continue;
            }
            return Err(Bad::Malformed(format!("function {name} (type {id}): parameter {i} is void")));
        }
        let ty = type_of(btf, t)?;
        by_value(&ty, &mut by_val);
        params.push(KernelParam { name: btf.string(name_off)?.to_string(), ty, c_type: spell(btf, t)? });
    }
    fill(btf, by_val)?;
    Ok(KernelFunction { name, btf_id: id, linkage, params, variadic, ret, ret_c_type })
}
