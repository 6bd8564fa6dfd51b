//! Code generation: checked program ─► virtual-register IR ─► eBPF
//! instructions.
//!
//! [`lower`] (with `lower_expr`, `lower_loop`, `lower_map`, `lower_mem`,
//! `lower_stack`, `lower_usdt`)
//! turns each checked probe into IR ([`ir`]) and fills the tables the
//! runtime needs ([`program`]: maps, printf formats, event kinds);
//! [`regalloc`] assigns machine registers and stack slots; [`link`]
//! resolves labels and map fds into [`insn`]s, which [`disasm`] prints
//! as bpftool does. Test builds add the IR interpreter (`ir_interp`).
pub mod disasm;
pub mod helpers;
pub mod insn;
pub mod ir;
#[cfg(test)]
pub(crate) mod ir_interp;
pub mod link;
pub mod lower;
mod lower_agg;
mod lower_expr;
pub mod lower_loop;
mod lower_map;
mod lower_mem;
pub mod lower_stack;
mod lower_tuple;
mod lower_usdt;
pub mod opcode;
pub mod program;
pub mod regalloc;
