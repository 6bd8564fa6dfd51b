//! Code generation: typed program ─► virtual-register IR ─► eBPF instructions.
pub mod disasm;
pub mod helpers;
pub mod insn;
pub mod ir;
#[cfg(test)]
pub(crate) mod ir_interp;
pub mod link;
pub mod lower;
mod lower_expr;
mod lower_map;
mod lower_mem;
mod lower_usdt;
pub mod opcode;
pub mod program;
pub mod regalloc;
