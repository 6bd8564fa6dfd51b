//! The REPL's state and what one input does: a line of probes is compiled
//! against the live session's maps and attached; bare statements run once
//! in the kernel, like `BEGIN`; `.commands` are in `commands.rs`.

use std::io::Write;
use std::time::Instant;

use crate::diag::{render_for_terminal, render_to_stderr, Diagnostic};
use crate::frontend::ast::{AttachPoint, Block, ExprKind, Probe, Program as Ast, StmtKind};
use crate::frontend::cdecl::Defs;
use crate::frontend::parser;
use crate::frontend::passes::MapTable;
use crate::runtime::live::{BlockSpec, LiveSession};
use crate::runtime::session;
use crate::source::{FileId, SourceMap, Span};
use crate::{compile_more, link_all, session_diagnostic, CompileOptions, Program};

use super::input::{Console, SessionNames};

/// Whether the session goes on after an input.
#[derive(Debug, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Quit,
}

pub struct Repl {
    pub sources: SourceMap,
    /// The types of the session's maps, as the checker knows them.
    pub maps: MapTable,
    pub live: LiveSession,
    pub opts: CompileOptions,
    pub console: Console,
    /// Map names for tab completion.
    pub names: SessionNames,
    /// Inputs typed so far (names the `<line N>` source files).
    lines: usize,
    /// Whether any input was refused (the exit code of a piped session).
    pub failed: bool,
    /// What ran once and shaped the maps (`BEGIN` blocks, map assignments
    /// typed as statements), as `BEGIN` blocks for `.save` to put first.
    pub setup: Vec<String>,
    /// The C definitions typed so far (struct, #define ...), read again
    /// with each input's own.
    pub c_text: Vec<Span>,
}

impl Repl {
    pub fn new(live: LiveSession, opts: CompileOptions, console: Console, names: SessionNames) -> Repl {
        Repl {
            sources: SourceMap::new(),
            maps: MapTable::default(),
            live,
            opts,
            console,
            names,
            lines: 0,
            failed: false,
            setup: Vec::new(),
            c_text: Vec::new(),
        }
    }

    /// One input: a command, probes, or statements.
    pub fn eval(&mut self, text: &str) -> Flow {
        if self.console.dropped > 0 {
            let n = std::mem::take(&mut self.console.dropped);
            self.info(&format!("warning: {n} batches of output were dropped: the terminal fell behind the probes"));
        }
        if text.trim().is_empty() {
            return Flow::Continue;
        }
        self.lines += 1;
        let file = self.sources.add(format!("<line {}>", self.lines), text.to_string());
        if text.trim_start().starts_with('.') {
            return super::commands::run(self, file);
        }
        self.eval_code(file);
        Flow::Continue
    }

    /// Compile, load and attach (or run once) the code in `file`.
    pub fn eval_code(&mut self, file: FileId) {
        let started = Instant::now();
        let pieces = parser::c_text(self.sources.text(file), file);
        let defs = match self.definitions(file, &pieces) {
            Ok(d) => d,
            Err(d) => return self.report(&d),
        };
        let (mut ast, bare) = match parse_input(self.sources.text(file), file, &defs) {
            Ok(parsed) => parsed,
            Err(d) => return self.report(&d),
        };
        ast.defs = defs;
        if ast.probes.is_empty() {
            self.c_text.extend(pieces);
            return;
        }
        let program = match compile_more(ast, &self.opts, &self.maps, self.live.tables()) {
            Ok(p) => p,
            Err(d) => return self.report(&d),
        };
        let blocks = block_specs(&program, &self.sources);
        let (ids, begin_error) = match self.install(&program, blocks) {
            Ok(done) => done,
            Err(d) => return self.report(&d),
        };
        self.maps = program.maps;
        self.c_text.extend(pieces);
        self.setup.extend(setup_blocks(&program.ast, bare, &self.sources));
        if let Some(e) = begin_error {
            let d = Diagnostic::error(format!("the statements could not run: {e}"));
            let span = program.compiled.probes.first().map(|p| p.resolved.span);
            self.report(&[match span {
                Some(s) => d.at(s, "not run"),
                None => d,
            }]);
        }
        if let Ok(mut names) = self.names.maps.lock() {
            *names = self.maps.maps.values().map(|m| m.display_name()).collect();
        }
        let ms = started.elapsed().as_secs_f64() * 1e3;
        for id in ids {
            let Some(b) = self.live.blocks().iter().find(|b| b.id == id) else { continue };
            let points = if b.names.len() == 1 { String::new() } else { format!(" ({} points)", b.names.len()) };
            let msg = format!("attached [{id}] {}{points} in {ms:.1} ms", b.label);
            self.info(&msg);
        }
        self.print_events();
    }

    /// The C definitions of the session so far plus `pieces`, this
    /// input's (warnings are shown for an input that has some).
    fn definitions(&mut self, file: FileId, pieces: &[Span]) -> Result<std::rc::Rc<Defs>, Vec<Diagnostic>> {
        if pieces.is_empty() && self.c_text.is_empty() {
            return Ok(Default::default());
        }
        let all: Vec<Span> = self.c_text.iter().chain(pieces).copied().collect();
        let built = crate::frontend::cdecl::build(&mut self.sources, file, &all, &self.opts.cdefs)?;
        if !pieces.is_empty() && !built.warnings.is_empty() {
            self.report(&built.warnings);
        }
        Ok(built.defs)
    }

    /// Load and attach; on success the live session has committed the
    /// line (a BEGIN part that failed to run comes back beside the ids).
    fn install(
        &mut self,
        program: &Program,
        blocks: Vec<BlockSpec>,
    ) -> Result<(Vec<u32>, Option<session::SessionError>), Vec<Diagnostic>> {
        let new_maps = self.live.new_maps(&program.compiled).map_err(|e| vec![session_diagnostic(program, None, e)])?;
        let linked = link_all(program, &self.live.map_fds(&new_maps))?;
        let progs = session::load_all(&program.compiled, &linked)
            .map_err(|e| vec![session_diagnostic(program, Some(&linked), e)])?;
        self.live
            .install(&program.compiled, new_maps, progs, blocks)
            .map_err(|e| vec![session_diagnostic(program, Some(&linked), e)])
    }

    /// Print what probes have sent; a Ctrl-C stops it.
    pub fn print_events(&mut self) {
        let interrupted = || crate::sys::stop_signal() == Some(libc::SIGINT);
        if let Err(e) = self.live.print_events(&mut self.console, &interrupted) {
            self.report(&[Diagnostic::error(format!("cannot read events: {e}"))]);
        }
    }

    /// Diagnostics: through the console on a terminal (so they stay in
    /// order with the output), else to stderr.
    pub fn report(&mut self, diags: &[Diagnostic]) {
        if diags.iter().any(|d| d.is_error()) {
            self.failed = true;
        }
        if self.console.is_terminal() {
            let text = render_for_terminal(&self.sources, diags);
            let _ = self.console.write_all(text.as_bytes());
            let _ = self.console.flush();
        } else {
            render_to_stderr(&self.sources, diags);
        }
    }

    /// A message about the session (not program output): on a terminal
    /// through the console, else to stderr.
    pub fn info(&mut self, msg: &str) {
        if self.console.is_terminal() {
            let _ = writeln!(self.console, "{msg}");
            let _ = self.console.flush();
        } else {
            crate::diag::stderr_line(msg);
        }
    }
}

/// Probes (`uprobe:./db:f { ... }`), or statements with no probe around
/// them (then `true`), which run once as a `BEGIN` block. When neither
/// parses, the error shown is the one for what the input looks like.
/// `defs` are the session's C definitions.
fn parse_input(text: &str, file: FileId, defs: &Defs) -> Result<(Ast, bool), Vec<Diagnostic>> {
    let as_program = parser::parse_program_with(text, file, defs);
    if let Ok(p) = as_program.as_ref() {
        // C definitions alone (`struct s { ... };`), kept for later lines.
        if !p.probes.is_empty() || !p.c_text.is_empty() {
            return as_program.map(|p| (p, false));
        }
    }
    match parser::parse_stmts_with(text, file, defs) {
        Ok(stmts) if stmts.is_empty() => Ok((Ast::default(), true)),
        Ok(stmts) => {
            let span = Span::new(file, 0, text.trim_end().len());
            let attach = vec![AttachPoint { text: "BEGIN".into(), span }];
            let probes = vec![Probe { attach, pred: None, body: Block { stmts, span }, span }];
            Ok((Ast { probes, ..Ast::default() }, true))
        }
        Err(stmt_errors) if looks_like_probe(text) => as_program.and(Err(stmt_errors)),
        Err(stmt_errors) => Err(stmt_errors),
    }
}

/// What of an accepted input `.save` must replay for the probes to make
/// sense on their own: `BEGIN` blocks as typed, and of bare statements the
/// map assignments (which decide maps' types and first values), not their
/// prints or clears.
fn setup_blocks(ast: &Ast, bare: bool, sources: &SourceMap) -> Vec<String> {
    let begin_only = |p: &&Probe| p.attach.iter().all(|a| a.text == "BEGIN");
    let mut out = Vec::new();
    for probe in ast.probes.iter().filter(begin_only) {
        if !bare {
            out.push(sources.slice(probe.span).trim().to_string());
            continue;
        }
        let kept: Vec<&str> = probe
            .body
            .stmts
            .iter()
            .filter(|st| match &st.kind {
                StmtKind::AssignMap { .. } => true,
                StmtKind::Expr(e) => {
                    matches!(&e.kind, ExprKind::IncDec { target, .. } if matches!(target.kind, ExprKind::Map(_)))
                }
                _ => false,
            })
            .map(|st| sources.slice(st.span).trim().trim_end_matches(';'))
            .collect();
        if !kept.is_empty() {
            out.push(format!("BEGIN {{ {}; }}", kept.join("; ")));
        }
    }
    out
}

/// `kind:...`, `BEGIN`, `END`: the start of a probe, not of a statement.
pub(super) fn looks_like_probe(text: &str) -> bool {
    let head: String = text
        .trim_start()
        .chars()
        .take_while(|c| !c.is_whitespace() && !matches!(c, '{' | '/' | '(' | '"' | ',' | '='))
        .collect();
    head.contains(':') || head == "BEGIN" || head == "END"
}

/// One block per probe the user wrote, with the compiled probes (one per
/// resolved attach point) that belong to it.
fn block_specs(program: &Program, sources: &SourceMap) -> Vec<BlockSpec> {
    program
        .ast
        .probes
        .iter()
        .map(|probe| BlockSpec {
            source: sources.slice(probe.span).to_string(),
            label: probe.attach.iter().map(|a| a.text.as_str()).collect::<Vec<_>>().join(", "),
            probes: program
                .compiled
                .probes
                .iter()
                .enumerate()
                .filter(|(_, p)| within(p.resolved.span, probe.span))
                .map(|(i, _)| i)
                .collect(),
        })
        .collect()
}

fn within(inner: Span, outer: Span) -> bool {
    inner.file == outer.file && inner.start >= outer.start && inner.end <= outer.end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_become_a_begin_block() {
        let mut sources = SourceMap::new();
        let file = sources.add("<line 1>", "print(@m)");
        let (ast, bare) = parse_input(sources.text(file), file, &Defs::default()).expect("parses");
        assert!(bare);
        assert_eq!(ast.probes.len(), 1);
        assert_eq!(ast.probes[0].attach[0].text, "BEGIN");
    }

    #[test]
    fn probes_stay_probes() {
        let mut sources = SourceMap::new();
        let file = sources.add("<line 1>", "uprobe:./db:snapshot { @n = count(); } END { print(@n); }");
        let (ast, bare) = parse_input(sources.text(file), file, &Defs::default()).expect("parses");
        assert!(!bare);
        assert_eq!(ast.probes.len(), 2);
    }

    #[test]
    fn save_replays_map_assignments_and_begin_blocks() {
        let mut sources = SourceMap::new();
        let bare = sources.add("<line 1>", "@x = 0; print(@x); @m[1] = 2; @n++; clear(@m)");
        let (ast, is_bare) = parse_input(sources.text(bare), bare, &Defs::default()).unwrap();
        assert_eq!(setup_blocks(&ast, is_bare, &sources), ["BEGIN { @x = 0; @m[1] = 2; @n++; }"]);
        let begin = sources.add("<line 2>", "BEGIN { printf(\"hi\\n\"); } uprobe:./db:f { @c = count(); }");
        let (ast, is_bare) = parse_input(sources.text(begin), begin, &Defs::default()).unwrap();
        assert_eq!(setup_blocks(&ast, is_bare, &sources), ["BEGIN { printf(\"hi\\n\"); }"]);
        let only_prints = sources.add("<line 3>", "print(@x)");
        let (ast, is_bare) = parse_input(sources.text(only_prints), only_prints, &Defs::default()).unwrap();
        assert!(setup_blocks(&ast, is_bare, &sources).is_empty());
    }

    #[test]
    fn the_error_matches_what_the_input_looks_like() {
        let mut sources = SourceMap::new();
        let probe = sources.add("<line 1>", "uprobe:./db:snapshot { @n = count() }}");
        let stmt = sources.add("<line 2>", "@n = = 3");
        let probe_err = crate::diag::render_to_string(
            &sources,
            &parse_input(sources.text(probe), probe, &Defs::default()).unwrap_err(),
        );
        let stmt_err = crate::diag::render_to_string(
            &sources,
            &parse_input(sources.text(stmt), stmt, &Defs::default()).unwrap_err(),
        );
        assert!(probe_err.contains("<line 1>"), "{probe_err}");
        assert!(stmt_err.contains("<line 2>"), "{stmt_err}");
        assert!(looks_like_probe("t:syscalls:sys_enter_openat { }"));
        assert!(looks_like_probe("BEGIN{}"));
        assert!(!looks_like_probe("printf(\"a:b\")"));
        assert!(!looks_like_probe("@x = 1"));
    }
}
