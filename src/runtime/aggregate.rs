//! Decoding aggregate values from the bytes a probe recorded: tuples and
//! records (elements in 8-aligned slots, as `frontend::types::Tuple` lays
//! them out) and structs, unions and arrays (the traced program's own C
//! layout, copied whole). Char arrays read as strings; anonymous struct
//! and union members show their members in place, as `.` reaches them.

use crate::frontend::types::{Field, Record, Type};
use crate::runtime::decode::c_string;
use crate::runtime::names::Names;
use crate::runtime::output::value::Scalar;

/// The value of aggregate type `ty` in `bytes`.
pub fn decode(names: &Names, ty: &Type, bytes: &[u8]) -> Scalar {
    match ty {
        Type::Tuple(t) => {
            let items: Vec<Scalar> = t
                .elems
                .iter()
                .zip(t.offsets())
                .map(|(e, at)| names.scalar(e, slice(bytes, at as usize, e.slot_size() as usize)))
                .collect();
            if t.names.is_empty() {
                return Scalar::Tuple(items);
            }
            // Records are current bpftrace's, which prints pointers in hex.
            let items = t.elems.iter().zip(items).map(|(ty, v)| match (ty, v) {
                (Type::Ptr { .. }, Scalar::Int(p)) => Scalar::Str(format!("{:#x}", p as u64)),
                (_, v) => v,
            });
            Scalar::Struct { fields: t.names.iter().cloned().zip(items).collect(), record: true }
        }
        other => c_value(other, bytes),
    }
}

fn slice(bytes: &[u8], at: usize, len: usize) -> &[u8] {
    bytes.get(at..).map(|b| &b[..len.min(b.len())]).unwrap_or(&[])
}

/// A value in the traced program's layout.
fn c_value(ty: &Type, bytes: &[u8]) -> Scalar {
    match ty {
        Type::Int { size, signed } => {
            let raw = int_at(bytes, 0, *size as usize);
            if *signed {
                let shift = 64 - 8 * u32::from(*size);
                Scalar::Int(((raw << shift) as i64) >> shift)
            } else {
                Scalar::UInt(raw)
            }
        }
        // Decimal as a value, hex in a key (bpftrace 0.17's two forms).
        Type::Ptr { .. } => Scalar::Ptr(int_at(bytes, 0, 8)),
        Type::Str { .. } => Scalar::Str(c_string(bytes)),
        Type::Array { elem, len } if matches!(**elem, Type::Int { size: 1, .. }) => {
            Scalar::Str(c_string(slice(bytes, 0, *len as usize)))
        }
        Type::Array { elem, len } => {
            let step = elem.c_size() as usize;
            Scalar::Array((0..*len as usize).map(|i| c_value(elem, slice(bytes, i * step, step))).collect())
        }
        Type::Record(r) => {
            let mut fields = Vec::new();
            members(r, bytes, &mut fields);
            Scalar::Struct { fields, record: false }
        }
        // A member trace has no type for (floating point): shown, not guessed.
        _ => Scalar::Str("?".into()),
    }
}

/// `r`'s members in order, anonymous members' members in their place.
fn members(r: &Record, bytes: &[u8], out: &mut Vec<(String, Scalar)>) {
    for f in r.fields() {
        let at = f.offset as usize;
        match (&f.ty, f.name.is_empty()) {
            (Type::Record(inner), true) => members(inner, slice(bytes, at, inner.size as usize), out),
            _ => out.push((f.name.clone(), member(f, slice(bytes, at, f.ty.c_size() as usize)))),
        }
    }
}

fn member(f: &Field, bytes: &[u8]) -> Scalar {
    match (f.bitfield, &f.ty) {
        (Some((shift, width)), Type::Int { size, signed }) => {
            let raw = int_at(bytes, 0, *size as usize);
            let (shift, width) = (u32::from(shift), u32::from(width));
            let up = (raw << (64 - shift - width)) as i64;
            if *signed {
                Scalar::Int(up >> (64 - width))
            } else {
                Scalar::UInt((up as u64) >> (64 - width))
            }
        }
        _ => c_value(&f.ty, bytes),
    }
}

/// A little-endian integer of `size` bytes at `at` (missing bytes: 0).
fn int_at(bytes: &[u8], at: usize, size: usize) -> u64 {
    let mut word = [0u8; 8];
    for (i, b) in slice(bytes, at, size.min(8)).iter().enumerate() {
        word[i] = *b;
    }
    u64::from_le_bytes(word)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;

    #[test]
    fn a_struct_decodes_in_its_c_layout() {
        let inner = Record::new(
            "v",
            false,
            16,
            vec![
                Field { name: "epoch".into(), ty: Type::U32, offset: 0, bitfield: None },
                Field { name: "version".into(), ty: Type::U64, offset: 8, bitfield: None },
            ],
        );
        let name = Type::Array { elem: Rc::new(Type::Int { size: 1, signed: true }), len: 4 };
        let grid = Type::Array { elem: Rc::new(Type::Int { size: 2, signed: true }), len: 2 };
        let outer = Record::new(
            "s",
            false,
            32,
            vec![
                Field { name: "sid".into(), ty: Type::Int { size: 4, signed: true }, offset: 0, bitfield: None },
                Field { name: "name".into(), ty: name, offset: 4, bitfield: None },
                Field { name: "version".into(), ty: Type::Record(Rc::new(inner)), offset: 8, bitfield: None },
                Field { name: "g".into(), ty: grid, offset: 24, bitfield: None },
                Field { name: "b".into(), ty: Type::U32, offset: 28, bitfield: Some((3, 4)) },
            ],
        );
        let mut bytes = vec![0u8; 32];
        bytes[0..4].copy_from_slice(&(-2i32).to_le_bytes());
        bytes[4..7].copy_from_slice(b"ab\0");
        bytes[8] = 7;
        bytes[16] = 9;
        bytes[24..26].copy_from_slice(&(-1i16).to_le_bytes());
        bytes[26] = 5;
        bytes[28] = 0b1010_1000;
        let v = c_value(&Type::Record(Rc::new(outer)), &bytes);
        assert_eq!(
            v.to_string(),
            "{ .sid = -2, .name = ab, .version = { .epoch = 7, .version = 9 }, .g = [-1,5], .b = 5 }"
        );
    }
}
