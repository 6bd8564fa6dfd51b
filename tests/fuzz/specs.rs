//! The `specs` target: bcc argdist specifiers (`-C`, `-H`) through
//! `frontend::argdist::compile_specs`, then, when they translate, through
//! `trace::compile_ast` as `trace -C ...` does.
//!
//! Inputs are one to three specifiers, each generated from argdist's
//! grammar (`{p,r,t,u}:{[library],category}:function(signature)[:type[,type...]:expr[,expr...][:filter]][#label]`),
//! loosely (any part from a list, right or wrong) or coherently (a probe of
//! the targets with its real signature, values and filters of the right
//! kind, so the translation and the compiler behind it are reached), or a
//! mutation of one of the specifiers of `tests/scripts/argdist.test` and
//! `usdt.test`. Never a panic; rejections are diagnostics that render,
//! pointing into the specifier; accepted programs link and disassemble.

use std::path::Path;

use crate::check;
use crate::driver::Target;
use crate::grammar::{Gen, NUMBERS};
use crate::mutate;
use crate::rng::Rng;
use crate::spec;
use trace::frontend::argdist::{compile_specs, program_text, ArgdistOptions, SpecKind};
use trace::source::SourceMap;
use trace::CompileOptions;

pub struct Specs {
    corpus: Vec<String>,
}

pub struct Input {
    pub specs: Vec<(SpecKind, String)>,
    pub string_size: u32,
}

/// The `-C`/`-H` values of every `RUN` line in `files`.
pub fn corpus(files: &[&Path]) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let (cases, errors) = spec::parse(&text);
        if let Some(e) = errors.first() {
            return Err(format!("{}:{}: {}", path.display(), e.line, e.message));
        }
        for case in cases {
            let spec::Program::Run(line) = case.program else { continue };
            let words = spec::split_args(&line).map_err(|e| format!("{}: {e}", path.display()))?;
            let values = words.windows(2).filter(|w| w[0] == "-C" || w[0] == "-H").map(|w| w[1].clone());
            out.extend(values);
        }
    }
    Ok(out)
}

const LETTERS: &[&str] = &["p", "r", "t", "u", "p", "r", "x", "", "P", "pr"];
const LIBS: &[&str] = &[
    "./db",
    "./db-O2",
    "./types",
    "./usdt",
    "./usdt-O2",
    "./libusdtlib.so",
    "c",
    "libc",
    "/lib/x86_64-linux-gnu/libc.so.6",
    "",
    "syscalls",
    "sched",
    "./nosuch",
];
const FUNCTIONS: &[&str] = &[
    "snapshot",
    "db_get",
    "db_log_rotate",
    "db_flush",
    "inspect_flags",
    "make_node",
    "tick",
    "write",
    "malloc",
    "sys_enter_openat",
    "sched_process_exec",
    "values",
    "usdt:values",
    "db:checkpoint",
    "work",
    "usdtlib:work",
    "loop",
    "nosuch",
    "db_*",
    "",
];
const PARAMS: &[&str] = &[
    "db_shard_t* shard",
    "db_shard_t *shard",
    "struct db_shard_t *s",
    "long n",
    "const char *key",
    "char *key",
    "int fd",
    "void *buf",
    "size_t len",
    "struct flags *f",
    "unsigned long long x",
    "int",
    "long a",
    "int (*fp)(int)",
    "int arr[3]",
    "...",
    "nosuch_t *p",
    "u32 v",
    "char c",
    "float f",
];
const TYPES: &[&str] = &[
    "u32",
    "u64",
    "s32",
    "s64",
    "int",
    "long",
    "char*",
    "char *",
    "size_t",
    "unsigned long",
    "u8",
    "s16",
    "db_shard_t*",
    "bool",
    "nosuch",
    "",
    "int*",
];
const EXPRS: &[&str] = &[
    "shard->sid",
    "shard->version.epoch",
    "shard->name",
    "s->peer->sid",
    "n",
    "key",
    "len",
    "fd",
    "f->mode",
    "$retval",
    "$latency",
    "$entry(n)",
    "$entry(key)",
    "$entry(nosuch)",
    "$PID",
    "$COMM",
    "$TID",
    "$NOSUCH",
    "arg1",
    "arg2",
    "arg0",
    "arg13",
    "args->flags",
    "args->filename",
    "n > 20 ? 1 : 0",
    "\"db\"",
    "'x'",
    "str(key)",
    "(long)n * 2",
    "1",
    "-1",
    "::n",
    "n:",
];

/// Probes whose specifiers can be right: `letter:lib:function(signature)`,
/// with the integer and string expressions its values may use.
const COHERENT: &[(&str, &[&str], &[&str])] = &[
    (
        "p:./db:snapshot(db_shard_t *shard, long n)",
        &["shard->sid", "n", "shard->version.epoch", "shard->peer->sid", "shard->version.version"],
        &["shard->name"],
    ),
    ("r:./db:snapshot(db_shard_t *shard, long n)", &["$retval", "$latency", "$entry(n)", "$entry(shard)->sid"], &[]),
    ("r:./db-O2:snapshot()", &["$retval", "$latency"], &[]),
    ("p:./db:db_get(db_shard_t *shard, const char *key)", &["shard->sid"], &["key", "shard->name"]),
    ("p:./db-O2:db_flush(long a, long b, long c, long d, long e, long f)", &["a", "b", "f", "a + f"], &[]),
    ("p:c:write(int fd, void *buf, size_t len)", &["fd", "len"], &[]),
    ("p:./types:inspect_flags(struct flags *f)", &["f->mode", "f->ready", "f->count"], &[]),
    ("r:./types:make_node(long id)", &["$retval", "$entry(id)"], &[]),
    ("t:syscalls:sys_enter_openat()", &["args->flags", "args->mode", "args->dfd"], &["args->filename"]),
    ("u:./usdt:usdt:values()", &["arg1", "arg2", "arg3", "arg5"], &["arg4"]),
    ("u:./db:db:checkpoint()", &["arg1", "arg2"], &[]),
    ("u:./libusdtlib.so:work(int i, char *what, long total)", &["total", "i"], &["what"]),
];
const INT_TYPES: &[&str] = &["u32", "u64", "s32", "s64", "int", "long", "u8", "s16", "unsigned long", "size_t"];
/// argdist's special variables that are integers everywhere.
const GLOBALS: &[&str] = &["$PID"];

impl Specs {
    pub fn new(corpus: Vec<String>) -> Specs {
        Specs { corpus }
    }

    /// One specifier from argdist's grammar.
    fn spec(rng: &mut Rng) -> String {
        let mut s = format!("{}:{}:{}", rng.pick(LETTERS), rng.pick(LIBS), rng.pick(FUNCTIONS));
        if rng.chance(7, 8) {
            let params: Vec<&str> = (0..rng.small(4)).map(|_| *rng.pick(PARAMS)).collect();
            s += &format!("({})", params.join(", "));
        }
        if rng.chance(2, 3) {
            let n = rng.range(1, 3);
            let types: Vec<&str> = (0..n + usize::from(rng.chance(1, 8))).map(|_| *rng.pick(TYPES)).collect();
            let exprs: Vec<String> = (0..n).map(|_| Self::expr(rng)).collect();
            s += &format!(":{}:{}", types.join(","), exprs.join(","));
            if rng.chance(1, 3) {
                s += &format!(":{}", Self::expr(rng));
            }
        }
        if rng.chance(1, 5) {
            s += &format!("#{}", rng.pick(&["label", "big snapshots per shard", "", "#", ":", "é"]));
        }
        s
    }

    /// A specifier that can compile: its probe from [`COHERENT`], values
    /// of the right kinds, a filter sometimes.
    fn coherent(rng: &mut Rng, kind: SpecKind) -> String {
        let (probe, ints, strs) = *rng.pick(COHERENT);
        let mut s = probe.to_string();
        if rng.chance(1, 6) {
            return s;
        }
        let n = if kind == SpecKind::Hist { 1 } else { rng.range(1, 3) };
        let (mut types, mut exprs) = (Vec::new(), Vec::new());
        for _ in 0..n {
            if kind == SpecKind::Count && !strs.is_empty() && rng.chance(1, 3) {
                types.push("char*".to_string());
                exprs.push(rng.pick(strs).to_string());
                continue;
            }
            types.push(rng.pick(INT_TYPES).to_string());
            let value = if ints.is_empty() || rng.chance(1, 8) { *rng.pick(GLOBALS) } else { *rng.pick(ints) };
            exprs.push(match rng.below(5) {
                0 => {
                    format!("{value} {} {}", rng.pick(&["+", "*", "%", ">>", "&", "-"]), rng.pick(&["1", "3", "1024"]))
                }
                1 => format!("{value} > 20 ? 1 : 0"),
                _ => value.to_string(),
            });
        }
        s += &format!(":{}:{}", types.join(","), exprs.join(","));
        if rng.chance(1, 3) {
            let filter = match (ints.first(), rng.below(3)) {
                (Some(i), 0) => format!("{i} > 1"),
                (_, 1) => "$COMM == \"db\"".to_string(),
                _ => format!("{} != 0", rng.pick(GLOBALS)),
            };
            s += &format!(":{filter}");
        }
        if rng.chance(1, 4) {
            s += "#a label";
        }
        s
    }

    fn expr(rng: &mut Rng) -> String {
        match rng.below(6) {
            0 => Gen::new(rng).expr(),
            1 => format!(
                "{} {} {}",
                rng.pick(EXPRS),
                rng.pick(&["==", ">", "&&", "+", "%", "<<", "!="]),
                rng.pick(EXPRS)
            ),
            _ => rng.pick(EXPRS).to_string(),
        }
    }
}

impl Target for Specs {
    type Input = Input;

    fn name(&self) -> &'static str {
        "specs"
    }

    fn generate(&self, rng: &mut Rng) -> Input {
        let n = if rng.chance(3, 4) { 1 } else { rng.range(2, 3) };
        let mut specs = Vec::new();
        for _ in 0..n {
            let kind = if rng.chance(1, 2) { SpecKind::Count } else { SpecKind::Hist };
            let text = if rng.chance(1, 2) {
                Self::coherent(rng, kind)
            } else if !self.corpus.is_empty() && rng.chance(1, 2) {
                let base = rng.pick(&self.corpus).clone();
                let mut fresh = |r: &mut Rng| match r.below(3) {
                    0 => Self::spec(r),
                    1 => r.pick(EXPRS).to_string(),
                    _ => r.pick(PARAMS).to_string(),
                };
                mutate::mutate(rng, &base, &self.corpus, NUMBERS, &mut fresh)
            } else {
                Self::spec(rng)
            };
            specs.push((kind, text));
        }
        let string_size = *rng.pick(&[80, 80, 1, 16, 1024, 4096]);
        Input { specs, string_size }
    }

    fn run(&self, input: &Input) -> Result<&'static str, String> {
        let mut sources = SourceMap::new();
        let files: Vec<_> = input
            .specs
            .iter()
            .map(|(kind, text)| (sources.add(if *kind == SpecKind::Count { "-C" } else { "-H" }, text.clone()), *kind))
            .collect();
        let opts = ArgdistOptions { string_size: input.string_size, pid: None };
        let translated = match compile_specs(&files, &sources, &opts) {
            Ok(p) => p,
            Err(diags) => return check::diagnostics(&sources, &diags).map(|_| "rejected"),
        };
        if translated.outputs.len() != input.specs.len() {
            return Err(format!("{} specifiers gave {} outputs", input.specs.len(), translated.outputs.len()));
        }
        program_text(&translated.program);
        match trace::compile_ast(translated.program, &CompileOptions::default()) {
            Ok(program) => check::accepted(&sources, &program).map(|_| "compiled"),
            Err(diags) => check::diagnostics(&sources, &diags).map(|_| "translated, rejected by the checker"),
        }
    }

    fn reproducer(&self, input: &Input) -> (&'static str, Vec<u8>, String) {
        let mut line = String::from("trace -d ir");
        if input.string_size != 80 {
            line += &format!(" -z {}", input.string_size);
        }
        for (kind, text) in &input.specs {
            let flag = if *kind == SpecKind::Count { "-C" } else { "-H" };
            line += &format!(" {flag} '{}'", text.replace('\'', "'\\''"));
        }
        ("sh", format!("{line}\n").into_bytes(), "sh {}".into())
    }
}
