//! The builtin variables and functions of the language, by name.
//!
//! One table shared by the type checker (what exists, in which probes, with
//! which type) and by code generation (how to read it).

/// Builtin variables (bare identifiers).
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
}

pub const BUILTIN_NAMES: &[&str] = &[
    "pid", "tid", "uid", "gid", "cpu", "comm", "nsecs", "elapsed", "arg0", "arg1", "arg2", "arg3", "arg4", "arg5",
    "arg6", "arg7", "arg8", "arg9", "arg10", "arg11", "retval", "func", "probe", "args",
];

impl Builtin {
    pub fn from_name(name: &str) -> Option<Builtin> {
        Some(match name {
            "pid" => Builtin::Pid,
            "tid" => Builtin::Tid,
            "uid" => Builtin::Uid,
            "gid" => Builtin::Gid,
            "cpu" => Builtin::Cpu,
            "comm" => Builtin::Comm,
            "nsecs" => Builtin::Nsecs,
            "elapsed" => Builtin::Elapsed,
            "retval" => Builtin::Retval,
            "func" => Builtin::Func,
            "probe" => Builtin::Probe,
            "args" => Builtin::Args,
            _ => {
                let n = name.strip_prefix("arg")?;
                let i: u8 = n.parse().ok()?;
                if n.len() == 1 + usize::from(i >= 10) && i <= 11 {
                    Builtin::Arg(i)
                } else {
                    return None;
                }
            }
        })
    }
}

/// Builtin functions (`name(args)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
}

pub const FUNCTION_NAMES: &[&str] = &[
    "count", "sum", "avg", "min", "max", "stats", "hist", "lhist", "str", "printf", "print", "exit", "time", "delete",
    "clear", "zero",
];

/// bpftrace functions that exist there but not (yet) here: a clearer message
/// than "unknown function".
pub const UNSUPPORTED_FUNCTIONS: &[&str] = &[
    "kstack",
    "ustack",
    "ksym",
    "usym",
    "kaddr",
    "uaddr",
    "ntop",
    "pton",
    "reg",
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
        Some(match name {
            "count" => Function::Count,
            "sum" => Function::Sum,
            "avg" => Function::Avg,
            "min" => Function::Min,
            "max" => Function::Max,
            "stats" => Function::Stats,
            "hist" => Function::Hist,
            "lhist" => Function::Lhist,
            "str" => Function::Str,
            "printf" => Function::Printf,
            "print" => Function::Print,
            "exit" => Function::Exit,
            "time" => Function::Time,
            "delete" => Function::Delete,
            "clear" => Function::Clear,
            "zero" => Function::Zero,
            _ => return None,
        })
    }

    pub fn is_aggregation(self) -> bool {
        use Function::*;
        matches!(self, Count | Sum | Avg | Min | Max | Stats | Hist | Lhist)
    }
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
        for n in BUILTIN_NAMES {
            assert!(Builtin::from_name(n).is_some(), "{n}");
        }
        for n in FUNCTION_NAMES {
            assert!(Function::from_name(n).is_some(), "{n}");
        }
        assert_eq!(Builtin::from_name("arg11"), Some(Builtin::Arg(11)));
        assert_eq!(Builtin::from_name("arg12"), None);
        assert_eq!(Builtin::from_name("arg01"), None);
        assert_eq!(Builtin::from_name("arg011"), None);
    }

    #[test]
    fn suggestions() {
        assert_eq!(closest("cmm", BUILTIN_NAMES.iter().copied()).as_deref(), Some("comm"));
        assert_eq!(closest("printff", FUNCTION_NAMES.iter().copied()).as_deref(), Some("printf"));
        assert_eq!(closest("zzzzzz", FUNCTION_NAMES.iter().copied()), None);
    }
}
