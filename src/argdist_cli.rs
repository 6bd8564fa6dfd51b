//! The argdist side of the command line: `-C`/`-H` specifiers and their
//! options (`-i`, `-n`, `-d SECS`, `-z`, `-T`, `--cumulative`, `-I`),
//! turned into a program for the shared pipeline plus a periodic report.

use crate::diag::Diagnostic;
use crate::frontend::argdist::{compile_specs, ArgdistOptions, SpecKind};
use crate::frontend::ast::Program;
use crate::runtime::output::periodic::ArgdistReport;
use crate::source::SourceMap;
use clap::{Arg, ArgAction, ArgMatches, Command};
use std::time::Duration;

/// The argdist options, added to the main command.
pub fn args(cmd: Command) -> Command {
    let num = |name: &'static str| Arg::new(name).value_parser(clap::value_parser!(u64));
    cmd.arg(
        Arg::new("count")
            .short('C')
            .value_name("SPEC")
            .action(ArgAction::Append)
            .help("argdist: count events by expression value"),
    )
    .arg(
        Arg::new("hist")
            .short('H')
            .value_name("SPEC")
            .action(ArgAction::Append)
            .help("argdist: log2 histogram of an expression"),
    )
    .arg(num("interval").short('i').value_name("SECS").help("argdist: seconds between reports (default 1)"))
    .arg(num("number").short('n').value_name("COUNT").help("argdist: stop after COUNT reports"))
    .arg(
        num("duration")
            .long("duration")
            .value_name("SECS")
            .help("argdist: stop after SECS seconds (also `-d SECS` with -C/-H)"),
    )
    .arg(num("string-size").short('z').value_name("SIZE").help("argdist: bytes of char* values to read (default 80)"))
    .arg(num("top").short('T').value_name("N").help("argdist: only the N most frequent rows of each -C table"))
    .arg(
        Arg::new("cumulative")
            .long("cumulative")
            .action(ArgAction::SetTrue)
            .help("argdist: do not clear between reports (argdist's -c)"),
    )
    .arg(
        Arg::new("include")
            .short('I')
            .value_name("DIR")
            .action(ArgAction::Append)
            .help("a directory where #include \"FILE\" is looked for (with -C/-H, argdist's header: accepted and ignored; types come from debug info)"),
    )
}

/// `-I` directories for the program's `#include`s; argdist's `-I HEADER`
/// (with `-C`/`-H`) names headers, which trace does not read.
pub fn include_dirs(m: &ArgMatches) -> Vec<std::path::PathBuf> {
    if wanted_in(m) {
        return Vec::new();
    }
    m.get_many::<String>("include").map(|v| v.map(std::path::PathBuf::from).collect()).unwrap_or_default()
}

/// Are argdist specifiers on this command line? (Decides what `-d` means.)
pub fn wanted(args: &[String]) -> bool {
    args.iter().any(|a| a == "-C" || a == "-H" || a.starts_with("-C") || a.starts_with("-H"))
}

/// Whether the parsed command line has `-C`/`-H` specs.
pub fn wanted_in(m: &ArgMatches) -> bool {
    ["count", "hist"].iter().any(|f| m.get_many::<String>(f).is_some())
}

/// The options that only mean something with `-C`/`-H`, as written.
const REPORT_OPTIONS: &[(&str, &str)] = &[
    ("interval", "-i"),
    ("number", "-n"),
    ("duration", "-d SECS"),
    ("string-size", "-z"),
    ("top", "-T"),
    ("cumulative", "--cumulative"),
];

/// Combinations that make no sense are refused, not ignored: specifiers
/// with a program (`-e` or a script file), report options without
/// specifiers.
pub fn check_combination(m: &ArgMatches, program_given: bool) -> Result<(), Diagnostic> {
    let given = |id: &str| match m.try_get_one::<bool>(id) {
        Ok(Some(flag)) => *flag,
        _ => m.contains_id(id) && m.value_source(id) == Some(clap::parser::ValueSource::CommandLine),
    };
    if wanted_in(m) {
        if program_given {
            return Err(Diagnostic::error("-C/-H specifiers cannot be combined with -e or a script file")
                .note("the specifiers are the program; run the script separately"));
        }
        return Ok(());
    }
    let used: Vec<&str> = REPORT_OPTIONS.iter().filter(|(id, _)| given(id)).map(|(_, flag)| *flag).collect();
    if used.is_empty() {
        return Ok(());
    }
    let verb = if used.len() == 1 { "applies" } else { "apply" };
    Err(Diagnostic::error(format!("{} only {verb} to -C/-H specifiers", used.join(", ")))
        .note("e.g. `trace -C 'p:./db:snapshot()' -i 5 -n 3`"))
}

/// The program and the report settings for the `-C`/`-H` specs, if any.
/// Warnings (e.g. a signature type that disagrees with the debug info) come
/// back with the program.
/// The AST of the specs, how to report them, and warnings.
pub type ArgdistProgram = (Program, ArgdistReport, Vec<Diagnostic>);

pub fn program(m: &ArgMatches, sources: &mut SourceMap) -> Option<Result<ArgdistProgram, Vec<Diagnostic>>> {
    let mut specs = Vec::new();
    for (flag, kind) in [("count", SpecKind::Count), ("hist", SpecKind::Hist)] {
        // Keep the command-line order of -C and -H together.
        let values = m.get_many::<String>(flag).into_iter().flatten();
        let indices = m.indices_of(flag).into_iter().flatten();
        for (text, index) in values.zip(indices) {
            specs.push((index, text.clone(), kind));
        }
    }
    if specs.is_empty() {
        return None;
    }
    specs.sort_by_key(|s| s.0);
    if m.get_many::<String>("include").is_some() {
        crate::diag::warn("-I is ignored: trace takes types from the binary's debug information, not from headers");
    }
    let files: Vec<_> = specs
        .iter()
        .map(|(_, text, kind)| {
            let flag = if *kind == SpecKind::Count { "-C" } else { "-H" };
            (sources.add(flag, text.clone()), *kind)
        })
        .collect();
    let string_size = m.get_one::<u64>("string-size").copied().unwrap_or(80).clamp(1, 1024) as u32;
    let pid = m.get_one::<i32>("pid").copied();
    let compiled = compile_specs(&files, sources, &ArgdistOptions { string_size, pid });
    Some(compiled.map(|p| {
        let secs = |name: &str| m.get_one::<u64>(name).copied();
        let report = ArgdistReport {
            outputs: p.outputs,
            interval: Duration::from_secs(secs("interval").unwrap_or(1).max(1)),
            count: secs("number"),
            duration: secs("duration").map(Duration::from_secs),
            top: secs("top").unwrap_or(0) as usize,
            cumulative: m.get_flag("cumulative"),
        };
        (p.program, report, p.warnings)
    }))
}
