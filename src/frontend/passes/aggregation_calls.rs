//! Aggregation calls (`count()`, `sum(x)`, `hist(x)`, `lhist(x, min, max,
//! step)`, ...): their arguments checked and their kind decided, for the
//! map they are assigned to.

use super::typeck::Cx;
use crate::diag::Diagnostic;
use crate::frontend::ast::{Expr, ExprKind};
use crate::frontend::builtins::Function;
use crate::frontend::types::AggKind;
use crate::source::Span;

impl Cx<'_> {
    /// The kind of aggregation `f(args)` makes, or `None` after a
    /// diagnostic.
    pub(super) fn aggregation(
        &mut self,
        f: Function,
        name_span: Span,
        args: &mut [Expr],
        span: Span,
    ) -> Option<AggKind> {
        let want = match f {
            Function::Count => 0,
            Function::Lhist => 4,
            _ => 1,
        };
        if args.len() != want {
            self.arity(f, name_span, want, args.len(), span);
            return None;
        }
        for (i, a) in args.iter_mut().enumerate() {
            let t = self.expr(a);
            if i == 0 {
                self.want_int(&t, a.span, "the aggregated value");
            }
        }
        Some(match f {
            Function::Count => AggKind::Count,
            Function::Sum => AggKind::Sum,
            Function::Avg => AggKind::Avg,
            Function::Min => AggKind::Min,
            Function::Max => AggKind::Max,
            Function::Stats => AggKind::Stats,
            Function::Hist => AggKind::Hist,
            _ => {
                let mut consts = [0i64; 3];
                for (i, a) in args[1..].iter().enumerate() {
                    match a.kind {
                        ExprKind::Int(v) => consts[i] = v,
                        _ => {
                            self.error(
                                Diagnostic::error("lhist() bounds must be integer literals")
                                    .at(a.span, "not a constant"),
                            );
                            return None;
                        }
                    }
                }
                let [min, max, step] = consts;
                let buckets = max.checked_sub(min).and_then(|r| r.checked_div(step));
                if step <= 0 || max <= min || buckets.is_none_or(|n| n > 1000) {
                    self.error(
                        Diagnostic::error("lhist() needs min < max, step > 0 and at most 1000 buckets")
                            .at(span, format!("min {min}, max {max}, step {step}")),
                    );
                    return None;
                }
                AggKind::Lhist { min, max, step }
            }
        })
    }
}
