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
//! `/sys/kernel/debug/tracing`, and trace unmounts what it mounted when it
//! exits.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

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
    /// tracefs is mounted (most likely) but root-only.
    #[error("cannot read tracefs at {}: permission denied (needs root)", .0.display())]
    TracefsDenied(PathBuf),
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
/// tracefs at `/sys/kernel/tracing` if no mount is found (`main` unmounts
/// it at the end, see `sys::unmount_tracefs`). Without root, tracefs is
/// usually mounted but unreadable: that is [`TracepointError::TracefsDenied`].
pub fn tracefs_root() -> Result<PathBuf, TracepointError> {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    if let Some(root) = ROOT.get() {
        return Ok(root.clone());
    }
    let root = crate::sys::ensure_tracefs().map_err(|e| match e {
        crate::sys::SysError::TracefsDenied(path) => TracepointError::TracefsDenied(path),
        e => TracepointError::Tracefs(format!(
            "it is not mounted and mounting it failed ({e}); try `mount -t tracefs nodev /sys/kernel/tracing` as root"
        )),
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
pub(crate) fn valid_component(s: &str) -> bool {
    !s.is_empty() && s != "." && s != ".." && !s.contains('/') && !s.contains('\0')
}

/// Skip a test that reads tracefs (tracepoint formats and events), which
/// only root can read; see `crate::testing`.
#[cfg(test)]
pub(crate) fn skip_without_tracefs() -> bool {
    let available = tracefs_root().map(drop).map_err(|e| e.to_string());
    crate::testing::skip_unless(available, "tracefs (needs root)")
}

/// For tests with a part that reads tracefs: whether that part can run
/// here (when not, it says so; in CI it must run).
#[cfg(test)]
pub(crate) fn tracefs_readable() -> bool {
    !skip_without_tracefs()
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
        if skip_without_tracefs() {
            return;
        }
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
}
