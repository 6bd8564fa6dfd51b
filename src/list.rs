//! `trace -l PATTERN` and `trace -lv PATTERN`: the probes a pattern
//! matches, and with `-v` what each offers — a uprobe's parameters with their
//! C types (from DWARF), a tracepoint's fields (from its format file), a USDT
//! probe's arguments (type and location, per site, from its notes) — in
//! bpftrace's layout: the probe name, then one indented line per item.

use crate::diag::Diagnostic;
use crate::frontend::ast::AttachPoint;
use crate::frontend::dwarf;
use crate::frontend::probes::{self, ProbeContext, ProbeSpec};
use crate::frontend::usdt;
use crate::source::Span;

/// The lines to print for `-l` (names) or `-lv` (names and details).
pub fn list(pattern: &str, ctx: &ProbeContext, verbose: bool) -> Result<Vec<String>, Diagnostic> {
    let names = probes::list(pattern, ctx)?;
    if !verbose {
        return Ok(names);
    }
    let mut out = Vec::new();
    let mut warned = false;
    for name in names {
        let ap = AttachPoint { text: name.clone(), span: Span::default() };
        let resolved = probes::expand(&ap, ctx)?;
        out.push(name);
        // A USDT probe is one name with one or more sites.
        let sites: Vec<&usdt::Site> = resolved
            .iter()
            .filter_map(|r| match &r.spec {
                ProbeSpec::Usdt { site, .. } => Some(site),
                _ => None,
            })
            .collect();
        if !sites.is_empty() {
            out.extend(usdt::describe(&sites));
            continue;
        }
        for r in resolved {
            match &r.spec {
                ProbeSpec::Uprobe { binary, func, .. } => match dwarf::load(binary) {
                    Ok(Some(debug)) => {
                        if let Ok(Some(f)) = debug.function(func) {
                            out.extend(dwarf::c_prototype(&f));
                        }
                    }
                    Ok(None) if !warned => {
                        warned = true;
                        eprintln!(
                            "warning: {} has no debug info: parameters cannot be listed (install its debug symbols or rebuild with -g)",
                            binary.display()
                        );
                    }
                    Ok(None) => {}
                    Err(e) => eprintln!("warning: {}: {e}", binary.display()),
                },
                ProbeSpec::Tracepoint { format, .. } => {
                    for f in &format.fields {
                        let array = f.array_len.map(|n| format!("[{n}]")).unwrap_or_default();
                        let kind = if f.data_loc { "__data_loc " } else { "" };
                        out.push(format!("    {kind}{} {}{array}", f.c_type, f.name));
                    }
                }
                _ => {}
            }
        }
    }
    Ok(out)
}
