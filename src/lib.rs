//! `trace`: a tracing language compiled straight to eBPF.
//!
//! The whole pipeline, one stage per line (see ARCHITECTURE.md):
//!
//! ```text
//! parse ─► check (probes, types, maps) ─► lower ─► regalloc ─► link ─► load ─► run
//! ```
//!
//! [`compile`] does everything that needs no kernel; [`load`] creates maps
//! and loads programs (turning verifier rejections into diagnostics on the
//! source); [`runtime::session::run`] attaches, prints and tears down.

pub mod arch;
pub mod argdist_cli;
pub mod codegen;
pub mod diag;
pub mod frontend;
pub mod repl;
pub mod runtime;
pub mod source;
pub mod sys;
#[cfg(test)]
mod testing;

use codegen::ir::RESERVED_STACK;
use codegen::link::{link, Linked};
use codegen::program::Compiled;
use codegen::regalloc::{allocate_all, AsmLine};
use diag::Diagnostic;
use frontend::passes::{self, MapTable, Params};
use frontend::probes::ProbeContext;
use runtime::load::LoadError;
use runtime::maps::Map;
use runtime::session::{self, SessionError};
use source::{FileId, SourceMap};

/// What the user asked for that affects compilation.
#[derive(Clone, Debug, Default)]
pub struct CompileOptions {
    pub params: Params,
    pub pid: Option<i32>,
    /// CLOCK_MONOTONIC nanoseconds at start, for `elapsed`.
    pub start_ns: u64,
    /// A process whose events no probe sees (see [`own_events_ignored`]).
    pub ignore_pid: Option<u32>,
    /// Entries of each map (`--max-map-keys`; 0: the default, 4096).
    pub max_map_keys: u32,
    /// Most probes one program may attach (`--max-probes`; 0: the
    /// default, [`MAX_PROBES`]).
    pub max_probes: usize,
    /// Where C definitions' `#include`s are found, and `--include` files.
    pub cdefs: frontend::cdecl::Options,
}

/// Probes a program may attach by default, as bpftrace's limit: the kernel
/// takes tens of milliseconds to detach each one, so a careless wildcard
/// (`tracepoint:*:*` is 2,300 of them) would hold the machine for minutes.
pub const MAX_PROBES: usize = 512;

/// Refuse a program that attaches more than the limit, pointing at the
/// attach point that expands to the most.
fn check_probe_count(
    ast: &frontend::ast::Program,
    probes: &[passes::CheckedProbe],
    limit: usize,
) -> Result<(), Vec<Diagnostic>> {
    let limit = if limit == 0 { MAX_PROBES } else { limit };
    let attached: Vec<&passes::CheckedProbe> =
        probes.iter().filter(|p| matches!(p.resolved.spec.kind().firing(), frontend::probes::Firing::On(_))).collect();
    if attached.len() <= limit {
        return Ok(());
    }
    let mut by_point: Vec<(source::Span, usize)> = Vec::new();
    for p in &attached {
        match by_point.iter_mut().find(|(s, _)| *s == p.resolved.span) {
            Some(e) => e.1 += 1,
            None => by_point.push((p.resolved.span, 1)),
        }
    }
    let (span, most) = by_point.iter().copied().max_by_key(|e| e.1).unwrap_or_default();
    let n = attached.len();
    let mut d = Diagnostic::error(format!("this program attaches {n} probes; the limit is {limit}"))
        .at(span, format!("{most} probes"))
        .note(format!(
            "attaching and detaching that many takes the kernel a while; to go ahead, raise the limit: `--max-probes {n}`"
        ));
    if ast.probes.iter().any(|p| p.attach.iter().any(|a| a.text.contains('*'))) {
        d = d.note("or narrow the wildcard");
    }
    Err(vec![d])
}

/// trace's own process, whose events probes ignore: a probe that trace
/// itself hits while it reads and prints (`uprobe:libc:malloc`, a
/// tracepoint on `write`) would otherwise feed on itself. `-p` with trace's
/// own pid asks for them.
pub fn own_events_ignored(pid: Option<i32>) -> Option<u32> {
    let own = std::process::id();
    (pid != i32::try_from(own).ok()).then_some(own)
}

impl CompileOptions {
    /// These options under a program's `config` block: what the command
    /// line left at its default, the block decides.
    fn with_config(&self, settings: frontend::config::Settings) -> CompileOptions {
        let mut opts = self.clone();
        if opts.max_map_keys == 0 {
            opts.max_map_keys = settings.max_map_keys.unwrap_or(0);
        }
        if opts.max_probes == 0 {
            opts.max_probes = settings.max_probes.unwrap_or(0);
        }
        opts.params.settings = settings;
        opts
    }

    fn lowering(&self) -> codegen::lower::LowerOptions {
        codegen::lower::LowerOptions {
            start_ns: self.start_ns,
            ignore_pid: self.ignore_pid,
            map_keys: self.max_map_keys,
            ncpus: sys::possible_cpus().map_or(1, |n| n as u32),
            helpers: None,
        }
    }
}

/// A compiled program: IR lowered and registers allocated, not yet linked
/// to map file descriptors.
pub struct Program {
    pub compiled: Compiled,
    pub asm: Vec<Vec<AsmLine>>,
    pub ast: frontend::ast::Program,
    /// Every map's type, as the checker decided it.
    pub maps: MapTable,
    /// What compiling found worth saying that did not stop it.
    pub warnings: Vec<Diagnostic>,
}

/// Source text ─► register-allocated code for every probe. Files the
/// script includes are added to `sources`.
pub fn compile(sources: &mut SourceMap, file: FileId, opts: &CompileOptions) -> Result<Program, Vec<Diagnostic>> {
    let (ast, warnings) = parse_script(sources, file, &opts.cdefs)?;
    let mut program = compile_ast(ast, opts).map_err(|mut d| {
        d.extend(warnings.iter().cloned());
        d
    })?;
    program.warnings = warnings;
    Ok(program)
}

/// A script parsed with its C definitions (`frontend::cdecl`): they are
/// read first, so that their typedef names parse as casts (`(name)x`);
/// probes inside a skipped `#if` are dropped. Returns the warnings too.
pub fn parse_script(
    sources: &mut SourceMap,
    file: FileId,
    opts: &frontend::cdecl::Options,
) -> Result<(frontend::ast::Program, Vec<Diagnostic>), Vec<Diagnostic>> {
    let pieces = frontend::parser::c_text(sources.text(file), file);
    let built = frontend::cdecl::build(sources, file, &pieces, opts)?;
    let mut ast = frontend::parser::parse_program_with(sources.text(file), file, &built.defs)?;
    let skipped = |s: source::Span| built.skipped.iter().any(|&(a, b)| a <= s.start as usize && (s.end as usize) <= b);
    ast.probes.retain(|p| !skipped(p.span));
    ast.defs = built.defs;
    Ok((ast, built.warnings))
}

/// A parsed program (from the script parser or the argdist front end) ─►
/// register-allocated code for every probe.
pub fn compile_ast(ast: frontend::ast::Program, opts: &CompileOptions) -> Result<Program, Vec<Diagnostic>> {
    if ast.probes.is_empty() {
        let d = Diagnostic::error("the program has no probes")
            .note("a program looks like `BEGIN { printf(\"hello\\n\"); exit(); }`");
        return Err(vec![d]);
    }
    let opts = &opts.with_config(frontend::config::read(&ast.config)?);
    let ctx = ProbeContext { pid: opts.pid };
    let probes = passes::expand_all(&ast, &ctx, &opts.params)?;
    check_probe_count(&ast, &probes, opts.max_probes)?;
    let checked = passes::check_expanded(probes, &opts.params, Default::default()).map_err(diag::dedup)?;
    let compiled = codegen::lower::lower_program(&checked, &opts.lowering()).map_err(diag::dedup)?;
    allocate(ast, compiled, checked.maps).map_err(diag::dedup)
}

/// The smallest string slot of a map created in the REPL (bpftrace's
/// default string size).
pub const REPL_MIN_STRING: u32 = 64;

/// The REPL: compile more probes (or statements wrapped in `BEGIN`) into a
/// live session whose maps have the types in `maps` and whose maps and
/// event tables are `tables`. The result's `compiled` holds the session's
/// tables extended with this program's, and only this program's probes.
pub fn compile_more(
    ast: frontend::ast::Program,
    opts: &CompileOptions,
    maps: &MapTable,
    tables: &Compiled,
) -> Result<Program, Vec<Diagnostic>> {
    let ctx = ProbeContext { pid: opts.pid };
    let mut known = maps.clone();
    for info in known.maps.values_mut() {
        info.live = true;
    }
    let probes = passes::expand_all(&ast, &ctx, &opts.params)?;
    check_probe_count(&ast, &probes, opts.max_probes)?;
    // Settings decide the layout of maps the session already has.
    if let Some(e) = ast.config.first() {
        let d = Diagnostic::error("a config block cannot change a running session")
            .at(e.key_span, "in the REPL")
            .note("give the settings in a script or -e program, or as command-line options (--max-map-keys)");
        return Err(vec![d]);
    }
    // The REPL waits on the terminal, not on signals.
    if let Some(p) =
        probes.iter().find(|p| matches!(p.resolved.spec.kind().firing(), frontend::probes::Firing::OnSignal(_)))
    {
        let d = Diagnostic::error(format!(
            "`{}` probes run in a session started with -e or a script, not in the REPL",
            p.resolved.name
        ))
        .at(p.resolved.span, "not in the REPL");
        return Err(vec![d]);
    }
    let mut checked = passes::check_expanded(probes, &opts.params, known).map_err(diag::dedup)?;
    // A map's layout is fixed once it exists, so string slots of new maps
    // get room for what later lines may store (`@name = "a"` then
    // `@name = comm`).
    checked.maps.widen_strings(|name| !maps.maps.contains_key(name), REPL_MIN_STRING);
    let compiled = codegen::lower::lower_more(&checked, &opts.lowering(), tables).map_err(diag::dedup)?;
    allocate(ast, compiled, checked.maps).map_err(diag::dedup)
}

/// Register allocation for every probe.
fn allocate(ast: frontend::ast::Program, compiled: Compiled, maps: MapTable) -> Result<Program, Vec<Diagnostic>> {
    let mut asm = Vec::new();
    for p in &compiled.probes {
        let lines = allocate_all(&p.ir, RESERVED_STACK as u32).map_err(|e| match e {
            codegen::regalloc::RegallocError::StackOverflow { needed, span } => vec![Diagnostic::error(format!(
                "this probe keeps too many values alive at once: it needs {needed} bytes of the 512-byte BPF stack"
            ))
            .at(span, "too many values are live here")
            .also(p.resolved.span, "in this probe")
            .note("use fewer $variables at once, or split the work across probes with maps")],
            e => vec![Diagnostic::error(format!("internal error in register allocation: {e}"))
                .at(p.resolved.span, "in this probe")],
        })?;
        asm.push(lines);
    }
    Ok(Program { compiled, asm, ast, maps, warnings: Vec::new() })
}

/// Resolve map references with real (or, for a dry run, placeholder) fds.
pub fn link_all(program: &Program, map_fds: &[i32]) -> Result<Vec<Linked>, Vec<Diagnostic>> {
    program
        .compiled
        .probes
        .iter()
        .zip(&program.asm)
        .map(|(p, lines)| {
            link(lines, map_fds).map_err(|e| {
                vec![Diagnostic::error(format!("cannot link probe: {e}")).at(p.resolved.span, "in this probe")]
            })
        })
        .collect()
}

/// A program whose maps exist and whose probes passed the verifier.
pub struct Loaded {
    pub maps: Vec<Map>,
    pub progs: Vec<runtime::load::Prog>,
    pub linked: Vec<Linked>,
}

/// Create maps, link, and load every probe into the kernel.
pub fn load(program: &Program) -> Result<Loaded, Vec<Diagnostic>> {
    let maps = session::create_maps(&program.compiled.maps).map_err(|e| vec![session_diagnostic(program, None, e)])?;
    let fds: Vec<i32> = maps.iter().map(|m| m.fd()).collect();
    let linked = link_all(program, &fds)?;
    let progs = session::load_all(&program.compiled, &linked)
        .map_err(|e| vec![session_diagnostic(program, Some(&linked), e)])?;
    Ok(Loaded { maps, progs, linked })
}

/// Turn a session error into a diagnostic, pointing at the source where we
/// can (verifier rejections point at the statement that produced the
/// failing instruction).
pub fn session_diagnostic(program: &Program, linked: Option<&[Linked]>, e: SessionError) -> Diagnostic {
    match e {
        SessionError::Load { probe, source: LoadError::Verifier { log, failed_insn, reason, .. } } => {
            let p = &program.compiled.probes[probe];
            let span = failed_insn
                .and_then(|i| linked.and_then(|l| l[probe].spans.get(i).copied()))
                .unwrap_or(p.resolved.span);
            let tail: Vec<&str> = log.lines().rev().take(8).collect::<Vec<_>>().into_iter().rev().collect();
            let d = Diagnostic::error(format!("the kernel's verifier rejected probe `{}`: {reason}", p.resolved.name))
                .at(span, reason.clone())
                .also(p.resolved.span, "in this probe");
            match verifier_limit(&log) {
                Some(limit) => d.note(format!("the probe is too large for the verifier: {limit}")).note(
                    "split its work across several probes (they share maps), or do less per event: fewer \
                     branches, printfs and map updates in one block",
                ),
                None => d
                    .note(format!("verifier log (last lines):\n{}", tail.join("\n")))
                    .note("this is a bug in trace's code generation; please report it with the program"),
            }
        }
        SessionError::Load { probe, source } => {
            let p = &program.compiled.probes[probe];
            Diagnostic::error(format!("cannot load probe `{}`: {source}", p.resolved.name))
                .at(p.resolved.span, "this probe")
        }
        SessionError::Attach { ref probe, .. } => {
            let span = program.compiled.probes.iter().find(|p| &p.resolved.name == probe).map(|p| p.resolved.span);
            let d = Diagnostic::error(e.to_string());
            match span {
                Some(s) => d.at(s, "cannot attach"),
                None => d,
            }
        }
        other => Diagnostic::error(other.to_string()),
    }
}

/// Which of the verifier's size limits a rejection hit, if it was one: a
/// program that is merely too big is the user's to split, not a bug.
fn verifier_limit(log: &str) -> Option<String> {
    const LIMITS: &[(&str, &str)] = &[
        ("jumps is too complex", "it keeps more than 8,192 branches pending (each `if`, `&&`, `?:` is one)"),
        ("BPF program is too large", "the verifier would walk more than 1,000,000 instructions"),
        ("total number of maps per program", "it uses more than 64 maps"),
        ("combined stack size", "its calls need more than 512 bytes of stack"),
    ];
    LIMITS.iter().find(|(seen, _)| log.contains(seen)).map(|(_, what)| what.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use codegen::insn::{Insn, Reg, Size};
    use codegen::regalloc::Asm;

    fn compile_text(text: &str) -> (SourceMap, Program) {
        let mut sources = SourceMap::new();
        let file = sources.add("<test>", text);
        let program = compile(&mut sources, file, &CompileOptions::default()).expect("compiles");
        (sources, program)
    }

    #[test]
    fn compile_errors_are_diagnostics_not_panics() {
        let mut sources = SourceMap::new();
        let file = sources.add("<test>", "BEGIN { @x = count(); @x = 1; }");
        let diags = compile(&mut sources, file, &CompileOptions::default()).err().expect("rejected");
        let text = diag::render_to_string(&sources, &diags);
        assert!(text.contains("map @x holds count() but is assigned an integer"), "{text}");
    }

    /// A program the verifier rejects is reported on the statement whose
    /// instruction failed. Valid programs never get here, so the test plants
    /// a bad load (through r1, which a helper call has clobbered) in the
    /// code of one statement.
    #[test]
    fn verifier_rejection_points_at_the_statement() {
        if runtime::testing::skip_without_bpf() {
            return;
        }
        let text = "BEGIN { @a = 1; @b = 2; }";
        let (sources, mut program) = compile_text(text);
        let stmt = program.compiled.probes[0].ir.lines.iter().map(|l| l.span).find(|s| sources.slice(*s) == "@b = 2");
        let span = stmt.expect("a line of IR from the second statement");
        let lines = &mut program.asm[0];
        let at = lines.iter().position(|l| l.span == span).expect("statement emitted code");
        let bad = Insn::Ldx { size: Size::DW, dst: Reg::R0, src: Reg::R1, off: 0 };
        lines.insert(at, AsmLine { asm: Asm::Insn(bad), span });
        let diags = match load(&program) {
            Err(d) => d,
            Ok(_) => panic!("the kernel accepted a load through a clobbered register"),
        };
        let (primary, _) = diags[0].primary.clone().expect("points into the source");
        assert_eq!(sources.slice(primary), "@b = 2");
        let rendered = diag::render_to_string(&sources, &diags);
        assert!(rendered.contains("verifier rejected probe `BEGIN`"), "{rendered}");
        assert!(rendered.contains("R1"), "the verifier's reason is shown: {rendered}");
    }

    /// One REPL line compiled after `before` (or first in a session).
    fn compile_line(sources: &mut SourceMap, text: &str, before: Option<&Program>) -> Result<Program, Vec<Diagnostic>> {
        let file = sources.add("<line>", text);
        let ast = frontend::parser::parse_program(sources.text(file), file).expect("parses");
        let (maps, tables) = match before {
            Some(p) => (p.maps.clone(), p.compiled.tables()),
            None => (MapTable::default(), codegen::lower::session_tables()),
        };
        compile_more(ast, &CompileOptions::default(), &maps, &tables)
    }

    /// The REPL compiles line after line against the same maps: existing
    /// maps keep their ids and layouts, new ones are appended, and printf
    /// ids continue, so one decoder serves every probe.
    #[test]
    fn more_lines_keep_map_ids_and_continue_event_ids() {
        let mut sources = SourceMap::new();
        let first = "BEGIN { @b = count(); printf(\"one\\n\"); }";
        let one = compile_line(&mut sources, first, None).expect("compiles");
        let second = "BEGIN { @a = 1; @b = count(); printf(\"two %d\\n\", 2); }";
        let two = compile_line(&mut sources, second, Some(&one)).expect("compiles");
        let names: Vec<&str> = two.compiled.maps.iter().map(|m| m.name.as_str()).collect();
        let first_user = codegen::program::FIRST_USER_MAP as usize;
        assert_eq!(names[first_user..], ["@b", "@a"], "@b keeps its id, @a comes after it");
        assert_eq!(two.compiled.printfs.len(), 2, "printf ids continue");
        assert_eq!(two.compiled.probes.len(), 1, "only the new probe");
    }

    /// A live map's layout cannot change under running probes; its string
    /// slots were made roomy when it was created.
    #[test]
    fn a_longer_string_key_for_a_live_map_is_refused() {
        let mut sources = SourceMap::new();
        let one = compile_line(&mut sources, "BEGIN { @m[comm] = count(); }", None).expect("compiles");
        let second = "BEGIN { @m[\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"] = count(); @m[\"short\"] = count(); }";
        let diags = compile_line(&mut sources, second, Some(&one)).err().expect("refused");
        let text = diag::render_to_string(&sources, &diags);
        assert!(text.contains("map @m is live with keys of at most 64 bytes; this string needs 81"), "{text}");
        assert_eq!(diags.len(), 1, "a shorter string fits: {text}");
    }

    /// Mutations of valid programs must give diagnostics, never a panic, at
    /// every stage up to register allocation.
    #[test]
    fn compile_never_panics_on_mutated_programs() {
        let corpus = [
            "BEGIN { @=hist(-1); @=hist(2); @[comm, 1] = lhist(3, 0, 10, 2); exit(); }",
            "t:syscalls:sys_enter_openat /comm == \"db\" && pid > 1/ { @[str(args.filename)] = count(); }",
            "interval:ms:10 { $x = nsecs % 7; if ($x > 3) { printf(\"%d %s\\n\", $x, comm); } else { @y[$x]++; } }",
            "BEGIN { @s = stats(5); @a = avg(1); @m = min(-3); @M = max(4); print(@s); clear(@a); zero(@m); delete(@M); }",
            "END { $s = \"abc\"; @v[$s] = $s == \"abd\" ? 1 : (uint8)300; print(@v, 1, 2); time(\"%H\"); }",
        ];
        let tokens = [
            "{", "}", "(", ")", "/", ";", ",", "@", "$", "\"", "->", ".", "[", "]", "0", "-1", "args", "str(",
            "count()", "=", "++", "?", ":", "&&",
        ];
        let mut seed: u64 = 0x9e3779b97f4a7c15;
        let mut next = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n.max(1) as u64) as usize
        };
        for round in 0..1500 {
            let mut text: Vec<char> = corpus[round % corpus.len()].chars().collect();
            for _ in 0..=next(3) {
                let at = next(text.len() + 1);
                match next(3) {
                    0 if !text.is_empty() => {
                        let end = (at + 1 + next(6)).min(text.len());
                        text.drain(at.min(end)..end);
                    }
                    1 => text.splice(at..at, tokens[next(tokens.len())].chars()).for_each(drop),
                    _ if at < text.len() => {
                        let other = next(text.len());
                        text.swap(at, other);
                    }
                    _ => {}
                }
            }
            let text: String = text.into_iter().collect();
            let mut sources = SourceMap::new();
            let file = sources.add("<fuzz>", text.clone());
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                compile(&mut sources, file, &CompileOptions::default()).map(|_| ())
            }));
            assert!(outcome.is_ok(), "compile panicked on {text:?}");
        }
    }
}
