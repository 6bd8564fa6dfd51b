//! Tests of `regalloc` (and `link`) by execution.
//!
//! Two small interpreters run the same program: one over the IR (virtual
//! registers, the reference semantics) and one over the allocated and linked
//! instructions (eleven registers, a 512-byte stack that remembers which
//! bytes were written, helper calls that leave r1–r5 uninitialized like the
//! verifier assumes). Reading an uninitialized register or stack byte is an
//! error in the second one, so a value kept in a scratch register across a
//! call or a fill of a never-written slot fails the test rather than
//! computing garbage that happens to match.
//!
//! Helpers are fakes: `OUT + n` takes `n` arguments and returns a hash of
//! them, and every call is recorded, which is how test programs make their
//! values observable. `MAYBE_PTR` returns a pointer into the context buffer
//! or null, for null-check patterns.

use super::*;
use crate::codegen::link::link;

const CTX_LEN: usize = 256;
const MAP_FDS: [i32; 3] = [3, 4, 5];
const OUT: u32 = 100;
const MAYBE_PTR: u32 = 110;

#[path = "regalloc_interp.rs"]
mod interp;
use crate::codegen::ir_interp::{Outcome, CTX_BASE};
use interp::*;

/// Registers an instruction reads and the one it writes (calls aside).
fn reads_writes(asm: &Asm) -> (Vec<Reg>, Option<Reg>) {
    let src = |s: Src| match s {
        Src::Reg(r) => vec![r],
        Src::Imm(_) => vec![],
    };
    match *asm {
        Asm::Insn(Insn::Alu64 { op, dst, src: s }) | Asm::Insn(Insn::Alu32 { op, dst, src: s }) => {
            let mut r = if op == AluOp::Neg { vec![] } else { src(s) };
            if op != AluOp::Mov {
                r.push(dst);
            }
            (r, Some(dst))
        }
        Asm::Insn(Insn::LdImm64 { dst, .. }) | Asm::Insn(Insn::LdMapFd { dst, .. }) => (vec![], Some(dst)),
        Asm::LoadMap { dst, .. } => (vec![], Some(dst)),
        Asm::Insn(Insn::Ldx { dst, src, .. }) => (vec![src], Some(dst)),
        Asm::Insn(Insn::St { dst, .. }) => (vec![dst], None),
        Asm::Insn(Insn::Stx { dst, src, .. }) | Asm::Insn(Insn::AtomicAdd { dst, src, .. }) => (vec![dst, src], None),
        Asm::Insn(Insn::Jmp { dst, src: s, .. }) => ([vec![dst], src(s)].concat(), None),
        Asm::Jump { cond: Some((_, dst, s)), .. } => ([vec![dst], src(s)].concat(), None),
        Asm::Insn(Insn::Exit) => (vec![Reg::R0], None),
        _ => (vec![], None),
    }
}

/// Verifier-relevant properties of allocated code, given IR lines with
/// distinct spans: stack accesses are aligned DW slots inside the frame,
/// r10 is never written, and a scratch register (r0–r5) is only read after
/// being written within the same IR line's expansion (r1 = ctx until the
/// first call aside), so none lives across a call, label or IR line.
fn check_asm(lines: &[AsmLine]) -> Result<(), String> {
    let mut valid = [false; 6];
    let mut called = false;
    let mut span = None;
    for l in lines {
        if span != Some(l.span) {
            span = Some(l.span);
            valid = [false, !called, false, false, false, false];
        }
        if let Asm::Insn(Insn::Ldx { src: b, size, off, .. })
        | Asm::Insn(Insn::Stx { dst: b, size, off, .. })
        | Asm::Insn(Insn::St { dst: b, size, off, .. })
        | Asm::Insn(Insn::AtomicAdd { dst: b, size, off, .. }) = l.asm
        {
            let ok = size == Size::DW && off % 8 == 0 && (-(STACK_LIMIT as i16)..0).contains(&off);
            if b == Reg::R10 && !ok {
                return Err(format!("bad stack access {:?}", l.asm));
            }
        }
        if let Asm::Insn(Insn::Call { .. }) = l.asm {
            valid = [true, false, false, false, false, false];
            called = true;
            continue;
        }
        let (reads, write) = reads_writes(&l.asm);
        for r in reads {
            if r.index() < 6 && !valid[r.index() as usize] {
                return Err(format!("{r} read without a write in this IR line: {:?}", l.asm));
            }
        }
        match write {
            Some(Reg::R10) => return Err("r10 written".into()),
            Some(r) if r.index() < 6 => valid[r.index() as usize] = true,
            _ => {}
        }
    }
    Ok(())
}

/// allocate ─► property checks ─► link.
fn compile(func: &IrFunc) -> (Vec<AsmLine>, Vec<Insn>) {
    let asm = allocate(func).unwrap_or_else(|e| panic!("allocate: {e}"));
    if let Err(e) = check_asm(&asm) {
        panic!("{e}\n{asm:#?}");
    }
    // Spans come from the IR lines, in order.
    let starts: Vec<u32> = asm.iter().map(|l| l.span.start).collect();
    assert!(starts.windows(2).all(|w| w[0] <= w[1]));
    assert!(starts.iter().all(|&s| (s as usize) < func.lines.len()));
    let linked = link(&asm, &MAP_FDS).unwrap_or_else(|e| panic!("link: {e}"));
    assert_eq!(linked.insns.len(), linked.spans.len());
    (asm, linked.insns)
}

/// Runs both interpreters and requires the same outcome.
fn run_both(func: &IrFunc, ctx: &[u8]) -> Outcome {
    let (asm, insns) = compile(func);
    let want = run_ir(func, ctx).unwrap_or_else(|e| panic!("IR: {e}"));
    let got = run_insns(&insns, ctx).unwrap_or_else(|e| panic!("machine: {e}\n{asm:#?}"));
    assert_eq!(got, want, "{asm:#?}");
    got
}

/// Builds IR with one distinct span per line (so `check_asm` sees the
/// boundaries between IR lines).
#[derive(Default)]
struct B {
    f: IrFunc,
}

impl B {
    fn push(&mut self, insn: IrInsn) {
        let n = self.f.lines.len();
        self.f.push(insn, Span::new(0, n, n + 1));
    }
    fn imm(&mut self, imm: i64) -> VReg {
        let dst = self.f.new_vreg();
        self.push(IrInsn::LoadImm { dst, imm });
        dst
    }
    fn call(&mut self, helper: u32, args: &[VReg]) -> VReg {
        let ret = self.f.new_vreg();
        self.push(IrInsn::Call { helper, args: args.to_vec(), ret: Some(ret) });
        ret
    }
    fn out(&mut self, args: &[VReg]) {
        self.push(IrInsn::Call { helper: OUT + args.len() as u32, args: args.to_vec(), ret: None });
    }
    fn alu(&mut self, op: AluOp, dst: VReg, src: Operand) {
        self.push(IrInsn::Alu { op, dst, src });
    }
}

fn ctx_bytes(seed: u64) -> Vec<u8> {
    (0..CTX_LEN as u64).map(|i| (i.wrapping_mul(seed | 1) >> 3) as u8).collect()
}

fn spill_count(asm: &[AsmLine]) -> usize {
    asm.iter().filter(|l| matches!(l.asm, Asm::Insn(Insn::Stx { dst: Reg::R10, .. }))).count()
}

#[test]
fn more_live_values_than_registers() {
    let mut b = B::default();
    let vs: Vec<VReg> = (0..12).map(|i| b.imm(1000 * (i + 1) + i)).collect();
    let sum = b.f.new_vreg();
    b.push(IrInsn::Mov { dst: sum, src: vs[11] });
    for v in vs.iter().rev().skip(1) {
        b.alu(AluOp::Add, sum, Operand::Reg(*v));
    }
    for chunk in vs.chunks(5) {
        b.out(chunk);
    }
    b.out(&[sum]);
    b.push(IrInsn::Exit);
    let (asm, _) = compile(&b.f);
    assert!(spill_count(&asm) >= 8, "expected spills");
    let got = run_both(&b.f, &ctx_bytes(1));
    let expect: u64 = (0..12).map(|i| 1000 * (i + 1) + i).sum();
    assert_eq!(got.calls.last(), Some(&(OUT + 1, vec![expect])));
    assert_eq!(got.calls[0], (OUT + 5, vec![1000, 2001, 3002, 4003, 5004]));
}

#[test]
fn values_survive_calls() {
    let mut b = B::default();
    let a = b.imm(7);
    let c = b.imm(-9);
    let r0 = b.call(OUT, &[]);
    let r2 = b.call(OUT + 2, &[a, c]);
    let r5 = b.call(OUT + 5, &[c, a, r0, r2, a]);
    b.alu(AluOp::Mul, a, Operand::Imm(3));
    b.out(&[a, c, r0, r2, r5]);
    b.push(IrInsn::Exit);
    let got = run_both(&b.f, &ctx_bytes(2));
    let (h0, h2) = (fake_helper(OUT, &[]), fake_helper(OUT + 2, &[7, -9i64 as u64]));
    let h5 = fake_helper(OUT + 5, &[-9i64 as u64, 7, h0, h2, 7]);
    assert_eq!(got.calls[3], (OUT + 5, vec![21, -9i64 as u64, h0, h2, h5]));
}

#[test]
fn branches_merge_into_one_vreg() {
    let mut b = B::default();
    let ctx = b.f.new_vreg();
    b.push(IrInsn::Ctx { dst: ctx });
    let x = b.f.new_vreg();
    b.push(IrInsn::Load { size: Size::W, dst: x, base: ctx, off: 0 });
    let fillers: Vec<VReg> = (0..5).map(|i| b.imm(i)).collect();
    let (big, end) = (b.f.new_label(), b.f.new_label());
    let y = b.f.new_vreg();
    b.push(IrInsn::Branch { op: JmpOp::Jgt, a: x, b: Operand::Imm(10), target: big });
    b.push(IrInsn::LoadImm { dst: y, imm: 1 });
    b.push(IrInsn::Jump(end));
    b.push(IrInsn::Label(big));
    b.push(IrInsn::LoadImm { dst: y, imm: 2 });
    b.push(IrInsn::Store { size: Size::B, base: ctx, off: 5, src: Operand::Imm(0x7f) });
    b.push(IrInsn::Label(end));
    b.out(&[y, x]);
    b.out(&fillers);
    b.push(IrInsn::Exit);
    for (input, want) in [(5u8, 1u64), (50, 2)] {
        let mut ctx = ctx_bytes(3);
        ctx[..4].copy_from_slice(&[input, 0, 0, 0]);
        let got = run_both(&b.f, &ctx);
        assert_eq!(got.calls[0], (OUT + 2, vec![want, u64::from(input)]));
        assert_eq!(got.ctx[5] == 0x7f, want == 2);
    }
}

/// A maybe-null pointer that lives in a stack slot is null-checked after a
/// DW fill, then dereferenced after another fill of the same slot: the
/// pattern the verifier can follow (ids propagate to spilled copies).
#[test]
fn null_check_of_a_spilled_pointer() {
    let mut b = B::default();
    let ctx = b.f.new_vreg();
    b.push(IrInsn::Ctx { dst: ctx });
    let x = b.f.new_vreg();
    b.push(IrInsn::Load { size: Size::B, dst: x, base: ctx, off: 1 });
    let p = b.call(MAYBE_PTR, &[x]);
    let vals: Vec<VReg> = (0..5).map(|i| b.imm(100 + i)).collect();
    let null = b.f.new_label();
    b.push(IrInsn::Branch { op: JmpOp::Jeq, a: p, b: Operand::Imm(0), target: null });
    b.push(IrInsn::AtomicAdd { size: Size::DW, base: p, off: 8, src: vals[0] });
    let v = b.f.new_vreg();
    b.push(IrInsn::Load { size: Size::DW, dst: v, base: p, off: 8 });
    b.out(&[v]);
    b.push(IrInsn::Label(null));
    b.out(&vals);
    b.out(&[p]);
    b.push(IrInsn::Exit);

    let (asm, _) = compile(&b.f);
    let call = asm.iter().position(|l| l.asm == Asm::Insn(Insn::Call { helper: MAYBE_PTR as i32 }));
    let call = call.expect("call emitted");
    let Asm::Insn(Insn::Stx { size: Size::DW, dst: Reg::R10, off, src: Reg::R0 }) = asm[call + 1].asm else {
        panic!("pointer not spilled: {:?}", asm[call + 1]);
    };
    let fill = Asm::Insn(Insn::Ldx { size: Size::DW, dst: TMP_A, src: Reg::R10, off });
    let branch = asm.iter().position(|l| matches!(l.asm, Asm::Jump { cond: Some(_), .. }));
    let branch = branch.expect("branch emitted");
    assert_eq!(asm[branch - 1].asm, fill);
    assert_eq!(asm[branch].asm, Asm::Jump { cond: Some((JmpOp::Jeq, TMP_A, Src::Imm(0))), target: null });

    for odd in [false, true] {
        let mut ctx = ctx_bytes(4);
        ctx[1] = 2 + u8::from(odd);
        let got = run_both(&b.f, &ctx);
        assert_eq!(got.calls.len(), if odd { 4 } else { 3 });
    }
}

#[test]
fn ctx_is_readable_anywhere_before_the_first_call() {
    let mut b = B::default();
    let vals: Vec<VReg> = (0..8).map(|i| b.imm(i << 33)).collect();
    for v in &vals {
        b.alu(AluOp::Xor, *v, Operand::Reg(vals[0]));
    }
    let ctx = b.f.new_vreg();
    b.push(IrInsn::Ctx { dst: ctx });
    let x = b.f.new_vreg();
    b.push(IrInsn::Load { size: Size::DW, dst: x, base: ctx, off: 16 });
    b.out(&vals[..4]);
    b.out(&vals[4..]);
    b.out(&[x, ctx]);
    b.push(IrInsn::Exit);
    let got = run_both(&b.f, &ctx_bytes(5));
    assert_eq!(got.calls[2].1[1], CTX_BASE);

    b.f.lines.truncate(b.f.lines.len() - 1);
    b.push(IrInsn::Ctx { dst: ctx });
    assert!(matches!(allocate(&b.f), Err(RegallocError::CtxAfterCall { .. })));
}

#[test]
fn immediates() {
    let mut b = B::default();
    let imms = [5, -1, i64::from(i32::MAX), i64::from(i32::MIN), i64::from(i32::MAX) + 1, 1 << 40];
    let vs: Vec<VReg> = imms.iter().map(|&i| b.imm(i)).collect();
    let ctx = b.f.new_vreg();
    b.push(IrInsn::Ctx { dst: ctx });
    b.push(IrInsn::Store { size: Size::H, base: ctx, off: 2, src: Operand::Imm(-3) });
    b.alu(AluOp::Add, vs[0], Operand::Imm(8));
    b.alu(AluOp::Neg, vs[1], Operand::Reg(vs[0]));
    b.out(&vs[..3]);
    b.out(&vs[3..]);
    b.push(IrInsn::Exit);
    let (asm, _) = compile(&b.f);
    let insns: Vec<Insn> = asm
        .iter()
        .filter_map(|l| match l.asm {
            Asm::Insn(i) => Some(i),
            _ => None,
        })
        .collect();
    let mov = |i: i32| Insn::Alu64 { op: AluOp::Mov, dst: Reg::R6, src: Src::Imm(i) };
    assert_eq!(insns[0], mov(5));
    assert!(insns.contains(&Insn::Alu64 { op: AluOp::Mov, dst: Reg::R7, src: Src::Imm(-1) }));
    let lds = insns.iter().filter(|i| matches!(i, Insn::LdImm64 { .. })).count();
    assert_eq!(lds, 2, "only the two values outside i32 need ld_imm64");
    assert!(insns.iter().any(|i| matches!(i, Insn::St { size: Size::H, off: 2, imm: -3, .. })));
    assert!(insns.contains(&Insn::Alu64 { op: AluOp::Add, dst: Reg::R6, src: Src::Imm(8) }));
    assert!(insns.contains(&Insn::Alu64 { op: AluOp::Neg, dst: Reg::R7, src: Src::Imm(0) }));
    let got = run_both(&b.f, &ctx_bytes(6));
    assert_eq!(got.calls[0].1, vec![13, 1, i32::MAX as u64]);
    assert_eq!(got.calls[1].1, vec![i32::MIN as i64 as u64, 1 << 31, 1 << 40]);
    assert_eq!(&got.ctx[2..4], &[0xfd, 0xff]);
}

#[test]
fn maps_and_dead_values() {
    let mut b = B::default();
    let m = b.f.new_vreg();
    b.push(IrInsn::LoadMap { dst: m, map: MapId(2) });
    let dead = b.imm(1 << 50);
    let _unused_ret = b.call(OUT + 1, &[m]);
    b.push(IrInsn::Mov { dst: dead, src: m });
    b.push(IrInsn::Exit);
    let (asm, _) = compile(&b.f);
    // The dead vreg's definitions go nowhere: no register or slot is written.
    let writes: Vec<_> = asm.iter().filter_map(|l| reads_writes(&l.asm).1).collect();
    assert!(writes.iter().all(|r| *r != Reg::R7), "{asm:#?}");
    assert_eq!(spill_count(&asm), 0);
    let got = run_both(&b.f, &ctx_bytes(7));
    assert_eq!(got.calls, vec![(OUT + 1, vec![map_value(5)])]);
}

#[test]
fn stack_slots() {
    // 70 values live at once need 66 slots: more than 512 bytes.
    let mut b = B::default();
    let vs: Vec<VReg> = (0..70).map(|i| b.imm(i)).collect();
    for chunk in vs.chunks(5) {
        b.out(chunk);
    }
    b.push(IrInsn::Exit);
    assert!(matches!(allocate(&b.f), Err(RegallocError::StackOverflow { needed: 520, .. })));

    // 60 fit, and slots are reused once their owner is dead.
    let mut b = B::default();
    for round in 0..3 {
        let vs: Vec<VReg> = (0..60).map(|i| b.imm(i * round)).collect();
        for chunk in vs.chunks(5) {
            b.out(chunk);
        }
    }
    b.push(IrInsn::Exit);
    let (asm, _) = compile(&b.f);
    let lowest = asm
        .iter()
        .filter_map(|l| match l.asm {
            Asm::Insn(Insn::Stx { dst: Reg::R10, off, .. }) => Some(off),
            _ => None,
        })
        .min();
    assert_eq!(lowest, Some(-8 * 56));
    run_both(&b.f, &ctx_bytes(8));

    // Reserved bytes stay untouched; slots start below them, aligned.
    let mut b = B::default();
    let vs: Vec<VReg> = (0..5).map(|i| b.imm(i)).collect();
    b.out(&vs);
    b.push(IrInsn::Exit);
    let asm = allocate_below(&b.f, 20).expect("fits");
    assert!(asm.iter().any(|l| matches!(l.asm, Asm::Insn(Insn::Stx { off: -32, .. }))));
    assert!(matches!(allocate_below(&b.f, 512), Err(RegallocError::StackOverflow { .. })));
    assert!(matches!(allocate_below(&b.f, u32::MAX), Err(RegallocError::StackOverflow { .. })));
}

#[test]
fn errors() {
    let span = |n: usize| Span::new(0, n, n + 1);
    let mut b = B::default();
    let l = b.f.new_label();
    b.push(IrInsn::Label(l));
    b.push(IrInsn::Jump(l));
    assert_eq!(allocate(&b.f), Err(RegallocError::BackwardJump { label: 0, span: span(1) }));

    let mut b = B::default();
    b.push(IrInsn::Jump(Label(4)));
    assert_eq!(allocate(&b.f), Err(RegallocError::UndefinedLabel { label: 4, span: span(0) }));

    let mut b = B::default();
    b.push(IrInsn::Label(Label(1)));
    b.push(IrInsn::Label(Label(1)));
    assert_eq!(allocate(&b.f), Err(RegallocError::DuplicateLabel { label: 1, span: span(1) }));

    let mut b = B::default();
    let v = b.f.new_vreg();
    b.out(&[v]);
    assert_eq!(allocate(&b.f), Err(RegallocError::UseBeforeDef { vreg: 0, span: span(0) }));

    let mut b = B::default();
    let v = b.imm(1);
    b.alu(AluOp::Add, v, Operand::Reg(VReg(9)));
    let err = RegallocError::VRegOutOfRange { vreg: 9, count: 1, span: span(1) };
    assert_eq!(allocate(&b.f), Err(err));

    let mut b = B::default();
    let v = b.imm(1);
    b.push(IrInsn::Call { helper: 1, args: vec![v; 6], ret: None });
    assert_eq!(allocate(&b.f), Err(RegallocError::TooManyArgs { count: 6, span: span(1) }));

    let mut b = B::default();
    b.push(IrInsn::Call { helper: u32::MAX, args: vec![], ret: None });
    let err = RegallocError::BadHelper { helper: u32::MAX, span: span(0) };
    assert_eq!(allocate(&b.f), Err(err));
}

/// Deterministic random structured programs: nested if/else over forward
/// branches, redefinitions on one path only, loads and stores through the
/// context pointer, maybe-null pointers, calls with up to five arguments.
struct Gen {
    b: B,
    seed: u64,
    ctx: VReg,
}

impl Gen {
    fn next(&mut self) -> u64 {
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        self.seed
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick(&mut self, scope: &[VReg]) -> VReg {
        scope[self.below(scope.len())]
    }
    fn operand(&mut self, scope: &[VReg]) -> Operand {
        if self.below(3) == 0 {
            Operand::Imm(self.next() as i32 >> self.below(32))
        } else {
            Operand::Reg(self.pick(scope))
        }
    }
    fn mem_off(&mut self, size: Size, limit: usize) -> i16 {
        let n = size.bytes();
        (self.below(limit / n) * n) as i16
    }

    fn block(&mut self, scope: &mut Vec<VReg>, depth: u32, len: usize) {
        for _ in 0..len {
            if scope.len() > 40 {
                let i = self.below(scope.len());
                scope.swap_remove(i);
            }
            let size = [Size::B, Size::H, Size::W, Size::DW][self.below(4)];
            match self.below(14) {
                0 | 1 => {
                    let imm = if self.below(4) == 0 { self.next() as i64 } else { self.below(100) as i64 };
                    let v = self.b.imm(imm);
                    scope.push(v);
                }
                // Redefine a vreg visible here (maybe only on this path).
                2 => {
                    let (dst, src) = (self.pick(scope), self.pick(scope));
                    self.b.push(IrInsn::Mov { dst, src });
                }
                3..=5 => {
                    let op = AluOp::ALL[self.below(AluOp::ALL.len())];
                    let dst = if op == AluOp::Mov { self.b.f.new_vreg() } else { self.pick(scope) };
                    let src = self.operand(scope);
                    self.b.alu(op, dst, src);
                    scope.push(dst);
                }
                6 => {
                    let dst = self.b.f.new_vreg();
                    let off = self.mem_off(size, CTX_LEN);
                    self.b.push(IrInsn::Load { size, dst, base: self.ctx, off });
                    scope.push(dst);
                }
                7 => {
                    let (off, src) = (self.mem_off(size, 128), self.operand(scope));
                    self.b.push(IrInsn::Store { size, base: self.ctx, off, src });
                }
                8 => {
                    let size = if self.below(2) == 0 { Size::W } else { Size::DW };
                    let (off, src) = (self.mem_off(size, 128), self.pick(scope));
                    self.b.push(IrInsn::AtomicAdd { size, base: self.ctx, off, src });
                }
                9 | 10 => {
                    let args: Vec<VReg> = (0..self.below(6)).map(|_| self.pick(scope)).collect();
                    let helper = OUT + args.len() as u32;
                    if self.below(3) == 0 {
                        self.b.push(IrInsn::Call { helper, args, ret: None });
                    } else {
                        scope.push(self.b.call(helper, &args));
                    }
                }
                11 => {
                    let x = self.pick(scope);
                    let p = self.b.call(MAYBE_PTR, &[x]);
                    let null = self.b.f.new_label();
                    self.b.push(IrInsn::Branch { op: JmpOp::Jeq, a: p, b: Operand::Imm(0), target: null });
                    let mut inner = scope.clone();
                    let n = self.below(4);
                    self.block(&mut inner, depth + 1, n);
                    let (off, src) = (self.mem_off(size, 120), self.operand(scope));
                    self.b.push(IrInsn::Store { size, base: p, off, src });
                    let v = self.b.f.new_vreg();
                    self.b.push(IrInsn::Load { size, dst: v, base: p, off });
                    self.b.out(&[v, p]);
                    self.b.push(IrInsn::Label(null));
                }
                _ if depth < 3 => {
                    let (a, bo) = (self.pick(scope), self.operand(scope));
                    let op = JmpOp::ALL[self.below(JmpOp::ALL.len())];
                    let (els, end) = (self.b.f.new_label(), self.b.f.new_label());
                    self.b.push(IrInsn::Branch { op, a, b: bo, target: els });
                    let mut inner = scope.clone();
                    let n = self.below(8);
                    self.block(&mut inner, depth + 1, n);
                    if self.below(6) == 0 {
                        self.b.push(IrInsn::Exit);
                    } else {
                        self.b.push(IrInsn::Jump(end));
                    }
                    self.b.push(IrInsn::Label(els));
                    let mut inner = scope.clone();
                    let n = self.below(8);
                    self.block(&mut inner, depth + 1, n);
                    self.b.push(IrInsn::Label(end));
                }
                _ => {}
            }
        }
    }

    fn program(seed: u64) -> IrFunc {
        let mut g = Gen { b: B::default(), seed: seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1, ctx: VReg(0) };
        g.ctx = g.b.f.new_vreg();
        g.b.push(IrInsn::Ctx { dst: g.ctx });
        let mut scope = vec![g.b.imm(1), g.b.imm(-2)];
        let len = 10 + g.below(60);
        g.block(&mut scope, 0, len);
        for chunk in scope.chunks(5) {
            g.b.out(chunk);
        }
        g.b.push(IrInsn::Exit);
        g.b.f
    }
}

#[test]
fn random_programs_match_the_reference() {
    let mut spilled = 0;
    for seed in 0..400 {
        let f = Gen::program(seed);
        let (asm, _) = compile(&f);
        spilled += usize::from(spill_count(&asm) > 0);
        for input in 0..3 {
            run_both(&f, &ctx_bytes(seed * 3 + input));
        }
    }
    // The generator must actually exercise spilling.
    assert!(spilled > 200, "only {spilled} programs spilled");
}
