//! The virtual-register IR that `lower` produces and `regalloc` consumes.
//!
//! It mirrors eBPF closely (so lowering decides everything the verifier cares
//! about: widths, null checks, bounds), but registers are unlimited virtual
//! registers, jump targets are labels and maps are referred to by index.
//!
//! Invariant that register allocation relies on: control flow only jumps
//! forward (no loops), so a virtual register's live range is the linear range
//! from its first definition to its last use. Loops are calls: their bodies
//! are subprograms that a helper (`bpf_loop`) calls back.

use crate::codegen::insn::{AluOp, JmpOp, Size};
use crate::source::Span;

/// A virtual register holding a 64-bit value (an integer or a pointer).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VReg(pub u32);

/// A jump target inside one function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Label(pub u32);

/// Index into the compiled program's map table (resolved to a file
/// descriptor by `link`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MapId(pub u32);

/// Second operand of ALU ops, stores and branches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operand {
    Reg(VReg),
    /// Sign-extended to 64 bits, as in eBPF.
    Imm(i32),
}

#[derive(Clone, Debug, PartialEq)]
pub enum IrInsn {
    /// `dst = ctx`: the program's context pointer (r1 at entry). Must come
    /// before any call.
    Ctx { dst: VReg },
    /// `dst = imm` (a `mov` when it fits in 32 signed bits, else `ld_imm64`).
    LoadImm { dst: VReg, imm: i64 },
    /// `dst = src`
    Mov { dst: VReg, src: VReg },
    /// `dst op= src` (64-bit). For `AluOp::Neg` the operand is ignored.
    Alu { op: AluOp, dst: VReg, src: Operand },
    /// `dst = *(size *)(base + off)` (zero-extending).
    Load { size: Size, dst: VReg, base: VReg, off: i16 },
    /// `*(size *)(base + off) = src`
    Store { size: Size, base: VReg, off: i16, src: Operand },
    /// `lock *(size *)(base + off) += src` (`size` is W or DW).
    AtomicAdd { size: Size, base: VReg, off: i16, src: VReg },
    /// `dst = map` (the map's fd, as `ld_imm64` with `BPF_PSEUDO_MAP_FD`).
    LoadMap { dst: VReg, map: MapId },
    /// Call a BPF helper by number with up to five arguments; `ret`
    /// receives r0.
    Call { helper: u32, args: Vec<VReg>, ret: Option<VReg> },
    /// Unconditional jump.
    Jump(Label),
    /// `if a op b goto target`
    Branch { op: JmpOp, a: VReg, b: Operand, target: Label },
    /// A jump target.
    Label(Label),
    /// `return 0` from the program.
    Exit,
    /// `dst = r10 + off`: the address of a stack slot reserved for lowering,
    /// `off` in `[-RESERVED_STACK, 0)`. Register allocation puts its spill
    /// slots below the reserved area.
    StackAddr { dst: VReg, off: i16 },
    /// `dst = r(index + 1)` at a subprogram's entry: one of the arguments a
    /// helper calls it back with. Only at the very start of a function.
    Param { dst: VReg, index: u8 },
    /// `dst = &subprogram` (`ld_imm64` with `BPF_PSEUDO_FUNC`): a callback
    /// for `bpf_loop` and `bpf_for_each_map_elem`, by its index in the
    /// probe's [`IrFunc::subs`].
    FuncAddr { dst: VReg, func: u32 },
    /// `return value` from a subprogram (a callback's answer to the helper
    /// calling it: 0 goes on, 1 stops).
    Return(i32),
}

/// Bytes at the top of the frame that belong to lowering: the key of the
/// scratch-buffer lookup at `-8` (everything bigger lives in the scratch
/// buffer), and at `-24` [`CALLBACK_CTX`].
pub const RESERVED_STACK: i16 = 24;

/// Where a function keeps what its loop callbacks need: the scratch
/// pointer at `r10 - 24` and the context pointer at `r10 - 16`. A callback
/// gets the address and reads both through it (the verifier follows
/// pointers spilled to a caller's stack).
pub const CALLBACK_CTX: i16 = -24;

/// One IR instruction with the source span it was lowered from.
#[derive(Clone, Debug)]
pub struct IrLine {
    pub insn: IrInsn,
    pub span: Span,
}

/// The IR of one BPF program (one probe attach point).
#[derive(Clone, Debug, Default)]
pub struct IrFunc {
    pub lines: Vec<IrLine>,
    /// Number of virtual registers used (`VReg(0)..VReg(n)`).
    pub vregs: u32,
    /// Number of labels used.
    pub labels: u32,
    /// The probe's subprograms (loop callbacks), each with its own
    /// registers; only the probe's main function has any. Labels are
    /// numbered across all of them, so the linker can place them together.
    pub subs: Vec<IrFunc>,
}

impl IrFunc {
    pub fn new_vreg(&mut self) -> VReg {
        self.vregs += 1;
        VReg(self.vregs - 1)
    }

    pub fn new_label(&mut self) -> Label {
        self.labels += 1;
        Label(self.labels - 1)
    }

    pub fn push(&mut self, insn: IrInsn, span: Span) {
        self.lines.push(IrLine { insn, span });
    }

    /// Drop lines no path reaches (the kernel rejects unreachable
    /// instructions), e.g. what follows `exit()`'s jump. Jumps only go
    /// forward, so one pass knows every way into a label before reaching it.
    pub fn prune_unreachable(&mut self) {
        let mut targeted = std::collections::HashSet::new();
        let mut reachable = true;
        self.lines.retain(|line| {
            if let IrInsn::Label(l) = line.insn {
                reachable |= targeted.contains(&l.0);
            }
            if !reachable {
                return false;
            }
            match line.insn {
                IrInsn::Jump(t) => {
                    targeted.insert(t.0);
                    reachable = false;
                }
                IrInsn::Branch { target, .. } => {
                    targeted.insert(target.0);
                }
                IrInsn::Exit | IrInsn::Return(_) => reachable = false,
                _ => {}
            }
            true
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prunes_code_after_jumps_but_keeps_targets() {
        let mut f = IrFunc::default();
        let (v, l1, l2) = (f.new_vreg(), f.new_label(), f.new_label());
        let s = Span::default();
        f.push(IrInsn::Jump(l1), s);
        f.push(IrInsn::LoadImm { dst: v, imm: 1 }, s); // dead
        f.push(IrInsn::Label(l2), s); // never targeted: dead
        f.push(IrInsn::LoadImm { dst: v, imm: 2 }, s); // dead
        f.push(IrInsn::Label(l1), s);
        f.push(IrInsn::Exit, s);
        f.push(IrInsn::Exit, s); // dead
        f.prune_unreachable();
        let kept: Vec<_> = f.lines.iter().map(|l| l.insn.clone()).collect();
        assert_eq!(kept, vec![IrInsn::Jump(l1), IrInsn::Label(l1), IrInsn::Exit]);
    }
}
