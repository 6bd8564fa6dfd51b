//! Type checking of the stack and symbol functions: `ustack(...)`,
//! `kstack(...)` (mode and depth), `usym(a)`, `ksym(a)`, `uaddr("sym")`,
//! `kaddr("sym")` and `reg("name")`.
//!
//! The depth of a stack is part of its type (it picks the stack-trace map
//! the stack is captured into), so it must be a literal, as in bpftrace;
//! so must the mode (`perf`, `raw`, `bpftrace`), written as a bare word.
//! Addresses of symbols are looked up here, once, and become literals.

use super::typeck::Cx;
use crate::diag::Diagnostic;
use crate::frontend::ast::*;
use crate::frontend::builtins::{Function, DEFAULT_STACK_LIMIT};
use crate::frontend::types::{StackMode, StackType, Type};
use crate::source::Span;
use std::path::Path;

/// The most frames the kernel keeps in one stack
/// (`kernel.perf_event_max_stack`, 127 unless changed).
pub fn max_stack_frames() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/perf_event_max_stack")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(DEFAULT_STACK_LIMIT)
}

impl Cx<'_> {
    /// One of this file's functions; `None` for any other.
    pub(super) fn stack_call(&mut self, f: Function, args: &mut [Expr], name_span: Span, span: Span) -> Option<Type> {
        Some(match f {
            Function::Ustack | Function::Kstack => self.stack_args(f == Function::Ustack, args, name_span, span),
            Function::Usym | Function::Ksym => {
                if args.len() != 1 {
                    self.arity(f, name_span, 1, args.len(), span);
                    return Some(Type::Unknown);
                }
                let t = self.expr(&mut args[0]);
                self.want_int(&t, args[0].span, &format!("{}()'s address", f.name()));
                Type::Sym { user: f == Function::Usym }
            }
            Function::Reg => {
                let Some(name) = self.literal_arg(f, args, name_span, span) else { return Some(Type::Unknown) };
                if !self.spec.context().regs {
                    self.error(
                        Diagnostic::error(format!("reg() is not available in `{}`", self.probe_name))
                            .at(span, "no saved registers here")
                            .note("reg() reads the registers kprobes, uprobes, USDT probes, profile and interval see"),
                    );
                    return Some(Type::Unknown);
                }
                if crate::arch::user_reg_offset(&name).is_none() {
                    let names = crate::arch::user_reg_names().collect::<Vec<_>>().join(", ");
                    self.error(
                        Diagnostic::error(format!("unknown register `{name}`"))
                            .at(args[0].span, "not an x86-64 register")
                            .note(format!("registers: {names}")),
                    );
                    return Some(Type::Unknown);
                }
                Type::U64
            }
            _ => return None,
        })
    }

    /// `uaddr("name")`, `kaddr("name")`: replaced by the address, once.
    /// In a position-independent binary the address is only known at run
    /// time: where the uprobe fires, `reg("ip")` minus the probed
    /// instruction's link-time address places the binary.
    pub(super) fn address_call(&mut self, e: &mut Expr) -> Option<Type> {
        let span = e.span;
        let ExprKind::FnCall { func: f @ (Function::Uaddr | Function::Kaddr), name_span, args } = &mut e.kind else {
            return None;
        };
        let (f, name_span) = (*f, *name_span);
        let name = self.literal_arg(f, args, name_span, span)?;
        let arg_span = args[0].span;
        let kind = if f == Function::Kaddr {
            self.kernel_symbol(&name, arg_span)?
        } else {
            self.user_symbol(&name, arg_span)?
        };
        // An address: unsigned, as kernel addresses have the top bit set.
        let ty = TypeName { tag: None, name: "uint64".into(), pointers: 0, span };
        e.kind = ExprKind::Cast { ty, expr: Box::new(Expr { kind, span, ty: Type::Unknown }) };
        Some(self.expr(e))
    }

    fn kernel_symbol(&mut self, name: &str, span: Span) -> Option<ExprKind> {
        match crate::frontend::kfuncs::kernel_address(name) {
            Ok(Some(addr)) => Some(ExprKind::Int(addr as i64)),
            Ok(None) => {
                self.error(Diagnostic::error(format!("no kernel symbol `{name}`")).at(span, "not in /proc/kallsyms"));
                None
            }
            Err(why) => {
                self.error(Diagnostic::error(format!("cannot look up kernel symbol `{name}`: {why}")).at(span, "here"));
                None
            }
        }
    }

    fn user_symbol(&mut self, name: &str, span: Span) -> Option<ExprKind> {
        let context = self.spec.context();
        let Some(binary) = context.binary.map(Path::to_path_buf) else {
            self.error(
                Diagnostic::error(format!("uaddr() is not available in `{}`", self.probe_name))
                    .at(span, "no binary to look in")
                    .note("uaddr() looks the symbol up in the binary of a uprobe or uretprobe"),
            );
            return None;
        };
        let found = match crate::frontend::elf::address_of(&binary, name) {
            Ok(Some(found)) => found,
            Ok(None) => {
                self.error(
                    Diagnostic::error(format!("no symbol `{name}` in {}", binary.display()))
                        .at(span, "not in its symbol tables"),
                );
                return None;
            }
            Err(e) => {
                self.error(Diagnostic::error(e.to_string()).at(span, "looking up this symbol"));
                return None;
            }
        };
        if !found.pie {
            return Some(ExprKind::Int(found.vaddr as i64));
        }
        let entry = context.entry_offset.and_then(|off| crate::frontend::elf::open(&binary).ok()?.vaddr_of_offset(off));
        let Some(entry) = entry else {
            self.error(
                Diagnostic::error(format!(
                    "uaddr() in `{}`: {} is position-independent",
                    self.probe_name,
                    binary.display()
                ))
                .at(span, "its load address is unknown here")
                .note(
                    "where a uprobe fires on entry, the instruction pointer places the binary: use uaddr() in a uprobe",
                ),
            );
            return None;
        };
        // reg("ip") - entry + vaddr
        let lit = |k: ExprKind| Box::new(Expr { kind: k, span, ty: Type::Unknown });
        let ip = ExprKind::Call {
            name: "reg".into(),
            name_span: span,
            args: vec![Expr { kind: ExprKind::Str("ip".into()), span, ty: Type::Unknown }],
        };
        let bias = ExprKind::Binary { op: BinOp::Sub, lhs: lit(ip), rhs: lit(ExprKind::Int(entry as i64)) };
        Some(ExprKind::Binary { op: BinOp::Add, lhs: lit(bias), rhs: lit(ExprKind::Int(found.vaddr as i64)) })
    }

    /// `ustack`, `ustack(N)`, `ustack(MODE)`, `ustack(MODE, N)`.
    fn stack_args(&mut self, user: bool, args: &mut [Expr], name_span: Span, span: Span) -> Type {
        let f = if user { Function::Ustack } else { Function::Kstack };
        let mode = self.params.settings.stack_mode.unwrap_or(StackMode::Bpftrace);
        let mut st = StackType { user, mode, limit: DEFAULT_STACK_LIMIT };
        if args.len() > 2 {
            self.arity(f, name_span, 2, args.len(), span);
            return Type::Unknown;
        }
        let max = max_stack_frames();
        st.limit = st.limit.min(max);
        let nargs = args.len();
        for (i, a) in args.iter_mut().enumerate() {
            match &a.kind {
                ExprKind::Ident(word) if i == 0 => match stack_mode(word) {
                    Some(mode) => st.mode = mode,
                    None => {
                        self.error(
                            Diagnostic::error(format!("unknown stack mode `{word}`"))
                                .at(a.span, "not a stack mode")
                                .note("modes: bpftrace, perf, raw"),
                        );
                        return Type::Unknown;
                    }
                },
                ExprKind::Int(n) if i + 1 == nargs => {
                    if *n < 1 || *n > i64::from(max) {
                        self.error(
                            Diagnostic::error(format!("{}() keeps 1 to {max} frames", f.name()))
                                .at(a.span, format!("{n} frames"))
                                .note("the kernel's limit is kernel.perf_event_max_stack"),
                        );
                        return Type::Unknown;
                    }
                    st.limit = *n as u32;
                }
                _ => {
                    let want = if i == 0 && nargs == 2 {
                        "a stack mode (bpftrace, perf, raw)"
                    } else {
                        "a stack mode or a number of frames, as a literal"
                    };
                    self.error(Diagnostic::error(format!("{}() takes {want}", f.name())).at(a.span, "not that"));
                    return Type::Unknown;
                }
            }
            if let ExprKind::Int(_) = a.kind {
                a.ty = Type::I64;
            }
        }
        Type::Stack(st)
    }

    /// The one string-literal argument of `f`.
    fn literal_arg(&mut self, f: Function, args: &mut [Expr], name_span: Span, span: Span) -> Option<String> {
        if args.len() != 1 {
            self.arity(f, name_span, 1, args.len(), span);
            return None;
        }
        let ExprKind::Str(s) = &args[0].kind else {
            self.error(
                Diagnostic::error(format!("{}()'s argument must be a string literal", f.name()))
                    .at(args[0].span, "not a literal"),
            );
            return None;
        };
        let s = s.clone();
        self.expr(&mut args[0]);
        Some(s)
    }
}

fn stack_mode(word: &str) -> Option<StackMode> {
    [StackMode::Bpftrace, StackMode::Perf, StackMode::Raw].into_iter().find(|m| m.name() == word)
}
