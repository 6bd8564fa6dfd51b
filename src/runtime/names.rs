//! Naming what probes recorded as numbers: a stack value is a stack id
//! (and a process id) whose frames are in a stack-trace map; a symbol
//! value is an address (and a process id). [`Names`] reads the frames and
//! asks the session's [`Symbols`] for names, which caches them across
//! prints and REPL lines.
//!
//! A stack the kernel could not record prints as `[lost stack]` and is
//! reported once per session on stderr, with what to change; a stack with
//! no frames (a kernel stack in a uprobe, which runs in user mode) prints
//! as nothing, as bpftrace prints it.

use crate::codegen::lower_stack::split_stack_value;
use crate::codegen::program::{spill_map_name, stack_map_name, Compiled, MapDecl, SPILLED_STACK};
use crate::frontend::probes::{AttachTarget, Firing};
use crate::frontend::types::{StackType, Type};
use crate::runtime::decode;
use crate::runtime::maps::Map;
use crate::runtime::output::stack::{Frame, Stack};
use crate::runtime::output::value::Scalar;
use crate::runtime::symbols::Symbolizer;
use std::cell::RefCell;
use std::rc::Rc;

/// `bpf_get_stackid`'s error when there are no frames to record.
const EFAULT: i32 = 14;

/// Addresses at and above this are the kernel's (x86-64's upper half).
const KERNEL_START: u64 = 0xffff_8000_0000_0000;

/// Where a complete user stack ends: the functions that start a process
/// or a thread (glibc's, musl's, and the executable's `_start`).
const ROOTS: &[&str] = &[
    "_start",
    "__libc_start_call_main",
    "__libc_start_main",
    "__libc_start_main_impl",
    "start_thread",
    "clone",
    "clone3",
    "__clone",
    "__clone3",
    "thread_start",
    "libc_start_main_stage2",
    "start",
];

/// At most this many "truncated stack" warnings in a session (one per file
/// the stacks end in).
const MAX_TRUNCATION_WARNINGS: usize = 3;

/// A session's symbolizer and what it has already said.
pub struct Symbols {
    pub symbolizer: Symbolizer,
    /// Lost stacks were reported.
    warned_lost: bool,
    /// Files whose truncated stacks were reported.
    warned_truncated: Vec<Rc<str>>,
}

impl Symbols {
    pub fn new() -> Symbols {
        Symbols { symbolizer: Symbolizer::new(), warned_lost: false, warned_truncated: Vec::new() }
    }

    /// A user stack that stops short of a process's or thread's first
    /// function, before its depth limit, was cut where frame pointers are
    /// missing: say so once per file, with the remedy.
    fn check_truncated(&mut self, stack: &Stack, limit: u32) {
        let Some(last) = stack.frames.last() else { return };
        if stack.frames.len() >= limit as usize || self.warned_truncated.len() >= MAX_TRUNCATION_WARNINGS {
            return;
        }
        let root = |f: &Frame| f.symbol.as_deref().is_some_and(|s| ROOTS.contains(&s));
        if root(last) {
            return;
        }
        let Some(module) = last.module.clone() else { return };
        if self.warned_truncated.contains(&module) {
            return;
        }
        crate::diag::warn(format_args!(
            "user stacks end early in {module} (at {}): code built without frame pointers cuts them short; \
             rebuild it with -fno-omit-frame-pointer (see the README, \"Stacks\")",
            last.with_offset()
        ));
        self.warned_truncated.push(module);
    }

    /// Symbols for a session running `compiled`'s probes: the binaries
    /// uprobes and USDT probes attach to are where the code of a process
    /// gone before its mappings were read is looked for.
    pub fn for_probes(compiled: &Compiled, command: Option<&str>) -> Symbols {
        let mut symbols = Symbols::new();
        symbols.add_probes(compiled);
        symbols.symbolizer.add_candidates(command.and_then(crate::sys::command_program));
        symbols
    }

    /// Remember the binaries of more probes (a REPL line).
    pub fn add_probes(&mut self, compiled: &Compiled) {
        let binaries = compiled.probes.iter().filter_map(|p| match p.resolved.spec.kind().firing() {
            Firing::On(AttachTarget::Uprobe { binary, .. }) => Some(binary.to_path_buf()),
            _ => None,
        });
        self.symbolizer.add_candidates(binaries.collect::<Vec<_>>());
    }
}

impl Default for Symbols {
    fn default() -> Self {
        Symbols::new()
    }
}

/// The maps a session's values refer to, and its symbols.
pub struct Names<'a> {
    /// By map id.
    pub decls: &'a [MapDecl],
    /// By map id.
    pub maps: &'a [Map],
    pub symbols: &'a RefCell<Symbols>,
}

impl Names<'_> {
    /// Decode one value of `ty` from `bytes`, naming stacks and symbols.
    pub fn scalar(&self, ty: &Type, bytes: &[u8]) -> Scalar {
        let word = |i: usize| bytes.get(8 * i..8 * i + 8).and_then(|b| b.try_into().ok()).map_or(0, u64::from_le_bytes);
        match ty {
            Type::Stack(st) => Scalar::Stack(Rc::new(self.stack(*st, word(0)))),
            Type::Sym { user } => Scalar::Str(self.symbol(*user, word(0), word(1) as u32).name()),
            t if t.is_aggregate() => crate::runtime::aggregate::decode(self, t, bytes),
            other => decode::scalar(other, bytes),
        }
    }

    /// A process was first seen recording user addresses; `ips` and
    /// `build_ids` are its user stack then, as addresses and as the
    /// kernel resolved them (see `symbols/anchors.rs`).
    pub fn note_process(&self, pid: u32, ips: &[u8], build_ids: &[u8]) {
        let anchors = crate::runtime::symbols::decode_anchors(ips, build_ids);
        self.symbols.borrow_mut().symbolizer.note_process_anchored(pid, &anchors);
    }

    fn symbol(&self, user: bool, addr: u64, pid: u32) -> Frame {
        let mut symbols = self.symbols.borrow_mut();
        if user && addr < KERNEL_START {
            symbols.symbolizer.user(pid, addr)
        } else {
            symbols.symbolizer.kernel(addr)
        }
    }

    fn stack(&self, st: StackType, value: u64) -> Stack {
        let (id, pid) = split_stack_value(value, st);
        let mut stack = Stack { mode: st.mode, user: st.user, frames: Vec::new(), lost: false };
        if id == -EFAULT {
            return stack;
        }
        let addrs = if id < 0 { None } else { self.frames(st, id as u32) };
        let Some(addrs) = addrs else {
            stack.lost = true;
            self.warn_lost(st, id);
            return stack;
        };
        let mut symbols = self.symbols.borrow_mut();
        for a in addrs {
            let frame = if st.user && a < KERNEL_START {
                symbols.symbolizer.user(pid, a)
            } else {
                symbols.symbolizer.kernel(a)
            };
            stack.frames.push(frame);
        }
        if st.user {
            symbols.check_truncated(&stack, st.limit);
        }
        stack
    }

    /// The addresses of stack `id` (up to the first zero), or `None` when
    /// the map does not have it.
    fn frames(&self, st: StackType, id: u32) -> Option<Vec<u64>> {
        let (name, id) =
            if id & SPILLED_STACK != 0 { (spill_map_name(st), id & !SPILLED_STACK) } else { (stack_map_name(st), id) };
        let map = self.decls.iter().position(|d| d.user.is_none() && d.name == name).and_then(|i| self.maps.get(i))?;
        let bytes = map.lookup(&id.to_le_bytes()).ok().flatten()?;
        let words = bytes.chunks_exact(8).map(|w| u64::from_le_bytes(w.try_into().unwrap_or([0; 8])));
        Some(words.take_while(|&a| a != 0).collect())
    }

    fn warn_lost(&self, st: StackType, id: i32) {
        let mut symbols = self.symbols.borrow_mut();
        if symbols.warned_lost {
            return;
        }
        symbols.warned_lost = true;
        let why = match id.wrapping_neg() {
            _ if id >= 0 => "it was no longer in the stack map".to_string(),
            libc::EEXIST => "other stacks held its hash bucket in the stack map and its spill map".to_string(),
            libc::ENOMEM => "the stack map was full".to_string(),
            e => format!("error {e}"),
        };
        crate::diag::warn(format_args!(
            "some {} values could not be recorded ({why}); they print as [lost stack]. A larger stack map \
             (--max-map-keys) makes this rarer",
            st.name()
        ));
    }
}
