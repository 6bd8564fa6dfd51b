//! Linking: allocated code ─► final instructions plus an instruction→span
//! table.
//!
//! This is the last step that knows about labels and map ids. Offsets count
//! 8-byte slots (an `ld_imm64` takes two) and are relative to the slot after
//! the jump, as the kernel defines them. Nothing is appended implicitly: the
//! caller's code must already end in `exit` or a jump.
//!
//! The span table has one entry per [`Insn`] (not per slot), so a verifier
//! message about "insn N" maps back to the script via the slot index that
//! `disasm` prints next to each instruction.

use std::collections::HashMap;

use thiserror::Error;

use crate::codegen::insn::Insn;
use crate::codegen::ir::Label;
use crate::codegen::regalloc::{Asm, AsmLine};
use crate::source::Span;

/// The kernel's limit on program length, in slots
/// (`BPF_COMPLEXITY_LIMIT_INSNS`, also the privileged size limit).
pub const MAX_SLOTS: usize = 1_000_000;

/// A linked program: ready for `to_bytes`, with one span per instruction.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Linked {
    pub insns: Vec<Insn>,
    pub spans: Vec<Span>,
    /// The slot where each subprogram starts (the main function, at 0,
    /// not counted): what the kernel's BTF function info must list.
    pub funcs: Vec<u32>,
}

#[derive(Clone, Debug, Error, PartialEq)]
pub enum LinkError {
    #[error("jump to label L{label}, which is never placed")]
    UnknownLabel { label: u32, span: Span },
    #[error("label L{label} is placed twice")]
    DuplicateLabel { label: u32, span: Span },
    #[error("map #{map} has no file descriptor")]
    UnknownMap { map: u32, span: Span },
    #[error("jump offset {offset} does not fit in 16 bits")]
    JumpOutOfRange { offset: i64, span: Span },
    #[error("program is {slots} instructions long, more than the kernel's {MAX_SLOTS}")]
    TooLong { slots: usize },
    #[error("subprogram #{func} is never placed")]
    UnknownFunc { func: u32, span: Span },
}

fn slots(asm: &Asm) -> usize {
    match asm {
        Asm::Insn(i) => i.slots(),
        Asm::Label(_) | Asm::Func(_) => 0,
        Asm::Jump { .. } => 1,
        Asm::LoadMap { .. } | Asm::FuncAddr { .. } => 2,
    }
}

/// Resolves labels and map ids. `map_fds[i]` is the fd of `MapId(i)`.
pub fn link(lines: &[AsmLine], map_fds: &[i32]) -> Result<Linked, LinkError> {
    // Pass 1: the slot index of every label.
    let mut labels: HashMap<u32, usize> = HashMap::new();
    let mut funcs: Vec<(u32, usize)> = Vec::new();
    let mut pc = 0usize;
    for line in lines {
        if let Asm::Label(Label(l)) = line.asm {
            if labels.insert(l, pc).is_some() {
                return Err(LinkError::DuplicateLabel { label: l, span: line.span });
            }
        }
        if let Asm::Func(f) = line.asm {
            funcs.push((f, pc));
        }
        pc += slots(&line.asm);
    }
    if pc > MAX_SLOTS {
        return Err(LinkError::TooLong { slots: pc });
    }

    // Pass 2: emit.
    // Below MAX_SLOTS, so they fit in u32.
    let mut out = Linked { funcs: funcs.iter().map(|(_, at)| *at as u32).collect(), ..Linked::default() };
    let mut pc = 0usize;
    for line in lines {
        let insn = match line.asm {
            Asm::Insn(insn) => insn,
            Asm::Label(_) | Asm::Func(_) => continue,
            Asm::FuncAddr { dst, func } => {
                let at = funcs
                    .iter()
                    .find(|(f, _)| *f == func)
                    .map(|(_, at)| *at)
                    .ok_or(LinkError::UnknownFunc { func, span: line.span })?;
                // Both are at most MAX_SLOTS, so the offset fits in i32.
                Insn::LdFunc { dst, off: (at as i64 - (pc as i64 + 1)) as i32 }
            }
            Asm::Jump { cond, target } => {
                let at = labels
                    .get(&target.0)
                    .copied()
                    .ok_or(LinkError::UnknownLabel { label: target.0, span: line.span })?;
                // Both are at most MAX_SLOTS, so i64 arithmetic is exact.
                let offset = at as i64 - (pc as i64 + 1);
                let off = i16::try_from(offset).map_err(|_| LinkError::JumpOutOfRange { offset, span: line.span })?;
                match cond {
                    None => Insn::Ja { off },
                    Some((op, dst, src)) => Insn::Jmp { op, dst, src, off },
                }
            }
            Asm::LoadMap { dst, map } => {
                let fd = map_fds
                    .get(map.0 as usize)
                    .copied()
                    .ok_or(LinkError::UnknownMap { map: map.0, span: line.span })?;
                Insn::LdMapFd { dst, fd }
            }
        };
        pc += insn.slots();
        out.insns.push(insn);
        out.spans.push(line.span);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codegen::insn::{AluOp, JmpOp, Reg, Src};
    use crate::codegen::ir::MapId;

    fn line(asm: Asm, n: u32) -> AsmLine {
        AsmLine { asm, span: Span::new(0, n as usize, n as usize + 1) }
    }

    fn mov(dst: Reg, imm: i32) -> Asm {
        Asm::Insn(Insn::Alu64 { op: AluOp::Mov, dst, src: Src::Imm(imm) })
    }

    #[test]
    fn resolves_labels_maps_and_spans() {
        let lines = vec![
            line(Asm::LoadMap { dst: Reg::R1, map: MapId(1) }, 0),
            line(Asm::Jump { cond: Some((JmpOp::Jeq, Reg::R1, Src::Imm(0))), target: Label(0) }, 1),
            line(Asm::Insn(Insn::LdImm64 { dst: Reg::R2, imm: 1 << 40 }), 2),
            line(Asm::Jump { cond: None, target: Label(1) }, 3),
            line(Asm::Label(Label(0)), 4),
            line(mov(Reg::R0, 1), 5),
            line(Asm::Label(Label(1)), 6),
            line(Asm::Label(Label(2)), 7),
            line(Asm::Insn(Insn::Exit), 8),
        ];
        let linked = link(&lines, &[7, 9]).expect("links");
        assert_eq!(
            linked.insns,
            vec![
                Insn::LdMapFd { dst: Reg::R1, fd: 9 },
                // slot 2 -> label 0 at slot 6 (ld_imm64 counts twice).
                Insn::Jmp { op: JmpOp::Jeq, dst: Reg::R1, src: Src::Imm(0), off: 3 },
                Insn::LdImm64 { dst: Reg::R2, imm: 1 << 40 },
                Insn::Ja { off: 1 },
                Insn::Alu64 { op: AluOp::Mov, dst: Reg::R0, src: Src::Imm(1) },
                Insn::Exit,
            ]
        );
        let starts: Vec<u32> = linked.spans.iter().map(|s| s.start).collect();
        assert_eq!(starts, vec![0, 1, 2, 3, 5, 8]);
    }

    #[test]
    fn jump_to_next_is_offset_zero() {
        let lines = vec![
            line(Asm::Jump { cond: None, target: Label(u32::MAX) }, 0),
            line(Asm::Label(Label(u32::MAX)), 1),
            line(Asm::Insn(Insn::Exit), 2),
        ];
        assert_eq!(link(&lines, &[]).map(|l| l.insns[0]), Ok(Insn::Ja { off: 0 }));
    }

    #[test]
    fn errors() {
        let exit = line(Asm::Insn(Insn::Exit), 9);
        let jump = line(Asm::Jump { cond: None, target: Label(5) }, 1);
        assert_eq!(
            link(&[jump.clone(), exit.clone()], &[]),
            Err(LinkError::UnknownLabel { label: 5, span: jump.span })
        );
        let lm = line(Asm::LoadMap { dst: Reg::R1, map: MapId(2) }, 2);
        assert_eq!(link(std::slice::from_ref(&lm), &[1, 2]), Err(LinkError::UnknownMap { map: 2, span: lm.span }));
        let lab = line(Asm::Label(Label(0)), 3);
        assert_eq!(link(&[lab.clone(), lab.clone()], &[]), Err(LinkError::DuplicateLabel { label: 0, span: lab.span }));

        // 40,000 slots forward does not fit in an i16 offset.
        let mut far = vec![line(Asm::Jump { cond: None, target: Label(0) }, 0)];
        far.extend((0..20_000).map(|_| line(Asm::Insn(Insn::LdImm64 { dst: Reg::R0, imm: -1 }), 1)));
        far.push(line(Asm::Label(Label(0)), 2));
        far.push(exit.clone());
        assert_eq!(link(&far, &[]), Err(LinkError::JumpOutOfRange { offset: 40_000, span: far[0].span }));
        // ... but 32,767 slots does.
        let mut edge = vec![line(Asm::Jump { cond: None, target: Label(0) }, 0)];
        edge.extend((0..32_767).map(|_| line(mov(Reg::R0, 0), 1)));
        edge.push(line(Asm::Label(Label(0)), 2));
        edge.push(exit.clone());
        assert_eq!(link(&edge, &[]).map(|l| l.insns[0]), Ok(Insn::Ja { off: 32_767 }));

        let long: Vec<AsmLine> = (0..500_001).map(|_| line(Asm::LoadMap { dst: Reg::R1, map: MapId(0) }, 0)).collect();
        assert_eq!(link(&long, &[3]), Err(LinkError::TooLong { slots: 1_000_002 }));
    }
}
