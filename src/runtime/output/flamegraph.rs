//! `--flamegraph FILE.svg`: an SVG flame graph of the stack-keyed maps,
//! written when the session ends, besides the usual output. The folded
//! stacks of every map with a stack in its key (`folded.rs`) are merged
//! into one graph and rendered by the `inferno` crate, the Rust port of
//! flamegraph.pl.
//!
//! [`WithFlamegraph`] wraps the session's output: everything prints as
//! that output prints it; at exit the SVG is written too. The file was
//! opened (and checked) before the session started, so a bad path fails
//! before anything is attached.

use super::folded::folded_lines;
use super::value::{MapDump, Scalar};
use super::{Output, Report};
use crate::frontend::printf::Piece;
use crate::runtime::decode::MapReader;
use std::cell::RefCell;
use std::fs::File;
use std::io::Write;
use std::time::Duration;

/// An output that also writes a flame graph at exit.
pub struct WithFlamegraph {
    pub inner: Box<dyn Output>,
    /// Where the SVG goes; taken when it is written.
    pub file: RefCell<Option<File>>,
    /// The graph's title (the program, or what it traced).
    pub title: String,
    pub path: String,
}

impl Output for WithFlamegraph {
    fn printf(&self, pieces: &[Piece], args: &[Scalar]) -> String {
        self.inner.printf(pieces, args)
    }
    fn value(&self, v: &Scalar) -> String {
        self.inner.value(v)
    }
    fn time(&self, now: &str) -> String {
        self.inner.time(now)
    }
    fn map(&self, dump: &MapDump, top: usize, div: u64) -> String {
        self.inner.map(dump, top, div)
    }
    fn started(&mut self) {
        self.inner.started()
    }
    fn until_report(&self) -> Option<Duration> {
        self.inner.until_report()
    }
    fn report(&mut self, maps: &MapReader) -> Report {
        self.inner.report(maps)
    }
    fn stopped(&mut self, maps: &MapReader) -> String {
        self.inner.stopped(maps)
    }
    fn at_exit(&mut self, maps: &MapReader) -> String {
        let dumps: Vec<MapDump> = maps.nonempty_user_maps().into_iter().filter_map(|id| maps.dump(id)).collect();
        if let Some(file) = self.file.borrow_mut().take() {
            if let Err(e) = write_svg(file, &self.title, &dumps) {
                crate::diag::warn(format_args!("cannot write the flame graph {}: {e}", self.path));
            }
        }
        self.inner.at_exit(maps)
    }
}

/// The folded lines of every stack-keyed map among `dumps`, merged.
pub fn folded(dumps: &[MapDump]) -> Vec<String> {
    let mut all: std::collections::BTreeMap<String, u64> = Default::default();
    for d in dumps {
        for (stack, n) in folded_lines(d).unwrap_or_default() {
            *all.entry(stack).or_default() += n;
        }
    }
    all.into_iter().map(|(s, n)| format!("{s} {n}")).collect()
}

/// Render `dumps`' stacks as an SVG into `file`. With no stacks at all the
/// graph says so (inferno refuses empty input).
pub fn write_svg(file: File, title: &str, dumps: &[MapDump]) -> std::io::Result<()> {
    let lines = folded(dumps);
    let mut out = std::io::BufWriter::new(file);
    let mut options = inferno::flamegraph::Options::default();
    options.title = title.to_string();
    if lines.is_empty() {
        options.title = format!("{title}: no stacks were recorded");
        let empty = ["[no stacks] 1"];
        inferno::flamegraph::from_lines(&mut options, empty.iter().copied(), &mut out)
            .map_err(std::io::Error::other)?;
    } else {
        inferno::flamegraph::from_lines(&mut options, lines.iter().map(String::as_str), &mut out)
            .map_err(std::io::Error::other)?;
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frontend::types::StackMode;
    use crate::runtime::output::stack::{Frame, Stack};
    use crate::runtime::output::AggValue;
    use std::rc::Rc;

    #[test]
    fn svg_names_every_frame() {
        let frames = ["c", "b", "main"]
            .iter()
            .map(|n| Frame { addr: 1, symbol: Some(Rc::from(*n)), offset: 0, module: None })
            .collect();
        let stack = Scalar::Stack(Rc::new(Stack { mode: StackMode::Bpftrace, user: true, frames, lost: false }));
        let dump =
            MapDump { name: "@".into(), keys_arity: 1, entries: vec![(vec![stack], AggValue::Plain(Scalar::UInt(9)))] };
        let dir = std::env::temp_dir().join(format!("trace-flame-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("g.svg");
        write_svg(File::create(&path).unwrap(), "test", &[dump]).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        assert!(svg.starts_with("<?xml"), "{}", &svg[..60.min(svg.len())]);
        for name in ["main", "b", "c"] {
            assert!(svg.contains(&format!(">{name}<")) || svg.contains(&format!("<title>{name} (")), "{name}");
        }
    }
}
