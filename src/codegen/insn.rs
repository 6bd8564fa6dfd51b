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
    pub const ALL: [Reg; 11] = [
        Reg::R0,
        Reg::R1,
        Reg::R2,
        Reg::R3,
        Reg::R4,
        Reg::R5,
        Reg::R6,
        Reg::R7,
        Reg::R8,
        Reg::R9,
        Reg::R10,
    ];

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
    pub const ALL: [AluOp; 13] = [
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
        }
    }

    fn from_bits(code: u8) -> Option<AluOp> {
        AluOp::ALL.iter().copied().find(|op| op.bits() == code & OP_MASK)
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
            Insn::LdImm64 { .. } | Insn::LdMapFd { .. } => 2,
            _ => 1,
        }
    }

    /// Appends the kernel encoding (8 or 16 bytes).
    pub fn encode(&self, out: &mut Vec<u8>) {
        match *self {
            Insn::Alu64 { op, dst, src } | Insn::Alu32 { op, dst, src } => {
                let class = if matches!(self, Insn::Alu64 { .. }) { BPF_ALU64 } else { BPF_ALU };
                let (s, sreg, imm) = if op == AluOp::Neg { (BPF_K, 0, 0) } else { src_bits(src) };
                push_slot(out, class | op.bits() | s, dst.index(), sreg, 0, imm);
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
            let b = bytes
                .get(i * 8..i * 8 + 8)
                .ok_or(DecodeError::Truncated { need: i * 8 + 8, have: bytes.len() })?;
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
                let op = AluOp::from_bits(code).ok_or(unsupported.clone())?;
                // A nonzero `off` selects signed div/mod or movsx (cpu v4).
                if off != 0 {
                    return Err(unsupported);
                }
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
                    BPF_PSEUDO_MAP_FD => return Err(DecodeError::BadImm64Tail),
                    other => return Err(DecodeError::BadPseudo { src: other }),
                };
                return Ok((insn, 2));
            }
            BPF_LDX if code & MODE_MASK == BPF_MEM => {
                Insn::Ldx { size: Size::from_bits(code), dst, src: reg(src_n)?, off }
            }
            BPF_ST if code & MODE_MASK == BPF_MEM => {
                Insn::St { size: Size::from_bits(code), dst, off, imm }
            }
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
mod tests {
    use super::*;
    use Reg::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" ")
    }

    /// One row per instruction shape: the value, its verifier-log text and
    /// its encoding (checked against the opcode tables in uapi bpf.h).
    #[test]
    fn table() {
        #[rustfmt::skip]
        let rows: &[(Insn, &str, &str)] = &[
            (Insn::Alu64 { op: AluOp::Mov, dst: R1, src: Src::Reg(R2) }, "r1 = r2",
             "bf 21 00 00 00 00 00 00"),
            (Insn::Alu64 { op: AluOp::Add, dst: R1, src: Src::Imm(8) }, "r1 += 8",
             "07 01 00 00 08 00 00 00"),
            (Insn::Alu64 { op: AluOp::Sub, dst: R3, src: Src::Reg(R4) }, "r3 -= r4",
             "1f 43 00 00 00 00 00 00"),
            (Insn::Alu64 { op: AluOp::Mul, dst: R0, src: Src::Imm(-3) }, "r0 *= -3",
             "27 00 00 00 fd ff ff ff"),
            (Insn::Alu64 { op: AluOp::Div, dst: R5, src: Src::Imm(10) }, "r5 /= 10",
             "37 05 00 00 0a 00 00 00"),
            (Insn::Alu64 { op: AluOp::Or, dst: R6, src: Src::Reg(R7) }, "r6 |= r7",
             "4f 76 00 00 00 00 00 00"),
            (Insn::Alu64 { op: AluOp::And, dst: R8, src: Src::Imm(255) }, "r8 &= 255",
             "57 08 00 00 ff 00 00 00"),
            (Insn::Alu64 { op: AluOp::Lsh, dst: R9, src: Src::Imm(32) }, "r9 <<= 32",
             "67 09 00 00 20 00 00 00"),
            (Insn::Alu64 { op: AluOp::Rsh, dst: R1, src: Src::Reg(R2) }, "r1 >>= r2",
             "7f 21 00 00 00 00 00 00"),
            (Insn::Alu64 { op: AluOp::Neg, dst: R1, src: Src::Imm(0) }, "r1 = -r1",
             "87 01 00 00 00 00 00 00"),
            (Insn::Alu64 { op: AluOp::Mod, dst: R2, src: Src::Imm(7) }, "r2 %= 7",
             "97 02 00 00 07 00 00 00"),
            (Insn::Alu64 { op: AluOp::Xor, dst: R3, src: Src::Reg(R3) }, "r3 ^= r3",
             "af 33 00 00 00 00 00 00"),
            (Insn::Alu64 { op: AluOp::Mov, dst: R0, src: Src::Imm(0) }, "r0 = 0",
             "b7 00 00 00 00 00 00 00"),
            (Insn::Alu64 { op: AluOp::Arsh, dst: R1, src: Src::Imm(3) }, "r1 s>>= 3",
             "c7 01 00 00 03 00 00 00"),
            (Insn::Alu32 { op: AluOp::Mov, dst: R1, src: Src::Reg(R2) }, "w1 = w2",
             "bc 21 00 00 00 00 00 00"),
            (Insn::Alu32 { op: AluOp::Add, dst: R1, src: Src::Imm(3) }, "w1 += 3",
             "04 01 00 00 03 00 00 00"),
            (Insn::Alu32 { op: AluOp::Neg, dst: R4, src: Src::Imm(0) }, "w4 = -w4",
             "84 04 00 00 00 00 00 00"),
            (Insn::LdImm64 { dst: R1, imm: 0x1_2345_6789 }, "r1 = 0x123456789 ll",
             "18 01 00 00 89 67 45 23 00 00 00 00 01 00 00 00"),
            (Insn::LdImm64 { dst: R2, imm: -1 }, "r2 = 0xffffffffffffffff ll",
             "18 02 00 00 ff ff ff ff 00 00 00 00 ff ff ff ff"),
            (Insn::LdMapFd { dst: R1, fd: 5 }, "r1 = map[fd:5]",
             "18 11 00 00 05 00 00 00 00 00 00 00 00 00 00 00"),
            (Insn::Ldx { size: Size::DW, dst: R0, src: R1, off: 16 }, "r0 = *(u64 *)(r1 +16)",
             "79 10 10 00 00 00 00 00"),
            (Insn::Ldx { size: Size::B, dst: R2, src: R10, off: -1 }, "r2 = *(u8 *)(r10 -1)",
             "71 a2 ff ff 00 00 00 00"),
            (Insn::Ldx { size: Size::H, dst: R3, src: R6, off: 0 }, "r3 = *(u16 *)(r6 +0)",
             "69 63 00 00 00 00 00 00"),
            (Insn::Stx { size: Size::W, dst: R10, off: -8, src: R1 }, "*(u32 *)(r10 -8) = r1",
             "63 1a f8 ff 00 00 00 00"),
            (Insn::Stx { size: Size::DW, dst: R10, off: -16, src: R6 },
             "*(u64 *)(r10 -16) = r6", "7b 6a f0 ff 00 00 00 00"),
            (Insn::St { size: Size::DW, dst: R10, off: -8, imm: 0 }, "*(u64 *)(r10 -8) = 0",
             "7a 0a f8 ff 00 00 00 00"),
            (Insn::St { size: Size::B, dst: R1, off: 3, imm: -2 }, "*(u8 *)(r1 +3) = -2",
             "72 01 03 00 fe ff ff ff"),
            (Insn::AtomicAdd { size: Size::DW, dst: R0, off: 0, src: R1 },
             "lock *(u64 *)(r0 +0) += r1", "db 10 00 00 00 00 00 00"),
            (Insn::AtomicAdd { size: Size::W, dst: R7, off: 8, src: R2 },
             "lock *(u32 *)(r7 +8) += r2", "c3 27 08 00 00 00 00 00"),
            (Insn::Ja { off: 2 }, "goto pc+2", "05 00 02 00 00 00 00 00"),
            (Insn::Ja { off: -1 }, "goto pc-1", "05 00 ff ff 00 00 00 00"),
            (Insn::Jmp { op: JmpOp::Jeq, dst: R1, src: Src::Imm(0), off: 3 },
             "if r1 == 0x0 goto pc+3", "15 01 03 00 00 00 00 00"),
            (Insn::Jmp { op: JmpOp::Jsgt, dst: R1, src: Src::Reg(R2), off: -1 },
             "if r1 s> r2 goto pc-1", "6d 21 ff ff 00 00 00 00"),
            (Insn::Jmp { op: JmpOp::Jne, dst: R0, src: Src::Imm(-1), off: 1 },
             "if r0 != 0xffffffff goto pc+1", "55 00 01 00 ff ff ff ff"),
            (Insn::Jmp { op: JmpOp::Jgt, dst: R3, src: Src::Imm(10), off: 0 },
             "if r3 > 0xa goto pc+0", "25 03 00 00 0a 00 00 00"),
            (Insn::Jmp { op: JmpOp::Jge, dst: R3, src: Src::Reg(R4), off: 4 },
             "if r3 >= r4 goto pc+4", "3d 43 04 00 00 00 00 00"),
            (Insn::Jmp { op: JmpOp::Jset, dst: R3, src: Src::Imm(1), off: 4 },
             "if r3 & 0x1 goto pc+4", "45 03 04 00 01 00 00 00"),
            (Insn::Jmp { op: JmpOp::Jsge, dst: R3, src: Src::Imm(1), off: 4 },
             "if r3 s>= 0x1 goto pc+4", "75 03 04 00 01 00 00 00"),
            (Insn::Jmp { op: JmpOp::Jlt, dst: R3, src: Src::Reg(R9), off: 4 },
             "if r3 < r9 goto pc+4", "ad 93 04 00 00 00 00 00"),
            (Insn::Jmp { op: JmpOp::Jle, dst: R3, src: Src::Imm(1), off: 4 },
             "if r3 <= 0x1 goto pc+4", "b5 03 04 00 01 00 00 00"),
            (Insn::Jmp { op: JmpOp::Jslt, dst: R3, src: Src::Imm(1), off: 4 },
             "if r3 s< 0x1 goto pc+4", "c5 03 04 00 01 00 00 00"),
            (Insn::Jmp { op: JmpOp::Jsle, dst: R3, src: Src::Reg(R1), off: 4 },
             "if r3 s<= r1 goto pc+4", "dd 13 04 00 00 00 00 00"),
            (Insn::Call { helper: 1 }, "call bpf_map_lookup_elem#1", "85 00 00 00 01 00 00 00"),
            (Insn::Call { helper: 9999 }, "call unknown#9999", "85 00 00 00 0f 27 00 00"),
            (Insn::Exit, "exit", "95 00 00 00 00 00 00 00"),
        ];
        for (insn, text, bytes) in rows {
            assert_eq!(insn.to_string(), *text);
            let mut enc = Vec::new();
            insn.encode(&mut enc);
            assert_eq!(hex(&enc), *bytes, "{text}");
            assert_eq!(enc.len(), insn.slots() * 8, "{text}");
            assert_eq!(Insn::decode(&enc), Ok((*insn, insn.slots())), "{text}");
        }
        let all: Vec<Insn> = rows.iter().map(|r| r.0).collect();
        assert_eq!(Insn::decode_all(&to_bytes(&all)), Ok(all));
    }

    /// xorshift64*: deterministic, good enough to spread over the fields.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
            xs[(self.next() % xs.len() as u64) as usize]
        }
        fn reg(&mut self) -> Reg {
            self.pick(&Reg::ALL)
        }
        fn src(&mut self) -> Src {
            if self.next().is_multiple_of(2) {
                Src::Reg(self.reg())
            } else {
                Src::Imm(self.next() as i32)
            }
        }
        fn size(&mut self) -> Size {
            self.pick(&[Size::B, Size::H, Size::W, Size::DW])
        }
    }

    fn generate(rng: &mut Rng) -> Insn {
        let off = rng.next() as i16;
        match rng.next() % 12 {
            0 | 1 => {
                let op = rng.pick(&AluOp::ALL);
                let src = if op == AluOp::Neg { Src::Imm(0) } else { rng.src() };
                if rng.next().is_multiple_of(2) {
                    Insn::Alu64 { op, dst: rng.reg(), src }
                } else {
                    Insn::Alu32 { op, dst: rng.reg(), src }
                }
            }
            2 => Insn::LdImm64 { dst: rng.reg(), imm: rng.next() as i64 },
            3 => Insn::LdMapFd { dst: rng.reg(), fd: rng.next() as i32 },
            4 => Insn::Ldx { size: rng.size(), dst: rng.reg(), src: rng.reg(), off },
            5 => Insn::St { size: rng.size(), dst: rng.reg(), off, imm: rng.next() as i32 },
            6 => Insn::Stx { size: rng.size(), dst: rng.reg(), off, src: rng.reg() },
            7 => Insn::AtomicAdd {
                size: rng.pick(&[Size::W, Size::DW]),
                dst: rng.reg(),
                off,
                src: rng.reg(),
            },
            8 => Insn::Ja { off },
            9 => Insn::Jmp { op: rng.pick(&JmpOp::ALL), dst: rng.reg(), src: rng.src(), off },
            10 => Insn::Call { helper: rng.next() as i32 },
            _ => Insn::Exit,
        }
    }

    #[test]
    fn round_trip_generated() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let prog: Vec<Insn> = (0..20_000).map(|_| generate(&mut rng)).collect();
        for insn in &prog {
            let mut enc = Vec::new();
            insn.encode(&mut enc);
            assert_eq!(Insn::decode(&enc), Ok((*insn, insn.slots())), "{insn:?}");
            // Display never panics and never prints an empty line.
            assert!(!insn.to_string().is_empty());
        }
        let bytes = to_bytes(&prog);
        assert_eq!(bytes.len(), prog.iter().map(|i| i.slots() * 8).sum::<usize>());
        assert_eq!(Insn::decode_all(&bytes), Ok(prog));
    }

    #[test]
    fn neg_operand_is_not_encoded() {
        let insn = Insn::Alu64 { op: AluOp::Neg, dst: R2, src: Src::Reg(R3) };
        let bytes = to_bytes(&[insn]);
        assert_eq!(hex(&bytes), "87 02 00 00 00 00 00 00");
        let canon = Insn::Alu64 { op: AluOp::Neg, dst: R2, src: Src::Imm(0) };
        assert_eq!(Insn::decode(&bytes), Ok((canon, 1)));
    }

    #[test]
    fn decode_errors() {
        assert_eq!(Insn::decode(&[0x95, 0, 0]), Err(DecodeError::Truncated { need: 8, have: 3 }));
        // ld_imm64 without its second slot.
        let mut b = to_bytes(&[Insn::LdImm64 { dst: R1, imm: 1 }]);
        b.truncate(8);
        assert_eq!(Insn::decode(&b), Err(DecodeError::Truncated { need: 16, have: 8 }));
        // Register 11 does not exist.
        assert_eq!(
            Insn::decode(&[0xb7, 0x0b, 0, 0, 0, 0, 0, 0]),
            Err(DecodeError::BadRegister { code: 0xb7, reg: 11 })
        );
        // JMP32 class, byte swap and a BPF-to-BPF call are not ours.
        for code in [0x16u8, 0xd4, 0xdc] {
            assert_eq!(
                Insn::decode(&[code, 0, 0, 0, 0, 0, 0, 0]),
                Err(DecodeError::Unsupported { code })
            );
        }
        assert_eq!(
            Insn::decode(&[0x85, 0x10, 0, 0, 0, 0, 0, 0]),
            Err(DecodeError::Unsupported { code: 0x85 })
        );
        // ld_imm64 with BPF_PSEUDO_MAP_VALUE (2).
        let mut b = to_bytes(&[Insn::LdMapFd { dst: R1, fd: 3 }]);
        b[1] = 0x21;
        assert_eq!(Insn::decode(&b), Err(DecodeError::BadPseudo { src: 2 }));
        // Garbage in the second slot's opcode.
        let mut b = to_bytes(&[Insn::LdImm64 { dst: R1, imm: 1 }]);
        b[8] = 0x07;
        assert_eq!(Insn::decode(&b), Err(DecodeError::BadImm64Tail));
        // Signed division (off = 1) is a newer ISA form we do not emit.
        assert_eq!(
            Insn::decode(&[0x37, 0x01, 1, 0, 2, 0, 0, 0]),
            Err(DecodeError::Unsupported { code: 0x37 })
        );
    }
}
