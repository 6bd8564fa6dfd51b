//! Turning what probes send through the ring buffer into output: printf
//! text, print() values, map dumps, and the side effects some events ask
//! of userspace (clear, zero, exit). Shared by the one-shot session and the
//! REPL's live session.

use crate::codegen::program::{event, Compiled, LOST_MAP};
use crate::runtime::decode;
use crate::runtime::maps::Map;
use crate::runtime::output::{json, printf, text};
use crate::runtime::session::Format;
use std::io::Write;

/// Turns ring-buffer events into output, and prints maps.
pub(crate) struct Printer<'a> {
    pub compiled: &'a Compiled,
    pub maps: &'a [Map],
    pub ncpus: usize,
    pub format: Format,
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

    pub fn event(&mut self, bytes: &[u8]) {
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
        if !self.mute {
            let _ = self.out.write_all(text.as_bytes());
        }
    }

    pub fn print_map(&mut self, id: usize, top: usize, div: u64) {
        if self.mute {
            return;
        }
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
    pub fn print_all_maps(&mut self) {
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
