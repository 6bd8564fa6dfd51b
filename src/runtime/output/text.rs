//! bpftrace's text output for maps and `print(expr)`.
//!
//! The layout, checked against bpftrace 0.17 (which is the same for
//! `print(@m)` and the dump at exit):
//!
//! ```text
//! @x: 5                          scalar map
//! @m[2]: 1                       keyed map, ascending by value
//! @m[1, abc]: 7                  tuple key; strings print bare
//! @s: { .count = 3, .average = 2, .total = 6 }
//!                                stats map: one blank line after the map
//! @h[1]:                         hist/lhist: "name: " then the rows,
//! [4, 8)     1 |@@@@@...|        then a blank line, for every key
//!
//! ```
//!
//! Plain maps get no blank line after them, and an empty map prints a lone
//! newline. `stats` uses the layout ARCHITECTURE.md specifies; bpftrace 0.17
//! itself prints `@s: count 3, average 2, total 6`.
//!
//! bpftrace also puts a blank line after `avg()` maps and prints two for an
//! empty `stats`/`avg` map. [`AggValue`] carries `avg` as an already reduced
//! [`AggValue::Plain`] and an empty [`MapDump`] has no values to tell the
//! kind by, so those maps print like plain ones here.
//!
//! Traced strings (map keys and values, `print` values, `printf`
//! arguments) print as [`Strings`] says: escaped on a terminal (see
//! `strings.rs`).

use super::hist::{hist_rows, lhist_rows};
use super::printf::render_with;
use super::value::{divide, kind_of, sorted_entries, AggValue, MapDump, MapKind, Scalar};
use super::{Output, Strings};
use crate::frontend::printf::Piece;
use std::fmt::Write;

/// bpftrace's text output (the default `-f text`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Text {
    /// How traced strings print.
    pub strings: Strings,
}

impl Output for Text {
    fn printf(&self, pieces: &[Piece], args: &[Scalar]) -> String {
        render_with(pieces, args, self.strings)
    }
    fn value(&self, v: &Scalar) -> String {
        format!("{}\n", format_scalar(&self.strings.scalar(v)))
    }
    fn time(&self, now: &str) -> String {
        now.to_string()
    }
    fn map(&self, dump: &MapDump, top: usize, div: u64) -> String {
        format_map(&self.strings.map(dump), top, div)
    }
}

/// What `print(expr)` shows for a non-map value, without the newline the
/// caller appends: integers in decimal, strings raw.
pub fn format_scalar(v: &Scalar) -> String {
    v.to_string()
}

/// `[k]` or `[k1, k2]`; nothing for a scalar map.
fn key_text(keys: &[Scalar]) -> String {
    if keys.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = keys.iter().map(Scalar::key_text).collect();
    format!("[{}]", parts.join(", "))
}

/// A whole map as `print(@m, top, div)` and the exit dump print it, every
/// line ending in `\n`.
///
/// `top` keeps the N largest entries (0 = all); `div` divides integer values
/// and histogram counts (0 and 1 = no division). Like bpftrace, `stats` maps
/// ignore both, and histogram bars stay scaled to the undivided counts.
pub fn format_map(dump: &MapDump, top: usize, div: u64) -> String {
    if dump.entries.is_empty() {
        return "\n".to_string();
    }
    let kind = kind_of(dump);
    let (top, div) = if kind == MapKind::Stats { (0, 1) } else { (top, div.max(1)) };
    let mut out = String::new();
    for (keys, value) in sorted_entries(dump, top) {
        let name = format!("{}{}", dump.name, key_text(keys));
        // Each arm writes a complete line set; mixing kinds in one map
        // cannot happen, but each entry still prints sensibly if it did.
        let _ = match value {
            AggValue::Plain(v) => writeln!(out, "{name}: {}", divide(v, div)),
            AggValue::Stats { count, average, total } => {
                writeln!(out, "{name}: {{ .count = {count}, .average = {average}, .total = {total} }}")
            }
            AggValue::Hist(b) => writeln!(out, "{name}: \n{}", hist_rows(b, div)),
            AggValue::Lhist { min, max, step, buckets } => {
                writeln!(out, "{name}: \n{}", lhist_rows(*min, *max, *step, buckets, div))
            }
        };
    }
    if kind == MapKind::Stats {
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@";

    fn int(v: i64) -> Scalar {
        Scalar::Int(v)
    }
    fn s(v: &str) -> Scalar {
        Scalar::Str(v.to_string())
    }
    fn plain(v: i64) -> AggValue {
        AggValue::Plain(int(v))
    }
    fn map(name: &str, arity: usize, entries: Vec<(Vec<Scalar>, AggValue)>) -> MapDump {
        MapDump { name: name.to_string(), keys_arity: arity, entries }
    }
    fn log2(pairs: &[(usize, u64)]) -> AggValue {
        let mut v = vec![0; 20];
        for &(i, c) in pairs {
            v[i] = c;
        }
        AggValue::Hist(v)
    }

    #[test]
    fn scalar_maps() {
        assert_eq!(format_map(&map("@x", 0, vec![(vec![], plain(5))]), 0, 1), "@x: 5\n");
        assert_eq!(format_map(&map("@g", 0, vec![(vec![], plain(-5))]), 0, 1), "@g: -5\n");
        assert_eq!(format_map(&map("@", 0, vec![(vec![], plain(1))]), 0, 1), "@: 1\n");
        assert_eq!(
            format_map(&map("@u", 0, vec![(vec![], AggValue::Plain(Scalar::UInt(u64::MAX)))]), 0, 1),
            "@u: 18446744073709551615\n"
        );
        assert_eq!(format_map(&map("@d", 0, vec![(vec![], AggValue::Plain(s("str")))]), 0, 1), "@d: str\n");
    }

    #[test]
    fn empty_map_is_a_blank_line() {
        assert_eq!(format_map(&map("@c", 1, vec![]), 0, 1), "\n");
    }

    #[test]
    fn tuple_and_string_keys() {
        // @a[1,"x"] = count(); @a[2,"y"] = count() x2
        let m = map("@a", 2, vec![(vec![int(2), s("y")], plain(2)), (vec![int(1), s("x")], plain(1))]);
        assert_eq!(format_map(&m, 0, 1), "@a[1, x]: 1\n@a[2, y]: 2\n");
        let m = map("@e", 1, vec![(vec![s("x")], plain(1)), (vec![s("")], plain(2))]);
        assert_eq!(format_map(&m, 0, 1), "@e[x]: 1\n@e[]: 2\n");
    }

    #[test]
    fn numeric_values_sort_ascending() {
        // @b[1]=2; @b[2]=1; @b[3]=3 → oracle prints 2, 1, 3.
        let m = map("@b", 1, vec![(vec![int(1)], plain(2)), (vec![int(2)], plain(1)), (vec![int(3)], plain(3))]);
        assert_eq!(format_map(&m, 0, 1), "@b[2]: 1\n@b[1]: 2\n@b[3]: 3\n");
        let m = map("@t", 1, vec![(vec![int(3)], plain(5)), (vec![int(1)], plain(-7)), (vec![int(2)], plain(-3))]);
        assert_eq!(format_map(&m, 0, 1), "@t[1]: -7\n@t[2]: -3\n@t[3]: 5\n");
    }

    #[test]
    fn ties_sort_by_key() {
        let m = map("@c", 1, [5, 3, 9, 1, 7].iter().map(|&k| (vec![int(k)], plain(1))).collect());
        assert_eq!(format_map(&m, 0, 1), "@c[1]: 1\n@c[3]: 1\n@c[5]: 1\n@c[7]: 1\n@c[9]: 1\n");
    }

    #[test]
    fn string_values_sort_by_key() {
        // @c[5]="e"; @c[3]="c"; ... and @c[256], @c[-1]: keys as unsigned.
        let m = map(
            "@c",
            1,
            vec![
                (vec![int(256)], AggValue::Plain(s("a"))),
                (vec![int(1)], AggValue::Plain(s("b"))),
                (vec![int(-1)], AggValue::Plain(s("c"))),
                (vec![int(2)], AggValue::Plain(s("d"))),
                (vec![int(0)], AggValue::Plain(s("z"))),
            ],
        );
        assert_eq!(format_map(&m, 0, 1), "@c[0]: z\n@c[1]: b\n@c[2]: d\n@c[256]: a\n@c[-1]: c\n");
        let m = map(
            "@c",
            2,
            vec![
                (vec![s("b"), int(2)], AggValue::Plain(s("a"))),
                (vec![s("a"), int(9)], AggValue::Plain(s("b"))),
                (vec![s("b"), int(1)], AggValue::Plain(s("c"))),
                (vec![s("ab"), int(0)], AggValue::Plain(s("d"))),
            ],
        );
        assert_eq!(format_map(&m, 0, 1), "@c[a, 9]: b\n@c[ab, 0]: d\n@c[b, 1]: c\n@c[b, 2]: a\n");
    }

    #[test]
    fn top_and_div() {
        // @e[1]=5; @e[2]=15; @e[3]=25; @e[4]=35 (oracle output for each call)
        let m = map(
            "@e",
            1,
            vec![
                (vec![int(1)], plain(5)),
                (vec![int(2)], plain(15)),
                (vec![int(3)], plain(25)),
                (vec![int(4)], plain(35)),
            ],
        );
        assert_eq!(format_map(&m, 2, 1), "@e[3]: 25\n@e[4]: 35\n");
        assert_eq!(format_map(&m, 0, 10), "@e[1]: 0\n@e[2]: 1\n@e[3]: 2\n@e[4]: 3\n");
        assert_eq!(format_map(&m, 2, 10), "@e[3]: 2\n@e[4]: 3\n");
        assert_eq!(format_map(&m, 0, 0), format_map(&m, 0, 1));
        // print(@s, 0, 2) on sum(-7)
        assert_eq!(format_map(&map("@s", 0, vec![(vec![], plain(-7))]), 0, 2), "@s: -3\n");
    }

    #[test]
    fn stats_maps() {
        let st = |count, average, total| AggValue::Stats { count, average, total };
        assert_eq!(
            format_map(&map("@d", 0, vec![(vec![], st(2, 3, 6))]), 0, 1),
            "@d: { .count = 2, .average = 3, .total = 6 }\n\n"
        );
        // Sorted by average; top/div ignored as bpftrace does (with a warning
        // the front end gives).
        let m = map(
            "@s",
            1,
            vec![(vec![int(1)], st(1, 100, 100)), (vec![int(2)], st(3, 10, 30)), (vec![int(3)], st(2, 60, 120))],
        );
        let want = "@s[2]: { .count = 3, .average = 10, .total = 30 }\n\
                    @s[3]: { .count = 2, .average = 60, .total = 120 }\n\
                    @s[1]: { .count = 1, .average = 100, .total = 100 }\n\n";
        assert_eq!(format_map(&m, 0, 1), want);
        assert_eq!(format_map(&m, 1, 3), want);
    }

    #[test]
    fn hist_maps() {
        assert_eq!(
            format_map(&map("@b", 0, vec![(vec![], log2(&[(8, 1)]))]), 0, 1),
            format!("@b: \n[64, 128)              1 |{FULL}|\n\n")
        );
        // Keyed: sorted by total count (h1=1, h5=1, h4=2, h3=4), each entry
        // followed by a blank line.
        let m = map(
            "@h",
            1,
            vec![
                (vec![int(5)], log2(&[(2, 1)])),
                (vec![int(4)], log2(&[(2, 1), (11, 1)])),
                (vec![int(3)], log2(&[(2, 4)])),
                (vec![int(1)], log2(&[(18, 1)])),
            ],
        );
        let out = format_map(&m, 0, 1);
        let heads: Vec<&str> = out.lines().filter(|l| l.starts_with('@')).collect();
        assert_eq!(heads, ["@h[1]: ", "@h[5]: ", "@h[4]: ", "@h[3]: "]);
        assert!(out.starts_with(&format!("@h[1]: \n[64K, 128K)            1 |{FULL}|\n\n@h[5]: \n")));
        assert!(out.ends_with(&format!("@h[3]: \n[1]                    4 |{FULL}|\n\n")));
        // top keeps the largest totals.
        let out = format_map(&m, 2, 1);
        let heads: Vec<&str> = out.lines().filter(|l| l.starts_with('@')).collect();
        assert_eq!(heads, ["@h[4]: ", "@h[3]: "]);
    }

    #[test]
    fn hist_div_divides_counts_not_bars() {
        let m = map("@h", 0, vec![(vec![], log2(&[(2, 4), (3, 2), (4, 1)]))]);
        assert_eq!(
            format_map(&m, 0, 2),
            format!(
                "@h: \n\
                 [1]                    2 |{FULL}|\n\
                 [2, 4)                 1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |\n\
                 [4, 8)                 0 |@@@@@@@@@@@@@                                       |\n\n"
            )
        );
    }

    #[test]
    fn lhist_maps() {
        let lh = |buckets: Vec<u64>| AggValue::Lhist { min: 0, max: 100, step: 10, buckets };
        let mut b1 = vec![0; 12];
        b1[1] = 1;
        let mut b2 = vec![0; 12];
        b2[11] = 1;
        let m = map("@l", 1, vec![(vec![int(2)], lh(b2)), (vec![int(1)], lh(b1))]);
        assert_eq!(
            format_map(&m, 0, 1),
            format!(
                "@l[1]: \n[0, 10)                1 |{FULL}|\n\n\
                 @l[2]: \n[100, ...)             1 |{FULL}|\n\n"
            )
        );
    }

    #[test]
    fn traced_strings_are_escaped_on_a_terminal() {
        let m = map("@c", 2, vec![(vec![s("a\x1b]52;c;aGk=\x07"), int(1)], AggValue::Plain(s("x\ny")))]);
        let on_terminal = Text { strings: Strings::Escaped };
        assert_eq!(on_terminal.map(&m, 0, 1), "@c[a\\x1b]52;c;aGk=\\a, 1]: x\\ny\n");
        assert_eq!(on_terminal.value(&s("\x1b[2J")), "\\x1b[2J\n");
        assert_eq!(on_terminal.value(&int(-1)), "-1\n");
        let raw = Text { strings: Strings::Raw };
        assert_eq!(raw.map(&m, 0, 1), "@c[a\x1b]52;c;aGk=\x07, 1]: x\ny\n");
        assert_eq!(raw.value(&s("\x1b[2J")), "\x1b[2J\n");
        // The format's own text is the program's: its tab and newline stay.
        let pieces = crate::frontend::printf::parse_format("%s\t%c|\n").unwrap();
        assert_eq!(on_terminal.printf(&pieces, &[s("\r\x1b[K"), int(0x1b)]), "\\r\\x1b[K\t\\x1b|\n");
        assert_eq!(raw.printf(&pieces, &[s("\r\x1b[K"), int(0x1b)]), "\r\x1b[K\t\x1b|\n");
    }

    #[test]
    fn print_of_a_value() {
        assert_eq!(format_scalar(&int(5)), "5");
        assert_eq!(format_scalar(&int(-3)), "-3");
        assert_eq!(format_scalar(&Scalar::UInt(u64::MAX)), "18446744073709551615");
        assert_eq!(format_scalar(&s("abc")), "abc");
    }
}
