//! The kernel functions kprobes can attach to, and where each lives.
//!
//! The kernel's own list is tracefs's `available_filter_functions`: every
//! function ftrace can trace, one per line, `name` or `name [module]`. A
//! function missing there is inlined, `notrace`, or not a function at all;
//! `/proc/kallsyms` tells those apart (a symbol that is there but not
//! traceable), and stands in for the list when tracefs's is unreadable
//! (some kernels restrict it), though kallsyms includes functions kprobes
//! refuse. Both are read once per process, on the first kernel probe.

use std::collections::HashSet;
use std::rc::Rc;

use crate::frontend::tracefs::{tracefs_root, TracepointError};

/// One traceable kernel function.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelFunction {
    pub name: String,
    /// The module it is in; `None` for the kernel image (vmlinux).
    pub module: Option<String>,
}

/// The traceable functions, and where the list came from.
#[derive(Debug)]
pub struct KernelFunctions {
    pub functions: Vec<KernelFunction>,
    /// The file read, for messages.
    pub source: String,
    /// Whether the list is only kallsyms' text symbols (tracefs's list was
    /// unreadable): some of them are not traceable.
    pub approximate: bool,
}

impl KernelFunctions {
    /// Functions named `name`, in `module` when given.
    pub fn find<'a>(&'a self, name: &'a str, module: Option<&'a str>) -> impl Iterator<Item = &'a KernelFunction> {
        self.functions.iter().filter(move |f| f.name == name && module.is_none_or(|m| f.module.as_deref() == Some(m)))
    }

    /// Whether any function lives in `module`.
    pub fn has_module(&self, module: &str) -> bool {
        self.functions.iter().any(|f| f.module.as_deref() == Some(module))
    }
}

thread_local! {
    static FUNCTIONS: std::cell::OnceCell<Result<Rc<KernelFunctions>, String>> = const { std::cell::OnceCell::new() };
}

/// The traceable kernel functions (read once per thread: a REPL session
/// reads them on its first kernel probe).
pub fn traceable() -> Result<Rc<KernelFunctions>, String> {
    FUNCTIONS.with(|cell| cell.get_or_init(|| read_traceable().map(Rc::new)).clone())
}

fn read_traceable() -> Result<KernelFunctions, String> {
    let from_tracefs = match tracefs_root() {
        Ok(root) => {
            let path = root.join("available_filter_functions");
            std::fs::read_to_string(&path).map(|text| (text, path.display().to_string()))
        }
        Err(TracepointError::TracefsDenied(p)) => {
            return Err(format!("listing kernel functions needs root ({} is root-only)", p.display()))
        }
        Err(e) => Err(std::io::Error::other(e.to_string())),
    };
    if let Ok((text, source)) = from_tracefs {
        return Ok(KernelFunctions { functions: parse_filter_functions(&text), source, approximate: false });
    }
    let text = std::fs::read_to_string(KALLSYMS).map_err(|e| format!("cannot read {KALLSYMS}: {e}"))?;
    let functions = parse_kallsyms(&text);
    if functions.is_empty() {
        return Err(format!("{KALLSYMS} lists no functions (kernel.kptr_restrict, or not root?)"));
    }
    Ok(KernelFunctions { functions, source: KALLSYMS.into(), approximate: true })
}

const KALLSYMS: &str = "/proc/kallsyms";

/// Whether `/proc/kallsyms` has a function symbol `name` (to tell a
/// `notrace` function from an inlined or misspelt one).
pub fn in_kallsyms(name: &str) -> bool {
    thread_local! {
        static NAMES: std::cell::OnceCell<HashSet<String>> = const { std::cell::OnceCell::new() };
    }
    NAMES.with(|cell| {
        cell.get_or_init(|| {
            let text = std::fs::read_to_string(KALLSYMS).unwrap_or_default();
            parse_kallsyms(&text).into_iter().map(|f| f.name).collect()
        })
        .contains(name)
    })
}

/// `available_filter_functions`: `name` or `name [module]` per line
/// (newer kernels may add fields after a tab; only the first word and the
/// bracketed module count). Duplicates (static functions of the same name
/// in several files) are kept once per module.
fn parse_filter_functions(text: &str) -> Vec<KernelFunction> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let Some(name) = words.next() else { continue };
        let module = words.next().and_then(|m| m.strip_prefix('[')).and_then(|m| m.strip_suffix(']'));
        if seen.insert((name, module)) {
            out.push(KernelFunction { name: name.to_string(), module: module.map(str::to_string) });
        }
    }
    out
}

/// `/proc/kallsyms`: `ADDRESS TYPE NAME [MODULE]`; text symbols (`t`, `T`)
/// are functions. The kernel's own `__pfx_`/`__cfi_` padding symbols and
/// `.cold` parts are not.
fn parse_kallsyms(text: &str) -> Vec<KernelFunction> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let (Some(_), Some(kind), Some(name)) = (words.next(), words.next(), words.next()) else { continue };
        if !matches!(kind, "t" | "T")
            || name.starts_with("__pfx_")
            || name.starts_with("__cfi_")
            || name.contains(".cold")
        {
            continue;
        }
        let module = words.next().and_then(|m| m.strip_prefix('[')).and_then(|m| m.strip_suffix(']'));
        if seen.insert((name, module)) {
            out.push(KernelFunction { name: name.to_string(), module: module.map(str::to_string) });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_functions_with_modules() {
        let text = "vfs_read\ndo_nanosleep\nsnd_open [snd]\nvfs_read\nxfs_open [xfs]\tfoo\n\n";
        let f = parse_filter_functions(text);
        assert_eq!(f.len(), 4);
        assert_eq!(f[2], KernelFunction { name: "snd_open".into(), module: Some("snd".into()) });
        assert_eq!(f[3].module.as_deref(), Some("xfs"));
        let list = KernelFunctions { functions: f, source: String::new(), approximate: false };
        assert_eq!(list.find("vfs_read", None).count(), 1);
        assert_eq!(list.find("snd_open", Some("xfs")).count(), 0);
        assert!(list.has_module("snd") && !list.has_module("ext4"));
    }

    #[test]
    fn kallsyms_text_symbols_only() {
        let text = "ffffffff81000000 T _stext\nffffffff81000010 t __pfx_foo\nffffffff81000020 t foo\n\
                    ffffffff81000030 D some_data\nffffffff81000040 t bar.cold\nffffffffc0000000 t m_fn\t[mod]\n";
        let names: Vec<_> = parse_kallsyms(text).into_iter().map(|f| (f.name, f.module)).collect();
        assert_eq!(
            names,
            [("_stext".to_string(), None), ("foo".to_string(), None), ("m_fn".to_string(), Some("mod".to_string()))]
        );
    }
}
