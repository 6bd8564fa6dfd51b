//! eBPF opcode bits, as laid out in the kernel's `include/uapi/linux/bpf.h`
//! and `bpf_common.h`.
//!
//! An opcode byte is `class | (size | mode)` for loads and stores, and
//! `class | op | source` for ALU and jump instructions. Only `insn.rs`
//! should need these; everything else works with the typed [`Insn`] enum.
//!
//! [`Insn`]: crate::codegen::insn::Insn

// Instruction classes (low three bits).
pub const BPF_LD: u8 = 0x00;
pub const BPF_LDX: u8 = 0x01;
pub const BPF_ST: u8 = 0x02;
pub const BPF_STX: u8 = 0x03;
pub const BPF_ALU: u8 = 0x04;
pub const BPF_JMP: u8 = 0x05;
pub const BPF_JMP32: u8 = 0x06;
pub const BPF_ALU64: u8 = 0x07;

/// Mask selecting the class bits.
pub const CLASS_MASK: u8 = 0x07;

// Load/store sizes.
pub const BPF_W: u8 = 0x00;
pub const BPF_H: u8 = 0x08;
pub const BPF_B: u8 = 0x10;
pub const BPF_DW: u8 = 0x18;
pub const SIZE_MASK: u8 = 0x18;

// Load/store modes.
pub const BPF_IMM: u8 = 0x00;
pub const BPF_MEM: u8 = 0x60;
pub const BPF_ATOMIC: u8 = 0xc0;
pub const MODE_MASK: u8 = 0xe0;

// Operand source for ALU and jumps.
pub const BPF_K: u8 = 0x00;
pub const BPF_X: u8 = 0x08;
pub const SRC_MASK: u8 = 0x08;

/// Mask selecting the ALU or jump operation bits.
pub const OP_MASK: u8 = 0xf0;

// ALU operations.
pub const BPF_ADD: u8 = 0x00;
pub const BPF_SUB: u8 = 0x10;
pub const BPF_MUL: u8 = 0x20;
pub const BPF_DIV: u8 = 0x30;
pub const BPF_OR: u8 = 0x40;
pub const BPF_AND: u8 = 0x50;
pub const BPF_LSH: u8 = 0x60;
pub const BPF_RSH: u8 = 0x70;
pub const BPF_NEG: u8 = 0x80;
pub const BPF_MOD: u8 = 0x90;
pub const BPF_XOR: u8 = 0xa0;
pub const BPF_MOV: u8 = 0xb0;
pub const BPF_ARSH: u8 = 0xc0;

// Jump operations.
pub const BPF_JA: u8 = 0x00;
pub const BPF_JEQ: u8 = 0x10;
pub const BPF_JGT: u8 = 0x20;
pub const BPF_JGE: u8 = 0x30;
pub const BPF_JSET: u8 = 0x40;
pub const BPF_JNE: u8 = 0x50;
pub const BPF_JSGT: u8 = 0x60;
pub const BPF_JSGE: u8 = 0x70;
pub const BPF_CALL: u8 = 0x80;
pub const BPF_EXIT: u8 = 0x90;
pub const BPF_JLT: u8 = 0xa0;
pub const BPF_JLE: u8 = 0xb0;
pub const BPF_JSLT: u8 = 0xc0;
pub const BPF_JSLE: u8 = 0xd0;

/// `src_reg` of an `ld_imm64` whose immediate is a map file descriptor.
pub const BPF_PSEUDO_MAP_FD: u8 = 1;
/// `ld_imm64` src_reg: the immediate is a subprogram's offset in slots,
/// relative to the slot after the instruction's first.
pub const BPF_PSEUDO_FUNC: u8 = 4;

/// Atomic operation selector in `imm` of a `BPF_ATOMIC` store: plain add
/// (no `BPF_FETCH`), the same value as the ALU add operation.
pub const BPF_ATOMIC_ADD: i32 = BPF_ADD as i32;
