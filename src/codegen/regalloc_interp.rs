//! The register allocator's tests run each program twice: over the IR, by
//! the shared reference interpreter (`ir_interp`), and as allocated eBPF
//! instructions by the machine below (registers and stack bytes
//! uninitialised until written, calls clobbering r1-r5), so a test can check
//! that both agree. Both see the same fake helpers and map values.

use super::*;
use crate::codegen::ir_interp::{self, addr, alu, Mem, Outcome, World, CTX_BASE, STACK_TOP};

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

/// The fakes as the IR interpreter's world.
struct Fakes;

impl World for Fakes {
    fn map(&mut self, map: MapId) -> u64 {
        map_value(MAP_FDS[map.0 as usize])
    }
    fn call(&mut self, helper: u32, args: &[u64], _: &mut Mem) -> Result<u64, String> {
        Ok(fake_helper(helper, args))
    }
}

/// Reference semantics of the IR, with the fakes.
pub(super) fn run_ir(func: &IrFunc, ctx: &[u8]) -> Result<Outcome, String> {
    ir_interp::run_ir(func, &mut Mem::new(ctx), &mut Fakes)
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
            Insn::Exit => return Ok(Outcome { ret: get(Reg::R0)?, calls, ctx: mem.ctx() }),
            Insn::Alu32 { .. } | Insn::LdFunc { .. } => return Err(format!("unexpected {insn}")),
        }
    }
    Err("step limit".into())
}
