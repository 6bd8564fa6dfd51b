//! Everything that can be wrong with an argdist specifier, each message
//! written once, with the span it points at and the notes that help fix it.
//!
//! Problems found later by the shared passes (unknown library, unknown
//! field, a struct cast without debug info) keep their own messages; these
//! are the ones only the argdist front end can see.

use crate::diag::{Diagnostic, IntoDiagnostic};
use crate::source::Span;

/// The grammar, quoted in notes.
pub const GRAMMAR: &str =
    "a specifier is `{p,r,t,u}:{[library],category}:function(signature)[:type[,type...]:expr[,expr...][:filter]][#label]`";

#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("empty argdist specifier")]
    Empty { at: Span },
    #[error("unknown argdist probe type `{found}`")]
    WrongType { at: Span, found: String },
    #[error("incomplete argdist specifier: missing {what}")]
    Missing { at: Span, what: &'static str },
    #[error("argdist numbers USDT arguments from 1: there is no `arg0`")]
    UsdtArgZero { at: Span },
    #[error("missing `()` after the function name `{func}`")]
    MissingParens { at: Span, func: String },
    #[error("unclosed `{open}`")]
    Unclosed { at: Span, open: char },
    #[error("unmatched `{close}`")]
    Unopened { at: Span, close: char },
    #[error("`{close}` does not match `{open}`")]
    Mismatched { at: Span, close: char, open_at: Span, open: char },
    #[error("empty function name")]
    EmptyFunction { at: Span },
    #[error("invalid function name `{func}`")]
    BadFunction { at: Span, func: String },
    #[error("wildcards are not supported in argdist specifiers")]
    Wildcard { at: Span },
    #[error("cannot read the parameter declaration `{text}`")]
    BadParam { at: Span, text: String },
    #[error("parameter `{name}` is declared twice")]
    DuplicateParam { at: Span, first: Span, name: String },
    #[error("unexpected text after the signature")]
    Trailing { at: Span },
    #[error("too many `:`-separated parts in the argdist specifier")]
    TooManyParts { at: Span },
    #[error("types are given but no expressions")]
    NoExprs { at: Span },
    #[error("empty {what}")]
    EmptyItem { at: Span, what: &'static str },
    #[error("{types} type(s) for {exprs} expression(s)")]
    CountMismatch { types_at: Span, exprs_at: Span, types: usize, exprs: usize },
    #[error("a histogram (-H) takes exactly one expression, found {count}")]
    HistMany { at: Span, count: usize },
    #[error("a histogram (-H) needs an expression")]
    HistDefault { at: Span },
    #[error("a histogram (-H) needs an integer type, not a string")]
    HistString { at: Span },
    #[error("unknown type `{name}`")]
    UnknownType { at: Span, name: String },
    #[error("tracepoints take no signature")]
    TracepointSignature { at: Span },
    #[error("`${name}` is only available in return probes (`r:`)")]
    ReturnOnly { at: Span, name: &'static str },
    #[error("`$entry({param})`: the signature has no parameter `{param}`")]
    UnknownEntry { at: Span, param: String, params: Vec<String> },
    #[error("`$entry` takes a parameter name, as in `$entry(size)`")]
    EntryArgument { at: Span },
    #[error("parameter `{name}` cannot be read when the function returns")]
    ParamInReturn { at: Span, name: String },
    #[error("unknown special variable `${name}`")]
    UnknownSpecial { at: Span, name: String, suggestion: Option<String> },
    #[error("parameter `{name}` is argument {number}; without debug info only the first 6 can be read")]
    ParamTooFar { at: Span, name: String, number: usize },
    #[error("parameter `{name}` of type `{ty}` cannot be read without debug info")]
    ParamNeedsDwarf { at: Span, name: String, ty: String },
    #[error("unsupported parameter type `{ty}`")]
    ParamType { at: Span, ty: String },
    // Warnings.
    #[error("parameter {number} of `{func}` is `{dwarf}` in the debug info, not `{declared}`")]
    TypeMismatch { at: Span, number: usize, declared: String, dwarf: String, func: String },
    #[error("the debug info of `{func}` lists {count} parameter(s); this one is read from its register")]
    ExtraParam { at: Span, func: String, count: usize },
    #[error("cannot read the debug info of {binary}: {reason}")]
    DwarfUnreadable { at: Span, binary: String, reason: String },
}

impl SpecError {
    pub fn is_warning(&self) -> bool {
        matches!(
            self,
            SpecError::TypeMismatch { .. } | SpecError::ExtraParam { .. } | SpecError::DwarfUnreadable { .. }
        )
    }
}

impl IntoDiagnostic for SpecError {
    fn into_diagnostic(self) -> Diagnostic {
        use SpecError::*;
        let message = self.to_string();
        let d = if self.is_warning() { Diagnostic::warning(message) } else { Diagnostic::error(message) };
        match self {
            Empty { at } => d.at(at, "nothing here").note(GRAMMAR),
            WrongType { at, found } => {
                let d = d.at(at, "expected `p`, `r`, `t` or `u`");
                let hint = match found.as_str() {
                    "uprobe" | "kprobe" | "k" | "f" | "fentry" => Some("`p` (function entry)"),
                    "uretprobe" | "ur" | "kretprobe" | "kr" | "fexit" => Some("`r` (function return)"),
                    "tracepoint" => Some("`t` (tracepoint)"),
                    "usdt" | "U" => Some("`u` (USDT probe)"),
                    _ => None,
                };
                let d = match hint {
                    Some(h) => d.note(format!("did you mean {h}?")),
                    None => d,
                };
                d.note("probe types: p (function entry), r (function return), t (kernel tracepoint), u (USDT probe)")
            }
            Missing { at, what } => d.at(at, format!("{what} expected here")).note(GRAMMAR),
            UsdtArgZero { at } => d
                .at(at, "not an argument of a `u:` probe")
                .note("in a `u:` specifier `arg1` is the probe's first argument (bcc's numbering), `arg2` the second, ..."),
            MissingParens { at, func } => d
                .at(at, "needs a parameter list")
                .note(format!("write `{func}()`, or name the parameters: `{func}(int fd, size_t len)`")),
            Unclosed { at, open } => d.at(at, format!("this `{open}` is never closed")),
            Unopened { at, close } => d.at(at, format!("no `{}` before this", opening(close))),
            Mismatched { at, open_at, open, .. } => {
                d.at(at, format!("expected `{}`", closing(open))).also(open_at, "opened here")
            }
            EmptyFunction { at } => d.at(at, "function name expected here"),
            BadFunction { at, .. } => d.at(at, "not a function name"),
            Wildcard { at } => d
                .at(at, "wildcard")
                .note("argdist probes one function; for many, write a program: `trace -e 'uprobe:LIB:PATTERN { @[func] = count(); }'`"),
            BadParam { at, .. } => d
                .at(at, "expected a C type and a name")
                .note("write parameters as in C: `(int fd, const void *buf, size_t count)`"),
            DuplicateParam { at, first, .. } => d.at(at, "declared again here").also(first, "first declared here"),
            Trailing { at } => d.at(at, "expected `:` or `#` here").note(GRAMMAR),
            TooManyParts { at } => d
                .at(at, "extra part")
                .note("the parts after the signature are `:types:expressions:filter`"),
            NoExprs { at } => d.at(at, "expressions expected here").note(GRAMMAR),
            EmptyItem { at, what } => d.at(at, format!("{what} expected here")),
            CountMismatch { types_at, exprs_at, types, exprs } => d
                .at(exprs_at, format!("{exprs} expression(s)"))
                .also(types_at, format!("{types} type(s)"))
                .note("each expression needs its own type, in the same order"),
            HistMany { at, .. } => d.at(at, "extra expression").note("count several expressions together with -C"),
            HistDefault { at } => d
                .at(at, "no expression")
                .note("for example `-H 'p:c:malloc(size_t size):size_t:size'`; only `r:` specifiers default to $retval"),
            HistString { at } => d.at(at, "a string").note("histograms bucket integers; count strings with -C"),
            UnknownType { at, .. } => d.at(at, "unknown type").note(
                "types: u8 u16 u32 u64 s8 s16 s32 s64, C integer types (int, long, size_t, ...), pointers, and char* for strings",
            ),
            TracepointSignature { at } => d
                .at(at, "not empty")
                .note("a tracepoint's fields are `args->NAME`; write the signature as `()`"),
            ReturnOnly { at, .. } => d.at(at, "not in an entry probe").note("write the specifier with `r:` to probe the return"),
            UnknownEntry { at, params, .. } => {
                let d = d.at(at, "not a parameter");
                if params.is_empty() {
                    d.note("declare it in the signature, e.g. `r:c:read(int fd, void *buf, size_t count):...`")
                } else {
                    d.note(format!("the parameters are: {}", params.join(", ")))
                }
            }
            EntryArgument { at } => d.at(at, "expected a parameter name"),
            ParamInReturn { at, name } => d
                .at(at, "parameter in a return probe")
                .note(format!("its value at entry is `$entry({name})`")),
            UnknownSpecial { at, suggestion, .. } => {
                let d = d.at(at, "unknown");
                let d = match suggestion {
                    Some(s) => d.note(format!("did you mean `{s}`?")),
                    None => d,
                };
                d.note("argdist's special variables: $retval, $latency, $entry(param) (in `r:`), $PID, $COMM")
            }
            ParamTooFar { at, .. } => d
                .at(at, "not in a register")
                .note("with debug info (`gcc -g`) parameters are read wherever they are"),
            ParamNeedsDwarf { at, .. } => d
                .at(at, "needs debug info")
                .note("install the binary's debug symbols or rebuild it with `-g`; integers and pointers are read from registers"),
            ParamType { at, .. } => d.at(at, "not a C type trace understands"),
            TypeMismatch { at, .. } => d
                .at(at, "declared here")
                .note("parameters are matched by position, as in argdist; the value is read as the debug info describes it"),
            ExtraParam { at, .. } => d.at(at, "not in the debug info"),
            DwarfUnreadable { at, .. } => {
                d.at(at, "parameters read from registers").note("parameters are read as the signature declares them")
            }
        }
    }
}

fn opening(close: char) -> char {
    match close {
        ')' => '(',
        ']' => '[',
        _ => '{',
    }
}

fn closing(open: char) -> char {
    match open {
        '(' => ')',
        '[' => ']',
        _ => '}',
    }
}
