//! uprobes and uretprobes through the `uprobe` perf PMU.
//!
//! The kernel's uprobe PMU (`/sys/bus/event_source/devices/uprobe`) takes
//! the binary's path in `config1` and the *file offset* of the probed
//! instruction in `config2`; bit `retprobe` of `config` (read from the
//! PMU's `format/retprobe`) asks for a return probe, and `ref_ctr_offset`
//! (bits from `format/ref_ctr_offset`) names a USDT semaphore the kernel
//! increments while the probe is attached.
//!
//! Before asking the kernel we check that the binary exists and that the
//! offset falls inside an executable `PT_LOAD` segment: the kernel would
//! otherwise accept a bogus offset silently (and corrupt data with a
//! breakpoint) or answer a bare `EINVAL`.
//!
//! Without a pid the event is system-wide (pid -1 on CPU 0: uprobe events
//! run the program on whichever CPU hits the probe); with a pid the kernel
//! filters by that process's address space, so all its threads count.

use std::ffi::CString;
use std::fs::File;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use object::read::elf::{FileHeader, ProgramHeader};
use object::{elf, Endianness, FileKind, ReadCache};

use super::{pmu_format_bit, pmu_type, require_kind, AttachError, Link};
use crate::runtime::load::Prog;
use crate::sys::{PerfEventSpec, ProgKind};

const UPROBE_PMU: &str = "uprobe";

/// Attaches a Kprobe-kind program at `file_offset` in `binary`.
pub fn attach_uprobe(
    prog: &Prog,
    binary: &Path,
    file_offset: u64,
    retprobe: bool,
    pid: Option<i32>,
) -> Result<Link, AttachError> {
    attach_uprobe_with_ref_ctr(prog, binary, file_offset, retprobe, pid, 0)
}

/// Like [`attach_uprobe`], with a USDT semaphore at file offset
/// `ref_ctr_offset` (0 for none) that the kernel keeps incremented while
/// the probe is attached.
pub fn attach_uprobe_with_ref_ctr(
    prog: &Prog,
    binary: &Path,
    file_offset: u64,
    retprobe: bool,
    pid: Option<i32>,
    ref_ctr_offset: u64,
) -> Result<Link, AttachError> {
    let target = if retprobe { "uretprobe" } else { "uprobe" };
    require_kind(prog, ProgKind::Kprobe, target)?;
    let path = std::fs::canonicalize(binary)
        .map_err(|e| AttachError::Binary { path: binary.to_path_buf(), reason: e.to_string() })?;
    check_text_offset(&path, file_offset)?;

    let pmu_type = pmu_type(UPROBE_PMU).map_err(no_uprobes)?;
    let mut config = 0u64;
    if retprobe {
        config |= 1u64 << pmu_format_bit(UPROBE_PMU, "retprobe").map_err(no_uprobes)?;
    }
    if ref_ctr_offset != 0 {
        let shift = pmu_format_bit(UPROBE_PMU, "ref_ctr_offset").map_err(no_uprobes)?;
        if ref_ctr_offset.checked_shr(64 - shift).unwrap_or(0) != 0 {
            return Err(AttachError::Invalid(format!(
                "USDT semaphore offset {ref_ctr_offset:#x} does not fit the uprobe PMU's ref_ctr_offset field"
            )));
        }
        config |= ref_ctr_offset << shift;
    }
    let cpath = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| AttachError::Binary { path: path.clone(), reason: "path contains a NUL byte".to_string() })?;
    let (pid, cpu) = match pid {
        Some(p) => (p, -1),
        None => (-1, 0),
    };
    let spec = PerfEventSpec {
        type_: pmu_type,
        config,
        config1_str: Some(&cpath),
        config1: 0,
        config2: file_offset,
        sample: 0,
        freq: false,
        pid,
        cpu,
    };
    let mut description = format!("{target} {}+{file_offset:#x}", path.display());
    if pid >= 0 {
        description.push_str(&format!(" (pid {pid})"));
    }
    Link::single(prog, &spec, description)
}

fn no_uprobes(reason: String) -> AttachError {
    AttachError::NoUprobes(format!("{reason} (kernel built without CONFIG_UPROBE_EVENTS?)"))
}

/// Checks that `offset` lies inside an executable loadable segment.
fn check_text_offset(path: &Path, offset: u64) -> Result<(), AttachError> {
    let binary_error = |reason: String| AttachError::Binary { path: path.to_path_buf(), reason };
    let file = File::open(path).map_err(|e| binary_error(e.to_string()))?;
    // ReadCache reads only the header and program headers, not the file.
    let data = ReadCache::new(file);
    let found = match FileKind::parse(&data) {
        Ok(FileKind::Elf64) => text_contains::<elf::FileHeader64<Endianness>>(&data, offset),
        Ok(FileKind::Elf32) => text_contains::<elf::FileHeader32<Endianness>>(&data, offset),
        _ => Err("not an ELF executable or shared library".to_string()),
    }
    .map_err(binary_error)?;
    if found {
        Ok(())
    } else {
        Err(AttachError::NotText { path: path.to_path_buf(), offset })
    }
}

fn text_contains<Elf: FileHeader<Endian = Endianness>>(data: &ReadCache<File>, offset: u64) -> Result<bool, String> {
    let bad = |e: object::read::Error| format!("malformed ELF: {e}");
    let header = Elf::parse(data).map_err(bad)?;
    let endian = header.endian().map_err(bad)?;
    let segments = header.program_headers(endian, data).map_err(bad)?;
    if segments.is_empty() {
        return Err("ELF file has no program headers (an object file, not a binary?)".to_string());
    }
    Ok(segments.iter().any(|ph| {
        let start: u64 = ph.p_offset(endian).into();
        let size: u64 = ph.p_filesz(endian).into();
        ph.p_type(endian) == elf::PT_LOAD
            && ph.p_flags(endian) & elf::PF_X != 0
            && offset >= start
            && offset - start < size
    }))
}

/// The file offset of `symbol` in `binary` (test support: the probes
/// module does the real symbol resolution).
#[cfg(test)]
pub(crate) fn symbol_file_offset(binary: &Path, symbol: &str) -> Option<u64> {
    use object::{Object, ObjectSegment, ObjectSymbol};
    let data = std::fs::read(binary).ok()?;
    let file = object::File::parse(&*data).ok()?;
    let addr = file.symbols().find(|s| s.name() == Ok(symbol))?.address();
    file.segments().find_map(|seg| {
        let (start, size) = (seg.address(), seg.size());
        let (file_start, file_size) = seg.file_range();
        (addr >= start && addr - start < size.min(file_size)).then(|| file_start + (addr - start))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::load::load_program;
    use crate::runtime::maps::Map;
    use crate::runtime::testing::{prog_count, read_count, skip_without_bpf};
    use crate::sys::probe_targets::{
        trace_runtime_test_uprobe_a, trace_runtime_test_uprobe_b, trace_runtime_test_uprobe_detach,
    };
    use crate::sys::{current_tid, MapKind};
    use std::hint::black_box;
    use std::path::PathBuf;

    fn call_n(f: extern "C" fn(u64) -> u64, n: u64) {
        let f = black_box(f);
        for i in 0..n {
            black_box(f(black_box(i)));
        }
    }

    fn self_exe() -> PathBuf {
        PathBuf::from("/proc/self/exe")
    }

    fn offset_of(symbol: &str) -> u64 {
        let exe = std::fs::canonicalize(self_exe()).expect("resolve /proc/self/exe");
        symbol_file_offset(&exe, symbol).expect("test symbol in the test binary")
    }

    #[test]
    fn uprobe_counts_calls_and_detaches_on_drop() {
        if skip_without_bpf() {
            return;
        }
        let map = Map::create("upcount", MapKind::Array, 4, 8, 1).expect("map");
        // Only this thread counts: other tests run in parallel threads.
        let insns = prog_count(map.fd(), Some(current_tid()));
        let prog = load_program(ProgKind::Kprobe, "up_a", &insns).expect("load");
        let offset = offset_of("trace_runtime_test_uprobe_detach");
        let link = attach_uprobe(&prog, &self_exe(), offset, false, None).expect("attach");
        assert!(link.description().starts_with("uprobe /"), "{}", link.description());
        call_n(trace_runtime_test_uprobe_detach, 7);
        assert_eq!(read_count(&map), 7);
        drop(link);
        // Other tests spawn processes (gcc, targets); a child between fork
        // and exec briefly holds a copy of every fd, and with it the probe.
        // Give such a window time to close before checking the detach.
        std::thread::sleep(std::time::Duration::from_millis(100));
        call_n(trace_runtime_test_uprobe_detach, 5);
        assert_eq!(read_count(&map), 7, "probe fired after its Link was dropped");
    }

    #[test]
    fn uretprobe_counts_returns() {
        if skip_without_bpf() {
            return;
        }
        let map = Map::create("uretcount", MapKind::Array, 4, 8, 1).expect("map");
        let insns = prog_count(map.fd(), Some(current_tid()));
        let prog = load_program(ProgKind::Kprobe, "uret_a", &insns).expect("load");
        let offset = offset_of("trace_runtime_test_uprobe_a");
        let _link = attach_uprobe(&prog, &self_exe(), offset, true, None).expect("attach");
        call_n(trace_runtime_test_uprobe_a, 4);
        assert_eq!(read_count(&map), 4);
    }

    #[test]
    fn uprobe_pid_filter() {
        if skip_without_bpf() {
            return;
        }
        // No tid filter in the program: the perf event's pid does the work.
        // Function b is called by this test only.
        let map = Map::create("uppid", MapKind::Array, 4, 8, 1).expect("map");
        let prog = load_program(ProgKind::Kprobe, "up_b", &prog_count(map.fd(), None)).expect("load");
        let offset = offset_of("trace_runtime_test_uprobe_b");
        let pid = std::process::id() as i32;
        {
            let _link = attach_uprobe(&prog, &self_exe(), offset, false, Some(pid)).expect("attach");
            call_n(trace_runtime_test_uprobe_b, 9);
            assert_eq!(read_count(&map), 9);
        }
        // Filtered to another process (init): our calls must not count.
        let _other = attach_uprobe(&prog, &self_exe(), offset, false, Some(1)).expect("attach pid 1");
        call_n(trace_runtime_test_uprobe_b, 3);
        assert_eq!(read_count(&map), 9);
    }

    #[test]
    fn uprobe_errors_are_explained() {
        if skip_without_bpf() {
            return;
        }
        let prog = load_program(ProgKind::Kprobe, "up_err", &crate::runtime::testing::prog_return(0)).expect("load");
        let err = attach_uprobe(&prog, Path::new("/no/such/binary"), 0x1000, false, None).expect_err("missing");
        assert!(matches!(err, AttachError::Binary { .. }), "{err}");
        // Offset 0 is the ELF header: never in a text segment.
        let err = attach_uprobe(&prog, &self_exe(), 0, false, None).expect_err("not text");
        assert!(matches!(err, AttachError::NotText { offset: 0, .. }), "{err}");
        let err = attach_uprobe(&prog, Path::new("/proc/self/status"), 0, false, None).expect_err("not ELF");
        assert!(err.to_string().contains("not an ELF"), "{err}");
        let tp = load_program(ProgKind::Tracepoint, "tp", &crate::runtime::testing::prog_return(0)).expect("load");
        let offset = offset_of("trace_runtime_test_uprobe_a");
        let err = attach_uprobe(&tp, &self_exe(), offset, false, None).expect_err("wrong kind");
        assert!(matches!(err, AttachError::WrongProgKind { .. }), "{err}");
    }
}
