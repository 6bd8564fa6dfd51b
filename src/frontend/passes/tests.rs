//! Unit tests of the semantic passes: what type checking accepts, the types
//! it assigns, and the diagnostics it gives, on programs that need no
//! binary (BEGIN, END, tracepoints, intervals).

use super::*;
use crate::diag::render_to_string;
use crate::frontend::ast::{ExprKind, StmtKind};
use crate::frontend::parser::parse_program;
use crate::frontend::types::AggKind;
use crate::source::SourceMap;

fn check_text(text: &str, args: &[&str]) -> Result<CheckedProgram, String> {
    let mut sources = SourceMap::new();
    let file = sources.add("<test>", text);
    let ast = parse_program(text, file).map_err(|d| render_to_string(&sources, &d))?;
    let params = Params { args: args.iter().map(|s| s.to_string()).collect(), ..Params::default() };
    check(&ast, &ProbeContext::default(), &params).map_err(|d| render_to_string(&sources, &d))
}

fn error_of(text: &str) -> String {
    match check_text(text, &[]) {
        Ok(_) => panic!("expected an error for {text}"),
        Err(e) => e,
    }
}

#[test]
fn map_value_kinds_are_unified_across_probes() {
    let p =
        check_text("BEGIN { @c = count(); @h[1, \"a\"] = hist(2); @s = \"x\"; } END { @s = \"longer\"; @n++; }", &[])
            .expect("checks");
    let kind = |n: &str| p.maps.get(n).and_then(|m| m.value);
    assert_eq!(kind("c"), Some(MapValue::Agg(AggKind::Count)));
    assert_eq!(kind("h"), Some(MapValue::Agg(AggKind::Hist)));
    assert_eq!(kind("s"), Some(MapValue::Str { size: 7 }), "string slots grow to the longest");
    assert_eq!(kind("n"), Some(MapValue::Int { signed: true }));
    assert_eq!(p.maps.get("h").map(|m| m.keys.clone()), Some(vec![Type::I64, Type::Str { size: 2 }]));
}

#[test]
fn a_map_read_before_the_probe_that_assigns_it_is_fine() {
    check_text("BEGIN { if (@x > 1) { exit(); } } END { @x = 2; }", &[]).expect("map types are learnt first");
}

#[test]
fn conflicting_map_uses_point_at_both() {
    let e = error_of("BEGIN { @x = count(); } END { @x = 1; }");
    assert!(e.contains("map @x holds count() but is assigned an integer"), "{e}");
    assert!(e.contains("count() assigned here"), "{e}");
    let e = error_of("BEGIN { @m[1] = 1; @m[\"a\"] = 2; }");
    assert!(e.contains("key type mismatch"), "{e}");
    let e = error_of("BEGIN { @m[1] = 1; @m[1, 2] = 2; }");
    assert!(e.contains("different number of keys"), "{e}");
}

#[test]
fn aggregations_are_values_only_where_they_are_one_integer() {
    assert!(check_text("BEGIN { @c = count(); printf(\"%d\\n\", @c + 1); }", &[]).is_ok());
    assert!(error_of("BEGIN { @h = hist(1); printf(\"%d\\n\", @h); }").contains("cannot be read in an expression"));
    assert!(error_of("BEGIN { $x = count(); }").contains("can only be assigned to a map"));
    assert!(error_of("BEGIN { @l = lhist(1, 10, 0, 1); }").contains("min < max"));
}

#[test]
fn names_get_suggestions() {
    let e = error_of("BEGIN { printf(\"%d\\n\", cmm); }");
    assert!(e.contains("unknown identifier `cmm`") && e.contains("did you mean `comm`?"), "{e}");
    let e = error_of("BEGIN { cont(); }");
    assert!(e.contains("unknown function `cont`") && e.contains("did you mean `count()`?"), "{e}");
    assert!(error_of("BEGIN { ntop(1); }").contains("trace does not support yet"));
}

#[test]
fn builtins_exist_only_where_they_mean_something() {
    assert!(error_of("BEGIN { @ = arg0; }").contains("`arg0` is not available in `BEGIN`"));
    assert!(error_of("BEGIN { @ = retval; }").contains("only in uretprobe and kretprobe probes"));
    assert!(error_of("interval:s:1 { @ = args.x; }").contains("only in tracepoint, uprobe, fentry and fexit probes"));
}

#[test]
fn tracepoint_fields_take_their_types_from_the_format() {
    if crate::frontend::tracefs::skip_without_tracefs() {
        return;
    }
    let p = check_text("t:syscalls:sys_enter_openat { @[str(args.filename), args.flags] = count(); }", &[])
        .expect("checks");
    let keys = p.maps.get("").map(|m| m.keys.clone()).expect("anonymous map");
    assert_eq!(keys, vec![Type::Str { size: 64 }, Type::U64], "syscall arguments are unsigned in the format");
    let e = error_of("t:syscalls:sys_enter_openat { @ = args.nosuch; }");
    assert!(e.contains("has no field `nosuch`") && e.contains("filename"), "{e}");
}

#[test]
fn printf_arguments_match_the_format() {
    assert!(error_of("BEGIN { printf(\"%d %d\\n\", 1); }").contains("expects 2 argument(s), 1 given"));
    assert!(error_of("BEGIN { printf(\"%s\\n\", 1); }").contains("expects a string"));
    assert!(error_of("BEGIN { printf(\"%q\\n\", 1); }").contains("invalid printf format"));
    check_text("BEGIN { printf(\"%-16s %05d %lu\\n\", comm, pid, nsecs); }", &[]).expect("checks");
}

#[test]
fn operators_need_matching_types() {
    assert!(error_of("BEGIN { @ = comm + 1; }").contains("cannot be applied to string[16] and int64"));
    assert!(error_of("BEGIN { $x = 1; $x = \"s\"; }").contains("$x holds int64 but is assigned"));
    check_text("BEGIN { if (comm == \"trace\") { @ = 1 ? 2 : 3; } }", &[]).expect("string equality is fine");
}

#[test]
fn positional_parameters_become_literals() {
    let p = check_text("BEGIN { @a = $1; @b = $2; @c = $#; @d = $3; }", &["5", "five"]).expect("checks");
    let stmts = &p.probes[0].body.stmts;
    let value = |i: usize| match &stmts[i].kind {
        StmtKind::AssignMap { value, .. } => value.kind.clone(),
        _ => unreachable!("assignments"),
    };
    assert!(matches!(value(0), ExprKind::Int(5)));
    assert!(matches!(value(1), ExprKind::Str(ref s) if s == "five"));
    assert!(matches!(value(2), ExprKind::Int(2)));
    assert!(matches!(value(3), ExprKind::Int(0)), "missing parameters are zero");
}

#[test]
fn casts_truncate_and_sign() {
    let p = check_text("BEGIN { @a = (uint8)257; @b = (int8)255; }", &[]).expect("checks");
    assert_eq!(p.maps.get("a").and_then(|m| m.value), Some(MapValue::Int { signed: false }));
    assert_eq!(p.maps.get("b").and_then(|m| m.value), Some(MapValue::Int { signed: true }));
}

/// Builds `NAME.c` from `c` with `gcc -g -O0` in the test directory.
fn build_c(name: &str, c: &str) -> std::path::PathBuf {
    let dir = crate::frontend::elf::test_support::temp_dir();
    let src = dir.join(format!("{name}.c"));
    std::fs::write(&src, c).expect("write the C source");
    let bin = dir.join(name);
    let built = std::process::Command::new("gcc").args(["-g", "-O0", "-o"]).arg(&bin).arg(&src).status();
    assert!(built.expect("run gcc").success(), "gcc {name}.c");
    bin
}

/// Found by the fuzzer (tests/fuzz.rs) in a binary whose `long` had been
/// given 72 bytes: a parameter on the stack whose type has no value in the
/// type model passed checking without a diagnostic, and code generation
/// failed with an internal error (`printf`), or the map it was stored in
/// was called "never assigned" (`@ = args.g`). A real `__int128` seventh
/// argument does the same.
#[test]
fn a_parameter_of_an_unreadable_type_is_reported() {
    let c = "__attribute__((noinline, used)) long many(long a, long b, long c, long d, long e, long f, __int128 g)\n\
             { return a + (long)g; }\n\
             int main(void) { return (int)many(1, 2, 3, 4, 5, 6, 7); }\n";
    let bin = build_c("int128", c);
    for body in ["printf(\"%d\\n\", args.g);", "@ = args.g;"] {
        let e = error_of(&format!("uprobe:{}:many {{ {body} }}", bin.display()));
        assert!(e.contains("parameter `g` has a type trace cannot read: __int128"), "{body}: {e}");
        assert!(!e.contains("never assigned"), "{body}: {e}");
    }
    check_text(&format!("uprobe:{}:many {{ @ = args.f; }}", bin.display()), &[]).expect("the others read");
}

/// Found by the fuzzer (tests/fuzz.rs): a whole struct, union, array or
/// `args` as an expression statement passed checking, and code generation
/// then failed with an internal error.
#[test]
fn a_statement_is_never_a_whole_struct_or_array() {
    let c = "struct rec { int id; char name[8]; short grid[2][3]; union { int i; long l; } u; };\n\
             int __attribute__((noinline, used)) take(struct rec *r) { return r->id; }\n\
             int main(void) { struct rec r = {0}; return take(&r); }\n";
    let bin = build_c("records", c);
    let probe = |body: &str| format!("uprobe:{}:take {{ {body} }}", bin.display());
    for (stmt, what) in [
        ("*args.r;", "struct rec cannot be a statement"),
        ("args.r->u;", "cannot be a statement"),
        ("args.r->grid;", "cannot be a statement"),
        ("args.r->grid[1];", "cannot be a statement"),
        ("args;", "cannot be a statement"),
    ] {
        let e = error_of(&probe(stmt));
        assert!(e.contains(what) && e.contains("read one of its fields"), "{stmt}: {e}");
    }
    // Scalars and strings are still fine, and so are the same reads used
    // through a field or an element.
    check_text(&probe("args.r; args.r->id; args.r->name; args.r->grid[1][2]; (*args.r).u.l;"), &[]).expect("checks");
}

/// Found by the fuzzer (tests/fuzz.rs): `args.pp[0x8000000000000000]`
/// overflowed computing the constant offset (a panic in debug builds, a
/// read of `pp[0]` in release ones).
#[test]
fn a_constant_index_beyond_any_address_is_refused() {
    let c = "struct node { long id; };\n\
             long __attribute__((noinline, used)) chain(struct node **pp) { return pp[0]->id; }\n\
             int main(void) { struct node n = {1}; struct node *p = &n; return (int)chain(&p); }\n";
    let bin = build_c("chain", c);
    let probe = |e: &str| format!("uprobe:{}:chain {{ @ = {e}; }}", bin.display());
    for far in ["args.pp[0x8000000000000000]->id", "args.pp[0]->id + args.pp[17592186044417]->id"] {
        let e = error_of(&probe(far));
        assert!(e.contains("is out of reach: 8-byte elements"), "{far}: {e}");
    }
    check_text(&probe("args.pp[17592186044416]->id + args.pp[-3]->id + args.pp[arg1]->id"), &[]).expect("in reach");
}
