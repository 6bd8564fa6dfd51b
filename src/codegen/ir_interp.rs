//! The reference semantics of the IR, as an interpreter for tests: the
//! register allocator's tests run a program here and as allocated machine
//! code and compare (`regalloc_interp.rs`); lowering's tests run what
//! `lower` produced for a whole probe against a simulated kernel
//! (`lower_tests.rs`).
//!
//! Memory is a set of regions at fixed addresses: the program's context, a
//! stack whose bytes remember whether they were written (reading one that
//! was not is an error, as the verifier would reject it), and whatever the
//! [`World`] adds (map values). Helper calls and map references are the
//! world's: a fake one for register allocation, a small model of the
//! kernel's maps and helpers for lowering.

use super::insn::{AluOp, Size};
use super::ir::{IrFunc, IrInsn, MapId, Operand, VReg};
use super::regalloc::STACK_LIMIT;

/// Where the context region starts.
pub const CTX_BASE: u64 = 0x1000_0000;
/// The stack region: `STACK_TOP` is the frame pointer (r10).
pub const STACK_BASE: u64 = 0x2000_0000;
pub const STACK_TOP: u64 = STACK_BASE + STACK_LIMIT as u64;

/// One region of memory; `None` bytes were never written.
struct Region {
    base: u64,
    bytes: Vec<Option<u8>>,
}

/// The memory a program runs against.
pub struct Mem {
    regions: Vec<Region>,
}

impl Mem {
    /// A context of `ctx` bytes and an unwritten stack.
    pub fn new(ctx: &[u8]) -> Mem {
        let mut mem = Mem { regions: Vec::new() };
        mem.add(CTX_BASE, ctx);
        mem.regions.push(Region { base: STACK_BASE, bytes: vec![None; STACK_LIMIT as usize] });
        mem
    }

    /// Map `bytes` (all written) at `base`.
    pub fn add(&mut self, base: u64, bytes: &[u8]) {
        self.regions.push(Region { base, bytes: bytes.iter().map(|b| Some(*b)).collect() });
    }

    /// The bytes of the region at `base` (unwritten ones as 0).
    pub fn region(&self, base: u64) -> Option<Vec<u8>> {
        let r = self.regions.iter().find(|r| r.base == base)?;
        Some(r.bytes.iter().map(|b| b.unwrap_or(0)).collect())
    }

    /// The context's bytes after the run.
    pub fn ctx(&self) -> Vec<u8> {
        self.region(CTX_BASE).unwrap_or_default()
    }

    fn byte(&mut self, addr: u64) -> Result<&mut Option<u8>, String> {
        for r in &mut self.regions {
            if (r.base..r.base + r.bytes.len() as u64).contains(&addr) {
                return Ok(&mut r.bytes[(addr - r.base) as usize]);
            }
        }
        Err(format!("access to {addr:#x}, outside every region"))
    }

    /// A little-endian value of `size` at `addr`.
    pub fn read(&mut self, addr: u64, size: Size) -> Result<u64, String> {
        let mut v = 0u64;
        for i in (0..size.bytes()).rev() {
            let a = addr.wrapping_add(i as u64);
            let b = self.byte(a)?.ok_or(format!("read of unwritten memory at {a:#x}"))?;
            v = (v << 8) | u64::from(b);
        }
        Ok(v)
    }

    pub fn write(&mut self, addr: u64, size: Size, v: u64) -> Result<(), String> {
        for i in 0..size.bytes() {
            *self.byte(addr.wrapping_add(i as u64))? = Some((v >> (8 * i)) as u8);
        }
        Ok(())
    }

    /// `len` bytes at `addr`.
    pub fn bytes(&mut self, addr: u64, len: usize) -> Result<Vec<u8>, String> {
        (0..len).map(|i| self.read(addr + i as u64, Size::B).map(|b| b as u8)).collect()
    }

    pub fn write_bytes(&mut self, addr: u64, bytes: &[u8]) -> Result<(), String> {
        for (i, b) in bytes.iter().enumerate() {
            self.write(addr + i as u64, Size::B, u64::from(*b))?;
        }
        Ok(())
    }
}

/// What a program sees outside its registers and memory: map references
/// and helpers.
pub trait World {
    /// The value `LoadMap` puts in a register.
    fn map(&mut self, map: MapId) -> u64;
    /// A helper call's result; it may read and write memory.
    fn call(&mut self, helper: u32, args: &[u64], mem: &mut Mem) -> Result<u64, String>;
}

/// What a run can observe: the return value and every helper call.
#[derive(Debug, PartialEq)]
pub struct Outcome {
    pub ret: u64,
    pub calls: Vec<(u32, Vec<u64>)>,
    pub ctx: Vec<u8>,
}

pub fn alu(op: AluOp, a: u64, b: u64) -> u64 {
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

pub fn addr(base: u64, off: i16) -> u64 {
    base.wrapping_add(off as i64 as u64)
}

/// Run `func` to its exit. The frame pointer is [`STACK_TOP`], as the
/// machine's r10.
pub fn run_ir(func: &IrFunc, mem: &mut Mem, world: &mut dyn World) -> Result<Outcome, String> {
    let mut labels = std::collections::HashMap::new();
    for (i, l) in func.lines.iter().enumerate() {
        if let IrInsn::Label(lab) = l.insn {
            labels.insert(lab.0, i);
        }
    }
    let mut regs: Vec<Option<u64>> = vec![None; func.vregs as usize];
    let mut calls = Vec::new();
    let mut pc = 0;
    for _ in 0..1_000_000 {
        let line = func.lines.get(pc).ok_or("ran off the end")?;
        pc += 1;
        let get = |v: VReg| regs[v.0 as usize].ok_or(format!("v{} uninitialized", v.0));
        let opnd = |o: Operand| match o {
            Operand::Reg(v) => get(v),
            Operand::Imm(i) => Ok(i as i64 as u64),
        };
        match &line.insn {
            IrInsn::Ctx { dst } => regs[dst.0 as usize] = Some(CTX_BASE),
            IrInsn::StackAddr { dst, off } => regs[dst.0 as usize] = Some(addr(STACK_TOP, *off)),
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
            IrInsn::LoadMap { dst, map } => regs[dst.0 as usize] = Some(world.map(*map)),
            IrInsn::Call { helper, args, ret } => {
                let vals = args.iter().map(|v| get(*v)).collect::<Result<Vec<_>, _>>()?;
                let r = world.call(*helper, &vals, mem)?;
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
            IrInsn::Exit => return Ok(Outcome { ret: 0, calls, ctx: mem.ctx() }),
            IrInsn::Return(v) => return Ok(Outcome { ret: *v as u64, calls, ctx: mem.ctx() }),
            IrInsn::Param { .. } | IrInsn::FuncAddr { .. } => return Err("subprograms are not interpreted".into()),
        }
    }
    Err("step limit".into())
}
