//! Macros, as current bpftrace has them:
//!
//! ```text
//! macro inc($x) { $x += 1; $x }      macro set(@m, v) { @m[v] = 1; }
//! ```
//!
//! A call is replaced by the macro's body before anything is checked.
//! Parameters are substituted by the call's arguments as written: `$x` and
//! `x` by the argument expression (so `inc($a)` updates `$a`, and an
//! expression argument is evaluated wherever the body names it), `@m` by
//! the map the call passes. Every other variable of the body is renamed for
//! that call, so it cannot collide with the caller's. The body's statements
//! run before the statement that holds the call, and the call's value is
//! the body's last expression (written without `;`). A bare identifier that
//! names a macro without parameters is a call too. Macros may call macros,
//! in any order of definition, but not themselves.

use crate::diag::Diagnostic;
use crate::frontend::ast::*;
use std::borrow::Cow;
use std::collections::HashMap;

/// How deeply macro calls may nest: deeper is a macro calling itself.
const MAX_DEPTH: u32 = 32;

/// `program` with every macro call expanded (the program itself when it
/// defines no macros).
pub fn expand(program: &Program) -> Result<Cow<'_, Program>, Vec<Diagnostic>> {
    if program.macros.is_empty() {
        return Ok(Cow::Borrowed(program));
    }
    let mut x = Expander { macros: HashMap::new(), calls: 0, depth: 0, diags: Vec::new() };
    for m in &program.macros {
        if let Some(first) = x.macros.insert(m.name.as_str(), m) {
            x.diags.push(
                Diagnostic::error(format!("macro `{}` is defined twice", m.name))
                    .at(m.name_span, "defined again here")
                    .also(first.name_span, "first defined here"),
            );
        }
    }
    let mut out = program.clone();
    for probe in &mut out.probes {
        if let Some(pred) = &mut probe.pred {
            let mut before = Vec::new();
            x.expr(pred, &mut before, false);
            if let Some(s) = before.first() {
                x.diags.push(
                    Diagnostic::error("a macro with statements cannot be called in a predicate")
                        .at(pred.span, "called here")
                        .also(s.span, "this statement would have to run first"),
                );
            }
        }
        x.block(&mut probe.body.stmts);
    }
    if x.diags.is_empty() {
        Ok(Cow::Owned(out))
    } else {
        Err(x.diags)
    }
}

struct Expander<'p> {
    macros: HashMap<&'p str, &'p MacroDef>,
    /// Calls expanded so far: names the renamed variables of each.
    calls: u32,
    depth: u32,
    diags: Vec<Diagnostic>,
}

impl Expander<'_> {
    /// Expand every call in `stmts`; a call that is a statement on its own
    /// becomes the macro's statements.
    fn block(&mut self, stmts: &mut Vec<Stmt>) {
        let mut out = Vec::with_capacity(stmts.len());
        for mut stmt in stmts.drain(..) {
            if let StmtKind::Expr(e) = &mut stmt.kind {
                let mut before = Vec::new();
                e.children_mut(&mut |arg| self.expr(arg, &mut before, false));
                if let Some((body, value)) = self.call(e) {
                    out.extend(before);
                    out.extend(body);
                    // A value with no effect is dropped, as a statement.
                    if let Some(v) = value.filter(has_effects) {
                        out.push(Stmt { span: v.span, kind: StmtKind::Expr(v) });
                    }
                    continue;
                }
                out.extend(before);
                out.push(stmt);
                continue;
            }
            let mut before = Vec::new();
            self.stmt(&mut stmt, &mut before);
            out.extend(before);
            out.push(stmt);
        }
        *stmts = out;
    }

    fn stmt(&mut self, s: &mut Stmt, before: &mut Vec<Stmt>) {
        match &mut s.kind {
            StmtKind::Expr(e) | StmtKind::AssignVar { value: e, .. } => self.expr(e, before, false),
            StmtKind::AssignMap { map, value, .. } => {
                for k in &mut map.keys {
                    self.expr(k, before, false);
                }
                self.expr(value, before, false);
            }
            StmtKind::If { cond, then, els } => {
                self.expr(cond, before, false);
                self.block(&mut then.stmts);
                if let Some(b) = els {
                    self.block(&mut b.stmts);
                }
            }
            // A while condition runs each time round: statements hoisted
            // before the loop would run once.
            StmtKind::Loop(Loop::While { cond, body }) => {
                self.expr(cond, before, true);
                self.block(&mut body.stmts);
            }
            StmtKind::Loop(Loop::For { iter, body, .. }) => {
                if let ForIter::Range { start, end } = iter {
                    self.expr(start, before, false);
                    self.expr(end, before, false);
                }
                self.block(&mut body.stmts);
            }
            StmtKind::Loop(Loop::Unroll { count, body }) => {
                self.expr(count, before, false);
                self.block(&mut body.stmts);
            }
            StmtKind::Jump(_) => {}
        }
    }

    /// Expand the calls in `e`, innermost first. Their statements go to
    /// `before`, which runs before the statement holding `e`; `maybe` says
    /// `e` may not be evaluated (after `&&`, `||`, in `?:`), where hoisting
    /// statements would run them when C would not.
    fn expr(&mut self, e: &mut Expr, before: &mut Vec<Stmt>, maybe: bool) {
        let lazy = match &e.kind {
            ExprKind::Binary { op: BinOp::LogAnd | BinOp::LogOr, .. } => 1,
            ExprKind::Ternary { .. } => 1,
            _ => usize::MAX,
        };
        let mut i = 0;
        e.children_mut(&mut |child| {
            self.expr(child, before, maybe || i >= lazy);
            i += 1;
        });
        let Some((body, value)) = self.call(e) else { return };
        let name = call_name(e).unwrap_or_default().to_string();
        if let (true, Some(s)) = (maybe, body.first()) {
            self.diags.push(
                Diagnostic::error(format!(
                    "macro `{name}` has statements, so it cannot be called where it may not run"
                ))
                .at(e.span, "after `&&` or `||`, or in `?:`")
                .also(s.span, "this statement would run anyway")
                .note("assign the value to a variable first"),
            );
            return;
        }
        before.extend(body);
        match value {
            Some(v) => *e = v,
            None => self.diags.push(
                Diagnostic::error(format!("macro `{name}` has no value"))
                    .at(e.span, "used as a value")
                    .note("a macro's value is its last expression, written without `;`"),
            ),
        }
    }

    /// If `e` calls a macro: its statements and value for this call, with
    /// calls inside them expanded.
    fn call(&mut self, e: &Expr) -> Option<(Vec<Stmt>, Option<Expr>)> {
        let name = call_name(e)?;
        let def = *self.macros.get(name)?;
        let args: &[Expr] = match &e.kind {
            ExprKind::Call { args, .. } => args,
            _ => &[],
        };
        if args.len() != def.params.len() {
            let want = def.params.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(", ");
            self.diags.push(
                Diagnostic::error(format!(
                    "macro `{name}` takes {} argument(s), {} given",
                    def.params.len(),
                    args.len()
                ))
                .at(e.span, "wrong number of arguments")
                .also(def.name_span, format!("defined as `{name}({want})`")),
            );
            return Some((Vec::new(), Some(Expr::new(ExprKind::Int(0), e.span))));
        }
        if self.depth >= MAX_DEPTH {
            self.diags.push(
                Diagnostic::error(format!("macro `{name}` expands more than {MAX_DEPTH} levels deep"))
                    .at(e.span, "expanded here")
                    .note("a macro cannot call itself"),
            );
            return Some((Vec::new(), Some(Expr::new(ExprKind::Int(0), e.span))));
        }
        self.calls += 1;
        let mut sub = Substitution { def, args, suffix: format!("__{name}_{}", self.calls), diags: Vec::new() };
        let mut body = def.body.clone();
        let mut value = def.value.clone();
        for s in &mut body {
            sub.stmt(s);
        }
        if let Some(v) = &mut value {
            sub.expr(v);
        }
        self.diags.append(&mut sub.diags);
        self.depth += 1;
        self.block(&mut body);
        if let Some(v) = &mut value {
            self.expr(v, &mut body, false);
        }
        self.depth -= 1;
        Some((body, value))
    }
}

/// The macro a call or bare identifier may name.
fn call_name(e: &Expr) -> Option<&str> {
    match &e.kind {
        ExprKind::Call { name, .. } | ExprKind::Ident(name) => Some(name),
        _ => None,
    }
}

/// Whether evaluating `e` does something besides computing it.
fn has_effects(e: &Expr) -> bool {
    e.any(&|x| matches!(x.kind, ExprKind::Call { .. } | ExprKind::IncDec { .. }))
}

/// One call's parameters replaced by its arguments, and its own variables
/// renamed with `suffix`.
struct Substitution<'a> {
    def: &'a MacroDef,
    args: &'a [Expr],
    suffix: String,
    diags: Vec<Diagnostic>,
}

impl Substitution<'_> {
    /// The argument passed for the parameter written `name` (`$x`, `@m`, `x`).
    fn arg(&self, name: &str) -> Option<&Expr> {
        let i = self.def.params.iter().position(|p| p.name == name)?;
        self.args.get(i)
    }

    fn stmt(&mut self, s: &mut Stmt) {
        match &mut s.kind {
            StmtKind::Expr(e) => self.expr(e),
            StmtKind::AssignMap { map, value, .. } => {
                self.map(map);
                self.expr(value);
            }
            StmtKind::AssignVar { name, name_span, value, .. } => {
                self.expr(value);
                match self.arg(&format!("${name}")).map(|a| &a.kind) {
                    Some(ExprKind::Var(target)) => *name = target.clone(),
                    Some(_) => self.diags.push(
                        Diagnostic::error(format!(
                            "macro `{}` assigns to ${name}, but its argument is not a variable",
                            self.def.name
                        ))
                        .at(*name_span, "assigned here"),
                    ),
                    None => name.push_str(&self.suffix),
                }
            }
            StmtKind::If { cond, then, els } => {
                self.expr(cond);
                for s in then.stmts.iter_mut().chain(els.iter_mut().flat_map(|b| b.stmts.iter_mut())) {
                    self.stmt(s);
                }
            }
            StmtKind::Loop(l) => {
                let body = match l {
                    Loop::While { cond, body } | Loop::Unroll { count: cond, body } => {
                        self.expr(cond);
                        body
                    }
                    Loop::For { var, iter, body, .. } => {
                        var.push_str(&self.suffix);
                        match iter {
                            ForIter::Range { start, end } => {
                                self.expr(start);
                                self.expr(end);
                            }
                            ForIter::Map(m) => self.map(m),
                        }
                        body
                    }
                };
                for s in &mut body.stmts {
                    self.stmt(s);
                }
            }
            StmtKind::Jump(_) => {}
        }
    }

    fn expr(&mut self, e: &mut Expr) {
        let replacement = match &e.kind {
            ExprKind::Var(name) => self.arg(&format!("${name}")).cloned(),
            ExprKind::Ident(name) => self.arg(name).cloned(),
            _ => None,
        };
        if let Some(arg) = replacement {
            *e = arg;
            return;
        }
        match &mut e.kind {
            ExprKind::Var(name) => name.push_str(&self.suffix),
            ExprKind::Map(m) => self.map(m),
            _ => {
                e.children_mut(&mut |child| self.expr(child));
            }
        }
    }

    /// `@m[keys]` where `@m` is a parameter: the caller's map, same keys.
    fn map(&mut self, m: &mut MapRef) {
        for k in &mut m.keys {
            self.expr(k);
        }
        let param = format!("@{}", m.name);
        match self.arg(&param).map(|a| (&a.kind, a.span)) {
            Some((ExprKind::Map(passed), _)) if passed.keys.is_empty() => m.name = passed.name.clone(),
            Some((_, span)) => {
                let d = Diagnostic::error(format!("macro `{}` takes a map as {param}", self.def.name))
                    .at(span, "not a map")
                    .note("pass a map without keys, e.g. `@counts`");
                self.diags.push(d);
            }
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::frontend::parser::parse_program;
    use crate::source::{FileId, SourceMap};

    fn expanded(src: &str) -> Result<String, String> {
        let mut sources = SourceMap::new();
        let file: FileId = sources.add("<test>", src);
        let program = parse_program(src, file).map_err(|d| format!("{d:?}"))?;
        let out =
            super::expand(&program).map_err(|d| d.iter().map(|d| d.message.clone()).collect::<Vec<_>>().join("; "))?;
        Ok(format!("{:?}", out.probes[0].body.stmts.iter().map(|s| &s.kind).collect::<Vec<_>>()))
    }

    #[test]
    fn calls_are_replaced_and_locals_renamed() {
        let out = expanded("macro inc($x) { $y = 1; $x += $y; $x } BEGIN { $a = inc($a); }").unwrap();
        assert!(out.contains("y__inc_1"), "{out}");
        assert!(out.contains("name: \"a\""), "{out}");
    }

    #[test]
    fn errors_name_the_macro() {
        let e = expanded("macro m($x) { $x } BEGIN { m(1, 2); }").unwrap_err();
        assert!(e.contains("takes 1 argument(s), 2 given"), "{e}");
        let e = expanded("macro m() { m() } BEGIN { m(); }").unwrap_err();
        assert!(e.contains("levels deep"), "{e}");
        let e = expanded("macro m() { $x = 1; } BEGIN { $y = m(); }").unwrap_err();
        assert!(e.contains("has no value"), "{e}");
        let e = expanded("macro m() { 1 } macro m() { 2 } BEGIN { m(); }").unwrap_err();
        assert!(e.contains("defined twice"), "{e}");
        let e = expanded("macro m() { $x = 1; $x } BEGIN { $y = 0 && m(); }").unwrap_err();
        assert!(e.contains("cannot be called where it may not run"), "{e}");
    }
}
