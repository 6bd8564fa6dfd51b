//! A live session, as the REPL runs it: probe blocks are added and detached
//! one at a time while the maps, the ring buffer and the event tables stay.
//!
//! Adding is transactional: [`LiveSession::new_maps`] creates the maps a
//! compiled line adds (nothing is shared yet), the caller links and loads
//! its programs, and [`LiveSession::install`] attaches them; only when every
//! attach succeeded are the new maps, tables and blocks committed and the
//! line's `BEGIN` programs run. A line that fails anywhere leaves the
//! session exactly as it was.
//!
//! Hits per block come from the kernel's own run counters
//! (`BPF_ENABLE_STATS`), so probes carry no extra instructions.

use crate::codegen::program::{Compiled, EVENTS_MAP};
use crate::frontend::probes::Firing;
use crate::runtime::attach::Link;
use crate::runtime::decode::MapReader;
use crate::runtime::load::Prog;
use crate::runtime::maps::{self, Map};
use crate::runtime::names::{Names, Symbols};
use crate::runtime::output::text::Text;
use crate::runtime::output::Strings;
use crate::runtime::printer::{LossReport, Printer};
use crate::runtime::ringbuf::EventQueue;
use crate::runtime::session::{attach_order, attach_probe, create_maps, SessionError};
use crate::sys;
use std::cell::RefCell;
use std::io::Write;
use std::os::fd::{OwnedFd, RawFd};

/// One attached probe block (one `attach points { body }` the user typed).
pub struct Block {
    pub id: u32,
    /// The block's source text, as `.save` writes it.
    pub source: String,
    /// The attach points as typed.
    pub label: String,
    /// Its resolved attach points (a wildcard gives several).
    pub names: Vec<String>,
    /// The attached programs (their run counts are the block's hits).
    progs: Vec<Prog>,
    links: Vec<Link>,
    /// END programs, run when the session ends.
    ends: Vec<Prog>,
}

/// Which compiled probes make up one block of a line, and its text.
pub struct BlockSpec {
    pub source: String,
    /// The attach points as typed.
    pub label: String,
    pub probes: Vec<usize>,
}

pub struct LiveSession {
    /// Map layouts and event tables of everything loaded so far.
    tables: Compiled,
    /// By map id.
    maps: Vec<Map>,
    events: EventQueue,
    ncpus: usize,
    pid: Option<i32>,
    blocks: Vec<Block>,
    next_id: u32,
    /// Counting program runs while the session lives; `None` if the kernel
    /// refused (then hits are unknown).
    stats: Option<OwnedFd>,
    exit_requested: bool,
    /// Lost events and full maps reported so far.
    losses: LossReport,
    /// The output: bpftrace's text, traced strings as the terminal needs.
    text: Text,
    /// Names stacks and symbols; what it learns is kept across lines.
    symbols: RefCell<Symbols>,
}

impl LiveSession {
    pub fn new(pid: Option<i32>, strings: Strings) -> Result<LiveSession, SessionError> {
        let tables = crate::codegen::lower::session_tables();
        let maps = create_maps(&tables.maps)?;
        let events = EventQueue::new(&maps[EVENTS_MAP.0 as usize])?;
        Ok(LiveSession {
            tables,
            maps,
            events,
            ncpus: sys::possible_cpus()?,
            pid,
            blocks: Vec::new(),
            next_id: 1,
            stats: sys::enable_run_stats().ok(),
            exit_requested: false,
            text: Text { strings },
            symbols: RefCell::new(Symbols::new()),
            losses: LossReport::default(),
        })
    }

    /// What new lines are compiled against.
    pub fn tables(&self) -> &Compiled {
        &self.tables
    }

    pub fn pid(&self) -> Option<i32> {
        self.pid
    }

    pub fn blocks(&self) -> &[Block] {
        &self.blocks
    }

    /// Whether a probe has called `exit()`.
    pub fn exit_requested(&self) -> bool {
        self.exit_requested
    }

    /// Create the maps `compiled` declares beyond the session's own.
    pub fn new_maps(&self, compiled: &Compiled) -> Result<Vec<Map>, SessionError> {
        create_maps(&compiled.maps[self.maps.len()..])
    }

    /// The fds to link against: the session's maps, then `new`.
    pub fn map_fds(&self, new: &[Map]) -> Vec<i32> {
        self.maps.iter().chain(new).map(|m| m.fd()).collect()
    }

    /// Attach a compiled line's loaded programs (see the module doc).
    /// Returns the ids of the blocks that stay (a block of only `BEGIN`
    /// runs once and is gone), and a BEGIN program's failure, which
    /// happens after the line is committed.
    pub fn install(
        &mut self,
        compiled: &Compiled,
        new_maps: Vec<Map>,
        progs: Vec<Prog>,
        blocks: Vec<BlockSpec>,
    ) -> Result<(Vec<u32>, Option<SessionError>), SessionError> {
        let mut links: Vec<Option<Link>> = (0..progs.len()).map(|_| None).collect();
        for i in attach_order(compiled) {
            let p = &compiled.probes[i];
            if let Some(link) = attach_probe(&p.resolved.spec, &progs[i], self.pid) {
                let link = link.map_err(|source| SessionError::Attach { probe: p.resolved.name.clone(), source })?;
                links[i] = Some(link);
            }
        }
        // Committed from here on: maps and tables together.
        self.maps.extend(new_maps);
        self.tables = compiled.tables();
        self.symbols.borrow_mut().add_probes(compiled);
        let firing = |i: usize| compiled.probes[i].resolved.spec.kind().firing();
        let at_start = |i: usize| matches!(firing(i), Firing::AtStart);
        let at_end = |i: usize| matches!(firing(i), Firing::AtEnd);
        let mut begin_error = None;
        for (i, prog) in progs.iter().enumerate() {
            if at_start(i) && begin_error.is_none() {
                begin_error = prog.test_run().err().map(SessionError::from);
            }
        }
        let mut progs: Vec<Option<Prog>> = progs.into_iter().map(Some).collect();
        let mut ids = Vec::new();
        for spec in blocks {
            if spec.probes.iter().all(|i| at_start(*i)) {
                continue; // ran once, above
            }
            let mut take = |want_end: bool| -> Vec<Prog> {
                spec.probes
                    .iter()
                    .filter(|i| !at_start(**i))
                    .filter(|i| at_end(**i) == want_end)
                    .filter_map(|i| progs[*i].take())
                    .collect()
            };
            let (attached, ends) = (take(false), take(true));
            let block = Block {
                id: self.next_id,
                source: spec.source,
                label: spec.label,
                names: spec.probes.iter().map(|i| compiled.probes[*i].resolved.name.clone()).collect(),
                progs: attached,
                links: spec.probes.iter().filter_map(|i| links[*i].take()).collect(),
                ends,
            };
            self.next_id += 1;
            ids.push(block.id);
            self.blocks.push(block);
        }
        Ok((ids, begin_error))
    }

    /// How often the block's probes have fired (`None`: the kernel does not
    /// count program runs here).
    pub fn hits(&self, block: &Block) -> Option<u64> {
        self.stats.as_ref()?;
        block.progs.iter().map(|p| sys::prog_run_count(p.borrowed_fd()).ok()).sum()
    }

    /// Detach one block; false if there is no such block.
    pub fn detach(&mut self, id: u32) -> bool {
        let Some(at) = self.blocks.iter().position(|b| b.id == id) else { return false };
        let block = self.blocks.remove(at);
        for l in &block.links {
            l.disable();
        }
        true
    }

    pub fn detach_all(&mut self) -> usize {
        let n = self.blocks.len();
        for b in std::mem::take(&mut self.blocks) {
            for l in &b.links {
                l.disable();
            }
        }
        n
    }

    /// The ring buffer's fd, to wait on together with other input.
    pub fn events_fd(&self) -> RawFd {
        self.events.epoll_fd()
    }

    /// Print every event waiting in the ring buffer. `interrupted` is
    /// asked between events; once it says yes the rest print nothing (their
    /// effects, such as `clear()`, still happen).
    pub fn print_events(&mut self, out: &mut dyn Write, interrupted: &dyn Fn() -> bool) -> Result<(), SessionError> {
        let events = self.events.take()?;
        let mut text = self.text;
        let losses = std::mem::take(&mut self.losses);
        let mut printer = self.printer(out, &mut text);
        printer.losses = losses;
        printer.warn_to_out = true;
        for ev in &events {
            // Nothing after exit(), as a program run with -e would show.
            if printer.exit_requested {
                break;
            }
            printer.mute |= interrupted();
            printer.event(ev);
        }
        // Lost events and full maps, at most once a second.
        printer.report_lost_events();
        // An exit() whose event found the ring full: once what was queued
        // is printed, the session ends all the same.
        let exit = printer.exit_requested || (!self.events.more() && printer.stop_flagged());
        let _ = printer.out.flush();
        let Printer { losses, .. } = printer;
        self.losses = losses;
        self.exit_requested |= exit;
        Ok(())
    }

    /// The session prints bpftrace's text output.
    fn printer<'a>(&'a self, out: &'a mut dyn Write, output: &'a mut Text) -> Printer<'a> {
        Printer::new(&self.tables, &self.maps, self.ncpus, &self.symbols, output, out)
    }

    /// Every user map that has entries, read now (stacks and symbols
    /// named).
    pub fn dumps(&self) -> Vec<crate::runtime::output::MapDump> {
        let reader =
            MapReader { decls: &self.tables.maps, maps: &self.maps, ncpus: self.ncpus, symbols: &self.symbols };
        reader.nonempty_user_maps().into_iter().filter_map(|id| reader.dump(id)).collect()
    }

    /// Every user map: its id, name and number of entries (keys, for a
    /// histogram), in name order.
    pub fn map_entries(&self) -> Vec<(String, usize)> {
        let mut out: Vec<(String, usize)> = self
            .tables
            .maps
            .iter()
            .zip(&self.maps)
            .filter(|(d, _)| d.user.is_some())
            .map(|(d, m)| {
                let names = Names { decls: &self.tables.maps, maps: &self.maps, symbols: &self.symbols };
                let n = crate::runtime::decode::dump(m, d, self.ncpus, &names).map_or(0, |dump| dump.entries.len());
                (d.name.clone(), n)
            })
            .collect();
        out.sort();
        out
    }

    /// The end of the session: stop every probe, run END blocks, print
    /// every non-empty map, then detach. Returns what went wrong on the
    /// way; the maps are printed whatever happened.
    pub fn finish(mut self, out: &mut dyn Write) -> Vec<SessionError> {
        let mut problems = Vec::new();
        // The stop word for the programs (the kernel runs a uprobe's or
        // tracepoint's programs whatever its perf event says), and the
        // perf events disabled (timers stop firing).
        problems.extend(maps::stop_probes(&self.maps).err().map(SessionError::from));
        for b in &self.blocks {
            for l in &b.links {
                l.disable();
            }
        }
        problems.extend(self.print_events(out, &|| false).err());
        for p in self.blocks.iter().flat_map(|b| &b.ends) {
            problems.extend(p.test_run().err().map(SessionError::from));
        }
        problems.extend(self.print_events(out, &|| false).err());
        let mut text = self.text;
        let mut printer = self.printer(out, &mut text);
        printer.at_exit();
        let _ = printer.out.flush();
        printer.warn_lost_events();
        problems
    }
}
