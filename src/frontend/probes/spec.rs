//! What a resolved probe is, and the questions the rest of the pipeline asks
//! of it.
//!
//! [`ProbeSpec`] holds one concrete probe (wildcards are expanded; paths,
//! offsets and formats resolved) as one variant per probe kind, each with
//! its own data type. Type checking, code generation and the runtime never
//! match on these variants: they ask the kind, through the [`ProbeKind`]
//! trait, what they need to know — which program type to load, when the
//! program runs and what it attaches to, and its [`Context`]: how `argN`,
//! `args` and `retval` read, whether pointers are user pointers. Every kind
//! must answer every question (the trait has no defaults, and a `Context`
//! literal names every field), and [`ProbeSpec::kind`] is the one
//! exhaustive match that maps a variant to its answers, so a new kind is a
//! new variant here, a new file implementing the trait, and a row of the
//! probe-type table (see `mod.rs`).
//!
//! This module is a leaf: it depends on the data types of the sources the
//! kinds read (tracefs formats, USDT notes) and on nothing of the
//! expansion machinery.

use std::path::{Path, PathBuf};
use std::rc::Rc;

use crate::frontend::dwarf::Function;
use crate::frontend::tracefs::TracepointFormat;
use crate::frontend::usdt::Site;
use crate::source::Span;
use crate::sys::ProgKind;

/// One concrete probe.
#[derive(Clone, Debug)]
pub enum ProbeSpec {
    Begin,
    End,
    Uprobe(Uprobe),
    Usdt(Usdt),
    Kprobe(Kprobe),
    Fentry(Fentry),
    RawTracepoint(RawTracepoint),
    Tracepoint(Tracepoint),
    Interval(Interval),
    Profile(Profile),
    SelfSignal(SelfSignal),
}

/// A uprobe or uretprobe on one function (or address) of one file.
#[derive(Clone, Debug)]
pub struct Uprobe {
    /// Absolute and canonical.
    pub binary: PathBuf,
    /// The function (or the address as written, for `uprobe:PATH:0x1139`).
    pub func: String,
    /// The `+OFFSET` as written (0 without one).
    pub func_offset: u64,
    /// Where to attach: the symbol's file offset plus `func_offset`.
    pub file_offset: u64,
    /// A uretprobe: fires when the function returns.
    pub ret: bool,
}

/// One site of a USDT probe (see `frontend::usdt`): a probe with several
/// sites, or a wildcard, expands to one of these per site.
#[derive(Clone, Debug)]
pub struct Usdt {
    /// Absolute and canonical.
    pub binary: PathBuf,
    pub site: Site,
}

/// A kprobe or kretprobe on one kernel function, or on several with the
/// same program (one kprobe-multi link, where the body does not ask which
/// function fired).
#[derive(Clone, Debug)]
pub struct Kprobe {
    /// At least one; several only without an offset.
    pub functions: Vec<String>,
    /// The `MODULE` of `kprobe:MODULE:FUNC` (`None`: wherever it is).
    pub module: Option<String>,
    /// The `+OFFSET` into the function (0 without one).
    pub offset: u64,
    /// A kretprobe: fires when the function returns.
    pub ret: bool,
}

/// An fentry or fexit program on one kernel function, described by BTF.
#[derive(Clone, Debug)]
pub struct Fentry {
    /// The function's `FUNC` id in vmlinux's BTF, or its module's (the
    /// program's `attach_btf_id`).
    pub btf_id: u32,
    /// The kernel's id of the module's BTF object; 0 for vmlinux.
    pub btf_object: u32,
    /// At the function's return (fexit).
    pub ret: bool,
    /// Its parameters, each in its context slot, and return type.
    pub signature: Rc<Function>,
    /// The context slots the arguments fill; fexit's return value is next.
    pub slots: u16,
}

/// A BTF raw tracepoint: a tracepoint's raw arguments, typed by BTF.
#[derive(Clone, Debug)]
pub struct RawTracepoint {
    /// The id of the typedef `btf_trace_NAME` in vmlinux's BTF (the
    /// program's `attach_btf_id`).
    pub btf_id: u32,
    /// The tracepoint (as the signature's name) and its arguments, each in
    /// its context slot.
    pub signature: Rc<Function>,
    /// The context slots the arguments fill.
    pub slots: u16,
}

/// One concrete tracepoint (wildcards are expanded), with its layout.
#[derive(Clone, Debug)]
pub struct Tracepoint {
    pub category: String,
    pub name: String,
    pub format: TracepointFormat,
}

/// Fires on one CPU every `period_ns`.
#[derive(Clone, Copy, Debug)]
pub struct Interval {
    pub period_ns: u64,
}

/// Samples every CPU `hz` times a second (time units are converted to the
/// nearest rate; periods above one second are rejected).
#[derive(Clone, Copy, Debug)]
pub struct Profile {
    pub hz: u64,
}

/// `BEGIN`: runs once, before any other probe is attached.
#[derive(Clone, Copy, Debug)]
pub struct Begin;

/// `END`: runs once, after every other probe is detached.
#[derive(Clone, Copy, Debug)]
pub struct End;

/// `self:signal:SIGUSR1`: runs each time trace receives `signal`.
#[derive(Clone, Copy, Debug)]
pub struct SelfSignal {
    pub signal: i32,
}

#[derive(Clone, Debug)]
pub struct ResolvedProbe {
    pub spec: ProbeSpec,
    /// The full name for the `probe` builtin, bpftrace style:
    /// `uprobe:./db:snapshot`, `tracepoint:syscalls:sys_enter_openat`,
    /// `interval:s:1`, `BEGIN`.
    pub name: String,
    pub span: Span,
}

/// What the attach points are resolved against.
#[derive(Clone, Debug, Default)]
pub struct ProbeContext {
    /// The traced process (`-p`, or the child of `-c`): bare binary and
    /// library names are first looked up in its `/proc/PID/exe` and maps.
    pub pid: Option<i32>,
}

/// When a probe's program runs.
#[derive(Clone, Copy, Debug)]
pub enum Firing<'a> {
    /// Once, with `BPF_PROG_TEST_RUN`, before anything is attached.
    AtStart,
    /// Once, after every attached probe is disabled.
    AtEnd,
    /// Whenever the event it is attached to happens.
    On(AttachTarget<'a>),
    /// With `BPF_PROG_TEST_RUN`, each time trace receives this signal.
    OnSignal(i32),
}

/// The kernel event a program is attached to, as the runtime's attach
/// functions take it (one per mechanism, not per probe kind: USDT sites are
/// uprobes with a semaphore).
#[derive(Clone, Copy, Debug)]
pub enum AttachTarget<'a> {
    /// A uprobe (or uretprobe) on a file offset; `ref_ctr_offset` is the
    /// file offset of a USDT semaphore the kernel raises while attached (0
    /// for none).
    Uprobe {
        binary: &'a Path,
        file_offset: u64,
        ret: bool,
        ref_ctr_offset: u64,
    },
    /// A kprobe (or kretprobe) on each of `functions`.
    Kprobe {
        functions: &'a [String],
        module: Option<&'a str>,
        offset: u64,
        ret: bool,
    },
    /// A tracing program (fentry, fexit, BTF raw tracepoint): it was
    /// loaded for what it attaches to (see `ProgKind::Tracing`); `name`
    /// names that.
    Tracing {
        name: &'a str,
    },
    Tracepoint {
        category: &'a str,
        name: &'a str,
    },
    /// A CPU-clock timer on one CPU.
    Interval {
        period_ns: u64,
    },
    /// A CPU-clock sampler on every CPU.
    Profile {
        hz: u64,
    },
}

impl AttachTarget<'_> {
    /// Whether the kernel runs the programs on one such event newest first
    /// (uprobe consumers are a LIFO list; a tracepoint's programs run
    /// first-attached first). Sessions attach in reverse for these, so
    /// blocks on the same event run in program order.
    pub fn runs_newest_first(&self) -> bool {
        matches!(self, AttachTarget::Uprobe { .. })
    }

    /// Whether it is a timer, which fires in whatever process the CPU is
    /// running: trace's own process is not ignored there, or a timer on
    /// the CPU where trace is busy printing would never tick.
    pub fn is_timer(&self) -> bool {
        matches!(self, AttachTarget::Interval { .. } | AttachTarget::Profile { .. })
    }
}

/// How `arg0`, `arg1`, ... read in a probe.
#[derive(Clone, Copy, Debug)]
pub enum NumberedArgs<'a> {
    /// The first `count` integer argument registers of the calling
    /// convention, from the saved registers.
    Registers { count: u8 },
    /// The operands of a USDT probe site's note, one per argument.
    Usdt(&'a Site),
    /// The first `count` 8-byte slots of a tracing program's context.
    Slots { count: u8 },
}

/// What `args` is in a probe.
#[derive(Clone, Copy, Debug)]
pub enum NamedArgs<'a> {
    /// The fields of a tracepoint's record.
    Tracepoint(&'a Tracepoint),
    /// The traced function's parameters, from its debug info; `at_entry`
    /// is false at the function's return, where they are gone.
    Parameters { at_entry: bool },
}

/// The questions every probe kind answers. See the module doc.
pub trait ProbeKind {
    /// The BPF program type its code is loaded as.
    fn prog_kind(&self) -> ProgKind;
    /// When its program runs, and what it attaches to.
    fn firing(&self) -> Firing<'_>;
    /// What its program can read, and how.
    fn context(&self) -> Context<'_>;
}

/// What a probe's program can read. Every kind states every field.
#[derive(Clone, Copy, Debug)]
pub struct Context<'a> {
    /// How `argN` reads; `None` where there are no numbered arguments.
    pub numbered_args: Option<NumberedArgs<'a>>,
    /// What `args` is; `None` where there is no such record.
    pub named_args: Option<NamedArgs<'a>>,
    /// How `retval` reads; `None` where there is none (not at a return).
    pub retval: Option<ReturnValue>,
    /// The traced function's signature when the probe kind knows it
    /// without debug info (fentry/fexit, from BTF): `args` and `retval`
    /// are typed by it.
    pub signature: Option<&'a Function>,
    /// The traced function, for `func` and debug-info lookups.
    pub function: Option<&'a str>,
    /// The file whose debug info types the probe's data (casts, `args`,
    /// `retval`, `sizeof`).
    pub binary: Option<&'a Path>,
    /// Which address space the pointers the probe sees point into, so
    /// `str()` and reads through them use the right helper.
    pub memory: Memory,
    /// Whether its program runs in NMI context, where it may interrupt
    /// another probe's program on the same CPU (so it needs scratch space
    /// of its own).
    pub nmi: bool,
    /// Whether the program's context is the interrupted registers
    /// (`struct pt_regs`, first in a perf event's context too): `reg()`,
    /// and in a timer `func`, the function interrupted.
    pub regs: bool,
    /// The file offset of the instruction a uprobe fires at (not at a
    /// return): there `reg("ip")` is its run-time address, which places
    /// a position-independent binary (`uaddr()`).
    pub entry_offset: Option<u64>,
}

/// Where a function's return value is at its return.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReturnValue {
    /// The return register, in the saved registers (uretprobe, kretprobe).
    Register,
    /// The `n`th 8-byte slot of a tracing program's context, after the
    /// arguments (fexit).
    Slot(u16),
}

/// The address space a probe's reads go to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Memory {
    /// The traced process's (uprobe arguments, syscall tracepoints).
    User,
    /// The kernel's.
    Kernel,
    /// Whichever the address is in: kernel probes see both kinds of
    /// pointer (a syscall's `const char __user *` argument, a `struct
    /// file *`) and their types rarely say which (untyped `argN`; BTF
    /// without `__user` tags, as Debian's kernels build it). x86-64 keeps
    /// user addresses below the kernel's, so the address tells.
    ByAddress,
}

impl ProbeSpec {
    /// The kind's answers for this probe: the one match over the variants.
    pub fn kind(&self) -> &dyn ProbeKind {
        match self {
            ProbeSpec::Begin => &Begin,
            ProbeSpec::End => &End,
            ProbeSpec::Uprobe(p) => p,
            ProbeSpec::Usdt(p) => p,
            ProbeSpec::Kprobe(p) => p,
            ProbeSpec::Fentry(p) => p,
            ProbeSpec::RawTracepoint(p) => p,
            ProbeSpec::Tracepoint(p) => p,
            ProbeSpec::Interval(p) => p,
            ProbeSpec::Profile(p) => p,
            ProbeSpec::SelfSignal(p) => p,
        }
    }

    /// What the probe's program can read: its kind's [`Context`].
    pub fn context(&self) -> Context<'_> {
        self.kind().context()
    }
}
