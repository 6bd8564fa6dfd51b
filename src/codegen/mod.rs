//! Code generation: typed program ─► virtual-register IR ─► eBPF instructions.
pub mod insn;
pub mod ir;
pub mod lower;
mod lower_expr;
mod lower_map;
pub mod program;
