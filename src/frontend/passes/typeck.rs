//! Type checking of one probe body specialised to one attach point.
//!
//! Fills `Expr::ty` in place, checks that builtins exist in the probe kind,
//! that functions get the right arguments, and records every map use in the
//! [`MapTable`]. Constants known at compile time (`$1`, `$#`, `func`,
//! `probe`) are replaced by literals here, so code generation never sees
//! them.

use super::aggregates;
use super::calls;
use super::dwarf_types::DwarfCache;
use super::maps::{MapTable, MapValue, PointerValue};
use super::pointer;
use super::positional;
use super::{CheckedProbe, Params};
use crate::diag::Diagnostic;
use crate::frontend::ast::*;
use crate::frontend::builtins::{self, Builtin, Function, Scope};
use crate::frontend::probes::{self, field_type, NamedArgs, NumberedArgs, ProbeSpec, Tracepoint};
use crate::frontend::types::{AggKind, StackType, Type};
use crate::source::Span;

pub(super) struct Cx<'a> {
    pub(super) spec: &'a ProbeSpec,
    pub(super) probe_name: &'a str,
    pub(super) maps: &'a mut MapTable,
    pub(super) params: &'a Params,
    pub(super) report: bool,
    pub(super) diags: &'a mut Vec<Diagnostic>,
    pub(super) vars: Vec<(String, Type)>,
    /// The variables' types at the end of the previous round (see
    /// `aggregates::read_type`).
    pub(super) prior_vars: Vec<(String, Type)>,
    pub(super) dwarf: DwarfCache,
}

pub fn check_probe(
    probe: &mut CheckedProbe,
    maps: &mut MapTable,
    params: &Params,
    report: bool,
    diags: &mut Vec<Diagnostic>,
) {
    let mut cx = Cx {
        spec: &probe.resolved.spec,
        probe_name: &probe.resolved.name,
        maps,
        params,
        report,
        diags,
        vars: Vec::new(),
        prior_vars: std::mem::take(&mut probe.vars),
        dwarf: std::mem::take(&mut probe.dwarf),
    };
    if let Some(pred) = &mut probe.pred {
        let t = cx.expr(pred);
        cx.want_int(&t, pred.span, "a predicate");
    }
    cx.block(&mut probe.body);
    probe.vars = cx.vars;
    probe.dwarf = cx.dwarf;
}

impl Cx<'_> {
    pub(super) fn error(&mut self, d: Diagnostic) {
        if self.report {
            self.diags.push(d);
        }
    }

    pub(super) fn want_int(&mut self, t: &Type, span: Span, what: &str) {
        if !t.is_scalar() && *t != Type::Unknown {
            self.error(
                Diagnostic::error(format!("{what} must be an integer, found {t}")).at(span, format!("this is {t}")),
            );
        }
    }

    pub(super) fn block(&mut self, b: &mut Block) {
        for s in &mut b.stmts {
            self.stmt(s);
        }
    }

    fn stmt(&mut self, s: &mut Stmt) {
        match &mut s.kind {
            StmtKind::Expr(e) => {
                // The value is computed and dropped, but a whole struct,
                // union or array (or `args`) is never a value: code
                // generation reads only integers, pointers and strings.
                let t = self.expr(e);
                if matches!(t, Type::Record(_) | Type::Array { .. } | Type::Args) {
                    self.error(
                        Diagnostic::error(format!("{t} cannot be a statement on its own"))
                            .at(e.span, format!("this is {t}"))
                            .note("read one of its fields or elements, e.g. `.name` or `[0]`"),
                    );
                }
            }
            StmtKind::If { cond, then, els } => {
                let t = self.expr(cond);
                self.want_int(&t, cond.span, "a condition");
                self.block(then);
                if let Some(b) = els {
                    self.block(b);
                }
            }
            StmtKind::AssignVar { name, name_span, op, value } => {
                let t = self.value_expr(value);
                let existing = self.vars.iter().position(|(n, _)| n == name);
                if op.is_some() {
                    self.want_int(&t, value.span, "the right-hand side");
                    match existing.map(|i| self.vars[i].1.clone()) {
                        Some(v @ Type::Ptr { .. }) => pointer::scale_step(*op, &v, value, self.report),
                        Some(v) if v.is_scalar() => {}
                        Some(v) => self.error(
                            Diagnostic::error(format!("${name} is {v}; compound assignment needs an integer"))
                                .at(*name_span, "not an integer"),
                        ),
                        None => self.error(
                            Diagnostic::error(format!("${name} is used before it is assigned"))
                                .at(*name_span, "not assigned yet"),
                        ),
                    }
                    return;
                }
                let t = match t {
                    Type::Int { signed, .. } => Type::Int { size: 8, signed },
                    Type::Str { .. } | Type::Ptr { .. } | Type::Stack(_) | Type::Sym { .. } => t,
                    t if t.is_aggregate() && self.whole_value(&t, value.span) => t,
                    Type::Unknown => return,
                    other => {
                        self.error(
                            Diagnostic::error(format!("cannot store {other} in a variable"))
                                .at(value.span, "only integers, strings, stacks and symbols can be stored"),
                        );
                        return;
                    }
                };
                match existing {
                    None => self.vars.push((name.clone(), t)),
                    Some(i) => match (&self.vars[i].1, &t) {
                        (a, b) if a.is_scalar() && b.is_scalar() => {
                            if a != b && !(a.is_int() && b.is_int()) {
                                // A pointer variable assigned an integer (or a
                                // pointer of another type) becomes an integer.
                                self.vars[i].1 = Type::U64;
                            }
                        }
                        (Type::Str { size: a }, Type::Str { size: b }) => {
                            let size = (*a).max(*b);
                            self.vars[i].1 = Type::Str { size };
                        }
                        (a, b) if a.is_aggregate() && aggregates::unify(a, b).is_some() => {
                            self.vars[i].1 = aggregates::unify(a, b).unwrap_or_default();
                        }
                        (old, new) => {
                            let msg = format!("${name} holds {old} but is assigned {new} here");
                            self.error(Diagnostic::error(msg).at(value.span, format!("this is {new}")));
                        }
                    },
                }
            }
            StmtKind::AssignMap { map, op, value } => self.assign_map(map, *op, value),
            StmtKind::Loop(l) => self.loop_stmt(l),
            StmtKind::Jump(_) => {}
        }
    }

    /// The pointer type `@name`'s values keep, if they are pointers.
    fn map_pointer(&self, name: &str) -> Option<Type> {
        match &self.maps.get(name)?.pointer {
            PointerValue::Ptr(t) => Some(t.clone()),
            _ => None,
        }
    }

    pub(super) fn map_keys(&mut self, map: &mut MapRef) {
        let mut keys = Vec::new();
        for k in &mut map.keys {
            let t = self.value_expr(k);
            keys.push(match t.as_int() {
                Type::Int { signed, .. } => Type::Int { size: 8, signed },
                Type::Str { .. } | Type::Stack(_) | Type::Sym { .. } => t,
                t if t.is_aggregate() && self.whole_value(&t, k.span) => t,
                Type::Unknown => Type::I64,
                other => {
                    self.error(
                        Diagnostic::error(format!("{other} cannot be a map key"))
                            .at(k.span, "only integers, strings, stacks, symbols, tuples and structs can be keys"),
                    );
                    Type::I64
                }
            });
        }
        self.maps.use_keys(&map.name, &keys, map.span, self.report, self.diags);
    }

    fn assign_map(&mut self, map: &mut MapRef, op: Option<BinOp>, value: &mut Expr) {
        self.map_keys(map);
        if op.is_some() {
            let t = self.expr(value);
            self.want_int(&t, value.span, "the right-hand side");
            if let Some(ptr) = self.map_pointer(&map.name) {
                pointer::scale_step(op, &ptr, value, self.report);
            }
            self.maps.assign(&map.name, MapValue::Int { signed: true }, map.span, self.report, self.diags);
            return;
        }
        if let Some(f) = calls::resolve_call(value).filter(|f| f.is_aggregation()) {
            if let ExprKind::FnCall { name_span, args, .. } = &mut value.kind {
                if let Some(kind) = self.aggregation(f, *name_span, args, value.span) {
                    value.ty = Type::Agg(kind);
                    let span = value.span;
                    self.maps.assign(&map.name, MapValue::Agg(kind), span, self.report, self.diags);
                }
                return;
            }
        }
        let t = self.value_expr(value);
        if t.is_aggregate() {
            return self.assign_aggregate(&map.name, &t, value.span);
        }
        let v = match t.as_int() {
            Type::Int { signed, .. } => {
                self.maps.note_integer(&map.name, &t);
                MapValue::Int { signed }
            }
            Type::Str { size } => MapValue::Str { size },
            Type::Stack(st) => MapValue::Stack(st),
            Type::Sym { user } => MapValue::Sym { user },
            Type::Unknown => return,
            other => {
                self.error(
                    Diagnostic::error(format!("cannot store {other} in a map"))
                        .at(value.span, "only integers, strings, stacks, symbols and aggregations can be stored"),
                );
                return;
            }
        };
        self.maps.assign(&map.name, v, value.span, self.report, self.diags);
    }

    pub(super) fn arity(&mut self, f: Function, span: Span, want: usize, got: usize, call: Span) {
        let name = f.name();
        self.error(
            Diagnostic::error(format!("{name}() takes {want} argument(s), {got} given"))
                .at(call, "wrong number of arguments")
                .also(span, "function"),
        );
    }

    /// The type of `lhs op rhs` on integers (pointers as addresses) and
    /// strings, once both sides are typed as `a` and `b`.
    fn binary_type(&mut self, e: &Expr, a: Type, b: Type) -> Type {
        let ExprKind::Binary { op, lhs, rhs } = &e.kind else { return Type::Unknown };
        let (op, span) = (*op, e.span);
        match (&a, &b) {
            (Type::Int { signed: sa, .. }, Type::Int { signed: sb, .. }) => {
                if op.is_comparison() || matches!(op, BinOp::LogAnd | BinOp::LogOr) {
                    Type::I64
                } else {
                    Type::Int { size: 8, signed: *sa && *sb }
                }
            }
            (Type::Str { .. }, Type::Str { .. }) if matches!(op, BinOp::Eq | BinOp::Ne) => Type::I64,
            (x, y) if aggregates::comparable(op, x, y) => Type::I64,
            (Type::Unknown, _) | (_, Type::Unknown) => Type::Unknown,
            _ => {
                let msg = format!("operator `{}` cannot be applied to {a} and {b}", op.symbol());
                self.error(
                    Diagnostic::error(msg)
                        .at(span, "type mismatch")
                        .also(lhs.span, format!("{a}"))
                        .also(rhs.span, format!("{b}")),
                );
                Type::Unknown
            }
        }
    }

    pub(super) fn expr(&mut self, e: &mut Expr) -> Type {
        let t = self.expr_inner(e);
        e.ty = t.clone();
        t
    }

    fn expr_inner(&mut self, e: &mut Expr) -> Type {
        let span = e.span;
        if let ExprKind::Binary { lhs, rhs, .. } = &mut e.kind {
            let (a, b) = (self.expr(lhs), self.expr(rhs));
            if let Some(t) = pointer::binary(e, &a, &b, self.report) {
                return t;
            }
            return self.binary_type(e, a.as_int(), b.as_int());
        }
        match &mut e.kind {
            ExprKind::Int(_) => Type::I64,
            ExprKind::Str(s) => Type::Str { size: s.len() as u32 + 1 },
            ExprKind::Positional(n) => {
                let n = *n as usize;
                e.kind = match self.params.args.get(n.wrapping_sub(1)) {
                    Some(a) => match positional::parse_int(a) {
                        Some(v) => ExprKind::Int(v),
                        None => ExprKind::Str(a.clone()),
                    },
                    None => ExprKind::Int(0),
                };
                self.expr_inner(e)
            }
            ExprKind::PositionalCount => {
                e.kind = ExprKind::Int(self.params.args.len() as i64);
                Type::I64
            }
            ExprKind::Var(name) => match self.vars.iter().find(|(n, _)| n == name) {
                Some((_, t)) => self.read_type(name, t),
                None => {
                    let msg = format!("${name} is used before it is assigned");
                    self.error(Diagnostic::error(msg).at(span, "not assigned yet"));
                    Type::Unknown
                }
            },
            ExprKind::Ident(_) | ExprKind::Builtin(_) => self.builtin(e),
            ExprKind::Map(map) => {
                self.map_keys(map);
                self.maps.note_read(&map.name, span);
                let info = self.maps.get(&map.name).cloned();
                match info.and_then(|i| i.value) {
                    // Current bpftrace reads these as the integer they
                    // print as (summed over CPUs in the probe).
                    Some(MapValue::Agg(AggKind::Count | AggKind::Sum | AggKind::Min | AggKind::Max | AggKind::Avg)) => {
                        Type::I64
                    }
                    Some(MapValue::Agg(k)) => {
                        let msg = format!("@{} is a {}() map and cannot be read in an expression", map.name, k.name());
                        self.error(
                            Diagnostic::error(msg)
                                .at(span, "aggregated per CPU")
                                .note("print it with print(), or keep a plain counter: `@n = @n + 1`"),
                        );
                        Type::Unknown
                    }
                    Some(MapValue::Str { size }) => Type::Str { size },
                    Some(MapValue::Int { signed }) => {
                        self.map_pointer(&map.name).unwrap_or(Type::Int { size: 8, signed })
                    }
                    Some(MapValue::Stack(st)) => Type::Stack(st),
                    Some(MapValue::Sym { user }) => Type::Sym { user },
                    Some(MapValue::Composite) => self.maps.get(&map.name).map(|i| i.value_type()).unwrap_or_default(),
                    None => Type::I64,
                }
            }
            ExprKind::Call { .. } | ExprKind::FnCall { .. } => self.call(e),
            ExprKind::Tuple { .. } => self.tuple(e),
            // Typed before this match, in `binary` (pointer arithmetic
            // may rewrite the node itself).
            ExprKind::Binary { .. } => Type::Unknown,
            ExprKind::Unary { op, expr } => {
                let op = *op;
                let t = self.expr(expr);
                match op {
                    UnOp::Neg | UnOp::Not | UnOp::BitNot => {
                        self.want_int(&t, expr.span, "the operand");
                        if op == UnOp::Not {
                            Type::I64
                        } else {
                            match t.as_int() {
                                Type::Int { signed, .. } => Type::Int { size: 8, signed: signed || op == UnOp::Neg },
                                _ => Type::Unknown,
                            }
                        }
                    }
                    UnOp::Deref => match t {
                        Type::Ptr { to, .. } if *to != Type::Void => self.readable(&to, span),
                        Type::Unknown => Type::Unknown,
                        other => {
                            let msg = format!("`*` needs a pointer to data, found {other}");
                            self.error(Diagnostic::error(msg).at(span, "cannot dereference"));
                            Type::Unknown
                        }
                    },
                    UnOp::AddrOf => {
                        self.unsupported(span, "taking an address with `&`");
                        Type::Unknown
                    }
                }
            }
            ExprKind::Ternary { cond, then, els } => {
                let c = self.expr(cond);
                self.want_int(&c, cond.span, "a condition");
                let (a, b) = (self.expr(then).as_int(), self.expr(els).as_int());
                match (&a, &b) {
                    (Type::Int { signed: sa, .. }, Type::Int { signed: sb, .. }) => {
                        Type::Int { size: 8, signed: *sa && *sb }
                    }
                    (Type::Str { size: x }, Type::Str { size: y }) => Type::Str { size: (*x).max(*y) },
                    (Type::Void, Type::Void) => Type::Void, // `c ? printf(..) : exit()`, a statement
                    (x, y) if x.is_aggregate() && aggregates::unify(x, y).is_some() => {
                        aggregates::unify(x, y).unwrap_or_default()
                    }
                    (Type::Unknown, _) | (_, Type::Unknown) => Type::Unknown,
                    _ => {
                        self.error(
                            Diagnostic::error(format!(
                                "both branches of `?:` must have the same type, found {a} and {b}"
                            ))
                            .at(span, "type mismatch"),
                        );
                        Type::Unknown
                    }
                }
            }
            ExprKind::Field { base, field, field_span, arrow } => {
                let (arrow, field, field_span) = (*arrow, field.clone(), *field_span);
                let bt = self.expr(base);
                match bt {
                    Type::Args => match self.spec.context().named_args {
                        Some(NamedArgs::Tracepoint(tp)) => self.tracepoint_field(tp, &field, field_span),
                        Some(NamedArgs::Parameters { at_entry }) => self.uprobe_arg(&field, field_span, at_entry),
                        None => Type::Unknown,
                    },
                    Type::Ptr { to, .. } => match &*to {
                        Type::Record(r) if arrow => self.member(r, &field, field_span),
                        Type::Record(_) => {
                            let msg = format!("`{}` is a pointer: use `->{field}`", base_text(base));
                            self.error(Diagnostic::error(msg).at(span, "`.` on a pointer"));
                            Type::Unknown
                        }
                        other => {
                            let msg =
                                format!("`->{field}` needs a pointer to a struct or union, found a pointer to {other}");
                            self.error(Diagnostic::error(msg).at(span, "no members"));
                            Type::Unknown
                        }
                    },
                    Type::Record(r) if !arrow => self.member(&r, &field, field_span),
                    Type::Tuple(t) => self.tuple_field(&t, &field, arrow, field_span),
                    Type::Record(r) => {
                        let kind = if r.is_union { "union" } else { "struct" };
                        let msg = format!(
                            "`->` needs a pointer, but `{}` is a {kind} value: use `.{field}`",
                            base_text(base)
                        );
                        self.error(Diagnostic::error(msg).at(span, "`->` on a non-pointer"));
                        Type::Unknown
                    }
                    Type::Unknown => Type::Unknown,
                    other => {
                        let op = if arrow { "->" } else { "." };
                        let msg = format!("`{op}{field}` needs a struct or union, found {other}");
                        self.error(Diagnostic::error(msg).at(span, "no members"));
                        Type::Unknown
                    }
                }
            }
            ExprKind::Index { base, index } => {
                let bt = self.expr(base);
                let it = self.expr(index);
                self.want_int(&it, index.span, "an index");
                let elem = match &bt {
                    Type::Array { elem, .. } | Type::Ptr { to: elem, .. } => elem.c_size(),
                    _ => 0,
                };
                if let ExprKind::Int(i) = index.kind {
                    self.index_in_reach(i, elem, index.span);
                }
                self.value_index(base, index);
                match bt {
                    Type::Array { elem, .. } => self.readable(&elem, span),
                    Type::Ptr { to, .. } if *to != Type::Void => self.readable(&to, span),
                    Type::Str { size } => aggregates::string_index(self, size, index),
                    Type::Unknown => Type::Unknown,
                    other => {
                        let msg = format!("`[]` needs an array or a pointer, found {other}");
                        self.error(Diagnostic::error(msg).at(span, "cannot index"));
                        Type::Unknown
                    }
                }
            }
            ExprKind::Cast { ty, expr } => {
                let t = self.expr(expr);
                let ty = ty.clone();
                match self.named_type(&ty) {
                    Some(target @ (Type::Int { .. } | Type::Ptr { .. })) => {
                        self.want_int(&t, expr.span, "the cast operand");
                        target
                    }
                    Some(other) => {
                        let msg = format!("cannot cast to {other}: cast to a pointer, e.g. `({} *)`", ty.name);
                        self.error(Diagnostic::error(msg).at(ty.span, "not a scalar type"));
                        Type::Unknown
                    }
                    None => Type::Unknown,
                }
            }
            ExprKind::IncDec { target, .. } => {
                match &mut target.kind {
                    ExprKind::Var(name) => {
                        let name = name.clone();
                        match self.vars.iter().find(|(n, _)| *n == name).map(|v| v.1.clone()) {
                            Some(t @ Type::Ptr { .. }) => {
                                target.ty = t.clone();
                                return t;
                            }
                            Some(t) if t.is_scalar() => {}
                            Some(t) => self.error(
                                Diagnostic::error(format!("${name} is {t}; ++/-- need an integer"))
                                    .at(span, "not an integer"),
                            ),
                            None => self.vars.push((name, Type::I64)),
                        }
                    }
                    ExprKind::Map(map) => {
                        self.map_keys(map);
                        let mspan = map.span;
                        self.maps.assign(&map.name, MapValue::Int { signed: true }, mspan, self.report, self.diags);
                        if let Some(t) = self.map_pointer(&map.name) {
                            target.ty = t.clone();
                            return t;
                        }
                    }
                    _ => {
                        self.error(
                            Diagnostic::error("++ and -- apply to maps and $variables only").at(span, "not assignable"),
                        );
                        return Type::Unknown;
                    }
                }
                target.ty = Type::I64;
                Type::I64
            }
            ExprKind::Sizeof(SizeofArg::Type(ty)) => {
                let ty = ty.clone();
                match self.named_type(&ty) {
                    Some(t) => {
                        e.kind = ExprKind::Int(t.c_size() as i64);
                        Type::I64
                    }
                    None => Type::Unknown,
                }
            }
            ExprKind::Sizeof(SizeofArg::Expr(inner)) => {
                // `sizeof(db_shard_t)` parses as an expression: a name that
                // is not a builtin is a type name.
                if let ExprKind::Ident(name) = &inner.kind {
                    if Builtin::from_name(name).is_none() {
                        let ty = TypeName { tag: None, name: name.clone(), pointers: 0, span: inner.span };
                        return match self.named_type(&ty) {
                            Some(t) => {
                                e.kind = ExprKind::Int(t.c_size() as i64);
                                Type::I64
                            }
                            None => Type::Unknown,
                        };
                    }
                }
                let t = self.expr(inner);
                e.kind = ExprKind::Int(t.c_size() as i64);
                Type::I64
            }
            ExprKind::Offsetof { ty, members } => {
                let (ty, members) = (ty.clone(), members.clone());
                let Some(mut t) = self.named_type(&ty) else { return Type::Unknown };
                let mut offset = 0u32;
                for m in &members {
                    let Type::Record(r) = &t else {
                        let msg = format!("offsetof: `{m}` is not a member of {t}, which is not a struct or union");
                        self.error(Diagnostic::error(msg).at(span, "not a struct"));
                        return Type::Unknown;
                    };
                    match r.field(m) {
                        Some(f) => {
                            offset += f.offset;
                            t = f.ty;
                        }
                        None => {
                            let r = r.clone();
                            self.member(&r, m, span);
                            return Type::Unknown;
                        }
                    }
                }
                e.kind = ExprKind::Int(offset as i64);
                Type::I64
            }
        }
    }

    fn unsupported(&mut self, span: Span, what: &str) {
        self.error(
            Diagnostic::error(format!("{what}, which trace does not support yet")).at(span, "not supported yet"),
        );
    }

    /// A bare identifier: resolved against the builtins table once (the
    /// tree then holds [`ExprKind::Builtin`], or a literal for `func` and
    /// `probe`), checked against what this probe's kind offers, typed.
    fn builtin(&mut self, e: &mut Expr) -> Type {
        let span = e.span;
        if let Some(t) = self.script_constant(e) {
            return t;
        }
        let b = match &e.kind {
            ExprKind::Builtin(b) => *b,
            ExprKind::Ident(name) => match Builtin::from_name(name) {
                Some(b) => b,
                None => {
                    let msg = format!("unknown identifier `{name}`");
                    let mut d = self.header_note(name, Diagnostic::error(msg).at(span, "not a builtin"));
                    let names: Vec<String> = builtins::variable_names().collect();
                    if let Some(s) = builtins::closest(name, names.iter().map(String::as_str)) {
                        d = d.note(format!("did you mean `{s}`?"));
                    }
                    self.error(d.note("variables start with `$`, maps with `@`"));
                    return Type::Unknown;
                }
            },
            _ => return Type::Unknown,
        };
        let var = b.var();
        let context = self.spec.context();
        let here = match var.scope {
            Scope::Everywhere => true,
            Scope::NumberedArgs => context.numbered_args.is_some(),
            Scope::Retval => context.retval.is_some(),
            Scope::NamedArgs => context.named_args.is_some(),
            // In a timer, the function it interrupted.
            Scope::Function => context.function.is_some() || context.regs,
        };
        if !here {
            let msg = format!("`{}` is not available in `{}`", b.name(), self.probe_name);
            self.error(Diagnostic::error(msg).at(span, format!("only in {} probes", var.only_in)));
            return Type::Unknown;
        }
        e.kind = ExprKind::Builtin(b);
        match &var.ty {
            Some(Type::Stack(st)) => {
                let mode = self.params.settings.stack_mode.unwrap_or(st.mode);
                return Type::Stack(StackType { mode, ..*st });
            }
            Some(t) => return t.clone(),
            None => {}
        }
        match b {
            Builtin::Arg(i) => self.numbered_arg(i, span),
            Builtin::Retval => self.typed_retval(),
            Builtin::Curtask => self.curtask_type(),
            Builtin::Func if context.function.is_none() => {
                // `usym(reg("ip"))`: resolved by address, so a kernel
                // address names a kernel function.
                let ip = Expr { kind: ExprKind::Str("ip".into()), span, ty: Type::Unknown };
                let reg = ExprKind::Call { name: "reg".into(), name_span: span, args: vec![ip] };
                let reg = Expr { kind: reg, span, ty: Type::Unknown };
                e.kind = ExprKind::Call { name: "usym".into(), name_span: span, args: vec![reg] };
                self.expr_inner(e)
            }
            Builtin::Func | Builtin::Probe => {
                let text = match b {
                    Builtin::Func => context.function.unwrap_or_default().to_string(),
                    _ => self.probe_name.to_string(),
                };
                let size = text.len() as u32 + 1;
                e.kind = ExprKind::Str(text);
                Type::Str { size }
            }
            // Their type is in the table; a row without one is a bug here.
            Builtin::Pid
            | Builtin::Tid
            | Builtin::Uid
            | Builtin::Gid
            | Builtin::Cpu
            | Builtin::Comm
            | Builtin::Nsecs
            | Builtin::Elapsed
            | Builtin::Args
            | Builtin::Ustack
            | Builtin::Kstack => {
                let msg = format!("internal error: the builtins table gives `{}` no type", b.name());
                self.error(Diagnostic::error(msg).at(span, "here"));
                Type::Unknown
            }
        }
    }

    /// `argN`, as the probe's kind reads it.
    fn numbered_arg(&mut self, i: u8, span: Span) -> Type {
        match self.spec.context().numbered_args {
            Some(NumberedArgs::Registers { count }) if i < count => Type::U64,
            Some(NumberedArgs::Registers { count }) => {
                let msg = format!("`arg{i}` is not available in `{}`", self.probe_name);
                let d = Diagnostic::error(msg)
                    .at(span, format!("only arg0 to arg{} here", count.saturating_sub(1)))
                    .note("x86-64 passes the first six integer arguments in registers; with debug info, `args.NAME` reads any parameter");
                self.error(d);
                Type::Unknown
            }
            Some(NumberedArgs::Slots { count }) if i < count => Type::U64,
            Some(NumberedArgs::Slots { count }) => {
                let msg = format!("`arg{i}` is not available in `{}`", self.probe_name);
                let label = match count {
                    0 => "it has no arguments".to_string(),
                    n => format!("only arg0 to arg{} here", n - 1),
                };
                self.error(Diagnostic::error(msg).at(span, label));
                Type::Unknown
            }
            // USDT arguments come from the probe's note.
            Some(NumberedArgs::Usdt(site)) => {
                match probes::usdt_arg_type(&site.args, &site.args_text, self.probe_name, i, span) {
                    Ok(t) => t,
                    Err(d) => {
                        // Every site of a probe has the same arity: say it once.
                        if !self.diags.iter().any(|x| x.message == d.message) {
                            self.error(d);
                        }
                        Type::Unknown
                    }
                }
            }
            None => Type::Unknown,
        }
    }

    fn tracepoint_field(&mut self, tp: &Tracepoint, field: &str, span: Span) -> Type {
        let (format, category, name) = (&tp.format, &tp.category, &tp.name);
        match format.fields.iter().find(|f| f.name == field) {
            Some(f) => match field_type(tp, f) {
                Some(t) => t,
                None => {
                    let msg = format!("field `{field}` has type `{}`, which trace cannot read yet", f.c_type);
                    self.error(Diagnostic::error(msg).at(span, "unsupported field type"));
                    Type::Unknown
                }
            },
            None => {
                let names: Vec<&str> = format.fields.iter().map(|f| f.name.as_str()).collect();
                let msg = format!("tracepoint {category}:{name} has no field `{field}`");
                let d = Diagnostic::error(msg)
                    .at(span, "unknown field")
                    .note(format!("its fields are: {}", names.join(", ")));
                self.error(d);
                Type::Unknown
            }
        }
    }
}

/// `uint32`, `int8`, `char`, ... as an integer type.
pub fn int_type_name(t: &TypeName) -> Option<Type> {
    if t.tag.is_some() {
        return None;
    }
    if t.pointers > 0 {
        return Some(Type::U64);
    }
    let (size, signed) = match t.name.as_str() {
        "bool" | "uint8" | "u8" | "unsigned char" => (1, false),
        "int8" | "s8" | "char" | "signed char" => (1, true),
        "uint16" | "u16" | "unsigned short" => (2, false),
        "int16" | "s16" | "short" => (2, true),
        "uint32" | "u32" | "unsigned" | "unsigned int" => (4, false),
        "int32" | "s32" | "int" => (4, true),
        "uint64" | "u64" | "unsigned long" | "unsigned long long" | "size_t" => (8, false),
        "int64" | "s64" | "long" | "long long" | "ssize_t" => (8, true),
        _ => return None,
    };
    Some(Type::Int { size, signed })
}

/// An integer as bpftrace accepts positional parameters: decimal or `0x` hex.
/// A short description of an expression for messages: `args.shard`.
fn base_text(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Ident(n) => n.clone(),
        ExprKind::Builtin(b) => b.name(),
        ExprKind::Var(n) => format!("${n}"),
        ExprKind::Field { base, field, arrow, .. } => {
            format!("{}{}{field}", base_text(base), if *arrow { "->" } else { "." })
        }
        _ => "the value".into(),
    }
}
