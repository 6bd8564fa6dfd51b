//! Pointer arithmetic as C does it: `p + n`, `p - n`, `p++` and `p += n`
//! on a typed pointer move by `n` elements, not `n` bytes, and
//! `p - q` counts the elements between two pointers of one type.
//!
//! The checker rewrites the tree here (the integer side becomes
//! `n * sizeof(*p)`), so code generation only ever adds bytes. It types
//! every probe twice (the first pass learns the maps' types), so the
//! rewrite happens only when `rewrite` is set, in the last pass.

use crate::frontend::ast::{BinOp, Expr, ExprKind};
use crate::frontend::types::Type;

fn step(ptr: &Type) -> i64 {
    ptr.pointer_step()
}

/// `value` becomes `value * step` when `op` (of `p op= value`) moves the
/// pointer `ptr`.
pub fn scale_step(op: Option<BinOp>, ptr: &Type, value: &mut Expr, rewrite: bool) {
    if rewrite && matches!(op, Some(BinOp::Add | BinOp::Sub)) {
        scale(value, step(ptr));
    }
}

/// The type of `lhs op rhs` when it is pointer arithmetic, after scaling
/// its integer side; `None` when it is not (the caller types it as
/// integers). `p - q` is rewritten into `e` itself: `(p - q) / step`.
pub fn binary(e: &mut Expr, a: &Type, b: &Type, rewrite: bool) -> Option<Type> {
    let ExprKind::Binary { op, lhs, rhs } = &mut e.kind else { return None };
    // The bytes one element of the pointer side takes (1: nothing to do).
    let n = match (rewrite, a, b) {
        (false, _, _) => 1,
        (true, Type::Ptr { .. }, _) => step(a),
        (true, _, _) => step(b),
    };
    match (*op, a, b) {
        (BinOp::Add | BinOp::Sub, Type::Ptr { .. }, Type::Int { .. }) => {
            scale(rhs, n);
            Some(a.clone())
        }
        (BinOp::Add, Type::Int { .. }, Type::Ptr { .. }) => {
            scale(lhs, n);
            Some(b.clone())
        }
        (BinOp::Sub, Type::Ptr { to: x, .. }, Type::Ptr { to: y, .. }) if x == y => {
            if n > 1 {
                let span = e.span;
                let bytes = std::mem::replace(e, Expr::new(ExprKind::Int(0), span));
                let bytes = Expr { ty: Type::I64, ..bytes };
                let size = Expr { ty: Type::I64, ..Expr::new(ExprKind::Int(n), span) };
                e.kind = ExprKind::Binary { op: BinOp::Div, lhs: Box::new(bytes), rhs: Box::new(size) };
            }
            Some(Type::I64)
        }
        _ => None,
    }
}

/// `value` becomes `value * n` (typed as the integer it was).
fn scale(value: &mut Expr, n: i64) {
    if n == 1 {
        return;
    }
    let span = value.span;
    let ty = value.ty.as_int();
    let inner = std::mem::replace(value, Expr::new(ExprKind::Int(0), span));
    let factor = Expr { ty: Type::I64, ..Expr::new(ExprKind::Int(n), span) };
    *value = Expr {
        ty,
        ..Expr::new(ExprKind::Binary { op: BinOp::Mul, lhs: Box::new(inner), rhs: Box::new(factor) }, span)
    };
}
