//! Lowering of loops and jumps: `unroll`, `while`, `for`, `break`,
//! `continue`, `return`.
//!
//! `unroll(n)` repeats its block `n` times. `while` and `for` loops cannot
//! be jumps back (the verifier would walk every iteration): their body
//! becomes a subprogram of the probe that a kernel helper calls once per
//! iteration, `bpf_loop` (Linux 5.17+) for `while` and ranges and
//! `bpf_for_each_map_elem` (5.13+) for a map's entries. The callback
//! returns 0 to go on (`continue`, the end of the body) and 1 to stop
//! (`break`, a `while` condition that fails).
//!
//! What the body shares with the code around it:
//! - the scratch buffer and the context pointer: the caller keeps both at
//!   [`CALLBACK_CTX`] on its stack and passes that address as the
//!   callback's context, and the callback reads them back (the verifier
//!   follows pointers spilled on a caller's stack);
//! - variables: strings already live in the scratch buffer; the integer
//!   variables the body uses are stored into a scratch area before the
//!   call, loaded by the callback on entry, stored back on each return,
//!   and reloaded by the caller after the call;
//! - leaving the probe: `return` and `exit()` inside a body set a scratch
//!   word and stop the loop, and the code after every loop leaves when it
//!   is set.

use std::collections::BTreeSet;

use super::insn::{JmpOp, Size};
use super::ir::*;
use super::lower::{Lower, VarHome};
use super::program::slot_size;
use crate::codegen::helpers;
use crate::diag::Diagnostic;
use crate::frontend::ast::*;
use crate::frontend::passes::MapValue;
use crate::frontend::types::AggKind;
use crate::source::Span;

/// `bpf_loop`'s limit on iterations (`BPF_MAX_LOOPS`): a `while` loop
/// stops after this many, a range is cut to this many.
pub const MAX_LOOPS: i64 = 1 << 23;

/// Where `break` and `continue` of the loop body being lowered go.
#[derive(Clone, Copy, Debug)]
pub(super) struct LoopExits {
    brk: Label,
    cont: Label,
    /// Loop bodies this one is inside of, itself included.
    depth: u32,
}

/// How deep loops (`while`, `for`) may nest: each body is a call frame,
/// and the kernel allows 8 (`MAX_CALL_FRAMES`), the probe's own included.
pub const MAX_NESTING: u32 = 7;

/// The helper calls a loop's body with: `bpf_loop(index, ctx)` or
/// `bpf_for_each_map_elem(map, key, value, ctx)`.
enum Driver<'a> {
    Loop { count: VReg, cut: LoopCut },
    Map { map: &'a MapRef },
}

/// When `bpf_loop`'s limit cuts a loop short.
#[derive(Clone, Copy, PartialEq)]
enum LoopCut {
    /// A range: known before the call.
    Counted,
    /// A `while`: when no iteration stopped it.
    Whenever,
}

impl Lower<'_, '_> {
    pub(super) fn loop_stmt(&mut self, l: &Loop, span: Span) {
        match l {
            Loop::Unroll { count, body } => match count.kind {
                ExprKind::Int(n) => (0..n).for_each(|_| self.block(body)),
                _ => {
                    self.internal("an unroll count that is not a literal");
                }
            },
            Loop::While { cond, body } => {
                if !self.has_helper(helpers::LOOP, "`while` loops", "bpf_loop", "5.17", span) {
                    return;
                }
                let count = self.imm(MAX_LOOPS);
                let driver = Driver::Loop { count, cut: LoopCut::Whenever };
                self.call_back(span, driver, body, Some(cond), &[], |l, _| {
                    let brk = l.exits().brk;
                    l.cond_false(cond, brk);
                });
            }
            Loop::For { var, iter: ForIter::Range { start, end }, body, .. } => {
                if !self.has_helper(helpers::LOOP, "`for` loops over a range", "bpf_loop", "5.17", span) {
                    return;
                }
                let signed = crate::codegen::lower::is_signed(&start.ty) || matches!(start.kind, ExprKind::Int(_));
                let first = self.int(start);
                let end = self.int(end);
                // count = end - first, none when end <= first, at most MAX_LOOPS.
                let count = self.vreg();
                self.emit(IrInsn::Mov { dst: count, src: end });
                self.emit(IrInsn::Alu { op: super::insn::AluOp::Sub, dst: count, src: Operand::Reg(first) });
                let (some, capped) = (self.label(), self.label());
                let gt = if signed { JmpOp::Jsgt } else { JmpOp::Jgt };
                self.emit(IrInsn::Branch { op: gt, a: end, b: Operand::Reg(first), target: some });
                self.emit(IrInsn::LoadImm { dst: count, imm: 0 });
                self.emit(IrInsn::Label(some));
                self.emit(IrInsn::Branch {
                    op: JmpOp::Jle,
                    a: count,
                    b: Operand::Imm(MAX_LOOPS as i32),
                    target: capped,
                });
                self.emit(IrInsn::LoadImm { dst: count, imm: MAX_LOOPS });
                let one = self.imm(1);
                self.count_cut(one);
                self.emit(IrInsn::Label(capped));
                let (first_at, count_at) = (self.alloc(8), self.alloc(8));
                self.store_scratch(first_at, Operand::Reg(first));
                self.store_scratch(count_at, Operand::Reg(count));
                // The kernel skips checking a callback that a constant count
                // says never runs, and then fails to find the unchecked
                // subprogram ("verifier bug: No program to jit", 6.7+): ask
                // for at least one call, and let the callback stop itself.
                let nonzero = self.label();
                self.emit(IrInsn::Branch { op: JmpOp::Jne, a: count, b: Operand::Imm(0), target: nonzero });
                self.emit(IrInsn::LoadImm { dst: count, imm: 1 });
                self.emit(IrInsn::Label(nonzero));
                let var = var.clone();
                let driver = Driver::Loop { count, cut: LoopCut::Counted };
                self.call_back(span, driver, body, None, std::slice::from_ref(&var), |l, params| {
                    let n = l.load_scratch(count_at);
                    let brk = l.exits().brk;
                    l.emit(IrInsn::Branch { op: JmpOp::Jge, a: params[0], b: Operand::Reg(n), target: brk });
                    let i = l.load_scratch(first_at);
                    l.emit(IrInsn::Alu { op: super::insn::AluOp::Add, dst: i, src: Operand::Reg(params[0]) });
                    l.vars.insert(var.clone(), VarHome::Reg(i, signed));
                });
            }
            Loop::For { var, iter: ForIter::Map(m), body, .. } => {
                let what = "`for` loops over a map";
                if !self.has_helper(helpers::FOR_EACH_MAP_ELEM, what, "bpf_for_each_map_elem", "5.13", span) {
                    return;
                }
                let parts: Vec<String> =
                    self.vars.keys().filter(|n| n.starts_with(&format!("{var}."))).cloned().collect();
                let aggregated =
                    self.t.program.maps.get(&m.name).is_some_and(|i| matches!(i.value, Some(MapValue::Agg(_))));
                let (what, name) = ("`for` loops over an aggregation", "bpf_map_lookup_percpu_elem");
                if aggregated && !self.has_helper(helpers::MAP_LOOKUP_PERCPU_ELEM, what, name, "5.19", span) {
                    return;
                }
                self.call_back(span, Driver::Map { map: m }, body, None, &parts, |l, params| {
                    l.entry_parts(m, var, &parts, params[1], params[2]);
                });
            }
        }
    }

    pub(super) fn jump(&mut self, j: Jump) {
        match (j, self.in_loop) {
            (Jump::Break, Some(x)) => self.emit(IrInsn::Jump(x.brk)),
            (Jump::Continue, Some(x)) => self.emit(IrInsn::Jump(x.cont)),
            (Jump::Return, Some(x)) => {
                self.set_leaving();
                self.emit(IrInsn::Jump(x.brk));
            }
            (Jump::Return, None) => self.emit(IrInsn::Exit),
            (_, None) => {
                self.internal("`break` or `continue` outside of a loop");
            }
        }
    }

    /// Where the loop body being lowered stops and goes on.
    fn exits(&mut self) -> LoopExits {
        match self.in_loop {
            Some(x) => x,
            None => {
                self.internal("a loop's exits outside of its body");
                let l = self.label();
                LoopExits { brk: l, cont: l, depth: 0 }
            }
        }
    }

    /// Whether the kernel has `helper` (or the options say so); if not, a
    /// diagnostic on the loop naming what is missing.
    fn has_helper(&mut self, helper: i32, what: &str, name: &str, since: &str, span: Span) -> bool {
        let present = match self.t.opts.helpers {
            Some(ask) => ask(helper as u32),
            // Unknown (no BPF, not root): loading will tell.
            None => crate::sys::helper_available(helper as u32).unwrap_or(true),
        };
        if !present {
            self.errors.push(
                Diagnostic::error(format!(
                    "{what} need the kernel's {name} helper (Linux {since} and later), which this kernel lacks"
                ))
                .at(span, format!("needs {name}"))
                .note("a loop with a fixed number of iterations can be written `unroll(N) { ... }`, which needs no helper"),
            );
        }
        present
    }

    /// Add `n` (0 or 1) to the counter of loops the limit cut short.
    fn count_cut(&mut self, n: VReg) {
        let at = super::program::loop_cut_counter(self.t.compiled.drop_counters);
        let total = self.load_scratch(at);
        self.emit(IrInsn::Alu { op: super::insn::AluOp::Add, dst: total, src: Operand::Reg(n) });
        self.store_scratch(at, Operand::Reg(total));
    }

    /// Set the word that makes the code after each loop leave the probe.
    fn set_leaving(&mut self) {
        match self.leaving {
            Some(off) => self.store_scratch(off, Operand::Imm(1)),
            None => {
                self.internal("leaving a loop body without a flag");
            }
        }
    }

    /// Lowers `body` as a callback of `driver`'s helper and calls it.
    /// `cond` is what the callback evaluates besides the body (a `while`
    /// condition); `own` are the loop's own variables (set by `entry` on
    /// each iteration, not shared with the caller); `entry` lowers what
    /// each iteration does before the body, given the callback's arguments.
    fn call_back(
        &mut self,
        span: Span,
        driver: Driver<'_>,
        body: &Block,
        cond: Option<&Expr>,
        own: &[String],
        entry: impl FnOnce(&mut Self, &[VReg]),
    ) {
        if self.in_loop.is_some_and(|x| x.depth >= MAX_NESTING) {
            self.errors.push(
                Diagnostic::error(format!("loops nest at most {MAX_NESTING} deep"))
                    .at(span, format!("loop number {} inside each other", MAX_NESTING + 1))
                    .note("each `while` or `for` body is a call, and the kernel allows 8 calls deep, the probe's own included"),
            );
            return;
        }
        let used = vars_in(body, cond);
        let shared: Vec<(String, VReg, bool)> = used
            .iter()
            .filter(|n| !own.contains(n))
            .filter_map(|n| match self.vars.get(n) {
                Some(VarHome::Reg(r, signed)) => Some((n.clone(), *r, *signed)),
                _ => None,
            })
            .collect();
        let area = self.alloc(8 * shared.len() as u32);
        for (i, (_, r, _)) in shared.iter().enumerate() {
            self.store_scratch(area + 8 * i as u32, Operand::Reg(*r));
        }
        let outermost = self.leaving.is_none();
        if outermost {
            let flag = self.alloc(8);
            self.store_scratch(flag, Operand::Imm(0));
            self.leaving = Some(flag);
        }
        let cx = self.vreg();
        self.emit(IrInsn::StackAddr { dst: cx, off: CALLBACK_CTX });
        self.emit(IrInsn::Store { size: Size::DW, base: cx, off: 0, src: Operand::Reg(self.scratch) });
        self.emit(IrInsn::Store { size: Size::DW, base: cx, off: 8, src: Operand::Reg(self.ctx) });

        let params = match driver {
            Driver::Loop { .. } => 2,
            Driver::Map { .. } => 4,
        };
        // A while loop still running at bpf_loop's last iteration was cut.
        let stopped = matches!(driver, Driver::Loop { cut: LoopCut::Whenever, .. }).then(|| self.alloc(8));
        if let Some(word) = stopped {
            self.store_scratch(word, Operand::Imm(1));
        }
        let func = self.callback(span, params, (&shared, own), (area, stopped), body, entry);

        let f = self.vreg();
        self.emit(IrInsn::FuncAddr { dst: f, func });
        let flags = self.imm(0);
        match driver {
            Driver::Loop { count, .. } => {
                let h = helpers::LOOP as u32;
                self.emit(IrInsn::Call { helper: h, args: vec![count, f, cx, flags], ret: None });
                if let Some(word) = stopped {
                    let cut = self.load_scratch(word);
                    self.count_cut(cut);
                }
            }
            Driver::Map { map } => {
                let m = self.vreg();
                match self.t.map_ids.get(&map.name).copied() {
                    Some(id) => self.emit(IrInsn::LoadMap { dst: m, map: id }),
                    None => {
                        self.internal(format!("{} has no map id", map.display_name()));
                        return;
                    }
                }
                let h = helpers::FOR_EACH_MAP_ELEM as u32;
                self.emit(IrInsn::Call { helper: h, args: vec![m, f, cx, flags], ret: None });
            }
        }
        for (i, (_, r, _)) in shared.iter().enumerate() {
            self.emit(IrInsn::Load { size: Size::DW, dst: *r, base: self.scratch, off: (area + 8 * i as u32) as i16 });
        }
        // Leave when the body did (`return`, `exit()`).
        let Some(flag) = self.leaving else { return };
        let word = self.load_scratch(flag);
        match self.in_loop {
            Some(x) => self.emit(IrInsn::Branch { op: JmpOp::Jne, a: word, b: Operand::Imm(0), target: x.brk }),
            None => {
                let stay = self.label();
                self.emit(IrInsn::Branch { op: JmpOp::Jeq, a: word, b: Operand::Imm(0), target: stay });
                self.emit(IrInsn::Exit);
                self.emit(IrInsn::Label(stay));
            }
        }
        if outermost {
            self.leaving = None;
        }
    }

    /// Lowers the callback itself, as subprogram number (returned) of the
    /// probe: its own registers, labels numbered on from the caller's.
    fn callback(
        &mut self,
        span: Span,
        params: u8,
        (shared, own): (&[(String, VReg, bool)], &[String]),
        (area, stopped): (u32, Option<u32>),
        body: &Block,
        entry: impl FnOnce(&mut Self, &[VReg]),
    ) -> u32 {
        let index = self.subs.len() as u32;
        self.subs.push(IrFunc::default());
        let outer = std::mem::take(&mut self.f);
        self.f.labels = outer.labels;
        let saved = (self.ctx, self.scratch, self.vars.clone(), self.in_loop);
        let args: Vec<VReg> = (0..params).map(|_| self.vreg()).collect();
        for (i, a) in args.iter().enumerate() {
            self.emit(IrInsn::Param { dst: *a, index: i as u8 });
        }
        let cx = args[usize::from(params) - 1];
        self.scratch = self.vreg();
        self.ctx = self.vreg();
        self.emit(IrInsn::Load { size: Size::DW, dst: self.scratch, base: cx, off: 0 });
        self.emit(IrInsn::Load { size: Size::DW, dst: self.ctx, base: cx, off: 8 });
        // The caller's registers are not the callback's: only shared
        // variables, those in the scratch buffer, and the loop's own
        // (whose homes `entry` replaces) exist in here.
        self.vars.retain(|name, home| matches!(home, VarHome::Mem { .. }) || own.contains(name));
        let mut mine = Vec::new();
        for (i, (name, _, signed)) in shared.iter().enumerate() {
            let r = self.load_scratch(area + 8 * i as u32);
            self.vars.insert(name.clone(), VarHome::Reg(r, *signed));
            mine.push(r);
        }
        let depth = self.in_loop.map_or(0, |x| x.depth) + 1;
        let exits = LoopExits { brk: self.label(), cont: self.label(), depth };
        self.in_loop = Some(exits);
        entry(self, &args);
        self.block(body);
        self.span = span;
        for (label, answer) in [(exits.cont, 0), (exits.brk, 1)] {
            self.emit(IrInsn::Label(label));
            // `stopped`: a scratch word the callback clears whenever it
            // stops the loop (a `while`'s, to tell a loop that ended from
            // one the limit cut).
            if let (Some(word), 1) = (stopped, answer) {
                self.store_scratch(word, Operand::Imm(0));
            }
            for (i, r) in mine.iter().enumerate() {
                self.store_scratch(area + 8 * i as u32, Operand::Reg(*r));
            }
            self.emit(IrInsn::Return(answer));
        }
        // `exit()` in the body leaves the probe: the flag, then stop.
        let flag = self.leaving;
        let mut sub = std::mem::replace(&mut self.f, outer);
        let lines = std::mem::take(&mut sub.lines);
        for line in lines {
            match (line.insn, flag) {
                (IrInsn::Exit, Some(off)) => {
                    let store =
                        IrInsn::Store { size: Size::DW, base: self.scratch, off: off as i16, src: Operand::Imm(1) };
                    sub.push(store, line.span);
                    sub.push(IrInsn::Jump(exits.brk), line.span);
                }
                (insn, _) => sub.push(insn, line.span),
            }
        }
        sub.prune_unreachable();
        self.f.labels = sub.labels;
        self.subs[index as usize] = sub;
        (self.ctx, self.scratch, self.vars, self.in_loop) = saved;
        index
    }

    /// Sets the parts of a map loop's entry that the body reads, from the
    /// key and value the helper passes.
    fn entry_parts(&mut self, m: &MapRef, var: &str, parts: &[String], key: VReg, value: VReg) {
        let Some(info) = self.t.program.maps.get(&m.name).cloned() else {
            self.internal(format!("{} is not in the map table", m.display_name()));
            return;
        };
        for part in parts {
            let path = &part[var.len() + 1..];
            let (base, off, ty) = match path {
                "1" => (value, 0, info.value_type()),
                "0" if info.keys.len() == 1 => (key, 0, info.keys[0].clone()),
                _ => match path.strip_prefix("0.").and_then(|j| j.parse::<usize>().ok()) {
                    Some(j) if j < info.keys.len() => {
                        let off: u32 = info.keys[..j].iter().map(slot_size).sum();
                        (key, off, info.keys[j].clone())
                    }
                    _ => {
                        self.internal(format!("`{part}` is no part of {}'s entries", m.display_name()));
                        continue;
                    }
                },
            };
            if let (Some(MapValue::Agg(kind)), "1") = (info.value, path) {
                let total = self.all_cpus(m, kind, key);
                match self.vars.get(part).copied() {
                    Some(VarHome::Reg(_, signed)) => {
                        self.vars.insert(part.clone(), VarHome::Reg(total, signed));
                    }
                    _ => {
                        self.internal(format!("${part} is not an integer variable"));
                    }
                }
                continue;
            }
            match self.vars.get(part).copied() {
                Some(VarHome::Reg(_, signed)) => {
                    let r = self.vreg();
                    self.emit(IrInsn::Load { size: Size::DW, dst: r, base, off: off as i16 });
                    self.vars.insert(part.clone(), VarHome::Reg(r, signed));
                }
                Some(VarHome::Mem { off: dst, size }) => self.copy_from(dst, size, base, off, slot_size(&ty)),
                None => {
                    self.internal(format!("${part} has no home"));
                }
            }
        }
    }
}

impl Lower<'_, '_> {
    /// An aggregation's value for `key` over every CPU, as userspace
    /// reduces it (`runtime::decode`): a sum for count() and sum(), the
    /// least or greatest of the CPUs that saw a value for min() and max().
    /// The helper reads one CPU's slot: one call per possible CPU.
    fn all_cpus(&mut self, m: &MapRef, kind: AggKind, key: VReg) -> VReg {
        let total = self.imm(0);
        let cpus = match crate::sys::possible_cpus() {
            Ok(n) => n,
            Err(e) => {
                self.errors.push(
                    Diagnostic::error(format!("cannot count this machine's CPUs: {e}"))
                        .at(m.span, "a loop over an aggregation reads every CPU's value"),
                );
                return total;
            }
        };
        let Some(id) = self.t.map_ids.get(&m.name).copied() else {
            self.internal(format!("{} has no map id", m.display_name()));
            return total;
        };
        let seen = self.imm(0);
        for cpu in 0..cpus {
            let (map, c, p) = (self.vreg(), self.imm(cpu as i64), self.vreg());
            self.emit(IrInsn::LoadMap { dst: map, map: id });
            let h = helpers::MAP_LOOKUP_PERCPU_ELEM as u32;
            self.emit(IrInsn::Call { helper: h, args: vec![map, key, c], ret: Some(p) });
            let next = self.label();
            self.emit(IrInsn::Branch { op: JmpOp::Jeq, a: p, b: Operand::Imm(0), target: next });
            let v = self.vreg();
            self.emit(IrInsn::Load { size: Size::DW, dst: v, base: p, off: 0 });
            match kind {
                AggKind::Min | AggKind::Max => {
                    let (set, flag) = (self.label(), self.vreg());
                    self.emit(IrInsn::Load { size: Size::DW, dst: flag, base: p, off: 8 });
                    self.emit(IrInsn::Branch { op: JmpOp::Jeq, a: flag, b: Operand::Imm(0), target: next });
                    self.emit(IrInsn::Branch { op: JmpOp::Jeq, a: seen, b: Operand::Imm(0), target: set });
                    let keep = if kind == AggKind::Min { JmpOp::Jsge } else { JmpOp::Jsle };
                    self.emit(IrInsn::Branch { op: keep, a: v, b: Operand::Reg(total), target: next });
                    self.emit(IrInsn::Label(set));
                    self.emit(IrInsn::Mov { dst: total, src: v });
                    self.emit(IrInsn::LoadImm { dst: seen, imm: 1 });
                }
                _ => self.emit(IrInsn::Alu { op: super::insn::AluOp::Add, dst: total, src: Operand::Reg(v) }),
            }
            self.emit(IrInsn::Label(next));
        }
        total
    }
}

/// Every variable a block (and `cond`) names (read, assigned or counted),
/// loops inside it included.
fn vars_in(b: &Block, cond: Option<&Expr>) -> BTreeSet<String> {
    let found = std::cell::RefCell::new(BTreeSet::new());
    let note = |e: &Expr| {
        if let ExprKind::Var(n) = &e.kind {
            found.borrow_mut().insert(n.clone());
        }
        false
    };
    b.any_expr(&note);
    if let Some(c) = cond {
        c.any(&note);
    }
    let mut names = found.into_inner();
    assigned_in(b, &mut names);
    names
}

/// The variables assigned by `$x = ...` statements of a block (`any_expr`
/// sees only expressions).
fn assigned_in(b: &Block, names: &mut BTreeSet<String>) {
    for s in &b.stmts {
        match &s.kind {
            StmtKind::AssignVar { name, .. } => {
                names.insert(name.clone());
            }
            StmtKind::If { then, els, .. } => {
                assigned_in(then, names);
                if let Some(e) = els {
                    assigned_in(e, names);
                }
            }
            StmtKind::Loop(l) => assigned_in(l.body(), names),
            StmtKind::Expr(_) | StmtKind::AssignMap { .. } | StmtKind::Jump(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codegen::insn::Insn;
    use crate::codegen::link::link;
    use crate::codegen::lower::{lower_program, LowerOptions};
    use crate::codegen::program::Compiled;
    use crate::codegen::regalloc::allocate_all;
    use crate::frontend::parser::parse_program;
    use crate::frontend::passes::{self, Params};
    use crate::frontend::probes::ProbeContext;

    /// Lowers `text` on a kernel that has the helpers `has` says.
    fn lower(text: &str, has: fn(u32) -> bool) -> Result<Compiled, Vec<Diagnostic>> {
        let ast = parse_program(text, 0).unwrap_or_else(|d| panic!("does not parse: {d:?}"));
        let checked = passes::check(&ast, &ProbeContext::default(), &Params::default())
            .unwrap_or_else(|d| panic!("does not check: {d:?}"));
        lower_program(&checked, &LowerOptions { helpers: Some(has), ..Default::default() })
    }

    fn refusal(text: &str, has: fn(u32) -> bool) -> (String, std::ops::Range<usize>) {
        let diags = lower(text, has).expect_err("refused");
        let d = &diags[0];
        (d.message.clone(), d.primary.clone().expect("points at the loop").0.range())
    }

    #[test]
    fn loops_are_refused_on_kernels_without_their_helper() {
        let no_loop = |h: u32| h != helpers::LOOP as u32;
        let text = "BEGIN { $i = 0; while ($i < 3) { $i++; } }";
        let (msg, at) = refusal(text, no_loop);
        assert!(msg.contains("`while` loops need the kernel's bpf_loop helper (Linux 5.17"), "{msg}");
        assert_eq!(&text[at], "while ($i < 3) { $i++; }");
        let (msg, _) = refusal("BEGIN { for ($i : 0..3) { } }", no_loop);
        assert!(msg.contains("`for` loops over a range need the kernel's bpf_loop"), "{msg}");
        // Map loops need the other helper only.
        lower("BEGIN { @m[1] = 2; for ($kv : @m) { @n = $kv.1; } }", no_loop).expect("map loops need no bpf_loop");
        let no_each = |h: u32| h != helpers::FOR_EACH_MAP_ELEM as u32;
        let (msg, _) = refusal("BEGIN { @m[1] = 2; for ($kv : @m) { @n = $kv.1; } }", no_each);
        assert!(msg.contains("bpf_for_each_map_elem helper (Linux 5.13"), "{msg}");
        let no_percpu = |h: u32| h != helpers::MAP_LOOKUP_PERCPU_ELEM as u32;
        let (msg, _) = refusal("BEGIN { @c[1] = count(); for ($kv : @c) { @n = $kv.1; } }", no_percpu);
        assert!(msg.contains("over an aggregation need the kernel's bpf_map_lookup_percpu_elem helper (Linux 5.19"));
        lower("BEGIN { @m[1] = 2; for ($kv : @m) { @n = $kv.1; } }", no_percpu).expect("plain maps need no more");
        // unroll is repeated code: no helper at all.
        let c = lower("BEGIN { unroll(3) { @n++; } }", |_| false).expect("unroll needs no helper");
        assert!(c.probes[0].ir.subs.is_empty());
    }

    /// Every loop body is a subprogram, nested ones included; linking
    /// places each after the main function and points each callback
    /// address at its start.
    #[test]
    fn loop_bodies_are_linked_subprograms() {
        let text = "BEGIN { @m[1] = 1; for ($kv : @m) { for ($i : 0..$kv.1) { @n++; } } while (@n < 3) { @n++; } }";
        let c = lower(text, |_| true).expect("lowers");
        let ir = &c.probes[0].ir;
        assert_eq!(ir.subs.len(), 3);
        let asm = allocate_all(ir, RESERVED_STACK as u32).expect("allocates");
        let linked = link(&asm, &vec![3; c.maps.len()]).expect("links");
        assert_eq!(linked.funcs.len(), 3);
        let mut pc = 0;
        let mut targets = Vec::new();
        for insn in &linked.insns {
            if let Insn::LdFunc { off, .. } = insn {
                targets.push((pc as i64 + 1 + i64::from(*off)) as u32);
            }
            pc += insn.slots();
        }
        targets.sort();
        assert_eq!(targets, linked.funcs);
    }
}
