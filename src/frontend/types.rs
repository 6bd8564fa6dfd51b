//! The types the compiler reasons about.
//!
//! Integers carry their width and signedness (a `u8` prints as a number, an
//! `int32_t -1` prints -1); strings carry their buffer size; pointers and
//! records describe user or kernel memory (filled from DWARF, BTF or
//! tracepoint format files).

use std::fmt;
use std::rc::Rc;

/// Default size of strings read with `str()` and from `__data_loc` fields,
/// as bpftrace's default `strlen`.
pub const STR_SIZE: u32 = 64;
/// Largest explicit `str(p, n)` buffer.
pub const MAX_STR_SIZE: u32 = 1024;

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
    /// A tuple `(1, "a")` or a named record `(a = 1, b = "x")`: elements
    /// in 8-aligned slots (see [`Tuple`]).
    Tuple(Rc<Tuple>),
    /// The tracepoint or DWARF `args` record of a probe.
    Args,
    /// A value that is an aggregation (`count()`, `hist()` ...), only valid
    /// as the right-hand side of a map assignment.
    Agg(AggKind),
    /// A value that is a map's content used as a whole (`print(@m)`).
    MapHandle,
    /// `ustack`/`kstack`: a stack id in the stack-trace map of its kind and
    /// depth (user stacks also carry the process id); printed symbolized.
    Stack(StackType),
    /// An address that prints as the symbol containing it: `ksym(a)` (8
    /// bytes), `usym(a)` (the address and the process id, 16 bytes).
    Sym { user: bool },
}

/// How a stack prints: bpftrace's `ustack`, `ustack(perf)`, `ustack(raw)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StackMode {
    Bpftrace,
    Perf,
    Raw,
}

impl StackMode {
    pub fn name(self) -> &'static str {
        match self {
            StackMode::Bpftrace => "bpftrace",
            StackMode::Perf => "perf",
            StackMode::Raw => "raw",
        }
    }
}

/// A stack value's kind: user or kernel frames, how it prints, and at most
/// how many frames it keeps (the depth of its stack-trace map).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StackType {
    pub user: bool,
    pub mode: StackMode,
    pub limit: u32,
}

impl StackType {
    /// The builtin's name: `ustack` or `kstack`.
    pub fn name(self) -> &'static str {
        if self.user {
            "ustack"
        } else {
            "kstack"
        }
    }
}

impl Type {
    pub const U64: Type = Type::Int { size: 8, signed: false };
    pub const I64: Type = Type::Int { size: 8, signed: true };
    pub const U32: Type = Type::Int { size: 4, signed: false };

    pub fn is_int(&self) -> bool {
        matches!(self, Type::Int { .. })
    }

    /// Integers and pointers: values that live in a register.
    pub fn is_scalar(&self) -> bool {
        matches!(self, Type::Int { .. } | Type::Ptr { .. })
    }

    /// The integer a scalar behaves as in arithmetic, maps and printf: a
    /// pointer is an unsigned 64-bit address.
    pub fn as_int(&self) -> Type {
        match self {
            Type::Ptr { .. } => Type::U64,
            other => other.clone(),
        }
    }

    pub fn is_str(&self) -> bool {
        matches!(self, Type::Str { .. })
    }

    /// Values that print as text made in userspace from what the probe
    /// recorded: stacks and symbols (`printf("%s")` takes them).
    pub fn is_symbolized(&self) -> bool {
        matches!(self, Type::Stack(_) | Type::Sym { .. })
    }

    /// `sizeof` in the traced program: what an array element or a member
    /// of this type occupies in memory.
    pub fn c_size(&self) -> u32 {
        match self {
            Type::Int { size, .. } => *size as u32,
            Type::Ptr { .. } => 8,
            Type::Str { size } => *size,
            Type::Record(r) => r.size,
            Type::Array { elem, len } => elem.c_size() * len,
            Type::Tuple(t) => t.size(),
            _ => 0,
        }
    }

    /// The bytes `p + 1` moves a pointer of this type: its element's size
    /// (1 for an element without a size, as GNU C does for `void *`, and
    /// for integers).
    pub fn pointer_step(&self) -> i64 {
        match self {
            Type::Ptr { to, .. } => i64::from(to.c_size().max(1)),
            _ => 1,
        }
    }

    /// Bytes a value of this type takes in a map key or value, an event
    /// or a tuple: 8-aligned, so it copies and compares in 8-byte words.
    pub fn slot_size(&self) -> u32 {
        match self {
            Type::Str { size } => size.div_ceil(8) * 8,
            Type::Sym { .. } => 16,
            Type::Record(_) | Type::Array { .. } | Type::Tuple(_) => self.storage_size().div_ceil(8) * 8,
            _ => 8,
        }
    }

    /// Values kept in memory as a whole: tuples, records, structs, unions
    /// and arrays.
    pub fn is_aggregate(&self) -> bool {
        matches!(self, Type::Tuple(_) | Type::Record(_) | Type::Array { .. })
    }

    /// Bytes this value takes when stored in a map key, value or event.
    pub fn storage_size(&self) -> u32 {
        match self {
            Type::Int { .. } | Type::Ptr { .. } => 8,
            Type::Str { size } => *size,
            Type::Record(r) => r.size,
            Type::Array { elem, len } => elem.storage_size() * len,
            Type::Tuple(t) => t.size(),
            Type::Stack(_) | Type::Sym { user: false } => 8,
            Type::Sym { user: true } => 16,
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
            Type::Tuple(t) => write!(f, "{t}"),
            Type::Args => write!(f, "args"),
            Type::Agg(k) => write!(f, "{}()", k.name()),
            Type::MapHandle => write!(f, "map"),
            Type::Stack(s) => write!(f, "{}({}, {})", s.name(), s.mode.name(), s.limit),
            Type::Sym { user } => write!(f, "{}", if *user { "usym" } else { "ksym" }),
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
    Lhist {
        min: i64,
        max: i64,
        step: i64,
    },
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

/// A tuple's or named record's element types; element `i` lives at
/// `offsets()[i]`, each in a slot of its [`Type::slot_size`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tuple {
    pub elems: Vec<Type>,
    /// Field names of a named record; empty for a tuple.
    pub names: Vec<String>,
}

impl Tuple {
    pub fn offsets(&self) -> Vec<u32> {
        let mut at = 0;
        self.elems
            .iter()
            .map(|t| {
                let off = at;
                at += t.slot_size();
                off
            })
            .collect()
    }

    pub fn size(&self) -> u32 {
        self.elems.iter().map(Type::slot_size).sum()
    }

    /// The element `.0` or `.name` names.
    pub fn index_of(&self, field: &str) -> Option<usize> {
        if self.names.is_empty() {
            field.parse::<usize>().ok().filter(|i| *i < self.elems.len() && !field.starts_with('+'))
        } else {
            self.names.iter().position(|n| n == field)
        }
    }
}

impl fmt::Display for Tuple {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = match self.names.is_empty() {
            true => self.elems.iter().map(|t| t.to_string()).collect(),
            false => self.names.iter().zip(&self.elems).map(|(n, t)| format!("{n}={t}")).collect(),
        };
        write!(f, "({})", parts.join(", "))
    }
}

/// A struct or union layout.
///
/// Fields are set once, after the record itself exists, so that a struct can
/// point to itself (`struct db_shard_t *peer`): the DWARF reader caches the
/// `Rc<Record>` before converting its fields. Equality and `Debug` therefore
/// look at the name, kind and size only, never recursing into fields.
#[derive(Clone)]
pub struct Record {
    /// The tag name, or the typedef name of an anonymous struct, or "".
    pub name: String,
    pub is_union: bool,
    pub size: u32,
    pub fields: std::cell::OnceCell<Vec<Field>>,
}

impl Record {
    pub fn new(name: impl Into<String>, is_union: bool, size: u32, fields: Vec<Field>) -> Record {
        let cell = std::cell::OnceCell::new();
        let _ = cell.set(fields);
        Record { name: name.into(), is_union, size, fields: cell }
    }

    /// The fields (empty for an incomplete type).
    pub fn fields(&self) -> &[Field] {
        self.fields.get().map(Vec::as_slice).unwrap_or(&[])
    }

    /// A member by name, looking through anonymous struct and union members;
    /// returns it with its offset from the start of this record.
    pub fn field(&self, name: &str) -> Option<Field> {
        for f in self.fields() {
            if f.name == name {
                return Some(f.clone());
            }
            if f.name.is_empty() {
                if let Type::Record(inner) = &f.ty {
                    if let Some(mut g) = inner.field(name) {
                        g.offset += f.offset;
                        return Some(g);
                    }
                }
            }
        }
        None
    }

    /// Every member name reachable with `.` (anonymous members flattened).
    pub fn field_names(&self) -> Vec<String> {
        let mut out = Vec::new();
        for f in self.fields() {
            match (&f.ty, f.name.is_empty()) {
                (Type::Record(inner), true) => out.extend(inner.field_names()),
                _ => out.push(f.name.clone()),
            }
        }
        out
    }
}

impl PartialEq for Record {
    fn eq(&self, other: &Record) -> bool {
        self.name == other.name && self.is_union == other.is_union && self.size == other.size
    }
}

impl Eq for Record {}

impl std::fmt::Debug for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} ({} bytes)", if self.is_union { "union" } else { "struct" }, self.name, self.size)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    /// "" for an anonymous struct or union member.
    pub name: String,
    pub ty: Type,
    /// Byte offset from the start of the record (for a bitfield: of the
    /// storage unit to load, whose size is the field type's size).
    pub offset: u32,
    /// For bitfields: (bit offset within the loaded unit counted from its
    /// least significant bit, bit width).
    pub bitfield: Option<(u8, u8)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_referential_records_compare_and_print_without_recursing() {
        let rec = Rc::new(Record { name: "node".into(), is_union: false, size: 16, fields: Default::default() });
        let ptr = Type::Ptr { to: Rc::new(Type::Record(rec.clone())), user: true };
        let _ = rec.fields.set(vec![
            Field { name: "v".into(), ty: Type::I64, offset: 0, bitfield: None },
            Field { name: "next".into(), ty: ptr.clone(), offset: 8, bitfield: None },
        ]);
        assert_eq!(format!("{ptr}"), "struct node *");
        assert!(format!("{:?}", rec).contains("node"));
        assert_eq!(rec.field("next").map(|f| f.offset), Some(8));
        assert_eq!(ptr, ptr.clone());
    }

    #[test]
    fn anonymous_members_are_flattened() {
        let inner = Record::new(
            "",
            true,
            8,
            vec![
                Field { name: "a".into(), ty: Type::U32, offset: 0, bitfield: None },
                Field { name: "b".into(), ty: Type::U64, offset: 0, bitfield: None },
            ],
        );
        let outer = Record::new(
            "s",
            false,
            16,
            vec![
                Field { name: "x".into(), ty: Type::U64, offset: 0, bitfield: None },
                Field { name: "".into(), ty: Type::Record(Rc::new(inner)), offset: 8, bitfield: None },
            ],
        );
        assert_eq!(outer.field("b").map(|f| f.offset), Some(8));
        assert_eq!(outer.field_names(), vec!["x", "a", "b"]);
    }
}
