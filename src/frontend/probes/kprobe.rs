//! `kprobe:[MODULE:]FUNC[+OFFSET]` and `kretprobe:[MODULE:]FUNC`: a probe on
//! a kernel function's entry (or an offset into it) or its return.
//!
//! Functions come from the kernel's list of traceable functions
//! (`frontend::kfuncs`); wildcards expand against it. A function that is
//! not there is explained: not traceable (`notrace`, or ftrace refuses
//! it), or not a function of this kernel (inlined everywhere, or
//! misspelt: "did you mean"). On a kernel without kprobes the attach point
//! is refused as before, with the tracepoint to use instead (`kernel.rs`).
//!
//! `argN` reads the argument registers at entry, `retval` the return
//! register; reads through pointers go by the address (`Memory::ByAddress`),
//! since a kernel function's pointer arguments may point into either
//! address space. A wildcard whose body does not ask which function fired
//! (`func`, `probe`) becomes one program on one kprobe-multi link where
//! the kernel has them ([`coalesce`]).

use std::ops::Range;

use super::kernel::{kprobes_support, refuse_kprobe, Support};
use super::spec::ResolvedProbe;
use super::spec::{
    AttachTarget, Context, Firing, Kprobe, Memory, NumberedArgs, ProbeContext, ProbeKind, ProbeSpec, ReturnValue,
};
use super::text::{missing, parts, quoted_list, split_offset, At};
use super::{describe_nothing, starting_with, ProbeType, Status, MAX_COMPLETIONS};
use crate::arch;
use crate::diag::Diagnostic;
use crate::frontend::kfuncs::{self, KernelFunction, KernelFunctions};
use crate::frontend::names::{glob_match, is_glob, similar_names};
use crate::sys::ProgKind;

pub const KPROBE: ProbeType = ProbeType {
    name: "kprobe",
    aliases: &["k"],
    status: Status::Supported,
    takes_parts: true,
    expand: |at, full, rest, _| expand(at, full, false, rest),
    list: |at, full, rest, _| list(at, full, false, rest),
    describe: describe_nothing,
    complete,
};

pub const KRETPROBE: ProbeType = ProbeType {
    name: "kretprobe",
    aliases: &["kr"],
    status: Status::Supported,
    takes_parts: true,
    expand: |at, full, rest, _| expand(at, full, true, rest),
    list: |at, full, rest, _| list(at, full, true, rest),
    describe: describe_nothing,
    complete,
};

impl ProbeKind for Kprobe {
    fn prog_kind(&self) -> ProgKind {
        if self.functions.len() > 1 {
            ProgKind::KprobeMulti
        } else {
            ProgKind::Kprobe
        }
    }
    fn firing(&self) -> Firing<'_> {
        Firing::On(AttachTarget::Kprobe {
            functions: &self.functions,
            module: self.module.as_deref(),
            offset: self.offset,
            ret: self.ret,
        })
    }
    fn context(&self) -> Context<'_> {
        Context {
            // At the return the argument registers hold whatever the
            // function left in them.
            numbered_args: (!self.ret).then_some(NumberedArgs::Registers { count: arch::INT_ARG_REGS.len() as u8 }),
            named_args: None,
            retval: self.ret.then_some(ReturnValue::Register),
            signature: None,
            function: match self.functions.as_slice() {
                [one] => Some(one),
                _ => None,
            },
            binary: None,
            memory: Memory::ByAddress,
            nmi: false,
            regs: true,
            entry_offset: None,
        }
    }
}

/// The attach point taken apart: `[MODULE:]FUNC[+OFFSET]`.
struct Written<'t> {
    module: Option<(&'t str, Range<usize>)>,
    func: &'t str,
    func_r: Range<usize>,
    offset: u64,
}

fn parse<'t>(at: &At<'t>, full: &str, ret: bool, rest: Option<usize>) -> Result<Written<'t>, Diagnostic> {
    let text = at.text;
    let example = format!("{full}:do_nanosleep");
    let Some(rest) = rest.filter(|&r| r < text.len()) else {
        return Err(missing(at, text.len(), "kernel function", &example));
    };
    let p = parts(text, rest);
    let (module, last) = match p.as_slice() {
        [f] => (None, f.clone()),
        [m, f] => (Some((&text[m.clone()], m.clone())), f.clone()),
        [_, f, ..] => {
            return Err(at
                .err(f.end..text.len(), format!("too many parts in {full}"), "unexpected")
                .note(format!("write `{full}:FUNCTION` or `{full}:MODULE:FUNCTION`")))
        }
        [] => return Err(missing(at, rest, "kernel function", &example)),
    };
    if let Some((m, r)) = &module {
        if m.is_empty() {
            return Err(missing(at, r.start, "module name", &format!("{full}:ext4:ext4_file_open")));
        }
    }
    let (func_r, offset) = split_offset(at, last, full, "kprobe", ret)?;
    let offset = offset.map_or(0, |(off, _)| off);
    let func = &text[func_r.clone()];
    if func.is_empty() {
        return Err(missing(at, func_r.start, "kernel function", &example));
    }
    if offset > 0 && (is_glob(func) || module.as_ref().is_some_and(|(m, _)| is_glob(m))) {
        return Err(at.err(func_r, "a wildcard cannot take an offset", "wildcard").note("name one function"));
    }
    Ok(Written { module, func, func_r, offset })
}

/// The traceable functions, or the refusal: no kprobes on this kernel, or
/// the list cannot be read.
fn functions(at: &At, full: &str, ret: bool, rest: Option<usize>) -> Result<std::rc::Rc<KernelFunctions>, Diagnostic> {
    match kprobes_support() {
        Support::Present => {}
        _ => return Err(refuse_kprobe(at, full, rest, ret)),
    }
    kfuncs::traceable().map_err(|e| at.err(0..at.text.len(), format!("cannot list kernel functions: {e}"), "here"))
}

/// The functions an attach point denotes.
fn matching<'l>(list: &'l KernelFunctions, w: &Written) -> Vec<&'l KernelFunction> {
    let module_ok = |f: &KernelFunction| match &w.module {
        None => true,
        Some((m, _)) => f.module.as_deref().is_some_and(|fm| glob_match(m, fm)),
    };
    list.functions.iter().filter(|f| module_ok(f) && glob_match(w.func, &f.name)).collect()
}

fn expand(at: &At, full: &str, ret: bool, rest: Option<usize>) -> Result<Vec<ResolvedProbe>, Diagnostic> {
    let w = parse(at, full, ret, rest)?;
    let list = functions(at, full, ret, rest)?;
    let found = matching(&list, &w);
    if found.is_empty() {
        return Err(not_found(at, full, &w, &list));
    }
    // A function of the same name in several modules is one probe per
    // module, named `MODULE:FUNC` (the kernel resolves that spelling).
    let mut out: Vec<ResolvedProbe> = Vec::new();
    for f in found {
        let qualified = match (&w.module, &f.module) {
            (Some(_), Some(m)) => format!("{m}:{}", f.name),
            _ => f.name.clone(),
        };
        let name = match w.offset {
            0 => format!("{full}:{qualified}"),
            off => format!("{full}:{qualified}+{off}"),
        };
        if out.iter().any(|p| p.name == name) {
            continue;
        }
        let spec = Kprobe {
            functions: vec![f.name.clone()],
            module: w.module.as_ref().and(f.module.clone()),
            offset: w.offset,
            ret,
        };
        out.push(at.probe(ProbeSpec::Kprobe(spec), name));
    }
    Ok(out)
}

/// Why nothing matched, on the function's text.
fn not_found(at: &At, full: &str, w: &Written, list: &KernelFunctions) -> Diagnostic {
    if let Some((m, r)) = &w.module {
        if !is_glob(m) && !list.has_module(m) {
            return at
                .err(r.clone(), format!("no loaded module `{m}` has traceable functions"), "unknown module")
                .note("modules are listed in /proc/modules");
        }
    }
    if is_glob(w.func) {
        return at
            .err(w.func_r.clone(), format!("no traceable kernel function matches `{}`", w.func), "matches nothing")
            .note(format!("list them with `trace -l '{full}:*'`"));
    }
    let where_ = w.module.as_ref().map(|(m, _)| format!(" in module `{m}`")).unwrap_or_default();
    if kfuncs::in_kallsyms(w.func) && list.find(w.func, None).next().is_none() {
        return at
            .err(w.func_r.clone(), format!("kernel function `{}` cannot be probed", w.func), "not traceable")
            .note(format!(
                "it is a kernel symbol, but not in {}: it is marked `notrace`, or the kernel does not let probes \
                 attach to it",
                list.source
            ));
    }
    let mut d = at.err(
        w.func_r.clone(),
        format!("no kernel function `{}`{where_}", w.func),
        "not a traceable function of this kernel",
    );
    let close = similar_names(w.func, list.functions.iter().map(|f| f.name.as_str()), 3, false);
    if !close.is_empty() {
        d = d.note(format!("did you mean {}?", quoted_list(&close)));
    }
    d.note("a function the compiler inlined into all of its callers has no entry to probe")
}

/// `trace -l 'kprobe:PATTERN'`: names as `expand` gives them, sorted.
fn list(at: &At, full: &str, ret: bool, rest: Option<usize>) -> Result<Vec<String>, Diagnostic> {
    let list = functions(at, full, ret, rest)?;
    let pattern = rest.filter(|&r| r < at.text.len()).map(|r| &at.text[r..]).unwrap_or("*");
    let mut out: Vec<String> = list
        .functions
        .iter()
        .filter(|f| match (pattern.split_once(':'), &f.module) {
            (Some((m, p)), Some(fm)) => glob_match(m, fm) && glob_match(p, &f.name),
            (Some(_), None) => false,
            (None, _) => glob_match(pattern, &f.name),
        })
        .map(|f| match (pattern.contains(':'), &f.module) {
            (true, Some(m)) => format!("{full}:{m}:{}", f.name),
            _ => format!("{full}:{}", f.name),
        })
        .collect();
    out.sort();
    out.dedup();
    Ok(out)
}

/// Function names from the traceable list.
fn complete(rest: &str, _: &ProbeContext) -> (usize, Vec<String>) {
    if rest.contains(':') || !matches!(kprobes_support(), Support::Present) {
        return (rest.len(), Vec::new());
    }
    let Ok(list) = kfuncs::traceable() else { return (rest.len(), Vec::new()) };
    let mut found = starting_with(rest, list.functions.iter().map(|f| f.name.as_str()), "");
    found.sort();
    found.dedup();
    found.truncate(MAX_COMPLETIONS);
    (0, found)
}

/// Several kprobes of one attach point as one probe on a kprobe-multi
/// link, when the kernel has them and nothing tells the functions apart:
/// the body does not use `func` or `probe` (`distinguishes` is false), and
/// none has an offset or a module. Otherwise the probes as they are. The
/// merged probe is named by the attach point as `written`.
pub fn coalesce(probes: Vec<ResolvedProbe>, written: &str, distinguishes: bool) -> Vec<ResolvedProbe> {
    let mergeable = |p: &ResolvedProbe| match &p.spec {
        ProbeSpec::Kprobe(k) => k.offset == 0 && k.module.is_none() && k.functions.len() == 1,
        _ => false,
    };
    if distinguishes || probes.len() < 2 || !probes.iter().all(mergeable) || !crate::sys::kprobe_multi_available() {
        return probes;
    }
    let ret = matches!(&probes[0].spec, ProbeSpec::Kprobe(k) if k.ret);
    let functions: Vec<String> = probes
        .iter()
        .filter_map(|p| match &p.spec {
            ProbeSpec::Kprobe(k) => k.functions.first().cloned(),
            _ => None,
        })
        .collect();
    let first = &probes[0];
    let ty = first.name.split(':').next().unwrap_or_default();
    let name = format!("{ty}:{}", written.split_once(':').map_or(written, |(_, rest)| rest));
    let spec = ProbeSpec::Kprobe(Kprobe { functions, module: None, offset: 0, ret });
    vec![ResolvedProbe { spec, name, span: first.span }]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frontend::ast::AttachPoint;
    use crate::source::Span;

    fn parsed(text: &str, ret: bool) -> Result<(Option<String>, String, u64), String> {
        let ap = AttachPoint { text: text.to_string(), span: Span::default() };
        let at = At::new(&ap);
        let full = if ret { "kretprobe" } else { "kprobe" };
        let rest = (at.type_end() < text.len()).then_some(at.type_end() + 1);
        parse(&at, full, ret, rest)
            .map(|w| (w.module.map(|(m, _)| m.to_string()), w.func.to_string(), w.offset))
            .map_err(|d| d.message)
    }

    #[test]
    fn attach_point_forms() {
        assert_eq!(parsed("kprobe:do_nanosleep", false), Ok((None, "do_nanosleep".into(), 0)));
        assert_eq!(parsed("kprobe:vfs_read+0x10", false), Ok((None, "vfs_read".into(), 16)));
        assert_eq!(parsed("kprobe:ext4:ext4_file_open", false), Ok((Some("ext4".into()), "ext4_file_open".into(), 0)));
        assert!(parsed("kretprobe:vfs_read+4", true).unwrap_err().contains("cannot take an offset"));
        assert!(parsed("kprobe:vfs_*+4", false).unwrap_err().contains("wildcard"));
        assert!(parsed("kprobe:a:b:c", false).unwrap_err().contains("too many parts"));
        assert!(parsed("kprobe:", false).unwrap_err().contains("missing kernel function"));
        assert!(parsed("kprobe:vfs_read+x", false).unwrap_err().contains("invalid offset"));
    }

    #[test]
    fn wildcards_match_names_and_modules() {
        let f = |n: &str, m: Option<&str>| KernelFunction { name: n.into(), module: m.map(Into::into) };
        let list = KernelFunctions {
            functions: vec![f("vfs_read", None), f("vfs_write", None), f("ext4_read", Some("ext4"))],
            source: String::new(),
            approximate: false,
        };
        let ap = |t: &str| AttachPoint { text: t.to_string(), span: Span::default() };
        let names = |t: &str| {
            let a = ap(t);
            let at = At::new(&a);
            let w = parse(&at, "kprobe", false, Some(7)).unwrap();
            matching(&list, &w).iter().map(|f| f.name.clone()).collect::<Vec<_>>()
        };
        assert_eq!(names("kprobe:vfs_*"), ["vfs_read", "vfs_write"]);
        assert_eq!(names("kprobe:*_read"), ["vfs_read", "ext4_read"]);
        assert_eq!(names("kprobe:ext4:*"), ["ext4_read"]);
        assert!(names("kprobe:ext4:vfs_read").is_empty());
    }

    #[test]
    fn coalescing_keeps_probes_that_differ() {
        let k = |f: &str, offset: u64| ResolvedProbe {
            spec: ProbeSpec::Kprobe(Kprobe { functions: vec![f.into()], module: None, offset, ret: false }),
            name: format!("kprobe:{f}"),
            span: Span::default(),
        };
        // The body names `func`: one program per function.
        assert_eq!(coalesce(vec![k("a", 0), k("b", 0)], "k:*", true).len(), 2);
        // An offset: never merged.
        assert_eq!(coalesce(vec![k("a", 4), k("b", 0)], "k:*", false).len(), 2);
        assert_eq!(coalesce(vec![k("a", 0)], "k:a", false).len(), 1);
    }
}
