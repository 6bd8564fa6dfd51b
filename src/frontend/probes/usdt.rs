//! `usdt:PATH:[PROVIDER:]NAME` attach points: expansion into one probe per
//! site, listing for `trace -l`, and what `argN` is in such a probe. The
//! notes themselves are read by `frontend::usdt`.
//!
//! PATH is resolved like a uprobe's (a path, a program on `$PATH`, a
//! library name, or with `-p` a file the process has mapped). With `-p PID`
//! a wildcard PATH (`usdt:*:python:function__entry`) searches the
//! executable and every file the process has mapped, as bpftrace does;
//! without a pid there is nothing to search, which the diagnostic says.
//!
//! PROVIDER and NAME may be globs. Without PROVIDER, NAME must not be
//! ambiguous: a name defined by two providers is an error listing them,
//! unless NAME is a glob (then every match is meant).
//!
//! A USDT site is a uprobe on the probe's `nop`; the kernel raises its
//! semaphore (`ref_ctr_offset`) while the probe is attached, so
//! `if (PROBE_ENABLED())`-guarded probes fire.

use std::collections::BTreeSet;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use super::spec::Memory;
use super::spec::Usdt;
use super::spec::{AttachTarget, Context, Firing, NumberedArgs, ProbeContext, ProbeKind, ProbeSpec, ResolvedProbe};
use super::text::{missing, parts, quoted_list, At};
use super::{uprobe, Listing, ProbeType, Status, MAX_COMPLETIONS};
use crate::diag::Diagnostic;
use crate::frontend::libpath;
use crate::frontend::names::{glob_match, is_glob, similar_names};
use crate::frontend::types::Type;
use crate::frontend::usdt::{self, ArgLoc, Site, UsdtArg, UsdtFile};
use crate::source::Span;
use crate::sys::ProgKind;

pub const USDT: ProbeType = ProbeType {
    name: "usdt",
    aliases: &["U"],
    status: Status::Supported,
    takes_parts: true,
    expand,
    list,
    describe,
    complete,
};

impl ProbeKind for Usdt {
    fn prog_kind(&self) -> ProgKind {
        ProgKind::Kprobe
    }
    fn firing(&self) -> Firing<'_> {
        Firing::On(AttachTarget::Uprobe {
            binary: &self.binary,
            file_offset: self.site.file_offset,
            ret: false,
            ref_ctr_offset: self.site.semaphore.map_or(0, |s| s.file_offset),
        })
    }
    fn context(&self) -> Context<'_> {
        Context {
            numbered_args: Some(NumberedArgs::Usdt(&self.site)),
            named_args: None,
            retval: None,
            signature: None,
            function: None,
            binary: None,
            memory: Memory::User,
            nmi: false,
            regs: true,
            entry_offset: None,
        }
    }
}

const EXAMPLE: &str = "usdt:./db:db:checkpoint";

/// The parts of an attach point after `usdt:`, as ranges of its text.
struct Pattern {
    path: Range<usize>,
    provider: Option<Range<usize>>,
    name: Range<usize>,
}

/// Split `PATH[:PROVIDER]:NAME`; a path with colons keeps all but the last
/// two parts. `listing` accepts `usdt:PATH` (every probe) and empty names.
fn pattern(at: &At, full: &str, rest: Option<usize>, listing: bool) -> Result<Pattern, Diagnostic> {
    let text = at.text;
    let Some(rest) = rest.filter(|&r| r < text.len()) else {
        return Err(missing(at, text.len(), "binary path and probe name", EXAMPLE));
    };
    let p = parts(text, rest);
    let pat = match p.len() {
        1 if listing => Pattern { path: p[0].clone(), provider: None, name: text.len()..text.len() },
        1 => return Err(missing(at, text.len(), "probe name", &format!("{full}:{}:PROVIDER:NAME", &text[rest..]))),
        2 => Pattern { path: p[0].clone(), provider: None, name: p[1].clone() },
        n => Pattern { path: p[0].start..p[n - 3].end, provider: Some(p[n - 2].clone()), name: p[n - 1].clone() },
    };
    if pat.path.is_empty() {
        return Err(missing(at, rest, "binary path", EXAMPLE));
    }
    if let Some(r) = &pat.provider {
        if r.is_empty() {
            return Err(at
                .err(r.start - 1..r.end + 1, "empty provider name", "provider expected here")
                .note(format!("write `{full}:PATH:PROVIDER:NAME`, or `{full}:PATH:NAME` when the name is unique")));
        }
    }
    if pat.name.is_empty() && !listing {
        let colon = pat.name.start - 1;
        return Err(missing(at, colon, "probe name", &format!("{}NAME", &text[..=colon])));
    }
    Ok(pat)
}

/// The files to search, each with the path to show in probe names.
fn objects(at: &At, full: &str, pat: &Pattern, ctx: &ProbeContext) -> Result<Vec<(PathBuf, String)>, Diagnostic> {
    let written = &at.text[pat.path.clone()];
    if let (true, Some(pid)) = (is_glob(written), ctx.pid) {
        let found = process_objects(pid, written);
        if found.is_empty() {
            return Err(at.err(
                pat.path.clone(),
                format!("no file mapped by process {pid} matches `{written}`"),
                "matches nothing",
            ));
        }
        return Ok(found
            .into_iter()
            .map(|p| {
                let shown = p.display().to_string();
                (p, shown)
            })
            .collect());
    }
    let binary = uprobe::resolve_for_probe(at, pat.path.clone(), ctx.pid).map_err(|d| {
        if is_glob(written) {
            d.note(format!("with `-p PID`, `{full}:*:...` searches the process's executable and libraries"))
        } else {
            d
        }
    })?;
    Ok(vec![(binary, written.to_string())])
}

/// The executable and mapped files of `pid` whose path or file name
/// matches `glob`, canonical, first-mapped first.
fn process_objects(pid: i32, glob: &str) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = Vec::new();
    if let Ok(exe) = std::fs::read_link(format!("/proc/{pid}/exe")) {
        paths.push(exe);
    }
    if let Ok(maps) = std::fs::read_to_string(format!("/proc/{pid}/maps")) {
        // address perms offset dev inode pathname; only files have a '/'.
        for line in maps.lines() {
            if let Some(i) = line.find('/') {
                paths.push(PathBuf::from(line[i..].trim_end_matches(" (deleted)")));
            }
        }
    }
    let mut out: Vec<PathBuf> = Vec::new();
    for p in paths {
        let Ok(canon) = std::fs::canonicalize(&p) else { continue };
        let name = canon.file_name().and_then(|f| f.to_str()).unwrap_or("");
        let full = canon.to_str().unwrap_or("");
        if !out.contains(&canon) && (glob_match(glob, full) || glob_match(glob, name)) {
            out.push(canon);
        }
    }
    out
}

/// [`usdt::open`], explaining failures on the path of the attach point.
fn open_for_probe(at: &At, r: Range<usize>, path: &Path) -> Result<Rc<UsdtFile>, Diagnostic> {
    usdt::open(path).map_err(|e| match uprobe::open_for_probe(at, r.clone(), path) {
        Err(d) => d,
        Ok(_) => at.err(r, e.to_string(), "cannot read its probes"),
    })
}

fn matches(pat: &Pattern, text: &str, s: &Site) -> bool {
    let name = &text[pat.name.clone()];
    let name = if name.is_empty() { "*" } else { name };
    pat.provider.as_ref().is_none_or(|p| glob_match(&text[p.clone()], &s.provider)) && glob_match(name, &s.name)
}

/// Expand `usdt:...` into one probe per matching site.
fn expand(at: &At, full: &str, rest: Option<usize>, ctx: &ProbeContext) -> Result<Vec<ResolvedProbe>, Diagnostic> {
    let text = at.text;
    let pat = pattern(at, full, rest, false)?;
    let objects = objects(at, full, &pat, ctx)?;
    let scanning = objects.len() > 1 || is_glob(&text[pat.path.clone()]);
    let mut out = Vec::new();
    let mut searched: Vec<Rc<UsdtFile>> = Vec::new();
    for (path, shown) in &objects {
        let file = match open_for_probe(at, pat.path.clone(), path) {
            Ok(f) => f,
            // A process maps files that are not ELF (locale archives, ...).
            Err(_) if scanning => continue,
            Err(d) => return Err(d),
        };
        let mut found: Vec<&Site> = file.sites.iter().filter(|s| matches(&pat, text, s)).collect();
        found.sort_by(|a, b| (&a.provider, &a.name, a.vaddr).cmp(&(&b.provider, &b.name, b.vaddr)));
        for s in found {
            let spec = ProbeSpec::Usdt(Usdt { binary: path.clone(), site: s.clone() });
            out.push(at.probe(spec, format!("{full}:{shown}:{}:{}", s.provider, s.name)));
        }
        searched.push(file);
    }
    if out.is_empty() {
        return Err(no_match(at, full, &pat, &searched, ctx, scanning));
    }
    let name = &text[pat.name.clone()];
    if pat.provider.is_none() && !is_glob(name) {
        let mut providers: Vec<String> = out
            .iter()
            .filter_map(|p| match &p.spec {
                ProbeSpec::Usdt(u) => Some(u.site.provider.clone()),
                _ => None,
            })
            .collect();
        providers.sort();
        providers.dedup();
        if providers.len() > 1 {
            let path = &text[pat.path.clone()];
            return Err(at
                .err(
                    pat.name.clone(),
                    format!("USDT probe name `{name}` is ambiguous: providers {} define it", and_list(&providers)),
                    "which provider?",
                )
                .note(format!("name the provider, e.g. `{full}:{path}:{}:{name}`", providers[0])));
        }
    }
    Ok(out)
}

fn no_match(
    at: &At,
    full: &str,
    pat: &Pattern,
    files: &[Rc<UsdtFile>],
    ctx: &ProbeContext,
    scanning: bool,
) -> Diagnostic {
    let text = at.text;
    let path = &text[pat.path.clone()];
    let name = &text[pat.name.clone()];
    let all: Vec<&Site> = files.iter().flat_map(|f| f.sites.iter()).collect();
    let list_hint = format!("list them with `trace -l '{full}:{path}:*'`{}", if scanning { " and -p" } else { "" });
    if scanning {
        let pid = ctx.pid.unwrap_or(0);
        let what = pat.provider.as_ref().map_or(name.to_string(), |p| format!("{}:{name}", &text[p.clone()]));
        return at
            .err(
                pat.path.start..text.len(),
                format!("no USDT probe matches `{what}` in the files of process {pid}"),
                "matches nothing",
            )
            .note(format!("searched {} files with USDT probes", files.iter().filter(|f| !f.sites.is_empty()).count()));
    }
    let binary = files.first().map_or_else(|| path.to_string(), |f| f.path.display().to_string());
    if all.is_empty() {
        return at
            .err(pat.path.clone(), format!("{binary} has no USDT probes"), "no .note.stapsdt notes")
            .note("USDT probes are compiled in with sys/sdt.h (DTRACE_PROBE, STAP_PROBE); `readelf -n FILE` shows them as stapsdt notes")
            .note(format!("for a function, attach a uprobe: `uprobe:{path}:FUNCTION`"));
    }
    let mut providers: Vec<String> = all.iter().map(|s| s.provider.clone()).collect();
    providers.sort();
    providers.dedup();
    if let Some(r) = &pat.provider {
        let provider = &text[r.clone()];
        if !providers.iter().any(|p| glob_match(provider, p)) {
            let mut d = at.err(r.clone(), format!("no USDT provider `{provider}` in {binary}"), "unknown provider");
            let close = similar_names(provider, providers.iter().map(String::as_str), 1, false);
            if let Some(c) = close.first() {
                d = d.note(format!("did you mean `{c}`?"));
            }
            return d.note(format!("its providers are {}", and_list(&providers)));
        }
    }
    let what = pat.provider.as_ref().map_or(name.to_string(), |p| format!("{}:{name}", &text[p.clone()]));
    let mut d = if is_glob(&what) {
        at.err(pat.name.clone(), format!("no USDT probe in {binary} matches `{what}`"), "matches nothing")
    } else {
        at.err(pat.name.clone(), format!("USDT probe `{what}` not found in {binary}"), "no such probe")
    };
    let names: Vec<String> = all.iter().map(|s| s.name.clone()).collect();
    let close = similar_names(name, names.iter().map(String::as_str), 3, false);
    if !close.is_empty() {
        d = d.note(format!("did you mean {}?", quoted_list(&close)));
    }
    d.note(list_hint)
}

/// Probe names matching `usdt:PATH[:[PROVIDER:]NAME]`, for `trace -l`,
/// sorted, one per probe (not per site).
fn list(at: &At, full: &'static str, rest: Option<usize>, ctx: &ProbeContext) -> Result<Vec<String>, Diagnostic> {
    let pat = pattern(at, full, rest, true)?;
    let objects = objects(at, full, &pat, ctx)?;
    let scanning = objects.len() > 1 || is_glob(&at.text[pat.path.clone()]);
    let mut out = Vec::new();
    for (path, shown) in &objects {
        let file = match open_for_probe(at, pat.path.clone(), path) {
            Ok(f) => f,
            Err(_) if scanning => continue,
            Err(d) => return Err(d),
        };
        let mut names: Vec<(&str, &str)> = file
            .sites
            .iter()
            .filter(|s| matches(&pat, at.text, s))
            .map(|s| (s.provider.as_str(), s.name.as_str()))
            .collect();
        names.sort();
        names.dedup();
        out.extend(names.into_iter().map(|(p, n)| format!("{full}:{shown}:{p}:{n}")));
    }
    Ok(out)
}

/// The type of `argN` of the USDT probe `probe`, whose note gives `args`
/// (`args_text` as written), or why it cannot be read.
pub fn arg_type(args: &[UsdtArg], args_text: &str, probe: &str, n: u8, span: Span) -> Result<Type, Diagnostic> {
    let Some(arg) = args.get(n as usize) else {
        let count = args.len();
        let has = match count {
            0 => "has no arguments".to_string(),
            1 => "has 1 argument, arg0".to_string(),
            c => format!("has {c} arguments, arg0 to arg{}", c - 1),
        };
        let d = Diagnostic::error(format!("`arg{n}` is out of range: `{probe}` {has}"))
            .at(span, format!("{count} argument{}", if count == 1 { "" } else { "s" }));
        return Err(if count > 0 { d.note(format!("the probe's arguments, from its note: {args_text}")) } else { d });
    };
    match &arg.loc {
        ArgLoc::Unsupported(why) => Err(Diagnostic::error(format!("cannot read `arg{n}` of `{probe}`: {why}"))
            .at(span, "unreadable argument")
            .note(format!("the probe's note gives it as `{}`", arg.text))),
        _ => Ok(Type::Int { size: 8, signed: arg.signed }),
    }
}

/// `trace -lv` lines for the sites of one probe: each argument's type
/// (size and signedness) and location, per site when there are several.
fn describe(probes: &[ResolvedProbe]) -> Listing {
    let sites: Vec<&Site> = probes
        .iter()
        .filter_map(|p| match &p.spec {
            ProbeSpec::Usdt(u) => Some(&u.site),
            _ => None,
        })
        .collect();
    let mut out = Vec::new();
    for (i, site) in sites.iter().enumerate() {
        let indent = if sites.len() > 1 {
            let sem = site.semaphore.map(|s| format!(", semaphore {:#x}", s.vaddr)).unwrap_or_default();
            out.push(format!("    site {} of {} at {:#x}{sem}:", i + 1, sites.len(), site.vaddr));
            "        "
        } else {
            if let Some(s) = site.semaphore {
                out.push(format!("    semaphore {:#x}", s.vaddr));
            }
            "    "
        };
        for (n, a) in site.args.iter().enumerate() {
            let operand = a.text.split_once('@').map_or(a.text.as_str(), |(_, op)| op);
            let place = match &a.loc {
                ArgLoc::Reg(_) => format!("register {operand}"),
                ArgLoc::Const(v) => format!("constant {v}"),
                ArgLoc::Mem { .. } => format!("memory {operand}"),
                ArgLoc::Unsupported(why) => format!("unreadable: {why}"),
            };
            out.push(format!("{indent}{} arg{n}: {place}", a.type_name()));
        }
    }
    Listing { lines: out, warnings: Vec::new() }
}

/// `` `a`, `b` and `c` ``
fn and_list(items: &[String]) -> String {
    let q: Vec<String> = items.iter().map(|s| format!("`{s}`")).collect();
    match q.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => q.join(""),
    }
}

/// `PATH`, then `PATH:[PROVIDER:]NAME`: everything after the path is one
/// word, completed from the file's probes as `provider:name` and `name`.
fn complete(rest: &str, ctx: &ProbeContext) -> (usize, Vec<String>) {
    let Some(path_len) = rest.find(':') else { return (0, uprobe::file_paths(rest)) };
    let prefix = &rest[path_len + 1..];
    let Ok(file) =
        libpath::resolve(&rest[..path_len], ctx.pid).map_err(drop).and_then(|p| usdt::open(&p).map_err(drop))
    else {
        return (path_len + 1, Vec::new());
    };
    let names: BTreeSet<String> = file
        .sites
        .iter()
        .flat_map(|s| [format!("{}:{}", s.provider, s.name), s.name.clone()])
        .filter(|n| n.starts_with(prefix))
        .collect();
    (path_len + 1, names.into_iter().take(MAX_COMPLETIONS).collect())
}
