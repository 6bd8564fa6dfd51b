//! Turning what probes send through the ring buffer into output — printf
//! text, print() values, time(), print(@m) — through the session's
//! [`Output`], and doing what some events ask of userspace (clear, zero,
//! exit). Shared by the one-shot session and the REPL's live session.
//!
//! Nothing is lost silently: once `exit()` is seen, the events queued after
//! it are dropped (as bpftrace stops at its exit); a stdout that can no
//! longer be written (`| head -1`) ends the session, as SIGPIPE ends
//! bpftrace; events the ring buffer had no room for are reported while the
//! session runs, at most once a second, and in total at the end.

use crate::codegen::ir::MapId;
use crate::codegen::lower_stack::ANCHOR_FRAMES;
use crate::codegen::program::{
    drop_counter, event, loop_cut_counter, slot_size, Compiled, LOST_COUNTER, NMI_SCRATCH_MAP, SCRATCH_MAP,
};
use crate::runtime::decode::{self, MapReader};
use crate::runtime::maps::{self, Map};
use crate::runtime::names::Symbols;
use crate::runtime::output::{printf, Output};
use std::cell::RefCell;
use std::io::Write;
use std::time::{Duration, Instant};

/// Turns ring-buffer events into output.
pub(crate) struct Printer<'a> {
    pub compiled: &'a Compiled,
    pub maps: &'a [Map],
    pub ncpus: usize,
    /// Names stacks and symbols, with what it learnt so far.
    pub symbols: &'a RefCell<Symbols>,
    pub output: &'a mut dyn Output,
    /// An `exit()` event was seen.
    pub exit_requested: bool,
    /// The status its `exit(code)` asked for.
    pub exit_status: u8,
    /// Apply events (clear, zero, exit) but print nothing: the user
    /// interrupted the output.
    pub mute: bool,
    pub out: &'a mut dyn Write,
    /// A write to `out` failed: the session should end.
    pub closed: bool,
    /// Why, when it was not a closed pipe (`| head` ends a session
    /// quietly; a full disk is an error).
    pub write_error: Option<std::io::Error>,
    /// What was reported of lost events and full maps so far.
    pub losses: LossReport,
    /// Warnings go to `out` (the REPL's console, to stay in order with
    /// the output) instead of stderr.
    pub warn_to_out: bool,
}

/// Lost events and dropped map updates already reported, and when the
/// counters were last read: kept across printers by a live session.
#[derive(Debug, Default)]
pub(crate) struct LossReport {
    lost: u64,
    checked: Option<Instant>,
    /// By map id.
    drops: Vec<u64>,
    /// Loops cut short.
    cut: u64,
}

/// What to say about `n` loops the kernel's `bpf_loop` limit cut short.
fn loops_cut_text(n: u64) -> String {
    format!(
        "{n} loops stopped after {} iterations, the kernel's limit (bpf_loop): a `while` whose condition still held, \
         or a longer `for` range",
        crate::codegen::lower_loop::MAX_LOOPS
    )
}

impl<'a> Printer<'a> {
    pub fn new(
        compiled: &'a Compiled,
        maps: &'a [Map],
        ncpus: usize,
        symbols: &'a RefCell<Symbols>,
        output: &'a mut dyn Output,
        out: &'a mut dyn Write,
    ) -> Printer<'a> {
        Printer {
            compiled,
            maps,
            ncpus,
            symbols,
            output,
            exit_requested: false,
            exit_status: 0,
            mute: false,
            out,
            closed: false,
            write_error: None,
            losses: LossReport::default(),
            warn_to_out: false,
        }
    }
}

impl Printer<'_> {
    fn word(bytes: &[u8], i: usize) -> u64 {
        bytes.get(8 * i..8 * i + 8).and_then(|b| b.try_into().ok()).map(u64::from_le_bytes).unwrap_or(0)
    }

    /// The session's maps, as outputs read them.
    pub fn reader(&self) -> MapReader<'_> {
        MapReader { decls: &self.compiled.maps, maps: self.maps, ncpus: self.ncpus, symbols: self.symbols }
    }

    /// Act on one event. After `exit()` every event is dropped until
    /// [`Printer::resume`] (END's output is printed).
    pub fn event(&mut self, bytes: &[u8]) {
        if self.exit_requested {
            return;
        }
        let kind = Self::word(bytes, 0);
        let id = Self::word(bytes, 1) as usize;
        match kind {
            event::PRINTF => {
                let Some(decl) = self.compiled.printfs.get(id) else { return };
                let mut at = 16;
                let mut args = Vec::new();
                let reader = self.reader();
                let names = reader.names();
                for t in &decl.args {
                    let size = slot_size(t) as usize;
                    args.push(names.scalar(t, bytes.get(at..at + size).unwrap_or(&[])));
                    at += size;
                }
                let text = self.output.printf(&decl.pieces, &args);
                self.write(&text);
            }
            event::PRINT_VALUE => {
                let Some(t) = self.compiled.prints.get(id) else { return };
                let value = self.reader().names().scalar(t, bytes.get(16..).unwrap_or(&[]));
                let text = self.output.value(&value);
                self.write(&text);
            }
            event::TIME => {
                let Some(fmt) = self.compiled.times.get(id) else { return };
                let text = self.output.time(&printf::format_time(fmt));
                self.write(&text);
            }
            event::PRINT_MAP => {
                let top = Self::word(bytes, 2) as usize;
                let div = Self::word(bytes, 3).max(1);
                if !self.mute {
                    if let Some(dump) = self.reader().dump(id) {
                        let text = self.output.map(&dump, top, div);
                        self.write(&text);
                    }
                }
            }
            event::CLEAR => self.reader().clear(id),
            event::ZERO => {
                if let (Some(m), Some(d)) = (self.maps.get(id), self.compiled.maps.get(id)) {
                    let _ = decode::zero(m, d, self.ncpus);
                }
            }
            event::EXIT => {
                self.exit_requested = true;
                self.exit_status = Self::word(bytes, 1) as u8;
            }
            event::PROCESS => {
                let size = |i: usize| (Self::word(bytes, i) as i64).clamp(0, i64::from(ANCHOR_FRAMES) * 32) as usize;
                let ips = bytes.get(32..32 + size(2).min(ANCHOR_FRAMES as usize * 8)).unwrap_or(&[]);
                let at = 32 + ANCHOR_FRAMES as usize * 8;
                let ids = bytes.get(at..at + size(3)).unwrap_or(&[]);
                self.reader().names().note_process(id as u32, ips, ids);
            }
            _ => {}
        }
    }

    /// Print `text` (unless muted, or stdout is gone).
    pub fn write(&mut self, text: &str) {
        if !self.mute && !self.closed {
            let result = self.out.write_all(text.as_bytes());
            self.note_write(result);
        }
    }

    /// Push what was printed out; a failure means stdout is gone.
    pub fn flush(&mut self) {
        if !self.closed {
            let result = self.out.flush();
            self.note_write(result);
        }
    }

    fn note_write(&mut self, result: std::io::Result<()>) {
        if let Err(e) = result {
            self.closed = true;
            if e.kind() != std::io::ErrorKind::BrokenPipe {
                self.write_error = Some(e);
            }
        }
    }

    /// The session goes on after `exit()` was handled (END runs): its
    /// events print again.
    pub fn resume(&mut self) {
        self.exit_requested = false;
    }

    /// A periodic report, if the output has one due; true when the
    /// session is over.
    pub fn report(&mut self) -> bool {
        let reader =
            MapReader { decls: &self.compiled.maps, maps: self.maps, ncpus: self.ncpus, symbols: self.symbols };
        let report = self.output.report(&reader);
        self.write(&report.text);
        report.done
    }

    /// The probes were disabled after running: the output's last periodic
    /// report, if it has one.
    pub fn stopped(&mut self) {
        let reader =
            MapReader { decls: &self.compiled.maps, maps: self.maps, ncpus: self.ncpus, symbols: self.symbols };
        let text = self.output.stopped(&reader);
        self.write(&text);
    }

    /// At the end of the session: what the output prints last (every
    /// non-empty map, unless the output reported periodically).
    pub fn at_exit(&mut self) {
        let reader =
            MapReader { decls: &self.compiled.maps, maps: self.maps, ncpus: self.ncpus, symbols: self.symbols };
        let text = self.output.at_exit(&reader);
        self.write(&text);
    }

    /// While the session runs: say on stderr, at most once a second, that
    /// the ring buffer overflowed or a map was full since the last report.
    pub fn report_lost_events(&mut self) {
        if self.losses.checked.is_some_and(|t| t.elapsed() < Duration::from_secs(1)) {
            return;
        }
        self.losses.checked = Some(Instant::now());
        for (id, total) in self.dropped_updates() {
            let before = self.losses.drops.get(id).copied().unwrap_or(0);
            if total > before {
                let text = self.drop_text(id, total - before, Some(total));
                self.warn(&text);
                if self.losses.drops.len() <= id {
                    self.losses.drops.resize(id + 1, 0);
                }
                self.losses.drops[id] = total;
            }
        }
        let cut = self.loops_cut();
        if cut > self.losses.cut {
            let text = loops_cut_text(cut - self.losses.cut);
            self.warn(&format!("{text} ({cut} so far)"));
            self.losses.cut = cut;
        }
        let lost = self.lost_events();
        if lost > self.losses.lost {
            let new = lost - self.losses.lost;
            self.warn(&format!(
                "{new} events were lost because the ring buffer was full ({lost} so far); print less per event, or \
                 aggregate in maps"
            ));
            self.losses.lost = lost;
        }
    }

    /// A warning, where this session shows them (see `warn_to_out`).
    fn warn(&mut self, text: &str) {
        if self.warn_to_out {
            let _ = writeln!(self.out, "warning: {text}");
        } else {
            crate::diag::warn(text);
        }
    }

    /// At the end: say on stderr if the ring buffer overflowed or a map
    /// was full.
    pub fn warn_lost_events(&self) {
        let cut = self.loops_cut();
        if cut > 0 {
            crate::diag::warn(loops_cut_text(cut));
        }
        let lost = self.lost_events();
        if lost > 0 {
            crate::diag::warn(format_args!("{lost} events were lost because the ring buffer was full"));
        }
        for (id, total) in self.dropped_updates() {
            crate::diag::warn(self.drop_text(id, total, None));
        }
    }

    /// Why the kernel refused `n` updates of map `id` (`total` so far, while
    /// the session runs). A map with room left was not full: the kernel
    /// refuses an update while another program on the same CPU, which the
    /// update interrupted, holds the map's bucket lock (a tracepoint firing
    /// in an interrupt, or a timer).
    fn drop_text(&self, id: usize, n: u64, total: Option<u64>) -> String {
        let decl = &self.compiled.maps[id];
        let (name, entries) = (&decl.name, decl.max_entries);
        let so_far = total.map_or(String::new(), |t| format!(" ({t} so far)"));
        let held = self.maps.get(id).and_then(|m| m.keys().ok()).map(|k| k.len());
        match held {
            Some(held) if held < entries as usize => format!(
                "map {name}: {n} updates were dropped{so_far}, refused while another probe on the same CPU was \
                 updating it (it holds {held} of {entries} entries)"
            ),
            _ => format!(
                "map {name} is full ({entries} entries): {n} updates were dropped{so_far}; raise the limit with \
                 --max-map-keys"
            ),
        }
    }

    /// The user maps with dropped updates, and how many (in total).
    fn dropped_updates(&self) -> Vec<(usize, u64)> {
        let counted = |id: &usize| *id < self.compiled.drop_counters as usize;
        let user = self.compiled.maps.iter().enumerate().filter(|(_, d)| d.user.is_some()).map(|(id, _)| id);
        let totals = user.filter(counted).map(|id| (id, self.scratch_counter(drop_counter(MapId(id as u32)))));
        totals.filter(|(_, n)| *n > 0).collect()
    }

    /// Whether the probes are stopped (see [`maps::probes_stopped`]).
    pub fn stop_flagged(&self) -> bool {
        maps::probes_stopped(self.maps)
    }

    /// The status an `exit(code)` asked for, from its event or, when the
    /// ring had no room for that, from its mark in the stop word.
    pub fn exit_status(&self) -> u8 {
        if self.exit_requested {
            self.exit_status
        } else {
            maps::exit_status(self.maps)
        }
    }

    fn lost_events(&self) -> u64 {
        self.scratch_counter(LOST_COUNTER)
    }

    /// Loops the kernel's `bpf_loop` limit cut short (`codegen::lower_loop`).
    fn loops_cut(&self) -> u64 {
        self.scratch_counter(loop_cut_counter(self.compiled.drop_counters))
    }

    /// A counter at `offset` of the scratch buffers, summed over both
    /// buffers and every CPU (see `program::LOST_COUNTER`).
    fn scratch_counter(&self, offset: u32) -> u64 {
        let mut total = 0u64;
        for id in [SCRATCH_MAP, NMI_SCRATCH_MAP] {
            let (Some(map), Some(decl)) = (self.maps.get(id.0 as usize), self.compiled.maps.get(id.0 as usize)) else {
                continue;
            };
            let stride = (decl.value_size as usize).div_ceil(8) * 8;
            if let Ok(Some(v)) = map.lookup(&0u32.to_le_bytes()) {
                let per_cpu = (0..self.ncpus).map(|cpu| Self::word(&v[cpu * stride..], offset as usize / 8));
                total = per_cpu.fold(total, u64::wrapping_add);
            }
        }
        total
    }
}
