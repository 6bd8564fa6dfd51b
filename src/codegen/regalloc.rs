//! Register allocation: virtual-register IR ─► eBPF registers and stack slots.
//!
//! The strategy is chosen to be obviously correct and verifier-friendly, not
//! optimal (BPF programs from tracing scripts are short):
//!
//! * **Locations.** Every virtual register gets exactly one location for its
//!   whole live range: one of r6–r9 (callee-saved, so values survive helper
//!   calls with no save/restore code), or an 8-byte stack slot below r10
//!   (`r10-8`, `r10-16`, ...). A vreg that is defined but never read gets no
//!   location at all; its definitions are computed into a scratch register
//!   and dropped.
//! * **Live ranges.** The IR only jumps forward (checked here; a backward jump
//!   is an error), so any path from a definition to a use stays inside the
//!   linear range `[first definition, last use]`. Two vregs whose ranges do
//!   not overlap can therefore share a location. A range ending at line `i`
//!   may also share with one starting at `i` (as in `v2 = *(u64 *)(v1 +0)`
//!   with `v1` dead afterwards), because every expansion below reads all its
//!   operands before it writes its result.
//! * **Assignment** is linear scan (Poletto & Sarkar): walk the ranges by
//!   start; when all four registers are taken, the range that ends furthest
//!   away (the current one or an active one) is spilled for its whole
//!   lifetime. Spilled ranges then get stack slots by the same scan, so slots
//!   are reused once their previous owner is dead.
//! * **Scratch registers.** r0–r5 are never allocated. Within the expansion
//!   of one IR instruction, spilled operands are filled into r2/r3, operated
//!   on and stored back, so no scratch value lives past its IR instruction,
//!   in particular not across a call. r1 is deliberately not a scratch
//!   register: until the first call it still holds the context pointer, so
//!   `Ctx` may appear anywhere before the first call (after one, it is an
//!   error). `Call` moves each argument from its location into r1..r5, calls,
//!   then moves r0 to the result's location.
//! * **Verifier.** Spills and fills are always full 8-byte (`DW`) accesses at
//!   8-byte aligned offsets, so the verifier keeps the register state of a
//!   spilled pointer. In particular a map-lookup result living in a slot is
//!   null-checked after a fill; the verifier marks every copy with the same
//!   id (spilled ones included) as non-null, so later fills of that slot are
//!   dereferenceable. Using a vreg on a path where it was never defined is the
//!   lowering's bug; the verifier reports it as an uninitialized read.

use std::collections::HashMap;

use thiserror::Error;

use crate::codegen::insn::{AluOp, Insn, JmpOp, Reg, Size, Src};
use crate::codegen::ir::{IrFunc, IrInsn, Label, MapId, Operand, VReg};
use crate::source::Span;

/// Allocated code: final instructions except for what only `link` can
/// resolve (jump offsets and map file descriptors).
#[derive(Clone, Debug, PartialEq)]
pub enum Asm {
    Insn(Insn),
    Label(Label),
    /// `goto target` when `cond` is `None`, else `if dst op src goto target`.
    Jump {
        cond: Option<(JmpOp, Reg, Src)>,
        target: Label,
    },
    /// `dst = map` (an `ld_imm64` with the map's fd, two slots).
    LoadMap {
        dst: Reg,
        map: MapId,
    },
    /// `dst = &subprogram` (an `ld_imm64` with `BPF_PSEUDO_FUNC`, two slots).
    FuncAddr {
        dst: Reg,
        func: u32,
    },
    /// Where subprogram `func` starts (no instruction).
    Func(u32),
}

#[derive(Clone, Debug, PartialEq)]
pub struct AsmLine {
    pub asm: Asm,
    /// The span of the IR line this was expanded from.
    pub span: Span,
}

#[derive(Clone, Debug, Error, PartialEq)]
pub enum RegallocError {
    #[error("jump to label L{label} goes backwards (loops are not supported)")]
    BackwardJump { label: u32, span: Span },
    #[error("jump to label L{label}, which is never placed")]
    UndefinedLabel { label: u32, span: Span },
    #[error("label L{label} is placed twice")]
    DuplicateLabel { label: u32, span: Span },
    #[error("the context pointer is read after a helper call clobbered r1")]
    CtxAfterCall { span: Span },
    #[error("helper call with {count} arguments (at most 5)")]
    TooManyArgs { count: usize, span: Span },
    #[error("helper id {helper} is out of range")]
    BadHelper { helper: u32, span: Span },
    #[error("v{vreg} is read before it is defined")]
    UseBeforeDef { vreg: u32, span: Span },
    #[error("v{vreg} is not a register of this function (it has {count})")]
    VRegOutOfRange { vreg: u32, count: u32, span: Span },
    #[error("program needs {needed} bytes of stack, more than the {STACK_LIMIT} BPF allows")]
    StackOverflow { needed: u32, span: Span },
    #[error("a subprogram's argument is read after its first instruction")]
    LateParam { span: Span },
}

/// Size of the BPF stack frame.
pub const STACK_LIMIT: u32 = 512;

/// Registers handed out to virtual registers.
const ALLOCATABLE: [Reg; 4] = [Reg::R6, Reg::R7, Reg::R8, Reg::R9];
/// Scratch registers for the expansion of one IR instruction (see module doc
/// for why r1 is not one of them).
const TMP_A: Reg = Reg::R2;
const TMP_B: Reg = Reg::R3;
/// Argument registers, in order.
const ARGS: [Reg; 5] = [Reg::R1, Reg::R2, Reg::R3, Reg::R4, Reg::R5];

/// Where a virtual register lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Loc {
    Reg(Reg),
    /// Offset from r10 of an 8-byte slot.
    Slot(i16),
    /// Never read: definitions go to a scratch register and are dropped.
    Dead,
}

/// Allocates `func` with the whole 512-byte stack available for spills.
pub fn allocate(func: &IrFunc) -> Result<Vec<AsmLine>, RegallocError> {
    allocate_below(func, 0)
}

/// [`allocate_below`] for a probe's main function and then each of its
/// subprograms, in order, each starting with an [`Asm::Func`] marker.
pub fn allocate_all(func: &IrFunc, reserved_stack: u32) -> Result<Vec<AsmLine>, RegallocError> {
    let mut out = allocate_below(func, reserved_stack)?;
    for (i, sub) in func.subs.iter().enumerate() {
        let span = sub.lines.first().map(|l| l.span).unwrap_or_default();
        out.push(AsmLine { asm: Asm::Func(i as u32), span });
        out.extend(allocate_below(sub, reserved_stack)?);
    }
    Ok(out)
}

/// Like [`allocate`], but leaves the top `reserved_stack` bytes of the frame
/// (`r10-reserved_stack .. r10`) untouched, for stack objects the caller lays
/// out itself. Spill slots start below them, 8-byte aligned.
pub fn allocate_below(func: &IrFunc, reserved_stack: u32) -> Result<Vec<AsmLine>, RegallocError> {
    check_labels(func)?;
    let ranges = live_ranges(func)?;
    let locs = assign(func, &ranges, reserved_stack)?;
    expand(func, &locs)
}

/// Checks that every jump goes forward to a label placed exactly once.
fn check_labels(func: &IrFunc) -> Result<(), RegallocError> {
    // Keyed by label number: lowering numbers labels densely, but a map
    // keeps a stray huge number from allocating a huge table.
    let mut placed: HashMap<u32, usize> = HashMap::new();
    for (i, line) in func.lines.iter().enumerate() {
        if let IrInsn::Label(Label(l)) = line.insn {
            if placed.insert(l, i).is_some() {
                return Err(RegallocError::DuplicateLabel { label: l, span: line.span });
            }
        }
    }
    for (i, line) in func.lines.iter().enumerate() {
        let target = match line.insn {
            IrInsn::Jump(t) | IrInsn::Branch { target: t, .. } => t,
            _ => continue,
        };
        match placed.get(&target.0).copied() {
            None => return Err(RegallocError::UndefinedLabel { label: target.0, span: line.span }),
            Some(at) if at < i => return Err(RegallocError::BackwardJump { label: target.0, span: line.span }),
            Some(_) => {}
        }
    }
    Ok(())
}

/// The vregs an instruction reads and writes, reads first (an instruction
/// reads all its operands before it writes its result).
fn uses_defs(insn: &IrInsn) -> (Vec<VReg>, Option<VReg>) {
    let opnd = |o: &Operand| match o {
        Operand::Reg(v) => Some(*v),
        Operand::Imm(_) => None,
    };
    match insn {
        IrInsn::Ctx { dst }
        | IrInsn::LoadImm { dst, .. }
        | IrInsn::LoadMap { dst, .. }
        | IrInsn::StackAddr { dst, .. }
        | IrInsn::Param { dst, .. }
        | IrInsn::FuncAddr { dst, .. } => (vec![], Some(*dst)),
        IrInsn::Mov { dst, src } => (vec![*src], Some(*dst)),
        // `mov` does not read its destination, and `neg` has no operand.
        IrInsn::Alu { op: AluOp::Mov, dst, src } => (opnd(src).into_iter().collect(), Some(*dst)),
        IrInsn::Alu { op: AluOp::Neg, dst, .. } => (vec![*dst], Some(*dst)),
        IrInsn::Alu { dst, src, .. } => (std::iter::once(*dst).chain(opnd(src)).collect(), Some(*dst)),
        IrInsn::Load { dst, base, .. } => (vec![*base], Some(*dst)),
        IrInsn::Store { base, src, .. } => (std::iter::once(*base).chain(opnd(src)).collect(), None),
        IrInsn::AtomicAdd { base, src, .. } => (vec![*base, *src], None),
        IrInsn::Call { args, ret, .. } => (args.clone(), *ret),
        IrInsn::Branch { a, b, .. } => (std::iter::once(*a).chain(opnd(b)).collect(), None),
        IrInsn::Jump(_) | IrInsn::Label(_) | IrInsn::Exit | IrInsn::Return(_) => (vec![], None),
    }
}

/// A vreg's live range `[start, end]` in line indices.
#[derive(Clone, Copy, Debug)]
struct Range {
    vreg: VReg,
    start: usize,
    end: usize,
    used: bool,
}

fn live_ranges(func: &IrFunc) -> Result<Vec<Range>, RegallocError> {
    let mut ranges: Vec<Option<Range>> = vec![None; func.vregs as usize];
    for (i, line) in func.lines.iter().enumerate() {
        let (uses, def) = uses_defs(&line.insn);
        for v in uses.iter().chain(def.iter()) {
            if v.0 >= func.vregs {
                let (vreg, count, span) = (v.0, func.vregs, line.span);
                return Err(RegallocError::VRegOutOfRange { vreg, count, span });
            }
        }
        for v in uses {
            match &mut ranges[v.0 as usize] {
                Some(r) => {
                    r.end = i;
                    r.used = true;
                }
                None => return Err(RegallocError::UseBeforeDef { vreg: v.0, span: line.span }),
            }
        }
        if let Some(v) = def {
            let r = ranges[v.0 as usize].get_or_insert(Range { vreg: v, start: i, end: i, used: false });
            r.end = r.end.max(i);
        }
    }
    // Already sorted by vreg; linear scan wants them by start.
    let mut out: Vec<Range> = ranges.into_iter().flatten().collect();
    out.sort_by_key(|r| (r.start, r.vreg));
    Ok(out)
}

/// Linear-scan assignment of registers, then of stack slots to the spilled.
fn assign(func: &IrFunc, ranges: &[Range], reserved: u32) -> Result<Vec<Loc>, RegallocError> {
    let mut locs = vec![Loc::Dead; func.vregs as usize];
    let mut spilled: Vec<Range> = Vec::new();
    // (range, register) pairs currently holding a register.
    let mut active: Vec<(Range, Reg)> = Vec::new();
    let mut free: Vec<Reg> = ALLOCATABLE.to_vec();
    for &r in ranges.iter().filter(|r| r.used) {
        active.retain(|(a, reg)| {
            let keep = a.end > r.start;
            if !keep {
                free.push(*reg);
            }
            keep
        });
        if let Some(i) = (0..free.len()).min_by_key(|&i| free[i]) {
            let reg = free.swap_remove(i);
            locs[r.vreg.0 as usize] = Loc::Reg(reg);
            active.push((r, reg));
            continue;
        }
        let furthest = (0..active.len()).max_by_key(|&i| (active[i].0.end, active[i].0.vreg));
        match furthest {
            Some(i) if active[i].0.end > r.end => {
                let (victim, reg) = active[i];
                spilled.push(victim);
                locs[r.vreg.0 as usize] = Loc::Reg(reg);
                active[i] = (r, reg);
            }
            _ => spilled.push(r),
        }
    }

    let base = reserved.div_ceil(8).saturating_mul(8);
    spilled.sort_by_key(|r| (r.start, r.vreg));
    let mut slot_end: Vec<Option<usize>> = Vec::new(); // per slot: end of its owner
    for r in &spilled {
        let slot = match slot_end.iter().position(|e| e.is_none_or(|end| end <= r.start)) {
            Some(s) => s,
            None => {
                slot_end.push(None);
                slot_end.len() - 1
            }
        };
        slot_end[slot] = Some(r.end);
        let needed = base.saturating_add(8 * (slot as u32 + 1));
        if needed > STACK_LIMIT {
            let span = func.lines.get(r.start).map(|l| l.span).unwrap_or_default();
            return Err(RegallocError::StackOverflow { needed, span });
        }
        // needed <= 512, so the offset fits in i16.
        locs[r.vreg.0 as usize] = Loc::Slot(-(needed as i16));
    }
    if base > STACK_LIMIT {
        return Err(RegallocError::StackOverflow { needed: base, span: Span::default() });
    }
    Ok(locs)
}

/// Emits the code of one function, line by line.
struct Emitter {
    out: Vec<AsmLine>,
    span: Span,
}

impl Emitter {
    fn emit(&mut self, asm: Asm) {
        self.out.push(AsmLine { asm, span: self.span });
    }

    fn insn(&mut self, insn: Insn) {
        self.emit(Asm::Insn(insn));
    }

    fn mov(&mut self, dst: Reg, src: Reg) {
        if dst != src {
            self.insn(Insn::Alu64 { op: AluOp::Mov, dst, src: Src::Reg(src) });
        }
    }

    /// The register holding `loc`'s value, filling it into `tmp` if spilled.
    fn read(&mut self, loc: Loc, tmp: Reg) -> Reg {
        match loc {
            Loc::Reg(r) => r,
            Loc::Slot(off) => {
                self.insn(Insn::Ldx { size: Size::DW, dst: tmp, src: Reg::R10, off });
                tmp
            }
            // Unreachable for a read (a read makes the vreg live), but a
            // scratch register is a harmless answer.
            Loc::Dead => tmp,
        }
    }

    /// Moves `loc`'s value into the specific register `dst`.
    fn read_into(&mut self, loc: Loc, dst: Reg) {
        match loc {
            Loc::Reg(r) => self.mov(dst, r),
            Loc::Slot(off) => self.insn(Insn::Ldx { size: Size::DW, dst, src: Reg::R10, off }),
            Loc::Dead => {}
        }
    }

    /// The register to compute a new value of `loc` in.
    fn target(loc: Loc, tmp: Reg) -> Reg {
        match loc {
            Loc::Reg(r) => r,
            Loc::Slot(_) | Loc::Dead => tmp,
        }
    }

    /// Makes `loc` hold the value in `reg` (after computing into
    /// `target(loc, _)` this only stores spills back).
    fn write(&mut self, loc: Loc, reg: Reg) {
        match loc {
            Loc::Reg(r) => self.mov(r, reg),
            Loc::Slot(off) => self.insn(Insn::Stx { size: Size::DW, dst: Reg::R10, off, src: reg }),
            Loc::Dead => {}
        }
    }

    fn load_imm(&mut self, dst: Loc, imm: i64) {
        let d = Self::target(dst, TMP_A);
        match i32::try_from(imm) {
            // A 64-bit mov sign-extends its 32-bit immediate.
            Ok(i) => self.insn(Insn::Alu64 { op: AluOp::Mov, dst: d, src: Src::Imm(i) }),
            Err(_) => self.insn(Insn::LdImm64 { dst: d, imm }),
        }
        self.write(dst, d);
    }

    fn copy(&mut self, dst: Loc, src: Loc) {
        let s = self.read(src, TMP_A);
        self.write(dst, s);
    }
}

fn expand(func: &IrFunc, locs: &[Loc]) -> Result<Vec<AsmLine>, RegallocError> {
    // Every vreg below was range-checked by `live_ranges`.
    let loc = |v: VReg| locs.get(v.0 as usize).copied().unwrap_or(Loc::Dead);
    let mut e = Emitter { out: Vec::with_capacity(func.lines.len() * 2), span: Span::default() };
    let mut called = false;
    for (i, line) in func.lines.iter().enumerate() {
        e.span = line.span;
        match &line.insn {
            IrInsn::Param { dst, index } => {
                // Arguments arrive in r1-r5, which any other expansion may
                // use as scratch: only the first lines may read them.
                if func.lines[..i].iter().any(|l| !matches!(l.insn, IrInsn::Param { .. })) {
                    return Err(RegallocError::LateParam { span: line.span });
                }
                let reg = ARGS.get(usize::from(*index)).copied().ok_or(RegallocError::LateParam { span: line.span })?;
                e.write(loc(*dst), reg);
            }
            IrInsn::FuncAddr { dst, func } => {
                let d = Emitter::target(loc(*dst), TMP_A);
                e.emit(Asm::FuncAddr { dst: d, func: *func });
                e.write(loc(*dst), d);
            }
            IrInsn::Return(v) => {
                e.insn(Insn::Alu64 { op: AluOp::Mov, dst: Reg::R0, src: Src::Imm(*v) });
                e.insn(Insn::Exit);
            }
            IrInsn::Ctx { dst } => {
                if called {
                    return Err(RegallocError::CtxAfterCall { span: line.span });
                }
                e.write(loc(*dst), Reg::R1);
            }
            IrInsn::LoadImm { dst, imm } => e.load_imm(loc(*dst), *imm),
            IrInsn::Mov { dst, src } => e.copy(loc(*dst), loc(*src)),
            IrInsn::Alu { op: AluOp::Mov, dst, src } => match src {
                Operand::Imm(i) => e.load_imm(loc(*dst), i64::from(*i)),
                Operand::Reg(s) => e.copy(loc(*dst), loc(*s)),
            },
            IrInsn::Alu { op, dst, src } => {
                let d = e.read(loc(*dst), TMP_A);
                let s = match (op, src) {
                    (AluOp::Neg, _) => Src::Imm(0),
                    (_, Operand::Imm(i)) => Src::Imm(*i),
                    (_, Operand::Reg(v)) => Src::Reg(e.read(loc(*v), TMP_B)),
                };
                e.insn(Insn::Alu64 { op: *op, dst: d, src: s });
                e.write(loc(*dst), d);
            }
            IrInsn::Load { size, dst, base, off } => {
                let b = e.read(loc(*base), TMP_A);
                let d = Emitter::target(loc(*dst), TMP_A);
                e.insn(Insn::Ldx { size: *size, dst: d, src: b, off: *off });
                e.write(loc(*dst), d);
            }
            IrInsn::Store { size, base, off, src } => {
                let b = e.read(loc(*base), TMP_A);
                match src {
                    Operand::Imm(imm) => e.insn(Insn::St { size: *size, dst: b, off: *off, imm: *imm }),
                    Operand::Reg(v) => {
                        let s = e.read(loc(*v), TMP_B);
                        e.insn(Insn::Stx { size: *size, dst: b, off: *off, src: s });
                    }
                }
            }
            IrInsn::AtomicAdd { size, base, off, src } => {
                let b = e.read(loc(*base), TMP_A);
                let s = e.read(loc(*src), TMP_B);
                e.insn(Insn::AtomicAdd { size: *size, dst: b, off: *off, src: s });
            }
            IrInsn::LoadMap { dst, map } => {
                let d = Emitter::target(loc(*dst), TMP_A);
                e.emit(Asm::LoadMap { dst: d, map: *map });
                e.write(loc(*dst), d);
            }
            IrInsn::Call { helper, args, ret } => {
                if args.len() > ARGS.len() {
                    return Err(RegallocError::TooManyArgs { count: args.len(), span: line.span });
                }
                let id = i32::try_from(*helper)
                    .map_err(|_| RegallocError::BadHelper { helper: *helper, span: line.span })?;
                // Sources are in r6-r9 or slots, so filling r1..r5 in order
                // never overwrites a later argument.
                for (v, reg) in args.iter().zip(ARGS) {
                    e.read_into(loc(*v), reg);
                }
                e.insn(Insn::Call { helper: id });
                if let Some(r) = ret {
                    e.write(loc(*r), Reg::R0);
                }
                called = true;
            }
            IrInsn::Jump(target) => e.emit(Asm::Jump { cond: None, target: *target }),
            IrInsn::Branch { op, a, b, target } => {
                let ra = e.read(loc(*a), TMP_A);
                let rb = match b {
                    Operand::Imm(i) => Src::Imm(*i),
                    Operand::Reg(v) => Src::Reg(e.read(loc(*v), TMP_B)),
                };
                e.emit(Asm::Jump { cond: Some((*op, ra, rb)), target: *target });
            }
            IrInsn::Label(l) => e.emit(Asm::Label(*l)),
            IrInsn::StackAddr { dst, off } => {
                let d = Emitter::target(loc(*dst), TMP_A);
                e.insn(Insn::Alu64 { op: AluOp::Mov, dst: d, src: Src::Reg(Reg::R10) });
                e.insn(Insn::Alu64 { op: AluOp::Add, dst: d, src: Src::Imm(i32::from(*off)) });
                e.write(loc(*dst), d);
            }
            IrInsn::Exit => {
                e.insn(Insn::Alu64 { op: AluOp::Mov, dst: Reg::R0, src: Src::Imm(0) });
                e.insn(Insn::Exit);
            }
        }
    }
    Ok(e.out)
}

#[cfg(test)]
#[path = "regalloc_tests.rs"]
mod tests;
