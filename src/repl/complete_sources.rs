//! The candidates of [`super::complete::complete`], once it has found the word and
//! its context: the language's names (from the builtins tables), directory
//! listings, and attach points — which `frontend::probes::complete` offers
//! from the probe-type table and each kind's own sources (tracefs, a
//! binary's symbols or USDT notes).

use super::complete::CompletionContext;
use crate::frontend::builtins::{function_names, variable_names};
use crate::frontend::probes::{self, ProbeContext};

pub(super) use crate::frontend::probes::file_paths as paths;

/// Keywords the grammar accepts inside code (not the reserved `while`,
/// `unroll`, ... that it rejects).
pub(super) const KEYWORDS: &[&str] = &[
    "if", "else", "while", "for", "unroll", "break", "continue", "return", "sizeof", "offsetof", "struct", "union",
    "enum",
];

/// Keywords, builtin variables and builtin functions starting with `prefix`.
pub(super) fn identifiers(prefix: &str) -> Vec<String> {
    let funcs = function_names().map(|f| format!("{f}("));
    let names = KEYWORDS.iter().map(|s| s.to_string()).chain(variable_names());
    names.chain(funcs).filter(|n| n.starts_with(prefix)).collect()
}

/// The `names` starting with `prefix`.
pub(super) fn matching<'n>(prefix: &str, names: impl IntoIterator<Item = &'n str>) -> Vec<String> {
    names.into_iter().filter(|n| n.starts_with(prefix)).map(str::to_string).collect()
}

/// Completion of one attach point's text: the offset in `ap` where the
/// replaced word starts, and the candidates.
pub(super) fn attach_point(ap: &str, ctx: &CompletionContext) -> (usize, Vec<String>) {
    probes::complete(ap, &ProbeContext { pid: ctx.pid })
}
