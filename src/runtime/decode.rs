//! Reading user maps back from the kernel and turning their bytes into
//! [`MapDump`]s, combining per-CPU values the way each aggregation needs;
//! [`MapReader`] is the session's maps as outputs see them.

use crate::codegen::program::{slot_size, MapDecl, UserMap};
use crate::frontend::passes::MapValue;
use crate::frontend::types::{AggKind, Type};
use crate::runtime::maps::Map;
use crate::runtime::names::{Names, Symbols};
use crate::runtime::output::value::{AggValue, MapDump, Scalar};
use crate::sys::SysError;
use std::cell::RefCell;
use std::collections::BTreeMap;

/// Decode a NUL-terminated string buffer.
pub fn c_string(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

fn u64_at(bytes: &[u8], off: usize) -> u64 {
    bytes.get(off..off + 8).and_then(|b| b.try_into().ok()).map(u64::from_le_bytes).unwrap_or(0)
}

/// Decode one value of `ty` stored in `bytes` (8 bytes for integers).
pub fn scalar(ty: &Type, bytes: &[u8]) -> Scalar {
    match ty {
        Type::Str { .. } => Scalar::Str(c_string(bytes)),
        Type::Int { signed: false, .. } => Scalar::UInt(u64_at(bytes, 0)),
        _ => Scalar::Int(u64_at(bytes, 0) as i64),
    }
}

/// Split a user key into its slots.
fn key_parts(user: &UserMap, key: &[u8], names: &Names) -> Vec<Scalar> {
    let mut out = Vec::new();
    let mut at = 0usize;
    for t in &user.keys {
        let size = slot_size(t) as usize;
        out.push(names.scalar(t, key.get(at..at + size).unwrap_or(&[])));
        at += size;
    }
    out
}

/// Every entry of a user map, decoded. `ncpus` is the number of possible
/// CPUs (per-CPU values come back one per possible CPU).
pub fn dump(map: &Map, decl: &MapDecl, ncpus: usize, names: &Names) -> Result<MapDump, SysError> {
    let Some(user) = &decl.user else {
        return Ok(MapDump { name: decl.name.clone(), keys_arity: 0, entries: Vec::new() });
    };
    let user_size = user.user_key_size() as usize;
    let stride = (decl.value_size as usize).div_ceil(8) * 8;
    let mut entries = Vec::new();
    let mut hists: BTreeMap<Vec<u8>, Vec<u64>> = BTreeMap::new();
    for key in map.keys()? {
        let Some(value) = map.lookup(&key)? else { continue };
        let per_cpu = |i: usize| -> &[u8] { value.get(i * stride..(i + 1) * stride).unwrap_or(&[]) };
        let n = if matches!(user.value, MapValue::Agg(_)) { ncpus } else { 1 };
        let agg = match user.value {
            MapValue::Int { signed } => AggValue::Plain(scalar(&Type::Int { size: 8, signed }, &value)),
            MapValue::Str { .. } => AggValue::Plain(Scalar::Str(c_string(&value))),
            MapValue::Stack(st) => AggValue::Plain(names.scalar(&Type::Stack(st), &value)),
            MapValue::Sym { user } => AggValue::Plain(names.scalar(&Type::Sym { user }, &value)),
            MapValue::Composite => AggValue::Plain(names.scalar(&user.value_type, &value)),
            MapValue::Agg(kind) => match kind {
                AggKind::Count => AggValue::Plain(Scalar::UInt((0..n).map(|i| u64_at(per_cpu(i), 0)).sum())),
                AggKind::Sum => AggValue::Plain(Scalar::Int(
                    (0..n).map(|i| u64_at(per_cpu(i), 0) as i64).fold(0i64, i64::wrapping_add),
                )),
                AggKind::Min | AggKind::Max => {
                    let vals = (0..n).filter(|i| u64_at(per_cpu(*i), 8) != 0).map(|i| u64_at(per_cpu(i), 0) as i64);
                    let v = if kind == AggKind::Min { vals.min() } else { vals.max() };
                    AggValue::Plain(Scalar::Int(v.unwrap_or(0)))
                }
                AggKind::Avg | AggKind::Stats => {
                    let count: u64 = (0..n).map(|i| u64_at(per_cpu(i), 0)).sum();
                    let total = (0..n).map(|i| u64_at(per_cpu(i), 8) as i64).fold(0i64, i64::wrapping_add);
                    let average = if count == 0 { 0 } else { total / count as i64 };
                    if kind == AggKind::Avg {
                        AggValue::Plain(Scalar::Int(average))
                    } else {
                        AggValue::Stats { count, average, total }
                    }
                }
                AggKind::Hist | AggKind::Lhist { .. } => {
                    let bucket = u64_at(&key, user_size) as usize;
                    let count: u64 = (0..n).map(|i| u64_at(per_cpu(i), 0)).sum();
                    let buckets = hists.entry(key[..user_size.min(key.len())].to_vec()).or_default();
                    if bucket < 4096 {
                        if buckets.len() <= bucket {
                            buckets.resize(bucket + 1, 0);
                        }
                        buckets[bucket] += count;
                    }
                    continue;
                }
            },
        };
        entries.push((key_parts(user, &key, names), agg));
    }
    for (key, buckets) in hists {
        let parts = key_parts(user, &key, names);
        let agg = match user.value {
            MapValue::Agg(AggKind::Lhist { min, max, step }) => {
                let mut b = buckets;
                b.resize(((max - min) / step + 2) as usize, 0);
                AggValue::Lhist { min, max, step, buckets: b }
            }
            _ => AggValue::Hist(buckets),
        };
        entries.push((parts, agg));
    }
    Ok(MapDump { name: decl.name.clone(), keys_arity: user.keys.len(), entries })
}

/// `zero(@m)`: keep the keys, set every value to zero.
pub fn zero(map: &Map, decl: &MapDecl, ncpus: usize) -> Result<(), SysError> {
    let stride = (decl.value_size as usize).div_ceil(8) * 8;
    let per_cpu = matches!(decl.user.as_ref().map(|u| u.value), Some(MapValue::Agg(_)));
    let zeros = vec![0u8; if per_cpu { stride * ncpus } else { decl.value_size as usize }];
    for key in map.keys()? {
        map.update(&key, &zeros)?;
    }
    Ok(())
}

/// A session's maps with their declarations: what outputs read (and
/// clear, for argdist's per-interval reports).
pub struct MapReader<'a> {
    /// By map id.
    pub decls: &'a [MapDecl],
    /// By map id.
    pub maps: &'a [Map],
    /// Possible CPUs (per-CPU values come back one per possible CPU).
    pub ncpus: usize,
    pub symbols: &'a RefCell<Symbols>,
}

impl MapReader<'_> {
    /// The map's contents, or `None` after a warning on stderr.
    pub fn dump(&self, id: usize) -> Option<MapDump> {
        let (map, decl) = (self.maps.get(id)?, self.decls.get(id)?);
        match dump(map, decl, self.ncpus, &self.names()) {
            Ok(d) => Some(d),
            Err(e) => {
                crate::diag::warn(format_args!("cannot read {}: {e}", decl.name));
                None
            }
        }
    }

    /// What names stacks and symbols in these maps.
    pub fn names(&self) -> Names<'_> {
        Names { decls: self.decls, maps: self.maps, symbols: self.symbols }
    }

    /// The id of the user map `@name` (with its `@`).
    pub fn id_of(&self, name: &str) -> Option<usize> {
        self.decls.iter().position(|d| d.user.is_some() && d.name == name)
    }

    /// Every user map that has entries, in id order (user maps get their
    /// ids in name order).
    pub fn nonempty_user_maps(&self) -> Vec<usize> {
        let nonempty = |id: usize| self.maps.get(id).and_then(|m| m.keys().ok()).is_some_and(|k| !k.is_empty());
        (0..self.decls.len()).filter(|&id| self.decls[id].user.is_some() && nonempty(id)).collect()
    }

    /// Remove every entry of the map.
    pub fn clear(&self, id: usize) {
        if let Some(m) = self.maps.get(id) {
            let _ = m.clear();
        }
    }
}
