//! C type spellings in specifiers: parameter types in the signature and the
//! value types in the type list.
//!
//! Users write C (`const char *`, `unsigned long`, `size_t`, `u32`); DWARF
//! writes it its own way (`long unsigned int`, `char const *`). Both are
//! read into one small [`CType`] so that they can be compared loosely (an
//! argdist user declaring `u64 size` for a `size_t` is right) and turned
//! into the casts of our language (`(uint64)`, `(db_shard_t *)`).

use crate::frontend::ast::TypeName;
use crate::frontend::types::Type;
use crate::source::Span;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CType {
    Int {
        size: u8,
        signed: bool,
    },
    /// `depth` levels of pointer to `base`; `base_int` when the base is an
    /// integer type (so `char *` and `int8_t *` compare equal).
    Ptr {
        tag: Option<String>,
        base: String,
        base_int: Option<(u8, bool)>,
        depth: u32,
    },
    /// A named type that is not an integer: a struct, union, enum or a
    /// typedef of one.
    Named {
        tag: Option<String>,
        name: String,
    },
}

/// Qualifiers that change nothing about how a value is read.
const QUALIFIERS: &[&str] = &["const", "volatile", "restrict", "__restrict", "__restrict__", "__user", "register"];

/// Integer typedefs people use in specifiers (kernel, stdint, POSIX).
const TYPEDEFS: &[(&str, u8, bool)] = &[
    ("u8", 1, false),
    ("s8", 1, true),
    ("u16", 2, false),
    ("s16", 2, true),
    ("u32", 4, false),
    ("s32", 4, true),
    ("u64", 8, false),
    ("s64", 8, true),
    ("__u8", 1, false),
    ("__s8", 1, true),
    ("__u16", 2, false),
    ("__s16", 2, true),
    ("__u32", 4, false),
    ("__s32", 4, true),
    ("__u64", 8, false),
    ("__s64", 8, true),
    ("uint8_t", 1, false),
    ("int8_t", 1, true),
    ("uint16_t", 2, false),
    ("int16_t", 2, true),
    ("uint32_t", 4, false),
    ("int32_t", 4, true),
    ("uint64_t", 8, false),
    ("int64_t", 8, true),
    ("uint8", 1, false),
    ("int8", 1, true),
    ("uint16", 2, false),
    ("int16", 2, true),
    ("uint32", 4, false),
    ("int32", 4, true),
    ("uint64", 8, false),
    ("int64", 8, true),
    ("bool", 1, false),
    ("_Bool", 1, false),
    ("size_t", 8, false),
    ("ssize_t", 8, true),
    ("uintptr_t", 8, false),
    ("intptr_t", 8, true),
    ("ptrdiff_t", 8, true),
    ("off_t", 8, true),
    ("loff_t", 8, true),
    ("time_t", 8, true),
    ("pid_t", 4, true),
    ("uid_t", 4, false),
    ("gid_t", 4, false),
    ("mode_t", 4, false),
    ("dev_t", 8, false),
    ("ino_t", 8, false),
    ("socklen_t", 4, false),
    ("gfp_t", 4, false),
];

const INT_WORDS: &[&str] = &["signed", "unsigned", "short", "long", "int", "char"];

/// Reads a C type; `None` for what the loose reading does not cover
/// (function pointers, arrays, several names).
pub fn parse(text: &str) -> Option<CType> {
    let spaced = text.replace('*', " * ");
    let mut words: Vec<&str> = spaced.split_whitespace().filter(|w| !QUALIFIERS.contains(w)).collect();
    let depth = words.iter().rev().take_while(|w| **w == "*").count() as u32;
    words.truncate(words.len() - depth as usize);
    if words.is_empty() || words.iter().any(|w| *w == "*" || !w.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
    {
        return None;
    }
    let (tag, base) = match words[0] {
        "struct" | "union" | "enum" if words.len() == 2 => (Some(words[0].to_string()), words[1].to_string()),
        "struct" | "union" | "enum" => return None,
        _ if words.iter().all(|w| INT_WORDS.contains(w)) => (None, words.join(" ")),
        _ if words.len() == 1 => (None, words[0].to_string()),
        _ => return None,
    };
    let int = if tag.is_none() { int_of(&words) } else { None };
    Some(match (depth, int) {
        (0, Some((size, signed))) => CType::Int { size, signed },
        (0, None) => CType::Named { tag, name: base },
        (_, base_int) => CType::Ptr { tag, base, base_int, depth },
    })
}

/// The size and signedness of an integer type name, or `None`.
fn int_of(words: &[&str]) -> Option<(u8, bool)> {
    if words.iter().all(|w| INT_WORDS.contains(w)) {
        let has = |w: &str| words.contains(&w);
        let longs = words.iter().filter(|w| **w == "long").count();
        let size = if has("char") {
            1
        } else if has("short") {
            2
        } else if longs > 0 {
            8
        } else {
            4
        };
        return Some((size, !has("unsigned")));
    }
    match words {
        [one] => TYPEDEFS.iter().find(|t| t.0 == *one).map(|t| (t.1, t.2)),
        _ => None,
    }
}

/// Our spelling of an integer type, as in casts: `uint32`.
pub fn int_name(size: u8, signed: bool) -> String {
    format!("{}int{}", if signed { "" } else { "u" }, size as u32 * 8)
}

/// A cast type naming an integer.
pub fn int_type(size: u8, signed: bool, span: Span) -> TypeName {
    TypeName { tag: None, name: int_name(size, signed), pointers: 0, span }
}

impl CType {
    /// What a cast to this type is written as: integers in our names,
    /// `char *` as itself, `void *` as the address (`uint64`), other
    /// pointers by their type name (which needs debug info to resolve).
    /// `None` for non-scalar types.
    pub fn cast(&self, span: Span) -> Option<TypeName> {
        match self {
            CType::Int { size, signed } => Some(int_type(*size, *signed, span)),
            CType::Ptr { base, .. } if base == "void" => Some(int_type(8, false, span)),
            CType::Ptr { tag, base, base_int, depth } => {
                let name = match base_int {
                    Some(_) if base == "char" => "char".to_string(),
                    Some((size, signed)) => int_name(*size, *signed),
                    None => base.clone(),
                };
                Some(TypeName { tag: tag.clone(), name, pointers: *depth, span })
            }
            CType::Named { .. } => None,
        }
    }

    /// Loosely the same as what DWARF says (`ty` and its C spelling):
    /// integers of one size, pointers at one depth to the same name (or to
    /// `void`, or to integers of one size), otherwise the same name.
    pub fn agrees_with(&self, ty: &Type, c_type: &str) -> bool {
        let theirs = parse(c_type);
        match (self, ty) {
            (CType::Int { size, .. }, Type::Int { size: s, .. }) => size == s,
            (CType::Int { .. }, _) | (CType::Ptr { .. }, Type::Int { .. }) => false,
            (CType::Ptr { base, base_int, depth, .. }, Type::Ptr { .. }) => match theirs {
                Some(CType::Ptr { base: b2, base_int: i2, depth: d2, .. }) => {
                    depth == &d2
                        && (base == "void"
                            || b2 == "void"
                            || *base == b2
                            || matches!((base_int, i2), (Some(a), Some(b)) if a.0 == b.0))
                }
                _ => true,
            },
            (CType::Ptr { .. }, _) => false,
            (CType::Named { name, .. }, _) => match theirs {
                Some(CType::Named { name: n2, .. }) => *name == n2,
                Some(_) => false,
                None => true,
            },
        }
    }
}

/// A value type from the type list: what the collected value becomes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ValueType {
    /// Truncated or extended to this integer, as argdist's typed key field.
    Int(u8, bool),
    /// `char*`: the value is a string read from that address.
    Str,
}

pub fn value_type(text: &str) -> Option<ValueType> {
    match parse(text)? {
        CType::Int { size, signed } => Some(ValueType::Int(size, signed)),
        CType::Ptr { base, depth: 1, .. } if base == "char" => Some(ValueType::Str),
        CType::Ptr { .. } => Some(ValueType::Int(8, false)),
        CType::Named { .. } => None,
    }
}
