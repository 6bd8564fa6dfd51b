//! `-f folded`: maps keyed by stacks as folded stacks, one line per
//! distinct stack, the input of flamegraph.pl, inferno and speedscope:
//!
//! ```text
//! stacks;main;a;b;c;lib_leaf 42
//! ```
//!
//! Frames go from the root to the leaf, named without offsets so samples
//! in one function fold together. Of a key's parts, the ones that are not
//! stacks come first (`@[comm, ustack]` roots each stack at its command),
//! then user stacks, then kernel stacks (the kernel runs on top of the
//! process that called it), as Brendan Gregg's stackcollapse scripts
//! order bpftrace's keys. The number is the entry's value (a `count()`,
//! `sum()`, ...); identical lines (one stack in two processes) are summed
//! and lines are sorted. Maps without a stack in their key, and maps whose
//! values are not plain numbers, print as text; printf, print and time as
//! in text.

use super::text::Text;
use super::value::{AggValue, MapDump, Scalar};
use super::{Output, Strings};
use crate::frontend::printf::Piece;
use std::collections::BTreeMap;

/// Folded stacks for maps with stack keys, text for the rest.
#[derive(Clone, Copy, Debug, Default)]
pub struct Folded {
    pub strings: Strings,
}

impl Output for Folded {
    fn printf(&self, pieces: &[Piece], args: &[Scalar]) -> String {
        self.text().printf(pieces, args)
    }
    fn value(&self, v: &Scalar) -> String {
        self.text().value(v)
    }
    fn time(&self, now: &str) -> String {
        self.text().time(now)
    }
    fn map(&self, dump: &MapDump, top: usize, div: u64) -> String {
        match folded_lines(dump) {
            Some(lines) => lines.into_iter().map(|(stack, n)| format!("{stack} {n}\n")).collect(),
            None => self.text().map(dump, top, div),
        }
    }
}

impl Folded {
    /// What prints as text here.
    fn text(&self) -> Text {
        Text { strings: self.strings }
    }
}

/// The folded stacks of a map with a stack in its key and plain number
/// values, merged and sorted; `None` for any other map.
pub fn folded_lines(dump: &MapDump) -> Option<Vec<(String, u64)>> {
    let first = dump.entries.first()?;
    if !first.0.iter().any(|k| matches!(k, Scalar::Stack(_))) {
        return None;
    }
    let mut lines: BTreeMap<String, u64> = BTreeMap::new();
    for (keys, value) in &dump.entries {
        let n = match value {
            AggValue::Plain(Scalar::UInt(n)) => *n,
            AggValue::Plain(Scalar::Int(n)) => u64::try_from(*n).unwrap_or(0),
            _ => return None,
        };
        *lines.entry(fold(keys)).or_default() += n;
    }
    Some(lines.into_iter().collect())
}

/// One key as a folded stack (see the module docs for the order).
fn fold(keys: &[Scalar]) -> String {
    let mut frames: Vec<String> = Vec::new();
    for k in keys {
        match k {
            Scalar::Stack(_) => {}
            // A `;` would split the frame; folded lines end at the last space.
            other => frames.push(other.to_string().replace(';', ":")),
        }
    }
    for user in [true, false] {
        for k in keys {
            if let Scalar::Stack(s) = k {
                if s.user == user {
                    frames.extend(s.folded_frames());
                }
            }
        }
    }
    frames.join(";")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frontend::types::StackMode;
    use crate::runtime::output::stack::{Frame, Stack};
    use std::rc::Rc;

    fn stack(user: bool, names: &[&str]) -> Scalar {
        let frames = names
            .iter()
            .enumerate()
            .map(|(i, n)| Frame { addr: 0x1000 + i as u64, symbol: Some(Rc::from(*n)), offset: 4, module: None })
            .collect();
        Scalar::Stack(Rc::new(Stack { mode: StackMode::Bpftrace, user, frames, lost: false }))
    }

    fn dump(entries: Vec<(Vec<Scalar>, AggValue)>) -> MapDump {
        MapDump { name: "@".into(), keys_arity: entries.first().map_or(0, |e| e.0.len()), entries }
    }

    #[test]
    fn stacks_fold_root_first_and_merge() {
        let d = dump(vec![
            (vec![stack(true, &["c", "b", "a", "main"])], AggValue::Plain(Scalar::UInt(3))),
            (vec![stack(true, &["c", "b", "a", "main"])], AggValue::Plain(Scalar::UInt(2))),
            (vec![stack(true, &["spin", "main"])], AggValue::Plain(Scalar::UInt(7))),
        ]);
        assert_eq!(Folded::default().map(&d, 0, 1), "main;a;b;c 5\nmain;spin 7\n");
    }

    #[test]
    fn kernel_frames_go_on_top_of_user_frames_under_the_command() {
        let keys =
            vec![stack(false, &["vfs_read", "ksys_read"]), stack(true, &["read", "main"]), Scalar::Str("cat;x".into())];
        let d = dump(vec![(keys, AggValue::Plain(Scalar::UInt(1)))]);
        assert_eq!(Folded::default().map(&d, 0, 1), "cat:x;main;read;ksys_read;vfs_read 1\n");
    }

    #[test]
    fn maps_without_stacks_print_as_text() {
        let d = dump(vec![(vec![Scalar::Int(1)], AggValue::Plain(Scalar::UInt(2)))]);
        assert_eq!(Folded::default().map(&d, 0, 1), "@[1]: 2\n");
        assert_eq!(folded_lines(&d), None);
    }
}
