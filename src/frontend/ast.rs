//! The abstract syntax tree shared by both front ends (the bpftrace-language
//! parser and the argdist specifier parser).
//!
//! Every node carries a [`Span`]. Expressions also carry a `ty` slot that the
//! parser leaves as [`Type::Unknown`] and the type-checking pass fills in
//! place: the tree is small and walked a handful of times, so an in-place
//! annotation is simpler than a side table keyed by node ids.

use crate::frontend::builtins::{Builtin, Function};
use crate::frontend::types::Type;
use crate::source::Span;

/// A whole program: probe blocks in source order, and the macros they
/// may call.
#[derive(Clone, Debug, Default)]
pub struct Program {
    pub probes: Vec<Probe>,
    /// The C text between probes (directives, struct definitions ...),
    /// for `frontend::cdecl`.
    pub c_text: Vec<Span>,
    /// The script's C definitions, once `frontend::cdecl` has read them.
    pub defs: std::rc::Rc<crate::frontend::cdecl::Defs>,
    pub macros: Vec<MacroDef>,
    /// `config = { key = value; ... }` entries, in order.
    pub config: Vec<ConfigEntry>,
}

/// One `key = value` of a `config = { ... }` block (read by
/// `frontend::config`).
#[derive(Clone, Debug)]
pub struct ConfigEntry {
    pub key: String,
    pub key_span: Span,
    pub value: ConfigValue,
    pub value_span: Span,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigValue {
    Int(i64),
    Str(String),
    /// A bare word: `perf`, `true`, `warn`.
    Word(String),
}

/// `macro name(params) { statements; value }` (current bpftrace): expanded
/// into the probes that call it by `frontend::macros`, before checking.
#[derive(Clone, Debug)]
pub struct MacroDef {
    pub name: String,
    pub name_span: Span,
    pub params: Vec<MacroParam>,
    pub body: Vec<Stmt>,
    /// The final expression, without `;`: what a call evaluates to.
    pub value: Option<Expr>,
    pub span: Span,
}

/// A macro's parameter as written: `$x` (any expression), `@x` (a map) or
/// `x` (any expression).
#[derive(Clone, Debug)]
pub struct MacroParam {
    pub name: String,
    pub span: Span,
}

/// `attach, attach /pred/ { body }`
#[derive(Clone, Debug)]
pub struct Probe {
    /// The attach points as written (parsed further by `frontend::probes`).
    pub attach: Vec<AttachPoint>,
    pub pred: Option<Expr>,
    pub body: Block,
    /// From the first attach point to the closing brace.
    pub span: Span,
}

/// One attach point exactly as written, e.g. `uprobe:./db:snapshot` or
/// `t:syscalls:sys_enter_open*`. Interpreted by `frontend::probes`.
#[derive(Clone, Debug)]
pub struct AttachPoint {
    pub text: String,
    pub span: Span,
}

#[derive(Clone, Debug, Default)]
pub struct Block {
    pub stmts: Vec<Stmt>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct Stmt {
    pub kind: StmtKind,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub enum StmtKind {
    /// An expression evaluated for its effect: `printf(...)`, `exit()`,
    /// `@x++`, `count()`-less calls such as `delete(@m[k])`.
    Expr(Expr),
    /// `@m[k] = e`, or with `op` set the compound form `@m[k] += e`.
    AssignMap {
        map: MapRef,
        op: Option<BinOp>,
        value: Expr,
    },
    /// `$x = e`, or `$x += e` with `op` set.
    AssignVar {
        name: String,
        name_span: Span,
        op: Option<BinOp>,
        value: Expr,
    },
    /// `if (c) { } else if (d) { } else { }`; an `else if` is an `els`
    /// block holding a single `If` statement.
    If {
        cond: Expr,
        then: Block,
        els: Option<Block>,
    },
    /// `while (cond) { body }`, `for ($var : iter) { body }`,
    /// `unroll(count) { body }`, `break`, `continue`, `return`
    /// (`frontend::passes::flow` checks them, `codegen::lower_loop` lowers).
    Loop(Loop),
    Jump(Jump),
}

#[derive(Clone, Debug)]
pub enum Loop {
    While {
        cond: Expr,
        body: Block,
    },
    /// `var` is the name without `$`.
    For {
        var: String,
        var_span: Span,
        iter: ForIter,
        body: Block,
    },
    /// The count must be an integer literal (checked by `passes::flow`).
    Unroll {
        count: Expr,
        body: Block,
    },
}

/// What a `for` loop walks.
#[derive(Clone, Debug)]
pub enum ForIter {
    /// `start..end`: from `start` up to but excluding `end`.
    Range { start: Box<Expr>, end: Box<Expr> },
    /// `@map`: its entries.
    Map(MapRef),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Jump {
    Break,
    Continue,
    Return,
}

impl Loop {
    /// The loop's body.
    pub fn body(&self) -> &Block {
        match self {
            Loop::While { body, .. } | Loop::For { body, .. } | Loop::Unroll { body, .. } => body,
        }
    }
}

/// A map reference `@name` or `@name[k1, k2]`; the anonymous map `@` has an
/// empty name.
#[derive(Clone, Debug)]
pub struct MapRef {
    pub name: String,
    pub keys: Vec<Expr>,
    pub span: Span,
}

impl MapRef {
    /// `@name` as the user wrote it, for messages and output.
    pub fn display_name(&self) -> String {
        format!("@{}", self.name)
    }
}

#[derive(Clone, Debug)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
    /// Filled in by the type checker.
    pub ty: Type,
}

impl Expr {
    pub fn new(kind: ExprKind, span: Span) -> Expr {
        Expr { kind, span, ty: Type::Unknown }
    }

    /// Whether `found` holds for this expression or any inside it.
    pub fn any(&self, found: &dyn Fn(&Expr) -> bool) -> bool {
        if found(self) {
            return true;
        }
        let all = |es: &[Expr]| es.iter().any(|e| e.any(found));
        match &self.kind {
            ExprKind::Int(_)
            | ExprKind::Str(_)
            | ExprKind::Ident(_)
            | ExprKind::Builtin(_)
            | ExprKind::Positional(_)
            | ExprKind::PositionalCount
            | ExprKind::Var(_)
            | ExprKind::Offsetof { .. }
            | ExprKind::Sizeof(SizeofArg::Type(_)) => false,
            ExprKind::Map(m) => all(&m.keys),
            ExprKind::Call { args, .. } | ExprKind::FnCall { args, .. } => all(args),
            ExprKind::Tuple { elems, .. } => all(elems),
            ExprKind::Binary { lhs, rhs, .. } => lhs.any(found) || rhs.any(found),
            ExprKind::Ternary { cond, then, els } => cond.any(found) || then.any(found) || els.any(found),
            ExprKind::Index { base, index } => base.any(found) || index.any(found),
            ExprKind::Unary { expr, .. }
            | ExprKind::Field { base: expr, .. }
            | ExprKind::Cast { expr, .. }
            | ExprKind::IncDec { target: expr, .. }
            | ExprKind::Sizeof(SizeofArg::Expr(expr)) => expr.any(found),
        }
    }

    /// Calls `f` on each expression directly inside this one.
    pub fn children_mut(&mut self, f: &mut dyn FnMut(&mut Expr)) {
        match &mut self.kind {
            ExprKind::Int(_)
            | ExprKind::Str(_)
            | ExprKind::Ident(_)
            | ExprKind::Builtin(_)
            | ExprKind::Positional(_)
            | ExprKind::PositionalCount
            | ExprKind::Var(_)
            | ExprKind::Offsetof { .. }
            | ExprKind::Sizeof(SizeofArg::Type(_)) => {}
            ExprKind::Map(m) => m.keys.iter_mut().for_each(f),
            ExprKind::Call { args, .. } | ExprKind::FnCall { args, .. } => args.iter_mut().for_each(f),
            ExprKind::Tuple { elems, .. } => elems.iter_mut().for_each(f),
            ExprKind::Binary { lhs: a, rhs: b, .. } | ExprKind::Index { base: a, index: b } => {
                f(a);
                f(b);
            }
            ExprKind::Ternary { cond, then, els } => {
                f(cond);
                f(then);
                f(els);
            }
            ExprKind::Unary { expr, .. }
            | ExprKind::Field { base: expr, .. }
            | ExprKind::Cast { expr, .. }
            | ExprKind::IncDec { target: expr, .. }
            | ExprKind::Sizeof(SizeofArg::Expr(expr)) => f(expr),
        }
    }
}

impl Block {
    /// Whether `found` holds for any expression of the block.
    pub fn any_expr(&self, found: &dyn Fn(&Expr) -> bool) -> bool {
        self.stmts.iter().any(|s| match &s.kind {
            StmtKind::Expr(e) => e.any(found),
            StmtKind::AssignMap { map, value, .. } => map.keys.iter().any(|k| k.any(found)) || value.any(found),
            StmtKind::AssignVar { value, .. } => value.any(found),
            StmtKind::If { cond, then, els } => {
                cond.any(found) || then.any_expr(found) || els.as_ref().is_some_and(|b| b.any_expr(found))
            }
            StmtKind::Loop(l) => {
                let head = match l {
                    Loop::While { cond, .. } | Loop::Unroll { count: cond, .. } => cond.any(found),
                    Loop::For { iter: ForIter::Range { start, end }, .. } => start.any(found) || end.any(found),
                    Loop::For { iter: ForIter::Map(m), .. } => m.keys.iter().any(|k| k.any(found)),
                };
                head || l.body().any_expr(found)
            }
            StmtKind::Jump(_) => false,
        })
    }
}

#[derive(Clone, Debug)]
pub enum ExprKind {
    /// Integer literal (decimal, hex `0x`, octal `0`, with `_` separators);
    /// literals above i64::MAX keep their bits.
    Int(i64),
    /// String literal with escapes (`\n \t \\ \" \0 \xNN`) already decoded.
    Str(String),
    /// A bare identifier: a builtin such as `pid`, `comm`, `arg0`, `retval`,
    /// `args`, `nsecs`. Resolved by type checking into [`ExprKind::Builtin`]
    /// (or a literal, for `func` and `probe`).
    Ident(String),
    /// A builtin variable, as type checking resolved an [`ExprKind::Ident`].
    Builtin(Builtin),
    /// `$1`, `$2`, ...
    Positional(u32),
    /// `$#`
    PositionalCount,
    /// `$name`
    Var(String),
    /// `@m` or `@m[k]` read as a value.
    Map(MapRef),
    /// `name(args)`: builtins functions, aggregations and actions alike.
    /// Resolved by type checking into [`ExprKind::FnCall`].
    Call {
        name: String,
        name_span: Span,
        args: Vec<Expr>,
    },
    /// A call to a builtin function, as type checking resolved a
    /// [`ExprKind::Call`].
    FnCall {
        func: Function,
        name_span: Span,
        args: Vec<Expr>,
    },
    Binary {
        op: BinOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    Unary {
        op: UnOp,
        expr: Box<Expr>,
    },
    /// `c ? a : b`
    Ternary {
        cond: Box<Expr>,
        then: Box<Expr>,
        els: Box<Expr>,
    },
    /// `base.field` (`arrow == false`) or `base->field` (`arrow == true`).
    Field {
        base: Box<Expr>,
        field: String,
        field_span: Span,
        arrow: bool,
    },
    /// `base[index]` on a non-map value (arrays, pointers).
    Index {
        base: Box<Expr>,
        index: Box<Expr>,
    },
    /// `(type)expr`
    Cast {
        ty: TypeName,
        expr: Box<Expr>,
    },
    /// `x++`, `++x`, `x--`, `--x` on a map or a variable.
    IncDec {
        target: Box<Expr>,
        inc: bool,
        prefix: bool,
    },
    /// `sizeof(type)` or `sizeof(expr)`.
    Sizeof(SizeofArg),
    /// A tuple `(1, "a")`, or with `names` a record `(a = 1, b = "a")`.
    Tuple {
        elems: Vec<Expr>,
        /// One per element for a record; empty for a tuple.
        names: Vec<String>,
    },
    /// `offsetof(type, member.member)`.
    Offsetof {
        ty: TypeName,
        members: Vec<String>,
    },
}

#[derive(Clone, Debug)]
pub enum SizeofArg {
    Type(TypeName),
    Expr(Box<Expr>),
}

/// A type as written in a cast, `sizeof` or `offsetof`: the base name
/// (`uint32`, `int8`, `db_shard_t`, `struct db_shard_t`) and pointer depth.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TypeName {
    /// `None` for a plain name, or "struct" / "union" / "enum".
    pub tag: Option<String>,
    pub name: String,
    /// Number of `*` after the name.
    pub pointers: u32,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    BitAnd,
    BitOr,
    BitXor,
    Shl,
    Shr,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    /// `&&` (short-circuit)
    LogAnd,
    /// `||` (short-circuit)
    LogOr,
}

impl BinOp {
    pub fn symbol(self) -> &'static str {
        use BinOp::*;
        match self {
            Add => "+",
            Sub => "-",
            Mul => "*",
            Div => "/",
            Mod => "%",
            BitAnd => "&",
            BitOr => "|",
            BitXor => "^",
            Shl => "<<",
            Shr => ">>",
            Eq => "==",
            Ne => "!=",
            Lt => "<",
            Le => "<=",
            Gt => ">",
            Ge => ">=",
            LogAnd => "&&",
            LogOr => "||",
        }
    }

    pub fn is_comparison(self) -> bool {
        use BinOp::*;
        matches!(self, Eq | Ne | Lt | Le | Gt | Ge)
    }
}

impl UnOp {
    pub fn symbol(self) -> &'static str {
        match self {
            UnOp::Neg => "-",
            UnOp::Not => "!",
            UnOp::BitNot => "~",
            UnOp::Deref => "*",
            UnOp::AddrOf => "&",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnOp {
    /// `-x`
    Neg,
    /// `!x`
    Not,
    /// `~x`
    BitNot,
    /// `*p`
    Deref,
    /// `&x` (address-of; parsed so it can be rejected with a clear message)
    AddrOf,
}
