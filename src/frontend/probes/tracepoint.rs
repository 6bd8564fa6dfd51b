//! `tracepoint:CATEGORY:NAME`: the kernel's static tracepoints, wildcards
//! allowed in both parts. Their formats and the events that exist come
//! from tracefs (`frontend::tracefs`); `args` is the event's record, laid
//! out as its format file says.

use super::spec::Memory;
use super::spec::Tracepoint;
use super::spec::{AttachTarget, Context, Firing, NamedArgs, ProbeContext, ProbeKind, ProbeSpec, ResolvedProbe};
use super::text::{missing, parts, quoted_list, At};
use super::{starting_with, Listing, ProbeType, Status};
use crate::diag::Diagnostic;
use crate::frontend::names::{glob_match, is_glob, similar_names};
use crate::frontend::tracefs::{categories, events, exists, read_format, TpField, TracepointError};
use crate::frontend::types::{Type, STR_SIZE};
use crate::sys::ProgKind;

pub const TRACEPOINT: ProbeType = ProbeType {
    name: "tracepoint",
    aliases: &["t"],
    status: Status::Supported,
    takes_parts: true,
    expand,
    list,
    describe,
    complete,
};

impl ProbeKind for Tracepoint {
    fn prog_kind(&self) -> ProgKind {
        ProgKind::Tracepoint
    }
    fn firing(&self) -> Firing<'_> {
        Firing::On(AttachTarget::Tracepoint { category: &self.category, name: &self.name })
    }
    fn context(&self) -> Context<'_> {
        Context {
            numbered_args: None,
            named_args: Some(NamedArgs::Tracepoint(self)),
            retval: None,
            signature: None,
            function: None,
            binary: None,
            // The `syscalls` events record the system call's arguments as
            // the process passed them: user pointers. Every other event's
            // pointers are the kernel's.
            memory: if self.category == "syscalls" { Memory::User } else { Memory::Kernel },
            nmi: false,
            regs: false,
            entry_offset: None,
        }
    }
}

/// The type a field of `tp` reads as; `None` if trace cannot read it. A
/// pointer is typed by what its format declares, looked up in kernel BTF
/// (`const char *filename`, `struct sk_buff *skb`), so members and strings
/// can be read through it; it points into user memory in the `syscalls`
/// events (their arguments as the process passed them), else into the
/// kernel's. Without BTF, or for `void *`, it is an address.
pub fn field_type(tp: &Tracepoint, f: &TpField) -> Option<Type> {
    if f.data_loc {
        return Some(Type::Str { size: STR_SIZE });
    }
    if let Some(n) = f.array_len {
        if f.c_type.contains("char") {
            return Some(Type::Str { size: n });
        }
        // `unsigned long args[6]`: an array of integers (not a flexible one).
        let elem = f.size.checked_div(n).filter(|e| matches!(e, 1 | 2 | 4 | 8) && e * n == f.size)?;
        let elem = Type::Int { size: elem as u8, signed: f.signed };
        return Some(Type::Array { elem: std::rc::Rc::new(elem), len: n });
    }
    if f.pointer {
        return Some(pointer_type(&f.c_type, tp.category == "syscalls").unwrap_or(Type::U64));
    }
    match f.size {
        1 | 2 | 4 | 8 => Some(Type::Int { size: f.size as u8, signed: f.signed }),
        _ => None,
    }
}

/// `const char *const *` ─► pointer to pointer to `char`, the base type
/// from kernel BTF; `None` for `void *` or a base type BTF does not know.
fn pointer_type(c_type: &str, user: bool) -> Option<Type> {
    let depth = c_type.matches('*').count();
    let words: Vec<&str> =
        c_type.split(|c: char| c == '*' || c.is_whitespace()).filter(|w| !w.is_empty() && *w != "const").collect();
    let base_name = words.join(" ");
    if depth == 0 || base_name.is_empty() || base_name == "void" {
        return None;
    }
    let base = crate::frontend::btf::vmlinux().ok()?.named_type(&base_name, None).ok()??;
    let mut t = base;
    for _ in 0..depth {
        t = Type::Ptr { to: std::rc::Rc::new(t), user };
    }
    Some(t)
}

/// `tracepoint:CAT:NAME` (after the type), wildcards allowed in both parts.
fn expand(at: &At, _: &str, rest: Option<usize>, _: &ProbeContext) -> Result<Vec<ResolvedProbe>, Diagnostic> {
    let text = at.text;
    let example = "tracepoint:syscalls:sys_enter_openat";
    let Some(rest) = rest.filter(|&r| r < text.len()) else {
        return Err(missing(at, text.len(), "category and event name", example));
    };
    let p = parts(text, rest);
    if p.len() == 1 {
        let mut d = missing(at, text.len(), "event name", example);
        // `tracepoint:sys_enter_openat`: say which category has it.
        let name = &text[p[0].clone()];
        if let Ok(cats) = categories() {
            if let Some(c) = cats.iter().find(|c| !is_glob(name) && exists(c, name)) {
                d = d.note(format!("`{name}` is in category `{c}`: write `tracepoint:{c}:{name}`"));
            }
        }
        return Err(d);
    }
    if p.len() > 2 {
        return Err(at
            .err(p[1].end..text.len(), "too many parts in tracepoint", "unexpected")
            .note(format!("for example `{example}`")));
    }
    let (cat_r, name_r) = (p[0].clone(), p[1].clone());
    let (cat, name) = (&text[cat_r.clone()], &text[name_r.clone()]);
    if cat.is_empty() {
        return Err(missing(at, cat_r.start, "category", example));
    }
    if name.is_empty() {
        return Err(missing(at, name_r.start, "event name", example));
    }
    let tp_err = |e: TracepointError| at.err(0..text.len(), e.to_string(), "cannot read this tracepoint");

    let all_cats = categories().map_err(tp_err)?;
    let cats: Vec<&String> = all_cats.iter().filter(|c| glob_match(cat, c)).collect();
    if cats.is_empty() {
        if is_glob(cat) {
            return Err(at.err(cat_r, format!("no tracepoint category matches `{cat}`"), "matches nothing"));
        }
        let mut d = at.err(cat_r, format!("unknown tracepoint category `{cat}`"), "no such category");
        let close = similar_names(cat, all_cats.iter().map(String::as_str), 3, false);
        if !close.is_empty() {
            d = d.note(format!("did you mean {}?", quoted_list(&close)));
        }
        if !is_glob(name) {
            if let Some(c) = all_cats.iter().find(|c| exists(c, name)) {
                d = d.note(format!("`{name}` is in category `{c}`: write `tracepoint:{c}:{name}`"));
            }
        }
        return Err(d.note("list categories with `trace -l 'tracepoint:*'`"));
    }

    let mut out = Vec::new();
    for c in cats {
        let events = events(c).map_err(tp_err)?;
        for e in events.iter().filter(|e| glob_match(name, e)) {
            let format = read_format(c, e).map_err(tp_err)?;
            let spec = Tracepoint { category: c.clone(), name: e.clone(), format };
            out.push(at.probe(ProbeSpec::Tracepoint(spec), format!("tracepoint:{c}:{e}")));
        }
    }
    if !out.is_empty() {
        return Ok(out);
    }
    if is_glob(cat) || is_glob(name) {
        return Err(at
            .err(cat_r.start..name_r.end, format!("no tracepoint matches `{cat}:{name}`"), "matches nothing")
            .note(format!("list tracepoints with `trace -l 'tracepoint:{cat}:*'`")));
    }
    let mut d = at.err(name_r, format!("unknown tracepoint `{cat}:{name}`"), format!("no such event in `{cat}`"));
    let events = events(cat).unwrap_or_default();
    let close = similar_names(name, events.iter().map(String::as_str), 3, false);
    if !close.is_empty() {
        d = d.note(format!("did you mean {}?", quoted_list(&close)));
    }
    if let Some(c) = all_cats.iter().find(|c| exists(c, name)) {
        d = d.note(format!("`{name}` is in category `{c}`: write `tracepoint:{c}:{name}`"));
    }
    Err(d)
}

/// Tracepoint names for `trace -l 'tracepoint:CAT:NAME'`.
fn list(at: &At, _: &'static str, rest: Option<usize>, _: &ProbeContext) -> Result<Vec<String>, Diagnostic> {
    list_matching(at.text, rest)
}

/// Tracepoint names for `trace -l PATTERN` without a probe type: the
/// pattern may name the event, `cat:event`, or the full probe.
pub(super) fn list_bare(text: &str) -> Result<Vec<String>, Diagnostic> {
    list_matching(text, None)
}

/// Tracepoint names for `trace -l`: `rest` is where `CAT:NAME` starts after
/// a `tracepoint:` prefix, or `None` for a bare pattern.
fn list_matching(text: &str, rest: Option<usize>) -> Result<Vec<String>, Diagnostic> {
    let (cat, name, bare) = match rest {
        Some(r) => {
            let p = parts(text, r);
            let get = |i: usize| p.get(i).map(|r| &text[r.clone()]).filter(|s| !s.is_empty()).unwrap_or("*");
            (get(0), get(1), None)
        }
        None => ("*", "*", Some(if text.is_empty() { "*" } else { text })),
    };
    let cats = categories().map_err(|e| Diagnostic::error(e.to_string()))?;
    let mut out = Vec::new();
    for c in cats.iter().filter(|c| glob_match(cat, c)) {
        for e in events(c).unwrap_or_default() {
            let full = format!("tracepoint:{c}:{e}");
            let hit = match bare {
                // A pattern without a type may name the event, `cat:event`,
                // or the full probe.
                Some(p) => glob_match(p, &e) || glob_match(p, &full["tracepoint:".len()..]) || glob_match(p, &full),
                None => glob_match(name, &e),
            };
            if hit {
                out.push(full);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// `-lv`: the event's fields, as its format file declares them.
fn describe(probes: &[ResolvedProbe]) -> Listing {
    let mut out = Listing::default();
    for p in probes {
        let Some(NamedArgs::Tracepoint(tp)) = p.spec.context().named_args else { continue };
        for f in &tp.format.fields {
            let array = f.array_len.map(|n| format!("[{n}]")).unwrap_or_default();
            let kind = if f.data_loc { "__data_loc " } else { "" };
            out.lines.push(format!("    {kind}{} {}{array}", f.c_type, f.name));
        }
    }
    out
}

/// `CATEGORY:` from tracefs, then the category's events.
fn complete(rest: &str, _: &ProbeContext) -> (usize, Vec<String>) {
    match rest.find(':') {
        None => (0, categories().map(|c| starting_with(rest, c.iter().map(String::as_str), ":")).unwrap_or_default()),
        Some(i) if !rest[i + 1..].contains(':') => {
            let word = &rest[i + 1..];
            let found = events(&rest[..i]).map(|e| starting_with(word, e.iter().map(String::as_str), ""));
            (i + 1, found.unwrap_or_default())
        }
        Some(_) => (rest.len(), Vec::new()),
    }
}
