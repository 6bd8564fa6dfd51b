//! The interactive REPL: a live tracing session the user grows probe by
//! probe, inspects, and saves as a script.
//!
//! `trace` with no program opens it: on a terminal with line editing, from
//! a pipe or file line by line (scriptable). The main thread owns the BPF
//! session ([`crate::runtime::live`]) and waits on two things at once: the
//! ring buffer, whose events it prints as probes send them, and the input
//! reader (`input.rs`), whose lines it evaluates (`eval.rs`, `commands.rs`).
//!
//! The session ends on Ctrl-D (or the end of piped input), `.quit`, a
//! probe calling `exit()`, or SIGTERM: probes are detached, END blocks run,
//! and non-empty maps are printed, as `trace` does at exit. Ctrl-C at the
//! prompt clears the line; while output is printing it stops the output.
//! From a pipe, Ctrl-C ends the session like SIGTERM.

mod commands;
pub mod complete;
mod complete_sources;
mod eval;
mod history;
pub mod input;

use std::io::IsTerminal;

use crate::frontend::passes::Params;
use crate::runtime::live::LiveSession;
use crate::runtime::output::Strings;
use crate::sys;
use crate::CompileOptions;
use eval::{Flow, Repl};
use input::{Console, Input, SessionNames};

#[derive(Clone, Debug, Default)]
pub struct ReplOptions {
    pub pid: Option<i32>,
    /// CLOCK_MONOTONIC nanoseconds at start, for `elapsed`.
    pub start_ns: u64,
    /// `--max-map-keys` (0: the default).
    pub max_map_keys: u32,
    /// `--max-probes` per line (0: the default).
    pub max_probes: usize,
    /// How traced strings print (escaped on a terminal, see
    /// `runtime::output::strings`).
    pub strings: Strings,
}

/// Run a session to its end; returns the exit code (non-zero for a piped
/// session in which some input was refused, or a session that could not
/// start).
pub fn run(opts: ReplOptions) -> u8 {
    sys::catch_stop_signals();
    let terminal = std::io::stdin().is_terminal();
    if let Some(pid) = opts.pid {
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            crate::diag::stderr_line(format_args!("error: no process {pid} (-p)"));
            return 1;
        }
    }
    // The session first: if the kernel refuses it, the terminal has not
    // been touched yet.
    let live = match LiveSession::new(opts.pid, opts.strings) {
        Ok(l) => l,
        Err(e) => {
            crate::diag::stderr_line(format_args!("error: cannot start a session: {e}"));
            return 1;
        }
    };
    let names = SessionNames::default();
    let saved_mode = if terminal { sys::TerminalMode::save() } else { None };
    let started = if terminal {
        input::from_terminal(names.clone(), opts.pid)
    } else {
        input::from_stdin().map(|i| (i, Console::plain())).map_err(|e| e.to_string())
    };
    let (mut inputs, console) = match started {
        Ok(s) => s,
        Err(e) => {
            crate::diag::stderr_line(format_args!("error: cannot read input: {e}"));
            return 1;
        }
    };
    let compile = CompileOptions {
        params: Params::default(),
        pid: opts.pid,
        start_ns: opts.start_ns,
        ignore_pid: crate::own_events_ignored(opts.pid),
        max_map_keys: opts.max_map_keys,
        max_probes: opts.max_probes,
        cdefs: Default::default(),
    };
    let mut repl = Repl::new(live, compile, console, names);
    if terminal {
        repl.info("trace: type probes or statements; .help lists commands; Ctrl-D quits");
    }
    // Whether the reader is in the line editor (not waiting for us).
    let mut reading = true;
    loop {
        if repl.live.exit_requested() {
            break;
        }
        match sys::stop_signal() {
            Some(libc::SIGINT) if terminal => sys::clear_stop(),
            Some(_) => break,
            None => {}
        }
        // A stop signal may be delivered to another thread and not cut the
        // wait short: look at the flag four times a second.
        let ready = match sys::wait_readable(&[repl.live.events_fd(), inputs.wake_fd()], 250) {
            Ok(r) => r,
            Err(e) => {
                repl.info(&format!("error: {e}"));
                break;
            }
        };
        repl.print_events();
        if !ready[1] {
            continue;
        }
        reading = false;
        let flow = match inputs.take() {
            Input::Text(text) => repl.eval(&text),
            Input::Interrupted => {
                repl.console.discard_pending();
                Flow::Continue
            }
            Input::Eof => Flow::Quit,
            Input::Note(note) => {
                repl.info(&format!("warning: {note}"));
                Flow::Continue
            }
        };
        if flow == Flow::Quit || repl.live.exit_requested() {
            break;
        }
        let sigint = || sys::stop_signal() == Some(libc::SIGINT);
        if repl.console.sync(&sigint) || (terminal && sigint()) {
            sys::clear_stop();
            repl.info("^C");
        }
        inputs.done();
        reading = true;
    }
    // Ended by exit() or a signal while the editor has the terminal: take
    // it back, and leave the prompt line before printing the maps.
    let editing = terminal && reading;
    if editing {
        repl.console.leave_editor();
        std::thread::sleep(std::time::Duration::from_millis(50));
        if let Some(mode) = &saved_mode {
            mode.restore();
        }
        let _ = std::io::Write::write_all(&mut std::io::stdout(), b"\n");
    }
    let Repl { live, mut console, sources, failed, .. } = repl;
    let problems: Vec<_> =
        live.finish(&mut console).iter().map(|e| crate::diag::Diagnostic::error(e.to_string())).collect();
    crate::diag::render_to_stderr(&sources, &problems);
    // A piped session is a script: a refused line fails it.
    let failed = (failed && !terminal) || !problems.is_empty();
    console.close();
    if editing {
        // Bracketed paste off, as the editor would have left it.
        let mut out = std::io::stdout();
        let _ = std::io::Write::write_all(&mut out, b"\x1b[?2004l").and_then(|_| std::io::Write::flush(&mut out));
    }
    if let Some(mode) = saved_mode {
        mode.restore();
    }
    u8::from(failed)
}
