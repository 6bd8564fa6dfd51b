//! The `trace` command line: parse options, compile, load, run.

use clap::{Arg, ArgAction, Command};
use std::cell::RefCell;
use std::io::Write;
use std::process::ExitCode;
use trace::diag::{render_to_stderr, Diagnostic};
use trace::frontend::passes::Params;
use trace::frontend::probes::{self, ProbeContext};
use trace::runtime::output::flamegraph::WithFlamegraph;
use trace::runtime::output::periodic::Argdist;
use trace::runtime::output::{self, Output, Strings};
use trace::runtime::session::{self, RunOptions};
use trace::source::SourceMap;
use trace::{codegen, CompileOptions};

fn cli() -> Command {
    trace::argdist_cli::args(base_cli())
}

fn base_cli() -> Command {
    Command::new("trace")
        .about("Compile bpftrace-language programs straight to eBPF and run them")
        .override_usage(
            "trace [OPTIONS] (-e PROGRAM | FILE) [ARGS...]\n       trace -l [PATTERN]\n       trace [--repl] [-p PID]",
        )
        .arg(Arg::new("expr").short('e').value_name("PROGRAM").help("program text"))
        .arg(
            Arg::new("command").short('c').value_name("CMD").help("run CMD once probes are attached; end when it ends"),
        )
        .arg(
            Arg::new("pid")
                .short('p')
                .value_name("PID")
                .value_parser(clap::value_parser!(i32))
                .help("trace only this process (uprobes)"),
        )
        .arg(
            Arg::new("dump")
                .short('d')
                .value_name("WHAT")
                .value_parser(["bpf", "ir", "ast"])
                .help("print the compiled program (bpf, ir or ast) and exit without loading it"),
        )
        .arg(
            Arg::new("repl")
                .long("repl")
                .action(ArgAction::SetTrue)
                .help("open the interactive session (the default when no program is given)"),
        )
        .arg(Arg::new("list").short('l').action(ArgAction::SetTrue).help("list probes matching the pattern"))
        .arg(
            Arg::new("max-probes")
                .long("max-probes")
                .value_name("N")
                .value_parser(clap::value_parser!(u32).range(1..))
                .help("attach at most N probes (default 512)"),
        )
        .arg(
            Arg::new("max-map-keys")
                .long("max-map-keys")
                .value_name("N")
                .value_parser(clap::value_parser!(u32).range(1..=16_777_216))
                .help("entries of each map (default 4096); updates of a full map are dropped and reported"),
        )
        .arg(
            Arg::new("include_file")
                .long("include")
                .value_name("FILE")
                .action(ArgAction::Append)
                .help("read FILE's C definitions before the program's, as an #include at its top"),
        )
        .arg(Arg::new("verbose").short('v').action(ArgAction::SetTrue).help("more detail (with -l)"))
        .arg(Arg::new("quiet").short('q').action(ArgAction::SetTrue).help("do not print the `Attaching N probes...` line"))
        .arg(
            Arg::new("format")
                .short('f')
                .value_name("FORMAT")
                .value_parser(clap::builder::PossibleValuesParser::new(output::FORMATS.iter().map(|f| f.0)))
                .default_value("text")
                .help("output format"),
        )
        .arg(Arg::new("flamegraph").long("flamegraph").value_name("FILE.svg").help(
            "also write the stacks of stack-keyed maps (@[ustack] = count()) as an SVG flame graph to FILE.svg at exit",
        ))
        .arg(Arg::new("raw_strings").long("raw-strings").action(ArgAction::SetTrue).help(
            "print traced strings raw on a terminal too (there, by default, their control characters print as C escapes such as \\x1b)",
        ))
        .arg(Arg::new("args").num_args(0..).value_name("ARGS").help(
            "the script file (without -e), then positional parameters $1, $2, ... (after `--` they may start with `-`)",
        ))
}

/// `-d` alone means `-d bpf`; insert the value so clap never takes the
/// script file name for it.
/// With `-C`/`-H`, `-d SECS` is argdist's duration.
fn normalise_args(args: Vec<String>) -> Vec<String> {
    let argdist = trace::argdist_cli::wanted(&args);
    let mut out = Vec::with_capacity(args.len() + 1);
    let mut it = args.into_iter().peekable();
    while let Some(a) = it.next() {
        if a != "-d" {
            out.push(a);
            continue;
        }
        match it.peek().map(String::as_str) {
            Some("bpf" | "ir" | "ast") => out.push(a),
            Some(n) if argdist && n.parse::<u64>().is_ok() => out.push("--duration".into()),
            _ => {
                out.push(a);
                out.push("bpf".into());
            }
        }
    }
    out
}

/// The command line as UTF-8: a program, paths and commands that are not
/// are refused with a message (`std::env::args` would panic).
fn utf8_args() -> Result<Vec<String>, String> {
    std::env::args_os()
        .enumerate()
        .map(|(i, a)| a.into_string().map_err(|a| format!("argument {i} is not valid UTF-8: {}", a.to_string_lossy())))
        .collect()
}

/// Unmounts tracefs when `main` returns, if trace mounted it on the way
/// (probe lookups, `-l`, the REPL): held from the first line of `main`, so
/// dropped after everything that used tracefs, whichever way it returns.
struct UnmountTracefs;

impl Drop for UnmountTracefs {
    fn drop(&mut self) {
        if let Err(e) = trace::sys::unmount_tracefs() {
            trace::diag::warn(e);
        }
    }
}

fn main() -> ExitCode {
    let _tracefs = UnmountTracefs;
    let start_ns = trace::sys::monotonic_ns();
    trace::sys::raise_open_file_limit();
    let args = match utf8_args() {
        Ok(a) => a,
        Err(e) => {
            trace::diag::stderr_line(format_args!("error: {e}"));
            return ExitCode::from(2);
        }
    };
    let m = match cli().try_get_matches_from(normalise_args(args)) {
        Ok(m) => m,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { ExitCode::from(2) } else { ExitCode::SUCCESS };
        }
    };
    let mut sources = SourceMap::new();
    let mut rest: Vec<String> = m.get_many::<String>("args").map(|v| v.cloned().collect()).unwrap_or_default();
    let pid = m.get_one::<i32>("pid").copied();
    let max_map_keys = m.get_one::<u32>("max-map-keys").copied().unwrap_or(0);
    let max_probes = m.get_one::<u32>("max-probes").map_or(0, |n| *n as usize);
    if let Some(p) = pid.filter(|p| *p <= 0 || !trace::sys::process_alive(*p)) {
        let d = Diagnostic::error(format!("no process {p} (-p)")).note("-p takes the pid of a running process");
        return fail(&sources, vec![d]);
    }
    let program_given = m.get_one::<String>("expr").is_some() || !rest.is_empty();
    if let Err(d) = trace::argdist_cli::check_combination(&m, program_given) {
        return fail(&sources, vec![d]);
    }
    let strings = Strings::for_stdout(m.get_flag("raw_strings"));

    if m.get_flag("list") {
        let pattern = rest.first().cloned().unwrap_or_else(|| "*".into());
        let ctx = ProbeContext { pid };
        let listing = match m.get_flag("verbose") {
            true => probes::list_verbose(&pattern, &ctx),
            false => probes::list(&pattern, &ctx).map(|lines| probes::Listing { lines, warnings: Vec::new() }),
        };
        return match listing {
            Ok(listing) => {
                for w in &listing.warnings {
                    trace::diag::warn(w);
                }
                // `trace -l | head` closes the pipe early: stop quietly.
                let mut out = std::io::stdout().lock();
                for n in listing.lines {
                    // Names from binaries' symbol tables are anybody's text.
                    if writeln!(out, "{}", strings.show(&n)).is_err() {
                        break;
                    }
                }
                ExitCode::SUCCESS
            }
            Err(d) => fail(&sources, vec![d]),
        };
    }

    let no_program = m.get_one::<String>("expr").is_none() && rest.is_empty() && !trace::argdist_cli::wanted_in(&m);
    if m.get_flag("repl") || no_program {
        if !no_program {
            let d = Diagnostic::error("--repl takes no program")
                .note("start the session with `trace --repl`, then type probes, or `.load FILE`");
            return fail(&sources, vec![d]);
        }
        if m.get_one::<String>("dump").is_some() {
            let d = Diagnostic::error("-d needs a program to dump").note("e.g. `trace -d -e 'BEGIN { @x = 1; }'`");
            return fail(&sources, vec![d]);
        }
        if m.get_one::<String>("format").is_some_and(|f| f != "text") {
            let d = Diagnostic::error("the interactive session prints text only")
                .note("use `-f json` with `-e PROGRAM` or a script file");
            return fail(&sources, vec![d]);
        }
        if m.get_one::<String>("flamegraph").is_some() {
            let d = Diagnostic::error("--flamegraph works with a program, not the interactive session")
                .note("in the session, `.flamegraph FILE.svg` writes one from the maps as they are");
            return fail(&sources, vec![d]);
        }
        if m.get_one::<String>("command").is_some() {
            let d = Diagnostic::error("-c does not work with the interactive session").note("attach probes in the session, then run the command from another terminal; or use `trace -e PROGRAM -c CMD`");
            return fail(&sources, vec![d]);
        }
        return ExitCode::from(trace::repl::run(trace::repl::ReplOptions {
            pid,
            start_ns,
            max_map_keys,
            max_probes,
            strings,
        }));
    }

    let opts = CompileOptions {
        params: Params::default(),
        pid,
        start_ns,
        ignore_pid: trace::own_events_ignored(pid),
        max_map_keys,
        max_probes,
        cdefs: trace::frontend::cdecl::Options {
            include_dirs: trace::argdist_cli::include_dirs(&m),
            includes: m.get_many::<String>("include_file").map(|v| v.cloned().collect()).unwrap_or_default(),
        },
    };
    let (compiled, argdist) = match trace::argdist_cli::program(&m, &mut sources) {
        Some(Ok((ast, report, warnings))) => {
            render_to_stderr(&sources, &warnings);
            (trace::compile_ast(ast, &opts), Some(report))
        }
        Some(Err(d)) => return fail(&sources, d),
        None => {
            let file = match m.get_one::<String>("expr") {
                Some(e) => sources.add("<program>", e.clone()),
                None if !rest.is_empty() => {
                    let path = rest.remove(0);
                    match trace::source::read_script(std::path::Path::new(&path)) {
                        Ok(text) => sources.add(path, text),
                        Err(e) => return fail(&sources, vec![Diagnostic::error(format!("cannot read {path}: {e}"))]),
                    }
                }
                None => {
                    let d = Diagnostic::error("no program given").note(
                        "run a one-liner with `trace -e 'BEGIN { printf(\"hi\\n\"); exit(); }'`, a script with `trace FILE`, or argdist specs with `-C`/`-H`",
                    );
                    return fail(&sources, vec![d]);
                }
            };
            let opts = CompileOptions { params: Params { args: rest, ..Params::default() }, ..opts };
            (trace::compile(&mut sources, file, &opts), None)
        }
    };
    let program = match compiled {
        Ok(p) => p,
        Err(d) => return fail(&sources, d),
    };
    render_to_stderr(&sources, &program.warnings);

    if let Some(what) = m.get_one::<String>("dump") {
        return dump(&sources, &program, what);
    }

    // A command that cannot start is an error before anything is loaded.
    if let Some(cmd) = m.get_one::<String>("command") {
        if let Err(e) = trace::sys::check_command(cmd) {
            return fail(&sources, vec![Diagnostic::error(format!("cannot start `{cmd}`: {e}"))]);
        }
    }
    // clap only accepts the names of `output::FORMATS`.
    let format = m.get_one::<String>("format").map_or("text", String::as_str);
    let mut output: Box<dyn Output> = match (argdist, output::by_name(format, strings)) {
        (Some(report), _) => Box::new(Argdist::new(report, strings)),
        (None, Some(o)) => o,
        (None, None) => return fail(&sources, vec![Diagnostic::error(format!("unknown output format `{format}`"))]),
    };
    if let Some(path) = m.get_one::<String>("flamegraph") {
        let file = match trace::sys::create_or_replace_own(std::path::Path::new(path)) {
            Ok(f) => f,
            Err(e) => {
                return fail(&sources, vec![Diagnostic::error(format!("cannot write the flame graph to {path}: {e}"))])
            }
        };
        let title = m.get_one::<String>("expr").cloned().unwrap_or_else(|| "trace".to_string());
        output = Box::new(WithFlamegraph { inner: output, file: RefCell::new(Some(file)), title, path: path.clone() });
    }
    let loaded = match trace::load(&program) {
        Ok(l) => l,
        Err(d) => return fail(&sources, d),
    };
    let run_opts = RunOptions { pid, command: m.get_one::<String>("command").cloned(), quiet: m.get_flag("quiet") };
    let trace::Loaded { maps, progs, linked } = loaded;
    match session::run(&program.compiled, maps, progs, output.as_mut(), &run_opts) {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => fail(&sources, vec![trace::session_diagnostic(&program, Some(&linked), e)]),
    }
}

fn fail(sources: &SourceMap, diags: Vec<Diagnostic>) -> ExitCode {
    render_to_stderr(sources, &diags);
    if diags.iter().any(|d| d.is_error()) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// `-d`: show what would run, without loading it. Map operands show the
/// map's index in the table printed first, not a file descriptor.
fn dump(sources: &SourceMap, program: &trace::Program, what: &str) -> ExitCode {
    let mut text = String::new();
    if what == "ast" {
        text = format!("{:#?}\n", program.ast);
    } else {
        text += "maps:\n";
        for (i, m) in program.compiled.maps.iter().enumerate() {
            text += &format!(
                "  {i}: {} ({:?}, key {} B, value {} B, {} entries)\n",
                m.name, m.kind, m.key_size, m.value_size, m.max_entries
            );
        }
        let ids: Vec<i32> = (0..program.compiled.maps.len() as i32).collect();
        let linked = match trace::link_all(program, &ids) {
            Ok(l) => l,
            Err(d) => return fail(sources, d),
        };
        for (p, l) in program.compiled.probes.iter().zip(&linked) {
            text += &format!("\n{}:\n", p.resolved.name);
            text += &match what {
                "ir" => codegen::disasm::dump_ir(&p.ir),
                _ => codegen::disasm::disassemble_funcs(&l.insns, &l.spans, &l.funcs, sources),
            };
        }
    }
    // A closed pipe (`| head`) is not an error worth a panic.
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    ExitCode::SUCCESS
}
