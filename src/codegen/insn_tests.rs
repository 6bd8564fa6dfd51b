//! The instruction table test (instruction, text, bytes) and round trips
//! of encoding and decoding over generated instructions.

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
        (Insn::Alu64 { op: AluOp::SDiv, dst: R1, src: Src::Reg(R2) }, "r1 s/= r2",
         "3f 21 01 00 00 00 00 00"),
        (Insn::Alu64 { op: AluOp::SMod, dst: R3, src: Src::Imm(-7) }, "r3 s%= -7",
         "97 03 01 00 f9 ff ff ff"),
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
        7 => Insn::AtomicAdd { size: rng.pick(&[Size::W, Size::DW]), dst: rng.reg(), off, src: rng.reg() },
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
    assert_eq!(Insn::decode(&[0xb7, 0x0b, 0, 0, 0, 0, 0, 0]), Err(DecodeError::BadRegister { code: 0xb7, reg: 11 }));
    // JMP32 class, byte swap and a BPF-to-BPF call are not ours.
    for code in [0x16u8, 0xd4, 0xdc] {
        assert_eq!(Insn::decode(&[code, 0, 0, 0, 0, 0, 0, 0]), Err(DecodeError::Unsupported { code }));
    }
    assert_eq!(Insn::decode(&[0x85, 0x10, 0, 0, 0, 0, 0, 0]), Err(DecodeError::Unsupported { code: 0x85 }));
    // ld_imm64 with BPF_PSEUDO_MAP_VALUE (2).
    let mut b = to_bytes(&[Insn::LdMapFd { dst: R1, fd: 3 }]);
    b[1] = 0x21;
    assert_eq!(Insn::decode(&b), Err(DecodeError::BadPseudo { src: 2 }));
    // Garbage in the second slot's opcode.
    let mut b = to_bytes(&[Insn::LdImm64 { dst: R1, imm: 1 }]);
    b[8] = 0x07;
    assert_eq!(Insn::decode(&b), Err(DecodeError::BadImm64Tail));
    // movsx (BPF_MOV with off = 8) is a cpu v4 form we do not emit.
    assert_eq!(Insn::decode(&[0xbf, 0x21, 8, 0, 0, 0, 0, 0]), Err(DecodeError::Unsupported { code: 0xbf }));
}
