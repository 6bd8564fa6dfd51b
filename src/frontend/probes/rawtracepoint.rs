//! `rawtracepoint:NAME` (`rt:`): a kernel tracepoint's raw arguments, as
//! the kernel passes them to the tracepoint, typed by BTF — `args.prev` in
//! `sched_switch` is a `struct task_struct *`, not a copied field.
//!
//! These are BTF raw tracepoint programs (`tp_btf`): loaded for the
//! typedef `btf_trace_NAME`, whose prototype types the arguments (in
//! context slots), less its first parameter (the tracepoint's private
//! data). The prototype leaves them unnamed; their names come from the
//! kernel's `__bpf_trace_NAME` function where it has one per event (on
//! older kernels it has one per event class, and some events' arguments go
//! unnamed there). `arg0`.. read the same slots untyped, as bpftrace's
//! rawtracepoint does.

use std::rc::Rc;

use super::kernel::refuse_btf_probe;
use super::spec::{AttachTarget, Context, Firing, Memory, NamedArgs, NumberedArgs, ProbeContext, ProbeKind};
use super::spec::{ProbeSpec, RawTracepoint, ResolvedProbe};
use super::text::{missing, parts, quoted_list, At};
use super::{starting_with, Listing, ProbeType, Status, MAX_COMPLETIONS};
use crate::diag::Diagnostic;
use crate::frontend::btf::{self, Btf};
use crate::frontend::dwarf::{Function, Param, ParamLoc};
use crate::frontend::names::{glob_match, is_glob, similar_names};
use crate::frontend::types::Type;
use crate::sys::{ProgKind, TracingAttach};

pub const RAWTRACEPOINT: ProbeType = ProbeType {
    name: "rawtracepoint",
    aliases: &["rt"],
    status: Status::Supported,
    takes_parts: true,
    expand: |at, full, rest, _| expand(at, full, rest),
    list: |at, full, rest, _| list(at, full, rest),
    describe,
    complete,
};

/// The kernel's function whose parameters name a tracepoint's arguments.
const STUB_PREFIX: &str = "__bpf_trace_";
/// The typedef a BTF raw tracepoint program is loaded for.
const TYPEDEF_PREFIX: &str = "btf_trace_";

impl ProbeKind for RawTracepoint {
    fn prog_kind(&self) -> ProgKind {
        ProgKind::Tracing { btf_id: self.btf_id, btf_object: 0, attach: TracingAttach::RawTracepoint }
    }
    fn firing(&self) -> Firing<'_> {
        Firing::On(AttachTarget::Tracing { name: &self.signature.name })
    }
    fn context(&self) -> Context<'_> {
        Context {
            numbered_args: Some(NumberedArgs::Slots { count: self.slots.min(u16::from(u8::MAX)) as u8 }),
            named_args: Some(NamedArgs::Parameters { at_entry: true }),
            retval: None,
            signature: Some(&self.signature),
            function: None,
            binary: None,
            memory: Memory::ByAddress,
            nmi: false,
            regs: false,
            entry_offset: None,
        }
    }
}

fn kernel_btf(at: &At, full: &str) -> Result<Rc<Btf>, Diagnostic> {
    btf::vmlinux().map_err(|e| match e {
        btf::BtfError::Io { .. } => refuse_btf_probe(at, full, e.to_string()),
        e => at.err(0..at.text.len(), format!("cannot read the kernel's BTF: {e}"), "here"),
    })
}

/// The tracepoint name (or pattern) of the attach point.
fn name_part<'t>(at: &At<'t>, full: &str, rest: Option<usize>) -> Result<(&'t str, usize), Diagnostic> {
    let text = at.text;
    let example = format!("{full}:sched_switch");
    let Some(rest) = rest.filter(|&r| r < text.len()) else {
        return Err(missing(at, text.len(), "tracepoint name", &example));
    };
    let p = parts(text, rest);
    let r = match p.as_slice() {
        [n] => n.clone(),
        // `rawtracepoint:vmlinux:NAME`, as newer bpftrace lists them.
        [m, n] if &text[m.clone()] == "vmlinux" => n.clone(),
        [m, _] => {
            let module = &text[m.clone()];
            return Err(at
                .err(
                    m.clone(),
                    format!("{full} on tracepoints of module `{module}` is not supported by trace yet"),
                    "a module",
                )
                .note("use `tracepoint:CATEGORY:NAME` for a module's tracepoints"));
        }
        _ => {
            return Err(at
                .err(rest..text.len(), format!("too many parts in {full}"), "unexpected")
                .note(format!("for example `{example}`")))
        }
    };
    if r.is_empty() {
        return Err(missing(at, r.start, "tracepoint name", &example));
    }
    Ok((&text[r.clone()], r.start))
}

/// Every raw tracepoint BTF describes (a `btf_trace_NAME` typedef each),
/// sorted.
fn all_names(btf: &Btf) -> Result<Vec<String>, String> {
    let names = btf.typedef_names(TYPEDEF_PREFIX).map_err(|e| e.to_string())?;
    let mut out: Vec<String> = names.iter().filter_map(|n| n.strip_prefix(TYPEDEF_PREFIX)).map(String::from).collect();
    out.sort();
    out.dedup();
    Ok(out)
}

fn expand(at: &At, full: &str, rest: Option<usize>) -> Result<Vec<ResolvedProbe>, Diagnostic> {
    let (pattern, start) = name_part(at, full, rest)?;
    let r = start..start + pattern.len();
    let btf = kernel_btf(at, full)?;
    let names = if is_glob(pattern) {
        let all = all_names(&btf).map_err(|e| at.err(r.clone(), e, "here"))?;
        let found: Vec<String> = all.into_iter().filter(|n| glob_match(pattern, n)).collect();
        if found.is_empty() {
            return Err(at
                .err(r, format!("no raw tracepoint matches `{pattern}`"), "matches nothing")
                .note(format!("list them with `trace -l '{full}:*'`")));
        }
        found
    } else {
        vec![pattern.to_string()]
    };
    let mut out = Vec::new();
    for name in names {
        let read =
            |e: btf::BtfError| at.err(r.clone(), format!("cannot read `{name}` from the kernel's BTF: {e}"), "here");
        let Some(typedef) = btf.typedef_function(&format!("{TYPEDEF_PREFIX}{name}")).map_err(read)? else {
            let mut d =
                at.err(r.clone(), format!("no raw tracepoint `{name}` in the kernel's BTF"), "unknown tracepoint");
            if let Ok(all) = all_names(&btf) {
                let close = similar_names(&name, all.iter().map(String::as_str), 3, false);
                if !close.is_empty() {
                    d = d.note(format!("did you mean {}?", quoted_list(&close)));
                }
            }
            return Err(d);
        };
        // The arguments' names are the stub's, where the kernel has one
        // per event with the same arguments (older kernels have one per
        // event class, under the class's name); else they go unnamed.
        let stub = btf.function(&format!("{STUB_PREFIX}{name}")).map_err(read)?;
        let same = |s: &btf::KernelFunction| {
            s.params.len() == typedef.params.len() && s.params.iter().zip(&typedef.params).all(|(a, b)| a.ty == b.ty)
        };
        let params = match &stub {
            Some(s) if same(s) => &s.params,
            _ => &typedef.params,
        };
        let (signature, slots) = signature(&name, &params[1.min(params.len())..]);
        let spec = RawTracepoint { btf_id: typedef.btf_id, signature: Rc::new(signature), slots };
        out.push(at.probe(ProbeSpec::RawTracepoint(spec), format!("{full}:{name}")));
    }
    Ok(out)
}

/// The arguments, one 8-byte slot each (every tracepoint argument is a
/// scalar or a pointer).
fn signature(name: &str, params: &[btf::KernelParam]) -> (Function, u16) {
    let mut out = Vec::new();
    for (i, p) in params.iter().enumerate() {
        let loc = match &p.ty {
            Type::Int { .. } | Type::Ptr { .. } => ParamLoc::Slot { index: i as u16 },
            other => ParamLoc::Unavailable(format!("a {other}, which trace cannot read from a raw tracepoint")),
        };
        out.push(Param { name: p.name.clone(), ty: p.ty.clone(), c_type: p.c_type.clone(), loc });
    }
    let slots = out.len() as u16;
    (Function { name: name.to_string(), params: out, ret: Type::Void, ret_c_type: "void".into() }, slots)
}

/// `trace -l 'rawtracepoint:PATTERN'`.
fn list(at: &At, full: &str, rest: Option<usize>) -> Result<Vec<String>, Diagnostic> {
    let pattern = match rest.filter(|&r| r < at.text.len()) {
        Some(_) => name_part(at, full, rest)?.0,
        None => "*",
    };
    let btf = kernel_btf(at, full)?;
    let names = all_names(&btf).map_err(Diagnostic::error)?;
    Ok(names.into_iter().filter(|n| glob_match(pattern, n)).map(|n| format!("{full}:{n}")).collect())
}

/// `-lv`: the arguments with their BTF types.
fn describe(probes: &[ResolvedProbe]) -> Listing {
    let mut out = Listing::default();
    for p in probes {
        if let Some(f) = p.spec.context().signature {
            out.lines.extend(f.params.iter().map(|p| format!("    {} {}", p.c_type, p.name).trim_end().to_string()));
        }
    }
    out
}

fn complete(rest: &str, _: &ProbeContext) -> (usize, Vec<String>) {
    let Ok(btf) = btf::vmlinux() else { return (rest.len(), Vec::new()) };
    let Ok(names) = all_names(&btf) else { return (rest.len(), Vec::new()) };
    let mut found = starting_with(rest, names.iter().map(String::as_str), "");
    found.truncate(MAX_COMPLETIONS);
    (0, found)
}
