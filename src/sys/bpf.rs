//! Maps and programs: `bpf_map_create` and the element operations behind
//! [`MapHandle`], `BPF_PROG_LOAD` and `BPF_PROG_TEST_RUN`.
//!
//! Part of [`super`], the one FFI module.

use std::ffi::CString;
use std::fmt;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::Once;

use libbpf_sys as bpf;

use super::{last_errno, possible_cpus, Op, SysError};

/// The map types the compiler uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MapKind {
    Hash,
    PercpuHash,
    Array,
    PercpuArray,
    /// `max_entries` is the ring size in bytes (a power-of-two multiple of
    /// the page size); key and value sizes are always 0.
    RingBuf,
    /// Stack traces by id (`bpf_get_stackid`): u32 keys, values of
    /// `depth * 8` bytes of instruction addresses.
    StackTrace,
}

impl MapKind {
    /// Per-CPU maps hold one value slot per possible CPU.
    pub fn is_percpu(self) -> bool {
        matches!(self, MapKind::PercpuHash | MapKind::PercpuArray)
    }

    /// Array maps have a fixed set of `u32` keys that cannot be deleted.
    pub fn is_array(self) -> bool {
        matches!(self, MapKind::Array | MapKind::PercpuArray)
    }

    fn raw(self) -> bpf::bpf_map_type {
        match self {
            MapKind::Hash => bpf::BPF_MAP_TYPE_HASH,
            MapKind::PercpuHash => bpf::BPF_MAP_TYPE_PERCPU_HASH,
            MapKind::Array => bpf::BPF_MAP_TYPE_ARRAY,
            MapKind::PercpuArray => bpf::BPF_MAP_TYPE_PERCPU_ARRAY,
            MapKind::RingBuf => bpf::BPF_MAP_TYPE_RINGBUF,
            MapKind::StackTrace => bpf::BPF_MAP_TYPE_STACK_TRACE,
        }
    }
}

impl fmt::Display for MapKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MapKind::Hash => "hash",
            MapKind::PercpuHash => "percpu hash",
            MapKind::Array => "array",
            MapKind::PercpuArray => "percpu array",
            MapKind::RingBuf => "ringbuf",
            MapKind::StackTrace => "stack trace",
        })
    }
}

/// The program types the compiler emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProgKind {
    /// kprobes and uprobes (the kernel uses one program type for both).
    Kprobe,
    /// A kprobe program for a kprobe-multi link (many functions, one link).
    KprobeMulti,
    /// A tracing program for what BTF id `btf_id` names: fentry or fexit
    /// on a kernel function, or a BTF raw tracepoint (`tp_btf`). The id is
    /// vmlinux's, or with `btf_object` (the kernel's id of a module's BTF
    /// object, see [`btf_object_id`]; 0 for vmlinux) that module's. It
    /// reads the arguments as an array of u64s.
    Tracing {
        btf_id: u32,
        btf_object: u32,
        attach: TracingAttach,
    },
    Tracepoint,
    /// perf events: `interval`, `profile`, hardware/software counters.
    PerfEvent,
    /// BEGIN/END: never attached, run once with `BPF_PROG_TEST_RUN`.
    RawTracepoint,
}

/// What a tracing program attaches to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TracingAttach {
    /// A kernel function's entry.
    Fentry,
    /// A kernel function's return.
    Fexit,
    /// A tracepoint, with its raw arguments typed by BTF.
    RawTracepoint,
}

impl ProgKind {
    fn raw(self) -> bpf::bpf_prog_type {
        match self {
            ProgKind::Kprobe | ProgKind::KprobeMulti => bpf::BPF_PROG_TYPE_KPROBE,
            ProgKind::Tracepoint => bpf::BPF_PROG_TYPE_TRACEPOINT,
            ProgKind::PerfEvent => bpf::BPF_PROG_TYPE_PERF_EVENT,
            ProgKind::RawTracepoint => bpf::BPF_PROG_TYPE_RAW_TRACEPOINT,
            ProgKind::Tracing { .. } => bpf::BPF_PROG_TYPE_TRACING,
        }
    }

    /// The `expected_attach_type` it is loaded with (0 where the type has
    /// one way to attach).
    fn attach_type(self) -> bpf::bpf_attach_type {
        match self {
            ProgKind::KprobeMulti => bpf::BPF_TRACE_KPROBE_MULTI,
            ProgKind::Tracing { attach: TracingAttach::Fentry, .. } => bpf::BPF_TRACE_FENTRY,
            ProgKind::Tracing { attach: TracingAttach::Fexit, .. } => bpf::BPF_TRACE_FEXIT,
            ProgKind::Tracing { attach: TracingAttach::RawTracepoint, .. } => bpf::BPF_TRACE_RAW_TP,
            _ => 0,
        }
    }

    /// The BTF id of what it attaches to (0 for none).
    fn attach_btf_id(self) -> u32 {
        match self {
            ProgKind::Tracing { btf_id, .. } => btf_id,
            _ => 0,
        }
    }
}

impl fmt::Display for ProgKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProgKind::Kprobe => "kprobe/uprobe",
            ProgKind::KprobeMulti => "kprobe (multi)",
            ProgKind::Tracing { attach: TracingAttach::Fentry, .. } => "fentry",
            ProgKind::Tracing { attach: TracingAttach::Fexit, .. } => "fexit",
            ProgKind::Tracing { attach: TracingAttach::RawTracepoint, .. } => "raw tracepoint (BTF)",
            ProgKind::Tracepoint => "tracepoint",
            ProgKind::PerfEvent => "perf_event",
            ProgKind::RawTracepoint => "raw_tracepoint",
        })
    }
}

/// Turns off libbpf's printing to stderr (we report failures ourselves).
pub fn quiet_libbpf() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: passing no callback is documented to disable logging.
        unsafe {
            bpf::libbpf_set_print(None);
        }
    });
}

/// Kernel object names: at most 15 bytes of `[A-Za-z0-9_.]`.
pub fn object_name(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '.' { c } else { '_' }).take(15).collect()
}

/// Cheap check that BPF works here: creates and drops a one-entry array.
pub fn bpf_available() -> Result<(), SysError> {
    MapHandle::create(MapKind::Array, "probe", 4, 4, 1).map(drop)
}
// ---------------------------------------------------------------- maps

/// A map fd together with the sizes the kernel reads and writes through it.
#[derive(Debug)]
pub(crate) struct MapHandle {
    fd: OwnedFd,
    key_size: usize,
    /// Bytes of a value as user space sees it (all slots for per-CPU maps).
    value_len: usize,
}

impl MapHandle {
    /// Creates a map; `name` must already be an [`object_name`].
    pub fn create(
        kind: MapKind,
        name: &str,
        key_size: u32,
        value_size: u32,
        max_entries: u32,
    ) -> Result<MapHandle, SysError> {
        quiet_libbpf();
        let value_len = if kind.is_percpu() {
            (value_size as usize).div_ceil(8) * 8 * possible_cpus()?
        } else {
            value_size as usize
        };
        let cname = CString::new(object_name(name)).unwrap_or_default();
        // Hash maps allocate entries on insert: preallocating a per-CPU hash
        // of 65,536 hist buckets costs ~65 ms at start-up for entries most
        // sessions never use. (Kernels before 6.1 refuse run-time allocated
        // hash maps in perf_event programs; this one does not.)
        let map_flags = match kind {
            MapKind::Hash | MapKind::PercpuHash => bpf::BPF_F_NO_PREALLOC,
            _ => 0,
        };
        let opts = bpf::bpf_map_create_opts {
            sz: std::mem::size_of::<bpf::bpf_map_create_opts>() as bpf::size_t,
            map_flags,
            ..Default::default()
        };
        // SAFETY: name is NUL-terminated and opts is a properly sized struct.
        let fd = unsafe { bpf::bpf_map_create(kind.raw(), cname.as_ptr(), key_size, value_size, max_entries, &opts) };
        if fd < 0 {
            let errno = last_errno();
            return Err(SysError::os(Op::MapCreate, format!("{kind} map {name:?}"), errno));
        }
        Ok(MapHandle {
            // SAFETY: the kernel just returned this fd to us alone.
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
            key_size: key_size as usize,
            value_len,
        })
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        use std::os::fd::AsFd;
        self.fd.as_fd()
    }

    pub fn value_len(&self) -> usize {
        self.value_len
    }

    fn check(&self, key: &[u8], value: Option<usize>) -> Result<(), SysError> {
        if key.len() != self.key_size {
            return Err(SysError::Size { what: "map key", expected: self.key_size, got: key.len() });
        }
        match value {
            Some(len) if len != self.value_len => {
                Err(SysError::Size { what: "map value", expected: self.value_len, got: len })
            }
            _ => Ok(()),
        }
    }

    /// Copies the value for `key` into `value`; `Ok(false)` if absent.
    pub fn lookup(&self, key: &[u8], value: &mut [u8]) -> Result<bool, SysError> {
        self.check(key, Some(value.len()))?;
        // SAFETY: both buffers have exactly the sizes the map was created with.
        let rc =
            unsafe { bpf::bpf_map_lookup_elem(self.fd.as_raw_fd(), key.as_ptr().cast(), value.as_mut_ptr().cast()) };
        match rc {
            0 => Ok(true),
            _ => match last_errno() {
                libc::ENOENT => Ok(false),
                errno => Err(SysError::os(Op::MapLookup, "", errno)),
            },
        }
    }

    pub fn update(&self, key: &[u8], value: &[u8]) -> Result<(), SysError> {
        self.check(key, Some(value.len()))?;
        // SAFETY: both buffers have exactly the sizes the map was created with.
        let rc = unsafe {
            bpf::bpf_map_update_elem(
                self.fd.as_raw_fd(),
                key.as_ptr().cast(),
                value.as_ptr().cast(),
                bpf::BPF_ANY as u64,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(SysError::os(Op::MapUpdate, "", last_errno()))
        }
    }

    /// Deletes `key`; `Ok(false)` if it was absent.
    pub fn delete(&self, key: &[u8]) -> Result<bool, SysError> {
        self.check(key, None)?;
        // SAFETY: the key buffer has the map's key size.
        let rc = unsafe { bpf::bpf_map_delete_elem(self.fd.as_raw_fd(), key.as_ptr().cast()) };
        match rc {
            0 => Ok(true),
            _ => match last_errno() {
                libc::ENOENT => Ok(false),
                errno => Err(SysError::os(Op::MapDelete, "", errno)),
            },
        }
    }

    /// Writes the key after `key` (the first key for `None`) into `next`;
    /// `Ok(false)` at the end of the map.
    pub fn next_key(&self, key: Option<&[u8]>, next: &mut [u8]) -> Result<bool, SysError> {
        if let Some(k) = key {
            self.check(k, None)?;
        }
        if next.len() != self.key_size {
            return Err(SysError::Size { what: "map key", expected: self.key_size, got: next.len() });
        }
        let key_ptr = key.map_or(std::ptr::null(), |k| k.as_ptr().cast());
        // SAFETY: key is NULL or key-sized; next is key-sized.
        let rc = unsafe { bpf::bpf_map_get_next_key(self.fd.as_raw_fd(), key_ptr, next.as_mut_ptr().cast()) };
        match rc {
            0 => Ok(true),
            _ => match last_errno() {
                libc::ENOENT => Ok(false),
                errno => Err(SysError::os(Op::MapNextKey, "", errno)),
            },
        }
    }
}

// ---------------------------------------------------------------- programs

/// A failed `BPF_PROG_LOAD`: the errno and the log size the kernel wanted.
#[derive(Debug)]
pub(crate) struct ProgLoadFailure {
    pub errno: i32,
    pub log_true_size: u32,
}

/// One `BPF_PROG_LOAD` attempt with license "GPL".
///
/// `insns` must be whole 8-byte `struct bpf_insn`s. With `log_level` 0 and a
/// log buffer, libbpf loads without a log and only on failure retries with
/// level 1 into `log`, so successful loads pay nothing for the log.
///
/// `funcs` are the slots where subprograms start (the main function's 0
/// left out); with any, the program is loaded with BTF naming each
/// function, which the kernel requires of programs passing a callback.
pub(crate) fn prog_load(
    kind: ProgKind,
    name: &str,
    insns: &[u8],
    funcs: &[u32],
    log_level: u32,
    log: &mut [u8],
) -> Result<OwnedFd, ProgLoadFailure> {
    quiet_libbpf();
    if insns.is_empty() || !insns.len().is_multiple_of(8) || log.len() > u32::MAX as usize {
        return Err(ProgLoadFailure { errno: libc::EINVAL, log_true_size: 0 });
    }
    // Copy into u64s so the instructions are suitably aligned for
    // `struct bpf_insn` whatever the alignment of the caller's bytes.
    let words: Vec<u64> =
        insns.chunks_exact(8).map(|c| u64::from_ne_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]])).collect();
    let cname = CString::new(object_name(name)).unwrap_or_default();
    // A module's BTF object is named by an fd, open for the load.
    let btf_object = match kind {
        ProgKind::Tracing { btf_object: id @ 1.., .. } => match btf_fd_by_id(id) {
            Ok(fd) => Some(fd),
            Err(e) => return Err(ProgLoadFailure { errno: e.errno().unwrap_or(libc::EINVAL), log_true_size: 0 }),
        },
        _ => None,
    };
    let func_btf = match funcs {
        [] => None,
        _ => match btf_load(&func_btf(funcs.len() + 1)) {
            Ok(fd) => Some(fd),
            Err(e) => return Err(ProgLoadFailure { errno: e.errno().unwrap_or(libc::EINVAL), log_true_size: 0 }),
        },
    };
    // Function i is the BTF type 3 + i (see `func_btf`).
    let func_info: Vec<bpf::bpf_func_info> = std::iter::once(0)
        .chain(funcs.iter().copied())
        .enumerate()
        .map(|(i, insn_off)| bpf::bpf_func_info { insn_off, type_id: 3 + i as u32 })
        .collect();
    let mut opts = bpf::bpf_prog_load_opts {
        sz: std::mem::size_of::<bpf::bpf_prog_load_opts>() as bpf::size_t,
        expected_attach_type: kind.attach_type(),
        attach_btf_id: kind.attach_btf_id(),
        attach_btf_obj_fd: btf_object.as_ref().map_or(0, |fd| fd.as_raw_fd() as u32),
        ..Default::default()
    };
    if let Some(fd) = &func_btf {
        opts.prog_btf_fd = fd.as_raw_fd() as u32;
        opts.func_info = func_info.as_ptr().cast();
        opts.func_info_cnt = func_info.len() as u32;
        opts.func_info_rec_size = std::mem::size_of::<bpf::bpf_func_info>() as u32;
    }
    if !log.is_empty() {
        opts.log_level = log_level;
        opts.log_size = log.len() as u32;
        opts.log_buf = log.as_mut_ptr().cast();
    }
    // SAFETY: strings are NUL-terminated, the instruction buffer holds
    // `words.len()` aligned 8-byte instructions, the log buffer is
    // `log.len()` writable bytes and outlives the call.
    let fd = unsafe {
        bpf::bpf_prog_load(
            kind.raw(),
            cname.as_ptr(),
            c"GPL".as_ptr(),
            words.as_ptr().cast(),
            words.len() as bpf::size_t,
            &mut opts,
        )
    };
    if fd < 0 {
        return Err(ProgLoadFailure { errno: last_errno(), log_true_size: opts.log_true_size });
    }
    // SAFETY: the kernel just returned this fd to us alone.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Runs a program once with `BPF_PROG_TEST_RUN` and no context; returns r0.
pub(crate) fn prog_test_run(prog: BorrowedFd<'_>) -> Result<u32, SysError> {
    let mut opts = bpf::bpf_test_run_opts {
        sz: std::mem::size_of::<bpf::bpf_test_run_opts>() as bpf::size_t,
        ..Default::default()
    };
    // SAFETY: opts is a valid, properly sized struct with no buffers.
    let rc = unsafe { bpf::bpf_prog_test_run_opts(prog.as_raw_fd(), &mut opts) };
    if rc != 0 {
        return Err(SysError::os(Op::ProgTestRun, "", last_errno()));
    }
    Ok(opts.retval)
}

// ---------------------------------------------------------------- BTF objects

/// The BTF of a program of `count` functions: type 1 `long`, type 2 a
/// prototype `long (void)`, then one `FUNC` per function named
/// `trace_fN`: the main one global, the others (callbacks, which the
/// kernel wants static) static. The kernel checks only the kinds and the
/// linkage of a static callback, not its arguments.
pub(crate) fn func_btf(count: usize) -> Vec<u8> {
    const KIND_INT: u32 = 1;
    const KIND_FUNC: u32 = 12;
    const KIND_FUNC_PROTO: u32 = 13;
    let mut strings = b"\0long\0".to_vec();
    let mut types: Vec<u32> = vec![
        1,
        KIND_INT << 24,
        8,
        (1 << 24) | 64, // "long": signed, 64 bits
        0,
        KIND_FUNC_PROTO << 24,
        1, // long (void)
    ];
    for i in 0..count {
        let name = strings.len() as u32;
        strings.extend_from_slice(format!("trace_f{i}\0").as_bytes());
        let linkage = u32::from(i == 0);
        types.extend([name, (KIND_FUNC << 24) | linkage, 2]);
    }
    let type_len = (types.len() * 4) as u32;
    let header: [u32; 6] = [0x0001_eb9f, 24, 0, type_len, type_len, strings.len() as u32];
    let mut out: Vec<u8> = header.iter().flat_map(|w| w.to_le_bytes()).collect();
    // magic 0xeb9f (u16), version 1, flags 0: the first word above, little-endian.
    out.extend(types.iter().flat_map(|w| w.to_le_bytes()));
    out.extend(strings);
    out
}

/// Loads a BTF blob into the kernel.
fn btf_load(blob: &[u8]) -> Result<OwnedFd, SysError> {
    // SAFETY: the blob is `blob.len()` readable bytes, alive for the call;
    // no options.
    let fd = unsafe { bpf::bpf_btf_load(blob.as_ptr().cast(), blob.len() as bpf::size_t, std::ptr::null_mut()) };
    if fd < 0 {
        return Err(SysError::os(Op::ProgLoad, "BTF of the program's functions", last_errno()));
    }
    // SAFETY: the kernel just returned this fd to us alone.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Whether this kernel lets tracing programs call BPF helper `helper`
/// (libbpf loads a small program calling it): `None` when it cannot tell
/// (no BPF here, not root). Asked once per helper per process.
pub fn helper_available(helper: u32) -> Option<bool> {
    static SEEN: std::sync::Mutex<Vec<(u32, Option<bool>)>> = std::sync::Mutex::new(Vec::new());
    let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, known)) = seen.iter().find(|(h, _)| *h == helper) {
        return *known;
    }
    quiet_libbpf();
    // SAFETY: plain integers and no options.
    let rc = unsafe { bpf::libbpf_probe_bpf_helper(bpf::BPF_PROG_TYPE_KPROBE, helper, std::ptr::null()) };
    let known = match rc {
        1 => Some(true),
        0 => Some(false),
        _ => None,
    };
    seen.push((helper, known));
    known
}

/// An fd for the kernel's BTF object `id`.
fn btf_fd_by_id(id: u32) -> Result<OwnedFd, SysError> {
    // SAFETY: a plain syscall wrapper taking an integer.
    let fd = unsafe { bpf::bpf_btf_get_fd_by_id(id) };
    if fd < 0 {
        return Err(SysError::os(Op::ObjInfo, format!("BTF object {id}"), last_errno()));
    }
    // SAFETY: the kernel just returned this fd to us alone.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The kernel's id of the BTF object of module `module` (what a tracing
/// program on one of its functions is loaded against), or `None` when no
/// loaded module has that name. Walks the kernel's BTF objects by id.
pub fn btf_object_id(module: &str) -> Result<Option<u32>, SysError> {
    let mut id = 0u32;
    loop {
        let mut next = 0u32;
        // SAFETY: `next` is a valid u32 the call writes.
        if unsafe { bpf::bpf_btf_get_next_id(id, &mut next) } != 0 {
            return match last_errno() {
                libc::ENOENT => Ok(None),
                errno => Err(SysError::os(Op::ObjInfo, "BPF_BTF_GET_NEXT_ID", errno)),
            };
        }
        id = next;
        // An object may go away between the two calls.
        let Ok(fd) = btf_fd_by_id(id) else { continue };
        let mut name = [0u8; 64];
        let mut info =
            bpf::bpf_btf_info { name: name.as_mut_ptr() as u64, name_len: name.len() as u32, ..Default::default() };
        let mut len = std::mem::size_of::<bpf::bpf_btf_info>() as u32;
        // SAFETY: info is a valid bpf_btf_info of `len` bytes whose name
        // pointer is `name.len()` writable bytes, alive for the call.
        let rc = unsafe {
            bpf::bpf_obj_get_info_by_fd(fd.as_raw_fd(), (&mut info as *mut bpf::bpf_btf_info).cast(), &mut len)
        };
        if rc != 0 || info.kernel_btf == 0 {
            continue;
        }
        let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
        if &name[..end] == module.as_bytes() {
            return Ok(Some(id));
        }
    }
}
