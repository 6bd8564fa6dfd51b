//! A running session: maps created, programs loaded, BEGIN run, probes
//! attached, events printed, and on the way out (Ctrl-C, SIGTERM, `exit()`,
//! the `-c` command ending, or an error) everything detached, END run, maps
//! printed and released.
//!
//! Ordering guarantees: BEGIN runs (through `BPF_PROG_TEST_RUN`) before any
//! other probe is attached; END runs after every probe is detached.

use crate::codegen::link::Linked;
use crate::codegen::program::{Compiled, MapDecl, EVENTS_SIZE};
use crate::frontend::probes::{AttachTarget, Firing, ProbeSpec};
use crate::runtime::attach::{self, Link};
use crate::runtime::load::{load_program_with_funcs, LoadError, Prog};
use crate::runtime::maps::{self, Map};
use crate::runtime::output::Output;
use crate::runtime::printer::Printer;
use crate::runtime::ringbuf::{EventQueue, BATCH};
use crate::sys::{self, HeldChild};
use std::time::Duration;

#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    pub pid: Option<i32>,
    pub command: Option<String>,
    /// `-q`: no `Attaching N probes...` line.
    pub quiet: bool,
}

/// Why a session could not start or went wrong.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("cannot create map {name}: {source}")]
    Map { name: String, source: sys::SysError },
    #[error("cannot load probe {probe}")]
    Load { probe: usize, source: LoadError },
    #[error("cannot attach {probe}: {source}")]
    Attach { probe: String, source: attach::AttachError },
    #[error("cannot start `{cmd}`: {source}")]
    Command { cmd: String, source: std::io::Error },
    #[error("cannot write the output: {0}")]
    Output(std::io::Error),
    #[error("{0}")]
    Sys(#[from] sys::SysError),
}

/// Create maps from their declarations, in order.
pub fn create_maps(decls: &[MapDecl]) -> Result<Vec<Map>, SessionError> {
    decls
        .iter()
        .map(|d| {
            Map::create(&d.name, d.kind, d.key_size, d.value_size, d.max_entries)
                .map_err(|source| SessionError::Map { name: d.name.clone(), source })
        })
        .collect()
}

/// Load every probe's linked program.
pub fn load_all(compiled: &Compiled, linked: &[Linked]) -> Result<Vec<Prog>, SessionError> {
    let mut progs = Vec::new();
    for (i, (p, l)) in compiled.probes.iter().zip(linked).enumerate() {
        let bytes = crate::codegen::insn::to_bytes(&l.insns);
        let name = format!("trace_{i}");
        let prog = load_program_with_funcs(p.resolved.spec.kind().prog_kind(), &name, &bytes, &l.funcs)
            .map_err(|source| SessionError::Load { probe: i, source })?;
        progs.push(prog);
    }
    Ok(progs)
}

/// The order to attach probes in so that blocks on the same event run in
/// program order: events whose programs run newest first
/// ([`AttachTarget::runs_newest_first`]) are attached in reverse.
pub(crate) fn attach_order(compiled: &Compiled) -> Vec<usize> {
    let newest_first = |i: &usize| match compiled.probes[*i].resolved.spec.kind().firing() {
        Firing::On(target) => target.runs_newest_first(),
        Firing::AtStart | Firing::AtEnd | Firing::OnSignal(_) => false,
    };
    let all: Vec<usize> = (0..compiled.probes.len()).collect();
    let mut order: Vec<usize> = all.iter().copied().filter(|i| !newest_first(i)).collect();
    order.extend(all.iter().copied().filter(newest_first).rev());
    order
}

/// Attach one loaded probe to its event; `None` for BEGIN and END, which
/// are run, not attached.
pub fn attach_probe(spec: &ProbeSpec, prog: &Prog, pid: Option<i32>) -> Option<Result<Link, attach::AttachError>> {
    let Firing::On(target) = spec.kind().firing() else { return None };
    Some(match target {
        AttachTarget::Uprobe { binary, file_offset, ret, ref_ctr_offset } => {
            attach::attach_uprobe_with_ref_ctr(prog, binary, file_offset, ret, pid, ref_ctr_offset)
        }
        AttachTarget::Kprobe { functions: [one], module, offset, ret } => {
            let symbol = match module {
                Some(m) => format!("{m}:{one}"),
                None => one.clone(),
            };
            attach::attach_kprobe(prog, &symbol, offset, ret)
        }
        AttachTarget::Kprobe { functions, ret, .. } => attach::attach_kprobe_multi(prog, functions, ret),
        AttachTarget::Tracing { name } => attach::attach_tracing(prog, name),
        AttachTarget::Tracepoint { category, name } => attach::attach_tracepoint(prog, category, name),
        AttachTarget::Interval { period_ns } => attach::attach_interval(prog, period_ns),
        AttachTarget::Profile { hz } => attach::attach_profile(prog, hz),
    })
}

/// Run the programs that fire once, in program order: BEGIN's with
/// `at_start`, else END's.
fn run_once(compiled: &Compiled, progs: &[Prog], at_start: bool) -> Result<(), SessionError> {
    for (p, prog) in compiled.probes.iter().zip(progs) {
        let firing = p.resolved.spec.kind().firing();
        if matches!((firing, at_start), (Firing::AtStart, true) | (Firing::AtEnd, false)) {
            prog.test_run()?;
        }
    }
    Ok(())
}

/// Run the `self:signal` probes of each signal trace received since the
/// last look, in program order.
fn run_on_signals(on_signal: &[(i32, usize)], progs: &[Prog]) -> Result<(), SessionError> {
    let mut arrived: Vec<i32> = on_signal.iter().map(|(s, _)| *s).collect();
    arrived.dedup();
    arrived.retain(|s| sys::take_user_signal(*s));
    for (_, i) in on_signal.iter().filter(|(s, _)| arrived.contains(s)) {
        progs[*i].test_run()?;
    }
    Ok(())
}

/// Run a loaded program to completion, printing through `output`. Returns
/// the process exit code.
pub fn run(
    compiled: &Compiled,
    maps: Vec<Map>,
    progs: Vec<Prog>,
    output: &mut dyn Output,
    opts: &RunOptions,
) -> Result<i32, SessionError> {
    sys::catch_stop_signals();
    let ncpus = sys::possible_cpus()?;
    let events_map = &maps[crate::codegen::program::EVENTS_MAP.0 as usize];
    let mut ring = EventQueue::new(events_map)?;
    let mut stdout = std::io::stdout().lock();
    let symbols =
        std::cell::RefCell::new(crate::runtime::names::Symbols::for_probes(compiled, opts.command.as_deref()));
    let mut printer = Printer::new(compiled, &maps, ncpus, &symbols, output, &mut stdout);
    // One bounded batch of events (see `EventQueue`).
    let batch = |ring: &mut EventQueue, printer: &mut Printer| -> Result<(), SessionError> {
        for ev in ring.take()? {
            printer.event(&ev);
        }
        printer.flush();
        Ok(())
    };
    // Everything waiting, batch by batch, unless the session is told to
    // stop meanwhile (what is left is dropped: the user asked to stop).
    // Probes are stopped when it runs, so the ring holds at most what it
    // can: a full ring of the smallest records bounds the batches.
    let drain = |ring: &mut EventQueue, printer: &mut Printer| -> Result<(), SessionError> {
        batch(ring, printer)?;
        let mut left = DRAIN_BATCHES;
        while ring.more() && !sys::stop_requested() && !printer.closed && left > 0 {
            batch(ring, printer)?;
            left -= 1;
        }
        Ok(())
    };

    let mut child = match &opts.command {
        Some(cmd) => Some(HeldChild::spawn(cmd).map_err(|source| SessionError::Command { cmd: cmd.clone(), source })?),
        None => None,
    };
    let target_pid = child.as_ref().map(|c| c.pid()).or(opts.pid);

    // As bpftrace counts: a kprobe-multi program is a probe per function.
    let n: usize = compiled
        .probes
        .iter()
        .map(|p| match p.resolved.spec.kind().firing() {
            Firing::On(AttachTarget::Kprobe { functions, .. }) => functions.len(),
            _ => 1,
        })
        .sum();
    if !opts.quiet {
        crate::diag::stderr_line(format_args!("Attaching {n} probe{}...", if n == 1 { "" } else { "s" }));
    }
    run_once(compiled, &progs, true)?;
    drain(&mut ring, &mut printer)?;

    let mut links: Vec<Link> = Vec::new();
    if !printer.exit_requested && !printer.stop_flagged() {
        for i in attach_order(compiled) {
            // Ctrl-C or SIGTERM while attaching: stop attaching; the
            // command never starts.
            if sys::stop_requested() {
                break;
            }
            let (p, prog) = (&compiled.probes[i], &progs[i]);
            let Some(link) = attach_probe(&p.resolved.spec, prog, target_pid) else { continue };
            links.push(link.map_err(|source| SessionError::Attach { probe: p.resolved.name.clone(), source })?);
        }
        if let Some(c) = child.as_mut().filter(|_| !sys::stop_requested()) {
            c.release();
        }
        printer.output.started();
        // `self:signal` probes: (signal, probe) in program order.
        let on_signal: Vec<(i32, usize)> = (compiled.probes.iter().enumerate())
            .filter_map(|(i, p)| match p.resolved.spec.kind().firing() {
                Firing::OnSignal(s) => Some((s, i)),
                _ => None,
            })
            .collect();
        for (s, _) in &on_signal {
            sys::catch_user_signal(*s);
        }
        // An exit() whose event the ring had no room for still ends the
        // session (its mark in the stop map); the teardown prints what
        // was queued before the event.
        while !printer.exit_requested && !printer.stop_flagged() && !printer.closed && !sys::stop_requested() {
            let wait = printer.output.until_report().map_or(POLL, |d| d.min(POLL));
            ring.poll(wait.as_millis() as i32)?;
            batch(&mut ring, &mut printer)?;
            run_on_signals(&on_signal, &progs)?;
            printer.report_lost_events();
            let done = printer.report();
            printer.flush();
            // The session ends with the `-c` command, or the `-p` process.
            let target_gone = match child.as_mut() {
                Some(c) => c.exited(),
                None => opts.pid.is_some_and(|p| !sys::process_alive(p)),
            };
            if done || target_gone {
                break;
            }
        }
        stop_probes(&printer, &links)?;
        printer.stopped();
    }

    // `exit(code)`'s status, read before the teardown's own stop mark
    // replaces it.
    let status = printer.exit_status();
    // Teardown: stop every probe first, so END runs after the last event
    // was delivered (a program already running may still finish); the
    // slow detach happens after the results are out.
    stop_probes(&printer, &links)?;
    drain(&mut ring, &mut printer)?;
    // After `exit()` the events queued behind it were dropped; END's own
    // output prints.
    printer.resume();
    run_once(compiled, &progs, false)?;
    drain(&mut ring, &mut printer)?;
    if let Some(c) = child.as_mut() {
        c.finish();
    }
    printer.at_exit();
    printer.flush();
    printer.warn_lost_events();
    attach::detach_all(links);
    match printer.write_error.take() {
        Some(e) => Err(SessionError::Output(e)),
        None => Ok(i32::from(status)),
    }
}

/// Probes do nothing from now on: the stop word for the programs (the
/// kernel runs a uprobe's or tracepoint's programs whatever its perf event
/// says), and the perf events disabled (timers stop firing).
fn stop_probes(printer: &Printer, links: &[Link]) -> Result<(), SessionError> {
    maps::stop_probes(printer.maps)?;
    for l in links {
        l.disable();
    }
    Ok(())
}

/// The most batches a drain reads: a ring full of the smallest records
/// (an 8-byte header and one word).
const DRAIN_BATCHES: usize = (EVENTS_SIZE as usize / 16).div_ceil(BATCH) + 1;

/// The longest the event loop waits before checking for a stop.
const POLL: Duration = Duration::from_millis(100);
