//! `uprobe:PATH:FUNC[+OFFSET]` and `uretprobe:PATH:FUNC`: a probe on a
//! function (or an address) of an executable or shared library.
//!
//! PATH is resolved by `libpath` (a path, a program on `$PATH`, a library
//! name, or with `-p` a file the process has mapped) and FUNC by `elf`
//! (the symbol's file offset: uprobes attach to an inode at a file
//! offset). The messages for what can go wrong with either are built here,
//! on the sub-text that is wrong. `args` reads the function's parameters
//! from its debug info (`frontend::dwarf`), `argN` the argument registers.

use std::fs::File;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use super::spec::ResolvedProbe;
use super::spec::Uprobe;
use super::spec::{AttachTarget, Context, Firing, NamedArgs, NumberedArgs, ProbeContext, ProbeKind, ProbeSpec};
use super::spec::{Memory, ReturnValue};
use super::text::{missing, parse_u64, quoted_list, split_offset, At};
use super::{Listing, ProbeType, Status, MAX_COMPLETIONS};
use crate::arch;
use crate::diag::Diagnostic;
use crate::frontend::dwarf;
use crate::frontend::elf::{self, ElfError, ElfSymbols, SymbolStatus};
use crate::frontend::libpath::{self, LibPathError};
use crate::frontend::names::{is_glob, similar_names};
use crate::sys::ProgKind;

pub const UPROBE: ProbeType = ProbeType {
    name: "uprobe",
    aliases: &["u"],
    status: Status::Supported,
    takes_parts: true,
    expand: |at, full, rest, ctx| expand(at, full, false, rest, ctx),
    list,
    describe,
    complete,
};

pub const URETPROBE: ProbeType = ProbeType {
    name: "uretprobe",
    aliases: &["ur"],
    status: Status::Supported,
    takes_parts: true,
    expand: |at, full, rest, ctx| expand(at, full, true, rest, ctx),
    list,
    describe,
    complete,
};

impl ProbeKind for Uprobe {
    fn prog_kind(&self) -> ProgKind {
        ProgKind::Kprobe
    }
    fn firing(&self) -> Firing<'_> {
        Firing::On(AttachTarget::Uprobe {
            binary: &self.binary,
            file_offset: self.file_offset,
            ret: self.ret,
            ref_ctr_offset: 0,
        })
    }
    fn context(&self) -> Context<'_> {
        Context {
            // At the return, the argument registers hold whatever the
            // function left in them, and the parameters are gone.
            numbered_args: (!self.ret).then_some(NumberedArgs::Registers { count: arch::INT_ARG_REGS.len() as u8 }),
            named_args: Some(NamedArgs::Parameters { at_entry: !self.ret }),
            retval: self.ret.then_some(ReturnValue::Register),
            signature: None,
            function: Some(&self.func),
            binary: Some(&self.binary),
            memory: Memory::User,
            nmi: false,
            regs: true,
            entry_offset: (!self.ret).then_some(self.file_offset),
        }
    }
}

fn expand(
    at: &At,
    full: &str,
    ret: bool,
    rest: Option<usize>,
    ctx: &ProbeContext,
) -> Result<Vec<ResolvedProbe>, Diagnostic> {
    let text = at.text;
    let example = format!("{full}:./db:db_snapshot");
    let Some(rest) = rest.filter(|&r| r < text.len()) else {
        return Err(missing(at, text.len(), "binary path and function", &example));
    };
    // The function is after the last colon, so a path may contain colons.
    let Some(colon) = text[rest..].rfind(':').map(|i| rest + i) else {
        return Err(missing(at, text.len(), "function name", &format!("{full}:{}:FUNCTION", &text[rest..])));
    };
    let (path_r, func_r) = (rest..colon, colon + 1..text.len());
    if path_r.is_empty() {
        return Err(missing(at, rest, "binary path", &example));
    }
    if func_r.is_empty() {
        return Err(missing(at, colon, "function name", &format!("{}FUNCTION", &text[..=colon])));
    }
    let binary = resolve_for_probe(at, path_r.clone(), ctx.pid)?;
    let syms = open_for_probe(at, path_r.clone(), &binary)?;

    let (name_r, offset) = split_offset(at, func_r.clone(), full, "uprobe", ret)?;
    let name = &text[name_r.clone()];
    if name.is_empty() {
        return Err(missing(at, name_r.start, "function name", &example));
    }
    let func_offset = offset.as_ref().map_or(0, |o| o.0);
    // The probe's file offset: the function's (or address's) plus the
    // offset, which a huge offset would wrap around.
    let offset_r = offset.as_ref().map_or(name_r.clone(), |o| o.1.clone());
    let plus_offset = |file_offset: u64| {
        file_offset.checked_add(func_offset).ok_or_else(|| {
            let msg = format!("offset {func_offset} points past the end of {}", binary.display());
            at.err(offset_r.clone(), msg, "too large")
        })
    };
    // Probe names keep the path as written, as bpftrace's do, so `probe`
    // and `-l` show what the user typed.
    let written = &text[path_r.clone()];
    let mk = |func: &str, file_offset: u64| {
        let suffix = if func_offset > 0 { format!("+{func_offset}") } else { String::new() };
        let spec = Uprobe { binary: binary.clone(), func: func.to_string(), func_offset, file_offset, ret };
        at.probe(ProbeSpec::Uprobe(spec), format!("{full}:{written}:{func}{suffix}"))
    };

    // An address instead of a name: `uprobe:./db:0x1139`.
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        let addr = parse_u64(name)
            .ok_or_else(|| at.err(name_r.clone(), format!("invalid address `{name}`"), "not a number"))?;
        let Some((_, off)) = syms.at_address(addr) else {
            return Err(at.err(
                name_r,
                format!("address {name} is not in a loaded segment of {}", binary.display()),
                "no code here",
            ));
        };
        return Ok(vec![mk(name, plus_offset(off)?)]);
    }

    if is_glob(name) {
        if let Some((_, off_r)) = offset {
            return Err(at.err(off_r, "an offset cannot be combined with a wildcard", "offset here"));
        }
        let found = syms.matching(name);
        if found.is_empty() {
            return Err(at
                .err(name_r, format!("no function in {} matches `{name}`", binary.display()), "matches nothing")
                .note(format!("list the functions with `trace -l '{full}:{}:*'`", binary.display())));
        }
        return Ok(found.iter().map(|s| mk(&s.name, s.file_offset)).collect());
    }

    match syms.status(name) {
        SymbolStatus::Function(sym) => {
            if let Some((off, off_r)) = offset {
                if sym.size > 0 && off >= sym.size {
                    return Err(at.err(
                        off_r,
                        format!("offset {off} is outside `{name}`"),
                        format!("`{name}` is {} bytes long", sym.size),
                    ));
                }
            }
            Ok(vec![mk(name, plus_offset(sym.file_offset)?)])
        }
        status => Err(not_a_function(at, name_r, &syms, status, full, ctx.pid)),
    }
}

/// `uprobe:PATH` lists every function; `uprobe:PATH:PATTERN` the matching ones.
fn list(at: &At, full: &'static str, rest: Option<usize>, ctx: &ProbeContext) -> Result<Vec<String>, Diagnostic> {
    let text = at.text;
    let Some(rest) = rest.filter(|&r| r < text.len()) else {
        return Err(missing(at, text.len(), "binary path", &format!("{full}:/bin/bash:read*")));
    };
    let (path_r, func) = match text[rest..].rfind(':') {
        Some(i) => (rest..rest + i, &text[rest + i + 1..]),
        None => (rest..text.len(), "*"),
    };
    let binary = resolve_for_probe(at, path_r.clone(), ctx.pid)?;
    let written = &text[path_r.clone()];
    let syms = open_for_probe(at, path_r, &binary)?;
    let func = if func.is_empty() { "*" } else { func };
    Ok(syms.matching(func).into_iter().map(|s| format!("{full}:{written}:{}", s.name)).collect())
}

/// `-lv`: the function's C prototype, one parameter a line, from DWARF.
fn describe(probes: &[ResolvedProbe]) -> Listing {
    let mut out = Listing::default();
    for p in probes {
        let context = p.spec.context();
        let (Some(binary), Some(func)) = (context.binary, context.function) else { continue };
        match dwarf::lookup(binary) {
            Ok(dwarf::Lookup { info: Some(debug), .. }) => {
                if let Ok(Some(f)) = debug.function(func) {
                    out.lines.extend(dwarf::c_prototype(&f));
                }
            }
            Ok(dwarf::Lookup { info: None, notes }) => out.warnings.push(format!(
                "{} has no debug info: parameters cannot be listed (install its debug symbols or rebuild with -g){}",
                binary.display(),
                notes.iter().map(|n| format!("; {n}")).collect::<String>()
            )),
            Err(e) => out.warnings.push(format!("{}: {e}", binary.display())),
        }
    }
    out
}

/// `PATH` (file names), then `PATH:FUNCTION` (the binary's functions).
fn complete(rest: &str, ctx: &ProbeContext) -> (usize, Vec<String>) {
    // The function is after the last colon, as in `expand`.
    match rest.rfind(':') {
        None => (0, file_paths(rest)),
        Some(i) => (i + 1, functions(&rest[..i], &rest[i + 1..], ctx.pid)),
    }
}

/// Functions of the binary `path` (as a uprobe names it) starting with `prefix`.
fn functions(path: &str, prefix: &str, pid: Option<i32>) -> Vec<String> {
    let Ok(syms) = libpath::resolve(path, pid).map_err(drop).and_then(|p| elf::open(&p).map_err(drop)) else {
        return Vec::new();
    };
    // Sorted already, so the cap keeps the first names alphabetically.
    let names = syms.function_names().filter(|n| n.starts_with(prefix)).take(MAX_COMPLETIONS);
    names.map(str::to_string).collect()
}

/// Entries of the directory part of `partial` whose names continue its
/// last component; directories end in `/`. Hidden files only when asked
/// for with a leading `.`. (The REPL completes its file arguments with it
/// too.)
pub fn file_paths(partial: &str) -> Vec<String> {
    let split = partial.rfind('/').map_or(0, |i| i + 1);
    let (dir, prefix) = partial.split_at(split);
    let Ok(entries) = std::fs::read_dir(if dir.is_empty() { Path::new(".") } else { Path::new(dir) }) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let Ok(name) = entry.file_name().into_string() else { continue };
        if !name.starts_with(prefix) || (name.starts_with('.') && !prefix.starts_with('.')) {
            continue;
        }
        // `metadata` follows symlinks, so a link to a directory is one.
        let slash = if std::fs::metadata(entry.path()).is_ok_and(|m| m.is_dir()) { "/" } else { "" };
        out.push(format!("{dir}{name}{slash}"));
    }
    out
}

/// [`libpath::resolve`] for the PATH of an attach point (at `r`),
/// explaining failures on it.
pub(super) fn resolve_for_probe(at: &At, r: Range<usize>, pid: Option<i32>) -> Result<PathBuf, Diagnostic> {
    let spec = &at.text[r.clone()];
    if is_glob(spec) {
        return Err(at
            .err(r, "wildcards in the binary path are not supported", "name one file")
            .note("attach to each binary separately, or use a library name such as `libc`"));
    }
    libpath::resolve(spec, pid).map_err(|e| {
        let label = match e {
            LibPathError::NoSuchFile { .. } | LibPathError::NotFound { .. } => "not found",
            LibPathError::NotAFile { .. } => "not a file",
            LibPathError::Io { .. } => "cannot resolve",
        };
        let mut d = at.err(r, e.to_string(), label);
        match e {
            LibPathError::NoSuchFile { .. } if !Path::new(spec).is_absolute() => {
                if let Ok(cwd) = std::env::current_dir() {
                    d = d.note(format!("relative paths are resolved against the current directory, {}", cwd.display()));
                }
            }
            LibPathError::NotFound { in_cwd, .. } => {
                let mut looked =
                    format!("looked for a program `{spec}` on $PATH and a library `lib{spec}.so` known to ld.so");
                if pid.is_some() {
                    looked.push_str(", and in the target process's executable and mapped files");
                }
                d = d.note(looked);
                if in_cwd {
                    d = d.note(format!("a file `{spec}` exists in the current directory: write `./{spec}`"));
                }
            }
            _ => {}
        }
        d
    })
}

/// [`elf::open`] for the PATH of an attach point (at `r`), explaining
/// failures on it.
pub(super) fn open_for_probe(at: &At, r: Range<usize>, binary: &Path) -> Result<Rc<ElfSymbols>, Diagnostic> {
    elf::open(binary).map_err(|e| {
        let mut d = at.err(r, e.to_string(), "cannot probe this file");
        match e {
            ElfError::NotElf { .. } => {
                d = d.note("uprobes attach to compiled executables and shared libraries");
                let mut head = [0u8; 2];
                let script = File::open(binary).and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head));
                if script.is_ok() && &head == b"#!" {
                    d = d.note("this is a script: probe its interpreter instead");
                }
            }
            ElfError::Relocatable { .. } => d = d.note("link it into an executable or a shared library first"),
            _ => {}
        }
        d
    })
}

/// Why `name` (at `r` of a uprobe attach point of type `full`) cannot be
/// probed in `syms`, given its status is not [`SymbolStatus::Function`].
fn not_a_function(
    at: &At,
    r: Range<usize>,
    syms: &ElfSymbols,
    status: SymbolStatus,
    full: &str,
    pid: Option<i32>,
) -> Diagnostic {
    let name = &at.text[r.clone()];
    let binary = syms.path().display();
    match status {
        SymbolStatus::Data => {
            at.err(r, format!("`{name}` in {binary} is a data object, not a function"), "not a function")
        }
        SymbolStatus::Imported => {
            let d = at.err(
                r,
                format!("`{name}` is not defined in {binary}: it is imported from a shared library"),
                "imported, not defined here",
            );
            match defining_library(syms, name, pid) {
                Some(lib) => {
                    d.note(format!("it is defined in {lib}: attach with `{full}:{lib}:{name}`", lib = lib.display()))
                }
                None => d,
            }
        }
        SymbolStatus::Function(_) | SymbolStatus::Missing => {
            let d = at.err(r, format!("function `{name}` not found in {binary}"), "no such function");
            let close = similar_names(name, syms.function_names(), 3, false);
            if !close.is_empty() {
                d.note(format!("did you mean {}?", quoted_list(&close)))
            } else if syms.function_names().next().is_none() {
                d.note(format!("{binary} has no function symbols (is it stripped?)"))
            } else {
                d
            }
        }
    }
}

/// Which of the libraries `syms` links against defines `name`.
fn defining_library(syms: &ElfSymbols, name: &str, pid: Option<i32>) -> Option<PathBuf> {
    syms.needed().iter().find_map(|lib| {
        let path = libpath::resolve(lib, pid).ok()?;
        let lib_syms = elf::open(&path).ok()?;
        lib_syms.lookup(name).map(|_| path)
    })
}
