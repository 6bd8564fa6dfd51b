//! eBPF instructions as a typed enum over typed registers.
//!
//! [`Insn`] is the final form of a program: `link` produces it, `runtime`
//! turns it into bytes with [`to_bytes`], and `disasm` prints it. Each variant
//! is one kernel instruction shape, so every value encodes to exactly the
//! bytes it says (no hidden expansion), and `Display` prints what the
//! verifier log and `bpftool prog dump xlated` print for those bytes, which
//! lets users compare our listing with a verifier error line for line.
//!
//! Encoding is `struct bpf_insn` (8 bytes: opcode, `dst:4 | src:4`, `off`,
//! `imm`, little-endian); the two `ld_imm64` forms take a second 8-byte slot
//! holding the upper 32 bits of the immediate.

use std::fmt;

use thiserror::Error;

use crate::codegen::helpers::helper_name;
use crate::codegen::opcode::*;

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
    /// Signed division, truncating toward zero (cpu v4: `BPF_DIV` with
    /// `off = 1`; kernel 6.6+). Division by zero yields 0.
    SDiv,
    /// Signed modulo, with the dividend's sign (cpu v4, `off = 1`); modulo
    /// zero leaves the dividend.
    SMod,
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

impl Reg {
    /// All registers in encoding order (`ALL[i]` has number `i`).
    pub const ALL: [Reg; 11] =
        [Reg::R0, Reg::R1, Reg::R2, Reg::R3, Reg::R4, Reg::R5, Reg::R6, Reg::R7, Reg::R8, Reg::R9, Reg::R10];

    /// The register number (0–10) used in the instruction encoding.
    pub fn index(self) -> u8 {
        self as u8
    }

    pub fn from_index(i: u8) -> Option<Reg> {
        Reg::ALL.get(usize::from(i)).copied()
    }
}

impl fmt::Display for Reg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "r{}", self.index())
    }
}

impl Size {
    pub fn bytes(self) -> usize {
        match self {
            Size::B => 1,
            Size::H => 2,
            Size::W => 4,
            Size::DW => 8,
        }
    }

    /// The C type name the verifier log uses in memory operands (`u32`).
    pub fn c_type(self) -> &'static str {
        match self {
            Size::B => "u8",
            Size::H => "u16",
            Size::W => "u32",
            Size::DW => "u64",
        }
    }

    fn bits(self) -> u8 {
        match self {
            Size::B => BPF_B,
            Size::H => BPF_H,
            Size::W => BPF_W,
            Size::DW => BPF_DW,
        }
    }

    fn from_bits(code: u8) -> Size {
        match code & SIZE_MASK {
            BPF_B => Size::B,
            BPF_H => Size::H,
            BPF_W => Size::W,
            _ => Size::DW,
        }
    }
}

impl AluOp {
    /// Every operation, for tests and generators.
    pub const ALL: [AluOp; 15] = [
        AluOp::Add,
        AluOp::Sub,
        AluOp::Mul,
        AluOp::Div,
        AluOp::Or,
        AluOp::And,
        AluOp::Lsh,
        AluOp::Rsh,
        AluOp::Neg,
        AluOp::Mod,
        AluOp::Xor,
        AluOp::Mov,
        AluOp::Arsh,
        AluOp::SDiv,
        AluOp::SMod,
    ];

    fn bits(self) -> u8 {
        match self {
            AluOp::Add => BPF_ADD,
            AluOp::Sub => BPF_SUB,
            AluOp::Mul => BPF_MUL,
            AluOp::Div => BPF_DIV,
            AluOp::Or => BPF_OR,
            AluOp::And => BPF_AND,
            AluOp::Lsh => BPF_LSH,
            AluOp::Rsh => BPF_RSH,
            AluOp::Neg => BPF_NEG,
            AluOp::Mod => BPF_MOD,
            AluOp::Xor => BPF_XOR,
            AluOp::Mov => BPF_MOV,
            AluOp::Arsh => BPF_ARSH,
            AluOp::SDiv => BPF_DIV,
            AluOp::SMod => BPF_MOD,
        }
    }

    /// The instruction's `off` field: 1 selects the signed variant.
    fn off(self) -> i16 {
        i16::from(matches!(self, AluOp::SDiv | AluOp::SMod))
    }

    /// The operation of an opcode and `off` field (`None`: not one we emit).
    fn from_bits(code: u8, off: i16) -> Option<AluOp> {
        AluOp::ALL.iter().copied().find(|op| op.bits() == code & OP_MASK && op.off() == off)
    }

    /// The assignment operator of the verifier log (`+=`, `s>>=`, `=`).
    /// `Neg` has none (the kernel table says `neg`; `Display` prints
    /// `r1 = -r1`).
    pub fn op_str(self) -> &'static str {
        match self {
            AluOp::Add => "+=",
            AluOp::Sub => "-=",
            AluOp::Mul => "*=",
            AluOp::Div => "/=",
            AluOp::Or => "|=",
            AluOp::And => "&=",
            AluOp::Lsh => "<<=",
            AluOp::Rsh => ">>=",
            AluOp::Neg => "neg",
            AluOp::Mod => "%=",
            AluOp::Xor => "^=",
            AluOp::Mov => "=",
            AluOp::Arsh => "s>>=",
            AluOp::SDiv => "s/=",
            AluOp::SMod => "s%=",
        }
    }
}

impl JmpOp {
    /// Every comparison, for tests and generators.
    pub const ALL: [JmpOp; 11] = [
        JmpOp::Jeq,
        JmpOp::Jgt,
        JmpOp::Jge,
        JmpOp::Jset,
        JmpOp::Jne,
        JmpOp::Jsgt,
        JmpOp::Jsge,
        JmpOp::Jlt,
        JmpOp::Jle,
        JmpOp::Jslt,
        JmpOp::Jsle,
    ];

    fn bits(self) -> u8 {
        match self {
            JmpOp::Jeq => BPF_JEQ,
            JmpOp::Jgt => BPF_JGT,
            JmpOp::Jge => BPF_JGE,
            JmpOp::Jset => BPF_JSET,
            JmpOp::Jne => BPF_JNE,
            JmpOp::Jsgt => BPF_JSGT,
            JmpOp::Jsge => BPF_JSGE,
            JmpOp::Jlt => BPF_JLT,
            JmpOp::Jle => BPF_JLE,
            JmpOp::Jslt => BPF_JSLT,
            JmpOp::Jsle => BPF_JSLE,
        }
    }

    fn from_bits(code: u8) -> Option<JmpOp> {
        JmpOp::ALL.iter().copied().find(|op| op.bits() == code & OP_MASK)
    }

    /// The comparison operator of the verifier log (`==`, `s>`, `&`).
    pub fn op_str(self) -> &'static str {
        match self {
            JmpOp::Jeq => "==",
            JmpOp::Jgt => ">",
            JmpOp::Jge => ">=",
            JmpOp::Jset => "&",
            JmpOp::Jne => "!=",
            JmpOp::Jsgt => "s>",
            JmpOp::Jsge => "s>=",
            JmpOp::Jlt => "<",
            JmpOp::Jle => "<=",
            JmpOp::Jslt => "s<",
            JmpOp::Jsle => "s<=",
        }
    }

    /// Whether `a op b` holds, with eBPF's 64-bit semantics.
    pub fn eval(self, a: u64, b: u64) -> bool {
        let (sa, sb) = (a as i64, b as i64);
        match self {
            JmpOp::Jeq => a == b,
            JmpOp::Jgt => a > b,
            JmpOp::Jge => a >= b,
            JmpOp::Jset => a & b != 0,
            JmpOp::Jne => a != b,
            JmpOp::Jsgt => sa > sb,
            JmpOp::Jsge => sa >= sb,
            JmpOp::Jlt => a < b,
            JmpOp::Jle => a <= b,
            JmpOp::Jslt => sa < sb,
            JmpOp::Jsle => sa <= sb,
        }
    }
}

/// One eBPF instruction. The `ld_imm64` forms occupy two 8-byte slots; jump
/// offsets count slots, relative to the slot after the jump.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Insn {
    /// 64-bit ALU. For `Neg` the operand is not encoded (the kernel requires
    /// the `K` form with zero fields), so it decodes as `Src::Imm(0)`.
    Alu64 {
        op: AluOp,
        dst: Reg,
        src: Src,
    },
    /// 32-bit ALU; the result is zero-extended into the full register.
    Alu32 {
        op: AluOp,
        dst: Reg,
        src: Src,
    },
    LdImm64 {
        dst: Reg,
        imm: i64,
    },
    /// `ld_imm64` with `src_reg = BPF_PSEUDO_MAP_FD`: the loader replaces the
    /// fd with the map pointer.
    LdMapFd {
        dst: Reg,
        fd: i32,
    },
    /// `ld_imm64` with `src_reg = BPF_PSEUDO_FUNC`: the address of the
    /// subprogram `off` slots after the next slot (a callback).
    LdFunc {
        dst: Reg,
        off: i32,
    },
    Ldx {
        size: Size,
        dst: Reg,
        src: Reg,
        off: i16,
    },
    St {
        size: Size,
        dst: Reg,
        off: i16,
        imm: i32,
    },
    Stx {
        size: Size,
        dst: Reg,
        off: i16,
        src: Reg,
    },
    /// `lock *(size *)(dst + off) += src` (no fetch).
    AtomicAdd {
        size: Size,
        dst: Reg,
        off: i16,
        src: Reg,
    },
    Ja {
        off: i16,
    },
    /// Conditional jump, 64-bit comparison (`BPF_JMP` class).
    Jmp {
        op: JmpOp,
        dst: Reg,
        src: Src,
        off: i16,
    },
    Call {
        helper: i32,
    },
    Exit,
}

/// Why bytes could not be decoded as an [`Insn`].
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("truncated instruction: need {need} bytes, have {have}")]
    Truncated { need: usize, have: usize },
    #[error("invalid register number {reg} in instruction with opcode {code:#04x}")]
    BadRegister { code: u8, reg: u8 },
    #[error("unsupported or invalid opcode {code:#04x}")]
    Unsupported { code: u8 },
    #[error("ld_imm64 with unsupported src_reg {src}")]
    BadPseudo { src: u8 },
    #[error("malformed second slot of ld_imm64")]
    BadImm64Tail,
}

fn src_bits(src: Src) -> (u8, u8, i32) {
    // (source flag, src_reg, imm)
    match src {
        Src::Reg(r) => (BPF_X, r.index(), 0),
        Src::Imm(i) => (BPF_K, 0, i),
    }
}

fn push_slot(out: &mut Vec<u8>, code: u8, dst: u8, src: u8, off: i16, imm: i32) {
    out.push(code);
    out.push((dst & 0x0f) | (src << 4));
    out.extend_from_slice(&off.to_le_bytes());
    out.extend_from_slice(&imm.to_le_bytes());
}

impl Insn {
    /// Number of 8-byte slots the instruction occupies.
    pub fn slots(&self) -> usize {
        match self {
            Insn::LdImm64 { .. } | Insn::LdMapFd { .. } | Insn::LdFunc { .. } => 2,
            _ => 1,
        }
    }

    /// Appends the kernel encoding (8 or 16 bytes).
    pub fn encode(&self, out: &mut Vec<u8>) {
        match *self {
            Insn::Alu64 { op, dst, src } | Insn::Alu32 { op, dst, src } => {
                let class = if matches!(self, Insn::Alu64 { .. }) { BPF_ALU64 } else { BPF_ALU };
                let (s, sreg, imm) = if op == AluOp::Neg { (BPF_K, 0, 0) } else { src_bits(src) };
                push_slot(out, class | op.bits() | s, dst.index(), sreg, op.off(), imm);
            }
            Insn::LdImm64 { dst, imm } => {
                push_slot(out, BPF_LD | BPF_IMM | BPF_DW, dst.index(), 0, 0, imm as i32);
                push_slot(out, 0, 0, 0, 0, (imm >> 32) as i32);
            }
            Insn::LdMapFd { dst, fd } => {
                let code = BPF_LD | BPF_IMM | BPF_DW;
                push_slot(out, code, dst.index(), BPF_PSEUDO_MAP_FD, 0, fd);
                push_slot(out, 0, 0, 0, 0, 0);
            }
            Insn::LdFunc { dst, off } => {
                let code = BPF_LD | BPF_IMM | BPF_DW;
                push_slot(out, code, dst.index(), BPF_PSEUDO_FUNC, 0, off);
                push_slot(out, 0, 0, 0, 0, 0);
            }
            Insn::Ldx { size, dst, src, off } => {
                push_slot(out, BPF_LDX | BPF_MEM | size.bits(), dst.index(), src.index(), off, 0);
            }
            Insn::St { size, dst, off, imm } => {
                push_slot(out, BPF_ST | BPF_MEM | size.bits(), dst.index(), 0, off, imm);
            }
            Insn::Stx { size, dst, off, src } => {
                push_slot(out, BPF_STX | BPF_MEM | size.bits(), dst.index(), src.index(), off, 0);
            }
            Insn::AtomicAdd { size, dst, off, src } => {
                let code = BPF_STX | BPF_ATOMIC | size.bits();
                push_slot(out, code, dst.index(), src.index(), off, BPF_ATOMIC_ADD);
            }
            Insn::Ja { off } => push_slot(out, BPF_JMP | BPF_JA, 0, 0, off, 0),
            Insn::Jmp { op, dst, src, off } => {
                let (s, sreg, imm) = src_bits(src);
                push_slot(out, BPF_JMP | op.bits() | s, dst.index(), sreg, off, imm);
            }
            Insn::Call { helper } => push_slot(out, BPF_JMP | BPF_CALL, 0, 0, 0, helper),
            Insn::Exit => push_slot(out, BPF_JMP | BPF_EXIT, 0, 0, 0, 0),
        }
    }

    /// Decodes the instruction at the start of `bytes`, returning it and the
    /// number of slots it used. Accepts exactly what [`Insn::encode`]
    /// produces (plus don't-care fields the encoder leaves zero); anything
    /// else is an error rather than a guess.
    pub fn decode(bytes: &[u8]) -> Result<(Insn, usize), DecodeError> {
        let slot = |i: usize| -> Result<(u8, u8, u8, i16, i32), DecodeError> {
            let b = bytes.get(i * 8..i * 8 + 8).ok_or(DecodeError::Truncated { need: i * 8 + 8, have: bytes.len() })?;
            let off = i16::from_le_bytes([b[2], b[3]]);
            let imm = i32::from_le_bytes([b[4], b[5], b[6], b[7]]);
            Ok((b[0], b[1] & 0x0f, b[1] >> 4, off, imm))
        };
        let (code, dst_n, src_n, off, imm) = slot(0)?;
        let reg = |n: u8| Reg::from_index(n).ok_or(DecodeError::BadRegister { code, reg: n });
        let dst = reg(dst_n)?;
        let unsupported = DecodeError::Unsupported { code };
        let operand = || -> Result<Src, DecodeError> {
            if code & SRC_MASK == BPF_X {
                Ok(Src::Reg(reg(src_n)?))
            } else {
                Ok(Src::Imm(imm))
            }
        };
        let insn = match code & CLASS_MASK {
            BPF_ALU64 | BPF_ALU => {
                // A nonzero `off` selects signed div/mod (which we emit) or
                // movsx (which we do not).
                let op = AluOp::from_bits(code, off).ok_or(unsupported.clone())?;
                let src = if op == AluOp::Neg { Src::Imm(0) } else { operand()? };
                if code & CLASS_MASK == BPF_ALU64 {
                    Insn::Alu64 { op, dst, src }
                } else {
                    Insn::Alu32 { op, dst, src }
                }
            }
            BPF_LD => {
                if code != BPF_LD | BPF_IMM | BPF_DW {
                    return Err(unsupported);
                }
                let (code2, dst2, src2, off2, hi) = slot(1)?;
                if code2 != 0 || dst2 != 0 || src2 != 0 || off2 != 0 {
                    return Err(DecodeError::BadImm64Tail);
                }
                let insn = match src_n {
                    0 => Insn::LdImm64 { dst, imm: (i64::from(hi) << 32) | i64::from(imm as u32) },
                    BPF_PSEUDO_MAP_FD if hi == 0 => Insn::LdMapFd { dst, fd: imm },
                    BPF_PSEUDO_FUNC if hi == 0 => Insn::LdFunc { dst, off: imm },
                    BPF_PSEUDO_MAP_FD | BPF_PSEUDO_FUNC => return Err(DecodeError::BadImm64Tail),
                    other => return Err(DecodeError::BadPseudo { src: other }),
                };
                return Ok((insn, 2));
            }
            BPF_LDX if code & MODE_MASK == BPF_MEM => {
                Insn::Ldx { size: Size::from_bits(code), dst, src: reg(src_n)?, off }
            }
            BPF_ST if code & MODE_MASK == BPF_MEM => Insn::St { size: Size::from_bits(code), dst, off, imm },
            BPF_STX if code & MODE_MASK == BPF_MEM => {
                Insn::Stx { size: Size::from_bits(code), dst, off, src: reg(src_n)? }
            }
            BPF_STX if code & MODE_MASK == BPF_ATOMIC && imm == BPF_ATOMIC_ADD => {
                Insn::AtomicAdd { size: Size::from_bits(code), dst, off, src: reg(src_n)? }
            }
            BPF_JMP => match code & OP_MASK {
                BPF_JA if code == BPF_JMP | BPF_JA => Insn::Ja { off },
                // src_reg 1 and 2 are BPF-to-BPF calls and kfunc calls.
                BPF_CALL if code == BPF_JMP | BPF_CALL && src_n == 0 => Insn::Call { helper: imm },
                BPF_EXIT if code == BPF_JMP | BPF_EXIT => Insn::Exit,
                _ => {
                    let op = JmpOp::from_bits(code).ok_or(unsupported)?;
                    Insn::Jmp { op, dst, src: operand()?, off }
                }
            },
            _ => return Err(unsupported),
        };
        Ok((insn, 1))
    }

    /// Decodes a whole program (as the kernel would see it).
    pub fn decode_all(mut bytes: &[u8]) -> Result<Vec<Insn>, DecodeError> {
        let mut out = Vec::with_capacity(bytes.len() / 8);
        while !bytes.is_empty() {
            let (insn, slots) = Insn::decode(bytes)?;
            out.push(insn);
            bytes = &bytes[slots * 8..];
        }
        Ok(out)
    }
}

/// Encodes a program.
pub fn to_bytes(insns: &[Insn]) -> Vec<u8> {
    let mut out = Vec::with_capacity(insns.len() * 8);
    for insn in insns {
        insn.encode(&mut out);
    }
    out
}

/// Formats the operand as the verifier log does: registers by name with the
/// given prefix (`r` or `w`), immediates in decimal.
struct Operand(char, Src);

impl fmt::Display for Operand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.1 {
            Src::Reg(r) => write!(f, "{}{}", self.0, r.index()),
            Src::Imm(i) => write!(f, "{i}"),
        }
    }
}

impl fmt::Display for Insn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Insn::Alu64 { op, dst, src } | Insn::Alu32 { op, dst, src } => {
                let p = if matches!(self, Insn::Alu64 { .. }) { 'r' } else { 'w' };
                let d = dst.index();
                if op == AluOp::Neg {
                    write!(f, "{p}{d} = -{p}{d}")
                } else {
                    write!(f, "{p}{d} {} {}", op.op_str(), Operand(p, src))
                }
            }
            Insn::LdImm64 { dst, imm } => write!(f, "{dst} = {:#x} ll", imm as u64),
            Insn::LdMapFd { dst, fd } => write!(f, "{dst} = map[fd:{fd}]"),
            Insn::LdFunc { dst, off } => write!(f, "{dst} = subprog[{off:+}]"),
            Insn::Ldx { size, dst, src, off } => {
                write!(f, "{dst} = *({} *)({src} {off:+})", size.c_type())
            }
            Insn::St { size, dst, off, imm } => {
                write!(f, "*({} *)({dst} {off:+}) = {imm}", size.c_type())
            }
            Insn::Stx { size, dst, off, src } => {
                write!(f, "*({} *)({dst} {off:+}) = {src}", size.c_type())
            }
            Insn::AtomicAdd { size, dst, off, src } => {
                write!(f, "lock *({} *)({dst} {off:+}) += {src}", size.c_type())
            }
            Insn::Ja { off } => write!(f, "goto pc{off:+}"),
            Insn::Jmp { op, dst, src, off } => {
                write!(f, "if {dst} {} ", op.op_str())?;
                match src {
                    Src::Reg(r) => write!(f, "{r}")?,
                    // The kernel prints the immediate as unsigned hex.
                    Src::Imm(i) => write!(f, "{:#x}", i as u32)?,
                }
                write!(f, " goto pc{off:+}")
            }
            Insn::Call { helper } => match helper_name(helper) {
                Some(name) => write!(f, "call {name}#{helper}"),
                None => write!(f, "call unknown#{helper}"),
            },
            Insn::Exit => write!(f, "exit"),
        }
    }
}

#[cfg(test)]
#[path = "insn_tests.rs"]
mod tests;
