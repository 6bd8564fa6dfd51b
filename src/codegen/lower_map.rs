//! Lowering of map operations, aggregations and ring-buffer events.
//!
//! Map layouts are decided in `program.rs` (`MapDecl::for_user`); this file
//! must build keys and values exactly that way. Aggregations update this
//! CPU's slot of a per-CPU hash without atomics; userspace combines CPUs.

use super::insn::{AluOp, JmpOp, Size};
use super::ir::*;
use super::lower::{Lower, Val};
use super::program::{
    drop_counter, event, round8, slot_size, PrintfDecl, EVENTS_MAP, LOST_COUNTER, SCRATCH_MAP, STOP_MAP,
};
use crate::codegen::helpers;
use crate::frontend::ast::*;
use crate::frontend::passes::MapValue;
use crate::frontend::printf;
use crate::frontend::types::{AggKind, Type};

const BPF_ANY: i64 = 0;

impl Lower<'_, '_> {
    pub(super) fn map_id(&mut self, name: &str) -> MapId {
        match self.t.map_ids.get(name) {
            Some(id) => *id,
            None => {
                self.internal(format!("map @{name} has no id"));
                SCRATCH_MAP
            }
        }
    }

    /// What the map holds; a map that is only read, deleted or cleared
    /// holds integers (as `MapDecl::for_user` lays it out).
    fn map_value(&self, name: &str) -> MapValue {
        self.t.program.maps.get(name).and_then(|i| i.value).unwrap_or(MapValue::Int { signed: true })
    }

    /// Build `@m[k...]`'s key in scratch; `extra` bytes are left after the
    /// user key (the hist bucket). Returns (offset, user key size).
    pub(super) fn build_key(&mut self, m: &MapRef, extra: u32) -> (u32, u32) {
        let slots: Vec<Type> = match self.t.program.maps.get(&m.name) {
            Some(info) => info.keys.clone(),
            None => {
                self.internal(format!("map {} is not in the map table", m.display_name()));
                Vec::new()
            }
        };
        let user: u32 = slots.iter().map(slot_size).sum::<u32>().max(if slots.is_empty() { 8 } else { 0 });
        let off = self.alloc(user + extra);
        if slots.is_empty() {
            self.store_scratch(off, Operand::Imm(0));
        }
        let mut at = off;
        for (k, slot) in m.keys.iter().zip(&slots) {
            let v = self.expr(k);
            let v = self.convert(v, &k.ty, slot);
            let size = slot_size(slot);
            self.store_val(at, size, v);
            at += size;
        }
        (off, user)
    }

    fn lookup(&mut self, map: MapId, key_off: u32) -> VReg {
        let m = self.vreg();
        self.emit(IrInsn::LoadMap { dst: m, map });
        let k = self.addr(key_off);
        let p = self.vreg();
        self.emit(IrInsn::Call { helper: helpers::MAP_LOOKUP_ELEM as u32, args: vec![m, k], ret: Some(p) });
        p
    }

    /// Store the value at scratch `val_off` under the key at `key_off`. An
    /// update the kernel refuses (the map is full) is counted in the map's
    /// scratch counter for the session to report, never lost silently.
    fn update(&mut self, map: MapId, key_off: u32, val_off: u32) {
        let m = self.vreg();
        self.emit(IrInsn::LoadMap { dst: m, map });
        let k = self.addr(key_off);
        let v = self.addr(val_off);
        let fl = self.imm(BPF_ANY);
        let rc = self.vreg();
        self.emit(IrInsn::Call { helper: helpers::MAP_UPDATE_ELEM as u32, args: vec![m, k, v, fl], ret: Some(rc) });
        if map.0 < self.t.compiled.drop_counters {
            self.count_failure(rc, drop_counter(map));
        }
    }

    /// `scratch[counter] += 1` if the helper result `rc` is negative (an
    /// error), without a branch (see `program::LOST_COUNTER`). The sign is
    /// bit 31, not 63: before 6.4 the map operations return `int`, and the
    /// verifier turns `bpf_map_update_elem` into a direct call of the map's
    /// own function, so r0 holds a 32-bit -E2BIG with zeroed upper bits (on
    /// 6.1 a full map's refusals were never counted). Errors are small
    /// negative numbers either way, so bit 31 is set exactly for them.
    fn count_failure(&mut self, rc: VReg, counter: u32) {
        self.emit(IrInsn::Alu { op: AluOp::Lsh, dst: rc, src: Operand::Imm(32) });
        self.emit(IrInsn::Alu { op: AluOp::Rsh, dst: rc, src: Operand::Imm(63) });
        let n = self.load_scratch(counter);
        self.emit(IrInsn::Alu { op: AluOp::Add, dst: n, src: Operand::Reg(rc) });
        self.store_scratch(counter, Operand::Reg(n));
    }

    pub fn assign_map(&mut self, m: &MapRef, op: Option<BinOp>, value: &Expr) {
        let id = self.map_id(&m.name);
        if let Type::Agg(kind) = value.ty {
            match &value.kind {
                ExprKind::FnCall { args, .. } => self.aggregate(m, id, kind, &args.clone()),
                _ => {
                    self.internal("an aggregation that is not a call");
                }
            }
            return;
        }
        match op {
            Some(BinOp::Add) | Some(BinOp::Sub) => {
                let v = self.int(value);
                if op == Some(BinOp::Sub) {
                    self.emit(IrInsn::Alu { op: AluOp::Neg, dst: v, src: Operand::Imm(0) });
                }
                self.map_add(m, v);
            }
            Some(op) => {
                // The key is built once: `@a[@i++] *= 3` must not bump @i twice.
                let (key, _) = self.build_key(m, 0);
                let p = self.lookup(id, key);
                let cur = self.imm(0);
                let absent = self.label();
                self.emit(IrInsn::Branch { op: JmpOp::Jeq, a: p, b: Operand::Imm(0), target: absent });
                self.emit(IrInsn::Load { size: Size::DW, dst: cur, base: p, off: 0 });
                self.emit(IrInsn::Label(absent));
                let v = self.int(value);
                let signed = matches!(self.map_value(&m.name), MapValue::Int { signed: true });
                self.binop_into(op, cur, v, Type::Int { size: 8, signed });
                let val = self.alloc(8);
                self.store_scratch(val, Operand::Reg(cur));
                self.update(id, key, val);
            }
            None => {
                let v = self.expr(value);
                let (key, _) = self.build_key(m, 0);
                let size = match self.map_value(&m.name) {
                    MapValue::Str { size } => round8(size),
                    MapValue::Sym { .. } => 16,
                    MapValue::Composite => self.composite_value(&m.name).slot_size(),
                    _ => 8,
                };
                let to = self.composite_value(&m.name);
                let v = self.convert(v, &value.ty, &to);
                let val = self.alloc(size);
                self.store_val(val, size, v);
                self.update(id, key, val);
            }
        }
    }

    /// `@m[k] += delta` atomically; returns the new value.
    pub fn map_add(&mut self, m: &MapRef, delta: VReg) -> VReg {
        let id = self.map_id(&m.name);
        let (key, _) = self.build_key(m, 0);
        let p = self.lookup(id, key);
        let out = self.vreg();
        let init = self.label();
        let done = self.label();
        self.emit(IrInsn::Branch { op: JmpOp::Jeq, a: p, b: Operand::Imm(0), target: init });
        self.emit(IrInsn::AtomicAdd { size: Size::DW, base: p, off: 0, src: delta });
        self.emit(IrInsn::Load { size: Size::DW, dst: out, base: p, off: 0 });
        self.emit(IrInsn::Jump(done));
        self.emit(IrInsn::Label(init));
        let val = self.alloc(8);
        self.store_scratch(val, Operand::Reg(delta));
        self.update(id, key, val);
        self.emit(IrInsn::Mov { dst: out, src: delta });
        self.emit(IrInsn::Label(done));
        out
    }

    /// `@m[k]` as a value: zero (or an empty string) when absent.
    pub fn read_map(&mut self, m: &MapRef) -> Val {
        if let MapValue::Agg(kind) = self.map_value(&m.name) {
            return self.read_aggregation(m, kind);
        }
        let id = self.map_id(&m.name);
        let (key, _) = self.build_key(m, 0);
        let p = self.lookup(id, key);
        let done = self.label();
        match self.map_value(&m.name) {
            v @ (MapValue::Str { .. } | MapValue::Sym { .. } | MapValue::Composite) => {
                let size = match v {
                    MapValue::Str { size } => round8(size),
                    MapValue::Composite => self.composite_value(&m.name).slot_size(),
                    _ => 16,
                };
                let off = self.alloc(size);
                self.zero(off, size);
                self.emit(IrInsn::Branch { op: JmpOp::Jeq, a: p, b: Operand::Imm(0), target: done });
                self.copy_from(off, size, p, 0, size);
                self.emit(IrInsn::Label(done));
                Val::Mem { off, size }
            }
            _ => {
                let out = self.imm(0);
                self.emit(IrInsn::Branch { op: JmpOp::Jeq, a: p, b: Operand::Imm(0), target: done });
                self.emit(IrInsn::Load { size: Size::DW, dst: out, base: p, off: 0 });
                self.emit(IrInsn::Label(done));
                Val::Int(out)
            }
        }
    }

    pub fn delete(&mut self, m: &MapRef) {
        let id = self.map_id(&m.name);
        let (key, _) = self.build_key(m, 0);
        let map = self.vreg();
        self.emit(IrInsn::LoadMap { dst: map, map: id });
        let k = self.addr(key);
        self.emit(IrInsn::Call { helper: helpers::MAP_DELETE_ELEM as u32, args: vec![map, k], ret: None });
    }

    fn aggregate(&mut self, m: &MapRef, id: MapId, kind: AggKind, args: &[Expr]) {
        let v = match args.first() {
            Some(a) => self.int(a),
            None => self.imm(1),
        };
        match kind {
            AggKind::Count | AggKind::Sum => {
                let (key, _) = self.build_key(m, 0);
                self.percpu_add(id, key, &[(0, v)]);
            }
            AggKind::Avg | AggKind::Stats => {
                let (key, _) = self.build_key(m, 0);
                let one = self.imm(1);
                self.percpu_add(id, key, &[(0, one), (8, v)]);
            }
            AggKind::Min | AggKind::Max => {
                let (key, _) = self.build_key(m, 0);
                self.min_max(id, key, v, kind == AggKind::Min);
            }
            AggKind::Hist | AggKind::Lhist { .. } => {
                let (key, user) = self.build_key(m, 8);
                let bucket = match kind {
                    AggKind::Lhist { min, max, step } => self.lhist_bucket(v, min, max, step),
                    _ => self.log2_bucket(v),
                };
                self.store_scratch(key + user, Operand::Reg(bucket));
                let one = self.imm(1);
                self.percpu_add(id, key, &[(0, one)]);
            }
        }
    }

    /// Add each `(offset, value)` to this CPU's value, creating it if absent.
    fn percpu_add(&mut self, id: MapId, key: u32, fields: &[(i16, VReg)]) {
        let p = self.lookup(id, key);
        let init = self.label();
        let done = self.label();
        self.emit(IrInsn::Branch { op: JmpOp::Jeq, a: p, b: Operand::Imm(0), target: init });
        for (off, v) in fields {
            let cur = self.vreg();
            self.emit(IrInsn::Load { size: Size::DW, dst: cur, base: p, off: *off });
            self.emit(IrInsn::Alu { op: AluOp::Add, dst: cur, src: Operand::Reg(*v) });
            self.emit(IrInsn::Store { size: Size::DW, base: p, off: *off, src: Operand::Reg(cur) });
        }
        self.emit(IrInsn::Jump(done));
        self.emit(IrInsn::Label(init));
        let size = fields.iter().map(|(o, _)| *o as u32 + 8).max().unwrap_or(8);
        let val = self.alloc(size);
        for (off, v) in fields {
            self.store_scratch(val + *off as u32, Operand::Reg(*v));
        }
        self.update(id, key, val);
        self.emit(IrInsn::Label(done));
    }

    /// Value layout `[value, is_set]`.
    fn min_max(&mut self, id: MapId, key: u32, v: VReg, is_min: bool) {
        let p = self.lookup(id, key);
        let init = self.label();
        let set = self.label();
        let done = self.label();
        self.emit(IrInsn::Branch { op: JmpOp::Jeq, a: p, b: Operand::Imm(0), target: init });
        let flag = self.vreg();
        self.emit(IrInsn::Load { size: Size::DW, dst: flag, base: p, off: 8 });
        self.emit(IrInsn::Branch { op: JmpOp::Jeq, a: flag, b: Operand::Imm(0), target: set });
        let cur = self.vreg();
        self.emit(IrInsn::Load { size: Size::DW, dst: cur, base: p, off: 0 });
        let keep = if is_min { JmpOp::Jsge } else { JmpOp::Jsle };
        self.emit(IrInsn::Branch { op: keep, a: v, b: Operand::Reg(cur), target: done });
        self.emit(IrInsn::Label(set));
        self.emit(IrInsn::Store { size: Size::DW, base: p, off: 0, src: Operand::Reg(v) });
        self.emit(IrInsn::Store { size: Size::DW, base: p, off: 8, src: Operand::Imm(1) });
        self.emit(IrInsn::Jump(done));
        self.emit(IrInsn::Label(init));
        let val = self.alloc(16);
        self.store_scratch(val, Operand::Reg(v));
        self.store_scratch(val + 8, Operand::Imm(1));
        self.update(id, key, val);
        self.emit(IrInsn::Label(done));
    }

    /// bpftrace's log2 bucket: 0 for negatives, 1 for zero, 2 + floor(log2 v)
    /// otherwise. A branch-per-bit binary search (no loops in BPF).
    fn log2_bucket(&mut self, v: VReg) -> VReg {
        let out = self.imm(0);
        let done = self.label();
        self.emit(IrInsn::Branch { op: JmpOp::Jslt, a: v, b: Operand::Imm(0), target: done });
        self.emit(IrInsn::LoadImm { dst: out, imm: 1 });
        self.emit(IrInsn::Branch { op: JmpOp::Jeq, a: v, b: Operand::Imm(0), target: done });
        let x = self.vreg();
        self.emit(IrInsn::Mov { dst: x, src: v });
        self.emit(IrInsn::LoadImm { dst: out, imm: 2 });
        for shift in [32, 16, 8, 4, 2, 1] {
            let t = self.vreg();
            let skip = self.label();
            self.emit(IrInsn::Mov { dst: t, src: x });
            self.emit(IrInsn::Alu { op: AluOp::Rsh, dst: t, src: Operand::Imm(shift) });
            self.emit(IrInsn::Branch { op: JmpOp::Jeq, a: t, b: Operand::Imm(0), target: skip });
            self.emit(IrInsn::Mov { dst: x, src: t });
            self.emit(IrInsn::Alu { op: AluOp::Add, dst: out, src: Operand::Imm(shift) });
            self.emit(IrInsn::Label(skip));
        }
        self.emit(IrInsn::Label(done));
        out
    }

    /// 0 below `min`, n + 1 at or above `max`, else 1 + (v - min) / step.
    fn lhist_bucket(&mut self, v: VReg, min: i64, max: i64, step: i64) -> VReg {
        let n = (max - min) / step;
        let out = self.imm(0);
        let done = self.label();
        let lo = self.imm(min);
        self.emit(IrInsn::Branch { op: JmpOp::Jslt, a: v, b: Operand::Reg(lo), target: done });
        self.emit(IrInsn::LoadImm { dst: out, imm: n + 1 });
        let hi = self.imm(max);
        self.emit(IrInsn::Branch { op: JmpOp::Jsge, a: v, b: Operand::Reg(hi), target: done });
        self.emit(IrInsn::Mov { dst: out, src: v });
        self.emit(IrInsn::Alu { op: AluOp::Sub, dst: out, src: Operand::Reg(lo) });
        let st = self.imm(step);
        self.emit(IrInsn::Alu { op: AluOp::Div, dst: out, src: Operand::Reg(st) });
        self.emit(IrInsn::Alu { op: AluOp::Add, dst: out, src: Operand::Imm(1) });
        self.emit(IrInsn::Label(done));
        out
    }

    /// Send `size` bytes at scratch `off` to userspace; count a loss if the
    /// ring buffer is full.
    pub(super) fn output(&mut self, off: u32, size: u32) {
        self.output_flags(off, size, 0);
    }

    /// [`output`](Self::output) with `bpf_ringbuf_output` flags
    /// (`BPF_RB_FORCE_WAKEUP` wakes the session at once).
    pub(super) fn output_flags(&mut self, off: u32, size: u32, flags: i64) {
        let m = self.vreg();
        self.emit(IrInsn::LoadMap { dst: m, map: EVENTS_MAP });
        let data = self.addr(off);
        let n = self.imm(size as i64);
        let fl = self.imm(flags);
        let ret = self.vreg();
        self.emit(IrInsn::Call { helper: helpers::RINGBUF_OUTPUT as u32, args: vec![m, data, n, fl], ret: Some(ret) });
        self.count_failure(ret, LOST_COUNTER);
    }

    /// `exit(code)`'s mark in [`STOP_MAP`], set after its event: every
    /// probe stops at once, and a session whose ring buffer was too full
    /// for the event still ends, with its status (`1 | code << 8`).
    pub fn set_stop_flag(&mut self, code: i64) {
        let key = self.alloc(8);
        self.store_scratch(key, Operand::Imm(0));
        let m = self.vreg();
        self.emit(IrInsn::LoadMap { dst: m, map: STOP_MAP });
        let k = self.addr(key);
        let slot = self.vreg();
        self.emit(IrInsn::Call { helper: helpers::MAP_LOOKUP_ELEM as u32, args: vec![m, k], ret: Some(slot) });
        let missing = self.label();
        self.emit(IrInsn::Branch { op: JmpOp::Jeq, a: slot, b: Operand::Imm(0), target: missing });
        let mark = 1 | (code as i32 & 0xff) << 8;
        self.emit(IrInsn::Store { size: Size::DW, base: slot, off: 0, src: Operand::Imm(mark) });
        self.emit(IrInsn::Label(missing));
    }

    /// An event of u64 words `[kind, words...]`.
    pub fn simple_event(&mut self, kind: u64, words: &[i64]) {
        let size = 8 * (words.len() as u32 + 1);
        let off = self.alloc(size);
        self.store_scratch(off, Operand::Imm(kind as i32));
        for (i, w) in words.iter().enumerate() {
            let src = match i32::try_from(*w) {
                Ok(v) => Operand::Imm(v),
                Err(_) => Operand::Reg(self.imm(*w)),
            };
            self.store_scratch(off + 8 * (i as u32 + 1), src);
        }
        self.output(off, size);
    }

    /// `[kind, map index, words...]` for print/clear/zero of a whole map.
    pub fn map_event(&mut self, kind: u64, m: &MapRef, words: &[i64]) {
        let id = self.map_id(&m.name).0 as i64;
        let mut all = vec![id];
        all.extend_from_slice(words);
        self.simple_event(kind, &all);
    }

    pub fn printf(&mut self, args: &[Expr]) {
        let format = args.split_first().and_then(|(fmt, rest)| match &fmt.kind {
            ExprKind::Str(text) => printf::parse_format(text).ok().map(|pieces| (pieces, rest)),
            _ => None,
        });
        let Some((pieces, rest)) = format else {
            self.internal("printf() without a valid literal format");
            return;
        };
        let types: Vec<Type> = rest.iter().map(|a| a.ty.clone()).collect();
        self.t.compiled.printfs.push(PrintfDecl { pieces, args: types.clone() });
        let id = self.t.compiled.printfs.len() as i32 - 1;
        let size = 16 + types.iter().map(slot_size).sum::<u32>();
        let off = self.alloc(size);
        self.store_scratch(off, Operand::Imm(event::PRINTF as i32));
        self.store_scratch(off + 8, Operand::Imm(id));
        let mut at = off + 16;
        for (a, t) in rest.iter().zip(&types) {
            let v = self.expr(a);
            let slot = slot_size(t);
            self.store_val(at, slot, v);
            at += slot;
        }
        self.output(off, size);
    }

    pub fn print_value(&mut self, e: &Expr) {
        self.t.compiled.prints.push(e.ty.clone());
        let id = self.t.compiled.prints.len() as i32 - 1;
        let slot = slot_size(&e.ty);
        let off = self.alloc(16 + slot);
        self.store_scratch(off, Operand::Imm(event::PRINT_VALUE as i32));
        self.store_scratch(off + 8, Operand::Imm(id));
        let v = self.expr(e);
        self.store_val(off + 16, slot, v);
        self.output(off, 16 + slot);
    }
}
