//! The values the printers consume: map contents read back from the kernel
//! and already reduced to what a user sees (per-CPU slots summed, `avg`
//! divided), plus the ordering rules bpftrace applies when it prints a map.
//!
//! Keeping these plain data types separate from the kernel readers means the
//! text and JSON printers are pure functions that unit tests can feed
//! directly, and the runtime only has to build a [`MapDump`].

use super::stack::Stack;
use std::cmp::Ordering;
use std::fmt;
use std::rc::Rc;

/// One key component or one plain value.
#[derive(Clone, Debug, PartialEq)]
pub enum Scalar {
    Int(i64),
    UInt(u64),
    Str(String),
    /// `ustack`/`kstack`, symbolized.
    Stack(Rc<Stack>),
    /// A tuple: `(1, two)`.
    Tuple(Vec<Scalar>),
    /// A struct, union or named record: `{ .a = 1, .b = two }`. `record`
    /// marks a named record (printing as a key differs: see `record.rs`).
    Struct {
        fields: Vec<(String, Scalar)>,
        record: bool,
    },
    /// An array: `[1,2,3]`.
    Array(Vec<Scalar>),
    /// A pointer member of a struct: decimal as a value, hex in a key (as
    /// bpftrace 0.17 prints them).
    Ptr(u64),
}

impl Scalar {
    /// As a map key prints it: like [`Display`](fmt::Display), but a
    /// stack's frames are indented by 4 (bpftrace's `@[` + stack + `]`).
    pub fn key_text(&self) -> String {
        match self {
            Scalar::Stack(s) => s.text(4),
            Scalar::Tuple(_) | Scalar::Struct { .. } | Scalar::Array(_) => super::record::key_text(self),
            other => other.to_string(),
        }
    }
}

impl fmt::Display for Scalar {
    /// Values print bare: integers in decimal, strings raw (no quotes), as
    /// bpftrace prints map keys, map values and `print(expr)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scalar::Int(v) => write!(f, "{v}"),
            Scalar::UInt(v) | Scalar::Ptr(v) => write!(f, "{v}"),
            Scalar::Str(s) => f.write_str(s),
            Scalar::Stack(s) => f.write_str(&s.text(8)),
            Scalar::Tuple(_) | Scalar::Struct { .. } | Scalar::Array(_) => {
                f.write_str(&super::record::value_text(self))
            }
        }
    }
}

/// The value stored under one key of a map.
#[derive(Clone, Debug, PartialEq)]
pub enum AggValue {
    /// `@x = e`, `count()`, `sum()`, `min()`, `max()`, and `avg()` already
    /// reduced (integer division total/count, as bpftrace does).
    Plain(Scalar),
    /// `stats()`.
    Stats { count: u64, average: i64, total: i64 },
    /// `hist()`: log2 buckets. Index 0 counts negative values, 1 counts
    /// zero, and k >= 2 counts values in [2^(k-2), 2^(k-1)).
    Hist(Vec<u64>),
    /// `lhist(min, max, step)`: index 0 is below `min`, i in 1..=n is
    /// [min+(i-1)*step, min+i*step), n+1 is `max` and above;
    /// n = (max-min)/step.
    Lhist { min: i64, max: i64, step: i64, buckets: Vec<u64> },
}

/// One map's contents, as read at print time.
#[derive(Clone, Debug, PartialEq)]
pub struct MapDump {
    /// `@x`, or `@` for the anonymous map.
    pub name: String,
    /// Number of key components; 0 for a scalar map.
    pub keys_arity: usize,
    pub entries: Vec<(Vec<Scalar>, AggValue)>,
}

/// Which printer a map needs. Taken from the values because [`MapDump`]
/// carries no declared kind; every entry of a map has the same kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MapKind {
    Plain,
    Stats,
    Hist,
}

pub(crate) fn kind_of(dump: &MapDump) -> MapKind {
    match dump.entries.first().map(|(_, v)| v) {
        Some(AggValue::Stats { .. }) => MapKind::Stats,
        Some(AggValue::Hist(_)) | Some(AggValue::Lhist { .. }) => MapKind::Hist,
        Some(AggValue::Plain(_)) | None => MapKind::Plain,
    }
}

/// Orders key components the way bpftrace 0.17 sorts keys: integers by
/// their 64-bit pattern read as unsigned (so `-1` sorts after `256`; the
/// oracle does this), strings bytewise, tuples component by component.
pub(crate) fn cmp_keys(a: &[Scalar], b: &[Scalar]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        let ord = match (x, y) {
            (Scalar::Str(x), Scalar::Str(y)) => x.as_bytes().cmp(y.as_bytes()),
            (Scalar::Stack(x), Scalar::Stack(y)) => {
                x.frames.iter().map(|f| f.addr).cmp(y.frames.iter().map(|f| f.addr))
            }
            (x, y) if super::record::parts(x).is_some() && super::record::parts(y).is_some() => {
                let (p, q) = (super::record::parts(x).unwrap_or_default(), super::record::parts(y).unwrap_or_default());
                cmp_keys(&p, &q)
            }
            (Scalar::Stack(_), _) => Ordering::Greater,
            (_, Scalar::Stack(_)) => Ordering::Less,
            (Scalar::Str(_), _) => Ordering::Greater,
            (_, Scalar::Str(_)) => Ordering::Less,
            (x, y) => key_bits(x).cmp(&key_bits(y)),
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    a.len().cmp(&b.len())
}

fn key_bits(v: &Scalar) -> u64 {
    match v {
        Scalar::Int(i) => *i as u64,
        Scalar::UInt(u) | Scalar::Ptr(u) => *u,
        Scalar::Str(_) | Scalar::Stack(_) | Scalar::Tuple(_) | Scalar::Struct { .. } | Scalar::Array(_) => 0,
    }
}

/// The number a map is sorted by for this value, or `None` when bpftrace
/// sorts by key instead (string values).
fn sort_rank(v: &AggValue) -> Option<i128> {
    match v {
        AggValue::Plain(Scalar::Int(i)) => Some(i128::from(*i)),
        AggValue::Plain(Scalar::UInt(u) | Scalar::Ptr(u)) => Some(i128::from(*u)),
        AggValue::Plain(Scalar::Str(_) | Scalar::Stack(_)) => None,
        AggValue::Plain(Scalar::Tuple(_) | Scalar::Struct { .. } | Scalar::Array(_)) => None,
        AggValue::Stats { average, .. } => Some(i128::from(*average)),
        AggValue::Hist(b) | AggValue::Lhist { buckets: b, .. } => Some(b.iter().map(|&c| i128::from(c)).sum()),
    }
}

/// Entries in print order, `top` applied (0 = all).
///
/// bpftrace sorts numeric maps ascending by value, `stats` maps by average,
/// histogram maps by their total count, and maps with string values by key.
/// Ties come out in kernel hash order there, which nobody can reproduce; we
/// break them by key so output is deterministic. `top` keeps the largest N,
/// i.e. the last N lines.
pub(crate) fn sorted_entries(dump: &MapDump, top: usize) -> Vec<&(Vec<Scalar>, AggValue)> {
    let mut entries: Vec<_> = dump.entries.iter().collect();
    entries.sort_by(|(ka, va), (kb, vb)| sort_rank(va).cmp(&sort_rank(vb)).then_with(|| cmp_keys(ka, kb)));
    if top > 0 && entries.len() > top {
        entries.drain(..entries.len() - top);
    }
    entries
}

/// `print(@m, top, div)` divides plain integer values (C division,
/// truncating toward zero); strings pass through.
pub(crate) fn divide(v: &Scalar, div: u64) -> Scalar {
    if div <= 1 {
        return v.clone();
    }
    match v {
        Scalar::Int(i) => Scalar::Int(match i64::try_from(div) {
            Ok(d) => i / d,
            // div > i64::MAX: only i64::MIN / 2^63 is non-zero.
            Err(_) if *i == i64::MIN && div == 1 << 63 => -1,
            Err(_) => 0,
        }),
        Scalar::UInt(u) => Scalar::UInt(u / div),
        Scalar::Ptr(_) => v.clone(),
        Scalar::Str(_) | Scalar::Stack(_) | Scalar::Tuple(_) | Scalar::Struct { .. } | Scalar::Array(_) => v.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(k: i64, v: i64) -> (Vec<Scalar>, AggValue) {
        (vec![Scalar::Int(k)], AggValue::Plain(Scalar::Int(v)))
    }

    #[test]
    fn keys_sort_like_unsigned_then_bytes() {
        let mut keys = [vec![Scalar::Int(-1)], vec![Scalar::Int(256)], vec![Scalar::Int(2)], vec![Scalar::Int(0)]];
        keys.sort_by(|a, b| cmp_keys(a, b));
        let got: Vec<String> = keys.iter().map(|k| k[0].to_string()).collect();
        assert_eq!(got, ["0", "2", "256", "-1"]);

        let s = |x: &str| Scalar::Str(x.to_string());
        let mut keys = [vec![s("b"), Scalar::Int(1)], vec![s("ab"), Scalar::Int(0)], vec![s("a"), Scalar::Int(9)]];
        keys.sort_by(|a, b| cmp_keys(a, b));
        assert_eq!(keys[0][0], s("a"));
        assert_eq!(keys[1][0], s("ab"));
    }

    #[test]
    fn top_keeps_largest_and_ties_break_by_key() {
        let dump = MapDump {
            name: "@c".into(),
            keys_arity: 1,
            entries: vec![entry(9, 1), entry(3, 5), entry(1, 1), entry(7, 2)],
        };
        let keys: Vec<_> = sorted_entries(&dump, 0).iter().map(|(k, _)| k[0].clone()).collect();
        assert_eq!(keys, [Scalar::Int(1), Scalar::Int(9), Scalar::Int(7), Scalar::Int(3)]);
        let keys: Vec<_> = sorted_entries(&dump, 2).iter().map(|(k, _)| k[0].clone()).collect();
        assert_eq!(keys, [Scalar::Int(7), Scalar::Int(3)]);
        assert_eq!(sorted_entries(&dump, 10).len(), 4);
    }

    #[test]
    fn division_truncates_toward_zero() {
        assert_eq!(divide(&Scalar::Int(-7), 2), Scalar::Int(-3));
        assert_eq!(divide(&Scalar::UInt(7), 2), Scalar::UInt(3));
        assert_eq!(divide(&Scalar::Int(5), 0), Scalar::Int(5));
        assert_eq!(divide(&Scalar::Int(i64::MIN), 1 << 63), Scalar::Int(-1));
        assert_eq!(divide(&Scalar::Int(i64::MAX), u64::MAX), Scalar::Int(0));
    }
}
