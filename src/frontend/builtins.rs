//! The builtin variables and functions of the language: one table each.
//!
//! [`VARIABLES`] says, for every builtin variable, its name, its type (or
//! that the probe decides it), where it exists (every probe, or only probes
//! whose kind has numbered arguments, a return value, an `args` record, a
//! function), and how its value is computed ([`Value`]). [`FUNCTIONS`] says
//! for every function its name and what kind of call it is. The type
//! checker resolves a name once, against these tables, and records the
//! result in the tree (`ExprKind::Builtin`, `ExprKind::FnCall`); code
//! generation lowers what was recorded, by [`Value`] and [`Function`], and
//! treats anything unresolved as an internal error.
//!
//! Adding a builtin variable: a [`Builtin`] variant, a row here, its
//! type in the checker if the probe decides it, and its [`Value`]'s
//! lowering in `codegen::lower_expr` (see ARCHITECTURE.md).

use crate::frontend::types::{StackMode, StackType, Type};

/// A resolved builtin variable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Builtin {
    Pid,
    Tid,
    Uid,
    Gid,
    Cpu,
    Comm,
    Nsecs,
    Elapsed,
    /// `arg0` .. `arg11`: uprobes have six (the argument registers), USDT
    /// probes up to twelve (sys/sdt.h's limit).
    Arg(u8),
    Retval,
    Func,
    Probe,
    Args,
    Curtask,
    Ustack,
    Kstack,
}

/// Where a builtin variable exists: everywhere, or only in probes whose
/// kind's `probes::Context` has what it reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Everywhere,
    /// Probes with numbered arguments (`Context::numbered_args`).
    NumberedArgs,
    /// Probes at a function's return (`Context::retval`).
    Retval,
    /// Probes with an `args` record (`Context::named_args`).
    NamedArgs,
    /// Probes in a function (`Context::function`).
    Function,
}

/// Which half of a helper's 64-bit result a variable is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Half {
    Upper,
    Lower,
}

/// How a builtin variable's value is computed in the program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Value {
    /// `bpf_get_current_pid_tgid`: process id (upper) or thread id (lower).
    PidTgid(Half),
    /// `bpf_get_current_uid_gid`: group id (upper) or user id (lower).
    UidGid(Half),
    /// `bpf_get_smp_processor_id`.
    Cpu,
    /// `bpf_ktime_get_ns`.
    Nsecs,
    /// `bpf_ktime_get_ns` minus the session's start.
    Elapsed,
    /// `bpf_get_current_comm` into a 16-byte buffer.
    Comm,
    /// The probe's numbered argument, as its kind says it reads.
    Arg,
    /// The return register.
    Retval,
    /// Known when the program is compiled: type checking replaces it with
    /// a literal (`func`, `probe`).
    Literal,
    /// Not a value: read through its fields (`args.name`).
    Record,
    /// `bpf_get_current_task`: the current thread's `task_struct`.
    CurrentTask,
    /// `bpf_get_stackid` into the stack-trace map of the value's
    /// [`StackType`] (see `codegen::lower_stack`).
    Stack,
}

/// One builtin variable.
#[derive(Clone, Debug)]
pub struct Var {
    /// As written; the row of [`Builtin::Arg`] stands for `arg0`..`arg11`.
    pub name: &'static str,
    pub builtin: Builtin,
    /// Its type, or `None` when the probe decides it.
    pub ty: Option<Type>,
    pub scope: Scope,
    /// The probe types it exists in, as the "not available" error says.
    pub only_in: &'static str,
    pub value: Value,
}

/// Every builtin variable.
pub const VARIABLES: &[Var] = &[
    everywhere("pid", Builtin::Pid, Type::U64, Value::PidTgid(Half::Upper)),
    everywhere("tid", Builtin::Tid, Type::U64, Value::PidTgid(Half::Lower)),
    everywhere("uid", Builtin::Uid, Type::U64, Value::UidGid(Half::Lower)),
    everywhere("gid", Builtin::Gid, Type::U64, Value::UidGid(Half::Upper)),
    everywhere("cpu", Builtin::Cpu, Type::U64, Value::Cpu),
    everywhere("comm", Builtin::Comm, Type::Str { size: 16 }, Value::Comm),
    everywhere("nsecs", Builtin::Nsecs, Type::U64, Value::Nsecs),
    everywhere("elapsed", Builtin::Elapsed, Type::U64, Value::Elapsed),
    Var {
        name: "arg",
        builtin: Builtin::Arg(0),
        ty: None,
        scope: Scope::NumberedArgs,
        only_in: "uprobe, kprobe and usdt",
        value: Value::Arg,
    },
    Var {
        name: "retval",
        builtin: Builtin::Retval,
        ty: None,
        scope: Scope::Retval,
        only_in: "uretprobe and kretprobe",
        value: Value::Retval,
    },
    Var {
        name: "func",
        builtin: Builtin::Func,
        ty: None,
        scope: Scope::Function,
        only_in: "uprobe, kprobe, fentry, USDT, profile and interval",
        value: Value::Literal,
    },
    Var {
        name: "probe",
        builtin: Builtin::Probe,
        ty: None,
        scope: Scope::Everywhere,
        only_in: "",
        value: Value::Literal,
    },
    Var {
        name: "args",
        builtin: Builtin::Args,
        ty: Some(Type::Args),
        scope: Scope::NamedArgs,
        only_in: "tracepoint, uprobe, fentry and fexit",
        value: Value::Record,
    },
    Var {
        name: "curtask",
        builtin: Builtin::Curtask,
        ty: None,
        scope: Scope::Everywhere,
        only_in: "",
        value: Value::CurrentTask,
    },
    everywhere("ustack", Builtin::Ustack, Type::Stack(DEFAULT_USTACK), Value::Stack),
    everywhere("kstack", Builtin::Kstack, Type::Stack(DEFAULT_KSTACK), Value::Stack),
];

/// Frames a stack keeps when the program does not say (`ustack`, as
/// bpftrace's default and the kernel's `perf_event_max_stack`).
pub const DEFAULT_STACK_LIMIT: u32 = 127;
const DEFAULT_USTACK: StackType = StackType { user: true, mode: StackMode::Bpftrace, limit: DEFAULT_STACK_LIMIT };
const DEFAULT_KSTACK: StackType = StackType { user: false, mode: StackMode::Bpftrace, limit: DEFAULT_STACK_LIMIT };

const fn everywhere(name: &'static str, builtin: Builtin, ty: Type, value: Value) -> Var {
    Var { name, builtin, ty: Some(ty), scope: Scope::Everywhere, only_in: "", value }
}

/// The highest `argN`.
pub const MAX_ARG: u8 = 11;

impl Builtin {
    /// The builtin variable a bare identifier names.
    pub fn from_name(name: &str) -> Option<Builtin> {
        if let Some(v) = VARIABLES.iter().find(|v| v.name == name && !matches!(v.builtin, Builtin::Arg(_))) {
            return Some(v.builtin);
        }
        let n = name.strip_prefix("arg")?;
        let i: u8 = n.parse().ok()?;
        (n.len() == 1 + usize::from(i >= 10) && i <= MAX_ARG).then_some(Builtin::Arg(i))
    }

    /// Its row of [`VARIABLES`] (in table order; `every_builtin_has_a_row`
    /// checks that each index names the variant's row).
    pub fn var(self) -> &'static Var {
        use Builtin::*;
        let row = match self {
            Pid => 0,
            Tid => 1,
            Uid => 2,
            Gid => 3,
            Cpu => 4,
            Comm => 5,
            Nsecs => 6,
            Elapsed => 7,
            Arg(_) => 8,
            Retval => 9,
            Func => 10,
            Probe => 11,
            Args => 12,
            Curtask => 13,
            Ustack => 14,
            Kstack => 15,
        };
        &VARIABLES[row]
    }

    /// The name as written (`arg3` for `Arg(3)`).
    pub fn name(self) -> String {
        match self {
            Builtin::Arg(i) => format!("arg{i}"),
            b => b.var().name.to_string(),
        }
    }
}

/// Every builtin variable's name as a user writes it (`arg0`..`arg11`
/// spelled out), for completion and suggestions.
pub fn variable_names() -> impl Iterator<Item = String> {
    VARIABLES.iter().flat_map(|v| match v.builtin {
        Builtin::Arg(_) => (0..=MAX_ARG).map(|i| format!("arg{i}")).collect::<Vec<_>>(),
        _ => vec![v.name.to_string()],
    })
}

/// A builtin function (`name(args)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Function {
    Count,
    Sum,
    Avg,
    Min,
    Max,
    Stats,
    Hist,
    Lhist,
    Str,
    Printf,
    Print,
    Exit,
    Time,
    Delete,
    Clear,
    Zero,
    Ustack,
    Kstack,
    Usym,
    Ksym,
    Uaddr,
    Kaddr,
    Reg,
}

/// What kind of call a function is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallKind {
    /// Only as the value of a map assignment (`@m = count()`): updates the
    /// map's aggregation.
    Aggregation,
    /// A statement with an effect and no value (`printf`, `exit`, ...).
    Action,
    /// An expression with a value (`str`).
    Value,
}

/// One builtin function.
#[derive(Clone, Copy, Debug)]
pub struct Func {
    pub name: &'static str,
    pub function: Function,
    pub kind: CallKind,
}

/// Every builtin function.
pub const FUNCTIONS: &[Func] = &[
    Func { name: "count", function: Function::Count, kind: CallKind::Aggregation },
    Func { name: "sum", function: Function::Sum, kind: CallKind::Aggregation },
    Func { name: "avg", function: Function::Avg, kind: CallKind::Aggregation },
    Func { name: "min", function: Function::Min, kind: CallKind::Aggregation },
    Func { name: "max", function: Function::Max, kind: CallKind::Aggregation },
    Func { name: "stats", function: Function::Stats, kind: CallKind::Aggregation },
    Func { name: "hist", function: Function::Hist, kind: CallKind::Aggregation },
    Func { name: "lhist", function: Function::Lhist, kind: CallKind::Aggregation },
    Func { name: "str", function: Function::Str, kind: CallKind::Value },
    Func { name: "printf", function: Function::Printf, kind: CallKind::Action },
    Func { name: "print", function: Function::Print, kind: CallKind::Action },
    Func { name: "exit", function: Function::Exit, kind: CallKind::Action },
    Func { name: "time", function: Function::Time, kind: CallKind::Action },
    Func { name: "delete", function: Function::Delete, kind: CallKind::Action },
    Func { name: "clear", function: Function::Clear, kind: CallKind::Action },
    Func { name: "zero", function: Function::Zero, kind: CallKind::Action },
    Func { name: "ustack", function: Function::Ustack, kind: CallKind::Value },
    Func { name: "kstack", function: Function::Kstack, kind: CallKind::Value },
    Func { name: "usym", function: Function::Usym, kind: CallKind::Value },
    Func { name: "ksym", function: Function::Ksym, kind: CallKind::Value },
    Func { name: "uaddr", function: Function::Uaddr, kind: CallKind::Value },
    Func { name: "kaddr", function: Function::Kaddr, kind: CallKind::Value },
    Func { name: "reg", function: Function::Reg, kind: CallKind::Value },
];

/// bpftrace functions that exist there but not (yet) here: a clearer message
/// than "unknown function".
pub const UNSUPPORTED_FUNCTIONS: &[&str] = &[
    "ntop",
    "pton",
    "join",
    "system",
    "cat",
    "signal",
    "override",
    "buf",
    "cgroupid",
    "macaddr",
    "strftime",
    "strncmp",
    "strcontains",
    "path",
    "uptr",
    "kptr",
    "percpu_kaddr",
    "cgroup_path",
    "unwatch",
    "skboutput",
    "len",
    "has_key",
];

impl Function {
    pub fn from_name(name: &str) -> Option<Function> {
        FUNCTIONS.iter().find(|f| f.name == name).map(|f| f.function)
    }

    /// Its row of [`FUNCTIONS`] (in table order; `every_function_has_a_row`
    /// checks that each index names the variant's row).
    pub fn def(self) -> &'static Func {
        use Function::*;
        let row = match self {
            Count => 0,
            Sum => 1,
            Avg => 2,
            Min => 3,
            Max => 4,
            Stats => 5,
            Hist => 6,
            Lhist => 7,
            Str => 8,
            Printf => 9,
            Print => 10,
            Exit => 11,
            Time => 12,
            Delete => 13,
            Clear => 14,
            Zero => 15,
            Ustack => 16,
            Kstack => 17,
            Usym => 18,
            Ksym => 19,
            Uaddr => 20,
            Kaddr => 21,
            Reg => 22,
        };
        &FUNCTIONS[row]
    }

    pub fn name(self) -> &'static str {
        self.def().name
    }

    pub fn is_aggregation(self) -> bool {
        self.def().kind == CallKind::Aggregation
    }
}

/// Every builtin function's name.
pub fn function_names() -> impl Iterator<Item = &'static str> {
    FUNCTIONS.iter().map(|f| f.name)
}

/// The closest candidate to `name`, if close enough to be a plausible typo.
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    super::names::similar_names(name, candidates.into_iter(), 1, false).into_iter().next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for n in variable_names() {
            assert!(Builtin::from_name(&n).is_some(), "{n}");
        }
        for n in function_names() {
            assert!(Function::from_name(n).is_some(), "{n}");
        }
        assert_eq!(Builtin::from_name("arg11"), Some(Builtin::Arg(11)));
        assert_eq!(Builtin::from_name("arg12"), None);
        assert_eq!(Builtin::from_name("arg01"), None);
        assert_eq!(Builtin::from_name("arg011"), None);
        assert_eq!(Builtin::from_name("arg"), None);
    }

    #[test]
    fn every_builtin_has_a_row() {
        use Builtin::*;
        // A new variant fails to compile here until it is listed below.
        let listed = |b: Builtin| match b {
            Pid | Tid | Uid | Gid | Cpu | Comm | Nsecs | Elapsed | Arg(_) | Retval | Func | Probe | Args | Curtask
            | Ustack | Kstack => b,
        };
        let all =
            [Pid, Tid, Uid, Gid, Cpu, Comm, Nsecs, Elapsed, Arg(3), Retval, Func, Probe, Args, Curtask, Ustack, Kstack]
                .map(listed);
        for b in all {
            assert_eq!(Builtin::from_name(&b.name()), Some(b), "{b:?}");
            assert_eq!(std::mem::discriminant(&b.var().builtin), std::mem::discriminant(&b), "{b:?}");
        }
        assert_eq!(all.len(), VARIABLES.len(), "one row per variant");
    }

    #[test]
    fn every_function_has_a_row() {
        use Function::*;
        // A new variant fails to compile here until it is listed below.
        let listed = |f: Function| match f {
            Count | Sum | Avg | Min | Max | Stats | Hist | Lhist | Str | Printf | Print | Exit | Time | Delete
            | Clear | Zero | Ustack | Kstack | Usym | Ksym | Uaddr | Kaddr | Reg => f,
        };
        let all = [
            Count, Sum, Avg, Min, Max, Stats, Hist, Lhist, Str, Printf, Print, Exit, Time, Delete, Clear, Zero, Ustack,
            Kstack, Usym, Ksym, Uaddr, Kaddr, Reg,
        ];
        for f in all.map(listed) {
            assert_eq!(f.def().function, f, "{f:?} has a row");
            assert_eq!(Function::from_name(f.name()), Some(f));
        }
        let n = FUNCTIONS.iter().map(|f| f.function).collect::<std::collections::HashSet<_>>().len();
        assert_eq!((n, FUNCTIONS.len()), (all.len(), all.len()), "one row per function");
    }

    #[test]
    fn suggestions() {
        let vars: Vec<String> = variable_names().collect();
        assert_eq!(closest("cmm", vars.iter().map(String::as_str)).as_deref(), Some("comm"));
        assert_eq!(closest("printff", function_names()).as_deref(), Some("printf"));
        assert_eq!(closest("zzzzzz", function_names()), None);
    }
}
