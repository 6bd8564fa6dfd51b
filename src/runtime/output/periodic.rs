//! argdist's way of reporting (`-C`/`-H`): every interval, a `[HH:MM:SS]`
//! line and each spec's table or histogram, then the maps are cleared
//! (unless cumulative); the session ends after `-n` intervals or `-d`
//! seconds, and the last, partial interval is printed when it ends for
//! any other reason. The tables are formatted by `argdist.rs`.

use super::argdist::{format_counts, format_log2_hist, interval_header};
use super::text::Text;
use super::value::AggValue;
use super::{MapDump, Output, Report, Scalar, Strings};
use crate::frontend::argdist::{SpecKind, SpecOutput};
use crate::frontend::printf::Piece;
use crate::runtime::decode::MapReader;
use std::time::{Duration, Instant};

/// What the `-C`/`-H` options asked for.
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

/// The argdist output: the report settings and where the session is in its
/// schedule.
pub struct Argdist {
    report: ArgdistReport,
    start: Instant,
    next: Instant,
    printed: u64,
    /// Whether anything happened since the last report (for the final one).
    pending: bool,
    /// How the tables' and other events' traced strings print.
    text: Text,
}

impl Argdist {
    pub fn new(report: ArgdistReport, strings: Strings) -> Argdist {
        let now = Instant::now();
        Argdist { next: now + report.interval, report, start: now, printed: 0, pending: true, text: Text { strings } }
    }

    fn print(&self, maps: &MapReader) -> String {
        let mut text = interval_header();
        for o in &self.report.outputs {
            let name = format!("@{}", o.map);
            let Some(id) = maps.id_of(&name) else { continue };
            let Some(dump) = maps.dump(id) else { continue };
            let dump = self.text.strings.map(&dump);
            match o.kind {
                SpecKind::Count => {
                    text += &format_counts(&o.title, &o.expr_labels, o.default_label.as_deref(), &dump, self.report.top)
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
            if !self.report.cumulative {
                maps.clear(id);
            }
        }
        text
    }
}

/// Events other than the specs' maps (a `print()` in a program run with
/// `-C`) print as text.
impl Output for Argdist {
    fn printf(&self, pieces: &[Piece], args: &[Scalar]) -> String {
        self.text.printf(pieces, args)
    }
    fn value(&self, v: &Scalar) -> String {
        self.text.value(v)
    }
    fn time(&self, now: &str) -> String {
        self.text.time(now)
    }
    fn map(&self, dump: &MapDump, top: usize, div: u64) -> String {
        self.text.map(dump, top, div)
    }

    fn started(&mut self) {
        let now = Instant::now();
        (self.start, self.next) = (now, now + self.report.interval);
    }

    fn until_report(&self) -> Option<Duration> {
        Some(self.next.saturating_duration_since(Instant::now()))
    }

    /// A report if one is due; done once `-n` intervals are printed or
    /// `-d` has elapsed.
    fn report(&mut self, maps: &MapReader) -> Report {
        let now = Instant::now();
        if self.report.duration.is_some_and(|d| now >= self.start + d) {
            return Report { text: String::new(), done: true };
        }
        if now < self.next {
            return Report::default();
        }
        let text = self.print(maps);
        self.printed += 1;
        self.pending = false;
        self.next += self.report.interval;
        if self.next < now {
            self.next = now + self.report.interval;
        }
        Report { text, done: self.report.count.is_some_and(|n| self.printed >= n) }
    }

    /// The partial interval since the last report.
    fn stopped(&mut self, maps: &MapReader) -> String {
        let done = self.report.count.is_some_and(|n| self.printed >= n);
        let since_last = Instant::now() > self.next - self.report.interval + Duration::from_millis(50);
        if !done && (self.pending || since_last) {
            self.print(maps)
        } else {
            String::new()
        }
    }

    /// Every report is periodic: nothing more at the end.
    fn at_exit(&mut self, _: &MapReader) -> String {
        String::new()
    }
}
