//! Lowering of reads from the traced program's memory: uprobe parameters
//! (from the entry registers or the stack), struct and union members
//! through pointers, array and pointer indexing, `*p`, bitfields.
//!
//! An lvalue in traced memory is a *place*: a register holding an address
//! plus a constant offset. Nothing is read until a scalar or a string is
//! needed, so `args.shard->version.epoch` is one 4-byte read at
//! `shard + 24`, not a copy of the struct.

use super::insn::{AluOp, Size};
use super::ir::*;
use super::lower::{Lower, Val};
use super::lower_expr::read_helpers;
use super::program::round8;
use crate::arch;
use crate::frontend::ast::*;
use crate::frontend::dwarf::ParamLoc;
use crate::frontend::passes::dwarf_types::value_type;
use crate::frontend::probes::Memory;
use crate::frontend::types::{Field, Type};
use crate::sys::ProgKind;

/// `struct pt_regs` offset of the stack pointer.
const SP_OFFSET: i16 = arch::SP_OFFSET as i16;

impl Lower<'_, '_> {
    /// The member a `.`/`->` expression names, with its offset.
    fn member_of(&self, base: &Expr, field: &str) -> Option<Field> {
        match &base.ty {
            Type::Ptr { to, .. } => match &**to {
                Type::Record(r) => r.field(field),
                _ => None,
            },
            Type::Record(r) => r.field(field),
            _ => None,
        }
    }

    /// Address register and constant offset of an lvalue in traced memory,
    /// and the address space it is in.
    fn place(&mut self, e: &Expr) -> Option<(VReg, i64, Memory)> {
        let probe_memory = self.spec.context().memory;
        match &e.kind {
            ExprKind::Field { base, field, .. } if base.ty == Type::Args => {
                let p = self.param(field)?;
                match p.loc {
                    ParamLoc::Stack { sp_offset } => Some((self.ctx_read(SP_OFFSET), sp_offset, probe_memory)),
                    _ => None,
                }
            }
            ExprKind::Field { base, field, .. } => {
                let f = self.member_of(base, field)?;
                match &base.ty {
                    Type::Ptr { .. } => Some((self.int(base), f.offset as i64, self.pointee_memory(&base.ty))),
                    _ => {
                        let (a, off, m) = self.place(base)?;
                        Some((a, off + f.offset as i64, m))
                    }
                }
            }
            ExprKind::Index { base, index } => {
                let (elem, (addr, off, memory)) = match &base.ty {
                    Type::Array { elem, .. } => (elem.clone(), self.place(base)?),
                    Type::Ptr { to, .. } => (to.clone(), (self.int(base), 0, self.pointee_memory(&base.ty))),
                    _ => return None,
                };
                let size = elem.c_size() as i64;
                if let ExprKind::Int(i) = index.kind {
                    return Some((addr, off + i * size, memory));
                }
                let i = self.int(index);
                self.emit(IrInsn::Alu { op: AluOp::Mul, dst: i, src: Operand::Imm(size as i32) });
                let a = self.vreg();
                self.emit(IrInsn::Mov { dst: a, src: addr });
                self.emit(IrInsn::Alu { op: AluOp::Add, dst: a, src: Operand::Reg(i) });
                Some((a, off, memory))
            }
            ExprKind::Unary { op: UnOp::Deref, expr } => Some((self.int(expr), 0, self.pointee_memory(&expr.ty))),
            _ => None,
        }
    }

    /// `p->member` as one load, where the verifier knows `p`'s BTF type:
    /// in tracing programs (fentry, fexit, BTF raw tracepoints) an argument
    /// that points to a kernel struct is a typed pointer, and so is every
    /// struct pointer loaded from one, so their scalar members (through any
    /// embedded structs) are read straight from memory (the kernel turns a
    /// fault into 0) rather than with a helper call. Only for `->`/`.`
    /// chains from `args.NAME`: a pointer that went through a map, a cast
    /// or arithmetic is a plain number to the verifier, and reads with the
    /// helper.
    fn direct_member_load(&mut self, e: &Expr) -> Option<Val> {
        if !matches!(self.spec.kind().prog_kind(), ProgKind::Tracing { .. }) || !e.ty.is_scalar() {
            return None;
        }
        let size = match e.ty.as_int() {
            Type::Int { size: 1, .. } => Size::B,
            Type::Int { size: 2, .. } => Size::H,
            Type::Int { size: 4, .. } => Size::W,
            Type::Int { size: 8, .. } => Size::DW,
            _ => return None,
        };
        let (pointer, off) = self.typed_place(e)?;
        let off = i16::try_from(off).ok()?;
        let ptr = self.int(pointer);
        let dst = self.vreg();
        self.emit(IrInsn::Load { size, dst, base: ptr, off });
        self.extend(dst, &e.ty);
        Some(Val::Int(dst))
    }

    /// For a member expression: the typed struct pointer it is read
    /// through and the member's offset from it (see `direct_member_load`).
    fn typed_place<'e>(&self, e: &'e Expr) -> Option<(&'e Expr, i64)> {
        let ExprKind::Field { base, field, .. } = &e.kind else { return None };
        let offset = i64::from(self.member_of(base, field)?.offset);
        match &base.ty {
            t if pointer_to_struct(t) && self.typed_pointer(base) => Some((base, offset)),
            Type::Record(_) => self.typed_place(base).map(|(p, o)| (p, o + offset)),
            _ => None,
        }
    }

    /// Whether the verifier knows pointer `e`'s BTF type: `args.NAME`, or
    /// a struct pointer member read from a typed pointer.
    fn typed_pointer(&self, e: &Expr) -> bool {
        if !pointer_to_struct(&e.ty) {
            return false;
        }
        match &e.kind {
            ExprKind::Field { base, .. } if base.ty == Type::Args => true,
            _ => self.typed_place(e).is_some(),
        }
    }

    /// Where a pointer of type `ptr` points: where the probe's pointers
    /// do, except that a kernel pointer (`curtask`, kernel BTF types) in a
    /// probe on user memory points into the kernel.
    pub(super) fn pointee_memory(&self, ptr: &Type) -> Memory {
        match (self.spec.context().memory, ptr) {
            (Memory::User, Type::Ptr { user: false, .. }) => Memory::Kernel,
            (m, _) => m,
        }
    }

    /// The value of a member, index or dereference expression.
    pub fn read_lvalue(&mut self, e: &Expr) -> Val {
        let bitfield = match &e.kind {
            ExprKind::Field { base, field, .. } => self.member_of(base, field).and_then(|f| f.bitfield),
            _ => None,
        };
        if bitfield.is_none() {
            if let Some(v) = self.direct_member_load(e) {
                return v;
            }
        }
        match self.place(e) {
            Some((addr, off, memory)) => self.read_memory(addr, off, &e.ty, bitfield, memory),
            None => self.internal("a member, index or dereference of something not in memory"),
        }
    }

    fn ctx_read(&mut self, off: i16) -> VReg {
        let r = self.vreg();
        self.emit(IrInsn::Load { size: Size::DW, dst: r, base: self.ctx, off });
        r
    }

    fn param(&self, name: &str) -> Option<crate::frontend::dwarf::Param> {
        self.function.as_ref()?.params.iter().find(|p| p.name == name).cloned()
    }

    /// `args.NAME` of a uprobe (or fentry/fexit: from its context's slots).
    pub fn uprobe_arg(&mut self, name: &str, e: &Expr) -> Val {
        let Some(p) = self.param(name) else {
            return self.internal(format!("parameter `{name}` is not in the debug info"));
        };
        match p.loc {
            ParamLoc::Reg { pt_regs_offset } => {
                let r = self.ctx_read(pt_regs_offset as i16);
                self.extend(r, &value_type(&p.ty));
                Val::Int(r)
            }
            ParamLoc::Slot { index } => {
                let r = self.ctx_read(index as i16 * 8);
                self.extend(r, &value_type(&p.ty));
                Val::Int(r)
            }
            ParamLoc::Stack { sp_offset } => {
                let sp = self.ctx_read(SP_OFFSET);
                let memory = self.spec.context().memory;
                self.read_memory(sp, sp_offset, &e.ty, None, memory)
            }
            ParamLoc::Unavailable(why) => self.internal(format!("parameter `{name}` cannot be read: {why}")),
        }
    }

    /// Read `ty` at `addr + off` with `bpf_probe_read_{user,kernel}`.
    fn read_memory(&mut self, addr: VReg, off: i64, ty: &Type, bitfield: Option<(u8, u8)>, memory: Memory) -> Val {
        let src = self.vreg();
        self.emit(IrInsn::Mov { dst: src, src: addr });
        if off != 0 {
            match i32::try_from(off) {
                Ok(o) => self.emit(IrInsn::Alu { op: AluOp::Add, dst: src, src: Operand::Imm(o) }),
                Err(_) => {
                    let o = self.imm(off);
                    self.emit(IrInsn::Alu { op: AluOp::Add, dst: src, src: Operand::Reg(o) });
                }
            }
        }
        let helper = read_helpers(memory).0;
        let (size, slot) = match ty {
            Type::Str { size } => (*size, round8(*size)),
            Type::Int { size, .. } => (*size as u32, 8),
            Type::Ptr { .. } => (8, 8),
            // A whole struct, union or array, copied out as a value.
            Type::Record(_) | Type::Array { .. } => (ty.c_size(), ty.slot_size()),
            other => return self.internal(format!("a read of {other} from memory")),
        };
        let at = self.alloc(slot);
        self.zero(at, slot);
        let dst = self.addr(at);
        let n = self.imm(size as i64);
        self.emit(IrInsn::Call { helper: helper as u32, args: vec![dst, n, src], ret: None });
        if ty.is_str() || ty.is_aggregate() {
            return Val::Mem { off: at, size: slot };
        }
        let r = self.load_scratch(at);
        self.field_bits(r, bitfield, ty);
        Val::Int(r)
    }

    /// `r`, loaded from a member of type `ty`, as that member's value: a
    /// bitfield's bits (`(shift, width)`) moved down, or the integer
    /// extended to 64 bits by its sign.
    pub(super) fn field_bits(&mut self, r: VReg, bitfield: Option<(u8, u8)>, ty: &Type) {
        match (bitfield, ty) {
            (Some((shift, width)), Type::Int { signed, .. }) => {
                let (shift, width) = (shift as i32, width as i32);
                // Move the field to the top, then back down: this masks and
                // sign-extends in two shifts.
                self.emit(IrInsn::Alu { op: AluOp::Lsh, dst: r, src: Operand::Imm(64 - shift - width) });
                let op = if *signed { AluOp::Arsh } else { AluOp::Rsh };
                self.emit(IrInsn::Alu { op, dst: r, src: Operand::Imm(64 - width) });
            }
            _ => self.extend(r, ty),
        }
    }
}

/// A pointer to a struct or union.
fn pointer_to_struct(t: &Type) -> bool {
    matches!(t, Type::Ptr { to, .. } if matches!(**to, Type::Record(_)))
}
