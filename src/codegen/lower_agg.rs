//! Reading an aggregation in an expression (`if (@calls > 10)`,
//! `(int64)@bytes`), as current bpftrace allows: the per-CPU values of
//! `count()`, `sum()`, `min()`, `max()` and `avg()` maps are combined in the
//! probe, one `bpf_map_lookup_percpu_elem` (kernel 5.19) per possible CPU.
//! The CPU count is fixed when the program is compiled, so the loop is
//! unrolled.

use super::helpers;
use super::insn::{AluOp, JmpOp, Size};
use super::ir::{IrInsn, Operand, VReg};
use super::lower::{Lower, Val};
use crate::frontend::ast::MapRef;
use crate::frontend::types::AggKind;

impl Lower<'_, '_> {
    /// The value `print(@m[k])` would show for an aggregation, as an
    /// integer: counts and sums added, the least or greatest of the CPUs'
    /// minimums or maximums, the average of everything (0 with no values).
    pub fn read_aggregation(&mut self, m: &MapRef, kind: AggKind) -> Val {
        let id = self.map_id(&m.name);
        let (key, _) = self.build_key(m, 0);
        let total = self.imm(0);
        let count = self.imm(0);
        for cpu in 0..self.t.opts.ncpus.max(1) {
            let map = self.vreg();
            self.emit(IrInsn::LoadMap { dst: map, map: id });
            let k = self.addr(key);
            let c = self.imm(i64::from(cpu));
            let p = self.vreg();
            let args = vec![map, k, c];
            self.emit(IrInsn::Call { helper: helpers::MAP_LOOKUP_PERCPU_ELEM as u32, args, ret: Some(p) });
            let next = self.label();
            self.emit(IrInsn::Branch { op: JmpOp::Jeq, a: p, b: Operand::Imm(0), target: next });
            match kind {
                // [count, sum] (see `aggregate`).
                AggKind::Avg | AggKind::Stats => {
                    self.add_field(count, p, 0);
                    self.add_field(total, p, 8);
                }
                // [value, is_set]: the first CPU with a value sets it.
                AggKind::Min | AggKind::Max => {
                    let set = self.vreg();
                    self.emit(IrInsn::Load { size: Size::DW, dst: set, base: p, off: 8 });
                    self.emit(IrInsn::Branch { op: JmpOp::Jeq, a: set, b: Operand::Imm(0), target: next });
                    let v = self.vreg();
                    self.emit(IrInsn::Load { size: Size::DW, dst: v, base: p, off: 0 });
                    let take = self.label();
                    self.emit(IrInsn::Branch { op: JmpOp::Jeq, a: count, b: Operand::Imm(0), target: take });
                    let keep = if kind == AggKind::Min { JmpOp::Jsge } else { JmpOp::Jsle };
                    self.emit(IrInsn::Branch { op: keep, a: v, b: Operand::Reg(total), target: next });
                    self.emit(IrInsn::Label(take));
                    self.emit(IrInsn::Mov { dst: total, src: v });
                    self.emit(IrInsn::LoadImm { dst: count, imm: 1 });
                }
                _ => self.add_field(total, p, 0),
            }
            self.emit(IrInsn::Label(next));
        }
        if matches!(kind, AggKind::Avg | AggKind::Stats) {
            let done = self.label();
            self.emit(IrInsn::Branch { op: JmpOp::Jeq, a: count, b: Operand::Imm(0), target: done });
            self.binop_into(crate::frontend::ast::BinOp::Div, total, count, crate::frontend::types::Type::I64);
            self.emit(IrInsn::Label(done));
        }
        Val::Int(total)
    }

    /// `acc += *(u64 *)(p + off)`.
    fn add_field(&mut self, acc: VReg, p: VReg, off: i16) {
        let v = self.vreg();
        self.emit(IrInsn::Load { size: Size::DW, dst: v, base: p, off });
        self.emit(IrInsn::Alu { op: AluOp::Add, dst: acc, src: Operand::Reg(v) });
    }
}
