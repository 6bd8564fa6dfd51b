//! The reader on tiny hand-built BTF blobs: what each kind converts to,
//! C spellings, bitfields, laziness, split BTF, and malformed input (cut
//! short, wrong magic, offsets out of range, reference cycles), which must
//! end in an error naming what is wrong, never a panic or a hang.

use super::*;

const INT: u32 = 1;
const PTR: u32 = 2;
const ARRAY: u32 = 3;
const STRUCT: u32 = 4;
const UNION: u32 = 5;
const ENUM: u32 = 6;
const FWD: u32 = 7;
const TYPEDEF: u32 = 8;
const CONST: u32 = 10;
const FUNC: u32 = 12;
const PROTO: u32 = 13;
const TYPE_TAG: u32 = 18;

/// A BTF blob under construction (`split`: on top of a base).
pub(super) struct Blob {
    types: Vec<u8>,
    strings: Vec<u8>,
    next_id: u32,
    str_base: u32,
}

impl Blob {
    pub fn new() -> Blob {
        Blob { types: Vec::new(), strings: vec![0], next_id: 1, str_base: 0 }
    }

    /// Split BTF on top of `base`.
    pub fn split(base: &Btf) -> Blob {
        Blob { types: Vec::new(), strings: Vec::new(), next_id: base.layout.next_id(), str_base: base.str_end() }
    }

    /// The offset of `name` in the strings (appended).
    pub fn s(&mut self, name: &str) -> u32 {
        if name.is_empty() && self.str_base == 0 {
            return 0;
        }
        let off = self.str_base + self.strings.len() as u32;
        self.strings.extend_from_slice(name.as_bytes());
        self.strings.push(0);
        off
    }

    pub fn raw(&mut self, name: &str, kind: u32, vlen: u32, kflag: bool, size_or_type: u32, tail: &[u32]) -> u32 {
        let name = self.s(name);
        let info = ((kflag as u32) << 31) | (kind << 24) | vlen;
        for w in [name, info, size_or_type].iter().chain(tail) {
            self.types.extend_from_slice(&w.to_le_bytes());
        }
        self.next_id += 1;
        self.next_id - 1
    }

    pub fn int(&mut self, name: &str, size: u32, signed: bool) -> u32 {
        self.raw(name, INT, 0, false, size, &[((signed as u32) << 24) | (size * 8)])
    }

    pub fn ptr(&mut self, to: u32) -> u32 {
        self.raw("", PTR, 0, false, to, &[])
    }

    pub fn typedef(&mut self, name: &str, to: u32) -> u32 {
        self.raw(name, TYPEDEF, 0, false, to, &[])
    }

    /// Members as (name, type, bit offset, bitfield width).
    pub fn record(&mut self, kind: u32, name: &str, size: u32, members: &[(&str, u32, u32, u32)]) -> u32 {
        let bitfields = members.iter().any(|m| m.3 > 0);
        let mut tail = Vec::new();
        for &(n, t, off, width) in members {
            tail.extend([self.s(n), t, if bitfields { (width << 24) | off } else { off }]);
        }
        self.raw(name, kind, members.len() as u32, bitfields, size, &tail)
    }

    pub fn func(&mut self, name: &str, ret: u32, params: &[(&str, u32)]) -> u32 {
        let mut tail = Vec::new();
        for &(n, t) in params {
            tail.extend([self.s(n), t]);
        }
        let proto = self.raw("", PROTO, params.len() as u32, false, ret, &tail);
        self.raw(name, FUNC, 1, false, proto, &[])
    }

    pub fn bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let words = [24, 0, self.types.len() as u32, self.types.len() as u32, self.strings.len() as u32];
        out.extend_from_slice(&[0x9f, 0xeb, 1, 0]);
        words.iter().for_each(|w| out.extend_from_slice(&w.to_le_bytes()));
        out.extend_from_slice(&self.types);
        out.extend_from_slice(&self.strings);
        out
    }

    pub fn btf(&self) -> Btf {
        Btf::from_bytes("test.btf", self.bytes(), None).expect("a well-formed blob")
    }
}

fn rec(t: &Type) -> Rc<Record> {
    match t {
        Type::Record(r) => r.clone(),
        Type::Ptr { to, .. } | Type::Array { elem: to, .. } => rec(to),
        other => panic!("not a record: {other:?}"),
    }
}

fn err(r: Result<impl std::fmt::Debug, BtfError>) -> String {
    r.expect_err("an error").to_string()
}

/// A kernel-like blob: `vfs_read` and `struct file`.
fn kernelish() -> Blob {
    let mut b = Blob::new();
    let char_ = b.int("char", 1, false); // 1
    let long = b.int("long int", 8, true); // 2
    let ulong = b.int("long unsigned int", 8, false); // 3
    let size_t = b.typedef("size_t", ulong); // 4
    let ssize_t = b.typedef("ssize_t", long); // 5
    let loff_t = b.typedef("loff_t", long); // 6
    let int = b.int("int", 4, true); // 7
    let file_ptr = b.ptr(10); // 8
    let char_ptr = b.ptr(char_); // 9
    let file =
        b.record(STRUCT, "file", 24, &[("f_count", int, 0, 0), ("f_pos", loff_t, 64, 0), ("f_mode", ulong, 128, 0)]);
    assert_eq!(file, 10);
    let loff_ptr = b.ptr(loff_t); // 11
    b.raw("list_head", STRUCT, 0, false, 16, &[]); // 12
    b.func("vfs_read", ssize_t, &[("file", file_ptr), ("buf", char_ptr), ("count", size_t), ("pos", loff_ptr)]);
    b
}

#[test]
fn function_signature_and_spellings() {
    let btf = kernelish().btf();
    let f = btf.function("vfs_read").unwrap().expect("found");
    let spelled: Vec<(&str, &str)> = f.params.iter().map(|p| (p.name.as_str(), p.c_type.as_str())).collect();
    assert_eq!(spelled, [("file", "struct file *"), ("buf", "char *"), ("count", "size_t"), ("pos", "loff_t *")]);
    assert_eq!((f.ret.clone(), f.ret_c_type.as_str(), f.linkage), (Type::I64, "ssize_t", Linkage::Global));
    assert_eq!(f.params[2].ty, Type::U64);
    assert!(matches!(&f.params[0].ty, Type::Ptr { user: false, .. }));
    assert_eq!(btf.function("vfs_write").unwrap(), None);
    assert_eq!(btf.function_names().unwrap(), ["vfs_read"]);
    assert_eq!(signature_lines(&f)[0], "    struct file * file");
    assert_eq!(signature_lines(&f)[4], "    ssize_t retval");
}

#[test]
fn pointees_are_lazy_and_completed_on_request() {
    let btf = kernelish().btf();
    let f = btf.function("vfs_read").unwrap().unwrap();
    let file = rec(&f.params[0].ty);
    assert!(file.fields.get().is_none());
    btf.complete(&file).unwrap();
    assert_eq!(file.field("f_pos").map(|f| (f.offset, f.ty)), Some((8, Type::I64)));
    // The named type is the same record.
    let named = btf.named_type("struct file", None).unwrap().unwrap();
    assert!(Rc::ptr_eq(&rec(&named), &file));
    // A record this reader did not make is left alone.
    btf.complete(&Record { name: "x".into(), is_union: false, size: 0, fields: Default::default() }).unwrap();
}

#[test]
fn self_referential_and_nested_records() {
    let mut b = Blob::new();
    let int = b.int("int", 4, true); // 1
    let node_ptr = b.ptr(3); // 2 -> struct node
    let node = b.record(STRUCT, "node", 16, &[("v", int, 0, 0), ("next", node_ptr, 64, 0)]); // 3
    let pair = b.record(STRUCT, "", 8, &[("a", int, 0, 0), ("b", int, 32, 0)]); // anonymous
    let arr = b.raw("", ARRAY, 0, false, 0, &[node, int, 2]);
    let u = b.record(UNION, "", 8, &[("x", pair, 0, 0), ("y", int, 0, 0)]);
    b.record(STRUCT, "outer", 48, &[("", u, 0, 0), ("nodes", arr, 64, 0)]);
    b.typedef("pair_t", pair);
    let btf = b.btf();
    let outer = btf.struct_by_name("outer").unwrap().unwrap();
    assert_eq!(outer.field_names(), ["x", "y", "nodes"]);
    assert_eq!(outer.field("y").map(|f| f.offset), Some(0));
    let nodes = outer.field("nodes").unwrap();
    let node = rec(&nodes.ty);
    // Held by value inside an array: it has its fields, and `next` points
    // back at it.
    assert_eq!(node.field("next").map(|f| f.offset), Some(8));
    assert!(Rc::ptr_eq(&rec(&node.field("next").unwrap().ty), &node));
    assert_eq!(nodes.ty.c_size(), 32);
    // A typedef names the anonymous struct behind it (when it gets there first).
    let fresh = b.btf();
    assert_eq!(rec(&fresh.named_type("pair_t", None).unwrap().unwrap()).name, "pair_t");
}

#[test]
fn bitfields_both_encodings() {
    let mut b = Blob::new();
    let uint = b.int("unsigned int", 4, false);
    let u8_ = b.int("unsigned char", 1, false);
    b.record(STRUCT, "flags", 8, &[("a", uint, 0, 3), ("b", uint, 3, 5), ("c", u8_, 8, 0), ("d", uint, 33, 7)]);
    let btf = b.btf();
    let flags = btf.struct_by_name("flags").unwrap().unwrap();
    let bf = |n: &str| flags.field(n).map(|f| (f.offset, f.ty.c_size(), f.bitfield));
    assert_eq!(bf("a"), Some((0, 4, Some((0, 3)))));
    assert_eq!(bf("b"), Some((0, 4, Some((3, 5)))));
    assert_eq!(bf("c"), Some((1, 1, None)));
    assert_eq!(bf("d"), Some((4, 4, Some((1, 7)))));
    // The old encoding: the width is an INT of 3 bits, no kind_flag.
    let mut b = Blob::new();
    let narrow = b.raw("unsigned int", INT, 0, false, 4, &[3]);
    let s = b.s("w");
    b.raw("old", STRUCT, 1, false, 4, &[s, narrow, 5]);
    let old = b.btf().struct_by_name("old").unwrap().unwrap();
    assert_eq!(old.field("w").map(|f| (f.offset, f.bitfield)), Some((0, Some((5, 3)))));
}

#[test]
fn qualifiers_arrays_function_pointers_tags_enums() {
    let mut b = Blob::new();
    let char_ = b.int("char", 1, true); // 1
    let cchar = b.raw("", CONST, 0, false, char_, &[]); // 2
    let p_cchar = b.ptr(cchar); // 3 const char *
    let p_char = b.ptr(char_); // 4
    let const_p = b.raw("", CONST, 0, false, p_char, &[]); // 5 char *const
    let int = b.int("int", 4, true); // 6
    let arr = b.raw("", ARRAY, 0, false, 0, &[int, int, 3]); // 7
    let p_arr = b.ptr(arr); // 8 int (*)[3]
    let void_p = b.ptr(0);
    let proto = b.raw("", PROTO, 2, false, int, &[0, void_p, 0, 0]); // int (void *, ...)
    let fp = b.ptr(proto); // int (*)(void *, ...)
    let user = b.raw("user", TYPE_TAG, 0, false, char_, &[]);
    let p_user = b.ptr(user);
    let e = b.raw("mode", ENUM, 1, true, 4, &[0, -1i32 as u32]);
    b.func("f", 0, &[("a", p_cchar), ("b", const_p), ("c", p_arr), ("d", fp), ("e", p_user), ("m", e), ("", 0)]);
    let fwd = b.raw("later", FWD, 0, false, 0, &[]);
    b.func("g", fwd, &[]);
    b.raw("nowhere", FWD, 0, true, 0, &[]);
    let btf = b.btf();
    let f = btf.function("f").unwrap().unwrap();
    let c: Vec<&str> = f.params.iter().map(|p| p.c_type.as_str()).collect();
    assert_eq!(c, ["const char *", "char *const", "int (*)[3]", "int (*)(void *, ...)", "char *", "enum mode"]);
    assert!(f.variadic && f.ret == Type::Void && f.ret_c_type == "void");
    assert!(matches!(&f.params[3].ty, Type::Ptr { to, .. } if **to == Type::Void));
    assert!(matches!(&f.params[4].ty, Type::Ptr { user: true, .. }));
    assert!(matches!(&f.params[0].ty, Type::Ptr { user: false, .. }));
    assert_eq!(f.params[5].ty, Type::Int { size: 4, signed: true });
    assert_eq!(signature_lines(&f)[6], "    ...");
    // A forward declaration without a definition is an incomplete record.
    let g = btf.function("g").unwrap().unwrap();
    assert_eq!(g.ret_c_type, "struct later");
    assert!(matches!(&g.ret, Type::Record(r) if r.fields().is_empty() && r.fields.get().is_some()));
    assert!(btf.named_type("union nowhere", None).unwrap().is_some());
}

#[test]
fn malformed_headers_are_errors() {
    let good = kernelish().bytes();
    let open = |bytes: Vec<u8>| Btf::from_bytes("bad.btf", bytes, None).map(drop);
    assert!(err(open(good[..10].to_vec())).contains("shorter than the 24-byte header"));
    let mut magic = good.clone();
    magic[0] = 0x7f;
    assert!(err(open(magic)).contains("bad magic 0xeb7f"));
    let mut big = good.clone();
    big[..2].copy_from_slice(&[0xeb, 0x9f]);
    assert!(err(open(big)).contains("big-endian"));
    let mut version = good.clone();
    version[2] = 2;
    assert!(err(open(version)).contains("version 2"));
    assert!(err(open(good[..good.len() - 3].to_vec())).contains("string section"));
    let mut past = good.clone();
    past[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(err(open(past)).contains("runs past the end"));
    // A struct claiming more members than the type section holds.
    let mut b = Blob::new();
    b.raw("s", STRUCT, 500, false, 4, &[]);
    assert!(err(open(b.bytes())).contains("runs past the end of the type section"));
    let mut b = Blob::new();
    b.raw("x", 25, 0, false, 0, &[]);
    assert!(err(open(b.bytes())).contains("kind 25"));
    // Every truncation and every single-byte change of a good blob ends in
    // a result or an error, through every query.
    for cut in 0..good.len() {
        exercise(good[..cut].to_vec());
    }
    for at in 0..good.len() {
        for v in [0x00, 0xff, 0x80, 0x07] {
            let mut m = good.clone();
            m[at] = v;
            exercise(m);
        }
    }
}

/// Every query on a possibly broken blob; panics are the failure.
fn exercise(bytes: Vec<u8>) {
    let Ok(btf) = Btf::from_bytes("m.btf", bytes, None) else { return };
    for name in ["vfs_read", "file", "struct file", "size_t", "list_head", "int"] {
        if let Ok(Some(f)) = btf.function(name) {
            let _ = signature_lines(&f);
            for p in &f.params {
                if let Type::Ptr { to, .. } = &p.ty {
                    if let Type::Record(r) = &**to {
                        let _ = btf.complete(r);
                    }
                }
            }
        }
        let _ = btf.named_type(name, None).map(|t| t.map(|t| t.c_size()));
    }
    let _ = btf.function_names();
    for id in 0..btf.type_count() + 2 {
        let _ = btf.type_by_id(id);
    }
}

#[test]
fn cycles_end_in_errors_not_hangs() {
    let mut b = Blob::new();
    b.typedef("a_t", 2); // 1 -> 2
    b.typedef("b_t", 1); // 2 -> 1
    b.ptr(3); // 3 -> itself
    let s = b.s("me");
    b.raw("loop", STRUCT, 1, false, 4, &[s, 4, 0]); // 4 holds itself by value
    b.raw("", CONST, 0, false, 5, &[]); // 5 const of itself
    b.func("f", 1, &[]);
    let btf = b.btf();
    assert!(err(btf.named_type("a_t", None)).contains("deeper than 64"));
    assert!(err(btf.type_by_id(3)).contains("a reference cycle"));
    assert!(err(btf.function("f")).contains("deeper than 64"));
    assert!(err(btf.type_by_id(5)).contains("deeper than 64"));
    assert!(err(btf.struct_by_name("loop")).contains("struct loop holds itself by value"));
    // Still an error the second time: nothing half-built was kept.
    assert!(err(btf.struct_by_name("loop")).contains("holds itself"));
}

#[test]
fn nesting_by_value_is_bounded() {
    // Anonymous members nest: a cycle through them, and a chain far deeper
    // than any C program's, would overflow `Record::field`'s stack.
    let mut b = Blob::new();
    b.record(UNION, "", 4, &[("", 2, 0, 0)]); // 1 holds 2
    b.record(STRUCT, "outer", 4, &[("", 1, 0, 0)]); // 2 holds 1
    let int = b.int("int", 4, true); // 3
    let mut inner = int;
    for i in 0..200 {
        inner =
            b.record(STRUCT, if i == 199 { "deep" } else { "" }, 4, &[(if i == 0 { "v" } else { "" }, inner, 0, 0)]);
    }
    let huge = b.raw("", ARRAY, 0, false, 0, &[int, int, u32::MAX / 2]);
    let chars = b.raw("", ARRAY, 0, false, 0, &[b.next_id + 1, int, u32::MAX / 4]);
    b.int("char", 1, true);
    let btf = b.btf();
    assert!(err(btf.struct_by_name("outer")).contains("holds itself by value"));
    assert!(err(btf.struct_by_name("deep")).contains("more than 64 deep"));
    // Arrays past 4 GiB, in memory or stored in a map, are not arrays.
    assert_eq!(btf.type_by_id(huge).unwrap(), Type::Unknown);
    assert_eq!(btf.type_by_id(chars).unwrap(), Type::Unknown);
}

#[test]
fn strings_out_of_range_are_errors() {
    let mut b = Blob::new();
    let int = b.int("int", 4, true);
    b.raw("s", STRUCT, 1, false, 4, &[9999, int, 0]);
    b.raw("", FUNC, 1, false, 1, &[]);
    b.raw("bad", FUNC, 1, false, 1, &[]);
    let bytes = b.bytes();
    let btf = Btf::from_bytes("s.btf", bytes, None).unwrap();
    assert!(err(btf.struct_by_name("s")).contains("string offset 9999 is past the string section"));
    // A name at the first byte of the section is the empty string.
    assert_eq!(btf.function_names().unwrap(), ["", "bad"]);
    assert!(btf.function("nothing").unwrap().is_none());
    assert!(err(btf.function("bad")).contains("not a prototype"));
}

#[test]
fn split_btf_continues_ids_and_strings() {
    let base = kernelish();
    let base = Rc::new(base.btf());
    let mut m = Blob::split(&base);
    let file_ptr = 8; // base's `struct file *`
    let int = 7; // base's int
    let own = m.record(STRUCT, "mod_state", 16, &[("file", file_ptr, 0, 0), ("n", int, 64, 0)]);
    let own_ptr = m.ptr(own);
    m.func("mod_fn", int, &[("st", own_ptr), ("count", 4)]);
    let module = Btf::from_bytes("mymod", m.bytes(), Some(base.clone())).unwrap();
    assert_eq!(module.type_count(), 4);
    assert_eq!(module.function_names().unwrap(), ["mod_fn"]);
    let f = module.function("mod_fn").unwrap().unwrap();
    assert_eq!(f.btf_id, base.type_count() + 4);
    assert_eq!(base.type_count(), 14);
    assert_eq!((f.params[0].c_type.as_str(), f.params[1].c_type.as_str()), ("struct mod_state *", "size_t"));
    let st = rec(&f.params[0].ty);
    module.complete(&st).unwrap();
    let file = rec(&st.field("file").unwrap().ty);
    // A base record reached from the module is the base's, completed there.
    module.complete(&file).unwrap();
    assert_eq!(file.field("f_mode").map(|f| f.offset), Some(16));
    assert!(Rc::ptr_eq(&file, &base.struct_by_name("file").unwrap().unwrap()));
    // Lookups fall through to the base.
    assert!(module.function("vfs_read").unwrap().is_some());
    assert_eq!(module.named_type("size_t", None).unwrap(), Some(Type::U64));
    assert!(base.function("mod_fn").unwrap().is_none());
    // A split blob's ids are checked against its own range.
    assert!(err(module.type_by_id(base.type_count() + 9)).contains("does not exist"));
}

#[test]
fn many_lookups_switch_to_the_index_with_the_same_answers() {
    let btf = kernelish().btf();
    for round in 0..3 * SCANS_BEFORE_INDEX {
        assert!(btf.function("vfs_read").unwrap().is_some(), "round {round}");
        assert_eq!(btf.named_type("loff_t", None).unwrap(), Some(Type::I64));
        assert!(btf.named_type("no_such", None).unwrap().is_none());
    }
    assert!(btf.index.get().is_some());
}
