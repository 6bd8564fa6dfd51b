//! Code generation: typed program ─► virtual-register IR ─► eBPF instructions.
pub mod insn;
pub mod ir;
