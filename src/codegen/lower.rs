//! Lowering: one type-checked probe ─► one IR function.
//!
//! Conventions every part of lowering relies on:
//! - `ctx` and `scratch` are virtual registers set up in the prologue;
//!   `scratch` points at this CPU's scratch buffer (a per-CPU array map
//!   value) where strings, map keys, map values and events are built, so
//!   big values never touch the 512-byte stack.
//! - Integer values live in virtual registers, always extended to 64 bits
//!   according to their type. Strings and other in-memory values are
//!   [`Val::Mem`] regions of the scratch buffer, 8-byte aligned and
//!   zero-padded, so they can be copied and compared in 8-byte chunks and
//!   used as map keys byte for byte.
//! - Scratch space for temporaries is released at the end of each statement;
//!   variables get regions for the whole probe.
//!
//! Expressions are in `lower_expr.rs`, maps, aggregations and events in
//! `lower_map.rs`, loops in `lower_loop.rs`.

use super::insn::{AluOp, JmpOp, Size};
use super::ir::*;
use super::program::*;
use crate::codegen::helpers;
use crate::diag::Diagnostic;
use crate::frontend::ast::*;
use crate::frontend::passes::{CheckedProbe, CheckedProgram};
use crate::frontend::probes::{Firing, ProbeSpec};
use crate::frontend::types::Type;
use crate::source::Span;
use crate::sys::MapKind;
use std::collections::HashMap;
use std::fmt::Display;

/// A lowered value.
#[derive(Clone, Copy, Debug)]
pub enum Val {
    Int(VReg),
    /// `size` bytes (a multiple of 8) at `off` in the scratch buffer.
    Mem {
        off: u32,
        size: u32,
    },
}

/// The kernel's limit on the maps one program may use (`MAX_USED_MAPS`).
const MAX_MAPS_PER_PROGRAM: usize = 64;

/// A `$variable`'s home.
#[derive(Clone, Copy, Debug)]
pub(super) enum VarHome {
    /// An integer or pointer; `signed` picks `>>` and comparisons.
    Reg(VReg, bool),
    Mem {
        off: u32,
        size: u32,
    },
}

/// What lowering needs to know about the session the code will run in.
#[derive(Clone, Copy, Debug, Default)]
pub struct LowerOptions {
    /// Monotonic-clock nanoseconds when the session started (for `elapsed`).
    pub start_ns: u64,
    /// A process whose events every probe ignores: trace's own, so that a
    /// probe trace itself hits while it reads and prints (a uprobe on
    /// `malloc`, a tracepoint on `write`) cannot feed on itself.
    pub ignore_pid: Option<u32>,
    /// Entries of each user map (0: [`MAP_ENTRIES`]).
    pub map_keys: u32,
    /// The machine's possible CPUs: how many per-CPU values a probe sums
    /// when it reads an aggregation (`if (@count > 10)`).
    pub ncpus: u32,
    /// Whether the kernel has a BPF helper (loops need `bpf_loop` and
    /// `bpf_for_each_map_elem`); `None` asks this machine's kernel.
    pub helpers: Option<fn(u32) -> bool>,
}

impl LowerOptions {
    pub(super) fn map_entries(&self) -> u32 {
        if self.map_keys == 0 {
            MAP_ENTRIES
        } else {
            self.map_keys
        }
    }
}

/// Program-wide tables filled while lowering each probe.
pub(super) struct Tables<'a> {
    pub program: &'a CheckedProgram,
    pub map_ids: HashMap<String, MapId>,
    pub compiled: Compiled,
    pub opts: LowerOptions,
}

pub(super) struct Lower<'t, 'a> {
    pub t: &'t mut Tables<'a>,
    pub f: IrFunc,
    pub spec: ProbeSpec,
    pub ctx: VReg,
    pub scratch: VReg,
    /// Next free byte of the scratch buffer.
    pub top: u32,
    /// Highest `top` reached.
    pub peak: u32,
    pub vars: HashMap<String, VarHome>,
    /// Each `$variable`'s type (a tuple assigned to it may be laid out
    /// with shorter strings, and is converted).
    pub var_types: HashMap<String, Type>,
    /// Span of the statement being lowered (for instructions not tied to a
    /// smaller node).
    pub span: Span,
    pub errors: Vec<Diagnostic>,
    /// The probed function's parameters (uprobes with debug info).
    pub function: Option<std::rc::Rc<crate::frontend::dwarf::Function>>,
    /// The probe's loop callbacks lowered so far (`lower_loop.rs`).
    pub subs: Vec<IrFunc>,
    /// Inside a loop callback: where `break` and `continue` go.
    pub in_loop: Option<super::lower_loop::LoopExits>,
    /// Inside a loop: the scratch word that says the probe is leaving.
    pub leaving: Option<u32>,
}

/// Lower a whole checked program.
pub fn lower_program(program: &CheckedProgram, opts: &LowerOptions) -> Result<Compiled, Vec<Diagnostic>> {
    let mut base = Compiled { maps: internal_maps(8), ..Compiled::default() };
    // A drop counter for every map: their ids are known before any probe
    // is lowered.
    base.drop_counters = (base.maps.len() + program.maps.maps.len()) as u32;
    let peak = lower_onto(program, opts, &mut base)?;
    // Scratch buffers are as large as the hungriest probe needs.
    for id in [SCRATCH_MAP, NMI_SCRATCH_MAP] {
        base.maps[id.0 as usize].value_size = round8(peak);
    }
    Ok(base)
}

/// The tables a live session (the REPL) starts from: only the internal
/// maps, with scratch buffers of the largest size any probe may use, since
/// probes added later share them.
pub fn session_tables() -> Compiled {
    Compiled { maps: internal_maps(MAX_SCRATCH), drop_counters: SESSION_DROP_COUNTERS, ..Compiled::default() }
}

/// Lower more probes for a live session: `tables` holds the maps and event
/// tables of everything already loaded. Maps already there keep their ids
/// (the checker has kept their layouts), new maps are appended, and printf,
/// print and time ids continue after the existing ones, so one event
/// decoder serves every probe. On success `tables.probes` holds only the
/// new probes.
pub fn lower_more(
    program: &CheckedProgram,
    opts: &LowerOptions,
    tables: &Compiled,
) -> Result<Compiled, Vec<Diagnostic>> {
    let mut base = tables.tables();
    let peak = lower_onto(program, opts, &mut base)?;
    let room = base.maps[SCRATCH_MAP.0 as usize].value_size;
    if peak > room {
        let span = program.probes.first().map(|p| p.resolved.span).unwrap_or_default();
        return Err(vec![Diagnostic::error(format!(
            "this probe needs {peak} bytes of scratch space; the session has {room}"
        ))
        .at(span, "in this probe")]);
    }
    Ok(base)
}

/// The maps every program has, in map-id order.
fn internal_maps(scratch_size: u32) -> Vec<MapDecl> {
    let one_slot = |name: &str, value_size: u32| MapDecl {
        name: name.into(),
        kind: MapKind::PercpuArray,
        key_size: 4,
        value_size,
        max_entries: 1,
        user: None,
    };
    let events = MapDecl {
        name: "events".into(),
        kind: MapKind::RingBuf,
        key_size: 0,
        value_size: 0,
        max_entries: EVENTS_SIZE,
        user: None,
    };
    let stop =
        MapDecl { name: "stop".into(), kind: MapKind::Array, key_size: 4, value_size: 8, max_entries: 1, user: None };
    vec![one_slot("scratch", scratch_size), events, one_slot("scratch_nmi", scratch_size), stop]
}

/// Lower every probe of `program` onto `base` (maps and event tables
/// already there are kept); returns the scratch space the probes need.
fn lower_onto(program: &CheckedProgram, opts: &LowerOptions, base: &mut Compiled) -> Result<u32, Vec<Diagnostic>> {
    let mut t = Tables { program, map_ids: HashMap::new(), compiled: std::mem::take(base), opts: *opts };
    for (name, info) in &program.maps.maps {
        let decl = MapDecl::for_user(info, t.opts.map_entries());
        let id = match t.compiled.maps.iter().position(|m| m.user.is_some() && m.name == decl.name) {
            Some(id) => {
                // Same layout (the checker saw to it); how values print may
                // have changed (an int map that now also holds unsigned values).
                let old = &mut t.compiled.maps[id];
                if (old.kind, old.key_size, old.value_size) == (decl.kind, decl.key_size, decl.value_size) {
                    old.user = decl.user;
                }
                id
            }
            None => {
                t.compiled.maps.push(decl);
                t.compiled.maps.len() - 1
            }
        };
        t.map_ids.insert(name.clone(), MapId(id as u32));
    }
    let mut errors = Vec::new();
    let mut peak = 8;
    for probe in &program.probes {
        match lower_probe(&mut t, probe) {
            Ok((ir, p)) => {
                peak = peak.max(p);
                t.compiled.probes.push(CompiledProbe { resolved: probe.resolved.clone(), ir });
            }
            Err(mut e) => errors.append(&mut e),
        }
    }
    *base = t.compiled;
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(peak)
}

fn lower_probe(t: &mut Tables<'_>, probe: &CheckedProbe) -> Result<(IrFunc, u32), Vec<Diagnostic>> {
    let span = probe.resolved.span;
    let mut f = IrFunc::default();
    let ctx = f.new_vreg();
    let scratch = f.new_vreg();
    // The counters come first (see `program::LOST_COUNTER`).
    let counters = loop_cut_counter(t.compiled.drop_counters) + 8;
    let mut l = Lower {
        t,
        f,
        spec: probe.resolved.spec.clone(),
        ctx,
        scratch,
        top: counters,
        peak: counters,
        vars: HashMap::new(),
        var_types: HashMap::new(),
        span,
        errors: Vec::new(),
        function: probe.dwarf.function.clone().flatten(),
        subs: Vec::new(),
        in_loop: None,
        leaving: None,
    };
    l.prologue();
    for (name, ty) in &probe.vars {
        let home = match ty {
            Type::Str { .. } | Type::Sym { .. } | Type::Tuple(_) | Type::Record(_) | Type::Array { .. } => {
                let size = slot_size(ty);
                let off = l.alloc(size);
                l.zero(off, size);
                VarHome::Mem { off, size }
            }
            _ => {
                let r = l.imm(0);
                VarHome::Reg(r, is_signed(ty))
            }
        };
        l.vars.insert(name.clone(), home);
        l.var_types.insert(name.clone(), ty.clone());
    }
    if let Some(pred) = &probe.pred {
        l.span = pred.span;
        let mark = l.top;
        let (fails, holds) = (l.label(), l.label());
        l.cond_false(pred, fails);
        l.emit(IrInsn::Jump(holds));
        l.emit(IrInsn::Label(fails));
        l.emit(IrInsn::Exit);
        l.emit(IrInsn::Label(holds));
        l.top = mark;
    }
    l.block(&probe.body);
    l.f.push(IrInsn::Exit, span);
    l.f.prune_unreachable();
    l.f.subs = std::mem::take(&mut l.subs);
    if l.peak > MAX_SCRATCH {
        l.errors.push(
            Diagnostic::error(format!(
                "this probe needs {} bytes of scratch memory; the limit is {MAX_SCRATCH}",
                l.peak
            ))
            .at(span, "too many or too large strings and keys"),
        );
    }
    let used: std::collections::BTreeSet<u32> =
        l.f.lines
            .iter()
            .chain(l.f.subs.iter().flat_map(|f| &f.lines))
            .filter_map(|line| match line.insn {
                IrInsn::LoadMap { map, .. } => Some(map.0),
                _ => None,
            })
            .collect();
    if used.len() > MAX_MAPS_PER_PROGRAM {
        let internal = used.iter().filter(|id| **id < FIRST_USER_MAP).count();
        l.errors.push(
            Diagnostic::error(format!(
                "this probe uses {} maps ({} of the program's and {internal} of trace's own); the kernel allows \
                 {MAX_MAPS_PER_PROGRAM} in one program",
                used.len(),
                used.len() - internal
            ))
            .at(span, "too many maps in this probe")
            .note("use fewer maps in one probe: one map with a key (`@m[\"a\"]`, `@m[\"b\"]`) instead of a map per value, or split the work across probes"),
        );
    }
    if l.errors.is_empty() {
        Ok((l.f, l.peak))
    } else {
        Err(l.errors)
    }
}

impl Lower<'_, '_> {
    pub fn emit(&mut self, insn: IrInsn) {
        let span = self.span;
        self.f.push(insn, span);
    }

    pub fn vreg(&mut self) -> VReg {
        self.f.new_vreg()
    }

    pub fn label(&mut self) -> Label {
        self.f.new_label()
    }

    /// `ctx = r1`; leave at once for the ignored process's events, and
    /// once the session is stopping (`STOP_MAP`); then
    /// `scratch = lookup(scratch_map, &0)` or leave.
    fn prologue(&mut self) {
        self.emit(IrInsn::Ctx { dst: self.ctx });
        let firing = self.spec.kind().firing();
        let on_event = matches!(firing, Firing::On(_) | Firing::OnSignal(_));
        let caused_by_a_process = matches!(firing, Firing::On(t) if !t.is_timer());
        if on_event {
            self.leave_when_stopping();
        }
        if let (Some(pid), true) = (self.t.opts.ignore_pid, caused_by_a_process) {
            let tgid = self.vreg();
            let h = helpers::GET_CURRENT_PID_TGID as u32;
            self.emit(IrInsn::Call { helper: h, args: vec![], ret: Some(tgid) });
            self.emit(IrInsn::Alu { op: AluOp::Rsh, dst: tgid, src: Operand::Imm(32) });
            let other = self.label();
            self.emit(IrInsn::Branch { op: JmpOp::Jne, a: tgid, b: Operand::Imm(pid as i32), target: other });
            self.emit(IrInsn::Exit);
            self.emit(IrInsn::Label(other));
        }
        let key = self.vreg();
        self.emit(IrInsn::StackAddr { dst: key, off: -8 });
        self.emit(IrInsn::Store { size: Size::DW, base: key, off: 0, src: Operand::Imm(0) });
        let map = self.vreg();
        let scratch = if self.spec.context().nmi { NMI_SCRATCH_MAP } else { SCRATCH_MAP };
        self.emit(IrInsn::LoadMap { dst: map, map: scratch });
        self.emit(IrInsn::Call { helper: 1, args: vec![map, key], ret: Some(self.scratch) });
        // Exits are local (a jump to one exit at the end would not reach
        // across a long probe: jump offsets are 16 bits).
        let ok = self.label();
        self.emit(IrInsn::Branch { op: JmpOp::Jne, a: self.scratch, b: Operand::Imm(0), target: ok });
        self.emit(IrInsn::Exit);
        self.emit(IrInsn::Label(ok));
    }

    /// Leave unless `STOP_MAP`'s word is zero (the key on the stack: the
    /// scratch buffer is not looked up yet).
    fn leave_when_stopping(&mut self) {
        let key = self.vreg();
        self.emit(IrInsn::StackAddr { dst: key, off: -8 });
        self.emit(IrInsn::Store { size: Size::DW, base: key, off: 0, src: Operand::Imm(0) });
        let map = self.vreg();
        self.emit(IrInsn::LoadMap { dst: map, map: STOP_MAP });
        let slot = self.vreg();
        self.emit(IrInsn::Call { helper: helpers::MAP_LOOKUP_ELEM as u32, args: vec![map, key], ret: Some(slot) });
        let (found, running) = (self.label(), self.label());
        self.emit(IrInsn::Branch { op: JmpOp::Jne, a: slot, b: Operand::Imm(0), target: found });
        self.emit(IrInsn::Exit);
        self.emit(IrInsn::Label(found));
        let word = self.vreg();
        self.emit(IrInsn::Load { size: Size::DW, dst: word, base: slot, off: 0 });
        self.emit(IrInsn::Branch { op: JmpOp::Jeq, a: word, b: Operand::Imm(0), target: running });
        self.emit(IrInsn::Exit);
        self.emit(IrInsn::Label(running));
    }

    /// Reserve `size` bytes (rounded to 8) of scratch space.
    pub fn alloc(&mut self, size: u32) -> u32 {
        let off = self.top;
        self.top += round8(size);
        self.peak = self.peak.max(self.top);
        off
    }

    pub fn imm(&mut self, v: i64) -> VReg {
        let r = self.vreg();
        self.emit(IrInsn::LoadImm { dst: r, imm: v });
        r
    }

    /// The value of a call that has none (`printf`, `exit`, ...): type
    /// checking keeps such calls out of expressions, so it is only ever
    /// discarded.
    pub fn void(&mut self) -> Val {
        let zero = self.imm(0);
        Val::Int(zero)
    }

    /// A state type checking excludes (an unresolved name, a builtin
    /// outside the probes that have it, ...): an internal-error diagnostic
    /// on the statement, so the program is never loaded, and a placeholder
    /// so lowering goes on to find any others.
    pub fn internal(&mut self, what: impl Display) -> Val {
        let d = Diagnostic::error(format!("internal error in code generation: {what}"))
            .at(self.span, "while compiling this")
            .note("type checking should have refused this; please report it with the program");
        self.errors.push(d);
        self.void()
    }

    /// A register holding `scratch + off`.
    pub fn addr(&mut self, off: u32) -> VReg {
        let r = self.vreg();
        self.emit(IrInsn::Mov { dst: r, src: self.scratch });
        if off != 0 {
            self.emit(IrInsn::Alu { op: AluOp::Add, dst: r, src: Operand::Imm(off as i32) });
        }
        r
    }

    pub fn store_scratch(&mut self, off: u32, src: Operand) {
        self.emit(IrInsn::Store { size: Size::DW, base: self.scratch, off: off as i16, src });
    }

    pub fn load_scratch(&mut self, off: u32) -> VReg {
        let r = self.vreg();
        self.emit(IrInsn::Load { size: Size::DW, dst: r, base: self.scratch, off: off as i16 });
        r
    }

    pub fn zero(&mut self, off: u32, size: u32) {
        for i in (0..round8(size)).step_by(8) {
            self.store_scratch(off + i, Operand::Imm(0));
        }
    }

    /// Copy `src_size` bytes from `base + src_off` to scratch `dst`, zero
    /// filling up to `dst_size` (sizes are multiples of 8).
    pub fn copy_from(&mut self, dst: u32, dst_size: u32, base: VReg, src_off: u32, src_size: u32) {
        let n = src_size.min(dst_size);
        for i in (0..n).step_by(8) {
            let r = self.vreg();
            self.emit(IrInsn::Load { size: Size::DW, dst: r, base, off: (src_off + i) as i16 });
            self.store_scratch(dst + i, Operand::Reg(r));
        }
        for i in (n..dst_size).step_by(8) {
            self.store_scratch(dst + i, Operand::Imm(0));
        }
    }

    /// Store a value into a scratch slot of `slot` bytes.
    pub fn store_val(&mut self, dst: u32, slot: u32, v: Val) {
        match v {
            Val::Int(r) => self.store_scratch(dst, Operand::Reg(r)),
            Val::Mem { off, size } => {
                if off != dst {
                    let s = self.scratch;
                    self.copy_from(dst, slot, s, off, size);
                }
            }
        }
    }

    pub fn block(&mut self, b: &Block) {
        for s in &b.stmts {
            self.stmt(s);
        }
    }

    fn stmt(&mut self, s: &Stmt) {
        let mark = self.top;
        self.span = s.span;
        match &s.kind {
            StmtKind::Expr(e) => {
                self.expr(e);
            }
            StmtKind::If { cond, then, els } => {
                let else_label = self.label();
                self.cond_false(cond, else_label);
                self.top = mark;
                self.block(then);
                match els {
                    Some(b) => {
                        let end = self.label();
                        self.emit(IrInsn::Jump(end));
                        self.emit(IrInsn::Label(else_label));
                        self.block(b);
                        self.emit(IrInsn::Label(end));
                    }
                    None => self.emit(IrInsn::Label(else_label)),
                }
            }
            StmtKind::AssignVar { name, op, value, .. } => {
                let v = self.expr(value);
                match (self.vars.get(name).copied(), v) {
                    (Some(VarHome::Reg(r, signed)), Val::Int(x)) => match op {
                        // C: the result has the variable's type (`>>=` on
                        // an unsigned variable shifts in zeros).
                        Some(op) => self.binop_into(*op, r, x, Type::Int { size: 8, signed }),
                        None => self.emit(IrInsn::Mov { dst: r, src: x }),
                    },
                    (Some(VarHome::Mem { off, size }), v) => {
                        let to = self.var_types.get(name).cloned().unwrap_or_default();
                        let v = self.convert(v, &value.ty, &to);
                        self.store_val(off, size, v)
                    }
                    (Some(VarHome::Reg(..)), Val::Mem { .. }) => {
                        self.internal(format!("a string assigned to the integer ${name}"));
                    }
                    (None, _) => {
                        self.internal(format!("${name} has no home"));
                    }
                }
            }
            StmtKind::AssignMap { map, op, value } => self.assign_map(map, *op, value),
            StmtKind::Loop(l) => self.loop_stmt(l, s.span),
            StmtKind::Jump(j) => self.jump(*j),
        }
        self.top = mark;
    }

    /// Branch to `target` when `e` is false (zero); fall through otherwise.
    pub fn cond_false(&mut self, e: &Expr, target: Label) {
        match &e.kind {
            ExprKind::Binary { op: BinOp::LogAnd, lhs, rhs } => {
                self.cond_false(lhs, target);
                self.cond_false(rhs, target);
            }
            ExprKind::Binary { op: BinOp::LogOr, lhs, rhs } => {
                let try_rhs = self.label();
                let holds = self.label();
                self.cond_false(lhs, try_rhs);
                self.emit(IrInsn::Jump(holds));
                self.emit(IrInsn::Label(try_rhs));
                self.cond_false(rhs, target);
                self.emit(IrInsn::Label(holds));
            }
            ExprKind::Binary { op, lhs, rhs } if op.is_comparison() && lhs.ty.is_scalar() && rhs.ty.is_scalar() => {
                let signed = is_signed(&lhs.ty) && is_signed(&rhs.ty);
                let a = self.int(lhs);
                // A literal that fits the instruction's immediate needs no register.
                let b = match rhs.kind {
                    ExprKind::Int(v) if i32::try_from(v).is_ok() => Operand::Imm(v as i32),
                    _ => Operand::Reg(self.int(rhs)),
                };
                let jop = jump_for(op.negate(), signed);
                self.emit(IrInsn::Branch { op: jop, a, b, target });
            }
            ExprKind::Unary { op: UnOp::Not, expr } => {
                let skip = self.label();
                self.cond_false(expr, skip);
                self.emit(IrInsn::Jump(target));
                self.emit(IrInsn::Label(skip));
            }
            _ => {
                let v = self.int(e);
                self.emit(IrInsn::Branch { op: JmpOp::Jeq, a: v, b: Operand::Imm(0), target });
            }
        }
    }
}

pub fn is_signed(t: &Type) -> bool {
    matches!(t, Type::Int { signed: true, .. })
}

/// The conditional jump that is taken when `a op b` holds.
pub fn jump_for(op: BinOp, signed: bool) -> JmpOp {
    match (op, signed) {
        (BinOp::Eq, _) => JmpOp::Jeq,
        (BinOp::Ne, _) => JmpOp::Jne,
        (BinOp::Lt, false) => JmpOp::Jlt,
        (BinOp::Le, false) => JmpOp::Jle,
        (BinOp::Gt, false) => JmpOp::Jgt,
        (BinOp::Ge, false) => JmpOp::Jge,
        (BinOp::Lt, true) => JmpOp::Jslt,
        (BinOp::Le, true) => JmpOp::Jsle,
        (BinOp::Gt, true) => JmpOp::Jsgt,
        (BinOp::Ge, true) => JmpOp::Jsge,
        _ => JmpOp::Jne,
    }
}

trait Negate {
    fn negate(self) -> BinOp;
}

impl Negate for BinOp {
    /// The comparison that holds exactly when `self` does not.
    fn negate(self) -> BinOp {
        match self {
            BinOp::Eq => BinOp::Ne,
            BinOp::Ne => BinOp::Eq,
            BinOp::Lt => BinOp::Ge,
            BinOp::Le => BinOp::Gt,
            BinOp::Gt => BinOp::Le,
            BinOp::Ge => BinOp::Lt,
            other => other,
        }
    }
}

#[cfg(test)]
#[path = "lower_tests.rs"]
mod tests;
