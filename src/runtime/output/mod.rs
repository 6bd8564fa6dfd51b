//! Printing results the way users already know them: bpftrace's text map
//! and histogram formats, C `printf` as bpftrace supports it, `-f json`
//! objects, and bcc argdist's periodic tables.
//!
//! [`Output`] is the one interface a session prints through: the event
//! printer hands it what probes sent (printf text, `print` values, `time`,
//! `print(@m)`), the session asks it when a periodic report is due and what
//! to print when the session ends. Neither branches on the format. Each
//! format is one file implementing the trait — `text.rs`, `json.rs`,
//! `periodic.rs` (argdist's reports), `folded.rs` (stacks for flame
//! graphs) — and a row of [`FORMATS`] when `-f` names it; `flamegraph.rs`
//! wraps any of them to also write an SVG at exit (`--flamegraph`).
//!
//! The formatters themselves are pure functions over plain values
//! ([`MapDump`], [`Scalar`]): the session reads maps from the kernel,
//! reduces them, and hands them over, so every format is unit-tested
//! without a kernel against strings taken from bpftrace 0.17's (or bcc's)
//! output.

pub mod argdist;
pub mod flamegraph;
pub mod folded;
pub mod hist;
pub mod json;
pub mod periodic;
pub mod printf;
pub mod record;
pub mod stack;
pub mod strings;
pub mod text;
pub mod value;

pub use hist::{format_hist, format_lhist};
pub use json::{map_to_json, map_to_json_with, printf_to_json, value_to_json};
pub use printf::{format_time, render, render_with};
pub use strings::Strings;
pub use text::{format_map, format_scalar};
pub use value::{AggValue, MapDump, Scalar};

use crate::frontend::printf::Piece;
use crate::runtime::decode::MapReader;
use std::time::Duration;

/// How a session shows what its probes produce. Every method returns the
/// text to print (empty for nothing); the caller writes it.
pub trait Output {
    /// A `printf()`: its parsed format and the event's arguments.
    fn printf(&self, pieces: &[Piece], args: &[Scalar]) -> String;
    /// `print(expr)` of a value.
    fn value(&self, v: &Scalar) -> String;
    /// `time()`, already formatted.
    fn time(&self, now: &str) -> String;
    /// `print(@m, top, div)`.
    fn map(&self, dump: &MapDump, top: usize, div: u64) -> String;

    /// The probes are attached: the session starts now.
    fn started(&mut self) {}

    /// How long the session may wait for events before [`Output::report`]
    /// is due; `None` for outputs without periodic reports.
    fn until_report(&self) -> Option<Duration> {
        None
    }

    /// Called after every wait for events: a periodic report if one is
    /// due, and whether the session is over.
    fn report(&mut self, _maps: &MapReader) -> Report {
        Report::default()
    }

    /// The probes were disabled after the session ran (whatever ended it,
    /// before END runs): the last periodic report, if the output has
    /// periodic reports.
    fn stopped(&mut self, _maps: &MapReader) -> String {
        String::new()
    }

    /// The session has ended, END included: what to print last. By
    /// default every non-empty map, as bpftrace does at exit.
    fn at_exit(&mut self, maps: &MapReader) -> String {
        maps.nonempty_user_maps().into_iter().filter_map(|id| maps.dump(id)).map(|d| self.map(&d, 0, 1)).collect()
    }
}

/// What [`Output::report`] produced.
#[derive(Debug, Default)]
pub struct Report {
    pub text: String,
    /// The session is over (argdist's `-n` reports printed or `-d` elapsed).
    pub done: bool,
}

/// Makes a fresh output of one format, printing traced strings as
/// [`Strings`] says (formats that escape in their own way ignore it).
pub type MakeOutput = fn(Strings) -> Box<dyn Output>;

/// The formats `-f` names, with their constructors.
pub const FORMATS: &[(&str, MakeOutput)] = &[
    ("text", |strings| Box::new(text::Text { strings })),
    ("json", |_| Box::new(json::Json)),
    ("folded", |strings| Box::new(folded::Folded { strings })),
];

/// The output `-f NAME` asks for.
pub fn by_name(name: &str, strings: Strings) -> Option<Box<dyn Output>> {
    FORMATS.iter().find(|(n, _)| *n == name).map(|(_, make)| make(strings))
}
