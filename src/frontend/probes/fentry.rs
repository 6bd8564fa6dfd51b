//! `fentry:FUNC` / `fexit:FUNC` (bpftrace's `kfunc:` / `kretfunc:`): BPF
//! tracing programs on a kernel function's entry or return, through the
//! kernel's BPF trampoline.
//!
//! The function's signature comes from kernel BTF (`frontend::btf`): the
//! program is loaded for the function's BTF id, `args.NAME` reads the
//! arguments the trampoline saved (one 8-byte slot each), typed by BTF,
//! and in fexit `retval` is the slot after them. Only functions that are
//! both in BTF and traceable (`frontend::kfuncs`) can be probed. On a
//! kernel without BTF, or that does not let BPF attach to functions, the
//! attach point is refused with the reason (`kernel.rs`).

use std::rc::Rc;

use super::kernel::{fentry_support, refuse_fentry, Support};
use super::spec::{AttachTarget, Context, Firing, Memory, NamedArgs, ProbeContext, ProbeKind, ProbeSpec};
use super::spec::{Fentry, ResolvedProbe, ReturnValue};
use super::text::{missing, parts, quoted_list, At};
use super::{starting_with, Listing, ProbeType, Status, MAX_COMPLETIONS};
use crate::diag::Diagnostic;
use crate::frontend::btf::{self, Btf, KernelFunction};
use crate::frontend::dwarf::{Function, Param, ParamLoc};
use crate::frontend::kfuncs;
use crate::frontend::names::{glob_match, is_glob, similar_names};
use crate::frontend::types::Type;
use crate::sys::{ProgKind, TracingAttach};

macro_rules! fentry_type {
    ($name:literal, $aliases:expr, $ret:literal) => {
        ProbeType {
            name: $name,
            aliases: $aliases,
            status: Status::Supported,
            takes_parts: true,
            expand: |at, full, rest, _| expand(at, full, $ret, rest),
            list: |at, full, rest, _| list(at, full, $ret, rest),
            describe,
            complete,
        }
    };
}

pub const FENTRY: ProbeType = fentry_type!("fentry", &["f"], false);
pub const KFUNC: ProbeType = fentry_type!("kfunc", &[], false);
pub const FEXIT: ProbeType = fentry_type!("fexit", &["fr"], true);
pub const KRETFUNC: ProbeType = fentry_type!("kretfunc", &[], true);

impl ProbeKind for Fentry {
    fn prog_kind(&self) -> ProgKind {
        ProgKind::Tracing {
            btf_id: self.btf_id,
            btf_object: self.btf_object,
            attach: if self.ret { TracingAttach::Fexit } else { TracingAttach::Fentry },
        }
    }
    fn firing(&self) -> Firing<'_> {
        Firing::On(AttachTarget::Tracing { name: &self.signature.name })
    }
    fn context(&self) -> Context<'_> {
        Context {
            numbered_args: None,
            // The trampoline saved the arguments: fexit sees them too.
            named_args: Some(NamedArgs::Parameters { at_entry: true }),
            retval: self.ret.then_some(ReturnValue::Slot(self.slots)),
            signature: Some(&self.signature),
            function: Some(&self.signature.name),
            binary: None,
            memory: Memory::ByAddress,
            nmi: false,
            regs: false,
            entry_offset: None,
        }
    }
}

/// The kernel's BTF, or the refusal.
fn kernel_btf(at: &At) -> Result<Rc<Btf>, Diagnostic> {
    btf::vmlinux().map_err(|e| at.err(0..at.text.len(), format!("cannot read the kernel's BTF: {e}"), "here"))
}

/// `[MODULE:]FUNC` (`vmlinux:FUNC` as bpftrace lists them) from the
/// attach point — the module (`None` for vmlinux), the function and where
/// it starts — or why not.
fn function_part<'t>(
    at: &At<'t>,
    full: &str,
    ret: bool,
    rest: Option<usize>,
) -> Result<(Option<&'t str>, &'t str, usize), Diagnostic> {
    let text = at.text;
    let example = format!("{full}:vfs_read");
    let Some(rest) = rest.filter(|&r| r < text.len()) else {
        return Err(missing(at, text.len(), "kernel function", &example));
    };
    if !matches!(fentry_support(), Support::Present) {
        return Err(refuse_fentry(at, full, Some(rest), ret));
    }
    let p = parts(text, rest);
    let (module, func_r) = match p.as_slice() {
        [f] => (None, f.clone()),
        [m, f] if &text[m.clone()] == "vmlinux" => (None, f.clone()),
        [m, f] if !text[m.clone()].is_empty() => (Some(&text[m.clone()]), f.clone()),
        [m, _] => return Err(missing(at, m.start, "module name", &format!("{full}:ext4:ext4_file_open"))),
        [_, _, x, ..] => {
            return Err(at.err(
                x.start.saturating_sub(1)..text.len(),
                format!("too many parts in {full}"),
                "unexpected",
            ))
        }
        [] => return Err(missing(at, rest, "kernel function", &example)),
    };
    let func = &text[func_r.clone()];
    if func.is_empty() {
        return Err(missing(at, func_r.start, "kernel function", &example));
    }
    Ok((module, func, func_r.start))
}

/// The BTF of `module` (vmlinux's for `None`), or why not.
fn btf_of(at: &At, module: Option<&str>) -> Result<Rc<Btf>, Diagnostic> {
    let Some(m) = module else { return kernel_btf(at) };
    match btf::module(m) {
        Ok(Some(b)) => Ok(b),
        Ok(None) => Err(at
            .err(0..at.text.len(), format!("no loaded module `{m}` has BTF"), "unknown module")
            .note("loaded modules are in /proc/modules; their BTF is under /sys/kernel/btf/")),
        Err(e) => Err(at.err(0..at.text.len(), format!("cannot read the BTF of module `{m}`: {e}"), "here")),
    }
}

/// Names that BTF describes and the kernel can trace (in `module`, or in
/// vmlinux for `None`).
fn traceable_names(btf: &Btf, module: Option<&str>) -> Result<Vec<String>, String> {
    let mut names: Vec<String> =
        btf.function_names().map_err(|e| e.to_string())?.into_iter().map(String::from).collect();
    if let Ok(list) = kfuncs::traceable() {
        if !list.approximate {
            let traceable: std::collections::HashSet<&str> =
                list.functions.iter().filter(|f| f.module.as_deref() == module).map(|f| f.name.as_str()).collect();
            names.retain(|n| traceable.contains(n.as_str()));
        }
    }
    names.sort();
    names.dedup();
    Ok(names)
}

fn expand(at: &At, full: &str, ret: bool, rest: Option<usize>) -> Result<Vec<ResolvedProbe>, Diagnostic> {
    let (module, func, func_at) = function_part(at, full, ret, rest)?;
    let func_r = func_at..func_at + func.len();
    let btf = btf_of(at, module)?;
    let names: Vec<String> = if is_glob(func) {
        let all = traceable_names(&btf, module).map_err(|e| at.err(func_r.clone(), e, "here"))?;
        let found: Vec<String> = all.into_iter().filter(|n| glob_match(func, n)).collect();
        if found.is_empty() {
            return Err(at
                .err(func_r, format!("no traceable kernel function matches `{func}`"), "matches nothing")
                .note(format!("list them with `trace -l '{full}:*'`")));
        }
        found
    } else {
        vec![func.to_string()]
    };
    // A module's functions are loaded against its BTF object.
    let btf_object = match module {
        None => 0,
        Some(m) => match crate::sys::btf_object_id(m) {
            Ok(Some(id)) => id,
            Ok(None) => {
                return Err(at.err(0..at.text.len(), format!("module `{m}` has no BTF object in the kernel"), "here"))
            }
            Err(e) => {
                return Err(at.err(0..at.text.len(), format!("cannot find the BTF of module `{m}`: {e}"), "here"))
            }
        },
    };
    let mut out = Vec::new();
    for name in names {
        let f = match btf.function(&name) {
            Ok(Some(f)) => f,
            Ok(None) => return Err(not_in_btf(at, func_r, &name, &btf)),
            Err(e) => return Err(at.err(func_r, format!("cannot read `{name}` from the kernel's BTF: {e}"), "here")),
        };
        if !is_glob(func) {
            check_traceable(at, func_r.clone(), &name, module)?;
        }
        let (signature, slots) = signature(&f);
        let spec = Fentry { btf_id: f.btf_id, btf_object, ret, signature: Rc::new(signature), slots };
        let probe_name = match module {
            Some(m) => format!("{full}:{m}:{name}"),
            None => format!("{full}:{name}"),
        };
        out.push(at.probe(ProbeSpec::Fentry(spec), probe_name));
    }
    Ok(out)
}

/// A function in BTF that ftrace cannot trace (inlined into every caller
/// but kept in BTF, `notrace`) cannot have a trampoline.
fn check_traceable(
    at: &At,
    func_r: std::ops::Range<usize>,
    name: &str,
    module: Option<&str>,
) -> Result<(), Diagnostic> {
    let Ok(list) = kfuncs::traceable() else { return Ok(()) };
    if list.approximate || list.find(name, module).next().is_some() {
        return Ok(());
    }
    Err(at.err(func_r, format!("kernel function `{name}` cannot be traced"), "not traceable").note(format!(
        "BTF describes it, but it is not in {}: it is inlined into its callers or marked `notrace`",
        list.source
    )))
}

fn not_in_btf(at: &At, func_r: std::ops::Range<usize>, name: &str, btf: &Btf) -> Diagnostic {
    let mut d = at.err(func_r, format!("no kernel function `{name}` in the kernel's BTF"), "unknown function");
    if let Ok(all) = btf.function_names() {
        let close = similar_names(name, all.iter().copied(), 3, false);
        if !close.is_empty() {
            d = d.note(format!("did you mean {}?", quoted_list(&close)));
        }
    }
    d
}

/// The BTF signature as the checker and code generation take a function's:
/// each parameter in its context slots (one per 8 bytes), and the number
/// of slots, after which fexit finds the return value.
fn signature(f: &KernelFunction) -> (Function, u16) {
    let mut slot: u16 = 0;
    let mut params = Vec::new();
    for p in &f.params {
        let size = p.ty.c_size().max(1);
        let loc = match &p.ty {
            Type::Int { .. } | Type::Ptr { .. } => ParamLoc::Slot { index: slot },
            Type::Record(_) | Type::Array { .. } => ParamLoc::Unavailable(format!("a {} passed by value", p.ty)),
            _ => ParamLoc::Unavailable("a type trace cannot read (floating point?)".into()),
        };
        slot = slot.saturating_add(size.div_ceil(8) as u16);
        params.push(Param { name: p.name.clone(), ty: p.ty.clone(), c_type: p.c_type.clone(), loc });
    }
    let function = Function { name: f.name.clone(), params, ret: f.ret.clone(), ret_c_type: f.ret_c_type.clone() };
    (function, slot)
}

/// `trace -l 'fentry:PATTERN'` (`fentry:MODULE:PATTERN` for a module's).
fn list(at: &At, full: &str, ret: bool, rest: Option<usize>) -> Result<Vec<String>, Diagnostic> {
    let (module, pattern) = match rest.filter(|&r| r < at.text.len()) {
        Some(_) => {
            let (m, p, _) = function_part(at, full, ret, rest)?;
            (m, p)
        }
        None => {
            if !matches!(fentry_support(), Support::Present) {
                return Err(refuse_fentry(at, full, rest, ret));
            }
            (None, "*")
        }
    };
    let btf = btf_of(at, module)?;
    let names = traceable_names(&btf, module).map_err(Diagnostic::error)?;
    let prefix = module.map_or(format!("{full}:"), |m| format!("{full}:{m}:"));
    Ok(names.into_iter().filter(|n| glob_match(pattern, n)).map(|n| format!("{prefix}{n}")).collect())
}

/// `-lv`: the BTF signature, as bpftrace prints a kfunc's.
fn describe(probes: &[ResolvedProbe]) -> Listing {
    let mut out = Listing::default();
    for p in probes {
        if let Some(f) = p.spec.context().signature {
            let ret = if f.ret == Type::Void { None } else { Some(f.ret_c_type.as_str()) };
            out.lines
                .extend(btf::signature_lines_of(f.params.iter().map(|p| (p.c_type.as_str(), p.name.as_str())), ret));
        }
    }
    out
}

/// Function names from BTF.
fn complete(rest: &str, _: &ProbeContext) -> (usize, Vec<String>) {
    if rest.contains(':') || !matches!(fentry_support(), Support::Present) {
        return (rest.len(), Vec::new());
    }
    let Ok(btf) = btf::vmlinux() else { return (rest.len(), Vec::new()) };
    let Ok(names) = btf.function_names() else { return (rest.len(), Vec::new()) };
    let mut found = starting_with(rest, names.iter().copied(), "");
    found.sort();
    found.dedup();
    found.truncate(MAX_COMPLETIONS);
    (0, found)
}
