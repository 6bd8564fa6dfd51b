//! Lowering of aggregate values: tuples and records built in scratch,
//! their elements read back (`$t.0`, `$r.name`), members and elements of
//! whole structs and arrays held in scratch (`$s.field`, `@s.inner.x`,
//! `$a[i]`), a tracepoint's array fields copied from the context,
//! conversions between tuple layouts (a tuple stored where a longer string
//! is expected), and bytewise `==` / `!=`.
//!
//! Aggregates are [`Val::Mem`] regions like strings: built or copied once,
//! then copied by size into a variable, a map key or value, or an event;
//! their printing happens in userspace from the bytes and the type.

use super::insn::{AluOp, JmpOp, Size};
use super::ir::*;
use super::lower::{Lower, Val};
use crate::frontend::ast::*;
use crate::frontend::passes::dwarf_types::value_type;
use crate::frontend::passes::in_memory;
use crate::frontend::probes::NamedArgs;
use crate::frontend::types::Type;

impl Lower<'_, '_> {
    /// Whether `e` is an aggregate held in scratch (a variable, a map
    /// value, a tuple, a struct already copied out), rather than a place
    /// in traced memory that is read member by member.
    pub fn in_scratch(&self, e: &Expr) -> bool {
        e.ty.is_aggregate() && (!in_memory(e) || self.is_tp_field(e))
    }

    /// Whether `e` is `args.NAME` of a tracepoint: a field of the context,
    /// read (whole) from there, not from memory.
    fn is_tp_field(&self, e: &Expr) -> bool {
        let tracepoint = matches!(self.spec.context().named_args, Some(NamedArgs::Tracepoint(_)));
        tracepoint && matches!(&e.kind, ExprKind::Field { base, .. } if base.ty == Type::Args)
    }

    /// A tracepoint's integer array field (`args.args`), copied from the
    /// context element by element: context reads must be aligned loads of
    /// at most 8 bytes.
    pub(super) fn tp_array(&mut self, offset: u32, elem: &Type, len: u32) -> Val {
        let Type::Int { size, .. } = elem else { return self.internal(format!("a tracepoint array of {elem}")) };
        let (size, width) = match size {
            1 => (1, Size::B),
            2 => (2, Size::H),
            4 => (4, Size::W),
            _ => (8, Size::DW),
        };
        let slot = (size * len).div_ceil(8) * 8;
        let off = self.alloc(slot);
        self.zero(off, slot);
        for i in 0..len {
            let r = self.vreg();
            let at = (offset + i * size) as i16;
            self.emit(IrInsn::Load { size: width, dst: r, base: self.ctx, off: at });
            let dst = (off + i * size) as i16;
            self.emit(IrInsn::Store { size: width, base: self.scratch, off: dst, src: Operand::Reg(r) });
        }
        Val::Mem { off, size: slot }
    }

    /// The value type a map of composite values holds (`Unknown` for any
    /// other map).
    pub(super) fn composite_value(&self, name: &str) -> Type {
        match self.t.program.maps.get(name) {
            Some(info) if info.composite.is_some() => info.value_type(),
            _ => Type::Unknown,
        }
    }

    /// `(a, b, ...)`: each element stored in its slot of a fresh region.
    pub fn tuple(&mut self, elems: &[Expr], ty: &Type) -> Val {
        let Type::Tuple(t) = ty else { return self.internal(format!("a tuple typed {ty}")) };
        let size = t.size();
        let off = self.alloc(size);
        for ((e, at), slot_ty) in elems.iter().zip(t.offsets()).zip(&t.elems) {
            let v = self.expr(e);
            let v = self.convert(v, &e.ty, slot_ty);
            self.store_val(off + at, slot_ty.slot_size(), v);
        }
        Val::Mem { off, size }
    }

    /// `v` (of type `from`) laid out as `to`: the same bytes unless `to` is
    /// a tuple with longer strings somewhere, then element by element.
    pub fn convert(&mut self, v: Val, from: &Type, to: &Type) -> Val {
        let (Type::Tuple(f), Type::Tuple(t), Val::Mem { off, .. }) = (from, to, v) else { return v };
        if f == t {
            return v;
        }
        let size = t.size();
        let dst = self.alloc(size);
        let (from_offs, to_offs) = (f.offsets(), t.offsets());
        for i in 0..t.elems.len().min(f.elems.len()) {
            let part = self.part(off + from_offs[i], &f.elems[i]);
            let part = self.convert(part, &f.elems[i], &t.elems[i]);
            self.store_val(dst + to_offs[i], t.elems[i].slot_size(), part);
        }
        Val::Mem { off: dst, size }
    }

    /// A tuple element in its slot at scratch `at`.
    fn part(&mut self, at: u32, ty: &Type) -> Val {
        match ty {
            Type::Int { .. } | Type::Ptr { .. } | Type::Stack(_) => Val::Int(self.load_scratch(at)),
            _ => Val::Mem { off: at, size: ty.slot_size() },
        }
    }

    /// `base.field` or `base[N]` of an aggregate held in scratch.
    pub fn value_part(&mut self, e: &Expr) -> Val {
        let (base, at, ty, bitfield) = match &e.kind {
            ExprKind::Field { base, field, .. } => match &base.ty {
                Type::Tuple(t) => match t.index_of(field) {
                    Some(i) => {
                        let at = t.offsets()[i];
                        let Val::Mem { off, .. } = self.expr(base) else {
                            return self.internal("a tuple that is not in memory");
                        };
                        return self.part(off + at, &t.elems[i]);
                    }
                    None => return self.internal(format!("tuple element `{field}`")),
                },
                Type::Record(r) => match r.field(field) {
                    Some(f) => (base, f.offset, value_type(&f.ty), f.bitfield),
                    None => return self.internal(format!("member `{field}` of {}", base.ty)),
                },
                other => return self.internal(format!("`.{field}` of {other}")),
            },
            ExprKind::Index { base, index } => match (&base.ty, &index.kind) {
                (Type::Array { elem, len }, ExprKind::Int(i)) if (0..*len as i64).contains(i) => {
                    (base, elem.c_size() * *i as u32, value_type(elem), None)
                }
                (Type::Array { elem, len }, ExprKind::Int(_)) => {
                    return self.internal(format!("a constant index outside {len} elements of {elem}"));
                }
                (Type::Array { elem, len }, _) => return self.dynamic_element(base, index, elem, *len),
                (other, _) => return self.internal(format!("an index into {other}")),
            },
            _ => return self.internal("a part of something that is not an aggregate"),
        };
        let Val::Mem { off, .. } = self.expr(base) else { return self.internal("a struct that is not in memory") };
        self.c_member(off + at, &ty, bitfield)
    }

    /// `a[i]` of an array value with a runtime index: the element at
    /// `i * size` when `i` is below the length (the unsigned comparison
    /// also bounds the offset for the verifier), zero otherwise, as a read
    /// that fails gives zero.
    pub(super) fn dynamic_element(&mut self, base: &Expr, index: &Expr, elem: &Type, len: u32) -> Val {
        let ty = value_type(elem);
        let Val::Mem { off, .. } = self.expr(base) else { return self.internal("an array that is not in memory") };
        let i = self.int(index);
        let slot = ty.slot_size();
        let int = matches!(ty, Type::Int { .. } | Type::Ptr { .. });
        let dst = if int { 0 } else { self.alloc(slot) };
        if !int {
            self.zero(dst, slot);
        }
        let out = self.imm(0);
        let outside = self.label();
        self.emit(IrInsn::Branch { op: JmpOp::Jge, a: i, b: Operand::Imm(len as i32), target: outside });
        self.emit(IrInsn::Alu { op: AluOp::Mul, dst: i, src: Operand::Imm(elem.c_size() as i32) });
        let p = self.addr(off);
        self.emit(IrInsn::Alu { op: AluOp::Add, dst: p, src: Operand::Reg(i) });
        if int {
            let width = match elem.c_size() {
                1 => Size::B,
                2 => Size::H,
                4 => Size::W,
                _ => Size::DW,
            };
            self.emit(IrInsn::Load { size: width, dst: out, base: p, off: 0 });
            self.extend(out, &ty);
        } else {
            let n = elem.c_size();
            let mut at = 0;
            for (width, size) in [(8, Size::DW), (4, Size::W), (2, Size::H), (1, Size::B)] {
                while n - at >= width {
                    let r = self.vreg();
                    self.emit(IrInsn::Load { size, dst: r, base: p, off: at as i16 });
                    self.emit(IrInsn::Store { size, base: self.scratch, off: (dst + at) as i16, src: Operand::Reg(r) });
                    at += width;
                }
            }
        }
        self.emit(IrInsn::Label(outside));
        if int {
            Val::Int(out)
        } else {
            Val::Mem { off: dst, size: slot }
        }
    }

    /// A member at scratch `at` in its C layout, as a value.
    fn c_member(&mut self, at: u32, ty: &Type, bitfield: Option<(u8, u8)>) -> Val {
        let size = match ty.as_int() {
            Type::Int { size, .. } => size,
            _ => {
                // Strings, structs, arrays: copied to an aligned region.
                let n = ty.c_size();
                let slot = ty.slot_size();
                let dst = self.alloc(slot);
                self.zero(dst, slot);
                self.copy_bytes(dst, at, n);
                return Val::Mem { off: dst, size: slot };
            }
        };
        let r = self.vreg();
        let width = match size {
            1 => Size::B,
            2 => Size::H,
            4 => Size::W,
            _ => Size::DW,
        };
        self.emit(IrInsn::Load { size: width, dst: r, base: self.scratch, off: at as i16 });
        self.field_bits(r, bitfield, ty);
        Val::Int(r)
    }

    /// Copy exactly `n` bytes within scratch, widest loads first (so no
    /// read goes past the source).
    fn copy_bytes(&mut self, dst: u32, src: u32, n: u32) {
        let mut i = 0;
        for (width, size) in [(8, Size::DW), (4, Size::W), (2, Size::H), (1, Size::B)] {
            while n - i >= width {
                let r = self.vreg();
                self.emit(IrInsn::Load { size, dst: r, base: self.scratch, off: (src + i) as i16 });
                self.emit(IrInsn::Store { size, base: self.scratch, off: (dst + i) as i16, src: Operand::Reg(r) });
                i += width;
            }
        }
    }

    /// `a == b` / `a != b` of two aggregates of one layout, as 0/1: their
    /// bytes compared word by word (padding is zero in every copy).
    pub fn aggregate_eq(&mut self, lhs: &Expr, rhs: &Expr, want_equal: bool) -> VReg {
        let ty = match crate::frontend::passes::unify(&lhs.ty, &rhs.ty) {
            Some(t) => t,
            None => {
                self.internal(format!("comparison of {} and {}", lhs.ty, rhs.ty));
                return self.imm(0);
            }
        };
        let a = self.expr(lhs);
        let a = self.convert(a, &lhs.ty, &ty);
        let b = self.expr(rhs);
        let b = self.convert(b, &rhs.ty, &ty);
        let (Val::Mem { off: a, .. }, Val::Mem { off: b, .. }) = (a, b) else {
            self.internal("a comparison of aggregates not in memory");
            return self.imm(0);
        };
        let out = self.imm(if want_equal { 0 } else { 1 });
        let differ = self.label();
        for i in (0..ty.slot_size()).step_by(8) {
            let x = self.load_scratch(a + i);
            let y = self.load_scratch(b + i);
            self.emit(IrInsn::Branch { op: JmpOp::Jne, a: x, b: Operand::Reg(y), target: differ });
        }
        self.emit(IrInsn::LoadImm { dst: out, imm: if want_equal { 1 } else { 0 } });
        self.emit(IrInsn::Label(differ));
        out
    }
}
