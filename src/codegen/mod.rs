//! Code generation: typed program ─► virtual-register IR ─► eBPF instructions.
pub mod insn;
pub mod ir;
pub mod disasm;
pub mod helpers;
pub mod link;
pub mod opcode;
pub mod regalloc;
