//! `-f json`: one JSON object per line, in bpftrace 0.17's shapes.
//!
//! ```text
//! {"type": "map", "data": {"@a": {"1,x": 1, "2,y": 2}}}
//! {"type": "map", "data": {"@j": 7}}
//! {"type": "stats", "data": {"@d": {"count": 2, "average": 3, "total": 7}}}
//! {"type": "hist", "data": {"@b": [{"max": -1, "count": 1}, {"min": 0, "max": 0, "count": 0}, ...]}}
//! {"type": "hist", "data": {"@k": {"1": [{"min": 4, "max": 7, "count": 1}]}}}
//! {"type": "printf", "data": "hi \"there\"\n"}
//! {"type": "value", "data": 5}
//! ```
//!
//! Keys are strings (tuple components joined by `,` without a space) and
//! entries come in the same order as the text output. Histograms list the
//! buckets from the first to the last non-empty one; the open-ended buckets
//! leave out `min` or `max`. An empty map prints no line at all.
//!
//! Differences from bpftrace 0.17: it escapes bytes >= 0x80 as sign-extended
//! garbage (`\uffffffc3`); we emit them as UTF-8, which is valid JSON.
//! Control characters are escaped as `\uXXXX` (`\n`, `\t`, ... for the
//! usual ones), DEL and C1 (U+0080 to U+009F) included, which JSON allows
//! and a terminal needs (see `strings.rs`); so `--raw-strings` changes
//! nothing here.
//! `avg()` maps are typed `"stats"` there; here they are plain values (see
//! the note in `text.rs`) and typed `"map"`.

use super::hist::{lhist_ranges, log2_ranges, trimmed, BucketRange};
use super::value::{divide, kind_of, sorted_entries, AggValue, MapDump, MapKind, Scalar};
use super::{render, Output};
use crate::frontend::printf::Piece;
use std::fmt::Write;

/// `-f json`: one object per line.
pub struct Json;

impl Output for Json {
    fn printf(&self, pieces: &[Piece], args: &[Scalar]) -> String {
        printf_to_json(&render(pieces, args))
    }
    fn value(&self, v: &Scalar) -> String {
        value_to_json(v)
    }
    fn time(&self, now: &str) -> String {
        time_to_json(now)
    }
    fn map(&self, dump: &MapDump, top: usize, div: u64) -> String {
        map_to_json_with(dump, top, div)
    }
}

/// A JSON string literal, quotes included. Every control character is
/// escaped — C0, which JSON requires, and DEL and C1 (U+0080 to U+009F),
/// which it allows — so a line is safe to print on a terminal too.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn scalar(v: &Scalar) -> String {
    match v {
        Scalar::Str(s) => quote(s),
        Scalar::Stack(s) => quote(&s.text(8)),
        // bpftrace's shapes: tuples and arrays as arrays without spaces,
        // structs and records as objects.
        Scalar::Tuple(items) | Scalar::Array(items) => {
            format!("[{}]", items.iter().map(scalar).collect::<Vec<_>>().join(","))
        }
        Scalar::Struct { fields, .. } => {
            let items: Vec<String> = fields.iter().map(|(n, v)| format!("{}: {}", quote(n), scalar(v))).collect();
            format!("{{{}}}", items.join(", "))
        }
        v => v.to_string(),
    }
}

fn key(keys: &[Scalar]) -> String {
    let parts: Vec<String> = keys.iter().map(Scalar::key_text).collect();
    quote(&parts.join(","))
}

fn buckets(ranges: &[(BucketRange, u64)], div: u64) -> String {
    let items: Vec<String> = trimmed(ranges)
        .iter()
        .map(|&(range, count)| {
            let mut item = String::from("{");
            if let Some(min) = range.min() {
                let _ = write!(item, "\"min\": {min}, ");
            }
            if let Some(max) = range.max() {
                let _ = write!(item, "\"max\": {max}, ");
            }
            let _ = write!(item, "\"count\": {}}}", count / div);
            item
        })
        .collect();
    format!("[{}]", items.join(", "))
}

fn value(v: &AggValue, div: u64) -> String {
    match v {
        AggValue::Plain(s) => scalar(&divide(s, div)),
        AggValue::Stats { count, average, total } => {
            format!("{{\"count\": {count}, \"average\": {average}, \"total\": {total}}}")
        }
        AggValue::Hist(b) => buckets(&log2_ranges(b), div),
        AggValue::Lhist { min, max, step, buckets: b } => buckets(&lhist_ranges(*min, *max, *step, b), div),
    }
}

/// [`map_to_json`] for `print(@m, top, div)`: the same selection and
/// division as the text output.
pub fn map_to_json_with(dump: &MapDump, top: usize, div: u64) -> String {
    if dump.entries.is_empty() {
        return String::new();
    }
    let kind = kind_of(dump);
    let (top, div) = if kind == MapKind::Stats { (0, 1) } else { (top, div.max(1)) };
    let type_name = match kind {
        MapKind::Plain => "map",
        MapKind::Stats => "stats",
        MapKind::Hist => "hist",
    };
    let entries = sorted_entries(dump, top);
    let data = match entries.as_slice() {
        [(keys, v)] if dump.keys_arity == 0 || keys.is_empty() => value(v, div),
        entries => {
            let items: Vec<String> = entries.iter().map(|(k, v)| format!("{}: {}", key(k), value(v, div))).collect();
            format!("{{{}}}", items.join(", "))
        }
    };
    format!("{{\"type\": \"{type_name}\", \"data\": {{{}: {data}}}}}\n", quote(&dump.name))
}

/// One map as a JSON line (`\n`-terminated), or an empty string for an
/// empty map, for which bpftrace prints nothing.
pub fn map_to_json(dump: &MapDump) -> String {
    map_to_json_with(dump, 0, 1)
}

/// `printf()` output as a JSON line (`\n`-terminated).
pub fn printf_to_json(text: &str) -> String {
    format!("{{\"type\": \"printf\", \"data\": {}}}\n", quote(text))
}

/// `print(expr)` of a non-map value as a JSON line (`\n`-terminated).
/// `time()` output as bpftrace's `-f json` shows it: `{"type": "time", "data": "..."}`.
pub fn time_to_json(text: &str) -> String {
    format!("{{\"type\": \"time\", \"data\": {}}}\n", quote(text))
}

pub fn value_to_json(v: &Scalar) -> String {
    format!("{{\"type\": \"value\", \"data\": {}}}\n", scalar(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int(v: i64) -> Scalar {
        Scalar::Int(v)
    }
    fn s(v: &str) -> Scalar {
        Scalar::Str(v.to_string())
    }
    fn map(name: &str, arity: usize, entries: Vec<(Vec<Scalar>, AggValue)>) -> MapDump {
        MapDump { name: name.to_string(), keys_arity: arity, entries }
    }

    #[test]
    fn plain_maps() {
        let m = map(
            "@a",
            2,
            vec![
                (vec![int(2), s("y")], AggValue::Plain(Scalar::UInt(2))),
                (vec![int(1), s("x")], AggValue::Plain(Scalar::UInt(1))),
            ],
        );
        assert_eq!(map_to_json(&m), "{\"type\": \"map\", \"data\": {\"@a\": {\"1,x\": 1, \"2,y\": 2}}}\n");
        let m = map("@j", 0, vec![(vec![], AggValue::Plain(int(7)))]);
        assert_eq!(map_to_json(&m), "{\"type\": \"map\", \"data\": {\"@j\": 7}}\n");
        let m = map("@f", 0, vec![(vec![], AggValue::Plain(int(-3)))]);
        assert_eq!(map_to_json(&m), "{\"type\": \"map\", \"data\": {\"@f\": -3}}\n");
        let m = map("@i", 1, vec![(vec![int(3)], AggValue::Plain(s("s")))]);
        assert_eq!(map_to_json(&m), "{\"type\": \"map\", \"data\": {\"@i\": {\"3\": \"s\"}}}\n");
        // A one-entry keyed map keeps its object.
        let m = map("@g", 1, vec![(vec![s("str")], AggValue::Plain(int(5)))]);
        assert_eq!(map_to_json(&m), "{\"type\": \"map\", \"data\": {\"@g\": {\"str\": 5}}}\n");
    }

    #[test]
    fn sorted_like_text_with_top_and_div() {
        // @c[5]=1, @c[9]=2, @c[3]=3 (oracle order: 5, 9, 3)
        let m = map(
            "@c",
            1,
            vec![
                (vec![int(3)], AggValue::Plain(Scalar::UInt(3))),
                (vec![int(9)], AggValue::Plain(Scalar::UInt(2))),
                (vec![int(5)], AggValue::Plain(Scalar::UInt(1))),
            ],
        );
        assert_eq!(map_to_json(&m), "{\"type\": \"map\", \"data\": {\"@c\": {\"5\": 1, \"9\": 2, \"3\": 3}}}\n");
        assert_eq!(map_to_json_with(&m, 1, 2), "{\"type\": \"map\", \"data\": {\"@c\": {\"3\": 1}}}\n");
    }

    #[test]
    fn empty_map_prints_nothing() {
        assert_eq!(map_to_json(&map("@c", 1, vec![])), "");
    }

    #[test]
    fn escaping() {
        let m = map("@a", 2, vec![(vec![s("q\"k\\"), int(-5)], AggValue::Plain(int(1)))]);
        assert_eq!(map_to_json(&m), "{\"type\": \"map\", \"data\": {\"@a\": {\"q\\\"k\\\\,-5\": 1}}}\n");
        let m = map("@h", 0, vec![(vec![], AggValue::Plain(s("val\"q\\ \n\t")))]);
        assert_eq!(map_to_json(&m), "{\"type\": \"map\", \"data\": {\"@h\": \"val\\\"q\\\\ \\n\\t\"}}\n");
        assert_eq!(
            printf_to_json("hi \"there\"\n\t5\n"),
            "{\"type\": \"printf\", \"data\": \"hi \\\"there\\\"\\n\\t5\\n\"}\n"
        );
        // Every control character, DEL and C1 too: a JSON line is safe on a
        // terminal (here OSC 52, which writes the clipboard, and a C1 CSI).
        assert_eq!(
            printf_to_json("\u{1}\u{1f}\u{7f}/\r\u{8}é\u{1b}]52;c;aGk=\u{7}\u{9b}2J\u{a0}"),
            "{\"type\": \"printf\", \"data\": \"\\u0001\\u001f\\u007f/\\r\\u0008é\\u001b]52;c;aGk=\\u0007\\u009b2J\u{a0}\"}\n"
        );
    }

    #[test]
    fn stats_maps() {
        let m = map("@d", 0, vec![(vec![], AggValue::Stats { count: 2, average: 3, total: 7 })]);
        assert_eq!(
            map_to_json(&m),
            "{\"type\": \"stats\", \"data\": {\"@d\": {\"count\": 2, \"average\": 3, \"total\": 7}}}\n"
        );
        let m = map(
            "@s",
            1,
            vec![
                (vec![int(1)], AggValue::Stats { count: 1, average: 10, total: 10 }),
                (vec![int(2)], AggValue::Stats { count: 1, average: 5, total: 5 }),
            ],
        );
        assert_eq!(
            map_to_json(&m),
            "{\"type\": \"stats\", \"data\": {\"@s\": {\"2\": {\"count\": 1, \"average\": 5, \"total\": 5}, \
             \"1\": {\"count\": 1, \"average\": 10, \"total\": 10}}}}\n"
        );
    }

    #[test]
    fn hist_maps() {
        // hist(100), hist(-1), hist(3000): the oracle's line.
        let mut b = vec![0; 14];
        b[0] = 1;
        b[8] = 1;
        b[13] = 1;
        let m = map("@b", 0, vec![(vec![], AggValue::Hist(b))]);
        assert_eq!(
            map_to_json(&m),
            "{\"type\": \"hist\", \"data\": {\"@b\": [{\"max\": -1, \"count\": 1}, \
             {\"min\": 0, \"max\": 0, \"count\": 0}, {\"min\": 1, \"max\": 1, \"count\": 0}, \
             {\"min\": 2, \"max\": 3, \"count\": 0}, {\"min\": 4, \"max\": 7, \"count\": 0}, \
             {\"min\": 8, \"max\": 15, \"count\": 0}, {\"min\": 16, \"max\": 31, \"count\": 0}, \
             {\"min\": 32, \"max\": 63, \"count\": 0}, {\"min\": 64, \"max\": 127, \"count\": 1}, \
             {\"min\": 128, \"max\": 255, \"count\": 0}, {\"min\": 256, \"max\": 511, \"count\": 0}, \
             {\"min\": 512, \"max\": 1023, \"count\": 0}, {\"min\": 1024, \"max\": 2047, \"count\": 0}, \
             {\"min\": 2048, \"max\": 4095, \"count\": 1}]}}\n"
        );
        // Keyed hist, sorted by total count.
        let one = |i: usize, c: u64| {
            let mut v = vec![0; 8];
            v[i] = c;
            AggValue::Hist(v)
        };
        let m = map("@h", 1, vec![(vec![int(3)], one(2, 3)), (vec![int(1)], one(2, 2)), (vec![int(2)], one(2, 1))]);
        assert_eq!(
            map_to_json(&m),
            "{\"type\": \"hist\", \"data\": {\"@h\": {\"2\": [{\"min\": 1, \"max\": 1, \"count\": 1}], \
             \"1\": [{\"min\": 1, \"max\": 1, \"count\": 2}], \"3\": [{\"min\": 1, \"max\": 1, \"count\": 3}]}}}\n"
        );
    }

    #[test]
    fn lhist_maps() {
        // lhist(15|-15|150, 0, 100, 10): the oracle's line.
        let mut b = vec![0; 12];
        b[0] = 1;
        b[2] = 1;
        b[11] = 1;
        let m = map("@c", 0, vec![(vec![], AggValue::Lhist { min: 0, max: 100, step: 10, buckets: b })]);
        let mut want = String::from("{\"type\": \"hist\", \"data\": {\"@c\": [{\"max\": -1, \"count\": 1}, ");
        for lo in (0..100).step_by(10) {
            let c = u8::from(lo == 10);
            want += &format!("{{\"min\": {lo}, \"max\": {}, \"count\": {c}}}, ", lo + 9);
        }
        want += "{\"min\": 100, \"count\": 1}]}}\n";
        assert_eq!(map_to_json(&m), want);
        // lhist(5, 0, 10, 1) under key 1.
        let mut b = vec![0; 12];
        b[6] = 1;
        let m = map("@m", 1, vec![(vec![int(1)], AggValue::Lhist { min: 0, max: 10, step: 1, buckets: b })]);
        assert_eq!(
            map_to_json(&m),
            "{\"type\": \"hist\", \"data\": {\"@m\": {\"1\": [{\"min\": 5, \"max\": 5, \"count\": 1}]}}}\n"
        );
    }

    #[test]
    fn values() {
        assert_eq!(value_to_json(&int(5)), "{\"type\": \"value\", \"data\": 5}\n");
        assert_eq!(value_to_json(&s("abc")), "{\"type\": \"value\", \"data\": \"abc\"}\n");
    }
}
