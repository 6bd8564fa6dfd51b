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

    /// `ustack`, `ustack(N)`, `ustack(MODE)`, `ustack(MODE, N)`.
    fn stack_args(&mut self, user: bool, args: &mut [Expr], name_span: Span, span: Span) -> Type {
        let f = if user { Function::Ustack } else { Function::Kstack };
        let mut st = StackType { user, mode: StackMode::Bpftrace, limit: DEFAULT_STACK_LIMIT };
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
