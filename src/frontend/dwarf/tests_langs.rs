//! C++ and Rust binaries (namespaces, classes with bases, references,
//! objects passed by invisible reference, Rust's named pointer types and
//! unspecified aggregate ABI; skipped when g++ or rustc is missing), and
//! gcc's specialized function copies.

use super::tests::{built, c_types, dir, field, func, info, int, locs, ptr, record, unavailable, CX, DI, DX, SI};
use super::*;
use std::process::Command;

const SHARD_CC: &str = r#"
#include <cstdint>
#include <string>
namespace store {
struct Base { int64_t id; virtual ~Base() {} };
struct Shard : Base { int sid; char name[8]; Shard *peer; int get(int k) const; };
int __attribute__((noipa)) Shard::get(int k) const { return sid + k; }
struct NonTrivial { NonTrivial(const NonTrivial &o) : v(o.v) {} NonTrivial(int x) : v(x) {} int v; };
struct Plain { int a; long b; };
int __attribute__((noipa)) take(NonTrivial nt, int &ref, const std::string &s, Shard &&sh, Plain p)
{ return nt.v + ref + (int)s.size() + sh.sid + p.a; }
template <typename T> T __attribute__((noipa)) twice(T x) { return x * 2; }
}
int main()
{
    store::Shard s;
    s.sid = 1;
    int r = 2;
    std::string str("x");
    return s.get(3) + store::take(store::NonTrivial(1), r, str, store::Shard(), store::Plain{1, 2}) + store::twice<long>(4);
}
"#;

const POINT_RS: &str = r#"
#[repr(C)]
pub struct Point { pub x: i64, pub y: u32, pub next: *const Point }
pub struct Pair { pub a: u64, pub b: u64, pub c: u64 }
#[no_mangle]
#[inline(never)]
pub extern "C" fn point_sum(p: *const Point, n: u64) -> i64 { unsafe { (*p).x + n as i64 } }
#[inline(never)]
pub fn rust_abi(a: u32, pair: Pair, b: &Point) -> u64 { a as u64 + pair.c + b.y as u64 }
fn main() {
    let p = Point { x: 1, y: 2, next: std::ptr::null() };
    let s = point_sum(&p, std::hint::black_box(3));
    let r = rust_abi(1, Pair { a: 1, b: 2, c: 3 }, &p);
    println!("{s} {r}");
}
"#;

fn have(tool: &str) -> bool {
    Command::new(tool).arg("--version").output().is_ok_and(|o| o.status.success())
}

/// The one function symbol whose name contains `part` (for mangled names).
fn symbol(bin: &Path, part: &str) -> String {
    let syms = crate::frontend::elf::open(bin).expect("elf");
    let names: Vec<&str> = syms.function_names().filter(|n| n.contains(part)).collect();
    assert_eq!(names.len(), 1, "{part}: {names:?}");
    names[0].to_string()
}

#[test]
fn cplusplus() {
    if !have("g++") {
        eprintln!("g++ not installed; skipped");
        return;
    }
    std::fs::write(dir().join("shard.cc"), SHARD_CC).expect("write shard.cc");
    let bin = built("shard-cc", "g++ -g -O0 -o shard-cc shard.cc");
    let d = info(&bin);

    // A const member function: `this` first, in rdi.
    let f = func(&d, &symbol(&bin, "Shard3get"));
    assert_eq!(c_types(&f), ["const Shard *const", "int"]);
    assert_eq!((f.params[0].name.as_str(), locs(&f)), ("this", vec![DI, SI]));
    let shard = record(&f.params[0].ty);
    assert_eq!((shard.name.as_str(), shard.size), ("Shard", 40));
    // The base class is an anonymous member: its fields are reachable.
    assert_eq!(shard.field_names(), ["_vptr.Base", "id", "sid", "name", "peer"]);
    assert_eq!((field(&shard, "id").offset, field(&shard, "sid").offset), (8, 16));
    assert!(Rc::ptr_eq(&record(&field(&shard, "peer").ty), &shard));

    // A class with a user copy constructor travels by invisible reference
    // (still taking rdi); references are pointers; a trivial 16-byte
    // struct takes the two registers after them.
    let f = func(&d, &symbol(&bin, "store4take"));
    assert_eq!(c_types(&f), ["NonTrivial", "int &", "const string &", "Shard &&", "Plain"]);
    unavailable(&f.params[0].loc, "invisible reference");
    assert_eq!(locs(&f)[1..4], [SI, DX, CX]);
    unavailable(&f.params[4].loc, "registers (r8, r9)");
    assert_eq!(f.params[1].ty, ptr(int(4, true)));
    assert!(Rc::ptr_eq(&record(&f.params[3].ty), &shard));

    let f = func(&d, &symbol(&bin, "twiceIl"));
    assert_eq!((c_types(&f), locs(&f), &f.ret), (vec!["long int"], vec![DI], &int(8, true)));

    // Types are indexed under their qualified names.
    let t = d.named_type("store::Shard", None).expect("lookup").expect("store::Shard");
    assert!(Rc::ptr_eq(&record(&t), &shard));
    assert_eq!(d.named_type("class store::Plain", None).expect("lookup").map(|t| record(&t).size), Some(16));
}

#[test]
fn rust() {
    if !have("rustc") {
        eprintln!("rustc not installed; skipped");
        return;
    }
    std::fs::write(dir().join("point.rs"), POINT_RS).expect("write point.rs");
    let bin = built("point-rs", "rustc -g -C opt-level=0 -o point-rs point.rs");
    let d = info(&bin);

    let f = func(&d, "point_sum");
    assert_eq!((c_types(&f), locs(&f)), (vec!["*const point::Point", "u64"], vec![DI, SI]));
    let p = record(&f.params[0].ty);
    assert_eq!((p.name.as_str(), p.size, field(&p, "y").offset), ("Point", 24, 8));
    assert_eq!(f.ret, int(8, true));

    // Rust's own ABI: scalars as in C, aggregates unspecified.
    let f = func(&d, &symbol(&bin, "rust_abi"));
    assert_eq!(c_types(&f), ["u32", "Pair", "&point::Point"]);
    assert_eq!(f.params[0].loc, DI);
    unavailable(&f.params[1].loc, "Rust");
    unavailable(&f.params[2].loc, "follows a Rust struct");

    let t = d.named_type("point::Point", None).expect("lookup").expect("point::Point");
    assert!(Rc::ptr_eq(&record(&t), &p));
}

#[test]
fn gcc_clones_are_not_trusted() {
    std::fs::write(
        dir().join("clone.c"),
        "static __attribute__((noinline)) int helper(int unused, int x, const char *s) { return x * 3 + s[0]; }\n\
         int main(int argc, char **argv) { return helper(5, argc, argv[0]); }\n",
    )
    .expect("write clone.c");
    let bin = built("clone", "gcc -g -O2 -o clone clone.c");
    let d = info(&bin);
    let name = symbol(&bin, "helper");
    if name == "helper" {
        eprintln!("this gcc did not clone helper; skipped");
        return;
    }
    // Found by address through the concrete instance's abstract origin.
    let f = func(&d, &name);
    assert_eq!(c_types(&f), ["int", "int", "const char *"]);
    for p in &f.params {
        unavailable(&p.loc, "specialized");
    }
}
