//! The types the compiler reasons about.
//!
//! Integers carry their width and signedness (a `u8` prints as a number, an
//! `int32_t -1` prints -1); strings carry their buffer size; pointers and
//! records describe user or kernel memory (filled from DWARF, BTF or
//! tracepoint format files).

use std::fmt;
use std::rc::Rc;

#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Type {
    /// Not yet known (before type checking).
    #[default]
    Unknown,
    /// No value (statements, `printf`, `exit`).
    Void,
    /// An integer of `size` bytes (1, 2, 4, 8).
    Int { size: u8, signed: bool },
    /// A NUL-padded string in a buffer of `size` bytes.
    Str { size: u32 },
    /// A pointer into traced memory; `user` says which address space.
    Ptr { to: Rc<Type>, user: bool },
    /// A C struct or union in traced memory (by name; layout in `Record`).
    Record(Rc<Record>),
    /// A fixed-size array in traced memory.
    Array { elem: Rc<Type>, len: u32 },
    /// The tracepoint or DWARF `args` record of a probe.
    Args,
    /// A value that is an aggregation (`count()`, `hist()` ...), only valid
    /// as the right-hand side of a map assignment.
    Agg(AggKind),
    /// A value that is a map's content used as a whole (`print(@m)`).
    MapHandle,
}

impl Type {
    pub const U64: Type = Type::Int { size: 8, signed: false };
    pub const I64: Type = Type::Int { size: 8, signed: true };
    pub const U32: Type = Type::Int { size: 4, signed: false };

    pub fn is_int(&self) -> bool {
        matches!(self, Type::Int { .. })
    }

    pub fn is_str(&self) -> bool {
        matches!(self, Type::Str { .. })
    }

    /// Bytes this value takes when stored in a map key, value or event.
    pub fn storage_size(&self) -> u32 {
        match self {
            Type::Int { .. } | Type::Ptr { .. } => 8,
            Type::Str { size } => *size,
            Type::Record(r) => r.size,
            Type::Array { elem, len } => elem.storage_size() * len,
            _ => 0,
        }
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::Unknown => write!(f, "unknown"),
            Type::Void => write!(f, "void"),
            Type::Int { size, signed } => {
                write!(f, "{}int{}", if *signed { "" } else { "u" }, *size as u32 * 8)
            }
            Type::Str { size } => write!(f, "string[{size}]"),
            Type::Ptr { to, .. } => write!(f, "{to} *"),
            Type::Record(r) => write!(f, "{} {}", if r.is_union { "union" } else { "struct" }, r.name),
            Type::Array { elem, len } => write!(f, "{elem}[{len}]"),
            Type::Args => write!(f, "args"),
            Type::Agg(k) => write!(f, "{}()", k.name()),
            Type::MapHandle => write!(f, "map"),
        }
    }
}

/// The aggregation functions, each a distinct per-CPU map value layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AggKind {
    Count,
    Sum,
    Min,
    Max,
    Avg,
    Stats,
    Hist,
    /// `lhist(v, min, max, step)` with constant parameters.
    Lhist { min: i64, max: i64, step: i64 },
}

impl AggKind {
    pub fn name(self) -> &'static str {
        match self {
            AggKind::Count => "count",
            AggKind::Sum => "sum",
            AggKind::Min => "min",
            AggKind::Max => "max",
            AggKind::Avg => "avg",
            AggKind::Stats => "stats",
            AggKind::Hist => "hist",
            AggKind::Lhist { .. } => "lhist",
        }
    }
}

/// A struct or union layout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub name: String,
    pub is_union: bool,
    pub size: u32,
    pub fields: Vec<Field>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    pub ty: Type,
    /// Byte offset from the start of the record.
    pub offset: u32,
    /// For bitfields: (bit offset within the loaded unit, bit width).
    pub bitfield: Option<(u8, u8)>,
}
