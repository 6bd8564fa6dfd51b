//! Unit tests of the C definitions: layout as GCC on x86-64 (the sizes and
//! offsets below were checked with gcc and bpftrace 0.17), preprocessing,
//! constants, and errors pointing at their span.

use super::*;
use crate::diag::render_to_string;
use crate::frontend::parser::parse_program;
use crate::frontend::types::Field;

/// The definitions of `src`, a script (its probes are not checked).
fn defs_in(src: &str, opts: &Options) -> Result<Built, String> {
    let mut sources = SourceMap::new();
    let file = sources.add("<test>", src.to_string());
    let ast = parse_program(src, file).map_err(|d| render_to_string(&sources, &d))?;
    build(&mut sources, file, &ast.c_text, opts).map_err(|d| render_to_string(&sources, &d))
}

fn defs(src: &str) -> Rc<Defs> {
    defs_in(&format!("{src}\nBEGIN {{ }}"), &Options::default()).unwrap_or_else(|e| panic!("{e}")).defs
}

fn error(src: &str) -> String {
    match defs_in(&format!("{src}\nBEGIN {{ }}"), &Options::default()) {
        Ok(_) => panic!("no error for {src}"),
        Err(e) => e,
    }
}

fn record(d: &Defs, tag: &str, name: &str) -> Rc<Record> {
    match d.named_type(Some(tag), name) {
        Some(Type::Record(r)) => r,
        other => panic!("{tag} {name}: {other:?}"),
    }
}

/// A member's name, offset and bitfield (bit offset, width).
type Placed = (String, u32, Option<(u8, u8)>);

fn offsets(r: &Record) -> Vec<Placed> {
    r.fields().iter().map(|f: &Field| (f.name.clone(), f.offset, f.bitfield)).collect()
}

use crate::frontend::types::Record;

#[test]
fn structs_are_padded_and_aligned_as_c() {
    let d = defs(
        "struct pad { char a; long b; short c; };
         struct arr { short s[3]; char c; int *p[2]; };
         union u { int i; char c[9]; long l; };
         struct shard { int sid; char name[16]; struct { unsigned int epoch; unsigned long version; } v; struct shard *peer; };",
    );
    let pad = record(&d, "struct", "pad");
    assert_eq!(pad.size, 24);
    assert_eq!(offsets(&pad), [("a".into(), 0, None), ("b".into(), 8, None), ("c".into(), 16, None)]);
    let arr = record(&d, "struct", "arr");
    assert_eq!((arr.size, arr.field("c").map(|f| f.offset), arr.field("p").map(|f| f.offset)), (24, Some(6), Some(8)));
    assert_eq!(record(&d, "union", "u").size, 16);
    let shard = record(&d, "struct", "shard");
    assert_eq!(shard.size, 48);
    assert_eq!(shard.field("peer").map(|f| f.offset), Some(40));
    // The member points back to the record itself.
    let Some(Type::Ptr { to, .. }) = shard.field("peer").map(|f| f.ty) else { panic!() };
    assert!(matches!(&*to, Type::Record(r) if r.field("sid").is_some()));
}

#[test]
fn bitfields_fill_units_without_straddling() {
    let d = defs("struct bits { unsigned a:3, b:5; unsigned short c:9; char d; unsigned :0; int e:4; };");
    let r = record(&d, "struct", "bits");
    assert_eq!(r.size, 12);
    assert_eq!(
        offsets(&r),
        [
            ("a".into(), 0, Some((0, 3))),
            ("b".into(), 0, Some((3, 5))),
            ("c".into(), 2, Some((0, 9))),
            ("d".into(), 4, None),
            ("e".into(), 8, Some((0, 4))),
        ]
    );
}

#[test]
fn anonymous_members_typedefs_enums_and_attributes() {
    let d = defs(
        "typedef unsigned long long u64_t;
         typedef struct { u64_t x; union { int i; short s; }; } anon_t;
         enum e { A, B = 10, C, D = -1 };
         enum big { HUGE = 0x100000000 };
         struct __attribute__((packed)) pk { char a; int b; };
         struct al { char a; } __attribute__((aligned(16)));
         typedef int (*handler_t)(int, char *);
         struct f { handler_t h; enum e kind; float x; double y; };",
    );
    let anon = d.named_type(None, "anon_t");
    let Some(Type::Record(anon)) = anon else { panic!("{anon:?}") };
    assert_eq!((anon.size, anon.field("s").map(|f| f.offset)), (16, Some(8)));
    assert_eq!(d.named_type(Some("enum"), "e"), Some(Type::Int { size: 4, signed: true }));
    assert_eq!(d.named_type(Some("enum"), "big"), Some(Type::Int { size: 8, signed: false }));
    assert_eq!(d.constant("C"), Some(Ok(Const::Int(11))));
    assert_eq!(d.constant("D"), Some(Ok(Const::Int(-1))));
    assert_eq!(record(&d, "struct", "pk").size, 5);
    assert_eq!(record(&d, "struct", "al").size, 16);
    let f = record(&d, "struct", "f");
    assert_eq!((f.size, f.field("y").map(|f| f.offset)), (24, Some(16)));
}

#[test]
fn defines_and_conditionals() {
    let d = defs(
        "#define N 4
         #define TWICE (N * 2)
         #define NAME \"db\" \"-x\"
         #define FN(x) (x)
         #define EMPTY
         #ifdef N
         struct a { char c[TWICE]; };
         #else
         struct a { int broken; };
         #endif
         #if defined(NOPE) || N > 3
         #define BIG 1
         #elif 1
         #define BIG 2
         #endif
         #if 0
         garbage that is never read ((
         #endif",
    );
    assert_eq!(record(&d, "struct", "a").size, 8);
    assert_eq!(d.constant("TWICE"), Some(Ok(Const::Int(8))));
    assert_eq!(d.constant("BIG"), Some(Ok(Const::Int(1))));
    assert_eq!(d.constant("NAME"), Some(Ok(Const::Str("db-x".into()))));
    assert!(matches!(d.constant("FN"), Some(Err((_, why))) if why.contains("function-like")));
    assert!(matches!(d.constant("EMPTY"), Some(Err((_, why))) if why.contains("without a value")));
}

#[test]
fn header_declarations_trace_does_not_use_are_read_past() {
    let dir = std::env::temp_dir().join(format!("trace-cdecl-header-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(
        dir.join("decls.h"),
        "_Static_assert(sizeof(int) == 4, \"int\");
         extern int counter, *pointers[2];
         static inline int twice(int x) { return x * 2; }
         int printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
         #define MAX(a, b) ((a) > (b) ? (a) : (b))
         struct after { int ok; };\r\n#define LONG \\\r\n 7\r\n",
    )
    .expect("write");
    let opts = Options { include_dirs: vec![dir.clone()], includes: vec!["decls.h".into()] };
    let built = defs_in("BEGIN { }", &opts).unwrap_or_else(|e| panic!("{e}"));
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(record(&built.defs, "struct", "after").size, 4);
    assert_eq!(built.defs.constant("LONG"), Some(Ok(Const::Int(7))));
}

#[test]
fn probes_in_a_skipped_conditional_are_dropped() {
    let src = "#if 0\nBEGIN { printf(\"no\"); }\n#endif\nEND { }";
    let built = defs_in(src, &Options::default()).expect("builds");
    let start = src.find("BEGIN").expect("in source");
    assert!(built.skipped.iter().any(|&(a, b)| a <= start && start < b), "{:?}", built.skipped);
}

#[test]
fn system_headers_are_not_read_and_say_so() {
    let built = defs_in("#include <linux/sched.h>\n#include <net/sock.h>\nBEGIN { }", &Options::default()).expect("ok");
    assert_eq!(built.warnings.len(), 1);
    assert_eq!(built.warnings[0].message, "trace does not read header files; types come from BTF");
    assert_eq!(built.defs.unread_headers.len(), 2);
}

#[test]
fn local_includes_use_the_include_path() {
    let dir = std::env::temp_dir().join(format!("trace-cdecl-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(dir.join("inc.h"), "#ifndef INC_H\n#define INC_H\nstruct inc { long a; };\n#endif\n")
        .expect("write");
    let opts = Options { include_dirs: vec![dir.clone()], includes: vec!["inc.h".into()] };
    let built = defs_in("#include \"inc.h\"\n#include \"inc.h\"\nBEGIN { }", &opts).expect("builds");
    assert_eq!(record(&built.defs, "struct", "inc").size, 8);
    let missing = defs_in("#include \"nope.h\"\nBEGIN { }", &opts).err().expect("fails");
    assert!(missing.contains("cannot find the included file `nope.h`"), "{missing}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn errors_point_at_the_definition() {
    let e = error("struct a { int x; };\nstruct a { int y; };");
    assert!(e.contains("struct a is defined twice") && e.contains("2:8"), "{e}");
    let e = error("struct a { int x;\n");
    assert!(e.contains("unterminated struct a: no closing `}`"), "{e}");
    let e = error("struct a { struct a inner; };");
    assert!(e.contains("struct a contains itself"), "{e}");
    let e = error("struct a { int x : 40; };");
    assert!(e.contains("wider than its 32-bit type"), "{e}");
    let e = error("#if 1\nstruct a { int x; };");
    assert!(e.contains("`#if` without `#endif`"), "{e}");
    let e = error("#line 3");
    assert!(e.contains("`#line` directive is not supported"), "{e}");
    let e = error("struct a { int x[N]; };");
    assert!(e.contains("`N` is not a known constant"), "{e}");
    let e = error("enum { X, X };");
    assert!(e.contains("enumerator `X` is defined twice"), "{e}");
}

#[test]
fn deep_nesting_is_refused_not_a_stack_overflow() {
    let first_line = |e: &str| e.lines().next().unwrap_or("").to_string();
    let e = error(&format!("struct a {{ int {}x{}; }};", "(".repeat(100_000), ")".repeat(100_000)));
    assert!(e.contains("nested more than 64 levels"), "{}", first_line(&e));
    let e = error(&format!("struct a {{ {} int x; {} }};", "struct {".repeat(10_000), "} y;".repeat(10_000)));
    assert!(e.contains("nested more than 64 levels"), "{}", first_line(&e));
    let e = error(&format!("enum {{ X = {}1 }};", "1 ? ".repeat(100_000)));
    assert!(e.contains("nested too deeply"), "{}", first_line(&e));
    let chain: String = (1..2000).map(|i| format!("typedef t{} t{i};\n", i - 1)).collect();
    let e = error(&format!("typedef int t0;\n{chain}struct s {{ t1999 x; }};"));
    assert!(!e.is_empty());
}

#[test]
fn garbage_never_panics() {
    let pieces = [
        "struct",
        "{",
        "}",
        ";",
        "int",
        "*",
        "(",
        ")",
        "[",
        "]",
        "x",
        ":",
        "3",
        "#define",
        "#if",
        "#endif",
        "\n",
        "union",
        "enum",
        "=",
        ",",
        "typedef",
        "__attribute__",
        "/*",
        "\"",
    ];
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..2000 {
        let mut src = String::new();
        for _ in 0..(seed % 24) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            src += pieces[(seed % pieces.len() as u64) as usize];
            src.push(' ');
        }
        let _ = defs_in(&format!("{src}\nBEGIN {{ }}"), &Options::default());
    }
}
