//! Loops and jumps in the checker: `while`, `for`, `unroll`, `break`,
//! `continue`, `return`.
//!
//! [`prepare`] runs once per probe, before type checking. It checks where
//! jumps may stand, and gives each `for` loop's
//! variable a name of its own (the `$i` of the second loop becomes `i~2`):
//! as in bpftrace, the variable exists only inside its loop, so two loops
//! may both use `$i`, and a `$i` after them is another variable. A map
//! loop's parts, `$kv.0` (the key; `$kv.0.N` for one of several keys) and
//! `$kv.1` (the value), become plain variables (`kv~1.0`, `kv~1.1`) that
//! the loop sets on each entry, so the rest of the pipeline sees nothing
//! new but the loop itself. [`Cx::loop_stmt`] then types the loops.

use std::cell::RefCell;
use std::collections::HashSet;

use super::maps::MapValue;
use super::typeck::Cx;
use super::CheckedProbe;
use crate::diag::Diagnostic;
use crate::frontend::ast::*;
use crate::frontend::types::{AggKind, Type};
use crate::source::Span;

/// The most times `unroll` repeats its block (bpftrace's limit).
pub const MAX_UNROLL: i64 = 100;

/// Checks jumps and renames loop variables (see the module doc).
pub fn prepare(probe: &mut CheckedProbe, diags: &mut Vec<Diagnostic>) {
    let mut p = Prep { diags, loops: 0, next: 0, scopes: Vec::new(), assigned: HashSet::new() };
    p.block(&mut probe.body);
}

/// The variable of an enclosing `for` loop.
struct Scope {
    user: String,
    internal: String,
    map: bool,
}

struct Prep<'d> {
    diags: &'d mut Vec<Diagnostic>,
    /// Enclosing `while` and `for` loops (what `break` and `continue` leave).
    loops: u32,
    next: u32,
    scopes: Vec<Scope>,
    /// Variables assigned so far, in source order.
    assigned: HashSet<String>,
}

impl Prep<'_> {
    fn block(&mut self, b: &mut Block) {
        for s in &mut b.stmts {
            self.stmt(s);
        }
    }

    fn stmt(&mut self, s: &mut Stmt) {
        match &mut s.kind {
            StmtKind::Expr(e) => self.expr(e),
            StmtKind::AssignMap { map, value, .. } => {
                map.keys.iter_mut().for_each(|k| self.expr(k));
                self.expr(value);
            }
            StmtKind::AssignVar { name, name_span, value, .. } => {
                self.expr(value);
                self.not_loop_var(name, *name_span);
                self.assigned.insert(name.clone());
            }
            StmtKind::If { cond, then, els } => {
                self.expr(cond);
                self.block(then);
                if let Some(b) = els {
                    self.block(b);
                }
            }
            StmtKind::Loop(Loop::While { cond, body }) => {
                self.expr(cond);
                self.loops += 1;
                self.block(body);
                self.loops -= 1;
            }
            StmtKind::Loop(Loop::Unroll { body, .. }) => self.block(body),
            StmtKind::Loop(Loop::For { var, var_span, iter, body }) => {
                if let ForIter::Range { start, end } = iter {
                    self.expr(start);
                    self.expr(end);
                }
                if self.assigned.contains(var.as_str()) || self.scopes.iter().any(|s| s.user == *var) {
                    self.diags.push(
                        Diagnostic::error(format!("the loop variable ${var} shadows a variable of the same name"))
                            .at(*var_span, "already a variable here")
                            .note("a loop's variable exists only inside the loop: give it a name of its own"),
                    );
                }
                self.next += 1;
                let internal = format!("{var}~{}", self.next);
                let map = matches!(iter, ForIter::Map(_));
                self.scopes.push(Scope { user: var.clone(), internal: internal.clone(), map });
                self.loops += 1;
                self.block(body);
                self.loops -= 1;
                self.scopes.pop();
                *var = internal;
            }
            StmtKind::Jump(j @ (Jump::Break | Jump::Continue)) if self.loops == 0 => {
                let word = if *j == Jump::Break { "break" } else { "continue" };
                self.diags.push(
                    Diagnostic::error(format!("`{word}` outside of a loop"))
                        .at(s.span, "not inside `while` or `for`")
                        .note("`break` and `continue` apply to `while` and `for` loops (`unroll` is not a loop)"),
                );
            }
            StmtKind::Jump(_) => {}
        }
    }

    /// A loop's variable is set by the loop alone.
    fn not_loop_var(&mut self, name: &str, span: Span) {
        if self.scopes.iter().any(|s| s.user == name) {
            self.diags.push(
                Diagnostic::error(format!("the loop variable ${name} cannot be assigned"))
                    .at(span, "set by the loop on each iteration")
                    .note("copy it into a variable of its own first"),
            );
        }
    }

    fn scope(&self, name: &str) -> Option<&Scope> {
        self.scopes.iter().rev().find(|s| s.user == name)
    }

    fn expr(&mut self, e: &mut Expr) {
        // After a diagnostic, a literal stands in so nothing cascades.
        match self.entry_part(e) {
            Some(Some(part)) => e.kind = ExprKind::Var(part),
            Some(None) => e.kind = ExprKind::Int(0),
            None => {}
        }
        match &e.kind {
            ExprKind::Var(name) => {
                let Some(s) = self.scope(name) else { return };
                if !s.map {
                    e.kind = ExprKind::Var(s.internal.clone());
                    return;
                }
                let d = Diagnostic::error(format!("${name} is an entry of a map: (key, value)"))
                    .at(e.span, "a whole entry")
                    .note(format!("read its key as `${name}.0` and its value as `${name}.1`"));
                self.diags.push(d);
                e.kind = ExprKind::Int(0);
                return;
            }
            ExprKind::IncDec { target, .. } => {
                if let ExprKind::Var(name) = &target.kind {
                    let name = name.clone();
                    self.not_loop_var(&name, e.span);
                    self.assigned.insert(name);
                    return;
                }
            }
            _ => {}
        }
        e.children_mut(&mut |c| self.expr(c));
    }

    /// `$kv.0`, `$kv.1` or `$kv.0.N` of a map loop's `$kv`: the variable
    /// holding that part (`Some(None)`: no such part, said so).
    fn entry_part(&mut self, e: &Expr) -> Option<Option<String>> {
        let ExprKind::Field { base, field, arrow: false, field_span } = &e.kind else { return None };
        let (scope, path) = match &base.kind {
            ExprKind::Var(n) => (self.scope(n)?, vec![field.as_str()]),
            ExprKind::Field { base: inner, field: first, arrow: false, .. } if first == "0" => match &inner.kind {
                ExprKind::Var(n) => (self.scope(n)?, vec!["0", field.as_str()]),
                _ => return None,
            },
            _ => return None,
        };
        if !scope.map {
            return None;
        }
        let ok = match path[..] {
            [p] => p == "0" || p == "1",
            [_, n] => n.bytes().all(|b| b.is_ascii_digit()),
            _ => false,
        };
        if !ok {
            let user = scope.user.clone();
            self.diags.push(
                Diagnostic::error(format!("${user} has two parts, `.0` (the key) and `.1` (the value)"))
                    .at(*field_span, "no such part"),
            );
            return Some(None);
        }
        Some(Some(format!("{}.{}", scope.internal, path.join("."))))
    }
}

/// `$kv.0.1` for the variable `kv~3.0.1`, as the user wrote it.
fn shown(part: &str) -> String {
    let (user, rest) = part.split_once('~').unwrap_or((part, ""));
    let suffix = rest.find('.').map_or("", |i| &rest[i..]);
    format!("${user}{suffix}")
}

impl Cx<'_> {
    /// Types a loop; its variables become variables of the probe.
    pub(super) fn loop_stmt(&mut self, l: &mut Loop) {
        match l {
            Loop::While { cond, body } => {
                let t = self.expr(cond);
                self.want_int(&t, cond.span, "a loop condition");
                self.block(body);
            }
            Loop::Unroll { count, body } => {
                // A positional parameter is a literal by now.
                self.expr(count);
                let d = match count.kind {
                    ExprKind::Int(n) if (1..=MAX_UNROLL).contains(&n) => None,
                    ExprKind::Int(n) if n > MAX_UNROLL => Some(format!(
                        "unroll maximum value is {MAX_UNROLL}: unroll({n}) would repeat the block too often"
                    )),
                    ExprKind::Int(n) => Some(format!("unroll minimum value is 1: unroll({n}) repeats nothing")),
                    _ => Some("unroll needs an integer literal: the block is repeated when compiling".into()),
                };
                if let Some(msg) = d {
                    self.error(Diagnostic::error(msg).at(count.span, "not 1 to 100"));
                }
                self.block(body);
            }
            Loop::For { var, iter: ForIter::Range { start, end }, body, .. } => {
                let (a, b) = (self.expr(start), self.expr(end));
                self.want_int(&a, start.span, "a range's start");
                self.want_int(&b, end.span, "a range's end");
                let signed = !matches!(a.as_int(), Type::Int { signed: false, .. });
                self.declare(var, Type::Int { size: 8, signed });
                self.block(body);
            }
            Loop::For { var, iter: ForIter::Map(m), body, .. } => {
                self.maps.use_whole(&m.name, m.span);
                self.maps.note_read(&m.name, m.span);
                let walkable = match self.maps.get(&m.name).and_then(|i| i.value) {
                    // A histogram's entries are its buckets; avg() and
                    // stats() values are not one number.
                    Some(MapValue::Agg(
                        k @ (AggKind::Avg | AggKind::Stats | AggKind::Hist | AggKind::Lhist { .. }),
                    )) => {
                        let name = m.display_name();
                        let a = if k.name().starts_with('a') { "an" } else { "a" };
                        self.error(
                            Diagnostic::error(format!("a `for` loop cannot walk {name}, {a} {}() map", k.name()))
                                .at(m.span, format!("a {}() map", k.name()))
                                .note("loops walk maps of plain values and count(), sum(), min() and max() maps; print this one with print()"),
                        );
                        false
                    }
                    _ => true,
                };
                for (part, span) in entry_parts(body, var) {
                    let t = if walkable { self.entry_part_type(m, &part, span) } else { Type::Unknown };
                    self.declare(&part, t);
                }
                self.block(body);
            }
        }
    }

    fn declare(&mut self, name: &str, t: Type) {
        if !self.vars.iter().any(|(n, _)| n == name) {
            self.vars.push((name.to_string(), t));
        }
    }

    /// The type of one part of a map loop's entry (`kv~1.0`, `kv~1.1`,
    /// `kv~1.0.2`), or `Unknown` after a diagnostic.
    fn entry_part_type(&mut self, m: &MapRef, part: &str, span: Span) -> Type {
        let Some(info) = self.maps.get(&m.name).filter(|i| i.keys_known && i.value.is_some()).cloned() else {
            // Never assigned: the map table says so once all probes are seen.
            return Type::Unknown;
        };
        let name = m.display_name();
        let path: Vec<&str> = part.rsplit('~').next().unwrap_or("").split('.').skip(1).collect();
        let keys = &info.keys;
        let fail =
            |msg: String| Diagnostic::error(msg).at(span, format!("{} is not a part of {name}'s entries", shown(part)));
        let result = match (path.as_slice(), keys.len()) {
            (["1"], _) => match info.value {
                Some(MapValue::Int { signed }) => Ok(Type::Int { size: 8, signed }),
                Some(MapValue::Str { size }) => Ok(Type::Str { size }),
                Some(MapValue::Stack(st)) => Ok(Type::Stack(st)),
                Some(MapValue::Sym { user }) => Ok(Type::Sym { user }),
                Some(MapValue::Agg(AggKind::Count)) => Ok(Type::Int { size: 8, signed: false }),
                Some(MapValue::Agg(AggKind::Sum | AggKind::Min | AggKind::Max)) => Ok(Type::I64),
                Some(MapValue::Agg(_)) => Ok(Type::Unknown),
                Some(MapValue::Composite) => Ok(info.value_type()),
                None => Ok(Type::Unknown),
            },
            (["0"], 1) => Ok(keys[0].clone()),
            (["0"], 0) => Err(fail(format!("{name} has no keys: a `for` loop walks the entries of a keyed map"))),
            (["0"], n) => Err(fail(format!(
                "{name} has {n} keys: `{}` as one tuple is not supported yet; read the keys one by one, `{}.0` to `{}.{}`",
                shown(part),
                shown(part),
                shown(part),
                n - 1
            ))),
            (["0", j], n) if n > 1 => match j.parse::<usize>().ok().and_then(|j| keys.get(j)) {
                Some(t) => Ok(t.clone()),
                None => Err(fail(format!("{name} has {n} keys, `.0.0` to `.0.{}`", n - 1))),
            },
            (["0", _], _) => Err(fail(format!("{name} has one key: it is `{}`", shown(part.rsplit_once('.').map_or(part, |(a, _)| a))))),
            _ => Ok(Type::Unknown),
        };
        result.unwrap_or_else(|d| {
            self.error(d);
            Type::Unknown
        })
    }
}

/// The parts of map loop `var`'s entries that `body` reads, with where.
fn entry_parts(body: &Block, var: &str) -> Vec<(String, Span)> {
    let prefix = format!("{var}.");
    let found: RefCell<Vec<(String, Span)>> = RefCell::new(Vec::new());
    body.any_expr(&|e| {
        if let ExprKind::Var(n) = &e.kind {
            let mut f = found.borrow_mut();
            if n.starts_with(&prefix) && !f.iter().any(|(x, _)| x == n) {
                f.push((n.clone(), e.span));
            }
        }
        false
    });
    found.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frontend::parser::parse_program;
    use crate::frontend::passes::{expand_all, Params};
    use crate::frontend::probes::ProbeContext;

    /// The probe's body after [`prepare`], and what it said.
    fn prepared(text: &str) -> (Block, Vec<String>) {
        let ast = parse_program(text, 0).unwrap_or_else(|d| panic!("{d:?}"));
        let mut probes = expand_all(&ast, &ProbeContext::default(), &Params::default()).expect("expands");
        let mut diags = Vec::new();
        prepare(&mut probes[0], &mut diags);
        (probes[0].body.clone(), diags.into_iter().map(|d| d.message).collect())
    }

    fn vars(b: &Block) -> Vec<String> {
        let found = RefCell::new(Vec::new());
        b.any_expr(&|e| {
            if let ExprKind::Var(n) = &e.kind {
                found.borrow_mut().push(n.clone());
            }
            false
        });
        found.into_inner()
    }

    #[test]
    fn each_loop_variable_gets_a_name_of_its_own() {
        let (body, said) = prepared(
            "BEGIN { for ($i : 0..2) { @a = $i; } for ($i : 0..$n) { @b = $i; } \
             for ($kv : @m) { @c = $kv.0 + $kv.1 + $kv.0.2; } $i = 1; }",
        );
        assert!(said.is_empty(), "{said:?}");
        assert_eq!(vars(&body), ["i~1", "n", "i~2", "kv~3.0", "kv~3.1", "kv~3.0.2"]);
        let names: Vec<&str> = body
            .stmts
            .iter()
            .filter_map(|s| match &s.kind {
                StmtKind::Loop(Loop::For { var, .. }) => Some(var.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(names, ["i~1", "i~2", "kv~3"]);
    }

    #[test]
    fn jumps_stand_in_loops_and_loop_variables_stay_put() {
        let (_, said) = prepared(
            "BEGIN { break; while (1) { unroll(2) { continue; } } unroll(2) { break; } \
             $x = 1; for ($x : 0..2) { } for ($j : 0..2) { $j++; } return; }",
        );
        assert_eq!(
            said,
            [
                "`break` outside of a loop",
                "`break` outside of a loop",
                "the loop variable $x shadows a variable of the same name",
                "the loop variable $j cannot be assigned",
            ]
        );
    }

    #[test]
    fn parts_are_shown_as_written() {
        assert_eq!(shown("kv~3.0.1"), "$kv.0.1");
        assert_eq!(shown("kv~12.1"), "$kv.1");
        assert_eq!(shown("i~2"), "$i");
    }
}
