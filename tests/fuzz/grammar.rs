//! A grammar-aware generator of trace programs.
//!
//! It follows `grammar/trace.lalrpop` and the lexer's attach-point syntax
//! rather than emitting random bytes, so most inputs get past the parser
//! and exercise the checker, lowering and register allocation. Names come
//! from the compiler's own tables where it has them (probe types and their
//! aliases from `PROBE_TYPES`, builtin variables from `VARIABLES`,
//! functions from `FUNCTIONS` and `UNSUPPORTED_FUNCTIONS`), so a new row
//! is fuzzed without touching this file. Attach points name the binaries
//! built from `tests/targets/` (`./db`, `./types`, `./usdt`, ...: the
//! worker runs in their directory), libc, tracepoints and timers, both as
//! they really are and slightly wrong (unknown functions, bad offsets,
//! globs, extra or empty parts).
//!
//! About one probe in two is one of the [`KNOWN`] attach points, whose
//! expressions use the fields its arguments really have, so type checking
//! and lowering of struct reads, strings and pointers get exercised rather
//! than stopping at "no such field". Maps and variables come from small
//! pools so that the same map is used twice, with the same or another type.

use crate::rng::Rng;
use trace::frontend::builtins::{FUNCTIONS, MAX_ARG, UNSUPPORTED_FUNCTIONS, VARIABLES};
use trace::frontend::probes::PROBE_TYPES;

/// An attach point that resolves against the built targets, and what its
/// probe may read: integer and string expressions, and others (pointers,
/// records, fields that do not exist) only the wild generator uses.
pub struct Known {
    pub attach: &'static str,
    pub ints: &'static [&'static str],
    pub strs: &'static [&'static str],
    pub others: &'static [&'static str],
}

const fn known(
    attach: &'static str,
    ints: &'static [&'static str],
    strs: &'static [&'static str],
    others: &'static [&'static str],
) -> Known {
    Known { attach, ints, strs, others }
}

pub const KNOWN: &[Known] = &[
    known("BEGIN", &[], &[], &[]),
    known("END", &[], &[], &[]),
    known(
        "uprobe:./db:snapshot",
        &[
            "args.shard->sid",
            "args.shard->version.epoch",
            "args.shard->version.version",
            "args.shard->peer->peer->sid",
            "args.n",
            "arg0",
            "arg1",
            "((db_shard_t *)arg0)->sid",
            "sizeof(db_shard_t)",
            "offsetof(db_shard_t, version.version)",
            "args.shard",
            "(uint64)args.shard->peer",
            "sizeof(args.shard->name)",
        ],
        &["args.shard->name", "((struct db_shard_t *)arg0)->name", "func"],
        &["args.shard", "args.shard->version", "*args.shard", "args.shard->nosuch"],
    ),
    known("uretprobe:./db:snapshot", &["retval", "(int32)retval"], &["func", "probe"], &["args.n"]),
    known(
        "u:./db-O2:db_get",
        &["arg1", "args.shard->sid"],
        &["str(args.key)", "args.shard->name", "str(arg1, 3)"],
        &["args.key"],
    ),
    known("uprobe:./db:db_log_rotate", &["args.shard->version.epoch", "args.shard[0].sid"], &[], &["*args.shard"]),
    known("uprobe:./db:db_flush", &["arg0", "arg5", "args.a", "args.f"], &[], &["args.zz", "arg12"]),
    known(
        "uprobe:./types:inspect_flags",
        &["args.f->ready", "args.f->mode", "args.f->delta", "args.f->count"],
        &[],
        &["args.f", "*args.f"],
    ),
    known(
        "uprobe:./types-O2:inspect_value",
        &["args.v->kind", "args.v->u.as_int", "args.v->u.words[0]", "args.v->u.words[1]"],
        &[],
        &["args.v->u", "args.v->u.words[9]"],
    ),
    known("uprobe:./types:inspect_point", &["args.p->x", "args.p->grid[1][2]", "args.p->tag"], &[], &["args.p->grid"]),
    known("uprobe:./types:inspect_chain", &["(*args.pp)->id", "args.pp[0]->id"], &[], &["args.pp", "*args.pp"]),
    known("uprobe:./types:eight", &["args.a", "args.g", "args.h", "arg5"], &[], &["arg7"]),
    known("uretprobe:./types:make_node", &["retval->id", "retval", "retval->next->id"], &[], &["*retval"]),
    known("usdt:./usdt:usdt:values", &["arg0", "arg1", "arg5"], &["str(arg3)"], &["arg6"]),
    known("usdt:./usdt-O2:usdt:mem", &["arg0", "arg4", "arg10"], &[], &["arg12"]),
    known("usdt:./usdt:usdt:regs", &["arg0", "arg3", "arg11"], &[], &[]),
    known("usdt:./usdt-O2:usdt:consts", &["arg0", "arg5"], &[], &[]),
    known("usdt:./db:db:checkpoint", &["arg0", "arg1"], &[], &["arg2"]),
    known("usdt:./libusdtlib.so:usdtlib:work", &["arg0", "arg2"], &["str(arg1)"], &[]),
    known(
        "tracepoint:syscalls:sys_enter_openat",
        &["args->flags", "args.mode", "args.dfd"],
        &["str(args.filename)"],
        &["args.filename", "args.nosuch"],
    ),
    known("t:syscalls:sys_exit_openat", &["args->ret", "args.ret < 0"], &[], &[]),
    known("t:sched:sched_process_exec", &["args.pid", "args.old_pid"], &["str(args.filename)"], &[]),
    known("uprobe:libc:malloc", &["args.bytes", "arg0"], &[], &[]),
    known("uretprobe:c:strlen", &["retval"], &[], &[]),
    known("uprobe:./db:db_*", &["arg0", "arg1"], &["probe", "func"], &["args.shard"]),
    known(
        "uprobe:./db:snapshot,uprobe:./db-O2:snapshot",
        &["args.n", "args.shard->sid", "args.shard", "args.shard->peer"],
        &["args.shard->name", "probe"],
        &[],
    ),
    known("interval:ms:100", &[], &[], &[]),
    known("profile:hz:99", &[], &[], &[]),
    known("i:s:1,interval:us:500", &[], &[], &[]),
];

/// Binaries an attach point may name (some wrong on purpose).
pub const BINARIES: &[&str] = &[
    "./db",
    "./db-O2",
    "./types",
    "./types-O2",
    "./loop",
    "./usdt",
    "./usdt-O2",
    "./libusdtlib.so",
    "./db-gz",
    "./db-stripped",
    "libc",
    "c",
    "/lib/x86_64-linux-gnu/libc.so.6",
    "libusdtlib",
    "./nosuch",
    "/etc/hostname",
    "/dev/null",
    "/",
    "",
    "db",
];

/// Function names and patterns of the targets (and some that are not).
pub const FUNCS: &[&str] = &[
    "snapshot",
    "db_get",
    "db_log_rotate",
    "db_flush",
    "main",
    "tick",
    "inspect_flags",
    "inspect_value",
    "inspect_point",
    "inspect_chain",
    "eight",
    "make_node",
    "usdtlib_work",
    "malloc",
    "srand",
    "strlen",
    "memcpy",
    "db_*",
    "snap*",
    "inspect_?alue",
    "*_flush",
    "no_such_symbol",
    "shards",
    "_start",
    "0x1139",
    "0",
];

/// Where a probe is: what its statements may read.
struct Probe {
    reads: Vec<&'static str>,
}

/// Generator state for one program.
pub struct Gen<'r> {
    pub rng: &'r mut Rng,
    probe: Probe,
    depth: u32,
}

/// Between probes: blanks and comments.
const SEPARATORS: &[&str] = &["\n", " ", "\n\n", "", "\n// a comment\n", " /* block\n comment */ ", "\t"];
const MAPS: &[&str] = &["@", "@a", "@b", "@count", "@h", "@s", "@m", "@__ad_0"];
const VARS: &[&str] = &["$x", "$y", "$s", "$p", "$i"];
const INT_TYPES: &[&str] = &[
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "bool",
    "char",
    "short",
    "int",
    "long",
    "unsigned int",
    "unsigned long",
    "signed char",
    "long long",
    "void",
];
const RECORD_TYPES: &[&str] = &[
    "db_shard_t",
    "struct db_shard_t",
    "db_version_t",
    "struct flags",
    "struct value",
    "union value",
    "enum kind",
    "struct point",
    "struct node",
    "nosuch_t",
    "struct nosuch",
];
const BINARY_OPS: &[&str] =
    &["+", "-", "*", "/", "%", "&", "|", "^", "<<", ">>", "==", "!=", "<", "<=", ">", ">=", "&&", "||"];
const ASSIGN_OPS: &[&str] = &["=", "=", "=", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "<<=", ">>="];
/// Numbers at the edges of every integer width, and a few malformed ones.
pub const NUMBERS: &[&str] = &[
    "0",
    "1",
    "2",
    "7",
    "10",
    "64",
    "100",
    "255",
    "256",
    "4096",
    "65535",
    "65536",
    "2147483647",
    "2147483648",
    "4294967295",
    "4294967296",
    "9223372036854775807",
    "9223372036854775808",
    "18446744073709551615",
    "18446744073709551616",
    "0x0",
    "0xff",
    "0x8000000000000000",
    "0xffffffffffffffff",
    "0x1_0000",
    "1_000_000",
    "0777",
    "1e3",
    "0b101",
    "08",
    "1k",
];
const ESCAPES: &[&str] = &[
    "\\n", "\\t", "\\r", "\\\\", "\\\"", "\\'", "\\x41", "\\x0", "\\xff", "\\101", "\\0", "\\400", "\\q", "\\x", "\\",
];
const FORMAT_SPECS: &[&str] = &[
    "%d", "%u", "%x", "%X", "%s", "%c", "%p", "%ld", "%lu", "%lld", "%llu", "%lx", "%i", "%o", "%-16s", "%16s", "%05d",
    "%-5d", "%8.3s", "%.0s", "%+d", "% d", "%#x", "%%", "%hhd", "%hd", "%zu", "%q", "%", "%*d", "%n", "%99999d", "%l",
];
const TIME_FORMATS: &[&str] = &["\"%H:%M:%S\\n\"", "\"%Y\"", "\"\"", "\"%\"", "\"%Q %%\"", "1"];
const WORDS: &[&str] = &["hello", "db", "alpha", "shard-0", "é", "\u{1F600}", " ", "a b", "%d", "{}"];

impl<'r> Gen<'r> {
    pub fn new(rng: &'r mut Rng) -> Gen<'r> {
        Gen { rng, probe: Probe { reads: Vec::new() }, depth: 0 }
    }

    /// A whole program: one to four probes, with comments and odd spacing
    /// sometimes.
    pub fn program(&mut self) -> String {
        let mut out = String::new();
        if self.rng.chance(1, 10) {
            out += "#!/usr/bin/env trace\n";
        }
        for _ in 0..self.rng.range(1, 4) {
            out += &self.probe();
            out += self.sep();
        }
        out
    }

    fn sep(&mut self) -> &'static str {
        self.rng.word(SEPARATORS)
    }

    /// `ATTACH[, ATTACH]* [/PRED/] { STMTS }`.
    pub fn probe(&mut self) -> String {
        let mut attach = Vec::new();
        if self.rng.chance(1, 2) {
            let known = self.rng.pick(KNOWN);
            let reads: Vec<&'static str> = [known.ints, known.strs, known.others].concat();
            self.probe = Probe { reads };
            attach.push(known.attach.to_string());
        } else {
            self.probe = Probe { reads: Vec::new() };
            attach.push(self.attach_point());
        }
        while self.rng.chance(1, 6) {
            attach.push(if self.rng.chance(1, 2) {
                self.rng.pick(KNOWN).attach.to_string()
            } else {
                self.attach_point()
            });
        }
        let mut out = attach.join(if self.rng.chance(1, 2) { "," } else { ", " });
        if self.rng.chance(1, 3) {
            out += &format!(" /{}/", self.expr());
        }
        out += " ";
        out += &self.block(5);
        out
    }

    /// An attach point of any probe type, right or slightly wrong.
    pub fn attach_point(&mut self) -> String {
        let ty = self.rng.pick(PROBE_TYPES);
        let spelling =
            if ty.aliases.is_empty() || self.rng.chance(1, 2) { ty.name } else { *self.rng.pick(ty.aliases) };
        let mut parts: Vec<String> = match ty.name {
            "BEGIN" | "END" => Vec::new(),
            "uprobe" | "uretprobe" => {
                let mut func = self.rng.pick(FUNCS).to_string();
                if self.rng.chance(1, 6) {
                    func += &format!(
                        "+{}",
                        self.rng.pick(&["4", "0", "0x10", "1000000", "18446744073709551615", "", "-1"])
                    );
                }
                vec![self.rng.pick(BINARIES).to_string(), func]
            }
            "usdt" => {
                let bin =
                    self.rng.pick(&["./usdt", "./usdt-O2", "./db", "./libusdtlib.so", "./types", "libc", "./nosuch"]);
                let prov = self.rng.pick(&["usdt", "db", "usdtlib", "other", "*", "u*", ""]);
                let name = self.rng.pick(&[
                    "values",
                    "loop",
                    "many",
                    "regs",
                    "regs2",
                    "mem",
                    "consts",
                    "guarded",
                    "inlined",
                    "dup",
                    "checkpoint",
                    "work",
                    "*",
                    "reg*",
                    "nosuch",
                ]);
                if self.rng.chance(1, 3) {
                    vec![bin.to_string(), name.to_string()]
                } else {
                    vec![bin.to_string(), prov.to_string(), name.to_string()]
                }
            }
            "tracepoint" => {
                let cat = self.rng.pick(&["syscalls", "sched", "nosuch", "sys*", ""]);
                let event = self.rng.pick(&[
                    "sys_enter_openat",
                    "sys_exit_openat",
                    "sys_enter_getpid",
                    "sys_enter_getp*",
                    "sys_*_read",
                    "sched_process_exec",
                    "sched_switch",
                    "sys_enter_nosuch",
                ]);
                vec![cat.to_string(), event.to_string()]
            }
            "interval" | "profile" => {
                let unit = self.rng.pick(&["s", "ms", "us", "hz", "ns", "m", "x"]);
                let n =
                    self.rng.pick(&["1", "100", "99", "0", "-1", "1000000000000", "18446744073709551616", "abc", ""]);
                vec![unit.to_string(), n.to_string()]
            }
            _ => vec![self
                .rng
                .pick(&["do_sys_open", "vfs_read", "cpu-clock", "1000", "0x1000:8:rw", "tcp_*"])
                .to_string()],
        };
        // Slightly wrong: a part dropped, duplicated or emptied.
        if !parts.is_empty() && self.rng.chance(1, 8) {
            let i = self.rng.below(parts.len());
            match self.rng.below(3) {
                0 => {
                    parts.remove(i);
                }
                1 => parts.insert(i, parts[i].clone()),
                _ => parts[i].clear(),
            }
        }
        let mut out = spelling.to_string();
        for p in parts {
            out.push(':');
            out += &p;
        }
        out
    }

    /// `{ STMT; ... }` with at most `max` statements.
    fn block(&mut self, max: usize) -> String {
        let n = self.rng.range(0, max);
        let mut out = String::from("{");
        for i in 0..n {
            out += " ";
            out += &self.stmt();
            if i + 1 < n || self.rng.chance(3, 4) {
                out += ";";
            }
        }
        out + " }"
    }

    fn map(&mut self) -> String {
        let name = self.rng.pick(MAPS).to_string();
        if self.rng.chance(1, 2) {
            return name;
        }
        let keys: Vec<String> = (0..self.rng.range(1, 3)).map(|_| self.expr()).collect();
        format!("{name}[{}]", keys.join(", "))
    }

    pub fn stmt(&mut self) -> String {
        if self.depth > 3 {
            return format!("{} = {}", self.rng.pick(VARS), self.leaf());
        }
        self.depth += 1;
        let s = match self.rng.below(12) {
            0..=2 => format!("{} = {}", self.map(), self.aggregation_or_expr()),
            3 | 4 => format!("{} {} {}", self.rng.pick(VARS), self.rng.pick(ASSIGN_OPS), self.expr()),
            5 => format!("{} {} {}", self.map(), self.rng.pick(ASSIGN_OPS), self.expr()),
            6 => {
                let target = if self.rng.chance(1, 2) { self.map() } else { self.rng.pick(VARS).to_string() };
                match self.rng.below(4) {
                    0 => format!("{target}++"),
                    1 => format!("{target}--"),
                    2 => format!("++{target}"),
                    _ => format!("--{target}"),
                }
            }
            7 => {
                let mut s = format!("if ({}) {}", self.expr(), self.block(3));
                while self.rng.chance(1, 3) {
                    s += &format!(" else if ({}) {}", self.expr(), self.block(2));
                }
                if self.rng.chance(1, 2) {
                    s += &format!(" else {}", self.block(2));
                }
                s
            }
            8 | 9 => self.action(),
            10 => self.expr(),
            _ => String::new(),
        };
        self.depth -= 1;
        s
    }

    fn aggregation_or_expr(&mut self) -> String {
        if self.rng.chance(1, 2) {
            return self.expr();
        }
        let e = self.expr();
        match self.rng.below(9) {
            0 => "count()".to_string(),
            1 => format!("sum({e})"),
            2 => format!("avg({e})"),
            3 => format!("min({e})"),
            4 => format!("max({e})"),
            5 => format!("stats({e})"),
            6 => format!("hist({e})"),
            7 => {
                let n: Vec<&str> = (0..3)
                    .map(|_| *self.rng.pick(&["0", "10", "100", "1", "-5", "1000000", "$1", "0x7fffffffffffffff"]))
                    .collect();
                format!("lhist({e}, {}, {}, {})", n[0], n[1], n[2])
            }
            _ => format!("count({e})"),
        }
    }

    /// A call made for its effect: printf, print, exit, time, delete, ...
    fn action(&mut self) -> String {
        match self.rng.below(8) {
            0..=2 => {
                let n = self.rng.range(0, 4);
                let mut fmt = String::new();
                for _ in 0..n + usize::from(self.rng.chance(1, 8)) {
                    fmt += *self.rng.pick(WORDS);
                    fmt += *self.rng.pick(FORMAT_SPECS);
                }
                if self.rng.chance(3, 4) {
                    fmt += "\\n";
                }
                let args: Vec<String> = (0..n).map(|_| self.expr()).collect();
                let mut call = format!("printf(\"{fmt}\"");
                for a in args {
                    call += ", ";
                    call += &a;
                }
                call + ")"
            }
            3 => {
                let mut call = format!(
                    "print({}",
                    if self.rng.chance(1, 2) { self.rng.pick(MAPS).to_string() } else { self.expr() }
                );
                for _ in 0..self.rng.below(3) {
                    call += &format!(", {}", self.rng.pick(NUMBERS));
                }
                call + ")"
            }
            4 => "exit()".to_string(),
            5 => format!("time({})", self.rng.pick(TIME_FORMATS)),
            6 => format!("{}({})", self.rng.pick(&["delete", "clear", "zero"]), self.map()),
            _ => self.call(),
        }
    }

    /// Any function of the tables, with zero to three arguments.
    fn call(&mut self) -> String {
        let name = match self.rng.below(10) {
            0 => *self.rng.pick(UNSUPPORTED_FUNCTIONS),
            1 => *self.rng.pick(&["nosuchfunc", "Count", "printff", "args", "pid"]),
            _ => self.rng.pick(FUNCTIONS).name,
        };
        let args: Vec<String> = (0..self.rng.small(4)).map(|_| self.expr()).collect();
        format!("{name}({})", args.join(", "))
    }

    /// A leaf: a literal, a variable, a builtin or an argument read.
    fn leaf(&mut self) -> String {
        match self.rng.below(10) {
            0 | 1 => self.number(),
            2 => self.string(),
            3 => self.rng.pick(VARS).to_string(),
            4 => self.rng.pick(MAPS).to_string(),
            5 => {
                let v = self.rng.pick(VARIABLES).name;
                if v == "arg" {
                    format!("arg{}", self.rng.below(MAX_ARG as usize + 3))
                } else {
                    v.to_string()
                }
            }
            6 => self.rng.pick(&["$1", "$2", "$#", "$0", "$99999999999"]).to_string(),
            _ if !self.probe.reads.is_empty() => self.rng.pick(&self.probe.reads).to_string(),
            _ => self.number(),
        }
    }

    pub fn number(&mut self) -> String {
        let n = self.rng.pick(NUMBERS).to_string();
        if self.rng.chance(1, 5) {
            format!("-{n}")
        } else {
            n
        }
    }

    /// A string literal, with escapes (some invalid) and sometimes longer
    /// than the usual 64-byte string slot.
    pub fn string(&mut self) -> String {
        let mut s = String::from("\"");
        let pieces = if self.rng.chance(1, 10) { self.rng.range(20, 60) } else { self.rng.small(6) };
        for _ in 0..pieces {
            s += if self.rng.chance(1, 3) { *self.rng.pick(ESCAPES) } else { *self.rng.pick(WORDS) };
        }
        s + "\""
    }

    fn ty(&mut self) -> String {
        let base = if self.rng.chance(2, 3) { self.rng.pick(INT_TYPES) } else { self.rng.pick(RECORD_TYPES) };
        format!("{base}{}", "*".repeat(self.rng.small(3)))
    }

    /// An expression of any form, nested a few levels at most.
    pub fn expr(&mut self) -> String {
        if self.depth > 4 || self.rng.chance(2, 5) {
            return self.leaf();
        }
        self.depth += 1;
        let e = match self.rng.below(14) {
            0..=3 => format!("{} {} {}", self.expr(), self.rng.pick(BINARY_OPS), self.expr()),
            4 => format!("{}{}", self.rng.pick(&["-", "!", "~", "*", "&"]), self.expr()),
            5 => format!("({}) {}", self.ty(), self.expr()),
            6 => format!("{} ? {} : {}", self.expr(), self.expr(), self.expr()),
            7 => format!("({})", self.expr()),
            8 => format!(
                "str({}{})",
                self.expr(),
                if self.rng.chance(1, 3) { format!(", {}", self.number()) } else { String::new() }
            ),
            9 => self.call(),
            10 => {
                let arg = if self.rng.chance(1, 2) { self.ty() } else { self.expr() };
                format!("sizeof({arg})")
            }
            11 => {
                let ty = self.rng.pick(RECORD_TYPES);
                let field = self.rng.pick(&[
                    "sid",
                    "version.epoch",
                    "version.version",
                    "name",
                    "x",
                    "u.words",
                    "nosuch",
                    "peer.sid",
                ]);
                format!("offsetof({ty}, {field})")
            }
            12 => {
                let base = self.expr();
                match self.rng.below(3) {
                    0 => format!("{base}.{}", self.rng.pick(&["sid", "name", "x", "long", "id"])),
                    1 => format!("{base}->{}", self.rng.pick(&["sid", "peer", "id", "int"])),
                    _ => format!("{base}[{}]", self.expr()),
                }
            }
            _ => format!("({}, {})", self.expr(), self.expr()),
        };
        self.depth -= 1;
        e
    }
}
