//! Where each parameter is at function entry, by the SysV x86-64 ABI.
//!
//! A uprobe fires before the prologue, when the DWARF locations of an `-O0`
//! build (frame slots) do not hold anything yet, so locations come from the
//! calling convention (System V AMD64 psABI §3.2.3), which every C compiler
//! on Linux follows:
//!
//! * each argument is classified per eightbyte: INTEGER (integers, pointers,
//!   enums, bool), SSE (float, double), or MEMORY (anything over 16 bytes,
//!   unaligned fields, x87 `long double`);
//! * INTEGER eightbytes take rdi, rsi, rdx, rcx, r8, r9 and SSE ones xmm0-7,
//!   in order; an argument that does not fit in the registers left goes
//!   whole to the stack, and later arguments may still use registers;
//! * stack arguments sit above the return address, at sp+8, sp+16, ... in
//!   8-byte slots (16-byte aligned for 16-byte aligned types);
//! * a function returning MEMORY class takes a hidden result pointer in rdi.
//!
//! A probe can read registers of `pt_regs` and memory, so a scalar in an
//! integer register is [`ParamLoc::Reg`], anything on the stack (including
//! a struct by value) is [`ParamLoc::Stack`], and the rest — floating point
//! and structs split into registers — is [`ParamLoc::Unavailable`] with why.
//!
//! Rust's own ABI is unspecified for aggregates; scalars are passed as in C in
//! practice, but after a Rust struct by value nothing is certain any more.

use super::convert::{attrs, bit_position, chain_end, children, dims, member_offset, MAX_DEPTH};
use super::index::{Ctx, DieRef};
use super::{Error, ParamLoc, Result};
use crate::arch;
use gimli::constants as dw;

const SSE_REGS: usize = 8;

/// What the ABI needs to know about a type.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct AbiType {
    pub size: u64,
    pub align: u64,
    pub kind: Kind,
}

#[derive(Clone, Debug, PartialEq)]
pub(super) enum Kind {
    /// No value (a `void` return).
    Void,
    Scalar(Leaf),
    /// A struct, union, array or complex number: its scalar pieces.
    Aggregate {
        leaves: Vec<(u64, u64, Leaf)>,
        /// Some member is not at a multiple of its alignment (packed).
        unaligned: bool,
        /// A C++ object that must be passed by invisible reference.
        by_reference: bool,
    },
    /// Incomplete or otherwise unclassifiable.
    Unknown,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Leaf {
    Int,
    Float,
    /// x87 extended precision (`long double`).
    X87,
}

impl AbiType {
    fn scalar(size: u64, leaf: Leaf) -> AbiType {
        AbiType { size, align: size.clamp(1, 16), kind: Kind::Scalar(leaf) }
    }
}

/// Describe the type `die` (absent: void) for classification.
pub(super) fn describe(cx: &mut Ctx<'_>, die: Option<DieRef>) -> Result<AbiType> {
    let mut budget = DIE_BUDGET;
    describe_at(cx, die, 0, &mut budget)
}

/// DIEs one description may read: classifying needs the members of a
/// by-value struct, and types nested by value (each member's type visited
/// once per use) could otherwise multiply without bound.
const DIE_BUDGET: u32 = 20_000;

/// An argument larger than this is not taken at face value.
const MAX_ARG: u64 = 1 << 24;

fn describe_at(cx: &mut Ctx<'_>, die: Option<DieRef>, depth: u32, budget: &mut u32) -> Result<AbiType> {
    let Some(die) = die else { return Ok(AbiType { size: 0, align: 1, kind: Kind::Void }) };
    if depth > MAX_DEPTH {
        return Err(Error::Malformed(format!("type nesting deeper than {MAX_DEPTH} (a reference cycle?)")));
    }
    let a = attrs(cx, die)?;
    let size = a.byte_size.unwrap_or(0);
    let unknown = AbiType { size, align: 8, kind: Kind::Unknown };
    if *budget == 0 {
        return Ok(unknown);
    }
    *budget -= 1;
    Ok(match a.tag {
        dw::DW_TAG_typedef
        | dw::DW_TAG_const_type
        | dw::DW_TAG_volatile_type
        | dw::DW_TAG_restrict_type
        | dw::DW_TAG_atomic_type
        | dw::DW_TAG_immutable_type
        | dw::DW_TAG_packed_type
        | dw::DW_TAG_shared_type => describe_at(cx, a.ty, depth + 1, budget)?,
        dw::DW_TAG_base_type => match a.encoding {
            Some(dw::DW_ATE_float) if size > 8 && a.name.as_deref().is_some_and(|n| n.contains("long double")) => {
                AbiType::scalar(size, Leaf::X87)
            }
            Some(dw::DW_ATE_float | dw::DW_ATE_decimal_float) => AbiType::scalar(size, Leaf::Float),
            Some(dw::DW_ATE_complex_float) if size <= 16 => AbiType {
                size,
                align: size / 2,
                kind: Kind::Aggregate {
                    leaves: vec![(0, size / 2, Leaf::Float), (size / 2, size / 2, Leaf::Float)],
                    unaligned: false,
                    by_reference: false,
                },
            },
            Some(dw::DW_ATE_complex_float) => AbiType::scalar(size, Leaf::X87),
            _ if size == 0 => AbiType { size, align: 1, kind: Kind::Unknown },
            _ => AbiType::scalar(size, Leaf::Int),
        },
        dw::DW_TAG_pointer_type
        | dw::DW_TAG_reference_type
        | dw::DW_TAG_rvalue_reference_type
        | dw::DW_TAG_ptr_to_member_type => {
            let size = if size == 0 { 8 } else { size };
            if size <= 8 {
                AbiType::scalar(size, Leaf::Int)
            } else {
                // A pointer to member function: two INTEGER eightbytes.
                AbiType {
                    size,
                    align: 8,
                    kind: Kind::Aggregate {
                        leaves: vec![(0, 8, Leaf::Int), (8, 8, Leaf::Int)],
                        unaligned: false,
                        by_reference: false,
                    },
                }
            }
        }
        dw::DW_TAG_enumeration_type if size > 0 => AbiType::scalar(size, Leaf::Int),
        dw::DW_TAG_structure_type | dw::DW_TAG_class_type | dw::DW_TAG_union_type if !a.declaration => {
            let mut leaves = Vec::new();
            let mut unaligned = false;
            let mut align = 1;
            let cplusplus = is_cplusplus(cx.lang(die.unit)?);
            let mut by_reference = match a.calling_convention {
                Some(cc) => cc == dw::DW_CC_pass_by_reference,
                None => cplusplus && a.virtual_,
            };
            // Passed as a pointer: its members do not matter.
            if by_reference {
                return Ok(AbiType {
                    size,
                    align: 8,
                    kind: Kind::Aggregate { leaves: Vec::new(), unaligned: false, by_reference },
                });
            }
            for (tag, off) in children(cx, die)? {
                if tag == dw::DW_TAG_subprogram && cplusplus && a.calling_convention.is_none() && !by_reference {
                    by_reference = not_trivially_copyable(cx, die, a.name.as_deref(), DieRef { unit: die.unit, off })?;
                }
                if tag != dw::DW_TAG_member && tag != dw::DW_TAG_inheritance {
                    continue;
                }
                let m = attrs(cx, DieRef { unit: die.unit, off })?;
                if tag == dw::DW_TAG_member && (m.external || m.declaration) {
                    continue;
                }
                let Some(base) = member_offset(cx, die.unit, &m)? else {
                    // A virtual base: the layout is only known at run time.
                    return Ok(unknown);
                };
                let inner = describe_at(cx, m.ty, depth + 1, budget)?;
                if m.bit_size.is_some() {
                    // A bitfield makes the bytes it covers INTEGER class.
                    let width = m.bit_size.unwrap_or(0);
                    if let Some(pos) = bit_position(&m, base, inner.size) {
                        let first = pos / 8;
                        let last = pos.saturating_add(width).div_ceil(8);
                        leaves.push((first, last.saturating_sub(first).max(1), Leaf::Int));
                    }
                    align = align.max(inner.align);
                    continue;
                }
                if base % inner.align.max(1) != 0 {
                    unaligned = true;
                }
                align = align.max(inner.align);
                match inner.kind {
                    Kind::Scalar(leaf) => leaves.push((base, inner.size, leaf)),
                    Kind::Aggregate { leaves: l, unaligned: u, by_reference: r } => {
                        // A base or member that cannot be copied trivially
                        // makes the whole object so.
                        by_reference |= r && cplusplus;
                        unaligned |= u;
                        leaves.extend(l.into_iter().map(|(o, s, k)| (o.saturating_add(base), s, k)));
                    }
                    Kind::Void => {}
                    Kind::Unknown => return Ok(AbiType { size, align, kind: Kind::Unknown }),
                }
            }
            AbiType {
                size,
                align: a.alignment.unwrap_or(align).max(1),
                kind: Kind::Aggregate { leaves, unaligned, by_reference },
            }
        }
        dw::DW_TAG_array_type => {
            let elem = describe_at(cx, a.ty, depth + 1, budget)?;
            let count = dims(cx, die)?.into_iter().fold(1u64, |n, d| n.saturating_mul(d.unwrap_or(0)));
            let total = elem.size.saturating_mul(count);
            let mut leaves = Vec::new();
            // Over 16 bytes is MEMORY whatever the elements are.
            if total <= 16 && elem.size > 0 {
                let pieces = match &elem.kind {
                    Kind::Scalar(l) => vec![(0, elem.size, *l)],
                    Kind::Aggregate { leaves, .. } => leaves.clone(),
                    _ => Vec::new(),
                };
                for i in 0..count {
                    leaves.extend(pieces.iter().map(|&(o, s, k)| (o + i * elem.size, s, k)));
                }
            }
            AbiType {
                size: if size > 0 { size } else { total },
                align: elem.align,
                kind: Kind::Aggregate { leaves, unaligned: false, by_reference: false },
            }
        }
        _ => AbiType { size, align: 8, kind: Kind::Unknown },
    })
}

fn is_cplusplus(lang: Option<dw::DwLang>) -> bool {
    matches!(
        lang,
        Some(
            dw::DW_LANG_C_plus_plus
                | dw::DW_LANG_C_plus_plus_03
                | dw::DW_LANG_C_plus_plus_11
                | dw::DW_LANG_C_plus_plus_14
        )
    )
}

/// Whether the member function `sub` of the class `class` makes it
/// non-trivial for calls (Itanium C++ ABI: such objects are passed and
/// returned by invisible reference): a virtual function, or a user-provided
/// destructor or copy/move constructor. gcc does not emit
/// `DW_AT_calling_convention`, so this is read from the declarations;
/// implicit members are artificial and follow their bases and members,
/// which the caller checks.
fn not_trivially_copyable(cx: &mut Ctx<'_>, class: DieRef, class_name: Option<&str>, sub: DieRef) -> Result<bool> {
    let s = attrs(cx, sub)?;
    if s.virtual_ {
        return Ok(true);
    }
    if s.artificial || s.defaulted_in_class {
        return Ok(false);
    }
    let Some(name) = s.name.as_deref() else { return Ok(false) };
    if name.starts_with('~') {
        return Ok(true);
    }
    if Some(name) != class_name {
        return Ok(false);
    }
    let mut params = Vec::new();
    for (tag, off) in children(cx, sub)? {
        if tag == dw::DW_TAG_formal_parameter {
            let p = attrs(cx, DieRef { unit: sub.unit, off })?;
            if !p.artificial {
                params.push(p.ty);
            }
        }
    }
    let [Some(param)] = params[..] else { return Ok(false) };
    let p = attrs(cx, param)?;
    if p.tag != dw::DW_TAG_reference_type && p.tag != dw::DW_TAG_rvalue_reference_type {
        return Ok(false);
    }
    let Some(target) = chain_end(cx, p.ty, 0)? else { return Ok(false) };
    Ok(target == class || (attrs(cx, target)?.name.as_deref() == class_name && class_name.is_some()))
}

/// How an argument travels.
#[derive(Debug, PartialEq, Eq)]
enum Pass {
    Regs { int: usize, sse: usize },
    Memory,
}

fn classify(t: &AbiType) -> Option<Pass> {
    if t.size > MAX_ARG {
        return None;
    }
    Some(match &t.kind {
        Kind::Void => Pass::Regs { int: 0, sse: 0 },
        Kind::Unknown => return None,
        Kind::Scalar(Leaf::X87) => Pass::Memory,
        Kind::Scalar(Leaf::Float) => Pass::Regs { int: 0, sse: 1 },
        Kind::Scalar(Leaf::Int) => Pass::Regs { int: t.size.div_ceil(8).max(1) as usize, sse: 0 },
        Kind::Aggregate { by_reference: true, .. } => Pass::Regs { int: 1, sse: 0 },
        Kind::Aggregate { leaves, unaligned, .. } => {
            if t.size > 16 || *unaligned {
                return Some(Pass::Memory);
            }
            // Per eightbyte: INTEGER wins over SSE; x87 forces MEMORY.
            let mut class = [None; 2];
            for &(off, size, leaf) in leaves {
                let first = off / 8;
                let last = off.saturating_add(size.max(1) - 1) / 8;
                for i in first..=last.min(1) {
                    let c = &mut class[i as usize];
                    *c = match (leaf, *c) {
                        (Leaf::X87, _) => return Some(Pass::Memory),
                        (Leaf::Int, _) | (Leaf::Float, Some(Leaf::Int)) => Some(Leaf::Int),
                        (Leaf::Float, _) => Some(Leaf::Float),
                    };
                }
            }
            Pass::Regs {
                int: class.iter().filter(|c| **c == Some(Leaf::Int)).count(),
                sse: class.iter().filter(|c| **c == Some(Leaf::Float)).count(),
            }
        }
    })
}

/// Whether a function returning `ret` takes a hidden result pointer in rdi.
fn returns_in_memory(ret: &AbiType) -> bool {
    match (&ret.kind, classify(ret)) {
        // `long double` comes back in st(0), not through memory.
        (Kind::Scalar(Leaf::X87), _) => false,
        (Kind::Aggregate { by_reference: true, .. }, _) => true,
        (_, Some(Pass::Memory)) => true,
        _ => false,
    }
}

/// The entry location of each parameter; see the module docs.
pub(super) fn locations(ret: &AbiType, params: &[AbiType], rust: bool) -> Vec<ParamLoc> {
    let mut next_int = usize::from(returns_in_memory(ret));
    let mut next_sse = 0;
    let mut stack = 8u64;
    let mut lost: Option<String> = None;
    let mut out = Vec::with_capacity(params.len());
    for p in params {
        if let Some(why) = &lost {
            out.push(ParamLoc::Unavailable(why.clone()));
            continue;
        }
        let aggregate = matches!(p.kind, Kind::Aggregate { .. });
        if rust && aggregate {
            out.push(ParamLoc::Unavailable("a Rust struct passed by value (Rust's ABI is unspecified)".into()));
            lost = Some("follows a Rust struct passed by value, whose placement is unspecified".into());
            continue;
        }
        let Some(pass) = classify(p) else {
            out.push(ParamLoc::Unavailable("a type of unknown layout".into()));
            lost = Some("follows a parameter of unknown layout".into());
            continue;
        };
        match pass {
            Pass::Regs { int, sse } if next_int + int <= arch::INT_ARG_REGS.len() && next_sse + sse <= SSE_REGS => {
                let regs: Vec<&str> = arch::INT_ARG_REGS[next_int..next_int + int]
                    .iter()
                    .copied()
                    .chain(
                        (next_sse..next_sse + sse)
                            .map(|i| ["xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7"][i]),
                    )
                    .collect();
                let first = arch::int_arg_offset(next_int);
                next_int += int;
                next_sse += sse;
                out.push(match (&p.kind, int, sse, first) {
                    (Kind::Scalar(Leaf::Int), 1, 0, Some(off)) => ParamLoc::Reg { pt_regs_offset: off },
                    (Kind::Scalar(Leaf::Int), ..) => ParamLoc::Unavailable(format!(
                        "a {}-bit integer split across {}",
                        p.size * 8,
                        regs.join(" and ")
                    )),
                    (Kind::Scalar(_), ..) => ParamLoc::Unavailable("passed in an SSE register (floating point)".into()),
                    (Kind::Aggregate { by_reference: true, .. }, ..) => ParamLoc::Unavailable(format!(
                        "a C++ object passed by invisible reference (its address is in {})",
                        regs.join("")
                    )),
                    _ if regs.is_empty() => ParamLoc::Unavailable("an empty struct, which is not passed at all".into()),
                    _ => ParamLoc::Unavailable(format!("a struct passed by value in registers ({})", regs.join(", "))),
                });
            }
            _ => {
                let align = if p.align > 8 { 16 } else { 8 };
                stack = stack.next_multiple_of(align);
                let at = stack as i64;
                stack += p.size.max(1).next_multiple_of(8);
                out.push(match p.kind {
                    Kind::Scalar(Leaf::Float | Leaf::X87) => {
                        ParamLoc::Unavailable(format!("a floating-point value (on the stack at sp+{at})"))
                    }
                    _ => ParamLoc::Stack { sp_offset: at },
                });
            }
        }
    }
    out
}
