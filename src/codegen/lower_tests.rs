//! Tests of lowering by execution: a program is parsed, checked and
//! lowered, and each probe's IR runs in the reference interpreter
//! (`ir_interp`) against a small model of the kernel — maps that hold
//! values, a ring buffer that keeps what is output, helpers with fixed
//! answers (pid 4242, comm "lowering", ...). The tests then read the maps
//! and events the way userspace would. No kernel is needed, so every
//! builtin and construct can be checked here on any machine; the script
//! cases check the same against the real kernel.

use std::collections::HashMap;

use crate::codegen::helpers;
use crate::codegen::ir::MapId;
use crate::codegen::ir_interp::{run_ir, Mem, World};
use crate::codegen::lower::{lower_program, LowerOptions};
use crate::codegen::program::{drop_counter, event, Compiled, MapDecl, EVENTS_MAP, SCRATCH_MAP};
use crate::frontend::ast::Program;
use crate::frontend::parser::parse_program;
use crate::frontend::passes::{self, CheckedProbe, Params};
use crate::frontend::probes::{Interval, ProbeContext, ProbeSpec, ResolvedProbe, Tracepoint, Usdt};
use crate::frontend::tracefs::parse_format;
use crate::frontend::usdt::operand::decode_args;
use crate::frontend::usdt::Site;
use crate::sys::MapKind;

const PID: u64 = 4242;
const TID: u64 = 4243;
const UID: u64 = 1000;
const GID: u64 = 1001;
const NOW_NS: u64 = 7_000_000_000;
const START_NS: u64 = 5_000_000_000;
const COMM: &[u8] = b"lowering";
/// Map handles are these plus the map id; map values live from `VALUES` on.
const MAP_HANDLES: u64 = 0x5000_0000;
const VALUES: u64 = 0x6000_0000;

/// The kernel as lowered programs see it.
struct Kernel {
    decls: Vec<MapDecl>,
    /// Every map entry's value region, by map id and key bytes.
    entries: HashMap<(usize, Vec<u8>), u64>,
    next_region: u64,
    /// What `bpf_ringbuf_output` was given, in order.
    events: Vec<Vec<u8>>,
    /// What `bpf_map_update_elem` returns for a new key of a full map.
    e2big: u64,
}

/// -E2BIG as the helper returns it from 6.4 on, sign-extended to 64 bits.
const E2BIG: u64 = -7i64 as u64;
/// -E2BIG as 6.1 leaves it in r0: its map operations return `int`, and the
/// verifier calls them directly, so the upper 32 bits are zero.
const E2BIG_INT: u64 = (-7i32) as u32 as u64;

impl Kernel {
    fn new(compiled: &Compiled) -> Kernel {
        Kernel {
            decls: compiled.maps.clone(),
            entries: HashMap::new(),
            next_region: VALUES,
            events: Vec::new(),
            e2big: E2BIG,
        }
    }

    fn decl(&self, handle: u64) -> Result<(usize, &MapDecl), String> {
        let id = handle.wrapping_sub(MAP_HANDLES) as usize;
        self.decls.get(id).map(|d| (id, d)).ok_or(format!("{handle:#x} is not a map"))
    }

    /// A new region for a map value of `size` bytes, holding `bytes`.
    fn region(&mut self, mem: &mut Mem, size: u32, bytes: &[u8]) -> u64 {
        let base = self.next_region;
        self.next_region += u64::from(size).max(8).next_multiple_of(0x1000);
        let mut value = bytes.to_vec();
        value.resize(size as usize, 0);
        mem.add(base, &value);
        base
    }

    /// The value of `@name` (key bytes `key`) after the run.
    fn value(&self, mem: &Mem, name: &str, key: &[u8]) -> Option<Vec<u8>> {
        let id = self.decls.iter().position(|d| d.name == name)?;
        mem.region(*self.entries.get(&(id, key.to_vec()))?)
    }

    /// A scalar map's 64-bit value.
    fn int(&self, mem: &Mem, name: &str) -> i64 {
        let v = self.value(mem, name, &[0; 8]).unwrap_or_else(|| panic!("{name} has no value"));
        i64::from_le_bytes(v[..8].try_into().unwrap())
    }
}

fn word(args: &[u64], i: usize) -> Result<u64, String> {
    args.get(i).copied().ok_or(format!("missing helper argument {i}"))
}

impl World for Kernel {
    fn map(&mut self, map: MapId) -> u64 {
        MAP_HANDLES + u64::from(map.0)
    }

    fn call(&mut self, helper: u32, args: &[u64], mem: &mut Mem) -> Result<u64, String> {
        let h = helper as i32;
        Ok(match h {
            helpers::MAP_LOOKUP_ELEM | helpers::MAP_UPDATE_ELEM | helpers::MAP_DELETE_ELEM => {
                let (id, decl) = self.decl(word(args, 0)?)?;
                let (kind, value_size, max_entries) = (decl.kind, decl.value_size, decl.max_entries);
                let key = mem.bytes(word(args, 1)?, decl.key_size as usize)?;
                let array = matches!(kind, MapKind::Array | MapKind::PercpuArray);
                match (h, self.entries.get(&(id, key.clone())).copied()) {
                    (helpers::MAP_LOOKUP_ELEM, Some(at)) => at,
                    // Array entries exist (zeroed) from the start.
                    (helpers::MAP_LOOKUP_ELEM, None) if array => {
                        let at = self.region(mem, value_size, &[]);
                        self.entries.insert((id, key), at);
                        at
                    }
                    (helpers::MAP_LOOKUP_ELEM, None) => 0,
                    (helpers::MAP_UPDATE_ELEM, None)
                        if self.entries.keys().filter(|(m, _)| *m == id).count() >= max_entries as usize =>
                    {
                        self.e2big // the map is full
                    }
                    (helpers::MAP_UPDATE_ELEM, at) => {
                        let value = mem.bytes(word(args, 2)?, value_size as usize)?;
                        match at {
                            Some(at) => mem.write_bytes(at, &value)?,
                            None => {
                                let at = self.region(mem, value_size, &value);
                                self.entries.insert((id, key), at);
                            }
                        }
                        0
                    }
                    (_, at) => {
                        self.entries.remove(&(id, key));
                        if at.is_some() {
                            0
                        } else {
                            -2i64 as u64
                        }
                    }
                }
            }
            helpers::RINGBUF_OUTPUT => {
                let (id, _) = self.decl(word(args, 0)?)?;
                if id != EVENTS_MAP.0 as usize {
                    return Err(format!("ring buffer output to map {id}"));
                }
                self.events.push(mem.bytes(word(args, 1)?, word(args, 2)? as usize)?);
                0
            }
            // Stack ids: 9 for the user stack, 7 for the kernel's.
            helpers::GET_STACKID => {
                let (_, decl) = self.decl(word(args, 1)?)?;
                if decl.kind != MapKind::StackTrace {
                    return Err(format!("get_stackid into {}", decl.name));
                }
                if word(args, 2)? & (1 << 8) != 0 {
                    9
                } else {
                    7
                }
            }
            // No user stack to give.
            helpers::GET_STACK => 0,
            helpers::GET_CURRENT_PID_TGID => (PID << 32) | TID,
            helpers::GET_CURRENT_UID_GID => (GID << 32) | UID,
            helpers::GET_SMP_PROCESSOR_ID => 0,
            helpers::KTIME_GET_NS => NOW_NS,
            helpers::GET_CURRENT_COMM => {
                let mut comm = COMM.to_vec();
                comm.resize(word(args, 1)? as usize, 0);
                mem.write_bytes(word(args, 0)?, &comm)?;
                0
            }
            helpers::PROBE_READ_USER | helpers::PROBE_READ_KERNEL => {
                let bytes = mem.bytes(word(args, 2)?, word(args, 1)? as usize)?;
                mem.write_bytes(word(args, 0)?, &bytes)?;
                0
            }
            helpers::PROBE_READ_USER_STR | helpers::PROBE_READ_KERNEL_STR => {
                let (dst, size, src) = (word(args, 0)?, word(args, 1)? as usize, word(args, 2)?);
                let mut s = Vec::new();
                while s.len() + 1 < size {
                    match mem.bytes(src + s.len() as u64, 1)?[0] {
                        0 => break,
                        b => s.push(b),
                    }
                }
                s.push(0);
                mem.write_bytes(dst, &s)?;
                s.len() as u64
            }
            _ => return Err(format!("helper {helper} is not modelled")),
        })
    }
}

/// Check and lower `probes`, then run each probe once in order against one
/// kernel, with `ctx` as every probe's context.
fn run(probes: Vec<CheckedProbe>, ctx: &[u8], extra: &[(u64, &[u8])]) -> (Kernel, Mem) {
    run_ignoring(probes, ctx, extra, None)
}

/// [`run`], with probes lowered to ignore the events of `ignore_pid`.
fn run_ignoring(
    probes: Vec<CheckedProbe>,
    ctx: &[u8],
    extra: &[(u64, &[u8])],
    ignore_pid: Option<u32>,
) -> (Kernel, Mem) {
    run_with(probes, ctx, extra, LowerOptions { start_ns: START_NS, ignore_pid, map_keys: 0, ncpus: 2, helpers: None })
}

/// [`run`], lowered with `opts`.
fn run_with(probes: Vec<CheckedProbe>, ctx: &[u8], extra: &[(u64, &[u8])], opts: LowerOptions) -> (Kernel, Mem) {
    run_e2big(probes, ctx, extra, opts, E2BIG)
}

/// [`run_with`] on a kernel whose full maps refuse a new key with `e2big`.
fn run_e2big(
    probes: Vec<CheckedProbe>,
    ctx: &[u8],
    extra: &[(u64, &[u8])],
    opts: LowerOptions,
    e2big: u64,
) -> (Kernel, Mem) {
    let checked = passes::check_expanded(probes, &Params::default(), Default::default())
        .unwrap_or_else(|d| panic!("does not check: {d:?}"));
    let compiled = lower_program(&checked, &opts).unwrap_or_else(|d| panic!("does not lower: {d:?}"));
    let mut kernel = Kernel::new(&compiled);
    kernel.e2big = e2big;
    let mut mem = Mem::new(ctx);
    for (base, bytes) in extra {
        mem.add(*base, bytes);
    }
    for p in &compiled.probes {
        run_ir(&p.ir, &mut mem, &mut kernel).unwrap_or_else(|e| panic!("{}: {e}", p.resolved.name));
    }
    (kernel, mem)
}

/// The probes of `text`, expanded as `trace` would.
fn expanded(text: &str) -> Vec<CheckedProbe> {
    let ast = parse_program(text, 0).unwrap_or_else(|d| panic!("does not parse: {d:?}"));
    with_spec(&ast, None)
}

/// The probes of `ast`; with `spec`, every probe is given that resolved
/// probe instead of its attach points'.
fn with_spec(ast: &Program, spec: Option<&ResolvedProbe>) -> Vec<CheckedProbe> {
    let mut out = Vec::new();
    for p in &ast.probes {
        let resolved = match spec {
            Some(r) => vec![r.clone()],
            None => crate::frontend::probes::expand(&p.attach[0], &ProbeContext::default()).expect("expands"),
        };
        for resolved in resolved {
            let body = p.body.clone();
            out.push(CheckedProbe {
                resolved,
                pred: p.pred.clone(),
                body,
                vars: Vec::new(),
                dwarf: Default::default(),
            });
        }
    }
    out
}

fn program(text: &str) -> (Kernel, Mem) {
    run(expanded(text), &[], &[])
}

/// Interval probes see the interrupted context's registers: `pt_regs`
/// with `regs` (name, value) set.
fn pt_regs(regs: &[(&str, u64)]) -> Vec<u8> {
    let mut ctx = vec![0u8; 168];
    for (name, v) in regs {
        let off = crate::arch::pt_regs_offset(name).expect("register") as usize;
        ctx[off..off + 8].copy_from_slice(&v.to_le_bytes());
    }
    ctx
}

fn u64_at(bytes: &[u8], i: usize) -> u64 {
    u64::from_le_bytes(bytes[8 * i..8 * i + 8].try_into().unwrap())
}

#[test]
fn arithmetic_is_c_arithmetic() {
    let (k, mem) = program("BEGIN { @d = -10 / 3; @m = -10 % 3; @u = (uint64)20 / 3; @s = (1 << 40) + 2 * 3 - ~0; }");
    assert_eq!((k.int(&mem, "@d"), k.int(&mem, "@m"), k.int(&mem, "@u")), (-3, -1, 6));
    assert_eq!(k.int(&mem, "@s"), (1 << 40) + 7);
}

#[test]
fn signed_division_without_cpu_v4() {
    // Every sign combination, zero divisors and the one overflow, against
    // Rust's wrapping arithmetic (BPF: x / 0 = 0, x % 0 = x).
    let pairs: [(i64, i64); 9] =
        [(-10, 3), (10, -3), (-10, -3), (10, 3), (-7, 0), (7, 0), (0, -5), (i64::MIN, -1), (i64::MIN, 2)];
    for (a, b) in pairs {
        let (k, mem) = program(&format!("BEGIN {{ $a = {a}; $b = {b}; @d = $a / $b; @m = $a % $b; }}"));
        let want_d = if b == 0 { 0 } else { a.wrapping_div(b) };
        let want_m = if b == 0 { a } else { a.wrapping_rem(b) };
        assert_eq!((k.int(&mem, "@d"), k.int(&mem, "@m")), (want_d, want_m), "{a} / {b}");
    }
    // No instruction needs cpu v4.
    let checked = passes::check_expanded(
        expanded("BEGIN { $a = -3; @d = $a / 2; @m = $a % 2; }"),
        &Params::default(),
        Default::default(),
    )
    .expect("checks");
    let opts = LowerOptions { start_ns: START_NS, ignore_pid: None, map_keys: 0, ncpus: 2, helpers: None };
    let compiled = lower_program(&checked, &opts).expect("lowers");
    let ir = crate::codegen::disasm::dump_ir(&compiled.probes[0].ir);
    assert!(!ir.contains("s/") && !ir.contains("s%"), "{ir}");
}

#[test]
fn builtins_read_what_the_kernel_says() {
    let (k, mem) = program(
        "BEGIN { @pid = pid; @tid = tid; @uid = uid; @gid = gid; @cpu = cpu; @ns = nsecs; @el = elapsed; @c = comm; }",
    );
    let got: Vec<i64> = ["@pid", "@tid", "@uid", "@gid", "@cpu", "@ns", "@el"].iter().map(|m| k.int(&mem, m)).collect();
    let want = [PID, TID, UID, GID, 0, NOW_NS, NOW_NS - START_NS].map(|v| v as i64);
    assert_eq!(got, want);
    let comm = k.value(&mem, "@c", &[0; 8]).expect("@c");
    assert_eq!(&comm[..COMM.len() + 1], b"lowering\0");
}

#[test]
fn printf_sends_its_arguments_in_slots() {
    let (k, _) = program(r#"BEGIN { printf("%d %s\n", -42, "hi"); printf("%d\n", probe == "BEGIN"); }"#);
    assert_eq!(k.events.len(), 2);
    let e = &k.events[0];
    assert_eq!((u64_at(e, 0), u64_at(e, 1), u64_at(e, 2) as i64), (event::PRINTF, 0, -42));
    assert_eq!(&e[24..27], b"hi\0");
    assert_eq!((u64_at(&k.events[1], 1), u64_at(&k.events[1], 2)), (1, 1));
}

#[test]
fn aggregations_update_this_cpus_slot() {
    let (k, mem) = program(
        "BEGIN { @c = count(); @c = count(); @s = sum(5); @s = sum(-2); @mx = max(3); @mx = max(9); @h = hist(5); }",
    );
    assert_eq!((k.int(&mem, "@c"), k.int(&mem, "@s"), k.int(&mem, "@mx")), (2, 3, 9));
    // hist: the key is the user key then the bucket; 5 is in [4, 8), bucket 4.
    let mut key = vec![0u8; 8];
    key.extend(4u64.to_le_bytes());
    assert_eq!(u64_at(&k.value(&mem, "@h", &key).expect("bucket of 5"), 0), 1);
}

#[test]
fn control_flow_variables_and_strings() {
    let (k, mem) = program(
        r#"BEGIN { $x = 5; $x += 2; if ($x > 6 && comm == "lowering") { @r = $x > 8 ? 1 : 2; } else { @r = 3; }
           $s = "ab"; @eq = $s == "ab"; @ne = $s != "abc"; @i++; @i++; @k[1, "x"] = 7; delete(@k[1, "x"]); }"#,
    );
    assert_eq!((k.int(&mem, "@r"), k.int(&mem, "@eq"), k.int(&mem, "@ne"), k.int(&mem, "@i")), (2, 1, 1, 2));
    assert!(k.entries.keys().all(|(id, _)| k.decls[*id].name != "@k"), "deleted");
}

#[test]
fn tuples_are_laid_out_in_slots_and_converted_to_wider_strings() {
    let (k, mem) = program(
        r#"BEGIN { $t = (1, "a"); $t = (2, "abcdefghij"); @t = $t; @n = $t.0 + 40;
           @eq = (1, "x") == (1, "x"); @ne = (1, "x") != (1, "xy"); @k[(3, "z")] = (4, (5, comm)); }"#,
    );
    // (int64, string[11]): the integer in 8 bytes, the string in 16.
    let t = k.value(&mem, "@t", &[0; 8]).expect("@t");
    assert_eq!((u64_at(&t, 0), &t[8..19]), (2, &b"abcdefghij\0"[..]));
    assert_eq!((k.int(&mem, "@n"), k.int(&mem, "@eq"), k.int(&mem, "@ne")), (42, 1, 1));
    let mut key = 3u64.to_le_bytes().to_vec();
    key.extend(b"z\0\0\0\0\0\0\0");
    let v = k.value(&mem, "@k", &key).expect("@k[(3, z)]");
    assert_eq!((u64_at(&v, 0), u64_at(&v, 1), &v[16..24]), (4, 5, COMM));
}

#[test]
fn exit_stops_the_probe_and_tells_userspace() {
    let (k, mem) = program("BEGIN { @a = 1; exit(); @b = 2; }");
    assert_eq!(k.int(&mem, "@a"), 1);
    assert!(k.value(&mem, "@b", &[0; 8]).is_none());
    assert_eq!(k.events.iter().map(|e| u64_at(e, 0)).collect::<Vec<_>>(), [event::EXIT]);
}

#[test]
fn argument_registers_and_strings_they_point_to() {
    const TEXT: u64 = 0x7000_0000;
    let ctx = pt_regs(&[("rdi", TEXT), ("rsi", 77), ("r9", u64::MAX)]);
    let probes = expanded("interval:s:1 { @a = arg1; @f = (int32)arg5; @s = str(arg0); @n = str(arg0, 2); }");
    assert!(matches!(probes[0].resolved.spec, ProbeSpec::Interval(Interval { .. })));
    let (k, mem) = run(probes, &ctx, &[(TEXT, b"hello\0")]);
    assert_eq!((k.int(&mem, "@a"), k.int(&mem, "@f")), (77, -1));
    assert_eq!(&k.value(&mem, "@s", &[0; 8]).expect("@s")[..6], b"hello\0");
    assert_eq!(&k.value(&mem, "@n", &[0; 8]).expect("@n")[..3], b"he\0");
}

#[test]
fn tracepoint_fields_by_their_format() {
    let format = parse_format(
        "name: t\nID: 1\nformat:\n\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\
         \tfield:int ret;\toffset:8;\tsize:4;\tsigned:1;\n\tfield:char comm[16];\toffset:12;\tsize:16;\tsigned:0;\n\
         \tfield:__data_loc char[] path;\toffset:28;\tsize:4;\tsigned:0;\n",
    )
    .expect("format");
    let spec = ProbeSpec::Tracepoint(Tracepoint { category: "test".into(), name: "t".into(), format });
    let resolved = ResolvedProbe { spec, name: "tracepoint:test:t".into(), span: Default::default() };
    let ast = parse_program("tracepoint:test:t { @r = args.ret; @c = args.comm; @p = args.path; }", 0).expect("parses");
    let mut record = vec![0u8; 40];
    record[8..12].copy_from_slice(&(-5i32).to_le_bytes());
    record[12..16].copy_from_slice(b"kw\0\0");
    record[28..32].copy_from_slice(&(32u32 | (4 << 16)).to_le_bytes());
    record[32..36].copy_from_slice(b"/tm\0");
    let (k, mem) = run(with_spec(&ast, Some(&resolved)), &record, &[]);
    assert_eq!(k.int(&mem, "@r"), -5);
    assert_eq!(&k.value(&mem, "@c", &[0; 8]).expect("@c")[..3], b"kw\0");
    assert_eq!(&k.value(&mem, "@p", &[0; 8]).expect("@p")[..4], b"/tm\0");
}

#[test]
fn usdt_operands_from_registers_memory_and_constants() {
    const STACK: u64 = 0x7100_0000;
    let args = decode_args("-4@%eax 8@-8(%rbp) 2@$300 -1@%ah", 0x1000, &|_| None);
    let site = Site {
        provider: "p".into(),
        name: "n".into(),
        vaddr: 0x1000,
        file_offset: 0x1000,
        semaphore: None,
        args_text: String::new(),
        args,
    };
    let spec = ProbeSpec::Usdt(Usdt { binary: "/nonexistent".into(), site });
    let resolved = ResolvedProbe { spec, name: "usdt:x:p:n".into(), span: Default::default() };
    let ast = parse_program("usdt:x:p:n { @a = arg0; @b = arg1; @c = arg2; @d = arg3; }", 0).expect("parses");
    let ctx = pt_regs(&[("rax", 0xffff_fe01), ("rbp", STACK + 8)]);
    let (k, mem) = run(with_spec(&ast, Some(&resolved)), &ctx, &[(STACK, &123456789u64.to_le_bytes())]);
    let got: Vec<i64> = ["@a", "@b", "@c", "@d"].iter().map(|m| k.int(&mem, m)).collect();
    // eax is 0xfffffe01 (an int: -511), ah is 0xfe (a signed char: -2).
    assert_eq!(got, [-511, 123456789, 300, -2]);
}

/// A name the checker did not resolve is a diagnostic from lowering, not
/// a silent zero.
#[test]
fn unresolved_states_are_internal_errors() {
    let mut checked = passes::check_expanded(expanded("BEGIN { @x = pid; }"), &Params::default(), Default::default())
        .expect("checks");
    let crate::frontend::ast::StmtKind::AssignMap { value, .. } = &mut checked.probes[0].body.stmts[0].kind else {
        panic!("an assignment")
    };
    value.kind = crate::frontend::ast::ExprKind::Ident("pid".into());
    let diags = lower_program(&checked, &LowerOptions::default()).expect_err("refused");
    assert!(diags[0].message.contains("internal error in code generation"), "{:?}", diags[0]);
}

/// Probes ignore the events of trace's own process (BEGIN and END, which
/// trace runs itself, do not).
#[test]
fn probes_ignore_tracers_own_events() {
    let format =
        parse_format("name: t\nID: 1\nformat:\n\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n")
            .expect("format");
    let spec = ProbeSpec::Tracepoint(Tracepoint { category: "test".into(), name: "t".into(), format });
    let resolved = ResolvedProbe { spec, name: "tracepoint:test:t".into(), span: Default::default() };
    let ast = parse_program("tracepoint:test:t { @t = 1; }", 0).expect("parses");
    let timers = expanded("BEGIN { @b = 1; } interval:s:1 { @i = 1; } profile:hz:99 { @p = 1; }");
    let probes = |ast: &Program| with_spec(ast, Some(&resolved)).into_iter().chain(timers.clone()).collect();
    let (k, mem) = run_ignoring(probes(&ast), &pt_regs(&[]), &[], Some(PID as u32));
    assert!(k.value(&mem, "@t", &[0; 8]).is_none(), "the tracepoint probe left at once");
    // BEGIN runs in trace's process; timers tick in whatever process runs.
    assert_eq!((k.int(&mem, "@b"), k.int(&mem, "@i"), k.int(&mem, "@p")), (1, 1, 1));
    let (k, mem) = run_ignoring(probes(&ast), &pt_regs(&[]), &[], Some(PID as u32 + 1));
    assert_eq!(k.int(&mem, "@t"), 1, "another process's events are seen");
}

/// `exit()` sets the stop word after its event; from then on probes that
/// fire on events do nothing, while END still runs.
#[test]
fn after_exit_only_end_runs() {
    let text = "BEGIN { @b = 1; } interval:s:1 { @i = 1; exit(); } interval:s:2 { @j = 1; } END { @e = 1; }";
    let (k, mem) = run(expanded(text), &pt_regs(&[]), &[]);
    assert_eq!((k.int(&mem, "@b"), k.int(&mem, "@i"), k.int(&mem, "@e")), (1, 1, 1));
    assert!(k.value(&mem, "@j", &[0; 8]).is_none(), "the second interval probe left at once");
    let stop = k.value(&mem, "stop", &[0; 4]).expect("the stop word");
    assert_eq!(u64_at(&stop, 0), 1);
    assert_eq!(k.events.iter().map(|e| u64_at(e, 0)).collect::<Vec<_>>(), [event::EXIT]);
}

/// An update a full map refuses is counted for the session to report,
/// whether the kernel's -E2BIG is a 64-bit or (6.1) a 32-bit negative.
#[test]
fn updates_of_a_full_map_are_counted() {
    for e2big in [E2BIG, E2BIG_INT] {
        let opts = LowerOptions { start_ns: START_NS, ignore_pid: None, map_keys: 2, ncpus: 2, helpers: None };
        let text = "BEGIN { @m[1] = 1; @m[2] = 2; @m[3] = 3; @m[4] = 4; @c[1] = count(); }";
        let (k, mem) = run_e2big(expanded(text), &[], &[], opts, e2big);
        let id = |name: &str| MapId(k.decls.iter().position(|d| d.name == name).expect("map") as u32);
        let scratch =
            k.entries.get(&(SCRATCH_MAP.0 as usize, vec![0; 4])).and_then(|at| mem.region(*at)).expect("scratch");
        let drops = |name: &str| u64_at(&scratch, drop_counter(id(name)) as usize / 8);
        assert_eq!((drops("@m"), drops("@c")), (2, 0), "-E2BIG as {e2big:#x}");
    }
}

#[test]
fn stacks_are_ids_with_the_process_and_a_process_is_announced_once() {
    let (k, mem) = program(
        r#"BEGIN { @[ustack] = count(); @[ustack] = count(); @k[kstack(perf, 5)] = count(); @s = usym(77); @q = ksym(88); }"#,
    );
    let user_key = ((PID << 32) | 9).to_le_bytes();
    let count = k.value(&mem, "@", &user_key).expect("@[ustack]");
    assert_eq!(u64_at(&count, 0), 2);
    assert!(k.value(&mem, "@k", &7u64.to_le_bytes()).is_some(), "@k[kstack]");
    // usym: the address and the process; ksym: the address and 0.
    assert_eq!(k.value(&mem, "@s", &[0; 8]).map(|v| (u64_at(&v, 0), u64_at(&v, 1))), Some((77, PID)));
    assert_eq!(k.value(&mem, "@q", &[0; 8]).map(|v| (u64_at(&v, 0), u64_at(&v, 1))), Some((88, 0)));
    // One stack map per kind and depth; the process announced once.
    let names: Vec<&str> = k.decls.iter().map(|d| d.name.as_str()).collect();
    assert!(names.contains(&"ustack_127") && names.contains(&"kstack_5"), "{names:?}");
    // Sized by the 8 MB budget at their depth, spill maps half as large.
    let entries = |name: &str| k.decls.iter().find(|d| d.name == name).map(|d| d.max_entries);
    assert_eq!((entries("ustack_127"), entries("ustack_127_spill")), (Some(8256), Some(4128)));
    assert_eq!(entries("kstack_5"), Some((8 << 20) / 40));
    let announced: Vec<u64> =
        k.events.iter().filter(|e| u64_at(e, 0) == event::PROCESS).map(|e| u64_at(e, 1)).collect();
    assert_eq!(announced, [PID]);
}

#[test]
fn reg_reads_the_saved_registers() {
    let (k, mem) = run(
        expanded(r#"interval:ms:1 { @ip = reg("ip"); @sp = reg("sp"); }"#),
        &pt_regs(&[("rip", 0x401000), ("rsp", 0x7ff0)]),
        &[],
    );
    assert_eq!((k.int(&mem, "@ip"), k.int(&mem, "@sp")), (0x401000, 0x7ff0));
}
