//! The candidates of [`super::complete::complete`], once it has found the word and
//! its context: the language's names, directory listings, and attach
//! points — probe types, then the part after each type, one `:`-separated
//! part at a time, read from the sources `frontend::probes` expands attach
//! points from (tracefs, a binary's symbols or USDT notes, found with
//! `libpath::resolve`).

use std::collections::BTreeSet;
use std::path::Path;

use super::complete::{CompletionContext, MAX_CANDIDATES};
use crate::frontend::builtins::{BUILTIN_NAMES, FUNCTION_NAMES};
use crate::frontend::{elf, libpath, tracepoint, usdt};

/// Keywords the grammar accepts inside code (not the reserved `while`,
/// `unroll`, ... that it rejects).
pub(super) const KEYWORDS: &[&str] = &["if", "else", "sizeof", "offsetof", "struct", "union", "enum"];

/// Keywords, builtin variables and builtin functions starting with `prefix`.
pub(super) fn identifiers(prefix: &str) -> Vec<String> {
    let funcs = FUNCTION_NAMES.iter().map(|f| format!("{f}("));
    let names = KEYWORDS.iter().chain(BUILTIN_NAMES).map(|s| s.to_string());
    names.chain(funcs).filter(|n| n.starts_with(prefix)).collect()
}

/// Entries of the directory part of `partial` whose names continue its
/// last component; directories end in `/`. Hidden files only when asked
/// for with a leading `.`.
pub(super) fn paths(partial: &str) -> Vec<String> {
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

/// The `names` starting with `prefix`.
pub(super) fn matching<'n>(prefix: &str, names: impl IntoIterator<Item = &'n str>) -> Vec<String> {
    names.into_iter().filter(|n| n.starts_with(prefix)).map(str::to_string).collect()
}

/// How the part after a probe type is completed.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// `BEGIN`, `END`: no colon, nothing after.
    Bare,
    Uprobe,
    Usdt,
    Tracepoint,
    Timer,
    /// Accepted (kprobes exist on users' kernels) but nothing to offer.
    Other,
}

/// The probe types and aliases `frontend::probes` implements.
pub(super) const PROBE_TYPES: &[(&str, Kind)] = &[
    ("BEGIN", Kind::Bare),
    ("END", Kind::Bare),
    ("uprobe", Kind::Uprobe),
    ("u", Kind::Uprobe),
    ("uretprobe", Kind::Uprobe),
    ("ur", Kind::Uprobe),
    ("usdt", Kind::Usdt),
    ("U", Kind::Usdt),
    ("tracepoint", Kind::Tracepoint),
    ("t", Kind::Tracepoint),
    ("interval", Kind::Timer),
    ("i", Kind::Timer),
    ("profile", Kind::Timer),
    ("p", Kind::Timer),
    ("kprobe", Kind::Other),
    ("k", Kind::Other),
    ("kretprobe", Kind::Other),
    ("kr", Kind::Other),
];

/// Both timers take the same units (`profile` converts times to a rate).
const TIMER_UNITS: &[&str] = &["hz:", "ms:", "s:", "us:"];

/// Completion of one attach point's text: the offset in `ap` where the
/// replaced word starts, and the candidates.
pub(super) fn attach_point(ap: &str, ctx: &CompletionContext) -> (usize, Vec<String>) {
    let Some(colon) = ap.find(':') else {
        let colon = |k: Kind| if k == Kind::Bare { "" } else { ":" };
        let types = PROBE_TYPES.iter().map(|(t, k)| format!("{t}{}", colon(*k)));
        return (0, types.filter(|t| t.starts_with(ap)).collect());
    };
    let kind = PROBE_TYPES.iter().find(|t| t.0 == &ap[..colon]).map(|t| t.1);
    let rest_at = colon + 1;
    let rest = &ap[rest_at..];
    // The last `:`-separated part is the word, as in `probes::expand`
    // (where a uprobe's path may contain colons, its function cannot).
    let last_at = ap.rfind(':').map_or(0, |i| i + 1);
    let word = &ap[last_at..];
    let found = match kind {
        Some(Kind::Uprobe | Kind::Usdt) if last_at == rest_at => paths(word),
        Some(Kind::Uprobe) => functions(&ap[rest_at..last_at - 1], word, ctx.pid),
        Some(Kind::Usdt) => {
            // `usdt:PATH:[PROVIDER:]NAME`: everything after the path is the word.
            let path_len = rest.find(':').unwrap_or(rest.len());
            let at = rest_at + path_len + 1;
            return (at, usdt_probes(&rest[..path_len], &ap[at..], ctx.pid));
        }
        Some(Kind::Tracepoint) => match rest.find(':') {
            None => tracepoint::categories().map(|c| matching_owned(word, c, ":")).unwrap_or_default(),
            Some(i) if rest_at + i + 1 == last_at => {
                tracepoint::events(&rest[..i]).map(|e| matching_owned(word, e, "")).unwrap_or_default()
            }
            Some(_) => Vec::new(),
        },
        Some(Kind::Timer) if last_at == rest_at => matching(word, TIMER_UNITS.iter().copied()),
        _ => Vec::new(),
    };
    (last_at, found)
}

/// Functions of the binary `path` (as a uprobe names it) starting with `prefix`.
fn functions(path: &str, prefix: &str, pid: Option<i32>) -> Vec<String> {
    let Ok(syms) = libpath::resolve(path, pid).map_err(drop).and_then(|p| elf::open(&p).map_err(drop)) else {
        return Vec::new();
    };
    // Sorted already, so the cap keeps the first names alphabetically.
    let names = syms.function_names().filter(|n| n.starts_with(prefix)).take(MAX_CANDIDATES);
    names.map(str::to_string).collect()
}

/// The USDT probes of `path` as `provider:name` and `name`.
fn usdt_probes(path: &str, prefix: &str, pid: Option<i32>) -> Vec<String> {
    let Ok(file) = libpath::resolve(path, pid).map_err(drop).and_then(|p| usdt::open(&p).map_err(drop)) else {
        return Vec::new();
    };
    let names: BTreeSet<String> = file
        .sites
        .iter()
        .flat_map(|s| [format!("{}:{}", s.provider, s.name), s.name.clone()])
        .filter(|n| n.starts_with(prefix))
        .collect();
    names.into_iter().take(MAX_CANDIDATES).collect()
}

/// Like [`matching`], for owned names, each with `suffix` appended.
fn matching_owned(prefix: &str, names: Vec<String>, suffix: &str) -> Vec<String> {
    names.into_iter().filter(|n| n.starts_with(prefix)).map(|n| n + suffix).collect()
}
