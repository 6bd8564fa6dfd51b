//! The `btf` target: mutated BTF blobs through `frontend::btf`, the
//! kernel-type reader: opening (header, the offset pass), every function's
//! signature, named types, conversion of every id, and the completion of
//! the records reached through pointers.
//!
//! The blobs mutated are built here: one entry of every kind, hand-made; a
//! split (module) blob on top of it; and, where the kernel publishes BTF, a
//! slice of the real `/sys/kernel/btf/vmlinux` (its first entries, strings
//! repacked), for the shapes real kernels have (bitfields, anonymous
//! unions, long prototypes). References past the slice dangle, which the
//! reader must report, not follow. Mutations know the format: header
//! fields, entry info words (kind, member count, kind_flag), type and name
//! references, string bytes, truncation, and plain bit flips.

use std::rc::Rc;

use crate::driver::Target;
use crate::rng::Rng;
use trace::frontend::btf::{self as kbtf, Btf};
use trace::frontend::types::Type;

pub struct BtfTarget {
    /// Name, bytes, and the index of the blob it is split BTF on.
    bases: Vec<(&'static str, Vec<u8>, Option<usize>)>,
}

pub struct Input {
    pub base: usize,
    pub bytes: Vec<u8>,
    pub ops: Vec<String>,
}

/// Names asked for whatever the blob holds.
const NAMES: &[&str] =
    &["vfs_read", "mod_fn", "f", "task_struct", "struct node", "union u", "enum e", "size_t", "int", "later", "x"];

/// A blob under construction: types and strings.
struct Builder {
    types: Vec<u8>,
    strings: Vec<u8>,
    next: u32,
    str_base: u32,
}

impl Builder {
    fn new(first_id: u32, str_base: u32) -> Builder {
        let strings = if str_base == 0 { vec![0] } else { Vec::new() };
        Builder { types: Vec::new(), strings, next: first_id, str_base }
    }

    fn s(&mut self, name: &str) -> u32 {
        let off = self.str_base + self.strings.len() as u32;
        self.strings.extend_from_slice(name.as_bytes());
        self.strings.push(0);
        off
    }

    /// An entry: name, kind, vlen, kind_flag, size or type, then its tail.
    fn t(&mut self, name: &str, kind: u32, vlen: u32, kflag: bool, st: u32, tail: &[u32]) -> u32 {
        let name = if name.is_empty() { 0 } else { self.s(name) };
        let info = ((kflag as u32) << 31) | (kind << 24) | vlen;
        for w in [name, info, st].iter().chain(tail) {
            self.types.extend_from_slice(&w.to_le_bytes());
        }
        self.next += 1;
        self.next - 1
    }

    fn bytes(&self) -> Vec<u8> {
        blob(&self.types, &self.strings)
    }
}

fn blob(types: &[u8], strings: &[u8]) -> Vec<u8> {
    let mut out = vec![0x9f, 0xeb, 1, 0];
    for w in [24u32, 0, types.len() as u32, types.len() as u32, strings.len() as u32] {
        out.extend_from_slice(&w.to_le_bytes());
    }
    out.extend_from_slice(types);
    out.extend_from_slice(strings);
    out
}

/// One entry of every kind, connected the way kernel types are.
fn kinds() -> Builder {
    let mut b = Builder::new(1, 0);
    let char_ = b.t("char", 1, 0, false, 1, &[8]); // 1
    let int = b.t("int", 1, 0, false, 4, &[(1 << 24) | 32]); // 2
    let ulong = b.t("long unsigned int", 1, 0, false, 8, &[64]); // 3
    let size_t = b.t("size_t", 8, 0, false, ulong, &[]); // 4
    let node_ptr = b.t("", 2, 0, false, 6, &[]); // 5
    let (v, next, bits) = (b.s("v"), b.s("next"), b.s("bits"));
    b.t("node", 4, 3, true, 24, &[v, int, 0, next, node_ptr, 64, bits, int, (3 << 24) | 128]); // 6
    let arr = b.t("", 3, 0, false, 0, &[char_, int, 16]); // 7
    let (a, c) = (b.s("a"), b.s("c"));
    let u = b.t("u", 5, 2, false, 16, &[a, arr, 0, c, ulong, 0]); // 8
    let e = b.s("E1");
    let en = b.t("e", 6, 1, true, 4, &[e, u32::MAX]); // 9
    b.t("e64", 19, 1, false, 8, &[e, 1, 2]); // 10
    let fwd = b.t("later", 7, 0, false, 0, &[]); // 11
    let cst = b.t("", 10, 0, false, char_, &[]); // 12
    let vol = b.t("", 9, 0, false, cst, &[]); // 13
    let tag = b.t("user", 18, 0, false, vol, &[]); // 14
    let p_tag = b.t("", 2, 0, false, tag, &[]); // 15
    let rst = b.t("", 11, 0, false, p_tag, &[]); // 16
    let (p1, p2, p3) = (b.s("s"), b.s("n"), b.s("p"));
    let proto = b.t("", 13, 5, false, int, &[p1, rst, p2, size_t, p3, node_ptr, 0, en, 0, 0]); // 17
    b.t("f", 12, 1, false, proto, &[]); // 18
    let fp = b.t("", 2, 0, false, proto, &[]); // 19
    let (fs, ff) = (b.s("fn"), b.s("fwd"));
    let fwd_ptr = b.t("", 2, 0, false, fwd, &[]); // 20
    b.t("x", 4, 3, false, 32, &[fs, fp, 0, ff, fwd_ptr, 64, 0, u, 128]); // 21
    b.t("double", 16, 0, false, 8, &[]); // 22
    let var = b.t("g", 14, 0, false, int, &[1]); // 23
    b.t(".data", 15, 1, false, 4, &[var, 0, 4]); // 24
    b.t("tag", 17, 0, false, 21, &[u32::MAX]); // 25
    let void_proto = b.t("", 13, 0, false, 0, &[]); // 26
    b.t("vfs_read", 12, 0, false, void_proto, &[]); // 27
    b
}

/// A module's split BTF on top of [`kinds`].
fn module(base: &Builder) -> Vec<u8> {
    let mut b = Builder::new(base.next, base.strings.len() as u32);
    let (st, cnt) = (b.s("st"), b.s("cnt"));
    let own = b.t("mod_state", 4, 2, false, 16, &[st, 5, 0, cnt, 4, 64]);
    let p = b.t("", 2, 0, false, own, &[]);
    let proto = b.t("", 13, 2, false, 2, &[st, p, cnt, 4]);
    b.t("mod_fn", 12, 1, false, proto, &[]);
    b.bytes()
}

/// The first `n` entries of the running kernel's BTF with their strings
/// repacked, or `None` where there is none.
fn vmlinux_slice(n: usize) -> Option<Vec<u8>> {
    let data = std::fs::read("/sys/kernel/btf/vmlinux").ok()?;
    let word = |at: usize| data.get(at..at + 4).map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]));
    let (types_at, types_len) = (24 + word(8)? as usize, word(12)? as usize);
    let strings_at = 24 + word(16)? as usize;
    let string = |off: u32| {
        let s = data.get(strings_at + off as usize..)?;
        Some(String::from_utf8_lossy(&s[..s.iter().position(|&b| b == 0)?]).into_owned())
    };
    let mut b = Builder::new(1, 0);
    let mut at = types_at;
    for _ in 0..n {
        if at + 12 > types_at + types_len {
            break;
        }
        let info = word(at + 4)?;
        let (kind, vlen) = ((info >> 24) & 0x1f, (info & 0xffff) as usize);
        // (tail words per item, items, which words of an item are names)
        let (per, items, names): (usize, usize, &[usize]) = match kind {
            1 | 14 | 17 => (1, 1, &[]),
            3 => (3, 1, &[]),
            4 | 5 | 19 => (3, vlen, &[0]),
            15 => (3, vlen, &[]),
            6 | 13 => (2, vlen, &[0]),
            _ => (0, 0, &[]),
        };
        let mut head = [word(at)?, info, word(at + 8)?];
        if head[0] != 0 {
            head[0] = b.s(&string(head[0])?);
        }
        let mut tail = Vec::new();
        for i in 0..per * items {
            let w = word(at + 12 + 4 * i)?;
            let is_name = names.contains(&(i % per.max(1)));
            tail.push(if is_name && w != 0 { b.s(&string(w)?) } else { w });
        }
        for w in head.iter().chain(&tail) {
            b.types.extend_from_slice(&w.to_le_bytes());
        }
        at += 12 + 4 * per * items;
    }
    Some(b.bytes())
}

impl BtfTarget {
    pub fn new() -> BtfTarget {
        let kinds = kinds();
        let mut bases = vec![("kinds", kinds.bytes(), None), ("module", module(&kinds), Some(0))];
        if let Some(slice) = vmlinux_slice(3000) {
            bases.push(("vmlinux-slice", slice, None));
        }
        BtfTarget { bases }
    }
}

/// A value for a word: an edge, a neighbour, or something the format uses.
fn value(rng: &mut Rng, old: u32) -> u32 {
    match rng.below(8) {
        0 => *rng.pick(&[0, 1, 2, 3, 4, 12, 16, 24, 0x7fff_ffff, 0x8000_0000, u32::MAX, 0xffff, 0x10000]),
        1 => old.wrapping_add(1),
        2 => old.wrapping_sub(1),
        3 => old ^ (1 << rng.below(32)),
        4 => rng.below(64) as u32,
        // An info word: a kind (some past the last), a count, a flag.
        5 => ((rng.chance(1, 4) as u32) << 31) | ((rng.below(24) as u32) << 24) | rng.small(70000) as u32,
        6 => old.wrapping_mul(2),
        _ => rng.next() as u32,
    }
}

fn mutate(rng: &mut Rng, data: &mut Vec<u8>) -> String {
    let words = data.len() / 4;
    match rng.below(10) {
        0 | 1 if data.len() >= 24 => {
            // hdr_len, then the type and string sections' offsets and lengths.
            let at = 4 + 4 * rng.below(5);
            let old = u32::from_le_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]);
            let new = value(rng, old);
            data[at..at + 4].copy_from_slice(&new.to_le_bytes());
            format!("header word {at} {old} -> {new}")
        }
        2..=5 if words > 6 => {
            let at = 4 * rng.range(6, words - 1);
            let old = u32::from_le_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]);
            let new = value(rng, old);
            data[at..at + 4].copy_from_slice(&new.to_le_bytes());
            format!("word at {at} {old:#x} -> {new:#x}")
        }
        6 if !data.is_empty() => {
            let at = rng.below(data.len());
            let v = *rng.pick(&[0u8, 0xff, 0x80, b'a', b'/']);
            data[at] = v;
            format!("byte at {at} = {v:#x}")
        }
        7 if !data.is_empty() => {
            let len = rng.below(data.len());
            data.truncate(len);
            format!("cut to {len} bytes")
        }
        8 if data.len() > 48 => {
            let (from, to) = (4 * rng.below(data.len() / 4 - 3), 4 * rng.below(data.len() / 4 - 3));
            let chunk: Vec<u8> = data[from..from + 12].to_vec();
            data[to..to + 12].copy_from_slice(&chunk);
            format!("12 bytes from {from} over {to}")
        }
        _ if !data.is_empty() => {
            let at = rng.below(data.len());
            let bit = rng.below(8);
            data[at] ^= 1 << bit;
            format!("flip bit {bit} of byte {at}")
        }
        _ => "none".into(),
    }
}

impl Target for BtfTarget {
    type Input = Input;

    fn name(&self) -> &'static str {
        "btf"
    }

    fn generate(&self, rng: &mut Rng) -> Input {
        let base = rng.below(self.bases.len());
        let mut bytes = self.bases[base].1.clone();
        let n = if rng.chance(1, 10) { rng.range(4, 12) } else { rng.range(1, 3) };
        let ops = (0..n).map(|_| mutate(rng, &mut bytes)).collect();
        Input { base, bytes, ops }
    }

    fn run(&self, input: &Input) -> Result<&'static str, String> {
        let (name, _, split) = &self.bases[input.base];
        let base = match split {
            Some(b) => Some(Rc::new(
                Btf::from_bytes("base.btf", self.bases[*b].1.clone(), None)
                    .map_err(|e| format!("the unmutated base does not read: {e}"))?,
            )),
            None => None,
        };
        let btf = match Btf::from_bytes(name, input.bytes.clone(), base) {
            Ok(b) => b,
            Err(e) => return rendered(&e.to_string(), name).map(|_| "refused"),
        };
        exercise(&btf, name)
    }

    /// Converted records that point at each other are never freed (their
    /// `Rc`s form cycles; trace keeps one reader per file for the life of
    /// the process, so there they are converted once). Thousands of
    /// readers in one worker would add up to the memory limit.
    fn inputs_per_worker(&self) -> u64 {
        20_000
    }

    fn reproducer(&self, input: &Input) -> (&'static str, Vec<u8>, String) {
        let how = format!(
            "a mutant of the `{}` BTF blob ({}); read it with trace::frontend::btf::Btf::from_bytes",
            self.bases[input.base].0,
            input.ops.join("; ")
        );
        ("btf", input.bytes.clone(), how)
    }
}

/// An error message must say something, and name the blob.
fn rendered(msg: &str, name: &str) -> Result<(), String> {
    if msg.trim().is_empty() || !msg.contains(name) {
        return Err(format!("an error message that does not name `{name}`: `{msg}`"));
    }
    Ok(())
}

/// Every query trace makes; whether all of them answered.
fn exercise(btf: &Btf, name: &str) -> Result<&'static str, String> {
    let mut failed = false;
    let mut check = |r: Result<(), kbtf::BtfError>| -> Result<(), String> {
        match r {
            Ok(()) => Ok(()),
            Err(e) => {
                failed = true;
                rendered(&e.to_string(), name)
            }
        }
    };
    let mut names: Vec<String> = NAMES.iter().map(|n| n.to_string()).collect();
    match btf.function_names() {
        Ok(f) => names.extend(f.iter().take(20).map(|s| s.to_string())),
        Err(e) => check(Err(e))?,
    }
    for n in &names {
        let r = btf.function(n).map(|f| {
            if let Some(f) = f {
                let _ = (kbtf::signature_lines(&f), f.btf_id);
                for p in &f.params {
                    pointees(btf, &p.ty);
                }
            }
        });
        check(r)?;
        check(btf.named_type(n, None).map(|t| {
            let _ = t.map(|t| t.c_size());
        }))?;
    }
    let count = btf.type_count();
    for id in 0..=count.min(400) {
        let r = btf.type_by_id(id).map(|t| {
            let _ = (t.c_size(), t.storage_size(), t.to_string());
            pointees(btf, &t);
        });
        check(r)?;
    }
    // Ids past the last: an error (for split BTF, past the base's too).
    for id in [count + 1_000_000, u32::MAX] {
        match btf.type_by_id(id) {
            Ok(t) => return Err(format!("type {id} of {count} read as {t}")),
            Err(e) => rendered(&e.to_string(), name)?,
        }
    }
    let _ = btf.converted_types();
    Ok(if failed { "partly read" } else { "read" })
}

/// Complete what `t` points to (one level), as `p->field` does.
fn pointees(btf: &Btf, t: &Type) {
    let rec = match t {
        Type::Record(r) => r.clone(),
        Type::Ptr { to, .. } => match &**to {
            Type::Record(r) => r.clone(),
            _ => return,
        },
        _ => return,
    };
    for f in rec.fields() {
        if let Type::Ptr { to, .. } = &f.ty {
            if let Type::Record(r) = &**to {
                let _ = btf.complete(r).map(|_| r.field_names());
            }
        }
    }
    let _ = btf.complete(&rec).map(|_| rec.field_names());
}
