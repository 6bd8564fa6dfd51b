//! Lowering of `argN` in a USDT probe: the value of one operand of the
//! probe site's note (decoded by `frontend::usdt::operand`), read from the
//! saved registers, from user memory, or a constant.
//!
//! Every value ends as a 64-bit integer extended by the argument's declared
//! size and sign (`-4@%eax` is an `int`: the low 32 bits, sign-extended).
//! A sub-register is its 64-bit register shifted and cut to its width
//! first, so `1@%ah` is bits 8..16 of `rax`; the declared size is applied
//! after that, cut to the narrower of the two (sys/sdt.h: the size governs,
//! the register may be a wider or narrower alias).
//!
//! Memory operands are read with `bpf_probe_read_user` of exactly the
//! argument's size. Relocated addresses (symbols, `N(%rip)`) add the load
//! bias, `pt_regs->ip - site address`: at a uprobe hit `ip` is the address
//! of the probed instruction.

use super::insn::{AluOp, Size};
use super::ir::*;
use super::lower::{Lower, Val};
use crate::arch::IP_OFFSET;
use crate::codegen::helpers;
use crate::frontend::types::Type;
use crate::frontend::usdt::{ArgLoc, Reg, UsdtArg};

impl Lower<'_, '_> {
    /// The value of one argument of the USDT probe site at `vaddr`.
    pub(super) fn usdt_arg(&mut self, arg: &UsdtArg, vaddr: u64) -> Val {
        let ty = Type::Int { size: arg.size, signed: arg.signed };
        let r = match arg.loc {
            ArgLoc::Const(v) => return Val::Int(self.imm(v)),
            // Type checking refuses unreadable arguments.
            ArgLoc::Unsupported(ref why) => return self.internal(format!("an unreadable USDT argument ({why})")),
            ArgLoc::Reg(reg) => {
                let r = self.usdt_reg(reg);
                let width = arg.size.min(reg.width);
                self.extend(r, &Type::Int { size: width, signed: arg.signed });
                return Val::Int(r);
            }
            ArgLoc::Mem { base, index, disp, relocated } => {
                let addr = match base {
                    Some(b) => self.usdt_reg(b),
                    None => self.imm(0),
                };
                if let Some((i, scale)) = index {
                    let x = self.usdt_reg(i);
                    if scale > 1 {
                        self.emit(IrInsn::Alu { op: AluOp::Mul, dst: x, src: Operand::Imm(scale as i32) });
                    }
                    self.emit(IrInsn::Alu { op: AluOp::Add, dst: addr, src: Operand::Reg(x) });
                }
                let mut offset = disp;
                if relocated {
                    // + ip - vaddr: the load bias of the object.
                    let ip = self.vreg();
                    self.emit(IrInsn::Load { size: Size::DW, dst: ip, base: self.ctx, off: IP_OFFSET as i16 });
                    self.emit(IrInsn::Alu { op: AluOp::Add, dst: addr, src: Operand::Reg(ip) });
                    offset = offset.wrapping_sub(vaddr as i64);
                }
                self.add_const(addr, offset);
                self.read_user(addr, arg.size)
            }
        };
        self.extend(r, &ty);
        Val::Int(r)
    }

    /// A (sub-)register: the 64-bit register from `pt_regs`, shifted down
    /// for `%ah`-style registers and cut to the register's width (an index
    /// or base named `%eax` is the 32-bit value).
    fn usdt_reg(&mut self, reg: Reg) -> VReg {
        let r = self.vreg();
        self.emit(IrInsn::Load { size: Size::DW, dst: r, base: self.ctx, off: reg.pt_regs_offset as i16 });
        if reg.shift > 0 {
            self.emit(IrInsn::Alu { op: AluOp::Rsh, dst: r, src: Operand::Imm(reg.shift as i32) });
        }
        self.extend(r, &Type::Int { size: reg.width, signed: false });
        r
    }

    fn add_const(&mut self, r: VReg, v: i64) {
        if v == 0 {
            return;
        }
        match i32::try_from(v) {
            Ok(small) => self.emit(IrInsn::Alu { op: AluOp::Add, dst: r, src: Operand::Imm(small) }),
            Err(_) => {
                let big = self.imm(v);
                self.emit(IrInsn::Alu { op: AluOp::Add, dst: r, src: Operand::Reg(big) });
            }
        }
    }

    /// `size` bytes of user memory at `addr`, zero-extended (0 when the
    /// read fails, as the scratch slot is zeroed first).
    fn read_user(&mut self, addr: VReg, size: u8) -> VReg {
        let at = self.alloc(8);
        self.zero(at, 8);
        let dst = self.addr(at);
        let n = self.imm(size as i64);
        self.emit(IrInsn::Call { helper: helpers::PROBE_READ_USER as u32, args: vec![dst, n, addr], ret: None });
        self.load_scratch(at)
    }
}
