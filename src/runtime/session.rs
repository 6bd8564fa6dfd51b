//! A running session: maps created, programs loaded, BEGIN run, probes
//! attached, events printed, and on the way out (Ctrl-C, SIGTERM, `exit()`,
//! the `-c` command ending, or an error) everything detached, END run, maps
//! printed and released.
//!
//! Ordering guarantees: BEGIN runs (through `BPF_PROG_TEST_RUN`) before any
//! other probe is attached; END runs after every probe is detached.

use crate::codegen::link::Linked;
use crate::codegen::program::{event, Compiled, LOST_MAP};
use crate::frontend::probes::ProbeSpec;
use crate::runtime::attach::{self, Link};
use crate::runtime::decode;
use crate::runtime::load::{load_program, LoadError, Prog};
use crate::runtime::maps::Map;
use crate::runtime::output::{json, printf, text};
use crate::runtime::ringbuf::RingBuf;
use crate::runtime::sys::{self, HeldChild, ProgKind};
use std::cell::RefCell;
use std::io::Write;
use std::rc::Rc;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Text,
    Json,
}

#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    pub pid: Option<i32>,
    pub command: Option<String>,
    pub format: Format,
    /// argdist-style periodic reports instead of maps printed at exit.
    pub argdist: Option<crate::runtime::periodic::ArgdistReport>,
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
    #[error("{0}")]
    Sys(#[from] sys::SysError),
}

/// Create the maps of a compiled program, in map-id order.
pub fn create_maps(compiled: &Compiled) -> Result<Vec<Map>, SessionError> {
    compiled
        .maps
        .iter()
        .map(|d| {
            Map::create(&d.name, d.kind, d.key_size, d.value_size, d.max_entries)
                .map_err(|source| SessionError::Map { name: d.name.clone(), source })
        })
        .collect()
}

pub fn prog_kind(spec: &ProbeSpec) -> ProgKind {
    match spec {
        ProbeSpec::Begin | ProbeSpec::End => ProgKind::RawTracepoint,
        ProbeSpec::Uprobe { .. } | ProbeSpec::Usdt { .. } => ProgKind::Kprobe,
        ProbeSpec::Tracepoint { .. } => ProgKind::Tracepoint,
        ProbeSpec::Interval { .. } | ProbeSpec::Profile { .. } => ProgKind::PerfEvent,
    }
}

/// Load every probe's linked program.
pub fn load_all(compiled: &Compiled, linked: &[Linked]) -> Result<Vec<Prog>, SessionError> {
    let mut progs = Vec::new();
    for (i, (p, l)) in compiled.probes.iter().zip(linked).enumerate() {
        let bytes = crate::codegen::insn::to_bytes(&l.insns);
        let name = format!("trace_{i}");
        let prog = load_program(prog_kind(&p.resolved.spec), &name, &bytes)
            .map_err(|source| SessionError::Load { probe: i, source })?;
        progs.push(prog);
    }
    Ok(progs)
}

/// Prints events and maps; owns the maps while the session runs.
struct Printer<'a> {
    compiled: &'a Compiled,
    maps: &'a [Map],
    ncpus: usize,
    format: Format,
    exit_requested: bool,
    out: std::io::StdoutLock<'static>,
}

impl Printer<'_> {
    fn word(bytes: &[u8], i: usize) -> u64 {
        bytes.get(8 * i..8 * i + 8).and_then(|b| b.try_into().ok()).map(u64::from_le_bytes).unwrap_or(0)
    }

    fn event(&mut self, bytes: &[u8]) {
        let kind = Self::word(bytes, 0);
        let id = Self::word(bytes, 1) as usize;
        match kind {
            event::PRINTF => {
                let Some(decl) = self.compiled.printfs.get(id) else { return };
                let mut at = 16;
                let mut args = Vec::new();
                for t in &decl.args {
                    let size = crate::codegen::program::slot_size(t) as usize;
                    args.push(decode::scalar(t, bytes.get(at..at + size).unwrap_or(&[])));
                    at += size;
                }
                let text = printf::render(&decl.pieces, &args);
                let text = match self.format {
                    Format::Text => text,
                    Format::Json => json::printf_to_json(&text),
                };
                self.write(&text);
            }
            event::PRINT_VALUE => {
                let Some(t) = self.compiled.prints.get(id) else { return };
                let v = decode::scalar(t, bytes.get(16..).unwrap_or(&[]));
                let text = match self.format {
                    Format::Text => format!("{}\n", text::format_scalar(&v)),
                    Format::Json => json::value_to_json(&v),
                };
                self.write(&text);
            }
            event::TIME => {
                let Some(fmt) = self.compiled.times.get(id) else { return };
                let now = printf::format_time(fmt);
                let text = match self.format {
                    Format::Text => now,
                    Format::Json => json::time_to_json(&now),
                };
                self.write(&text);
            }
            event::PRINT_MAP => {
                let top = Self::word(bytes, 2) as usize;
                let div = Self::word(bytes, 3).max(1);
                self.print_map(id, top, div);
            }
            event::CLEAR => {
                if let Some(m) = self.maps.get(id) {
                    let _ = m.clear();
                }
            }
            event::ZERO => {
                if let (Some(m), Some(d)) = (self.maps.get(id), self.compiled.maps.get(id)) {
                    let _ = decode::zero(m, d, self.ncpus);
                }
            }
            event::EXIT => self.exit_requested = true,
            _ => {}
        }
    }

    fn write(&mut self, text: &str) {
        let _ = self.out.write_all(text.as_bytes());
    }

    fn print_map(&mut self, id: usize, top: usize, div: u64) {
        let (Some(map), Some(decl)) = (self.maps.get(id), self.compiled.maps.get(id)) else { return };
        match decode::dump(map, decl, self.ncpus) {
            Ok(dump) => {
                let text = match self.format {
                    Format::Text => text::format_map(&dump, top, div),
                    Format::Json => json::map_to_json_with(&dump, top, div),
                };
                let _ = self.out.write_all(text.as_bytes());
            }
            Err(e) => eprintln!("warning: cannot read {}: {e}", decl.name),
        }
    }

    /// At exit: every non-empty user map, in name order.
    fn print_all_maps(&mut self) {
        for (id, decl) in self.compiled.maps.iter().enumerate() {
            if decl.user.is_none() {
                continue;
            }
            let nonempty = self.maps.get(id).and_then(|m| m.keys().ok()).is_some_and(|k| !k.is_empty());
            if nonempty {
                self.print_map(id, 0, 1);
            }
        }
    }

    fn lost_events(&self) -> u64 {
        let Some(m) = self.maps.get(LOST_MAP.0 as usize) else { return 0 };
        match m.lookup(&0u32.to_le_bytes()) {
            Ok(Some(v)) => (0..self.ncpus).map(|i| Self::word(&v, i)).sum(),
            _ => 0,
        }
    }
}

/// The order to attach probes in so that blocks on the same event run in
/// program order: the kernel runs a tracepoint's programs first-attached
/// first, but a uprobe's consumers last-attached first.
fn attach_order(compiled: &Compiled) -> Vec<usize> {
    let is_uprobe =
        |i: &usize| matches!(compiled.probes[*i].resolved.spec, ProbeSpec::Uprobe { .. } | ProbeSpec::Usdt { .. });
    let all: Vec<usize> = (0..compiled.probes.len()).collect();
    let mut order: Vec<usize> = all.iter().copied().filter(|i| !is_uprobe(i)).collect();
    order.extend(all.iter().copied().filter(is_uprobe).rev());
    order
}

/// Run a loaded program to completion. Returns the process exit code.
pub fn run(compiled: &Compiled, maps: Vec<Map>, progs: Vec<Prog>, opts: &RunOptions) -> Result<i32, SessionError> {
    sys::catch_stop_signals();
    let ncpus = sys::possible_cpus()?;
    let events_map = &maps[crate::codegen::program::EVENTS_MAP.0 as usize];
    let queue: Rc<RefCell<Vec<Vec<u8>>>> = Rc::default();
    let sink = queue.clone();
    let mut ring = RingBuf::new(
        events_map,
        Box::new(move |data: &[u8]| {
            sink.borrow_mut().push(data.to_vec());
            0
        }),
    )?;
    let mut printer = Printer {
        compiled,
        maps: &maps,
        ncpus,
        format: opts.format,
        exit_requested: false,
        out: std::io::stdout().lock(),
    };
    let drain = |ring: &mut RingBuf, printer: &mut Printer| -> Result<(), SessionError> {
        ring.consume()?;
        for ev in queue.borrow_mut().drain(..) {
            printer.event(&ev);
        }
        let _ = printer.out.flush();
        Ok(())
    };

    let mut child = match &opts.command {
        Some(cmd) => Some(HeldChild::spawn(cmd).map_err(|source| SessionError::Command { cmd: cmd.clone(), source })?),
        None => None,
    };
    let target_pid = child.as_ref().map(|c| c.pid()).or(opts.pid);

    let n = compiled.probes.len();
    eprintln!("Attaching {n} probe{}...", if n == 1 { "" } else { "s" });
    for (p, prog) in compiled.probes.iter().zip(&progs) {
        if matches!(p.resolved.spec, ProbeSpec::Begin) {
            prog.test_run()?;
        }
    }
    drain(&mut ring, &mut printer)?;

    let mut links: Vec<Link> = Vec::new();
    if !printer.exit_requested {
        for i in attach_order(compiled) {
            let (p, prog) = (&compiled.probes[i], &progs[i]);
            let link = match &p.resolved.spec {
                ProbeSpec::Begin | ProbeSpec::End => continue,
                ProbeSpec::Uprobe { binary, file_offset, ret, .. } => {
                    attach::attach_uprobe(prog, binary, *file_offset, *ret, target_pid)
                }
                // A USDT site is a uprobe on its nop; the kernel raises the
                // semaphore (ref_ctr_offset) while the probe is attached.
                ProbeSpec::Usdt { binary, site } => {
                    let sem = site.semaphore.map_or(0, |s| s.file_offset);
                    attach::attach_uprobe_with_ref_ctr(prog, binary, site.file_offset, false, target_pid, sem)
                }
                ProbeSpec::Tracepoint { category, name, .. } => attach::attach_tracepoint(prog, category, name),
                ProbeSpec::Interval { period_ns } => attach::attach_interval(prog, *period_ns),
                ProbeSpec::Profile { hz } => attach::attach_profile(prog, *hz),
            };
            links.push(link.map_err(|source| SessionError::Attach { probe: p.resolved.name.clone(), source })?);
        }
        if let Some(c) = child.as_mut() {
            c.release();
        }
        let mut schedule = opts.argdist.as_ref().map(|r| r.schedule());
        while !printer.exit_requested && !sys::stop_requested() {
            let wait = match (&opts.argdist, &schedule) {
                (Some(r), Some(s)) => r.wait(s).as_millis() as i32,
                _ => 100,
            };
            ring.poll(wait)?;
            drain(&mut ring, &mut printer)?;
            if let (Some(r), Some(s)) = (&opts.argdist, schedule.as_mut()) {
                if r.tick(s, compiled, &maps, ncpus) {
                    break;
                }
            }
            if let Some(c) = child.as_mut() {
                if c.exited() {
                    break;
                }
            }
        }
        if let (Some(r), Some(s)) = (&opts.argdist, &schedule) {
            for l in &links {
                l.disable();
            }
            r.finish(s, compiled, &maps, ncpus);
        }
    }

    // Teardown: stop every probe first so END sees the final state; the
    // slow detach happens after the results are out.
    for l in &links {
        l.disable();
    }
    drain(&mut ring, &mut printer)?;
    for (p, prog) in compiled.probes.iter().zip(&progs) {
        if matches!(p.resolved.spec, ProbeSpec::End) {
            prog.test_run()?;
        }
    }
    drain(&mut ring, &mut printer)?;
    if let Some(c) = child.as_mut() {
        c.finish();
    }
    if opts.argdist.is_none() {
        printer.print_all_maps();
    }
    let _ = printer.out.flush();
    let lost = printer.lost_events();
    if lost > 0 {
        eprintln!("warning: {lost} events were lost because the ring buffer was full");
    }
    drop(links);
    Ok(0)
}
