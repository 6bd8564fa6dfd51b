//! Tests against real binaries built here with gcc, in every DWARF shape a
//! user's binary may come in; the compiler itself (a layout-printing mode of
//! the target) and `bpftrace -lv` are the oracles where they can be.

use super::abi::{locations, AbiType, Kind, Leaf};
use super::*;
use crate::frontend::elf::test_support::temp_dir;
use crate::frontend::types::{Field, Record};
use std::collections::HashMap;
use std::process::Command;
use std::sync::Mutex;

const TYPES_C: &str = r#"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define TRACED __attribute__((noipa, used))

typedef struct {
    uint32_t epoch;
    uint64_t version;
} db_version_t;

typedef struct db_shard_t {
    int sid;
    char name[16];
    db_version_t version;
    struct db_shard_t *peer;
} db_shard_t;

union u { int i; long l; unsigned char bytes[8]; };
enum color { RED, GREEN = 5, BLUE };
enum neg { NEG = -1, POS = 1 };

struct flags {
    unsigned a : 3;
    int b : 5;
    unsigned c : 30;
    long long d : 40;
    unsigned char e : 1;
    enum neg n : 2;
};

struct __attribute__((packed)) packed_bits {
    unsigned char tag;
    unsigned x : 30;
    int y : 7;
};

struct outer {
    int kind;
    union { int i; float f; };
    struct { short lo, hi; };
    int grid[2][3];
    const char *volatile names[4];
    char flex[];
};

struct small { int x, y; };
struct pair { long x, y; };
struct big { long a, b, c; };
typedef int (*callback_t)(int);

volatile long sink;

TRACED int snapshot(db_shard_t *shard, long n) { sink = shard->sid; return (int)n; }
TRACED void db_log_rotate(db_shard_t *shard) { shard->version.epoch++; }
TRACED long many(long a, int b, short c, char d, unsigned long e, void *f, long g, int h)
{ return a + b + c + d + (long)e + (long)f + g + h; }
TRACED double mixed(double x, int a, float y, const char *s) { return x + a + y + s[0]; }
TRACED long by_value(struct small s, struct big b, int after) { return s.x + b.c + after; }
TRACED long spill(long a, long b, long c, long d, long e, struct pair p, long g) { return a + b + c + d + e + p.y + g; }
TRACED struct big ret_big(int a, long b) { struct big r = {a, b, 3}; return r; }
TRACED db_shard_t *find_shard(int sid, const char *name) { (void)name; return sid ? 0 : (db_shard_t *)&sink; }
TRACED int with_types(union u *pu, enum color c, struct flags *f, struct outer *o, struct packed_bits *p,
                      bool ok, size_t len, callback_t cb, int (*raw)(const char *, ...), unsigned char uc)
{ return pu->i + c + f->a + o->kind + p->x + ok + (int)len + cb(1) + (raw ? 1 : 0) + uc; }
TRACED int arrays(int grid[2][3], const char names[][8], char *const *argv) { return grid[1][2] + names[0][0] + (argv != 0); }
TRACED int variadic(const char *fmt, ...) { return fmt[0]; }

static int cb1(int x) { return x; }

/* The layout oracle: the bits a bitfield covers, found by setting it to all ones. */
static void bits(const char *name, const void *p, size_t n)
{
    const unsigned char *b = p;
    int first = -1, last = -1;
    for (size_t i = 0; i < n * 8; i++)
        if (b[i / 8] >> (i % 8) & 1) {
            if (first < 0)
                first = (int)i;
            last = (int)i;
        }
    printf("%s %d %d\n", name, first, last);
}
#define BITS(T, f) do { struct T s; memset(&s, 0, sizeof s); s.f = -1; bits(#T "." #f, &s, sizeof s); } while (0)

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "layout") == 0) {
        BITS(flags, a); BITS(flags, b); BITS(flags, c); BITS(flags, d); BITS(flags, e); BITS(flags, n);
        BITS(packed_bits, x); BITS(packed_bits, y);
        printf("flags.size %zu %zu\npacked_bits.size %zu %zu\nouter.size %zu %zu\n", sizeof(struct flags),
               sizeof(struct flags), sizeof(struct packed_bits), sizeof(struct packed_bits),
               sizeof(struct outer), sizeof(struct outer));
        return 0;
    }
    db_shard_t s = {0};
    union u uu = {0};
    struct flags fl = {0};
    struct outer o = {0};
    struct packed_bits pb = {0};
    struct small sm = {1, 2};
    struct big bg = {1, 2, 3};
    struct pair pr = {1, 2};
    int grid[2][3] = {{0}};
    const char names[1][8] = {"x"};
    snapshot(&s, 1);
    db_log_rotate(&s);
    sink = many(1, 2, 3, 4, 5, 0, 7, 8);
    sink = (long)mixed(1.0, 2, 3.0f, "s");
    sink = by_value(sm, bg, 3);
    sink = spill(1, 2, 3, 4, 5, pr, 7);
    sink = ret_big(1, 2).c;
    sink = (long)find_shard(argc, "x");
    sink = with_types(&uu, GREEN, &fl, &o, &pb, true, 3, cb1, 0, 7);
    sink = arrays(grid, names, argv);
    sink = variadic("x", 1, 2);
    return 0;
}
"#;

/// Run a shell command line in the test directory, failing the test loudly.
pub(super) fn sh(cmd: &str) {
    let out = Command::new("sh").arg("-c").arg(cmd).current_dir(dir()).output().expect("run sh");
    assert!(out.status.success(), "{cmd}: {}", String::from_utf8_lossy(&out.stderr));
}

pub(super) fn dir() -> PathBuf {
    let d = temp_dir().join("dwarf");
    std::fs::create_dir_all(&d).expect("create test dir");
    d
}

/// Build `name` once per test process with `script` (run in the test
/// directory); concurrent tests wait for the first build.
pub(super) fn built(name: &str, script: &str) -> PathBuf {
    static BUILT: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let mut done = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if !done.iter().any(|n| n == name) {
        std::fs::write(dir().join("types.c"), TYPES_C).expect("write types.c");
        sh(script);
        done.push(name.to_string());
    }
    dir().join(name)
}

fn types_bin(flags: &str) -> PathBuf {
    let name = format!("types{}", flags.replace([' ', '='], "_"));
    built(&name, &format!("gcc {flags} -o {name} types.c"))
}

pub(super) fn info(path: &Path) -> Rc<DebugInfo> {
    load(path).expect("load").expect("debug info present")
}

pub(super) fn func(d: &DebugInfo, name: &str) -> Function {
    d.function(name).expect("function lookup").unwrap_or_else(|| panic!("{name} not found"))
}

pub(super) fn record(t: &Type) -> Rc<Record> {
    match t {
        Type::Record(r) => r.clone(),
        Type::Ptr { to, .. } => record(to),
        other => panic!("not a record: {other:?}"),
    }
}

pub(super) fn field(r: &Record, name: &str) -> Field {
    r.field(name).unwrap_or_else(|| panic!("{} has no field {name}; has {:?}", r.name, r.field_names()))
}

pub(super) const fn int(size: u8, signed: bool) -> Type {
    Type::Int { size, signed }
}

pub(super) fn array(elem: Type, len: u32) -> Type {
    Type::Array { elem: Rc::new(elem), len }
}

pub(super) fn ptr(to: Type) -> Type {
    Type::Ptr { to: Rc::new(to), user: true }
}

pub(super) const DI: ParamLoc = ParamLoc::Reg { pt_regs_offset: 112 };
pub(super) const SI: ParamLoc = ParamLoc::Reg { pt_regs_offset: 104 };
pub(super) const DX: ParamLoc = ParamLoc::Reg { pt_regs_offset: 96 };
pub(super) const CX: ParamLoc = ParamLoc::Reg { pt_regs_offset: 88 };
pub(super) const R8: ParamLoc = ParamLoc::Reg { pt_regs_offset: 72 };
pub(super) const R9: ParamLoc = ParamLoc::Reg { pt_regs_offset: 64 };

fn stack(sp_offset: i64) -> ParamLoc {
    ParamLoc::Stack { sp_offset }
}

pub(super) fn unavailable(loc: &ParamLoc, why: &str) {
    match loc {
        ParamLoc::Unavailable(s) => assert!(s.contains(why), "{s:?} does not say {why:?}"),
        other => panic!("expected unavailable ({why}), got {other:?}"),
    }
}

pub(super) fn locs(f: &Function) -> Vec<ParamLoc> {
    f.params.iter().map(|p| p.loc.clone()).collect()
}

pub(super) fn c_types(f: &Function) -> Vec<&str> {
    f.params.iter().map(|p| p.c_type.as_str()).collect()
}

/// The bit ranges the compiler itself reports (`./types layout`).
fn oracle(bin: &Path) -> HashMap<String, (u64, u64)> {
    let out = Command::new(bin).arg("layout").output().expect("run layout oracle");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            Some((w.first()?.to_string(), (w.get(1)?.parse().ok()?, w.get(2)?.parse().ok()?)))
        })
        .collect()
}

/// Everything the test program's DWARF must say, whatever its shape.
/// `layout_bin` is a runnable build of the same source.
fn check_types_binary(bin: &Path, layout_bin: &Path) {
    let d = info(bin);

    // The db target's types, and a self-referential struct.
    let f = func(&d, "db_log_rotate");
    assert_eq!(f.params.len(), 1);
    assert_eq!(
        (f.params[0].name.as_str(), f.params[0].c_type.as_str(), &f.params[0].loc),
        ("shard", "db_shard_t *", &DI)
    );
    assert_eq!((&f.ret, f.ret_c_type.as_str()), (&Type::Void, "void"));
    let shard = record(&f.params[0].ty);
    assert_eq!((shard.name.as_str(), shard.is_union, shard.size), ("db_shard_t", false, 48));
    let expect = [
        ("sid", 0, int(4, true)),
        ("name", 4, array(int(1, true), 16)),
        ("peer", 40, ptr(Type::Record(shard.clone()))),
    ];
    for (name, offset, ty) in expect {
        let fd = field(&shard, name);
        assert_eq!((fd.offset, &fd.ty, fd.bitfield), (offset, &ty, None), "db_shard_t.{name}");
    }
    let peer = field(&shard, "peer");
    assert!(Rc::ptr_eq(&record(&peer.ty), &shard), "peer points back to the same record");
    let version = field(&shard, "version");
    assert_eq!(version.offset, 24);
    let v = record(&version.ty);
    assert_eq!((v.name.as_str(), v.size), ("db_version_t", 16));
    assert_eq!((field(&v, "epoch").offset, field(&v, "epoch").ty), (0, int(4, false)));
    assert_eq!((field(&v, "version").offset, field(&v, "version").ty), (8, int(8, false)));

    let f = func(&d, "snapshot");
    assert_eq!(c_types(&f), ["db_shard_t *", "long int"]);
    assert_eq!(locs(&f), [DI, SI]);
    assert_eq!((f.ret.clone(), f.ret_c_type.as_str()), (int(4, true), "int"));
    assert_eq!(c_prototype(&f), ["    db_shard_t* shard", "    long int n"]);

    // Six registers, then the stack above the return address.
    let f = func(&d, "many");
    assert_eq!(c_types(&f), ["long int", "int", "short int", "char", "long unsigned int", "void *", "long int", "int"]);
    assert_eq!(locs(&f), [DI, SI, DX, CX, R8, R9, stack(8), stack(16)]);
    let tys: Vec<Type> = f.params.iter().map(|p| p.ty.clone()).collect();
    assert_eq!(
        tys,
        [
            int(8, true),
            int(4, true),
            int(2, true),
            int(1, true),
            int(8, false),
            ptr(Type::Void),
            int(8, true),
            int(4, true)
        ]
    );

    // Floating point takes SSE registers, not integer ones.
    let f = func(&d, "mixed");
    assert_eq!(c_types(&f), ["double", "int", "float", "const char *"]);
    unavailable(&f.params[0].loc, "SSE register");
    assert_eq!(f.params[1].loc, DI);
    unavailable(&f.params[2].loc, "SSE register");
    assert_eq!(f.params[3].loc, SI);
    assert_eq!((f.ret.clone(), f.ret_c_type.as_str()), (Type::Unknown, "double"));
    assert_eq!(f.params[3].ty, ptr(int(1, true)));

    // Structs by value: ≤ 16 bytes in registers, larger on the stack.
    let f = func(&d, "by_value");
    assert_eq!(c_types(&f), ["struct small", "struct big", "int"]);
    unavailable(&f.params[0].loc, "registers (rdi)");
    assert_eq!(f.params[1].loc, stack(8));
    assert_eq!(record(&f.params[1].ty).size, 24);
    assert_eq!(f.params[2].loc, SI);

    // A 16-byte struct needing two registers when one is left goes to the
    // stack, and the next integer still gets that register.
    let f = func(&d, "spill");
    assert_eq!(locs(&f), [DI, SI, DX, CX, R8, stack(8), R9]);

    // A struct returned in memory takes rdi for its address.
    let f = func(&d, "ret_big");
    assert_eq!(locs(&f), [SI, DX]);
    assert_eq!((record(&f.ret).name.as_str(), f.ret_c_type.as_str()), ("big", "struct big"));

    let f = func(&d, "find_shard");
    assert_eq!(c_types(&f), ["int", "const char *"]);
    assert_eq!(f.ret_c_type, "db_shard_t *");
    assert!(Rc::ptr_eq(&record(&f.ret), &shard), "one DIE, one record");

    let f = func(&d, "with_types");
    assert_eq!(
        c_types(&f),
        [
            "union u *",
            "enum color",
            "struct flags *",
            "struct outer *",
            "struct packed_bits *",
            "_Bool",
            "size_t",
            "callback_t",
            "int (*)(const char *, ...)",
            "unsigned char"
        ]
    );
    assert_eq!(locs(&f), [DI, SI, DX, CX, R8, R9, stack(8), stack(16), stack(24), stack(32)]);
    let tys: Vec<Type> = f.params[5..].iter().map(|p| p.ty.clone()).collect();
    assert_eq!(tys, [int(1, false), int(8, false), ptr(Type::Void), ptr(Type::Void), int(1, false)]);
    assert_eq!(f.params[1].ty, int(4, false), "enum color has no negative values");

    let u = record(&f.params[0].ty);
    assert_eq!((u.name.as_str(), u.is_union, u.size), ("u", true, 8));
    for (name, ty) in [("i", int(4, true)), ("l", int(8, true)), ("bytes", array(int(1, false), 8))] {
        assert_eq!((field(&u, name).offset, field(&u, name).ty), (0, ty), "union u.{name}");
    }

    // Bitfields, checked against where the compiler put the bits.
    let layout = oracle(layout_bin);
    let flags = record(&f.params[2].ty);
    let packed = record(&f.params[4].ty);
    for (rec, tag) in [(&flags, "flags"), (&packed, "packed_bits")] {
        assert_eq!(Some(&(rec.size as u64, rec.size as u64)), layout.get(&format!("{tag}.size")), "sizeof {tag}");
        for fd in rec.fields() {
            let Some((shift, width)) = fd.bitfield else { continue };
            let Type::Int { size, .. } = fd.ty else { panic!("{tag}.{} is {:?}", fd.name, fd.ty) };
            let first = fd.offset as u64 * 8 + shift as u64;
            let last = first + width as u64 - 1;
            assert_eq!(Some(&(first, last)), layout.get(&format!("{tag}.{}", fd.name)), "{tag}.{}", fd.name);
            assert!(shift as u32 + width as u32 <= size as u32 * 8, "{tag}.{} fits its load", fd.name);
            assert!(fd.offset + size as u32 <= rec.size, "{tag}.{} loads inside the struct", fd.name);
        }
    }
    let sign = |r: &Record, n: &str| match field(r, n).ty {
        Type::Int { signed, .. } => signed,
        other => panic!("{n}: {other:?}"),
    };
    assert_eq!(
        ["a", "b", "c", "d", "e", "n"].map(|n| sign(&flags, n)),
        [false, true, false, true, false, true],
        "bitfield signedness (enum neg has a negative value)"
    );
    assert_eq!(["x", "y"].map(|n| sign(&packed, n)), [false, true]);
    assert_eq!(field(&flags, "c").bitfield, Some((0, 30)));
    assert_eq!((field(&flags, "c").offset, field(&flags, "d").offset), (4, 8));
    assert_eq!(flags.fields().len(), 6);
    assert_eq!(field(&packed, "tag").ty, int(1, false));

    // Anonymous members, a 2-D array, qualified pointers, a flexible array.
    let o = record(&f.params[3].ty);
    assert_eq!(Some(&(o.size as u64, o.size as u64)), layout.get("outer.size"));
    assert_eq!(o.field_names(), ["kind", "i", "f", "lo", "hi", "grid", "names", "flex"]);
    let expect = [
        ("kind", 0, int(4, true)),
        ("i", 4, int(4, true)),
        ("f", 4, Type::Unknown),
        ("lo", 8, int(2, true)),
        ("hi", 10, int(2, true)),
        ("grid", 12, array(array(int(4, true), 3), 2)),
        ("names", 40, array(ptr(int(1, true)), 4)),
        ("flex", 72, array(int(1, true), 0)),
    ];
    for (name, offset, ty) in expect {
        let fd = field(&o, name);
        assert_eq!((fd.offset, &fd.ty), (offset, &ty), "outer.{name}");
    }
    let anon: Vec<(u32, bool)> =
        o.fields().iter().filter(|f| f.name.is_empty()).map(|f| (f.offset, record(&f.ty).is_union)).collect();
    assert_eq!(anon, [(4, true), (8, false)]);

    // Array parameters decay to pointers to arrays.
    let f = func(&d, "arrays");
    assert_eq!(c_types(&f), ["int (*)[3]", "const char (*)[8]", "char *const *"]);
    assert_eq!(f.params[0].ty, ptr(array(int(4, true), 3)));
    assert_eq!(f.params[2].ty, ptr(ptr(int(1, true))));
    assert_eq!(c_prototype(&f), ["    int (*)[3] grid", "    const char (*)[8] names", "    char* const* argv"]);

    let f = func(&d, "variadic");
    assert_eq!((c_types(&f), locs(&f)), (vec!["const char *"], vec![DI]));

    // Named types.
    let named = |n: &str, tag| d.named_type(n, tag).expect("named_type");
    assert!(Rc::ptr_eq(&record(&named("db_shard_t", None).expect("typedef")), &shard));
    assert_eq!(record(&named("db_shard_t", Some(TypeTag::Struct)).expect("tag")).name, "db_shard_t");
    assert_eq!(record(&named("db_version_t", None).expect("anonymous struct typedef")).name, "db_version_t");
    assert_eq!(named("db_version_t", Some(TypeTag::Struct)), None, "a typedef name is not a tag");
    assert_eq!(record(&named("u", Some(TypeTag::Union)).expect("union")).size, 8);
    assert_eq!(record(&named("struct flags", None).expect("struct prefix")).fields().len(), 6);
    assert_eq!(named("color", Some(TypeTag::Enum)), Some(int(4, false)));
    assert_eq!(named("enum neg", None), Some(int(4, true)));
    assert_eq!(named("size_t", None), Some(int(8, false)));
    assert_eq!(named("callback_t", None), Some(ptr(Type::Void)));
    assert_eq!(named("unsigned char", None), Some(int(1, false)));
    assert_eq!(named("no_such_type", None), None);
    assert_eq!(named("u", Some(TypeTag::Struct)), None);

    assert_eq!(d.function("no_such_function").expect("lookup"), None);
}

#[test]
fn o0_dwarf5() {
    let bin = types_bin("-g -O0");
    check_types_binary(&bin, &bin);
    assert_eq!(info(&bin).debug_file(), std::fs::canonicalize(&bin).expect("canonical"));
}

#[test]
fn o2() {
    let bin = types_bin("-g -O2");
    check_types_binary(&bin, &bin);
}

#[test]
fn dwarf4() {
    // DWARF 4 spells bitfields with DW_AT_bit_offset from the MSB.
    let bin = types_bin("-g -gdwarf-4 -O0");
    check_types_binary(&bin, &bin);
}

#[test]
fn compressed_sections() {
    for flags in ["-g -gz=zlib -O0", "-g -gz=zlib-gnu -O0"] {
        let bin = types_bin(flags);
        check_types_binary(&bin, &bin);
    }
    let plain = types_bin("-g -O0");
    let zstd = built("types-zstd", "objcopy --compress-debug-sections=zstd types-g_-O0 types-zstd");
    check_types_binary(&zstd, &plain);
}

#[test]
fn separate_debug_file() {
    let plain = types_bin("-g -O0");
    // --strip-debug keeps .symtab; --strip-all leaves only .dynsym, so the
    // functions' addresses must come from the debug file's symbol table.
    for strip in ["--strip-debug", "--strip-all"] {
        let bin = built(
            &format!("types{strip}"),
            &format!(
                "mkdir -p sep{strip} && objcopy --only-keep-debug types-g_-O0 sep{strip}/types.debug && \
                 objcopy {strip} --add-gnu-debuglink=sep{strip}/types.debug types-g_-O0 sep{strip}/types && \
                 mv sep{strip}/types types{strip}"
            ),
        );
        // The debuglink names only the file; it is found beside the binary.
        sh(&format!("cp sep{strip}/types.debug types.debug"));
        let d = info(&bin);
        assert_eq!(d.debug_file().file_name().and_then(|n| n.to_str()), Some("types.debug"));
        check_types_binary(&bin, &plain);
    }
}

#[test]
fn debuglink_in_dot_debug_and_crc_checked() {
    let _ = types_bin("-g -O0");
    let bin = built(
        "linked",
        "mkdir -p .debug && objcopy --only-keep-debug types-g_-O0 .debug/linked.debug && \
         objcopy --strip-debug --add-gnu-debuglink=.debug/linked.debug types-g_-O0 linked && \
         cp .debug/linked.debug corrupt.debug && \
         objcopy --strip-debug --add-gnu-debuglink=corrupt.debug types-g_-O0 corrupt && \
         echo x >> corrupt.debug",
    );
    let d = info(&bin);
    assert!(d.debug_file().ends_with(".debug/linked.debug"), "{}", d.debug_file().display());
    assert_eq!(func(&d, "db_log_rotate").params[0].c_type, "db_shard_t *");
    // corrupt.debug beside it differs from what the link's CRC recorded.
    let corrupt = dir().join("corrupt");
    assert!(load(&corrupt).expect("load").is_none(), "a debug file with the wrong CRC is not used");
}

#[test]
fn no_debug_info_is_none() {
    let bin = types_bin("-O0");
    assert!(load(&bin).expect("load").is_none());
    // Cached: the same answer without reading again.
    assert!(load(&bin).expect("load").is_none());
    assert!(matches!(load(Path::new("/nonexistent/binary")), Err(DwarfError::Io { .. })));
}

#[test]
fn bpftrace_prints_the_same_prototypes() {
    let bin = types_bin("-g -O0");
    let Ok(out) = Command::new("bpftrace").arg("-lv").arg(format!("uprobe:{}:*", bin.display())).output() else {
        eprintln!("bpftrace not installed; skipped");
        return;
    };
    let mut theirs: HashMap<String, Vec<String>> = HashMap::new();
    let mut current = None;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        if let Some(name) = line.strip_prefix("uprobe:").and_then(|l| l.rsplit(':').next()) {
            current = Some(name.to_string());
            theirs.insert(name.to_string(), Vec::new());
        } else if let Some(v) = current.as_ref().and_then(|c| theirs.get_mut(c)) {
            v.push(line.to_string());
        }
    }
    if theirs.is_empty() {
        eprintln!("bpftrace -lv printed nothing ({}); skipped", String::from_utf8_lossy(&out.stderr));
        return;
    }
    let d = info(&bin);
    // bpftrace cannot spell pointers to arrays or functions ("<unknown
    // type>*"), so `arrays` and `with_types` are compared above instead.
    for name in [
        "snapshot",
        "db_log_rotate",
        "many",
        "mixed",
        "by_value",
        "spill",
        "ret_big",
        "find_shard",
        "variadic",
        "main",
        "cb1",
    ] {
        assert_eq!(Some(&c_prototype(&func(&d, name))), theirs.get(name), "{name}");
    }
}

#[test]
fn libc_malloc_through_build_id() {
    let libc = Path::new("/lib/x86_64-linux-gnu/libc.so.6");
    let start = std::time::Instant::now();
    let Some(d) = load(libc).expect("load libc") else {
        eprintln!("no debug info for libc (libc6-dbg not installed); skipped");
        return;
    };
    let loaded = start.elapsed();
    assert!(d.debug_file().starts_with("/usr/lib/debug/.build-id/"), "{}", d.debug_file().display());
    assert_eq!(d.parsed_units(), 0, "load parses nothing");
    let f = func(&d, "malloc");
    let looked_up = start.elapsed();
    eprintln!("libc: load {loaded:?}, load + malloc lookup {looked_up:?}");
    assert_eq!(f.name, "malloc");
    assert_eq!(f.params.len(), 1);
    let p = &f.params[0];
    assert_eq!((p.name.as_str(), p.c_type.as_str(), &p.ty, &p.loc), ("bytes", "size_t", &int(8, false), &DI));
    assert_eq!((f.ret.clone(), f.ret_c_type.as_str()), (ptr(Type::Void), "void *"));
    assert_eq!(d.parsed_units(), 1, "one function, one compile unit");
    // A second function of the same unit costs no further walk.
    let f = func(&d, "free");
    assert_eq!((f.params[0].c_type.as_str(), &f.params[0].loc), ("void *", &DI));
    assert!(d.parsed_units() <= 2);
    // Cached per path: loading again is the same object.
    assert!(Rc::ptr_eq(&d, &info(libc)));
}

/// A program of many compile units, each with its own function and struct.
fn many_units(n: usize) -> PathBuf {
    let mut script = String::from("mkdir -p units && cd units && ");
    script.push_str(&format!(
        "for i in $(seq 0 {}); do printf 'struct s%d {{ long a; int b[%d]; }};\\n\
         int __attribute__((noipa)) f%d(struct s%d *p, int x) {{ return p->b[0] + x; }}\\n' \
         $i $((i + 1)) $i $i > u$i.c; done && ",
        n - 1
    ));
    script.push_str("printf 'int main(void) { return 0; }\\n' > main.c && gcc -g -O0 -o ../units-bin *.c && cd .. && ");
    script.push_str("objcopy --remove-section=.debug_aranges units-bin units-noaranges");
    built("units-bin", &script)
}

#[test]
fn one_lookup_walks_one_unit() {
    let bin = many_units(200);
    for bin in [bin.clone(), dir().join("units-noaranges")] {
        let d = info(&bin);
        let f = func(&d, "f137");
        assert_eq!(d.parsed_units(), 1, "{}: f137 found by address, one unit walked", bin.display());
        assert_eq!(c_types(&f), ["struct s137 *", "int"]);
        let s = record(&f.params[0].ty);
        assert_eq!((s.size, field(&s, "b").ty.clone()), (8 + 4 * 138, array(int(4, true), 138)));
        // Its own unit already answers for its types.
        assert!(d.named_type("s137", Some(TypeTag::Struct)).expect("lookup").is_some());
        assert_eq!(d.parsed_units(), 1);
        // Another unit's type walks units in file order (main.c, u0.c, ...)
        // until one defines it.
        let t = d.named_type("s0", Some(TypeTag::Struct)).expect("lookup").expect("s0");
        assert_eq!(record(&t).size, 16);
        assert!(d.parsed_units() <= 3, "{}", d.parsed_units());
        let t = d.named_type("s199", Some(TypeTag::Struct)).expect("lookup").expect("s199");
        assert_eq!(record(&t).size, 8 + 4 * 200);
    }
}

#[test]
fn name_scan_without_symbols() {
    // No symbol table at all: only a scan of the units by name finds f5.
    let bin = many_units(200);
    let _ = bin;
    let stripped = built("units-nosyms", "strip --strip-all --keep-section='.debug_*' units-bin -o units-nosyms");
    let d = info(&stripped);
    let f = func(&d, "f5");
    assert_eq!(c_types(&f), ["struct s5 *", "int"]);
    assert_eq!(f.params[1].loc, SI);
}

#[test]
fn malformed_dwarf_is_an_error_not_a_panic() {
    let plain = types_bin("-g -O0");
    let bytes = std::fs::read(&plain).expect("read");
    let file = object::File::parse(&*bytes).expect("parse");
    use object::{Object, ObjectSection};
    let mut regions = Vec::new();
    for name in [".debug_info", ".debug_abbrev", ".debug_str_offsets", ".debug_aranges"] {
        if let Some((off, len)) = file.section_by_name(name).and_then(|s| s.file_range()) {
            regions.push((off as usize, len as usize));
        }
    }
    // A deterministic sequence of corruptions: every query must return,
    // with an answer or an error.
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut errors = 0;
    for round in 0..48 {
        let mut copy = bytes.clone();
        let (off, len) = regions[round % regions.len()];
        for _ in 0..1 + round % 6 {
            let at = off + (next() as usize) % len.max(1);
            copy[at] = next() as u8;
        }
        let path = dir().join(format!("corrupt-{round}"));
        std::fs::write(&path, &copy).expect("write");
        let Ok(Some(d)) = load(&path) else { continue };
        for name in ["many", "with_types", "db_log_rotate", "arrays", "no_such"] {
            errors += d.function(name).is_err() as usize;
        }
        for name in ["db_shard_t", "struct outer", "size_t"] {
            errors += d.named_type(name, None).is_err() as usize;
        }
        let _ = std::fs::remove_file(&path);
    }
    assert!(errors > 0, "some corruption was noticed");
}

#[test]
fn errors_name_the_file() {
    let plain = types_bin("-g -O0");
    let mut bytes = std::fs::read(&plain).expect("read");
    let file = object::File::parse(&*bytes).expect("parse");
    use object::{Object, ObjectSection};
    let (off, len) = file.section_by_name(".debug_abbrev").and_then(|s| s.file_range()).expect("abbrev");
    drop(file);
    bytes[off as usize..(off + len) as usize].fill(0xff);
    let path = dir().join("bad-abbrev");
    std::fs::write(&path, &bytes).expect("write");
    let d = info(&path);
    let e = d.function("many").expect_err("garbage abbreviations");
    assert!(matches!(e, DwarfError::Malformed { .. }), "{e:?}");
    assert!(e.to_string().contains("bad-abbrev"), "{e}");
}

#[test]
fn abi_corner_cases() {
    let int8 = AbiType { size: 8, align: 8, kind: Kind::Scalar(Leaf::Int) };
    let dbl = AbiType { size: 8, align: 8, kind: Kind::Scalar(Leaf::Float) };
    let ld = AbiType { size: 16, align: 16, kind: Kind::Scalar(Leaf::X87) };
    let i128 = AbiType { size: 16, align: 16, kind: Kind::Scalar(Leaf::Int) };
    let void = AbiType { size: 0, align: 1, kind: Kind::Void };
    let agg = |size, leaves: Vec<(u64, u64, Leaf)>| AbiType {
        size,
        align: 8,
        kind: Kind::Aggregate { leaves, unaligned: false, by_reference: false },
    };

    // Nine doubles: the ninth is on the stack; integers keep their registers.
    let mut params = vec![dbl.clone(); 9];
    params.push(int8.clone());
    let l = locations(&void, &params, false);
    unavailable(&l[0], "SSE");
    unavailable(&l[8], "on the stack at sp+8");
    assert_eq!(l[9], DI);

    // long double goes to the stack, 16-aligned; __int128 takes a pair.
    let l = locations(&void, &[int8.clone(), ld.clone(), int8.clone(), i128.clone(), int8.clone()], false);
    assert_eq!(l[0], DI);
    unavailable(&l[1], "floating-point value (on the stack at sp+16)");
    assert_eq!(l[2], SI);
    unavailable(&l[3], "128-bit integer split across rdx and rcx");
    assert_eq!(l[4], R8);

    // A double and a long in one 16-byte struct: one SSE, one INTEGER register.
    let mixed = agg(16, vec![(0, 8, Leaf::Float), (8, 8, Leaf::Int)]);
    let l = locations(&void, &[mixed, int8.clone()], false);
    unavailable(&l[0], "registers (rdi, xmm0)");
    assert_eq!(l[1], SI);

    // Hidden result pointer for a large struct; none for long double.
    let big = agg(24, vec![(0, 8, Leaf::Int), (8, 8, Leaf::Int), (16, 8, Leaf::Int)]);
    assert_eq!(locations(&big, std::slice::from_ref(&int8), false), [SI]);
    assert_eq!(locations(&ld, std::slice::from_ref(&int8), false), [DI]);

    // Rust aggregates make the rest unknowable; unknown layouts too.
    let small = agg(8, vec![(0, 8, Leaf::Int)]);
    let l = locations(&void, &[int8.clone(), small, int8.clone()], true);
    assert_eq!(l[0], DI);
    unavailable(&l[1], "Rust");
    unavailable(&l[2], "follows a Rust struct");
    let unknown = AbiType { size: 4, align: 4, kind: Kind::Unknown };
    let l = locations(&void, &[unknown, int8], false);
    unavailable(&l[1], "follows a parameter of unknown layout");
}

#[test]
fn spelling_and_crc() {
    assert_eq!(bpftrace_spelling("char *const *"), "char* const*");
    assert_eq!(bpftrace_spelling("const char *"), "const char*");
    assert_eq!(bpftrace_spelling("int (*)(const char *, ...)"), "int (*)(const char*, ...)");
    assert_eq!(locate::crc32(b"123456789"), 0xCBF4_3926);
    assert_eq!(split_tag("struct  x"), ("x", Some(TypeTag::Struct)));
}
