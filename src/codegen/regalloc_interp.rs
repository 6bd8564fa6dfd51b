//! Two interpreters for the register allocator's tests: one runs the IR
//! directly, one runs the allocated eBPF instructions (registers and stack
//! bytes uninitialised until written, calls clobbering r1-r5), so a test can
//! check that both agree.

use super::*;

pub(super) fn map_value(fd: i32) -> u64 {
    0xfd00_0000 + fd as u64
}

pub(super) fn helper_args(helper: u32) -> Result<usize, String> {
    match helper {
        OUT..=105 => Ok((helper - OUT) as usize),
        MAYBE_PTR => Ok(1),
        _ => Err(format!("unknown helper {helper}")),
    }
}

pub(super) fn fake_helper(helper: u32, args: &[u64]) -> u64 {
    if helper == MAYBE_PTR {
        return if args[0] & 1 == 1 { CTX_BASE + 128 } else { 0 };
    }
    args.iter().fold(u64::from(helper).wrapping_mul(0x9e37_79b9), |h, a| h.rotate_left(7) ^ a.wrapping_mul(31))
}

pub(super) fn alu(op: AluOp, a: u64, b: u64) -> u64 {
    match op {
        AluOp::Add => a.wrapping_add(b),
        AluOp::Sub => a.wrapping_sub(b),
        AluOp::Mul => a.wrapping_mul(b),
        AluOp::Div => a.checked_div(b).unwrap_or(0),
        AluOp::Or => a | b,
        AluOp::And => a & b,
        AluOp::Lsh => a << (b & 63),
        AluOp::Rsh => a >> (b & 63),
        AluOp::Neg => a.wrapping_neg(),
        AluOp::Mod => a.checked_rem(b).unwrap_or(a),
        AluOp::Xor => a ^ b,
        AluOp::Mov => b,
        AluOp::Arsh => ((a as i64) >> (b & 63)) as u64,
        AluOp::SDiv if b == 0 => 0,
        AluOp::SDiv => (a as i64).wrapping_div(b as i64) as u64,
        AluOp::SMod if b == 0 => a,
        AluOp::SMod => (a as i64).wrapping_rem(b as i64) as u64,
    }
}

/// What a run can observe: return value, helper calls, final context bytes.
#[derive(Debug, PartialEq)]
pub(super) struct Outcome {
    pub(super) ret: u64,
    pub(super) calls: Vec<(u32, Vec<u64>)>,
    pub(super) ctx: Vec<u8>,
}

/// Memory of both interpreters: the context buffer, plus the stack for the
/// machine (`None` = never written).
pub(super) struct Mem {
    pub(super) ctx: Vec<u8>,
    pub(super) stack: Vec<Option<u8>>,
}

impl Mem {
    fn new(ctx: &[u8]) -> Mem {
        Mem { ctx: ctx.to_vec(), stack: vec![None; STACK_LIMIT as usize] }
    }

    fn byte(&mut self, addr: u64) -> Result<&mut Option<u8>, String> {
        if (STACK_BASE..STACK_TOP).contains(&addr) {
            Ok(&mut self.stack[(addr - STACK_BASE) as usize])
        } else {
            Err(format!("access to {addr:#x}, outside context and stack"))
        }
    }

    fn read(&mut self, addr: u64, size: Size) -> Result<u64, String> {
        let mut v = 0u64;
        for i in (0..size.bytes()).rev() {
            let a = addr.wrapping_add(i as u64);
            let b = if (CTX_BASE..CTX_BASE + CTX_LEN as u64).contains(&a) {
                self.ctx[(a - CTX_BASE) as usize]
            } else {
                self.byte(a)?.ok_or(format!("read of uninitialized stack at {a:#x}"))?
            };
            v = (v << 8) | u64::from(b);
        }
        Ok(v)
    }

    fn write(&mut self, addr: u64, size: Size, v: u64) -> Result<(), String> {
        for i in 0..size.bytes() {
            let a = addr.wrapping_add(i as u64);
            let b = (v >> (8 * i)) as u8;
            if (CTX_BASE..CTX_BASE + CTX_LEN as u64).contains(&a) {
                self.ctx[(a - CTX_BASE) as usize] = b;
            } else {
                *self.byte(a)? = Some(b);
            }
        }
        Ok(())
    }
}

pub(super) fn addr(base: u64, off: i16) -> u64 {
    base.wrapping_add(off as i64 as u64)
}

/// Reference semantics of the IR.
pub(super) fn run_ir(func: &IrFunc, ctx: &[u8]) -> Result<Outcome, String> {
    let mut labels = std::collections::HashMap::new();
    for (i, l) in func.lines.iter().enumerate() {
        if let IrInsn::Label(lab) = l.insn {
            labels.insert(lab.0, i);
        }
    }
    let mut regs: Vec<Option<u64>> = vec![None; func.vregs as usize];
    let mut mem = Mem::new(ctx);
    let mut calls = Vec::new();
    let mut pc = 0;
    loop {
        let line = func.lines.get(pc).ok_or("ran off the end")?;
        pc += 1;
        let get = |v: VReg| regs[v.0 as usize].ok_or(format!("v{} uninitialized", v.0));
        let opnd = |o: Operand| match o {
            Operand::Reg(v) => get(v),
            Operand::Imm(i) => Ok(i as i64 as u64),
        };
        match &line.insn {
            IrInsn::Ctx { dst } => regs[dst.0 as usize] = Some(CTX_BASE),
            IrInsn::LoadImm { dst, imm } => regs[dst.0 as usize] = Some(*imm as u64),
            IrInsn::Mov { dst, src } => regs[dst.0 as usize] = Some(get(*src)?),
            IrInsn::Alu { op, dst, src } => {
                let a = if *op == AluOp::Mov { 0 } else { get(*dst)? };
                let b = if *op == AluOp::Neg { 0 } else { opnd(*src)? };
                regs[dst.0 as usize] = Some(alu(*op, a, b));
            }
            IrInsn::Load { size, dst, base, off } => {
                regs[dst.0 as usize] = Some(mem.read(addr(get(*base)?, *off), *size)?)
            }
            IrInsn::Store { size, base, off, src } => mem.write(addr(get(*base)?, *off), *size, opnd(*src)?)?,
            IrInsn::AtomicAdd { size, base, off, src } => {
                let a = addr(get(*base)?, *off);
                let v = mem.read(a, *size)?.wrapping_add(get(*src)?);
                mem.write(a, *size, v)?;
            }
            IrInsn::LoadMap { dst, map } => regs[dst.0 as usize] = Some(map_value(MAP_FDS[map.0 as usize])),
            IrInsn::Call { helper, args, ret } => {
                let vals = args.iter().map(|v| get(*v)).collect::<Result<Vec<_>, _>>()?;
                let r = fake_helper(*helper, &vals);
                calls.push((*helper, vals));
                if let Some(v) = ret {
                    regs[v.0 as usize] = Some(r);
                }
            }
            IrInsn::Jump(l) => pc = labels[&l.0],
            IrInsn::Branch { op, a, b, target } => {
                if op.eval(get(*a)?, opnd(*b)?) {
                    pc = labels[&target.0];
                }
            }
            IrInsn::Label(_) => {}
            // The interpreters give the frame no address of its own.
            IrInsn::StackAddr { .. } => return Err("StackAddr is not interpreted".into()),
            IrInsn::Exit => return Ok(Outcome { ret: 0, calls, ctx: mem.ctx }),
        }
    }
}

pub(super) fn set(regs: &mut [Option<u64>; 11], r: Reg, v: u64) -> Result<(), String> {
    if r == Reg::R10 {
        return Err("write to r10".to_string());
    }
    regs[r.index() as usize] = Some(v);
    Ok(())
}

/// Semantics of the allocated, linked instructions.
pub(super) fn run_insns(insns: &[Insn], ctx: &[u8]) -> Result<Outcome, String> {
    let mut at_slot = Vec::new();
    for (i, insn) in insns.iter().enumerate() {
        at_slot.push(Some(i));
        if insn.slots() == 2 {
            at_slot.push(None);
        }
    }
    let mut regs: [Option<u64>; 11] = [None; 11];
    regs[1] = Some(CTX_BASE);
    regs[10] = Some(STACK_TOP);
    let mut mem = Mem::new(ctx);
    let mut calls = Vec::new();
    let mut slot = 0usize;
    for _ in 0..100_000 {
        let i = at_slot.get(slot).copied().flatten().ok_or(format!("bad pc {slot}"))?;
        let insn = insns[i];
        slot += insn.slots();
        let get = |r: Reg| regs[r.index() as usize].ok_or(format!("{r} uninitialized at {insn}"));
        let src = |s: Src| match s {
            Src::Reg(r) => get(r),
            Src::Imm(i) => Ok(i as i64 as u64),
        };
        match insn {
            Insn::Alu64 { op, dst, src: s } => {
                let a = if op == AluOp::Mov { 0 } else { get(dst)? };
                let b = if op == AluOp::Neg { 0 } else { src(s)? };
                set(&mut regs, dst, alu(op, a, b))?;
            }
            Insn::LdImm64 { dst, imm } => set(&mut regs, dst, imm as u64)?,
            Insn::LdMapFd { dst, fd } => set(&mut regs, dst, map_value(fd))?,
            Insn::Ldx { size, dst, src: s, off } => {
                let v = mem.read(addr(get(s)?, off), size)?;
                set(&mut regs, dst, v)?;
            }
            Insn::St { size, dst, off, imm } => mem.write(addr(get(dst)?, off), size, imm as u64)?,
            Insn::Stx { size, dst, off, src: s } => mem.write(addr(get(dst)?, off), size, get(s)?)?,
            Insn::AtomicAdd { size, dst, off, src: s } => {
                let a = addr(get(dst)?, off);
                let v = mem.read(a, size)?.wrapping_add(get(s)?);
                mem.write(a, size, v)?;
            }
            Insn::Ja { off } => slot = (slot as i64 + off as i64) as usize,
            Insn::Jmp { op, dst, src: s, off } => {
                if op.eval(get(dst)?, src(s)?) {
                    slot = (slot as i64 + off as i64) as usize;
                }
            }
            Insn::Call { helper } => {
                let helper = helper as u32;
                let args = (1..=helper_args(helper)? as u8)
                    .map(|n| get(Reg::from_index(n).ok_or("reg")?))
                    .collect::<Result<Vec<_>, _>>()?;
                let r = fake_helper(helper, &args);
                calls.push((helper, args));
                for r in &mut regs[1..=5] {
                    *r = None;
                }
                regs[0] = Some(r);
            }
            Insn::Exit => return Ok(Outcome { ret: get(Reg::R0)?, calls, ctx: mem.ctx }),
            Insn::Alu32 { .. } => return Err(format!("unexpected {insn}")),
        }
    }
    Err("step limit".into())
}
