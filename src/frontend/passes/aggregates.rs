//! Checking of aggregate values: tuples `(1, "a")`, named records
//! `(a = 1, b = "x")`, and structs, unions and arrays read whole out of
//! traced memory (`*ptr`). They live in memory as a whole (a variable's
//! slot, a map key or value) and are copied by size; what a tuple can
//! hold, how two tuple types unify (strings grow to the longer one), and
//! the types of `.0` / `.name`.

use super::maps::{MapTable, MapValue};
use super::typeck::Cx;
use crate::diag::Diagnostic;
use crate::frontend::ast::{BinOp, Expr, ExprKind, UnOp};
use crate::frontend::btf;
use crate::frontend::probes::NamedArgs;
use crate::frontend::types::{Record, Tuple, Type};
use crate::source::Span;
use std::rc::Rc;

/// The type a value of `t` has once stored (in a tuple, a variable, a
/// map): integers widen to 64 bits; `None` for what cannot be stored.
pub fn stored(t: &Type) -> Option<Type> {
    match t {
        Type::Int { signed, .. } => Some(Type::Int { size: 8, signed: *signed }),
        Type::Str { .. }
        | Type::Ptr { .. }
        | Type::Stack(_)
        | Type::Sym { .. }
        | Type::Tuple(_)
        | Type::Record(_)
        | Type::Array { .. } => Some(t.clone()),
        _ => None,
    }
}

/// The type both `a` and `b` fit in: the same type, integers of either
/// sign (signed only if both are), strings of the longer size, tuples
/// element by element. `None` when they do not fit together.
pub fn unify(a: &Type, b: &Type) -> Option<Type> {
    match (a, b) {
        _ if a == b => Some(a.clone()),
        (Type::Int { signed: x, .. }, Type::Int { signed: y, .. }) => Some(Type::Int { size: 8, signed: *x && *y }),
        (Type::Str { size: x }, Type::Str { size: y }) => Some(Type::Str { size: (*x).max(*y) }),
        (Type::Tuple(x), Type::Tuple(y)) if x.names == y.names && x.elems.len() == y.elems.len() => {
            let elems = x.elems.iter().zip(&y.elems).map(|(p, q)| unify(p, q)).collect::<Option<Vec<_>>>()?;
            Some(Type::Tuple(Rc::new(Tuple { elems, names: x.names.clone() })))
        }
        _ => None,
    }
}

/// `t` with the strings of its tuples at least `min` bytes (the REPL's
/// new maps, so later lines can store longer strings).
pub fn widen_strings(t: &Type, min: u32) -> Type {
    match t {
        Type::Tuple(tu) => {
            let elems = tu.elems.iter().map(|e| widen_strings(e, min)).collect();
            Type::Tuple(Rc::new(Tuple { elems, names: tu.names.clone() }))
        }
        Type::Str { size } if *size < min => Type::Str { size: min },
        other => other.clone(),
    }
}

/// Make sure every struct in `t` (not behind pointers) knows its members,
/// since printing a struct value shows them all; kernel types from BTF get
/// their members on first use.
pub fn complete(t: &Type) -> Result<(), String> {
    match t {
        Type::Record(r) => complete_record(r),
        Type::Array { elem, .. } => complete(elem),
        Type::Tuple(tu) => tu.elems.iter().try_for_each(complete),
        _ => Ok(()),
    }
}

fn complete_record(r: &Record) -> Result<(), String> {
    if r.fields.get().is_none() {
        btf::complete_anywhere(r).map_err(|e| format!("cannot read the members of struct {}: {e}", r.name))?;
    }
    r.fields().iter().try_for_each(|f| complete(&f.ty))
}

impl MapTable {
    /// Record that `@name` is assigned an aggregate of type `ty`; unify it
    /// with what the map already holds.
    pub fn assign_composite(&mut self, name: &str, ty: &Type, span: Span, report: bool, diags: &mut Vec<Diagnostic>) {
        self.assign(name, MapValue::Composite, span, report, diags);
        let Some(info) = self.maps.get_mut(name) else { return };
        if info.value != Some(MapValue::Composite) {
            return;
        }
        match info.composite.as_ref().map(|old| (old.clone(), unify(old, ty))) {
            None => info.composite = Some(ty.clone()),
            Some((old, Some(u))) if info.live && u != old => {
                if report {
                    let msg = format!("map @{name} is live with values of type {old}; this value is {ty}");
                    diags.push(Diagnostic::error(msg).at(span, "a different layout").note("use a new map"));
                }
            }
            Some((_, Some(u))) => info.composite = Some(u),
            Some((old, None)) => {
                if report {
                    let msg = format!("map @{name} holds {old} but is assigned {ty} here");
                    diags.push(Diagnostic::error(msg).at(span, format!("this is {ty}")).also(info.span, "first here"));
                }
            }
        }
    }
}

/// Whether `a op b` compares two aggregates of one layout (`==`, `!=`).
pub fn comparable(op: BinOp, a: &Type, b: &Type) -> bool {
    a.is_aggregate() && matches!(op, BinOp::Eq | BinOp::Ne) && unify(a, b).is_some()
}

impl Cx<'_> {
    /// `@name = value` of an aggregate.
    pub(super) fn assign_aggregate(&mut self, name: &str, t: &Type, span: Span) {
        if self.whole_value(t, span) {
            self.maps.assign_composite(name, t, span, self.report, self.diags);
        }
    }

    /// `a[N]` of an array value held whole (not in traced memory): a
    /// constant index must be within the array (a runtime one is checked
    /// when it runs).
    pub(super) fn value_index(&mut self, base: &Expr, index: &Expr) {
        let Type::Array { len, .. } = base.ty else { return };
        // A tracepoint's array field is in the context, read whole.
        let tracepoint = matches!(self.spec.context().named_args, Some(NamedArgs::Tracepoint(_)));
        let tp_field = matches!(&base.kind, ExprKind::Field { base: b, .. } if b.ty == Type::Args) && tracepoint;
        if in_memory(base) && !tp_field {
            return;
        }
        if let ExprKind::Int(i) = index.kind {
            if !(0..i64::from(len)).contains(&i) {
                let msg = format!("index {i} is outside the array of {len} elements");
                self.error(Diagnostic::error(msg).at(index.span, format!("use 0 to {}", len.saturating_sub(1))));
            }
        }
    }

    /// The type a read of `$name` has: a variable holding tuples is laid
    /// out for every tuple assigned to it anywhere in the probe (strings
    /// grow), so a read before a later, wider assignment sees that layout
    /// too (the previous round of checking learnt it).
    pub(super) fn read_type(&self, name: &str, now: &Type) -> Type {
        match self.prior_vars.iter().find(|(n, _)| n == name) {
            Some((_, prior)) if now.is_aggregate() => unify(prior, now).unwrap_or_else(|| now.clone()),
            _ => now.clone(),
        }
    }

    /// An expression whose value is stored or printed: as [`Cx::expr`],
    /// except that `args` becomes the record of every argument, as
    /// current bpftrace has it (`print(args)`, `$a = args`).
    pub(super) fn value_expr(&mut self, e: &mut Expr) -> Type {
        match self.expr(e) {
            Type::Args => self.args_record(e),
            t => t,
        }
    }

    /// `args` rewritten in place as `(a = args.a, b = args.b, ...)`: a
    /// tracepoint's fields (but the common ones), or a function's
    /// parameters from its debug info.
    fn args_record(&mut self, e: &mut Expr) -> Type {
        let names: Vec<String> = match self.spec.context().named_args {
            Some(NamedArgs::Tracepoint(tp)) => {
                let fields = tp.format.fields.iter().filter(|f| !f.name.starts_with("common_"));
                fields.map(|f| f.name.clone()).collect()
            }
            Some(NamedArgs::Parameters { .. }) => match self.function(e.span, "`args`") {
                Some(f) => f.params.iter().map(|p| p.name.clone()).collect(),
                None => return Type::Unknown,
            },
            None => return Type::Unknown,
        };
        if names.is_empty() {
            let msg = format!("`{}` has no arguments to make a record of", self.probe_name);
            self.error(Diagnostic::error(msg).at(e.span, "no arguments"));
            return Type::Unknown;
        }
        let field = |n: &String| ExprKind::Field {
            base: Box::new(e.clone()),
            field: n.clone(),
            field_span: e.span,
            arrow: false,
        };
        let elems = names.iter().map(|n| Expr::new(field(n), e.span)).collect();
        e.kind = ExprKind::Tuple { elems, names };
        self.expr(e)
    }

    /// A tuple or record expression.
    pub(super) fn tuple(&mut self, e: &mut Expr) -> Type {
        let span = e.span;
        let ExprKind::Tuple { elems, names } = &mut e.kind else { return Type::Unknown };
        let names = names.clone();
        for (i, n) in names.iter().enumerate() {
            if names[..i].contains(n) {
                self.error(Diagnostic::error(format!("field `{n}` appears twice in this record")).at(span, "repeated"));
                return Type::Unknown;
            }
        }
        let mut types = Vec::new();
        for el in elems.iter_mut() {
            let t = self.value_expr(el);
            match stored(&t) {
                Some(s) => types.push(s),
                None if t == Type::Unknown => return Type::Unknown,
                None => {
                    let msg = format!("{t} cannot be part of a tuple");
                    self.error(Diagnostic::error(msg).at(el.span, format!("this is {t}")));
                    return Type::Unknown;
                }
            }
        }
        if let Err(why) = types.iter().try_for_each(complete) {
            self.error(Diagnostic::error(why).at(span, "here"));
            return Type::Unknown;
        }
        Type::Tuple(Rc::new(Tuple { elems: types, names }))
    }

    /// `t.0` or `t.name` of a tuple or record.
    pub(super) fn tuple_field(&mut self, t: &Tuple, field: &str, arrow: bool, span: Span) -> Type {
        if arrow {
            let msg = format!("`->` needs a pointer; this is a {}: use `.{field}`", describe(t));
            self.error(Diagnostic::error(msg).at(span, "`->` on a value"));
            return Type::Unknown;
        }
        match t.index_of(field) {
            Some(i) => t.elems[i].clone(),
            None if t.names.is_empty() => {
                let msg = format!("a tuple of {} elements has no element `{field}`", t.elems.len());
                let last = t.elems.len().saturating_sub(1);
                self.error(Diagnostic::error(msg).at(span, format!("use .0 to .{last}")));
                Type::Unknown
            }
            None => {
                let msg = format!("the record has no field `{field}`");
                let d = Diagnostic::error(msg).at(span, "unknown field");
                self.error(d.note(format!("its fields are: {}", t.names.join(", "))));
                Type::Unknown
            }
        }
    }

    /// An aggregate about to be stored or printed: its structs complete,
    /// or a diagnostic.
    pub(super) fn whole_value(&mut self, t: &Type, span: Span) -> bool {
        match complete(t) {
            Ok(()) => true,
            Err(why) => {
                self.error(Diagnostic::error(why).at(span, "read whole here"));
                false
            }
        }
    }
}

/// Whether `e` names a place in traced memory (`*p`, `p->f`, `args.s`
/// on the stack, and members and elements of those), read part by part;
/// any other aggregate is a value held whole.
pub fn in_memory(e: &Expr) -> bool {
    match &e.kind {
        ExprKind::Unary { op: UnOp::Deref, .. } => true,
        ExprKind::Field { base, .. } => match &base.ty {
            Type::Args | Type::Ptr { .. } => true,
            Type::Record(_) => in_memory(base),
            _ => false,
        },
        ExprKind::Index { base, .. } => match &base.ty {
            Type::Ptr { .. } => true,
            Type::Array { .. } => in_memory(base),
            _ => false,
        },
        _ => false,
    }
}

fn describe(t: &Tuple) -> &'static str {
    if t.names.is_empty() {
        "tuple"
    } else {
        "record"
    }
}

/// `$s[i]`, a string's byte as a `char` (current bpftrace): a constant
/// index must be inside the string's buffer; a runtime one outside it
/// reads 0.
pub(super) fn string_index(cx: &mut Cx, size: u32, index: &Expr) -> Type {
    if let ExprKind::Int(i) = index.kind {
        if !(0..i64::from(size)).contains(&i) {
            let msg = format!("index {i} is outside the string's {size} bytes");
            cx.error(Diagnostic::error(msg).at(index.span, format!("use 0 to {}", size.saturating_sub(1))));
        }
    }
    Type::Int { size: 1, signed: true }
}
