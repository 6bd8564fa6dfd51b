//! Translation of each specifier form, argdist's defaults, labels, the
//! colon cases argdist itself gets wrong, and every diagnostic with the
//! part of the specifier it points at.
//!
//! Specifiers name the test target (tests/targets/db.c, built here with and
//! without `-g`) by absolute path; printed programs show it as `DB` and
//! `NODEBUG`. Every translation is also type-checked and lowered, so what
//! is printed here is a program the rest of the pipeline accepts.

use super::*;
use crate::diag::render_to_string;
use crate::frontend::elf::test_support::temp_dir;
use crate::frontend::parser::parse_program;
use crate::frontend::passes::{self, Params};
use crate::frontend::tracefs::tracefs_readable;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use SpecKind::{Count as C, Hist as H};

fn gcc(out: &str, flags: &[&str]) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/targets/db.c");
    let out = temp_dir().join(out);
    let status = std::process::Command::new("gcc").args(flags).arg("-o").arg(&out).arg(&src).status();
    assert!(status.expect("run gcc").success(), "gcc {flags:?} failed");
    out
}

/// db with debug info.
fn db() -> &'static str {
    static DB: OnceLock<String> = OnceLock::new();
    DB.get_or_init(|| gcc("argdist-db", &["-g", "-O0"]).display().to_string())
}

/// db without debug info.
fn db_nodebug() -> &'static str {
    static DB: OnceLock<String> = OnceLock::new();
    DB.get_or_init(|| gcc("argdist-db-nodebug", &["-O0"]).display().to_string())
}

/// `DB` and `NODEBUG` in a specifier stand for the two builds.
fn with_paths(spec: &str) -> String {
    spec.replace("NODEBUG", db_nodebug()).replace("DB", db())
}

fn shorten(text: &str) -> String {
    text.replace(db_nodebug(), "NODEBUG").replace(db(), "DB")
}

fn compile(specs: &[(&str, SpecKind)]) -> (SourceMap, Vec<FileId>, Result<ArgdistProgram, Vec<Diagnostic>>) {
    let mut sources = SourceMap::new();
    let files: Vec<FileId> =
        specs.iter().enumerate().map(|(i, (s, _))| sources.add(format!("spec{i}"), with_paths(s))).collect();
    let list: Vec<(FileId, SpecKind)> = files.iter().zip(specs).map(|(f, (_, k))| (*f, *k)).collect();
    let out = compile_specs(&list, &sources, &ArgdistOptions::default());
    (sources, files, out)
}

/// Type-check and lower the translation, as the pipeline will.
fn check_and_lower(sources: &SourceMap, p: &ArgdistProgram) {
    let checked = passes::check(&p.program, &ProbeContext::default(), &Params::default())
        .unwrap_or_else(|d| panic!("{}\n{}", program_text(&p.program), render_to_string(sources, &d)));
    crate::codegen::lower::lower_program(&checked, &Default::default())
        .unwrap_or_else(|d| panic!("{}\n{}", program_text(&p.program), render_to_string(sources, &d)));
    // The printed text is the same program: it parses back to itself.
    let text = program_text(&p.program);
    let reparsed = parse_program(&text, 0).unwrap_or_else(|d| panic!("{text}: {d:?}"));
    assert_eq!(program_text(&reparsed), text);
}

/// The translated program's text (checked and lowered), the outputs and
/// the warnings.
fn ok_many(specs: &[(&str, SpecKind)]) -> (String, Vec<SpecOutput>, Vec<String>) {
    let (sources, _, out) = compile(specs);
    match out {
        Ok(p) => {
            check_and_lower(&sources, &p);
            let warnings =
                p.warnings.iter().map(|d| shorten(&render_to_string(&sources, std::slice::from_ref(d)))).collect();
            (shorten(&program_text(&p.program)), p.outputs, warnings)
        }
        Err(d) => panic!("{specs:?}:\n{}", render_to_string(&sources, &d)),
    }
}

fn ok(spec: &str, kind: SpecKind) -> String {
    let (text, _, warnings) = ok_many(&[(spec, kind)]);
    assert!(warnings.is_empty(), "{spec}: {warnings:?}");
    text
}

fn output(spec: &str, kind: SpecKind) -> SpecOutput {
    ok_many(&[(spec, kind)]).1.remove(0)
}

/// The first diagnostic: its message, the spec text it points at, its
/// notes, and the whole rendering.
fn err(spec: &str, kind: SpecKind) -> (String, String, String, String) {
    let (sources, files, out) = compile(&[(spec, kind)]);
    let diags = match out {
        Ok(p) => panic!("{spec}: expected an error, got\n{}", program_text(&p.program)),
        Err(d) => d,
    };
    let d = diags.iter().find(|d| d.is_error()).expect("an error");
    let (span, _) = d.primary.clone().unwrap_or_else(|| panic!("{spec}: no span in {d:?}"));
    assert_eq!(span.file, files[0], "{spec}: points into its own spec");
    let pointed = shorten(sources.slice(span));
    let rendered = shorten(&render_to_string(&sources, &diags));
    (shorten(&d.message), pointed, d.notes.join("\n"), rendered)
}

/// The first error after type checking the translation.
fn check_err(spec: &str, kind: SpecKind) -> (String, String) {
    let (sources, _, out) = compile(&[(spec, kind)]);
    let p = out.unwrap_or_else(|d| panic!("{}", render_to_string(&sources, &d)));
    let d = passes::check(&p.program, &ProbeContext::default(), &Params::default()).expect_err("a type error");
    let (span, _) = d[0].primary.clone().expect("span");
    (shorten(&d[0].message), sources.slice(span).to_string())
}

#[test]
fn the_issue_examples() {
    assert_eq!(
        ok("p:DB:db_log_rotate(db_shard_t* shard):u32:shard->version.epoch", C),
        "uprobe:DB:db_log_rotate { @__ad_0[(uint32)args.shard->version.epoch] = count(); }\n"
    );
    // libc's debug info (when installed) names the third parameter
    // `nbytes`: parameters are positional, as in argdist.
    let write = ok("p:c:write(int fd, void *buf, size_t len):size_t:len:fd==1", H);
    assert!(
        write == "uprobe:c:write /args.fd == 1/ { @__ad_0 = hist((uint64)args.nbytes); }\n"
            || write == "uprobe:c:write /(int32)arg0 == 1/ { @__ad_0 = hist((uint64)arg2); }\n",
        "{write}"
    );
    assert_eq!(
        ok("r:DB:snapshot():u64:$latency", H),
        "uprobe:DB:snapshot { @__ad_start_0[tid] = nsecs; }\n\
         uretprobe:DB:snapshot /@__ad_start_0[tid]/ { @__ad_0 = hist((uint64)(nsecs - @__ad_start_0[tid])); delete(@__ad_start_0[tid]); }\n"
    );
    assert_eq!(ok("r:DB:snapshot():int:$retval", C), "uretprobe:DB:snapshot { @__ad_0[(int32)retval] = count(); }\n");
    assert_eq!(
        ok("p:DB:snapshot(db_shard_t *shard, long n):int,long:shard->sid,n", C),
        "uprobe:DB:snapshot { @__ad_0[(int32)args.shard->sid, (int64)args.n] = count(); }\n"
    );
    if tracefs_readable() {
        assert_eq!(
            ok("t:syscalls:sys_enter_openat():int:args->flags", C),
            "tracepoint:syscalls:sys_enter_openat { @__ad_0[(int32)args->flags] = count(); }\n"
        );
    }
    // argdist's `u:` is a USDT probe, whatever the issue's example meant:
    // db has no USDT probe `snapshot`, it has `db:checkpoint(sid, n)`.
    let (msg, at, notes, _) = err("u:DB:snapshot():int:arg1#snapshots per shard", C);
    assert_eq!((msg.as_str(), at.as_str()), ("USDT probe `snapshot` not found in DB", "snapshot"));
    assert!(notes.contains("trace -l 'usdt:"), "{notes}");
}

/// `u:LIB:[PROVIDER:]NAME()`: argdist numbers the probe's arguments from
/// `arg1`; a signature names them in order.
#[test]
fn usdt_specifiers() {
    assert_eq!(
        ok("u:DB:checkpoint():int:arg1#checkpoints per shard", C),
        "usdt:DB:checkpoint { @__ad_0[(int32)arg0] = count(); }\n"
    );
    assert_eq!(ok("u:DB:db:checkpoint():long:arg2", H), "usdt:DB:db:checkpoint { @__ad_0 = hist((int64)arg1); }\n");
    assert_eq!(
        ok("u:DB:db:checkpoint(int sid, long n):int:sid:n > 10", C),
        "usdt:DB:db:checkpoint /(int64)arg1 > 10/ { @__ad_0[(int32)arg0] = count(); }\n"
    );
    assert_eq!(ok("u:DB:checkpoint()", C), "usdt:DB:checkpoint { @__ad_0 = count(); }\n");
    let (msg, at, _, _) = err("u:DB:db:checkpoint():int:$retval", C);
    assert_eq!((msg.as_str(), at.as_str()), ("`$retval` is only available in return probes (`r:`)", "$retval"));
    let (msg, at) = check_err("u:DB:checkpoint():int:arg3", C);
    assert_eq!(
        (msg.as_str(), at.as_str()),
        ("`arg2` is out of range: `usdt:DB:db:checkpoint` has 2 arguments, arg0 to arg1", "arg3")
    );
}

#[test]
fn without_debug_info_parameters_are_registers() {
    assert_eq!(
        ok("p:NODEBUG:snapshot(db_shard_t *shard, long n):long:n:n > 2", C),
        "uprobe:NODEBUG:snapshot /(int64)arg1 > 2/ { @__ad_0[(int64)arg1] = count(); }\n"
    );
    assert_eq!(
        ok("p:NODEBUG:db_get(void *shard, const char *key):char*,u64:key,shard", C),
        "uprobe:NODEBUG:db_get { @__ad_0[str((char *)arg1, 80), (uint64)arg0] = count(); }\n"
    );
    assert_eq!(
        ok("p:NODEBUG:db_flush(long a, unsigned char b, short c, unsigned int d, uint64_t e, s8 f):u8,s16:b,c+f", C),
        "uprobe:NODEBUG:db_flush { @__ad_0[(uint8)arg1, (int16)((int16)arg2 + (int8)arg5)] = count(); }\n"
    );
    // A struct pointer needs the binary's types: our usual diagnostic, on
    // the type in the signature.
    let (msg, at) = check_err("p:NODEBUG:snapshot(db_shard_t *shard):int:shard->sid", C);
    assert!(msg.contains("has no debug info, which the type `db_shard_t` needs"), "{msg}");
    assert_eq!(at, "db_shard_t *");
}

#[test]
fn debug_info_is_checked_against_the_signature() {
    let (text, _, warnings) = ok_many(&[("p:DB:snapshot(char *shard, int n, long extra):u64:n", C)]);
    assert_eq!(text, "uprobe:DB:snapshot { @__ad_0[(uint64)args.n] = count(); }\n");
    assert_eq!(warnings.len(), 3, "{warnings:?}");
    assert!(
        warnings[0].contains("parameter 1 of `snapshot` is `db_shard_t *` in the debug info, not `char *`"),
        "{}",
        warnings[0]
    );
    assert!(warnings[0].contains("^^^^^^"), "{}", warnings[0]);
    assert!(
        warnings[1].contains("parameter 2 of `snapshot` is `long int` in the debug info, not `int`"),
        "{}",
        warnings[1]
    );
    assert!(warnings[2].contains("lists 2 parameter(s)"), "{}", warnings[2]);
    // Loosely equal spellings are fine.
    for sig in [
        "struct db_shard_t *s, s64 n",
        "void *s, long long n",
        "db_shard_t* s, ssize_t n",
        "const db_shard_t *s, long int n",
    ] {
        let (_, _, w) = ok_many(&[(&format!("p:DB:snapshot({sig}):u64:n"), C)]);
        assert!(w.is_empty(), "{sig}: {w:?}");
    }
    // A parameter the debug info does not list is read from its register.
    let (text, _, w) = ok_many(&[("p:DB:db_log_rotate(db_shard_t *shard, int x):int:x", C)]);
    assert_eq!(text, "uprobe:DB:db_log_rotate { @__ad_0[(int32)arg1] = count(); }\n");
    assert_eq!(w.len(), 1);
}

#[test]
fn defaults_as_argdist() {
    assert_eq!(ok("p:DB:snapshot()", C), "uprobe:DB:snapshot { @__ad_0 = count(); }\n");
    let o = output("p:DB:snapshot()", C);
    assert_eq!(o.default_label.as_deref(), Some("total calls"));
    assert!(o.expr_labels.is_empty());
    if tracefs_readable() {
        let tp = "tracepoint:syscalls:sys_enter_getpid { @__ad_0 = count(); }\n";
        assert_eq!(ok("t:syscalls:sys_enter_getpid()", C), tp);
    }
    assert_eq!(ok("  p:c:malloc()  #allocations", C), "uprobe:c:malloc { @__ad_0 = count(); }\n");
    assert_eq!(output("  p:c:malloc()  #allocations", C).title, "allocations");
    assert_eq!(output(" p:c:malloc() ", C).title, " p:c:malloc() ");

    assert_eq!(ok("r:DB:snapshot()", C), "uretprobe:DB:snapshot { @__ad_0[(int32)retval] = count(); }\n");
    let o = output("r:DB:snapshot()", C);
    assert_eq!((o.default_label.as_deref(), o.expr_labels.clone()), (Some("retval"), vec!["retval".to_string()]));
    assert_eq!(ok("r:DB:snapshot()", H), "uretprobe:DB:snapshot { @__ad_0 = hist((int32)retval); }\n");
    assert_eq!(output("r:DB:snapshot()", H).hist_label, "retval");
    // No expression to put in a histogram otherwise.
    let (msg, at, _, _) = err("p:DB:snapshot()", H);
    assert_eq!(msg, "a histogram (-H) needs an expression");
    assert_eq!(at, "p:DB:snapshot()");
}

#[test]
fn labels_titles_and_displayed_expressions() {
    let spec = "p:DB:snapshot(db_shard_t *shard, long n):int:shard->sid#snapshots per shard";
    let o = output(spec, C);
    assert_eq!(o.title, "snapshots per shard");
    assert_eq!(o.expr_labels, ["shard->sid"]);
    assert_eq!((o.map.as_str(), o.default_label.clone()), ("__ad_0", None));
    assert_eq!(o.hist_label, "snapshots per shard");
    // Without a label (or an empty one) the title is the spec as written.
    let spec = "p:DB:snapshot(db_shard_t *shard, long n):int:shard->sid";
    assert_eq!(shorten(&output(spec, C).title), spec);
    assert_eq!(shorten(&output(&format!("{spec}#"), C).title), format!("{spec}#"));
    // A `#` in a string is not a label.
    let o = output(r##"p:DB:db_get(db_shard_t *shard, const char *key):char*:key:key == "a#b"#keys"##, C);
    assert_eq!((o.title.as_str(), o.expr_labels[0].as_str()), ("keys", "key"));
    // argdist shows `$entry(p)` as `p`, and the rest as written.
    let o = output("r:DB:snapshot(db_shard_t *shard, long n):long,int:$entry(n) * 2,$retval", C);
    assert_eq!(o.expr_labels, ["n * 2", "$retval"]);
    let o = output("r:DB:snapshot(db_shard_t *shard, long n):u64:$latency / $entry( n )", H);
    assert_eq!(o.hist_label, "$latency / n");
    assert_eq!(o.kind, H);
}

#[test]
fn several_expressions_and_specifiers() {
    let (text, outputs, _) = ok_many(&[
        ("p:DB:snapshot(db_shard_t *shard, long n):int,char*,u64:shard->sid,shard->name,n", C),
        ("r:DB:db_get(db_shard_t *shard, const char *key):int,int:$entry(shard)->sid,$retval", C),
        ("p:DB:db_log_rotate(db_shard_t *shard):u32:shard->version.epoch", H),
    ]);
    assert_eq!(
        text,
        "uprobe:DB:snapshot { @__ad_0[(int32)args.shard->sid, str(args.shard->name, 80), (uint64)args.n] = count(); }\n\
         uprobe:DB:db_get { @__ad_start_1[tid] = nsecs; @__ad_entry_1_shard[tid] = args.shard; }\n\
         uretprobe:DB:db_get /@__ad_start_1[tid]/ { @__ad_1[(int32)((db_shard_t *)@__ad_entry_1_shard[tid])->sid, (int32)retval] = count(); delete(@__ad_start_1[tid]); delete(@__ad_entry_1_shard[tid]); }\n\
         uprobe:DB:db_log_rotate { @__ad_2 = hist((uint32)args.shard->version.epoch); }\n"
    );
    let maps: Vec<&str> = outputs.iter().map(|o| o.map.as_str()).collect();
    assert_eq!(maps, ["__ad_0", "__ad_1", "__ad_2"]);
    assert_eq!(outputs[0].expr_labels, ["shard->sid", "shard->name", "n"]);
    assert_eq!(outputs[1].expr_labels, ["shard->sid", "$retval"]);
}

#[test]
fn entry_values_and_filters_in_return_probes() {
    assert_eq!(
        ok("r:DB:snapshot(db_shard_t *shard, long n):long:$entry(n):$retval < 0 && $latency > 0", C),
        "uprobe:DB:snapshot { @__ad_start_0[tid] = nsecs; @__ad_entry_0_n[tid] = args.n; }\n\
         uretprobe:DB:snapshot /@__ad_start_0[tid]/ { if (retval < 0 && nsecs - @__ad_start_0[tid] > 0) { @__ad_0[(int64)@__ad_entry_0_n[tid]] = count(); } delete(@__ad_start_0[tid]); delete(@__ad_entry_0_n[tid]); }\n"
    );
    // In the filter too; one stored copy per parameter.
    assert_eq!(
        ok("r:DB:snapshot(db_shard_t *shard, long n):long:$entry(n):$entry(n) > 2", C),
        "uprobe:DB:snapshot { @__ad_start_0[tid] = nsecs; @__ad_entry_0_n[tid] = args.n; }\n\
         uretprobe:DB:snapshot /@__ad_start_0[tid]/ { if ((int64)@__ad_entry_0_n[tid] > 2) { @__ad_0[(int64)@__ad_entry_0_n[tid]] = count(); } delete(@__ad_start_0[tid]); delete(@__ad_entry_0_n[tid]); }\n"
    );
    // Without debug info the stored register is cast back to the declared type.
    assert_eq!(
        ok("r:NODEBUG:snapshot(void *shard, int n):int:$entry(n)", C),
        "uprobe:NODEBUG:snapshot { @__ad_start_0[tid] = nsecs; @__ad_entry_0_n[tid] = (int32)arg1; }\n\
         uretprobe:NODEBUG:snapshot /@__ad_start_0[tid]/ { @__ad_0[(int32)@__ad_entry_0_n[tid]] = count(); delete(@__ad_start_0[tid]); delete(@__ad_entry_0_n[tid]); }\n"
    );
}

#[test]
fn special_values_and_string_size() {
    assert_eq!(
        ok("p:DB:snapshot():u32,char*:$PID,$COMM", C),
        "uprobe:DB:snapshot { @__ad_0[(uint32)pid, str(comm, 80)] = count(); }\n"
    );
    let mut sources = SourceMap::new();
    let f = sources.add("z", with_paths("p:DB:db_get(db_shard_t *shard, char *key):char*:key"));
    let opts = ArgdistOptions { string_size: 120, ..ArgdistOptions::default() };
    let p = compile_specs(&[(f, C)], &sources, &opts).unwrap_or_else(|d| panic!("{d:?}"));
    assert!(program_text(&p.program).contains("str(args.key, 120)"), "{}", program_text(&p.program));
}

#[test]
fn colons_inside_expressions_do_not_split() {
    // Ternaries, in the expressions and in the filter.
    assert_eq!(
        ok("p:DB:snapshot(db_shard_t *shard, long n):int:n > 2 ? 1 : 0:n < 50 ? 1 : 0", C),
        "uprobe:DB:snapshot /n_lt_50/ { @__ad_0[(int32)(args.n > 2 ? 1 : 0)] = count(); }\n"
            .replace("n_lt_50", "args.n < 50 ? 1 : 0")
    );
    assert_eq!(
        ok("p:DB:snapshot(db_shard_t *shard, long n):int,int:n ? (shard->sid ? 1 : 2) : 3,shard->sid", C),
        "uprobe:DB:snapshot { @__ad_0[(int32)(args.n ? (args.shard->sid ? 1 : 2) : 3), (int32)args.shard->sid] = count(); }\n"
    );
    // Commas and colons in calls, brackets and strings.
    assert_eq!(
        ok(r#"p:DB:db_get(db_shard_t *shard, const char *key):char*:str(key, 8):key != "a:b,c""#, C),
        "uprobe:DB:db_get /str(args.key, 80) != \"a:b,c\"/ { @__ad_0[str(str(args.key, 8), 80)] = count(); }\n"
    );
    // A C++ scope is part of an expression (which our language then
    // rejects, pointing at it), not a separator.
    let (msg, at, _, _) = err("p:DB:snapshot(long n):int:ns::n", C);
    assert_eq!((msg.as_str(), at.as_str()), ("syntax error: unexpected `:`", ":"));
    let (_, _, _, rendered) = err("p:DB:snapshot(long n):int:ns::n", C);
    assert!(rendered.contains("ns::n\n") && rendered.contains("^"), "{rendered}");
}

/// Every diagnostic of the argdist front end: (spec, kind, message part,
/// the spec text it points at, notes part).
#[test]
fn diagnostics_point_into_the_spec() {
    #[rustfmt::skip]
    let cases: &[(&str, SpecKind, &str, &str, &str)] = &[
        ("", C, "empty argdist specifier", "", "{p,r,t,u}"),
        ("x:DB:snapshot()", C, "unknown argdist probe type `x`", "x", "probe types: p"),
        ("uprobe:DB:snapshot()", C, "unknown argdist probe type `uprobe`", "uprobe", "did you mean `p`"),
        (":DB:snapshot()", C, "missing probe type", "", ""),
        ("u:DB:checkpoint():int:arg0", C, "there is no `arg0`", "arg0", "`arg1` is the probe's first argument"),
        ("u:DB:checkpoint", C, "missing `()`", "checkpoint", ""),
        ("u:DB:db:checkpoint:int:arg1", C, "missing `()`", "db:checkpoint", ""),
        ("u:DB:db:checkpont():int:arg1", C, "USDT probe `db:checkpont` not found", "checkpont", "did you mean `checkpoint`?"),
        ("u:DB:dbb:checkpoint()", C, "no USDT provider `dbb`", "dbb", "did you mean `db`?"),
        ("p", C, "missing `:library:function()`", "", ""),
        ("p:DB", C, "missing `:function()`", "", ""),
        ("p:DB:snapshot", C, "missing `()` after the function name `snapshot`", "snapshot", "`snapshot(int fd"),
        ("p:DB:snapshot:u64:1", C, "missing `()`", "snapshot", ""),
        ("t:syscalls:sys_enter_openat", C, "missing `()`", "sys_enter_openat", ""),
        ("p:DB:()", C, "empty function name", "(", ""),
        ("p:DB:", C, "empty function name", "", ""),
        ("p:DB:snap*()", C, "wildcards are not supported", "snap*", "@[func]"),
        ("p:DB:snapshot(int x", C, "unclosed `(`", "(", ""),
        ("p:DB:snapshot(long n):int:(n + 1", C, "unclosed `(`", "(", ""),
        ("p:DB:snapshot(long n):int:n + 1)", C, "unmatched `)`", ")", ""),
        ("p:DB:snapshot(long n):int:str(n]", C, "`]` does not match `(`", "]", ""),
        ("p:DB:snapshot(n):int:n", C, "cannot read the parameter declaration `n`", "n", "as in C"),
        ("p:DB:snapshot(long n, int n):int:n", C, "parameter `n` is declared twice", "n", ""),
        ("p:DB:snapshot(long n,):int:n", C, "cannot read the parameter declaration", "", ""),
        ("p:DB:snapshot()x", C, "unexpected text after the signature", "x", ""),
        ("p:DB:snapshot(int x)):int:x", C, "unmatched `)`", ")", ""),
        ("p:DB:snap)shot():int:1", C, "invalid function name `snap)shot`", "snap)shot", ""),
        ("p:DB:snapshot(long n):int:n:n > 1:extra", C, "too many `:`-separated parts", ":extra", ""),
        ("p:DB:snapshot(long n):int", C, "types are given but no expressions", "", ""),
        ("p:DB:snapshot(long n)::n", C, "empty type list", "", ""),
        ("p:DB:snapshot(long n):int::n > 1", C, "empty expression list", "", ""),
        ("p:DB:snapshot(long n):int,:n,n", C, "empty type", "", ""),
        ("p:DB:snapshot(db_shard_t *shard, long n):int,long:n", C, "2 type(s) for 1 expression(s)", "n", "same order"),
        ("p:DB:snapshot(long n):int:n,n", C, "1 type(s) for 2 expression(s)", "n,n", ""),
        ("p:DB:snapshot(long n):int,int:n,n + 1", H, "a histogram (-H) takes exactly one expression, found 2", "n + 1", "-C"),
        ("p:DB:snapshot(long n):char*:n", H, "needs an integer type, not a string", "char*", ""),
        ("p:DB:snapshot(long n):foo:n", C, "unknown type `foo`", "foo", "u8 u16"),
        ("t:syscalls:sys_enter_openat(int dfd):int:dfd", C, "tracepoints take no signature", "int dfd", "args->NAME"),
        ("r:DB:snapshot(long n):long:$entry(m)", C, "the signature has no parameter `m`", "m", "the parameters are: n"),
        ("r:DB:snapshot():long:$entry(m)", C, "no parameter `m`", "m", "declare it"),
        ("r:DB:snapshot():int:$entry(1)", C, "`$entry` takes a parameter name", "1", ""),
        ("r:DB:snapshot():int:$entry()", C, "`$entry` takes a parameter name", "()", ""),
        ("r:DB:snapshot():int:$entry + 1", C, "`$entry` takes a parameter name", "$entry", ""),
        ("p:DB:snapshot(long n):long:$entry(n)", C, "`$entry` is only available in return probes", "$entry(n)", "`r:`"),
        ("p:DB:snapshot():int:$retval", C, "`$retval` is only available in return probes", "$retval", ""),
        ("t:syscalls:sys_enter_getpid():int:$retval", C, "`$retval` is only available", "$retval", ""),
        ("p:DB:snapshot():u64:$latency", H, "`$latency` is only available", "$latency", ""),
        ("p:DB:snapshot(long n):u64:n:$latency > 10", C, "`$latency` is only available", "$latency", ""),
        ("r:DB:snapshot(db_shard_t *shard):int:shard->sid", C, "parameter `shard` cannot be read when the function returns", "shard", "`$entry(shard)`"),
        ("r:DB:snapshot(long n):int:$retval:n > 1", C, "parameter `n` cannot be read", "n", "$entry(n)"),
        ("p:DB:snapshot():int:$pid", C, "unknown special variable `$pid`", "$pid", "did you mean `$PID`?"),
        ("p:DB:snapshot():int:$lantecy", C, "unknown special variable", "$lantecy", "`$latency`"),
        ("p:NODEBUG:db_flush(long a, long b, long c, long d, long e, long f, long g):long:g", C, "argument 7", "g", "debug info"),
        ("p:NODEBUG:snapshot(db_shard_t shard):int:shard.sid", C, "of type `db_shard_t` cannot be read without debug info", "shard", ""),
        ("p:NODEBUG:snapshot(int (*f)(void)):int:f", C, "cannot read the parameter declaration", "int (*f)(void)", ""),
        ("p:DB:snapshot(long n):int:n +", C, "unexpected end of input", "", ""),
        // Found by probe expansion, mapped back onto the spec.
        ("p:no_such_lib_xyz:malloc()", C, "cannot find `no_such_lib_xyz`", "no_such_lib_xyz", ""),
        ("p:DB:snapshto()", C, "function `snapshto` not found", "snapshto", "did you mean `snapshot`?"),
        ("r:/no/such/db:snapshot()", C, "no such file", "/no/such/db", ""),
        ("p::do_sys_open(int dfd)", C, "kprobe probes are not", "p", "`t:syscalls:sys_enter_openat()`"),
        ("r::do_sys_open()", C, "kretprobe probes are not", "r", ""),
        ("t:syscalls:sys_enter_opnat()", C, "unknown tracepoint", "sys_enter_opnat", "`sys_enter_openat`"),
        ("t:syscall:sys_enter_openat()", C, "unknown tracepoint category", "syscall", ""),
    ];
    // Tracepoints, and the tracepoints suggested for kernel probes, come
    // from tracefs.
    let tracefs = tracefs_readable();
    let needs_tracefs = |spec: &str| spec.starts_with("t:") || spec.starts_with("p::") || spec.starts_with("r::");
    for &(spec, kind, message, pointed, note) in cases.iter().filter(|c| tracefs || !needs_tracefs(c.0)) {
        let (msg, at, notes, rendered) = err(spec, kind);
        assert!(msg.contains(message), "{spec}: message {msg:?}");
        assert_eq!(at, pointed, "{spec}: span ({msg})");
        assert!(notes.contains(note), "{spec}: notes {notes:?}");
        assert!(rendered.contains("spec0"), "{spec}: rendered on the spec:\n{rendered}");
    }
}

#[test]
fn type_errors_point_into_the_spec() {
    let (msg, at) = check_err("p:DB:db_log_rotate(db_shard_t *shard):int:shard->nope", C);
    assert!(msg.contains("nope"), "{msg}");
    assert_eq!(at, "nope");
    if tracefs_readable() {
        let (msg, at) = check_err("t:syscalls:sys_enter_openat():int:args->flagz", C);
        assert!(msg.contains("has no field `flagz`"), "{msg}");
        assert_eq!(at, "flagz");
    }
}

#[test]
fn rendered_with_a_caret_under_the_part() {
    let spec = "p:NODEBUG:snapshot(void *s, long n):int:$entry(n)#x";
    let mut sources = SourceMap::new();
    let f = sources.add("spec", with_paths(spec));
    let diags = compile_specs(&[(f, C)], &sources, &ArgdistOptions::default()).expect_err("$entry in p:");
    let rendered = render_to_string(&sources, &diags);
    let lines: Vec<&str> = rendered.lines().collect();
    let src = lines.iter().position(|l| l.ends_with(&with_paths(spec))).expect("the source line");
    let caret = lines[src + 1];
    assert_eq!(caret.find('^'), lines[src].find("$entry(n)"), "{rendered}");
    assert_eq!(caret.matches('^').count(), "$entry(n)".len(), "{rendered}");
}

/// A tiny deterministic generator: no dependency, reproducible failures.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }
}

/// Garbage and mutated specifiers: diagnostics or a program, never a
/// panic, and every span inside the spec.
#[test]
fn never_panics() {
    let valid = [
        "p:NODEBUG:db_log_rotate(db_shard_t* shard):u32:shard->version.epoch",
        "r:NODEBUG:snapshot(void *s, long n):u64,long:$latency,$entry(n):$retval > 0#lat",
        "p:NODEBUG:snapshot(long n):int:n ? 1 : (2):str(\"a:b\", 1) == 0",
        "t:syscalls:sys_enter_openat():int,char*:args->flags,$COMM",
    ];
    let pieces =
        [":", "::", "(", ")", "[", "]", "\"", "'", "#", ",", "?", "$entry(", "$", "*", " ", "é", "\\", "p:", "r:"];
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut inputs: Vec<String> = Vec::new();
    for _ in 0..400 {
        let mut s: Vec<char> = with_paths(valid[rng.below(valid.len())]).chars().collect();
        for _ in 0..=rng.below(3) {
            let at = rng.below(s.len() + 1);
            match rng.below(3) {
                0 if at < s.len() => {
                    let end = (at + 1 + rng.below(5)).min(s.len());
                    s.drain(at..end);
                }
                1 => s.splice(at..at, pieces[rng.below(pieces.len())].chars()).for_each(drop),
                _ => s.truncate(at),
            }
        }
        inputs.push(s.into_iter().collect());
    }
    let alphabet = ":()[]{}\"'#,?$*-> prtu0129abcé\\";
    let chars: Vec<char> = alphabet.chars().collect();
    for _ in 0..400 {
        inputs.push((0..rng.below(30)).map(|_| chars[rng.below(chars.len())]).collect());
    }
    for input in inputs {
        let outcome = std::panic::catch_unwind(|| {
            let mut sources = SourceMap::new();
            let f = sources.add("fuzz", input.clone());
            for kind in [C, H] {
                if let Err(diags) = compile_specs(&[(f, kind)], &sources, &ArgdistOptions::default()) {
                    assert!(!diags.is_empty());
                    for d in &diags {
                        if let Some((s, _)) = &d.primary {
                            assert!(s.start <= s.end && s.end as usize <= input.len(), "{input:?}: {d:?}");
                        }
                    }
                }
            }
        });
        assert!(outcome.is_ok(), "panicked on {input:?}");
    }
}
