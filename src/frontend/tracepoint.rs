//! Kernel tracepoints: their `format` files and the tracefs listing.
//!
//! A tracepoint's `args` are laid out as the kernel describes in
//! `events/CAT/NAME/format` under tracefs; the type checker builds the
//! `args` record from [`TracepointFormat`], and the runtime attaches by the
//! `ID` in the same file. The parser is a pure function over the file's
//! text so it can be tested on real formats without a kernel.
//!
//! tracefs is normally at `/sys/kernel/tracing`, but on some machines it is
//! not mounted; [`tracefs_root`] mounts it on first use when it is missing
//! (we run as root to load BPF anyway), falling back to the legacy
//! `/sys/kernel/debug/tracing`.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use super::names::{glob_match, is_glob, similar_names};
use super::probes::{missing, parts, quoted_list, At, Kind, ProbeSpec, ResolvedProbe};
use crate::diag::Diagnostic;

/// The layout of one tracepoint's record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TracepointFormat {
    /// The event id, used as `perf_event_attr.config`.
    pub id: u64,
    /// The event's own fields in record order, without the `common_*` header.
    pub fields: Vec<TpField>,
}

/// One `field:` line of a format file.
///
/// `c_type` is the declared type without the field name and without the
/// array brackets: `char prev_comm[16]` has `c_type` "char" and
/// `array_len` 16; `__data_loc char[] filename` has `c_type` "char" and
/// `data_loc` set (the record holds a u32: offset in the low 16 bits, length
/// in the high 16 bits, of a string stored after the fixed fields).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TpField {
    pub name: String,
    /// As written (after removing name and brackets), e.g. "const char *".
    pub c_type: String,
    pub offset: u32,
    pub size: u32,
    pub signed: bool,
    /// `__data_loc`: a dynamic array located relative to the record start.
    pub data_loc: bool,
    /// `__rel_loc`: like `data_loc` but the offset is relative to the end of
    /// this field (newer kernels use it for some events).
    pub rel_loc: bool,
    /// `Some(n)` for a fixed array `x[n]`; `Some(0)` for a flexible array
    /// member `x[]` (size 0, data follows the record).
    pub array_len: Option<u32>,
    pub pointer: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum TracepointError {
    #[error("tracefs is not available: {0}")]
    Tracefs(String),
    #[error("no tracepoint category `{0}`")]
    UnknownCategory(String),
    #[error("no tracepoint `{category}:{name}`")]
    Unknown { category: String, name: String },
    #[error("cannot read {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("malformed tracepoint format (line {line}): {message}")]
    Parse { line: usize, message: String },
}

/// Read and parse `events/CATEGORY/NAME/format`.
pub fn read_format(category: &str, name: &str) -> Result<TracepointFormat, TracepointError> {
    let events = tracefs_root()?.join("events");
    if !valid_component(category) || !events.join(category).is_dir() {
        return Err(TracepointError::UnknownCategory(category.to_string()));
    }
    let path = events.join(category).join(name).join("format");
    if !valid_component(name) || !path.exists() {
        return Err(TracepointError::Unknown { category: category.to_string(), name: name.to_string() });
    }
    let text = std::fs::read_to_string(&path).map_err(|source| TracepointError::Io { path, source })?;
    parse_format(&text)
}

/// Parse the text of a format file. Pure.
pub fn parse_format(text: &str) -> Result<TracepointFormat, TracepointError> {
    let mut id = None;
    let mut fields = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        let err = |message: String| TracepointError::Parse { line: i + 1, message };
        if let Some(v) = line.strip_prefix("ID:") {
            id = Some(v.trim().parse::<u64>().map_err(|_| err(format!("bad ID `{}`", v.trim())))?);
        } else if line.starts_with("field:") {
            let field = parse_field(line).map_err(err)?;
            if !field.name.starts_with("common_") {
                fields.push(field);
            }
        } else if line.starts_with("print fmt:") {
            // The print format is C source for the kernel's own printing; the
            // field list before it is all we need.
            break;
        }
    }
    let id = id.ok_or(TracepointError::Parse { line: 1, message: "no `ID:` line".into() })?;
    Ok(TracepointFormat { id, fields })
}

/// `field:const char * filename;\toffset:24;\tsize:8;\tsigned:0;`
fn parse_field(line: &str) -> Result<TpField, String> {
    let (mut decl, mut offset, mut size, mut signed) = (None, None, None, false);
    for part in line.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, value) = part.split_once(':').ok_or_else(|| format!("expected `key:value`, found `{part}`"))?;
        let num = || value.trim().parse::<u32>().map_err(|_| format!("bad {key} `{value}`"));
        match key {
            "field" => decl = Some(value.trim()),
            "offset" => offset = Some(num()?),
            "size" => size = Some(num()?),
            "signed" => signed = num()? != 0,
            // Unknown keys from future kernels are not our business.
            _ => {}
        }
    }
    let decl = decl.ok_or("missing declaration")?;
    let (offset, size) = (offset.ok_or("missing offset")?, size.ok_or("missing size")?);

    let (data_loc, rel_loc, decl) = if let Some(d) = decl.strip_prefix("__data_loc ") {
        (true, false, d.trim())
    } else if let Some(d) = decl.strip_prefix("__rel_loc ") {
        (false, true, d.trim())
    } else {
        (false, false, decl)
    };
    // A trailing `[N]` belongs to the name (`char comm[16]`).
    let (decl, array_len) = match decl.strip_suffix(']').and_then(|d| d.rsplit_once('[')) {
        Some((d, n)) => {
            let len = if n.trim().is_empty() {
                0
            } else {
                n.trim().parse::<u32>().map_err(|_| format!("bad array length `{n}` in `{decl}`"))?
            };
            (d.trim_end(), Some(len))
        }
        None => (decl, None),
    };
    let name_start = decl
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_ascii_alphanumeric() || *c == '_')
        .last()
        .map(|(i, _)| i)
        .ok_or_else(|| format!("no field name in `{decl}`"))?;
    let name = &decl[name_start..];
    let mut c_type = decl[..name_start].trim_end();
    if c_type.is_empty() {
        return Err(format!("no type in `{decl}`"));
    }
    // `__data_loc char[] name`: the brackets are on the type.
    if data_loc || rel_loc {
        c_type = c_type.strip_suffix("[]").map(str::trim_end).unwrap_or(c_type);
    }
    Ok(TpField {
        name: name.to_string(),
        c_type: c_type.to_string(),
        offset,
        size,
        signed,
        data_loc,
        rel_loc,
        array_len: if data_loc || rel_loc { None } else { array_len },
        pointer: c_type.contains('*'),
    })
}

/// The tracefs mount point (the directory holding `events/`), mounting
/// tracefs at `/sys/kernel/tracing` if no mount is found.
pub fn tracefs_root() -> Result<PathBuf, TracepointError> {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    if let Some(root) = ROOT.get() {
        return Ok(root.clone());
    }
    let root = crate::sys::ensure_tracefs().map_err(|e| {
        TracepointError::Tracefs(format!(
            "it is not mounted and mounting it failed ({e}); try `mount -t tracefs nodev /sys/kernel/tracing` as root"
        ))
    })?;
    Ok(ROOT.get_or_init(|| root).clone())
}

/// Tracepoint categories (`syscalls`, `sched`, ...), sorted.
pub fn categories() -> Result<Vec<String>, TracepointError> {
    subdirs(&tracefs_root()?.join("events"))
}

/// Events of one category, sorted; `UnknownCategory` if it does not exist.
pub fn events(category: &str) -> Result<Vec<String>, TracepointError> {
    let dir = tracefs_root()?.join("events").join(category);
    if !valid_component(category) || !dir.is_dir() {
        return Err(TracepointError::UnknownCategory(category.to_string()));
    }
    subdirs(&dir)
}

/// Whether `events/CATEGORY/NAME` exists.
pub fn exists(category: &str, name: &str) -> bool {
    valid_component(category)
        && valid_component(name)
        && tracefs_root().is_ok_and(|r| r.join("events").join(category).join(name).join("format").is_file())
}

/// Directory entries that are directories (events/ also holds control
/// files such as `enable` and `header_page`).
fn subdirs(dir: &Path) -> Result<Vec<String>, TracepointError> {
    let io = |source| TracepointError::Io { path: dir.to_path_buf(), source };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        if entry.file_type().map_err(io)?.is_dir() {
            if let Ok(name) = entry.file_name().into_string() {
                out.push(name);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Names come from user text; keep them to one path component.
fn valid_component(s: &str) -> bool {
    !s.is_empty() && s != "." && s != ".." && !s.contains('/') && !s.contains('\0')
}

/// Tracepoints a user of `kprobe:FUNC` (or `kretprobe:`) probably wants
/// instead, as `tracepoint:CAT:NAME` strings that exist on this kernel.
///
/// Syscall implementations are recognised by their prefixes
/// (`__x64_sys_openat`, `do_sys_openat2`, `ksys_read`, ...) and map to the
/// `syscalls` tracepoints; a few well-known kernel functions that many
/// syscalls funnel into have a table; otherwise an event of the same name in
/// any category (`tcp_retransmit_skb` → `tcp:tcp_retransmit_skb`).
pub fn alternatives_for_kernel_function(func: &str, ret: bool) -> Vec<String> {
    let dir = if ret { "exit" } else { "enter" };
    let mut syscalls: Vec<&str> = Vec::new();
    // Shared entry points of whole syscall families.
    const FAMILIES: &[(&str, &[&str])] = &[
        ("do_sys_open", &["openat", "open"]),
        ("do_sys_openat2", &["openat", "open", "openat2"]),
        ("do_filp_open", &["openat", "open"]),
        ("vfs_read", &["read", "pread64", "readv"]),
        ("vfs_write", &["write", "pwrite64", "writev"]),
        ("do_execveat_common", &["execve", "execveat"]),
        ("do_execve", &["execve"]),
        ("__sys_connect", &["connect"]),
        ("__sys_accept4", &["accept4", "accept"]),
        ("__sys_sendto", &["sendto"]),
        ("__sys_recvfrom", &["recvfrom"]),
        ("do_unlinkat", &["unlinkat", "unlink"]),
        ("do_mkdirat", &["mkdirat", "mkdir"]),
        ("ksys_mmap_pgoff", &["mmap"]),
    ];
    if let Some((_, names)) = FAMILIES.iter().find(|(f, _)| *f == func) {
        syscalls.extend_from_slice(names);
    }
    const PREFIXES: &[&str] = &[
        "__x64_sys_",
        "__ia32_sys_",
        "__arm64_sys_",
        "__riscv_sys_",
        "__se_sys_",
        "__do_sys_",
        "do_sys_",
        "ksys_",
        "sys_",
    ];
    if let Some(rest) = PREFIXES.iter().find_map(|p| func.strip_prefix(p)) {
        syscalls.push(rest);
    }
    let mut out: Vec<String> = Vec::new();
    for s in syscalls {
        let name = format!("sys_{dir}_{s}");
        if exists("syscalls", &name) {
            let full = format!("tracepoint:syscalls:{name}");
            if !out.contains(&full) {
                out.push(full);
            }
        }
    }
    const EVENTS: &[(&str, &str)] = &[
        ("do_exit", "sched:sched_process_exit"),
        ("kernel_clone", "sched:sched_process_fork"),
        ("wake_up_new_task", "sched:sched_process_fork"),
        ("finish_task_switch", "sched:sched_switch"),
        ("__schedule", "sched:sched_switch"),
        ("try_to_wake_up", "sched:sched_wakeup"),
        ("kmalloc", "kmem:kmalloc"),
        ("__kmalloc", "kmem:kmalloc"),
        ("kfree", "kmem:kfree"),
        ("blk_mq_start_request", "block:block_rq_issue"),
    ];
    for (f, ev) in EVENTS {
        if *f == func {
            if let Some((c, n)) = ev.split_once(':') {
                if exists(c, n) {
                    out.push(format!("tracepoint:{ev}"));
                }
            }
        }
    }
    if out.is_empty() && valid_component(func) {
        if let Ok(cats) = categories() {
            for c in cats {
                if exists(&c, func) {
                    out.push(format!("tracepoint:{c}:{func}"));
                }
            }
        }
    }
    out.truncate(3);
    out
}

// ------------------------------------------------------------ attach points

/// `tracepoint:CAT:NAME` (after the type), wildcards allowed in both parts.
pub(crate) fn expand_attach(at: &At, rest: Option<usize>) -> Result<Vec<ResolvedProbe>, Diagnostic> {
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
            out.push(at.probe(
                ProbeSpec::Tracepoint { category: c.clone(), name: e.clone(), format },
                format!("tracepoint:{c}:{e}"),
            ));
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

/// Tracepoint names for `trace -l`: `rest` is where `CAT:NAME` starts after
/// a `tracepoint:` prefix, or `None` for a bare pattern.
pub(crate) fn list_matching(text: &str, rest: Option<usize>) -> Result<Vec<String>, Diagnostic> {
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

// ------------------------------------------ kernel probes that need more

/// The diagnostic for a probe type that cannot be used: kernel probes
/// (with why this kernel lacks them and the tracepoints to use instead),
/// and bpftrace types `trace` does not implement.
pub(crate) fn unavailable(at: &At, kind: Kind, full: &str, ty_end: usize, rest: Option<usize>) -> Diagnostic {
    let text = at.text;
    let ty_r = 0..ty_end;
    // The kernel function is the last part (`kfunc:vmlinux:f`, `kprobe:f+8`).
    let func = rest.map(|r| {
        let last = parts(text, r).pop().unwrap_or(r..text.len());
        let s = &text[last];
        s.split('+').next().unwrap_or(s).to_string()
    });
    match kind {
        Kind::Kprobe | Kind::Kretprobe | Kind::Fentry | Kind::Fexit => {
            let ret = matches!(kind, Kind::Kretprobe | Kind::Fexit);
            let (message, label, reason) = if matches!(kind, Kind::Kprobe | Kind::Kretprobe) {
                match kprobes_missing() {
                    Some(reason) => {
                        (format!("{full} probes are not available on this kernel"), "kprobes are not available", reason)
                    }
                    None => (
                        format!("{full} probes are not supported by trace yet"),
                        "not supported yet",
                        "this kernel has kprobes, but trace does not attach to them yet".into(),
                    ),
                }
            } else {
                match fentry_missing() {
                    Some(reason) => (
                        format!("{full} probes are not available on this kernel"),
                        "fentry/fexit are not available",
                        reason,
                    ),
                    None => (
                        format!("{full} probes are not supported by trace yet"),
                        "not supported yet",
                        "this kernel supports fentry/fexit, but trace does not attach to them yet".into(),
                    ),
                }
            };
            let mut d = at.err(ty_r, message, label).note(reason);
            let alts = func
                .as_deref()
                .filter(|f| !f.is_empty() && !is_glob(f))
                .map(|f| alternatives_for_kernel_function(f, ret));
            match alts {
                Some(alts) if !alts.is_empty() => {
                    d = d.note(format!("use a tracepoint instead: {}", quoted_list(&alts)))
                }
                _ => {}
            }
            let dir = if ret { "exit" } else { "enter" };
            d.note(format!(
                "kernel activity can be traced through tracepoints: `tracepoint:syscalls:sys_{dir}_*` for system calls; \
                 `trace -l 'tracepoint:*'` lists them all"
            ))
        }
        _ => {
            let hint = match full {
                "software" | "hardware" => "for sampling use `profile:hz:N`; for periodic work `interval:s:N`",
                "rawtracepoint" => "use `tracepoint:CATEGORY:NAME`",
                _ => "supported probe types: BEGIN, END, uprobe, uretprobe, usdt, tracepoint, interval, profile",
            };
            at.err(ty_r, format!("{full} probes are not supported by trace"), "not supported").note(hint)
        }
    }
}

/// Why kprobes cannot work here, if they cannot.
pub(crate) fn kprobes_missing() -> Option<String> {
    if Path::new("/sys/bus/event_source/devices/kprobe").exists() {
        return None;
    }
    if tracefs_root().is_ok_and(|r| r.join("kprobe_events").exists()) {
        return None;
    }
    Some(
        "this kernel was built without kprobes (CONFIG_KPROBES): there is no \
         /sys/bus/event_source/devices/kprobe and no kprobe_events in tracefs"
            .into(),
    )
}

/// Why fentry/fexit cannot work here, if we can tell without loading a
/// program: they need kernel BTF and a kernel that lets BPF attach to
/// functions through ftrace, whose function list must be readable.
pub(crate) fn fentry_missing() -> Option<String> {
    if !Path::new("/sys/kernel/btf/vmlinux").exists() {
        return Some("the kernel has no BTF (/sys/kernel/btf/vmlinux), which fentry/fexit need".into());
    }
    let root = tracefs_root().ok()?;
    let list = root.join("available_filter_functions");
    match std::fs::File::open(&list).and_then(|mut f| std::io::Read::read(&mut f, &mut [0u8; 1])) {
        Ok(_) => None,
        Err(e) => Some(format!(
            "the kernel does not allow BPF tracing programs to attach to kernel functions here \
             ({} is not readable: {e})",
            list.display()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPENAT: &str = "name: sys_enter_openat
ID: 782
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;
\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;
\tfield:int dfd;\toffset:16;\tsize:8;\tsigned:0;
\tfield:const char * filename;\toffset:24;\tsize:8;\tsigned:0;
\tfield:int flags;\toffset:32;\tsize:8;\tsigned:0;
\tfield:umode_t mode;\toffset:40;\tsize:8;\tsigned:0;

print fmt: \"dfd: 0x%08lx, filename: 0x%08lx, flags: 0x%08lx, mode: 0x%08lx\", ((unsigned long)(REC->dfd)), ((unsigned long)(REC->filename)), ((unsigned long)(REC->flags)), ((unsigned long)(REC->mode))
";

    const SCHED_SWITCH: &str = "name: sched_switch
ID: 372
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;
\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

\tfield:char prev_comm[16];\toffset:8;\tsize:16;\tsigned:0;
\tfield:pid_t prev_pid;\toffset:24;\tsize:4;\tsigned:1;
\tfield:int prev_prio;\toffset:28;\tsize:4;\tsigned:1;
\tfield:long prev_state;\toffset:32;\tsize:8;\tsigned:1;
\tfield:char next_comm[16];\toffset:40;\tsize:16;\tsigned:0;
\tfield:pid_t next_pid;\toffset:56;\tsize:4;\tsigned:1;
\tfield:int next_prio;\toffset:60;\tsize:4;\tsigned:1;

print fmt: \"prev_comm=%s prev_pid=%d prev_prio=%d prev_state=%s%s ==> next_comm=%s next_pid=%d next_prio=%d\", REC->prev_comm, REC->prev_pid, REC->prev_prio, (REC->prev_state & ((((0x00000000 | 0x00000001 | 0x00000002 | 0x00000004 | 0x00000008 | 0x00000010 | 0x00000020 | 0x00000040) + 1) << 1) - 1)) ? __print_flags(REC->prev_state & ((((0x00000000 | 0x00000001 | 0x00000002 | 0x00000004 | 0x00000008 | 0x00000010 | 0x00000020 | 0x00000040) + 1) << 1) - 1), \"|\", { 0x00000001, \"S\" }, { 0x00000002, \"D\" }, { 0x00000004, \"T\" }, { 0x00000008, \"t\" }, { 0x00000010, \"X\" }, { 0x00000020, \"Z\" }, { 0x00000040, \"P\" }, { 0x00000080, \"I\" }) : \"R\", REC->prev_state & (((0x00000000 | 0x00000001 | 0x00000002 | 0x00000004 | 0x00000008 | 0x00000010 | 0x00000020 | 0x00000040) + 1) << 1) ? \"+\" : \"\", REC->next_comm, REC->next_pid, REC->next_prio
";

    const PROCESS_EXEC: &str = "name: sched_process_exec
ID: 365
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;
\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

\tfield:__data_loc char[] filename;\toffset:8;\tsize:4;\tsigned:0;
\tfield:pid_t pid;\toffset:12;\tsize:4;\tsigned:1;
\tfield:pid_t old_pid;\toffset:16;\tsize:4;\tsigned:1;

print fmt: \"filename=%s pid=%d old_pid=%d\", __get_str(filename), REC->pid, REC->old_pid
";

    fn field(f: &TracepointFormat, name: &str) -> TpField {
        f.fields.iter().find(|x| x.name == name).cloned().unwrap_or_else(|| panic!("field {name}"))
    }

    #[test]
    fn sys_enter_openat() {
        let f = parse_format(OPENAT).unwrap();
        assert_eq!(f.id, 782);
        let names: Vec<&str> = f.fields.iter().map(|x| x.name.as_str()).collect();
        assert_eq!(names, ["__syscall_nr", "dfd", "filename", "flags", "mode"]);
        let filename = field(&f, "filename");
        assert_eq!(filename.c_type, "const char *");
        assert_eq!((filename.offset, filename.size, filename.signed), (24, 8, false));
        assert!(filename.pointer && !filename.data_loc && filename.array_len.is_none());
        let nr = field(&f, "__syscall_nr");
        assert_eq!((nr.c_type.as_str(), nr.offset, nr.size, nr.signed, nr.pointer), ("int", 8, 4, true, false));
        assert_eq!(field(&f, "mode").c_type, "umode_t");
    }

    #[test]
    fn sched_switch_arrays() {
        let f = parse_format(SCHED_SWITCH).unwrap();
        assert_eq!(f.id, 372);
        assert_eq!(f.fields.len(), 7);
        let comm = field(&f, "prev_comm");
        assert_eq!((comm.c_type.as_str(), comm.array_len, comm.offset, comm.size), ("char", Some(16), 8, 16));
        assert!(!comm.pointer && !comm.signed);
        let state = field(&f, "prev_state");
        assert_eq!((state.c_type.as_str(), state.offset, state.size, state.signed), ("long", 32, 8, true));
        assert_eq!(field(&f, "next_prio").offset, 60);
    }

    #[test]
    fn data_loc_string() {
        let f = parse_format(PROCESS_EXEC).unwrap();
        let filename = field(&f, "filename");
        assert!(filename.data_loc && !filename.rel_loc);
        assert_eq!((filename.c_type.as_str(), filename.size, filename.array_len), ("char", 4, None));
        assert_eq!(field(&f, "old_pid").offset, 16);
    }

    #[test]
    fn unusual_declarations() {
        let p = |s: &str| parse_field(s).unwrap();
        let f = p("field:const char *const * argv;\toffset:24;\tsize:8;\tsigned:0;");
        assert_eq!((f.name.as_str(), f.c_type.as_str(), f.pointer), ("argv", "const char *const *", true));
        let f = p("field:const struct landlock_ruleset_attr *const attr;\toffset:16;\tsize:8;\tsigned:0;");
        assert_eq!((f.name.as_str(), f.c_type.as_str()), ("attr", "const struct landlock_ruleset_attr *const"));
        let f = p("field:const void* ip;\toffset:16;\tsize:8;\tsigned:0;");
        assert_eq!((f.name.as_str(), f.c_type.as_str(), f.pointer), ("ip", "const void*", true));
        let f = p("field:char buf[];\toffset:16;\tsize:0;\tsigned:0;");
        assert_eq!((f.name.as_str(), f.array_len), ("buf", Some(0)));
        let f = p("field:unsigned long args[6];\toffset:16;\tsize:48;\tsigned:0;");
        assert_eq!((f.c_type.as_str(), f.array_len), ("unsigned long", Some(6)));
        let f = p("field:__data_loc u64[] addrs;\toffset:8;\tsize:4;\tsigned:0;");
        assert!(f.data_loc && f.c_type == "u64");
        let f = p("field:__rel_loc char[] name;\toffset:8;\tsize:4;\tsigned:0;");
        assert!(f.rel_loc && !f.data_loc && f.c_type == "char");
        // Kernels before 2.6.3x had no `signed:`.
        let f = p("field:int x;\toffset:8;\tsize:4;");
        assert!(!f.signed);
    }

    #[test]
    fn malformed_text_is_an_error_with_a_line() {
        assert!(matches!(parse_format("name: x\nformat:\n"), Err(TracepointError::Parse { .. })));
        let bad = "name: x\nID: 3\nformat:\n\tfield:int a;\toffset:zz;\tsize:4;\tsigned:1;\n";
        match parse_format(bad) {
            Err(TracepointError::Parse { line, message }) => {
                assert_eq!(line, 4);
                assert!(message.contains("offset"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        assert!(parse_field("field:;\toffset:1;\tsize:1;").is_err());
        assert!(parse_field("field:x[zz];\toffset:1;\tsize:1;").is_err());
    }

    #[test]
    fn live_formats_parse() {
        let f = read_format("syscalls", "sys_enter_openat").expect("tracefs on this machine");
        assert!(f.id > 0);
        assert_eq!(field(&f, "filename").c_type, "const char *");
        assert!(matches!(read_format("nosuchcat", "x"), Err(TracepointError::UnknownCategory(_))));
        assert!(matches!(read_format("sched", "nosuch"), Err(TracepointError::Unknown { .. })));
        assert!(matches!(read_format("..", "sched"), Err(TracepointError::UnknownCategory(_))));
        // Every format on the machine parses.
        for c in categories().unwrap() {
            for e in events(&c).unwrap() {
                if let Err(err) = read_format(&c, &e) {
                    panic!("{c}:{e}: {err}");
                }
            }
        }
    }

    /// `tracepoint:` attach points through `probes::expand`.
    #[test]
    fn attach_points() {
        use crate::frontend::ast::AttachPoint;
        use crate::frontend::probes::{expand, ProbeContext, ProbeSpec};
        let ok = |text: &str| {
            let ap = AttachPoint { text: text.into(), span: crate::source::Span::new(0, 0, text.len()) };
            expand(&ap, &ProbeContext::default()).unwrap_or_else(|d| panic!("{text}: {d:?}"))
        };
        let p = ok("tracepoint:syscalls:sys_enter_openat");
        let id = std::fs::read_to_string(tracefs_root().unwrap().join("events/syscalls/sys_enter_openat/id"));
        match &p[0].spec {
            ProbeSpec::Tracepoint { category, name, format } => {
                assert_eq!((category.as_str(), name.as_str()), ("syscalls", "sys_enter_openat"));
                assert_eq!(format.id.to_string(), id.unwrap().trim());
                assert!(format.fields.iter().any(|f| f.name == "filename"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(p[0].name, "tracepoint:syscalls:sys_enter_openat");
        assert_eq!(ok("t:sched:sched_switch")[0].name, "tracepoint:sched:sched_switch");
        let names: Vec<String> = ok("t:syscalls:sys_enter_open*").into_iter().map(|p| p.name).collect();
        let want: Vec<String> = events("syscalls")
            .unwrap()
            .into_iter()
            .filter(|e| e.starts_with("sys_enter_open"))
            .map(|e| format!("tracepoint:syscalls:{e}"))
            .collect();
        assert!(want.len() >= 3);
        assert_eq!(names, want);
        assert_eq!(ok("tracepoint:sche?:sched_switch").len(), 1);
    }

    #[test]
    fn kprobe_alternatives() {
        let alts = alternatives_for_kernel_function("do_sys_openat2", false);
        assert_eq!(alts.first().map(String::as_str), Some("tracepoint:syscalls:sys_enter_openat"));
        assert!(alternatives_for_kernel_function("__x64_sys_read", true)
            .contains(&"tracepoint:syscalls:sys_exit_read".to_string()));
        assert_eq!(alternatives_for_kernel_function("sched_switch", false), ["tracepoint:sched:sched_switch"]);
        assert!(alternatives_for_kernel_function("definitely_not_a_function", false).is_empty());
    }
}
