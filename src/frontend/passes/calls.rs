//! Type checking of calls to builtin functions: `str`, `printf` (format
//! against arguments), `print`, `exit`, `time`, `delete`, `clear`, `zero`,
//! and the refusal of aggregations outside map assignments.

use super::typeck::Cx;
use crate::diag::Diagnostic;
use crate::frontend::ast::*;
use crate::frontend::builtins::{self, Function};
use crate::frontend::passes::MapValue;
use crate::frontend::printf::{self, ArgKind, Piece};
use crate::frontend::types::{AggKind, Type, MAX_STR_SIZE, STR_SIZE};
use crate::source::Span;

impl Cx<'_> {
    pub(super) fn call(&mut self, e: &mut Expr) -> Type {
        let span = e.span;
        if resolve_call(e).is_none() {
            let ExprKind::Call { name, name_span, args } = &mut e.kind else { return Type::Unknown };
            let name_span = *name_span;
            let mut d = Diagnostic::error(format!("unknown function `{name}`")).at(name_span, "not a function");
            if builtins::UNSUPPORTED_FUNCTIONS.contains(&name.as_str()) {
                d = Diagnostic::error(format!("`{name}()` is a bpftrace function that trace does not support yet"))
                    .at(name_span, "not supported yet");
            } else if let Some(s) = builtins::closest(name, builtins::function_names()) {
                d = d.note(format!("did you mean `{s}()`?"));
            }
            self.error(d);
            for a in args.iter_mut() {
                self.expr(a);
            }
            return Type::Unknown;
        }
        if let Some(t) = self.address_call(e) {
            return t;
        }
        let ExprKind::FnCall { func: f, name_span, args } = &mut e.kind else { return Type::Unknown };
        let (f, name_span, name) = (*f, *name_span, f.name());
        if f.is_aggregation() {
            self.error(
                Diagnostic::error(format!("{name}() can only be assigned to a map"))
                    .at(span, format!("write `@x = {name}(...)`")),
            );
            return Type::Unknown;
        }
        match f {
            Function::Str => {
                if args.is_empty() || args.len() > 2 {
                    self.arity(f, name_span, 1, args.len(), span);
                    return Type::Unknown;
                }
                positional_text(&mut args[0], &self.params.args);
                let t = self.expr(&mut args[0]);
                if t.is_str() {
                    return t;
                }
                self.want_int(&t, args[0].span, "str()'s pointer");
                let mut size = self.params.settings.max_strlen.unwrap_or(STR_SIZE);
                if let Some(n) = args.get_mut(1) {
                    let nt = self.expr(n);
                    self.want_int(&nt, n.span, "str()'s length");
                    if let ExprKind::Int(v) = n.kind {
                        size = (v.clamp(0, MAX_STR_SIZE as i64 - 1) as u32) + 1;
                    }
                }
                Type::Str { size }
            }
            Function::Printf => {
                self.printf(args, name_span, span);
                Type::Void
            }
            Function::Print => {
                let nargs = args.len();
                match args.first_mut().map(|a| &mut a.kind) {
                    Some(ExprKind::Map(m)) if m.keys.is_empty() => {
                        let name = m.name.clone();
                        self.maps.note_read(&name, args[0].span);
                        args[0].ty = Type::MapHandle;
                        let ms = args[0].span;
                        self.maps.use_whole(&name, ms);
                        for a in args.iter_mut().skip(1) {
                            let t = self.expr(a);
                            if !matches!(a.kind, ExprKind::Int(_)) {
                                self.error(
                                    Diagnostic::error("print()'s top and divisor must be integer literals")
                                        .at(a.span, format!("{t}")),
                                );
                            }
                        }
                        if args.len() > 3 {
                            self.arity(f, name_span, 3, args.len(), span);
                        }
                    }
                    Some(_) if nargs == 1 => {
                        let t = self.value_expr(&mut args[0]);
                        let whole = t.is_aggregate() && self.whole_value(&t, args[0].span);
                        if !(t.is_scalar() || t.is_str() || t.is_symbolized() || whole || t == Type::Unknown) {
                            self.error(
                                Diagnostic::error(format!("cannot print {t}")).at(args[0].span, "not printable"),
                            );
                        }
                    }
                    _ => self.arity(f, name_span, 1, nargs, span),
                }
                Type::Void
            }
            Function::Exit => {
                match &mut args[..] {
                    [] => {}
                    [code] => {
                        let t = self.expr(code);
                        match code.kind {
                            ExprKind::Int(v) if (0..=255).contains(&v) => {}
                            _ if t == Type::Unknown => {}
                            _ => self.error(
                                Diagnostic::error("exit()'s status must be an integer literal from 0 to 255")
                                    .at(code.span, "trace's exit status"),
                            ),
                        }
                    }
                    _ => self.arity(f, name_span, 1, args.len(), span),
                }
                Type::Void
            }
            Function::Time => {
                match args.len() {
                    0 => {}
                    1 if matches!(args[0].kind, ExprKind::Str(_)) => {
                        self.expr(&mut args[0]);
                    }
                    1 => self.error(
                        Diagnostic::error("time()'s format must be a string literal").at(args[0].span, "not a literal"),
                    ),
                    n => self.arity(f, name_span, 1, n, span),
                }
                Type::Void
            }
            Function::Delete | Function::Clear | Function::Zero => {
                // Current bpftrace's `delete(@m, key)` is `delete(@m[key])`.
                if f == Function::Delete && args.len() == 2 {
                    if let [Expr { kind: ExprKind::Map(m), span: mspan, .. }, key] = &mut args[..] {
                        if m.keys.is_empty() {
                            let key = std::mem::replace(key, Expr::new(ExprKind::Int(0), key.span));
                            *mspan = mspan.to(key.span);
                            m.keys.push(key);
                            args.truncate(1);
                        }
                    }
                }
                if args.len() != 1 {
                    self.arity(f, name_span, 1, args.len(), span);
                    return Type::Void;
                }
                let a = &mut args[0];
                let aspan = a.span;
                match &mut a.kind {
                    ExprKind::Map(m) => {
                        let keyed = !m.keys.is_empty();
                        if f == Function::Delete {
                            self.map_keys(m);
                        } else if keyed {
                            self.error(
                                Diagnostic::error(format!("{name}() takes a whole map: `{name}(@{})`", m.name))
                                    .at(aspan, "remove the key"),
                            );
                        }
                        self.maps.note_read(&m.name, aspan);
                        self.maps.use_whole(&m.name, aspan);
                        a.ty = Type::MapHandle;
                        let is_hist = matches!(
                            self.maps.get(&m.name).and_then(|i| i.value),
                            Some(MapValue::Agg(AggKind::Hist | AggKind::Lhist { .. }))
                        );
                        if f == Function::Delete && keyed && is_hist {
                            let msg = format!("delete() of one key of hist map @{} is not supported", m.name);
                            self.error(
                                Diagnostic::error(msg)
                                    .at(aspan, "a histogram key")
                                    .note(format!("clear the whole map with `clear(@{})`", m.name)),
                            );
                        }
                        if f == Function::Delete && !keyed {
                            let mname = m.name.clone();
                            if self.maps.get(&mname).is_some_and(|i| !i.keys.is_empty()) {
                                self.error(
                                    Diagnostic::error(format!("delete() needs a key: `delete(@{mname}[key])`"))
                                        .at(aspan, "no key"),
                                );
                            }
                        }
                    }
                    _ => self.error(Diagnostic::error(format!("{name}() takes a map")).at(aspan, "not a map")),
                }
                Type::Void
            }
            f => self.stack_call(f, args, name_span, span).unwrap_or(Type::Unknown),
        }
    }

    fn printf(&mut self, args: &mut [Expr], name_span: Span, span: Span) {
        let Some((first, rest)) = args.split_first_mut() else {
            self.arity(Function::Printf, name_span, 1, 0, span);
            return;
        };
        let ExprKind::Str(fmt) = &first.kind else {
            self.error(Diagnostic::error("printf()'s format must be a string literal").at(first.span, "not a literal"));
            return;
        };
        first.ty = Type::Str { size: fmt.len() as u32 + 1 };
        let pieces = match printf::parse_format(fmt) {
            Ok(p) => p,
            Err(err) => {
                // The literal's span includes the opening quote; escapes make
                // offsets approximate, so point at the whole literal.
                let msg = format!("invalid printf format: {err}");
                self.error(Diagnostic::error(msg).at(first.span, "in this format"));
                return;
            }
        };
        let specs: Vec<ArgKind> = pieces
            .iter()
            .filter_map(|p| match p {
                Piece::Spec(s) => s.arg_kind(),
                Piece::Lit(_) => None,
            })
            .collect();
        if specs.len() != rest.len() {
            let msg = format!("the format expects {} argument(s), {} given", specs.len(), rest.len());
            self.error(
                Diagnostic::error(msg).at(span, "argument count does not match the format").also(first.span, "format"),
            );
        }
        for (a, kind) in rest.iter_mut().zip(specs.iter().chain(std::iter::repeat(&ArgKind::Int))) {
            let t = self.expr(a);
            let ok = match kind {
                ArgKind::Str => t.is_str() || t.is_symbolized(),
                ArgKind::Int => t.is_scalar(),
            };
            if !ok && t != Type::Unknown {
                let want = if matches!(kind, ArgKind::Str) { "a string (%s)" } else { "an integer" };
                self.error(
                    Diagnostic::error(format!("printf argument is {t}, but the format expects {want}"))
                        .at(a.span, format!("this is {t}")),
                );
            }
        }
        for a in rest.iter_mut().skip(specs.len()) {
            self.expr(a);
        }
    }
}

/// Resolve a call against the functions table, once: a [`ExprKind::Call`]
/// of a known function becomes an [`ExprKind::FnCall`]. The function, or
/// `None` for an unknown name.
pub(super) fn resolve_call(e: &mut Expr) -> Option<Function> {
    match &mut e.kind {
        ExprKind::FnCall { func, .. } => Some(*func),
        ExprKind::Call { name, name_span, args } => {
            let func = Function::from_name(name)?;
            e.kind = ExprKind::FnCall { func, name_span: *name_span, args: std::mem::take(args) };
            Some(func)
        }
        _ => None,
    }
}

/// `str($1)` is the parameter's text even when it reads as a number (and
/// empty when it was not given); `str($1 + n)` skips its first n bytes, as
/// in bpftrace, where a parameter inside `str()` is a string.
fn positional_text(arg: &mut Expr, params: &[String]) {
    let (n, skip) = match &arg.kind {
        ExprKind::Positional(n) => (*n, 0),
        ExprKind::Binary { op: BinOp::Add, lhs, rhs } => match (&lhs.kind, &rhs.kind) {
            (ExprKind::Positional(n), ExprKind::Int(k)) if *k >= 0 => (*n, *k as usize),
            _ => return,
        },
        _ => return,
    };
    let text = params.get((n as usize).wrapping_sub(1)).map_or("", |s| s.as_str());
    arg.kind = ExprKind::Str(text.get(skip..).unwrap_or("").to_string());
}
