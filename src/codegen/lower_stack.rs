//! Lowering of stacks and symbols: `ustack`/`kstack`, `usym`/`ksym`,
//! `reg("name")`.
//!
//! A stack costs the probe one helper call: `bpf_get_stackid` hashes the
//! frames into a stack-trace map (one per user/kernel and depth) and
//! returns the id; the value is that id, and for a user stack the process
//! id in the upper half, since user addresses mean nothing without the
//! process's mappings. Userspace reads the frames by id and names them
//! (`runtime/symbols/`). A stack whose hash bucket another stack holds
//! gets a second chance in a spill map (`program::spill_map_name`); a
//! negative id after that (no room, the bucket taken there too) is kept as
//! the helper returned it, and prints as a lost stack and is reported,
//! never as an empty one.
//!
//! Addresses of user processes are named through the process's mappings,
//! which are gone once it exits. So the first time a probe records a user
//! stack or symbol of a process, it says so (an [`event::PROCESS`] event,
//! announced once per process through [`PROCESSES_MAP`]), and the session
//! reads the mappings while the process still runs.

use super::helpers;
use super::insn::{AluOp, JmpOp, Size};
use super::ir::*;
use super::lower::{Lower, Val};
use super::program::*;
use crate::frontend::ast::*;
use crate::frontend::types::StackType;
use crate::sys::MapKind;

/// `bpf_get_stackid`'s flag for the user stack.
const BPF_F_USER_STACK: i64 = 1 << 8;
/// `bpf_get_stack`: user frames as `struct bpf_stack_build_id`.
const BPF_F_USER_BUILD_ID: i64 = 1 << 11;
/// Frames of a process's first stack sent with its announcement.
pub const ANCHOR_FRAMES: u32 = 16;
/// `bpf_ringbuf_output`: wake the reader now.
const BPF_RB_FORCE_WAKEUP: i64 = 2;
/// `bpf_map_update_elem`: only if absent.
const BPF_NOEXIST: i64 = 1;

impl Lower<'_, '_> {
    /// `ustack`/`kstack` of type `st`: the stack id, with the process id in
    /// the upper 32 bits for a user stack.
    pub(super) fn stack(&mut self, st: StackType) -> Val {
        let entries = stack_map_entries(st, self.t.opts.map_entries());
        let map = self.internal_map(&stack_map_name(st), MapKind::StackTrace, 4, 8 * st.limit, entries);
        let id = self.get_stackid(map, st);
        // A hash bucket taken by another stack: try the spill map, whose
        // buckets are spread differently (see `SPILLED_STACK`).
        let done = self.label();
        self.emit(IrInsn::Branch { op: JmpOp::Jne, a: id, b: Operand::Imm(-libc::EEXIST), target: done });
        let spill_entries = (entries / 2).max(MIN_SPILL_ENTRIES);
        let spill = self.internal_map(&spill_map_name(st), MapKind::StackTrace, 4, 8 * st.limit, spill_entries);
        let again = self.get_stackid(spill, st);
        self.emit(IrInsn::Mov { dst: id, src: again });
        self.emit(IrInsn::Branch { op: JmpOp::Jslt, a: id, b: Operand::Imm(0), target: done });
        self.emit(IrInsn::Alu { op: AluOp::Or, dst: id, src: Operand::Imm(SPILLED_STACK as i32) });
        self.emit(IrInsn::Label(done));
        if st.user {
            // (pid << 32) | (id as u32)
            self.emit(IrInsn::Alu { op: AluOp::Lsh, dst: id, src: Operand::Imm(32) });
            self.emit(IrInsn::Alu { op: AluOp::Rsh, dst: id, src: Operand::Imm(32) });
            let pid = self.current_pid();
            self.announce_process(pid);
            self.emit(IrInsn::Alu { op: AluOp::Lsh, dst: pid, src: Operand::Imm(32) });
            self.emit(IrInsn::Alu { op: AluOp::Or, dst: id, src: Operand::Reg(pid) });
        }
        Val::Int(id)
    }

    /// `usym(a)` / `ksym(a)`: the address and the process id (0 for a
    /// kernel symbol), 16 bytes.
    pub(super) fn symbol(&mut self, user: bool, addr: &Expr) -> Val {
        let a = self.int(addr);
        let off = self.alloc(16);
        self.store_scratch(off, Operand::Reg(a));
        if user {
            let pid = self.current_pid();
            self.announce_process(pid);
            self.store_scratch(off + 8, Operand::Reg(pid));
        } else {
            self.store_scratch(off + 8, Operand::Imm(0));
        }
        Val::Mem { off, size: 16 }
    }

    /// `reg("name")`: a saved register (type checking checked the name
    /// and that the probe has registers).
    pub(super) fn register(&mut self, name: &Expr) -> Val {
        let ExprKind::Str(name) = &name.kind else { return self.internal("reg() of something not a literal") };
        match crate::arch::user_reg_offset(name) {
            Some(off) => {
                let r = self.vreg();
                self.emit(IrInsn::Load { size: Size::DW, dst: r, base: self.ctx, off: off as i16 });
                Val::Int(r)
            }
            None => self.internal(format!("reg(\"{name}\") is not a register")),
        }
    }

    fn get_stackid(&mut self, map: MapId, st: StackType) -> VReg {
        let m = self.vreg();
        self.emit(IrInsn::LoadMap { dst: m, map });
        let flags = self.imm(if st.user { BPF_F_USER_STACK } else { 0 });
        let id = self.vreg();
        self.emit(IrInsn::Call { helper: helpers::GET_STACKID as u32, args: vec![self.ctx, m, flags], ret: Some(id) });
        id
    }

    /// The current process id (the upper half of `pid_tgid`).
    fn current_pid(&mut self) -> VReg {
        let r = self.vreg();
        self.emit(IrInsn::Call { helper: helpers::GET_CURRENT_PID_TGID as u32, args: vec![], ret: Some(r) });
        self.emit(IrInsn::Alu { op: AluOp::Rsh, dst: r, src: Operand::Imm(32) });
        r
    }

    /// The first time process `pid` is seen here, tell userspace (see the
    /// module docs): a lookup on every call, an update and an event once
    /// per process.
    fn announce_process(&mut self, pid: VReg) {
        let entries = self.t.opts.map_entries();
        let map = self.internal_map(PROCESSES_MAP, MapKind::Hash, 4, 8, entries);
        let mark = self.top;
        let key = self.alloc(16);
        self.store_scratch(key, Operand::Reg(pid));
        self.store_scratch(key + 8, Operand::Imm(0));
        let done = self.label();
        let m = self.vreg();
        self.emit(IrInsn::LoadMap { dst: m, map });
        let k = self.addr(key);
        let seen = self.vreg();
        self.emit(IrInsn::Call { helper: helpers::MAP_LOOKUP_ELEM as u32, args: vec![m, k], ret: Some(seen) });
        self.emit(IrInsn::Branch { op: JmpOp::Jne, a: seen, b: Operand::Imm(0), target: done });
        let m = self.vreg();
        self.emit(IrInsn::LoadMap { dst: m, map });
        let k = self.addr(key);
        let v = self.addr(key + 8);
        let fl = self.imm(BPF_NOEXIST);
        let rc = self.vreg();
        self.emit(IrInsn::Call { helper: helpers::MAP_UPDATE_ELEM as u32, args: vec![m, k, v, fl], ret: Some(rc) });
        // Another CPU announced it first, or the map is full (then the
        // session reads the mappings when it prints, if the process lives).
        self.emit(IrInsn::Branch { op: JmpOp::Jne, a: rc, b: Operand::Imm(0), target: done });
        // The event carries the user stack twice: as addresses, and as the
        // kernel resolves it to files by build id (for a process gone
        // before its mappings are read: `runtime/symbols/anchors.rs`).
        let (ips, ids) = (ANCHOR_FRAMES * 8, ANCHOR_FRAMES * 32);
        let ev = self.alloc(32 + ips + ids);
        self.store_scratch(ev, Operand::Imm(event::PROCESS as i32));
        self.store_scratch(ev + 8, Operand::Reg(pid));
        for (at, size, flags) in
            [(ev + 32, ips, BPF_F_USER_STACK), (ev + 32 + ips, ids, BPF_F_USER_STACK | BPF_F_USER_BUILD_ID)]
        {
            let buf = self.addr(at);
            let n = self.imm(size as i64);
            let fl = self.imm(flags);
            let got = self.vreg();
            self.emit(IrInsn::Call {
                helper: helpers::GET_STACK as u32,
                args: vec![self.ctx, buf, n, fl],
                ret: Some(got),
            });
            let slot = if flags & BPF_F_USER_BUILD_ID != 0 { ev + 24 } else { ev + 16 };
            self.store_scratch(slot, Operand::Reg(got));
        }
        // Woken at once: the mappings must be read before the process
        // exits.
        self.output_flags(ev, 32 + ips + ids, BPF_RB_FORCE_WAKEUP);
        self.emit(IrInsn::Label(done));
        self.top = mark;
    }

    /// The id of internal map `name`, declared on first use.
    fn internal_map(&mut self, name: &str, kind: MapKind, key_size: u32, value_size: u32, max_entries: u32) -> MapId {
        let maps = &mut self.t.compiled.maps;
        if let Some(id) = maps.iter().position(|m| m.user.is_none() && m.name == name) {
            return MapId(id as u32);
        }
        maps.push(MapDecl { name: name.into(), kind, key_size, value_size, max_entries, user: None });
        MapId(maps.len() as u32 - 1)
    }
}

/// What a stack map may take of kernel memory by default (they are
/// preallocated): more entries than `--max-map-keys` when the stacks are
/// short, since fewer collisions lose fewer stacks.
const STACK_MAP_BUDGET: u32 = 8 << 20;
/// The most entries a stack map gets from the budget.
const MAX_STACK_ENTRIES: u32 = 1 << 20;

/// Entries of the stack map of `st`: the map limit, or what the budget
/// affords at its depth if more (8,256 at the default 127 frames, 104,857
/// at 10).
pub fn stack_map_entries(st: StackType, map_entries: u32) -> u32 {
    (STACK_MAP_BUDGET / (8 * st.limit.max(1))).min(MAX_STACK_ENTRIES).max(map_entries)
}

/// The smallest spill map.
const MIN_SPILL_ENTRIES: u32 = 256;

/// A stack value's id half and process half (a spilled stack's id has
/// [`SPILLED_STACK`] set).
pub fn split_stack_value(value: u64, st: StackType) -> (i32, u32) {
    let id = value as u32 as i32;
    let pid = if st.user { (value >> 32) as u32 } else { 0 };
    (id, pid)
}
