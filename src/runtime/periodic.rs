//! argdist's way of reporting: every interval, a `[HH:MM:SS]` line and each
//! spec's table or histogram, then the maps are cleared (unless
//! cumulative); the session ends after `-n` intervals or `-d` seconds, and
//! the last, partial interval is printed when it ends for any other reason.

use crate::codegen::program::Compiled;
use crate::frontend::argdist::{SpecKind, SpecOutput};
use crate::runtime::decode;
use crate::runtime::maps::Map;
use crate::runtime::output::argdist::{format_counts, format_log2_hist, interval_header};
use crate::runtime::output::value::AggValue;
use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
pub struct ArgdistReport {
    pub outputs: Vec<SpecOutput>,
    pub interval: Duration,
    /// Stop after this many intervals (`-n`).
    pub count: Option<u64>,
    /// Stop after this long (`-d`).
    pub duration: Option<Duration>,
    /// Keep only the N most frequent rows (`-T`).
    pub top: usize,
    /// Do not clear between intervals (`--cumulative`).
    pub cumulative: bool,
}

/// Where a periodic session is in its schedule.
pub struct Schedule {
    start: Instant,
    next: Instant,
    printed: u64,
    /// Whether anything happened since the last report (for the final one).
    pending: bool,
}

impl ArgdistReport {
    pub fn schedule(&self) -> Schedule {
        let now = Instant::now();
        Schedule { start: now, next: now + self.interval, printed: 0, pending: true }
    }

    /// How long the event loop may wait before the next report is due.
    pub fn wait(&self, s: &Schedule) -> Duration {
        s.next.saturating_duration_since(Instant::now()).min(Duration::from_millis(100))
    }

    /// Print a report if one is due. Returns true when the session is over
    /// (`-n` intervals printed or `-d` elapsed).
    pub fn tick(&self, s: &mut Schedule, compiled: &Compiled, maps: &[Map], ncpus: usize) -> bool {
        let now = Instant::now();
        if self.duration.is_some_and(|d| now >= s.start + d) {
            return true;
        }
        if now < s.next {
            return false;
        }
        self.print(compiled, maps, ncpus);
        s.printed += 1;
        s.pending = false;
        s.next += self.interval;
        if s.next < now {
            s.next = now + self.interval;
        }
        self.count.is_some_and(|n| s.printed >= n)
    }

    /// At the end of the session: the partial interval since the last report.
    pub fn finish(&self, s: &Schedule, compiled: &Compiled, maps: &[Map], ncpus: usize) {
        let done = self.count.is_some_and(|n| s.printed >= n);
        if !done && (s.pending || Instant::now() > s.next - self.interval + Duration::from_millis(50)) {
            self.print(compiled, maps, ncpus);
        }
    }

    fn print(&self, compiled: &Compiled, maps: &[Map], ncpus: usize) {
        let mut text = interval_header();
        for o in &self.outputs {
            let name = format!("@{}", o.map);
            let Some(id) = compiled.maps.iter().position(|m| m.name == name) else { continue };
            let (Some(map), Some(decl)) = (maps.get(id), compiled.maps.get(id)) else { continue };
            let dump = match decode::dump(map, decl, ncpus) {
                Ok(d) => d,
                Err(e) => {
                    eprintln!("warning: cannot read {name}: {e}");
                    continue;
                }
            };
            match o.kind {
                SpecKind::Count => {
                    text += &format_counts(&o.title, &o.expr_labels, o.default_label.as_deref(), &dump, self.top);
                }
                SpecKind::Hist => {
                    let buckets = dump
                        .entries
                        .iter()
                        .find_map(|(_, v)| match v {
                            AggValue::Hist(b) => Some(b.clone()),
                            _ => None,
                        })
                        .unwrap_or_default();
                    text += &format_log2_hist(&o.hist_label, &buckets);
                }
            }
            if !self.cumulative {
                let _ = map.clear();
            }
        }
        // A closed stdout (`| head`) must not panic: the write error is
        // dropped and the session ends at its next stop check.
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes()).and_then(|_| out.flush());
    }
}
