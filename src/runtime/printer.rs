//! Turning what probes send through the ring buffer into output — printf
//! text, print() values, time(), print(@m) — through the session's
//! [`Output`], and doing what some events ask of userspace (clear, zero,
//! exit). Shared by the one-shot session and the REPL's live session.

use crate::codegen::program::{event, slot_size, Compiled, LOST_MAP};
use crate::runtime::decode::{self, MapReader};
use crate::runtime::maps::Map;
use crate::runtime::output::{printf, Output};
use std::io::Write;

/// Turns ring-buffer events into output.
pub(crate) struct Printer<'a> {
    pub compiled: &'a Compiled,
    pub maps: &'a [Map],
    pub ncpus: usize,
    pub output: &'a mut dyn Output,
    /// An `exit()` event was seen.
    pub exit_requested: bool,
    /// Apply events (clear, zero, exit) but print nothing: the user
    /// interrupted the output.
    pub mute: bool,
    pub out: &'a mut dyn Write,
}

impl Printer<'_> {
    fn word(bytes: &[u8], i: usize) -> u64 {
        bytes.get(8 * i..8 * i + 8).and_then(|b| b.try_into().ok()).map(u64::from_le_bytes).unwrap_or(0)
    }

    /// The session's maps, as outputs read them.
    pub fn reader(&self) -> MapReader<'_> {
        MapReader { decls: &self.compiled.maps, maps: self.maps, ncpus: self.ncpus }
    }

    pub fn event(&mut self, bytes: &[u8]) {
        let kind = Self::word(bytes, 0);
        let id = Self::word(bytes, 1) as usize;
        match kind {
            event::PRINTF => {
                let Some(decl) = self.compiled.printfs.get(id) else { return };
                let mut at = 16;
                let mut args = Vec::new();
                for t in &decl.args {
                    let size = slot_size(t) as usize;
                    args.push(decode::scalar(t, bytes.get(at..at + size).unwrap_or(&[])));
                    at += size;
                }
                let text = self.output.printf(&decl.pieces, &args);
                self.write(&text);
            }
            event::PRINT_VALUE => {
                let Some(t) = self.compiled.prints.get(id) else { return };
                let text = self.output.value(&decode::scalar(t, bytes.get(16..).unwrap_or(&[])));
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
            event::EXIT => self.exit_requested = true,
            _ => {}
        }
    }

    /// Print `text` (unless muted).
    pub fn write(&mut self, text: &str) {
        if !self.mute {
            let _ = self.out.write_all(text.as_bytes());
        }
    }

    /// A periodic report, if the output has one due; true when the
    /// session is over.
    pub fn report(&mut self) -> bool {
        let reader = MapReader { decls: &self.compiled.maps, maps: self.maps, ncpus: self.ncpus };
        let report = self.output.report(&reader);
        self.write(&report.text);
        report.done
    }

    /// The probes were disabled after running: the output's last periodic
    /// report, if it has one.
    pub fn stopped(&mut self) {
        let reader = MapReader { decls: &self.compiled.maps, maps: self.maps, ncpus: self.ncpus };
        let text = self.output.stopped(&reader);
        self.write(&text);
    }

    /// At the end of the session: what the output prints last (every
    /// non-empty map, unless the output reported periodically).
    pub fn at_exit(&mut self) {
        let reader = MapReader { decls: &self.compiled.maps, maps: self.maps, ncpus: self.ncpus };
        let text = self.output.at_exit(&reader);
        self.write(&text);
    }

    /// At the end: say on stderr if the ring buffer overflowed.
    pub fn warn_lost_events(&self) {
        let lost = self.lost_events();
        if lost > 0 {
            eprintln!("warning: {lost} events were lost because the ring buffer was full");
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
