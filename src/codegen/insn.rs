//! eBPF instructions as a typed enum over typed registers.
//!
//! (Encoder, decoder and bpftool-style `Display` live in this file.)

/// The eleven eBPF registers. `R10` is the read-only frame pointer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reg {
    R0,
    R1,
    R2,
    R3,
    R4,
    R5,
    R6,
    R7,
    R8,
    R9,
    R10,
}

/// Memory access width.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Size {
    /// 1 byte
    B,
    /// 2 bytes
    H,
    /// 4 bytes
    W,
    /// 8 bytes
    DW,
}

/// ALU operations (used with the 64-bit `BPF_ALU64` class unless stated).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AluOp {
    Add,
    Sub,
    Mul,
    /// Unsigned division (division by zero yields 0).
    Div,
    Or,
    And,
    Lsh,
    /// Logical right shift.
    Rsh,
    /// `dst = -dst`; the source operand is ignored.
    Neg,
    /// Unsigned modulo.
    Mod,
    Xor,
    Mov,
    /// Arithmetic (sign-propagating) right shift.
    Arsh,
}

/// Conditional jump comparisons (64-bit `BPF_JMP` class).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JmpOp {
    Jeq,
    Jgt,
    Jge,
    Jset,
    Jne,
    Jsgt,
    Jsge,
    Jlt,
    Jle,
    Jslt,
    Jsle,
}

/// The second operand of ALU and jump instructions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Src {
    Reg(Reg),
    Imm(i32),
}
