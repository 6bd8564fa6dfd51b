//! Semantic passes: attach points expanded, names resolved, types checked,
//! map layouts decided.
//!
//! Order matters and is listed once here:
//! 1. `probes::expand` turns each attach point into resolved probes (paths,
//!    symbols, tracepoint formats); a block with wildcards becomes one
//!    checked probe per match, because `args`, `func` and `probe` differ —
//!    except kprobes whose block asks neither `func` nor `probe`, which
//!    `probes::coalesce` makes one probe on many functions.
//! 2. `flow::prepare` checks jumps and names each loop's variable apart.
//! 3. `typeck` runs over every checked probe twice: the first round only
//!    learns map types (a map may be read in a probe that comes before the
//!    one assigning it), the second reports errors with all map types known.
//!
//! Errors of a pass are collected; the pipeline stops after a pass that
//! produced any.

mod aggregates;
mod aggregation_calls;
mod calls;
mod cdefs;
pub mod dwarf_types;
pub mod flow;
pub mod maps;
mod pointer;
mod positional;
mod stacks;
pub mod typeck;

use crate::diag::Diagnostic;
use crate::frontend::ast::{Block, Expr, ExprKind, Program};
use crate::frontend::probes::{coalesce, expand, ProbeContext, ResolvedProbe};
use crate::frontend::types::Type;
pub use aggregates::{in_memory, unify};
pub use maps::{MapInfo, MapTable, MapValue};
pub use stacks::max_stack_frames;

/// One probe body specialised to one resolved attach point, typed.
#[derive(Clone, Debug)]
pub struct CheckedProbe {
    pub resolved: ResolvedProbe,
    pub pred: Option<Expr>,
    pub body: Block,
    /// Local `$variables` with their types, in first-assignment order.
    pub vars: Vec<(String, Type)>,
    /// Debug info learnt for this probe (uprobe parameters and types).
    pub dwarf: dwarf_types::DwarfCache,
}

/// The typed program handed to code generation.
#[derive(Clone, Debug)]
pub struct CheckedProgram {
    pub probes: Vec<CheckedProbe>,
    pub maps: MapTable,
}

/// Positional parameters (`$1`, `$2`, ...) given after the program, and
/// what its `config` block says about types.
#[derive(Clone, Debug, Default)]
pub struct Params {
    pub args: Vec<String>,
    pub settings: crate::frontend::config::Settings,
}

pub fn check(program: &Program, ctx: &ProbeContext, params: &Params) -> Result<CheckedProgram, Vec<Diagnostic>> {
    check_with_maps(program, ctx, params, MapTable::default())
}

/// [`check`] starting from maps already known (the REPL's live maps, marked
/// [`MapInfo::live`]): uses are unified with their types, and the returned
/// table holds them plus whatever the program adds.
pub fn check_with_maps(
    program: &Program,
    ctx: &ProbeContext,
    params: &Params,
    known: MapTable,
) -> Result<CheckedProgram, Vec<Diagnostic>> {
    check_expanded(expand_all(program, ctx, params)?, params, known)
}

/// Step 1: every attach point of `program` expanded into the probes it
/// denotes (after its positional parameters), each with its own copy of
/// the block.
pub fn expand_all(
    program: &Program,
    ctx: &ProbeContext,
    params: &Params,
) -> Result<Vec<CheckedProbe>, Vec<Diagnostic>> {
    let program = positional::in_attach_points(program, params)?;
    let program = crate::frontend::macros::expand(&program)?;
    let mut diags = Vec::new();
    let mut probes = Vec::new();
    for probe in &program.probes {
        let names_probe = |e: &Expr| matches!(&e.kind, ExprKind::Ident(n) if n == "func" || n == "probe");
        let distinguishes =
            probe.body.any_expr(&names_probe) || probe.pred.as_ref().is_some_and(|p| p.any(&names_probe));
        for ap in &probe.attach {
            match expand(ap, ctx).map(|list| coalesce(list, &ap.text, distinguishes)) {
                Ok(list) => {
                    for resolved in list {
                        probes.push(CheckedProbe {
                            resolved,
                            pred: probe.pred.clone(),
                            body: probe.body.clone(),
                            vars: Vec::new(),
                            dwarf: dwarf_types::DwarfCache::with_script(program.defs.clone()),
                        });
                    }
                }
                Err(d) => diags.push(d),
            }
        }
    }
    if !diags.is_empty() {
        return Err(diags);
    }
    Ok(probes)
}

/// The checking proper, over probes whose attach points are already
/// expanded (tests build them by hand, e.g. a tracepoint with a format
/// from a string).
pub fn check_expanded(
    mut probes: Vec<CheckedProbe>,
    params: &Params,
    known: MapTable,
) -> Result<CheckedProgram, Vec<Diagnostic>> {
    let mut diags = Vec::new();
    let mut maps = known;
    for probe in probes.iter_mut() {
        flow::prepare(probe, &mut diags);
    }
    for report in [false, true] {
        for probe in probes.iter_mut() {
            typeck::check_probe(probe, &mut maps, params, report, &mut diags);
        }
    }
    if diags.iter().any(|d| d.is_error()) {
        return Err(diags);
    }
    maps.finish(&mut diags);
    if diags.iter().any(|d| d.is_error()) {
        return Err(diags);
    }
    Ok(CheckedProgram { probes, maps })
}

#[cfg(test)]
mod tests;
