//! The kernel functions kprobes can attach to, and where each lives.
//!
//! The kernel's own list is tracefs's `available_filter_functions`: every
//! function ftrace can trace, one per line, `name` or `name [module]`. A
//! function missing there is inlined, `notrace`, or not a function at all;
//! `/proc/kallsyms` tells those apart (a symbol that is there but not
//! traceable), and stands in for the list when tracefs's is unreadable
//! (some kernels restrict it), though kallsyms includes functions kprobes
//! refuse. Both are read once per process, on the first kernel probe.
//!
//! kallsyms also gives addresses: [`kernel_address`] for `kaddr("NAME")`,
//! and [`kallsyms_line`] is the one parser of its lines, shared with the
//! symbolizer of kernel stacks (`runtime/symbols/kernel.rs`).

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

/// Where the kernel lists its symbols.
pub const KALLSYMS: &str = "/proc/kallsyms";

/// One line of `/proc/kallsyms`: `ADDRESS TYPE NAME [MODULE]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KallsymsLine<'a> {
    /// 0 for everything when kernel pointers are hidden from the reader
    /// (`kernel.kptr_restrict`, not root).
    pub addr: u64,
    /// `nm`'s letter: `t`/`T` text, `w`/`W` weak, `d`/`D` data, ...
    pub kind: char,
    pub name: &'a str,
    /// The module, `None` for the kernel image.
    pub module: Option<&'a str>,
}

impl KallsymsLine<'_> {
    /// A text symbol: code (a weak symbol in kallsyms is a function).
    pub fn is_text(&self) -> bool {
        matches!(self.kind, 't' | 'T' | 'w' | 'W')
    }

    /// The kernel's `__pfx_`/`__cfi_` padding before a function, not code
    /// of its own.
    pub fn is_padding(&self) -> bool {
        self.name.starts_with("__pfx_") || self.name.starts_with("__cfi_")
    }
}

/// Parse one kallsyms line; `None` for a line that is not one.
pub fn kallsyms_line(line: &str) -> Option<KallsymsLine<'_>> {
    let mut words = line.split_whitespace();
    let addr = u64::from_str_radix(words.next()?, 16).ok()?;
    let mut kind = words.next()?.chars();
    let (Some(kind), None) = (kind.next(), kind.next()) else { return None };
    let name = words.next()?;
    let module = words.next().and_then(|m| m.strip_prefix('[')).and_then(|m| m.strip_suffix(']'));
    Some(KallsymsLine { addr, kind, name, module })
}

/// The address of the kernel symbol `name` (any type, the kernel image's
/// before a module's), for `kaddr("NAME")`. `Ok(None)` when there is no
/// such symbol; an error when kallsyms is unreadable or hides addresses.
pub fn kernel_address(name: &str) -> Result<Option<u64>, String> {
    // The kernel writes kallsyms anew on every read (30 ms here, seconds
    // under emulation): once per name and process.
    thread_local! {
        static FOUND: std::cell::RefCell<std::collections::HashMap<String, Option<u64>>> = Default::default();
    }
    if let Some(found) = FOUND.with(|f| f.borrow().get(name).copied()) {
        return Ok(found);
    }
    let text = std::fs::read_to_string(KALLSYMS).map_err(|e| format!("cannot read {KALLSYMS}: {e}"))?;
    let found = kernel_address_in(&text, name)?;
    FOUND.with(|f| f.borrow_mut().insert(name.to_string(), found));
    Ok(found)
}

fn kernel_address_in(text: &str, name: &str) -> Result<Option<u64>, String> {
    let mut found: Option<KallsymsLine> = None;
    for l in text.lines().filter_map(kallsyms_line).filter(|l| l.name == name) {
        if found.is_none_or(|f| f.module.is_some() && l.module.is_none()) {
            found = Some(l);
        }
    }
    match found {
        Some(l) if l.addr == 0 => Err(format!("{KALLSYMS} hides kernel addresses (kernel.kptr_restrict; needs root)")),
        found => Ok(found.map(|l| l.addr)),
    }
}

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
    for l in text.lines().filter_map(kallsyms_line) {
        if !matches!(l.kind, 't' | 'T') || l.is_padding() || l.name.contains(".cold") {
            continue;
        }
        if seen.insert((l.name, l.module)) {
            out.push(KernelFunction { name: l.name.to_string(), module: l.module.map(str::to_string) });
        }
    }
    out
}

/// Skip a test that needs real addresses in kallsyms (root, and
/// `kernel.kptr_restrict` below 2); see `crate::testing`.
#[cfg(test)]
pub(crate) fn skip_without_kallsyms() -> bool {
    let first = std::fs::read_to_string(KALLSYMS)
        .map_err(|e| e.to_string())
        .map(|text| text.lines().next().and_then(kallsyms_line).is_some_and(|l| l.addr != 0));
    let available = match first {
        Ok(true) => Ok(()),
        Ok(false) => Err("its addresses are hidden (kernel.kptr_restrict, or not root)".to_string()),
        Err(e) => Err(e),
    };
    crate::testing::skip_unless(available, "kernel addresses in /proc/kallsyms (needs root)")
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

    #[test]
    fn kallsyms_lines_and_addresses() {
        let l = kallsyms_line("ffffffffc0a01000 t snd_open\t[snd]").unwrap();
        assert_eq!(l, KallsymsLine { addr: 0xffffffffc0a01000, kind: 't', name: "snd_open", module: Some("snd") });
        assert!(l.is_text() && !l.is_padding());
        assert!(kallsyms_line("not hex T foo").is_none());
        assert!(kallsyms_line("ffffffff81000000 TT foo").is_none());
        assert!(kallsyms_line("ffffffff81000000 T").is_none());

        let text = "ffffffffc0000010 t dup\t[m]\nffffffff81000100 T dup\nffffffff82000000 D jiffies\n";
        assert_eq!(kernel_address_in(text, "jiffies"), Ok(Some(0xffffffff82000000)));
        assert_eq!(kernel_address_in(text, "dup"), Ok(Some(0xffffffff81000100)), "vmlinux before a module");
        assert_eq!(kernel_address_in(text, "nope"), Ok(None));
        let hidden = "0000000000000000 T vfs_read\n";
        assert!(kernel_address_in(hidden, "vfs_read").unwrap_err().contains("kptr_restrict"));
    }

    #[test]
    fn kernel_address_of_a_real_symbol() {
        if skip_without_kallsyms() {
            return;
        }
        let addr = kernel_address("vfs_read").unwrap().expect("vfs_read in kallsyms");
        assert!(addr >= 0xffff_0000_0000_0000, "{addr:#x} is a kernel address");
        assert_eq!(kernel_address("no_such_symbol_in_any_kernel").unwrap(), None);
    }
}
