//! The REPL's `.commands`: help, listing and detaching probes, listing maps,
//! saving the session as a script and loading one, stack maps as folded
//! stacks or a flame graph.
//!
//! `.save FILE` (and `.flamegraph FILE.svg`) creates FILE and refuses if
//! anything is there; `.save! FILE` replaces a regular file. Neither writes through a symbolic link, nor to
//! a FIFO or device (see `sys::open_existing`).

use std::io::Write;
use std::path::Path;

use crate::diag::Diagnostic;
use crate::frontend::names::similar_names;
use crate::frontend::passes::maps::describe_map;
use crate::source::{FileId, Span};
use crate::sys::{self, Access, OpenRefused};

use super::complete::COMMANDS;
use super::eval::{Flow, Repl};

/// Run the command typed as `file` (its text starts with `.`).
pub fn run(repl: &mut Repl, file: FileId) -> Flow {
    let text = repl.sources.text(file).to_string();
    let lead = text.len() - text.trim_start().len();
    let line = text.trim();
    let (cmd, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    let arg = rest.trim();
    let arg_start = lead + line.len() - rest.trim_start().len();
    let arg_span = Span::new(file, arg_start, arg_start + arg.len());
    let cmd_span = Span::new(file, lead, lead + cmd.len());
    match cmd {
        ".help" => help(repl),
        ".probes" => probes(repl),
        ".maps" => maps(repl),
        ".detach" => detach(repl, arg, arg_span),
        ".save" => save(repl, arg, arg_span, Replace::No),
        ".save!" => save(repl, arg, arg_span, Replace::Yes),
        ".load" => load(repl, arg, arg_span),
        ".folded" => folded(repl),
        ".flamegraph" => flamegraph(repl, arg, arg_span, Replace::No),
        ".flamegraph!" => flamegraph(repl, arg, arg_span, Replace::Yes),
        ".quit" => return Flow::Quit,
        _ => {
            let names = COMMANDS.iter().map(|(c, _)| *c);
            let mut d = Diagnostic::error(format!("unknown command `{cmd}`")).at(cmd_span, "not a REPL command");
            if let Some(close) = similar_names(cmd, names, 1, false).first() {
                d = d.note(format!("did you mean `{close}`?"));
            }
            repl.report(&[d.note("`.help` lists the commands")]);
        }
    }
    Flow::Continue
}

fn say(repl: &mut Repl, text: &str) {
    let _ = repl.console.write_all(text.as_bytes());
    let _ = repl.console.flush();
}

fn help(repl: &mut Repl) {
    let mut text = String::from(
        "Type probes to attach them, e.g.  uprobe:./db:snapshot { @calls = count(); }\n\
         Type statements to run them once, e.g.  print(@calls)   clear(@calls)   @x = 0\n\
         A block goes on over several lines while its braces are open.\n\n",
    );
    for (_, usage) in COMMANDS {
        text += &format!("  {usage}\n");
    }
    text += "\nCtrl-D quits like .quit: probes are detached and non-empty maps printed.\n";
    say(repl, &text);
}

fn probes(repl: &mut Repl) {
    if repl.live.blocks().is_empty() {
        return say(repl, "no probes attached\n");
    }
    let mut text = format!("{:>4}  {:>10}  PROBE\n", "ID", "HITS");
    for b in repl.live.blocks() {
        let hits = repl.live.hits(b).map_or("-".to_string(), |h| h.to_string());
        let points = if b.names.len() == 1 { String::new() } else { format!(" ({} points)", b.names.len()) };
        text += &format!("{:>4}  {hits:>10}  {}{points}\n", b.id, b.label);
    }
    say(repl, &text);
}

fn maps(repl: &mut Repl) {
    let entries = repl.live.map_entries();
    if entries.is_empty() {
        return say(repl, "no maps\n");
    }
    let rows: Vec<(String, usize)> = entries
        .into_iter()
        .map(|(name, n)| {
            let key = name.trim_start_matches('@');
            (repl.maps.get(key).map_or(name.clone(), describe_map), n)
        })
        .collect();
    let width = rows.iter().map(|(d, _)| d.len()).max().unwrap_or(0);
    let mut text = String::new();
    for (desc, n) in rows {
        text += &format!("{desc:<width$}  {n} {}\n", if n == 1 { "entry" } else { "entries" });
    }
    say(repl, &text);
}

fn detach(repl: &mut Repl, arg: &str, span: Span) {
    if arg.is_empty() {
        let d = Diagnostic::error("`.detach` needs a probe id, or `all`").at(span, "e.g. `.detach 1`");
        return repl.report(&[d.note("`.probes` lists the ids")]);
    }
    if arg == "all" {
        let n = repl.live.detach_all();
        return say(repl, &format!("detached {n} probe{}\n", if n == 1 { "" } else { "s" }));
    }
    let label = arg.parse::<u32>().ok().and_then(|id| {
        let label = repl.live.blocks().iter().find(|b| b.id == id).map(|b| b.label.clone())?;
        repl.live.detach(id).then_some(label)
    });
    match label {
        Some(label) => say(repl, &format!("detached [{arg}] {label}\n")),
        None => {
            let ids: Vec<String> = repl.live.blocks().iter().map(|b| b.id.to_string()).collect();
            let d = Diagnostic::error(format!("no probe `{arg}` to detach"))
                .at(span, "not the id of an attached probe")
                .note(if ids.is_empty() {
                    "no probes are attached".to_string()
                } else {
                    format!("attached: {} (see `.probes`), or `.detach all`", ids.join(", "))
                });
            repl.report(&[d]);
        }
    }
}

/// Whether `.save` may replace an existing file (`.save!`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Replace {
    No,
    Yes,
}

/// The attached probes as a script `trace FILE` runs unchanged.
fn save(repl: &mut Repl, path: &str, span: Span, replace: Replace) {
    let cmd = if replace == Replace::Yes { ".save!" } else { ".save" };
    if path.is_empty() {
        return repl
            .report(&[Diagnostic::error(format!("`{cmd}` needs a file name")).at(span, "e.g. `.save probes.bt`")]);
    }
    if repl.live.blocks().is_empty() {
        return repl.report(&[Diagnostic::error("nothing to save: no probes are attached").at(span, "not written")]);
    }
    let mut text = String::from("// Saved from a trace REPL session: what ran once, then the probes attached.\n");
    if let Some(pid) = repl.live.pid() {
        text += &format!("// The session traced pid {pid}: run with `trace -p PID {path}`.\n");
    }
    if !repl.c_text.is_empty() {
        text += "\n";
        for piece in &repl.c_text {
            text += &format!("{}\n", repl.sources.slice(*piece));
        }
    }
    for block in &repl.setup {
        text += &format!("\n{block}\n");
    }
    for b in repl.live.blocks() {
        text += &format!("\n{}\n", b.source.trim());
    }
    let n = repl.live.blocks().len();
    if let Err(d) = write_script(Path::new(path), &text, replace) {
        return repl.report(&[d.at(span, "not written")]);
    }
    say(repl, &format!("saved {n} probe{} to {path}\n", if n == 1 { "" } else { "s" }));
    // A map may owe its type to a probe detached since: say so now, not
    // when the script is next run.
    let file = repl.sources.add(path, text);
    if let Err(diags) = crate::compile(&mut repl.sources, file, &repl.opts) {
        let mut d = Diagnostic::warning(format!("{path} does not compile on its own"))
            .at(span, "saved anyway")
            .note("a map it uses may have been typed by a probe detached since; edit the file");
        if let Some(first) = diags.iter().find(|d| d.is_error()) {
            d = d.note(format!("first error: {}", first.message));
        }
        repl.report(&[d]);
    }
}

/// `.folded`: the stack-keyed maps as folded stacks, as `-f folded`
/// prints them (for flamegraph.pl, inferno or speedscope).
fn folded(repl: &mut Repl) {
    let lines = crate::runtime::output::flamegraph::folded(&repl.live.dumps());
    if lines.is_empty() {
        return say(repl, "no stacks: no map has a stack in its key (e.g. @[ustack] = count())\n");
    }
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    say(repl, &text);
}

/// `.flamegraph FILE.svg`: the stack-keyed maps as they are now, as an
/// SVG flame graph (`.flamegraph!` replaces an existing file).
fn flamegraph(repl: &mut Repl, path: &str, span: Span, replace: Replace) {
    if path.is_empty() {
        let d = Diagnostic::error("`.flamegraph` needs a file name").at(span, "e.g. `.flamegraph cpu.svg`");
        return repl.report(&[d]);
    }
    let dumps = repl.live.dumps();
    let stacks = crate::runtime::output::flamegraph::folded(&dumps).len();
    if stacks == 0 {
        let d = Diagnostic::error("no stacks to draw: no map has a stack in its key")
            .at(span, "not written")
            .note("e.g. `profile:hz:99 { @[ustack] = count(); }`");
        return repl.report(&[d]);
    }
    let file = match open_for_writing(Path::new(path), replace, ".flamegraph") {
        Ok(f) => f,
        Err(d) => return repl.report(&[d.at(span, "not written")]),
    };
    match crate::runtime::output::flamegraph::write_svg(file, "trace", &dumps) {
        Ok(()) => say(repl, &format!("wrote {stacks} stack{} to {path}\n", if stacks == 1 { "" } else { "s" })),
        Err(e) => repl.report(&[Diagnostic::error(format!("cannot write {path}: {e}")).at(span, "not written")]),
    }
}

/// Writes a new file, or with [`Replace::Yes`] replaces a regular one.
fn write_script(path: &Path, text: &str, replace: Replace) -> Result<(), Diagnostic> {
    let shown = path.display();
    let file = open_for_writing(path, replace, ".save")?;
    (&file).write_all(text.as_bytes()).map_err(|e| Diagnostic::error(format!("cannot write {shown}: {e}")))
}

/// A new file, or with [`Replace::Yes`] an existing regular one, emptied.
/// `cmd` is the command that writes (`.save`), for the hint.
fn open_for_writing(path: &Path, replace: Replace, cmd: &str) -> Result<std::fs::File, Diagnostic> {
    let shown = path.display();
    let file = match (sys::create_new(path, 0o666), replace) {
        (Ok(file), _) => file,
        (Err(OpenRefused::Exists), Replace::No) => {
            return Err(Diagnostic::error(format!("{shown} exists: not overwritten"))
                .note(format!("`{cmd}! {shown}` replaces it")));
        }
        (Err(OpenRefused::Exists), Replace::Yes) => sys::open_existing(path, Access::Replace, None)
            .map_err(|e| Diagnostic::error(format!("cannot write {shown}: {e}")))?,
        (Err(e), _) => return Err(Diagnostic::error(format!("cannot write {shown}: {e}"))),
    };
    Ok(file)
}

fn load(repl: &mut Repl, path: &str, span: Span) {
    if path.is_empty() {
        return repl.report(&[Diagnostic::error("`.load` needs a file name").at(span, "e.g. `.load probes.bt`")]);
    }
    match read_script(path) {
        Ok(text) => {
            let file = repl.sources.add(path, text);
            repl.eval_code(file);
        }
        Err(e) => repl.report(&[Diagnostic::error(format!("cannot read {path}: {e}")).at(span, "this file")]),
    }
}

/// A regular file only: a fifo would block the session. The size is
/// bounded by [`crate::source::read_script`].
fn read_script(path: &str) -> Result<String, String> {
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    crate::source::read_script(std::path::Path::new(path))
}
