//! Human-readable listings: linked instructions annotated with the script
//! source they came from (`trace -d`), and the virtual-register IR
//! (`trace -d ir`).
//!
//! Instruction lines are numbered by slot, the numbering the verifier log
//! uses ("insn 12"), and printed in the verifier's own mnemonics, so a user
//! can line a rejection message up with this listing and the script.

use std::fmt::{self, Write};

use crate::codegen::helpers::helper_name;
use crate::codegen::insn::{AluOp, Insn};
use crate::codegen::ir::{IrFunc, IrInsn, Operand, VReg};
use crate::source::{SourceMap, Span};

/// One line per instruction, `  NN: <insn>`, each run of instructions from
/// the same span preceded by `; <first line of its source text>`.
/// Instructions whose span has no source text get no comment.
pub fn disassemble(insns: &[Insn], spans: &[Span], sources: &SourceMap) -> String {
    disassemble_funcs(insns, spans, &[], sources)
}

/// [`disassemble`] with a `subN:` line where each subprogram (a loop body)
/// starts, at the slots `funcs`.
pub fn disassemble_funcs(insns: &[Insn], spans: &[Span], funcs: &[u32], sources: &SourceMap) -> String {
    let total: usize = insns.iter().map(Insn::slots).sum();
    let width = total.saturating_sub(1).to_string().len().max(2);
    let mut out = String::new();
    let mut prev: Option<Span> = None;
    let mut pc = 0;
    for (i, insn) in insns.iter().enumerate() {
        if let Some(n) = funcs.iter().position(|f| *f as usize == pc) {
            let _ = writeln!(out, "sub{n}:");
            prev = None;
        }
        let span = spans.get(i).copied();
        if span.is_some() && span != prev {
            let text = span.map(|s| sources.slice(s)).unwrap_or("");
            let first = text.lines().next().unwrap_or("").trim();
            if !first.is_empty() {
                // Writing to a String cannot fail.
                let _ = writeln!(out, "; {first}");
            }
        }
        prev = span;
        let _ = writeln!(out, "  {pc:>width$}: {insn}");
        pc += insn.slots();
    }
    out
}

struct V(VReg);

impl fmt::Display for V {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.0 .0)
    }
}

struct Opnd(Operand);

impl fmt::Display for Opnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Operand::Reg(v) => write!(f, "{}", V(v)),
            Operand::Imm(i) => write!(f, "{i}"),
        }
    }
}

fn ir_line(out: &mut String, insn: &IrInsn) -> fmt::Result {
    match insn {
        IrInsn::Label(l) => return writeln!(out, "L{}:", l.0),
        _ => out.push_str("    "),
    }
    match insn {
        IrInsn::Ctx { dst } => write!(out, "{} = ctx", V(*dst)),
        IrInsn::LoadImm { dst, imm } => write!(out, "{} = {imm}", V(*dst)),
        IrInsn::Mov { dst, src } => write!(out, "{} = {}", V(*dst), V(*src)),
        IrInsn::Alu { op: AluOp::Neg, dst, .. } => write!(out, "{0} = -{0}", V(*dst)),
        IrInsn::Alu { op, dst, src } => write!(out, "{} {} {}", V(*dst), op.op_str(), Opnd(*src)),
        IrInsn::Load { size, dst, base, off } => {
            write!(out, "{} = *({} *)({} {off:+})", V(*dst), size.c_type(), V(*base))
        }
        IrInsn::Store { size, base, off, src } => {
            write!(out, "*({} *)({} {off:+}) = {}", size.c_type(), V(*base), Opnd(*src))
        }
        IrInsn::AtomicAdd { size, base, off, src } => {
            write!(out, "lock *({} *)({} {off:+}) += {}", size.c_type(), V(*base), V(*src))
        }
        IrInsn::LoadMap { dst, map } => write!(out, "{} = map[{}]", V(*dst), map.0),
        IrInsn::Call { helper, args, ret } => {
            match i32::try_from(*helper).ok().and_then(helper_name) {
                Some(name) => write!(out, "call {name}(")?,
                None => write!(out, "call helper#{helper}(")?,
            }
            for (i, a) in args.iter().enumerate() {
                let sep = if i == 0 { "" } else { ", " };
                write!(out, "{sep}{}", V(*a))?;
            }
            out.push(')');
            match ret {
                Some(r) => write!(out, " -> {}", V(*r)),
                None => Ok(()),
            }
        }
        IrInsn::Jump(l) => write!(out, "goto L{}", l.0),
        IrInsn::Branch { op, a, b, target } => {
            write!(out, "if {} {} {} goto L{}", V(*a), op.op_str(), Opnd(*b), target.0)
        }
        IrInsn::Exit => write!(out, "exit"),
        IrInsn::StackAddr { dst, off } => write!(out, "{} = r10 {:+}", V(*dst), off),
        IrInsn::Param { dst, index } => write!(out, "{} = r{}", V(*dst), index + 1),
        IrInsn::FuncAddr { dst, func } => write!(out, "{} = &sub{func}", V(*dst)),
        IrInsn::Return(v) => write!(out, "return {v}"),
        IrInsn::Label(_) => Ok(()),
    }?;
    out.push('\n');
    Ok(())
}

/// The IR, one line per instruction: labels at the margin, instructions
/// indented, virtual registers as `vN`.
pub fn dump_ir(func: &IrFunc) -> String {
    let mut out = String::new();
    for line in &func.lines {
        // Writing to a String cannot fail.
        let _ = ir_line(&mut out, &line.insn);
    }
    for (i, sub) in func.subs.iter().enumerate() {
        let _ = writeln!(out, "sub{i}:");
        out.push_str(&dump_ir(sub));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codegen::insn::{JmpOp, Reg, Size, Src};
    use crate::codegen::ir::{Label, MapId};

    #[test]
    fn listing_with_source_comments() {
        let mut sources = SourceMap::new();
        let text = "uprobe:./db:f {\n  @x = count();\n}";
        let file = sources.add("-e", text);
        let body = Span::new(file, 16, 31); // "  @x = count();"
        let whole = Span::new(file, 0, text.len());
        let insns = [
            Insn::LdMapFd { dst: Reg::R1, fd: 5 },
            Insn::Jmp { op: JmpOp::Jeq, dst: Reg::R0, src: Src::Imm(0), off: 1 },
            Insn::Alu64 { op: AluOp::Mov, dst: Reg::R0, src: Src::Imm(0) },
            Insn::Exit,
        ];
        let spans = [body, body, whole, Span::default()];
        let got = disassemble(&insns, &spans, &sources);
        assert_eq!(
            got,
            "; @x = count();\n   0: r1 = map[fd:5]\n   2: if r0 == 0x0 goto pc+1\n\
             ; uprobe:./db:f {\n   3: r0 = 0\n   4: exit\n"
        );
    }

    #[test]
    fn wide_programs_widen_the_number_column() {
        let insns = vec![Insn::Exit; 120];
        let spans = vec![Span::default(); 120];
        let got = disassemble(&insns, &spans, &SourceMap::new());
        assert!(got.starts_with("    0: exit\n"));
        assert!(got.ends_with("  119: exit\n"));
    }

    #[test]
    fn ir_dump() {
        let mut f = IrFunc::default();
        let s = Span::default();
        let (v0, v1, v2, v3, v4) = (f.new_vreg(), f.new_vreg(), f.new_vreg(), f.new_vreg(), f.new_vreg());
        let l = f.new_label();
        f.push(IrInsn::Ctx { dst: v0 }, s);
        f.push(IrInsn::Load { size: Size::W, dst: v3, base: v0, off: 8 }, s);
        f.push(IrInsn::LoadMap { dst: v1, map: MapId(0) }, s);
        f.push(IrInsn::LoadImm { dst: v2, imm: -4 }, s);
        f.push(IrInsn::Mov { dst: v2, src: v3 }, s);
        f.push(IrInsn::Alu { op: AluOp::Add, dst: v2, src: Operand::Imm(8) }, s);
        f.push(IrInsn::Alu { op: AluOp::Neg, dst: v2, src: Operand::Imm(0) }, s);
        f.push(IrInsn::Alu { op: AluOp::Arsh, dst: v2, src: Operand::Reg(v3) }, s);
        f.push(IrInsn::Call { helper: 1, args: vec![v1, v2], ret: Some(v4) }, s);
        f.push(IrInsn::Branch { op: JmpOp::Jeq, a: v4, b: Operand::Imm(0), target: l }, s);
        f.push(IrInsn::Store { size: Size::DW, base: v4, off: -8, src: Operand::Reg(v3) }, s);
        f.push(IrInsn::AtomicAdd { size: Size::DW, base: v4, off: 0, src: v2 }, s);
        f.push(IrInsn::Call { helper: 5000, args: vec![], ret: None }, s);
        f.push(IrInsn::Jump(l), s);
        f.push(IrInsn::Label(Label(0)), s);
        f.push(IrInsn::Exit, s);
        let want = "    v0 = ctx
    v3 = *(u32 *)(v0 +8)
    v1 = map[0]
    v2 = -4
    v2 = v3
    v2 += 8
    v2 = -v2
    v2 s>>= v3
    call bpf_map_lookup_elem(v1, v2) -> v4
    if v4 == 0 goto L0
    *(u64 *)(v4 -8) = v3
    lock *(u64 *)(v4 +0) += v2
    call helper#5000()
    goto L0
L0:
    exit
";
        assert_eq!(dump_ir(&f), want);
    }
}
