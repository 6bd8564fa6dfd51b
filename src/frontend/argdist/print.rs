//! The AST printed back as program text, in the language's own syntax.
//!
//! A translated specifier is a program like any other; printing it shows
//! users (`-v`) and tests exactly what will run, and the text parses back
//! to the same tree (parentheses are added only where precedence needs
//! them).

use crate::frontend::ast::*;
use std::fmt::Write;

/// The whole program, one probe per line.
pub fn program_text(p: &Program) -> String {
    let mut out = String::new();
    for probe in &p.probes {
        let attach: Vec<&str> = probe.attach.iter().map(|a| a.text.as_str()).collect();
        out.push_str(&attach.join(", "));
        if let Some(pred) = &probe.pred {
            let _ = write!(out, " /{}/", expr_text(pred));
        }
        out.push(' ');
        block(&mut out, &probe.body);
        out.push('\n');
    }
    out
}

fn block(out: &mut String, b: &Block) {
    out.push_str("{ ");
    for s in &b.stmts {
        stmt(out, s);
        out.push(' ');
    }
    out.push('}');
}

fn stmt(out: &mut String, s: &Stmt) {
    match &s.kind {
        StmtKind::Expr(e) => {
            let _ = write!(out, "{};", expr_text(e));
        }
        StmtKind::AssignMap { map, op, value } => {
            let op = op.map(|o| o.symbol()).unwrap_or("");
            let _ = write!(out, "{} {op}= {};", map_text(map), expr_text(value));
        }
        StmtKind::AssignVar { name, op, value, .. } => {
            let op = op.map(|o| o.symbol()).unwrap_or("");
            let _ = write!(out, "${name} {op}= {};", expr_text(value));
        }
        StmtKind::If { cond, then, els } => {
            let _ = write!(out, "if ({}) ", expr_text(cond));
            block(out, then);
            if let Some(e) = els {
                out.push_str(" else ");
                block(out, e);
            }
        }
        StmtKind::Loop(l) => {
            let _ = match l {
                Loop::While { cond, .. } => write!(out, "while ({}) ", expr_text(cond)),
                Loop::Unroll { count, .. } => write!(out, "unroll ({}) ", expr_text(count)),
                Loop::For { var, iter: ForIter::Range { start, end }, .. } => {
                    write!(out, "for (${var} : {}..{}) ", expr_text(start), expr_text(end))
                }
                Loop::For { var, iter: ForIter::Map(m), .. } => write!(out, "for (${var} : {}) ", map_text(m)),
            };
            block(out, l.body());
        }
        StmtKind::Jump(j) => out.push_str(match j {
            Jump::Break => "break;",
            Jump::Continue => "continue;",
            Jump::Return => "return;",
        }),
    }
}

fn map_text(m: &MapRef) -> String {
    if m.keys.is_empty() {
        return format!("@{}", m.name);
    }
    let keys: Vec<String> = m.keys.iter().map(expr_text).collect();
    format!("@{}[{}]", m.name, keys.join(", "))
}

pub fn type_text(t: &TypeName) -> String {
    let mut s = match &t.tag {
        Some(tag) => format!("{tag} {}", t.name),
        None => t.name.clone(),
    };
    if t.pointers > 0 {
        s.push(' ');
        s.push_str(&"*".repeat(t.pointers as usize));
    }
    s
}

/// Binding strength, loosest first (C's).
const TERNARY: u8 = 1;
const UNARY: u8 = 12;
const POSTFIX: u8 = 13;

fn binary_prec(op: BinOp) -> u8 {
    use BinOp::*;
    match op {
        LogOr => 2,
        LogAnd => 3,
        BitOr => 4,
        BitXor => 5,
        BitAnd => 6,
        Eq | Ne => 7,
        Lt | Le | Gt | Ge => 8,
        Shl | Shr => 9,
        Add | Sub => 10,
        Mul | Div | Mod => 11,
    }
}

fn prec(e: &Expr) -> u8 {
    match &e.kind {
        ExprKind::Ternary { .. } => TERNARY,
        ExprKind::Binary { op, .. } => binary_prec(*op),
        ExprKind::Unary { .. } | ExprKind::Cast { .. } => UNARY,
        ExprKind::IncDec { prefix: true, .. } => UNARY,
        // A negative literal prints with its sign, like a unary minus.
        ExprKind::Int(v) if *v < 0 => UNARY,
        _ => POSTFIX,
    }
}

/// `e` in a position that needs at least `min` binding strength.
fn sub(e: &Expr, min: u8) -> String {
    let text = expr_text(e);
    if prec(e) < min {
        format!("({text})")
    } else {
        text
    }
}

pub fn expr_text(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Int(v) => v.to_string(),
        ExprKind::Str(s) => string_literal(s),
        ExprKind::Ident(n) => n.clone(),
        ExprKind::Builtin(b) => b.name(),
        ExprKind::Positional(n) => format!("${n}"),
        ExprKind::PositionalCount => "$#".into(),
        ExprKind::Var(n) => format!("${n}"),
        ExprKind::Map(m) => map_text(m),
        ExprKind::Call { name, args, .. } => {
            let args: Vec<String> = args.iter().map(expr_text).collect();
            format!("{name}({})", args.join(", "))
        }
        ExprKind::FnCall { func, args, .. } => {
            let args: Vec<String> = args.iter().map(expr_text).collect();
            format!("{}({})", func.name(), args.join(", "))
        }
        ExprKind::Binary { op, lhs, rhs } => {
            let p = binary_prec(*op);
            format!("{} {} {}", sub(lhs, p), op.symbol(), sub(rhs, p + 1))
        }
        ExprKind::Unary { op, expr } => {
            let sym = op.symbol();
            // `- -1` must not become `--1`.
            let inner = sub(expr, UNARY);
            let space = if inner.starts_with(sym) || (sym == "-" && inner.starts_with('-')) { " " } else { "" };
            format!("{sym}{space}{inner}")
        }
        ExprKind::Ternary { cond, then, els } => {
            // A nested `?:` in the middle is legal but hard to read.
            format!("{} ? {} : {}", sub(cond, TERNARY + 1), sub(then, TERNARY + 1), sub(els, TERNARY))
        }
        ExprKind::Field { base, field, arrow, .. } => {
            format!("{}{}{field}", sub(base, POSTFIX), if *arrow { "->" } else { "." })
        }
        ExprKind::Index { base, index } => format!("{}[{}]", sub(base, POSTFIX), expr_text(index)),
        ExprKind::Cast { ty, expr } => format!("({}){}", type_text(ty), sub(expr, UNARY)),
        ExprKind::IncDec { target, inc, prefix } => {
            let op = if *inc { "++" } else { "--" };
            if *prefix {
                format!("{op}{}", sub(target, UNARY))
            } else {
                format!("{}{op}", sub(target, POSTFIX))
            }
        }
        ExprKind::Sizeof(SizeofArg::Type(t)) => format!("sizeof({})", type_text(t)),
        ExprKind::Sizeof(SizeofArg::Expr(x)) => format!("sizeof({})", expr_text(x)),
        ExprKind::Offsetof { ty, members } => format!("offsetof({}, {})", type_text(ty), members.join(".")),
        ExprKind::Tuple { elems, names } => {
            let parts: Vec<String> = match names.is_empty() {
                true => elems.iter().map(expr_text).collect(),
                false => names.iter().zip(elems).map(|(n, e)| format!("{n} = {}", expr_text(e))).collect(),
            };
            format!("({})", parts.join(", "))
        }
    }
}

fn string_literal(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
