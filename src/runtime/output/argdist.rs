//! bcc argdist's output, for the `-C` and `-H` front end: users who bring
//! argdist specifiers also bring scripts and eyes trained on its tables, so
//! we print what argdist prints, byte for byte where we can.
//!
//! At each interval argdist prints the local time, then every probe:
//!
//! ```text
//! [02:15:36]
//! p::__kmalloc(size_t size, gfp_t flags):gfp_t,size_t:flags,size
//! \tCOUNT      EVENT
//! \t2          flags = 131280, size = 8
//! \t7          flags = 131280, size = 16
//!      retval              : count     distribution
//!          0 -> 1          : 29       |****************************************|
//!          2 -> 3          : 11       |***************                         |
//! ```
//!
//! (`\t` is a real tab.) A `-C` table is the spec or its `#label`, the
//! column header, and one row per key ascending by count (`"\t%-10s %s"`).
//! A `-H` histogram is bcc's `print_log2_hist`: no title line of its own
//! (bcc stopped printing the spec above histograms after its first
//! version), a header naming the expression, rows `%10d -> %-10d : %-8d`
//! and a 40-column bar of `*`; when the highest non-empty slot is above
//! 32 the columns double (`%20d`) and the bar halves to 20.
//!
//! # Buckets: ours versus bcc's
//!
//! The kernel side counts into our bpftrace-style log2 buckets (see
//! [`AggValue::Hist`]): index 0 counts negative values, 1 counts zero, and
//! k >= 2 counts [2^(k-2), 2^(k-1)). bcc's `bpf_log2l` slots differ:
//!
//! | value              | ours       | bcc's slot | bcc prints            |
//! |--------------------|------------|------------|-----------------------|
//! | 0                  | 1          | 1          | `0 -> 1`              |
//! | 1                  | 2          | 1          | `0 -> 1`              |
//! | [2^(i-1), 2^i - 1] | i + 1      | i (2..=64) | `2^(i-1) -> 2^i - 1`  |
//! | negative           | 0          | 64         | `2^63 -> 2^64 - 1`    |
//!
//! So our 1 and 2 merge into bcc's 1, our k >= 3 becomes k - 1, and our 0
//! goes to 64: argdist stores the expression in its declared C type and
//! `bpf_log2l` takes an `unsigned long`, so a negative value is a huge
//! unsigned one there. Our indices past 65 cannot come from 64-bit values;
//! if a caller passes counts there anyway they join slot 64, the only slot
//! for values of 2^63 and more. bcc's slot 0 is never filled by
//! `bpf_log2l`, and nothing of ours maps to it.
//!
//! # Bars
//!
//! bcc's `_stars` draws `floor(width * val / val_max)` stars, capped at the
//! width, where the quotient is Python 3's `/`: the exact ratio correctly
//! rounded to a double. For counts below about 2^47 that is the exact floor;
//! above, a ratio just under an integer rounds up to it and gains a star,
//! and we reproduce that with integer arithmetic rather than by trusting a
//! conversion through `f64` (which rounds twice). `_stars` also turns the
//! last star into `+` when a value exceeds the maximum; a histogram's
//! maximum is its own largest count, so that never happens here, but the
//! helper keeps the rule.

use super::value::{sorted_entries, AggValue, MapDump, Scalar};
use std::fmt::Write;

/// What argdist hands `strftime` before each interval's output.
const INTERVAL_FORMAT: &str = "[%H:%M:%S]\n";

/// The `[HH:MM:SS]` line argdist prints at each interval, in local time,
/// newline included: `"[02:03:04]\n"`.
pub fn interval_header() -> String {
    crate::sys::format_local_time(INTERVAL_FORMAT)
}

/// [`interval_header`] for a fixed moment, `epoch_secs` after the epoch in
/// UTC, so tests (and recorded output) do not depend on the clock or the
/// time zone.
pub fn interval_header_at(epoch_secs: i64) -> String {
    crate::sys::format_utc_time(INTERVAL_FORMAT, epoch_secs)
}

/// A key component as argdist shows it: integers in decimal (signed types
/// signed, as Python's `str(int)`), `char*` values as the text itself.
///
/// argdist reads a `char*` into a fixed buffer and ctypes hands Python the
/// bytes before the first NUL, so we stop there too. Modern bcc under
/// Python 3 actually prints the `bytes` repr (`b'hello'`), a porting
/// artifact bcc has been fixing elsewhere; its documentation and examples
/// show the plain text, which is what we print.
fn value_text(v: &Scalar) -> String {
    match v {
        Scalar::Str(s) => s.split('\0').next().unwrap_or("").to_string(),
        other => other.to_string(),
    }
}

/// The COUNT column. `-C` maps hold plain counts; other kinds only arrive
/// if a caller mixes things up, and then their total count is the honest
/// number to show.
fn count_text(v: &AggValue) -> String {
    match v {
        AggValue::Plain(s) => value_text(s),
        AggValue::Stats { count, .. } => count.to_string(),
        AggValue::Hist(b) | AggValue::Lhist { buckets: b, .. } => {
            b.iter().fold(0u64, |acc, &c| acc.saturating_add(c)).to_string()
        }
    }
}

/// The EVENT column for one key.
fn event_text(keys: &[Scalar], expr_labels: &[String], default_label: Option<&str>) -> String {
    if let Some(label) = default_label {
        return label.to_string();
    }
    let parts: Vec<String> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| match expr_labels.get(i) {
            Some(label) => format!("{label} = {}", value_text(k)),
            // A label list shorter than the key is a caller bug; showing
            // the bare value still tells the user something true.
            None => value_text(k),
        })
        .collect();
    parts.join(", ")
}

/// One `-C` spec's table, every line ending in `\n`:
///
/// ```text
/// p:c:write():int:$PID#write per process   <- `title`: the label, or the raw spec
/// \tCOUNT      EVENT
/// \t3          $PID = 8889                  <- "\t%-10s %s", ascending by count
/// ```
///
/// The EVENT text is `default_label` verbatim when given (argdist shows
/// `total calls` for a spec without expressions); otherwise the key's
/// parts as `EXPR = VALUE` joined by `, `, `EXPR` from `expr_labels[i]`.
/// (argdist's default for a return probe is `retval = N`: pass
/// `default_label: None` and the label `retval` for that.)
///
/// argdist sorts by count only and ties come out in hash order; we break
/// them by key so output is reproducible. `top` keeps the N largest counts
/// like `-T` (0 = all). An empty map prints just the two header lines, as
/// argdist does between events.
pub fn format_counts(
    title: &str,
    expr_labels: &[String],
    default_label: Option<&str>,
    dump: &MapDump,
    top: usize,
) -> String {
    let mut out = format!("{title}\n\t{:<10} {}\n", "COUNT", "EVENT");
    for (keys, value) in sorted_entries(dump, top) {
        let _ = writeln!(out, "\t{:<10} {}", count_text(value), event_text(keys, expr_labels, default_label));
    }
    out
}

/// bcc's log2 slots, 0..=64; slot i >= 2 counts [2^(i-1), 2^i - 1].
const BCC_SLOTS: usize = 65;

/// Narrow layout unless a slot above this index is filled (bcc's rule).
const NARROW_MAX_SLOT: usize = 32;

/// Bar width of the narrow layout; the wide one uses half.
const STARS_MAX: usize = 40;

/// Our buckets re-counted into bcc's slots (mapping in the module docs).
fn to_bcc_slots(ours: &[u64]) -> [u64; BCC_SLOTS] {
    let mut slots = [0u64; BCC_SLOTS];
    for (k, &count) in ours.iter().enumerate() {
        let slot = match k {
            0 => BCC_SLOTS - 1,
            1 | 2 => 1,
            k => (k - 1).min(BCC_SLOTS - 1),
        };
        slots[slot] = slots[slot].saturating_add(count);
    }
    slots
}

/// `floor(q)` where `q` is `num / den` correctly rounded to a double, as
/// Python 3's `/` computes it, for quotients below `limit` (<= 2^52);
/// anything at or above `limit` answers `limit`.
///
/// The floor of a rounded quotient differs from the exact floor only when
/// the exact value lies just under an integer `k` and rounds up onto it:
/// when `k - num/den` is at most half the gap between `k` and the double
/// below it. A tie goes to `k`, whose significand is even. All of it in
/// integers, so nothing is rounded twice.
fn python_floor_div(num: u128, den: u128, limit: u128) -> u128 {
    if den == 0 {
        return limit;
    }
    let floor = num / den;
    if floor >= limit {
        return limit;
    }
    if num.is_multiple_of(den) {
        return floor;
    }
    let k = floor + 1;
    // e = floor(log2 k). Half the gap below k is 2^(e-53), or 2^(e-54)
    // when k is a power of two (the double below it lies in the next binade
    // down, where doubles are twice as dense).
    let e = 127 - k.leading_zeros();
    let shift = if k.is_power_of_two() { 54 - e } else { 53 - e };
    let short = k * den - num; // 0 < short < den
    match short.checked_shl(shift) {
        Some(scaled) if scaled >> shift == short && scaled <= den => k,
        _ => floor,
    }
}

/// bcc's `_stars`: the bar for `val` when `val_max` fills `width` columns.
/// A value above the maximum ends in `+` instead of its last star (bcc
/// would divide by zero for a zero maximum; we draw no stars then).
fn stars(val: u64, val_max: u64, width: usize) -> String {
    let limit = width as u128;
    let n = python_floor_div(u128::from(val) * limit, u128::from(val_max), limit);
    let n = if val_max == 0 { 0 } else { n as usize };
    let mut bar = "*".repeat(n);
    if val > val_max {
        bar.pop();
        bar.push('+');
    }
    bar
}

/// One `-H` spec's histogram in bcc's `print_log2_hist` layout, every line
/// ending in `\n`; nothing at all when every bucket is empty.
///
/// `label` is argdist's: the `#label`, else the expression, else `retval`.
/// `bpftrace_buckets` are OUR log2 buckets, converted to bcc's slots as the
/// module docs describe. Rows run from slot 1 (`0 -> 1`) to the highest
/// non-empty slot, empty ones included:
///
/// ```text
///      len                 : count     distribution
///          0 -> 1          : 0        |                                        |
///          2 -> 3          : 2        |*************                           |
///          4 -> 7          : 0        |                                        |
///          8 -> 15         : 6        |****************************************|
/// ```
///
/// Past slot 32 the layout widens:
/// `"               %-29s : count     distribution"` and
/// `"%20d -> %-20d : %-8d |%-20s|"`.
pub fn format_log2_hist(label: &str, bpftrace_buckets: &[u64]) -> String {
    let slots = to_bcc_slots(bpftrace_buckets);
    let Some(idx_max) = slots.iter().rposition(|&c| c != 0) else {
        return String::new();
    };
    let val_max = slots.iter().copied().max().unwrap_or(0);
    let wide = idx_max > NARROW_MAX_SLOT;
    let mut out = String::new();
    let _ = if wide {
        writeln!(out, "               {label:<29} : count     distribution")
    } else {
        writeln!(out, "     {label:<19} : count     distribution")
    };
    for (i, &val) in slots.iter().enumerate().take(idx_max + 1).skip(1) {
        // Slot i holds [2^(i-1), 2^i - 1]; slot 1 also holds 0.
        let high = (1u128 << i) - 1;
        let low = if i == 1 { 0 } else { 1u128 << (i - 1) };
        let _ = if wide {
            let bar = stars(val, val_max, STARS_MAX / 2);
            writeln!(out, "{low:>20} -> {high:<20} : {val:<8} |{bar:<20}|")
        } else {
            let bar = stars(val, val_max, STARS_MAX);
            writeln!(out, "{low:>10} -> {high:<10} : {val:<8} |{bar:<40}|")
        };
    }
    out
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
    fn count(n: u64) -> AggValue {
        AggValue::Plain(Scalar::UInt(n))
    }
    fn dump(arity: usize, entries: Vec<(Vec<Scalar>, AggValue)>) -> MapDump {
        MapDump { name: "@".to_string(), keys_arity: arity, entries }
    }
    fn labels(l: &[&str]) -> Vec<String> {
        l.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn interval_header_is_bracketed_time() {
        // 02:03:04 UTC on 1970-01-01.
        assert_eq!(interval_header_at(2 * 3600 + 3 * 60 + 4), "[02:03:04]\n");
        assert_eq!(interval_header_at(1_614_834_367), "[05:06:07]\n");
        let now = interval_header();
        assert_eq!(now.len(), "[HH:MM:SS]\n".len(), "{now:?}");
        assert!(now.starts_with('[') && now.ends_with("]\n"));
    }

    #[test]
    fn counts_with_two_part_keys() {
        // argdist_example.txt, the __kmalloc flags,size table (03:42:29),
        // fed in hash order.
        let m = dump(
            2,
            vec![
                (vec![int(131280), int(16)], count(7)),
                (vec![int(16), int(152)], count(1)),
                (vec![int(131280), int(8)], count(2)),
            ],
        );
        let spec = "p::__kmalloc(size_t size, gfp_t flags):gfp_t,size_t:flags,size";
        assert_eq!(
            format_counts(spec, &labels(&["flags", "size"]), None, &m, 0),
            format!(
                "{spec}\n\
                 \tCOUNT      EVENT\n\
                 \t1          flags = 16, size = 152\n\
                 \t2          flags = 131280, size = 8\n\
                 \t7          flags = 131280, size = 16\n"
            )
        );
    }

    #[test]
    fn counts_ascending_with_ties_by_key() {
        // argdist_example.txt's "write by process" table (06:47:18), where
        // bcc printed the tied 7615 and 2480 in hash order; we sort ties
        // by key. Wide counts push the EVENT column right, as %-10s does.
        let m = dump(
            1,
            vec![
                (vec![int(7615)], count(7)),
                (vec![int(8889)], count(3)),
                (vec![int(2480)], count(7)),
                (vec![int(1)], count(12_345_678_901)),
            ],
        );
        assert_eq!(
            format_counts("write by process", &labels(&["$PID"]), None, &m, 0),
            "write by process\n\
             \tCOUNT      EVENT\n\
             \t3          $PID = 8889\n\
             \t7          $PID = 2480\n\
             \t7          $PID = 7615\n\
             \t12345678901 $PID = 1\n"
        );
    }

    #[test]
    fn top_keeps_the_largest_counts() {
        let m = dump(
            1,
            vec![
                (vec![int(3)], count(5)),
                (vec![int(1)], count(9)),
                (vec![int(2)], count(1)),
                (vec![int(4)], count(5)),
            ],
        );
        let fd = labels(&["fd"]);
        assert_eq!(
            format_counts("p:c:write(int fd):int:fd", &fd, None, &m, 2),
            "p:c:write(int fd):int:fd\n\tCOUNT      EVENT\n\t5          fd = 4\n\t9          fd = 1\n"
        );
        // -T larger than the table, and 0, show everything.
        assert_eq!(format_counts("t", &fd, None, &m, 10), format_counts("t", &fd, None, &m, 0));
        assert_eq!(format_counts("t", &fd, None, &m, 0).lines().count(), 6);
    }

    #[test]
    fn default_expression_is_total_calls() {
        // argdist -C 'p:c:fork()#fork calls': one scalar counter.
        let m = dump(0, vec![(vec![], count(42))]);
        assert_eq!(
            format_counts("fork calls", &[], Some("total calls"), &m, 0),
            "fork calls\n\tCOUNT      EVENT\n\t42         total calls\n"
        );
        // The label wins even if the map happens to be keyed.
        let m = dump(1, vec![(vec![int(1)], count(2))]);
        assert_eq!(
            format_counts("x", &labels(&["e"]), Some("total calls"), &m, 0),
            "x\n\tCOUNT      EVENT\n\t2          total calls\n"
        );
        // Return probe default: the caller names the key "retval".
        let m = dump(1, vec![(vec![int(-1)], count(3))]);
        assert_eq!(
            format_counts("r:c:read()", &labels(&["retval"]), None, &m, 0),
            "r:c:read()\n\tCOUNT      EVENT\n\t3          retval = -1\n"
        );
    }

    #[test]
    fn string_values_print_as_text() {
        // argdist_example.txt: puts() and gets() tables.
        let m = dump(1, vec![(vec![s("Press ENTER to start.")], count(2))]);
        assert_eq!(
            format_counts("p:c:puts(char *str):char*:str", &labels(&["str"]), None, &m, 0),
            "p:c:puts(char *str):char*:str\n\tCOUNT      EVENT\n\t2          str = Press ENTER to start.\n"
        );
        let m = dump(
            1,
            vec![
                (vec![s("hello")], count(8)),
                (vec![s("hi there")], count(1)),
                (vec![s("sasha\0junk after NUL")], count(3)),
            ],
        );
        assert_eq!(
            format_counts("r:c:gets():char*:$retval:$retval!=0", &labels(&["(char*)$retval"]), None, &m, 0),
            "r:c:gets():char*:$retval:$retval!=0\n\
             \tCOUNT      EVENT\n\
             \t1          (char*)$retval = hi there\n\
             \t3          (char*)$retval = sasha\n\
             \t8          (char*)$retval = hello\n"
        );
        // Mixed string and integer parts.
        let m = dump(2, vec![(vec![s("x"), Scalar::UInt(u64::MAX)], count(1))]);
        assert_eq!(
            format_counts("t", &labels(&["a", "b"]), None, &m, 0),
            "t\n\tCOUNT      EVENT\n\t1          a = x, b = 18446744073709551615\n"
        );
    }

    #[test]
    fn empty_table_and_odd_inputs() {
        assert_eq!(format_counts("spec", &labels(&["size"]), None, &dump(1, vec![]), 0), "spec\n\tCOUNT      EVENT\n");
        // Fewer labels than key parts: the bare value, no panic.
        let m = dump(2, vec![(vec![int(1), s("x")], count(1))]);
        assert_eq!(format_counts("t", &labels(&["a"]), None, &m, 0), "t\n\tCOUNT      EVENT\n\t1          a = 1, x\n");
        // Signed counts and non-count values still print.
        let m = dump(1, vec![(vec![int(1)], AggValue::Hist(vec![0, 2, 3]))]);
        assert_eq!(format_counts("t", &labels(&["a"]), None, &m, 0), "t\n\tCOUNT      EVENT\n\t5          a = 1\n");
    }

    /// Our buckets from (index, count) pairs.
    fn ours(pairs: &[(usize, u64)]) -> Vec<u64> {
        let len = pairs.iter().map(|&(i, _)| i + 1).max().unwrap_or(0);
        let mut v = vec![0; len];
        for &(i, c) in pairs {
            v[i] = c;
        }
        v
    }

    #[test]
    fn hist_matches_bcc_example() {
        // argdist_example.txt, `argdist -H 'r:c:read()'` (02:15:36). bcc's
        // slot 1 (29) is split between our zero and one buckets; every
        // other slot i is our bucket i + 1.
        let b = ours(&[(1, 20), (2, 9), (3, 11), (5, 3), (6, 2), (7, 22), (8, 5), (10, 1), (11, 1), (13, 2)]);
        assert_eq!(
            format_log2_hist("retval", &b),
            "     retval              : count     distribution\n\
             \x20        0 -> 1          : 29       |****************************************|\n\
             \x20        2 -> 3          : 11       |***************                         |\n\
             \x20        4 -> 7          : 0        |                                        |\n\
             \x20        8 -> 15         : 3        |****                                    |\n\
             \x20       16 -> 31         : 2        |**                                      |\n\
             \x20       32 -> 63         : 22       |******************************          |\n\
             \x20       64 -> 127        : 5        |******                                  |\n\
             \x20      128 -> 255        : 0        |                                        |\n\
             \x20      256 -> 511        : 1        |*                                       |\n\
             \x20      512 -> 1023       : 1        |*                                       |\n\
             \x20     1024 -> 2047       : 0        |                                        |\n\
             \x20     2048 -> 4095       : 2        |**                                      |\n"
        );
    }

    #[test]
    fn hist_leading_empty_rows_and_gaps() {
        // argdist_example.txt, write() lengths (01:45:22): rows start at
        // "0 -> 1" even when it is empty, and empty slots in between print.
        let b = ours(&[(3, 2), (5, 2), (7, 6)]);
        assert_eq!(
            format_log2_hist("len", &b),
            "     len                 : count     distribution\n\
             \x20        0 -> 1          : 0        |                                        |\n\
             \x20        2 -> 3          : 2        |*************                           |\n\
             \x20        4 -> 7          : 0        |                                        |\n\
             \x20        8 -> 15         : 2        |*************                           |\n\
             \x20       16 -> 31         : 0        |                                        |\n\
             \x20       32 -> 63         : 6        |****************************************|\n"
        );
    }

    #[test]
    fn hist_zero_and_one_share_a_row() {
        let want = "     x                   : count     distribution\n\
                    \x20        0 -> 1          : 4        |****************************************|\n";
        assert_eq!(format_log2_hist("x", &ours(&[(1, 4)])), want);
        assert_eq!(format_log2_hist("x", &ours(&[(2, 4)])), want);
        assert_eq!(format_log2_hist("x", &ours(&[(1, 1), (2, 3)])), want);
        // A long label pushes the columns right, as %-19s does.
        assert!(format_log2_hist("a label longer than nineteen", &ours(&[(1, 1)]))
            .starts_with("     a label longer than nineteen : count     distribution\n"));
    }

    #[test]
    fn all_zero_prints_nothing() {
        assert_eq!(format_log2_hist("x", &[]), "");
        assert_eq!(format_log2_hist("x", &[0; 66]), "");
    }

    #[test]
    fn slot_32_is_still_narrow() {
        // Our bucket 33 = [2^31, 2^32) = bcc's slot 32.
        let out = format_log2_hist("v", &ours(&[(33, 1)]));
        assert!(out.starts_with("     v                   : count     distribution\n"));
        assert_eq!(out.lines().count(), 1 + 32);
        assert!(out.ends_with("2147483648 -> 4294967295 : 1        |****************************************|\n"));
    }

    #[test]
    fn wide_layout_past_slot_32() {
        // 2^32 lands in our bucket 34 = bcc's slot 33.
        let out = format_log2_hist("bytes", &ours(&[(2, 1), (34, 2)]));
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 1 + 33);
        assert_eq!(lines[0], "               bytes                         : count     distribution");
        assert_eq!(lines[1], "                   0 -> 1                    : 1        |**********          |");
        assert_eq!(lines[2], "                   2 -> 3                    : 0        |                    |");
        assert_eq!(lines[33], "          4294967296 -> 8589934591           : 2        |********************|");
    }

    #[test]
    fn negative_values_are_huge_unsigned_ones() {
        let out = format_log2_hist("retval", &ours(&[(0, 3), (3, 1)]));
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 1 + 64);
        assert_eq!(lines[2], "                   2 -> 3                    : 1        |******              |");
        assert_eq!(lines[64], " 9223372036854775808 -> 18446744073709551615 : 3        |********************|");
        // Our top bucket [2^63, 2^64) and anything beyond it share slot 64.
        let mut b = vec![0; 70];
        b[65] = 1;
        b[69] = 1;
        assert_eq!(
            format_log2_hist("retval", &b).lines().last(),
            Some(" 9223372036854775808 -> 18446744073709551615 : 2        |********************|")
        );
    }

    #[test]
    fn stars_follow_bcc() {
        assert_eq!(stars(40, 40, 40), "*".repeat(40));
        assert_eq!(stars(0, 40, 40), "");
        // 11 of 29 is 15.17 columns: truncated.
        assert_eq!(stars(11, 29, 40), "*".repeat(15));
        // Just under one column draws nothing.
        assert_eq!(stars(1, 41, 40), "");
        assert_eq!(stars(1, 40, 40), "*");
        // '+' marks a value above the maximum (unreachable from a histogram).
        assert_eq!(stars(5, 4, 40), format!("{}+", "*".repeat(39)));
        assert_eq!(stars(5, 4, 20), format!("{}+", "*".repeat(19)));
        assert_eq!(stars(1, 0, 40), "+");
        assert_eq!(stars(0, 0, 40), "");
        assert_eq!(stars(u64::MAX, u64::MAX, 40), "*".repeat(40));
    }

    #[test]
    fn huge_counts_round_like_python() {
        // 40 * val / val_max is 33 - 1/(2^60 + 1): Python 3 rounds that to
        // 33.0, so bcc draws 33 stars where the exact floor is 32.
        let val_max: u64 = (1 << 60) + 1;
        let val = u64::try_from((33 * u128::from(val_max) - 1) / 40).unwrap_or(0);
        assert_eq!(u128::from(val) * 40, 33 * u128::from(val_max) - 1);
        assert_eq!(stars(val, val_max, 40), "*".repeat(33));
        // Far enough below 33 to survive rounding.
        assert_eq!(stars(32, 40, 40), "*".repeat(32));
        let rows = format_log2_hist("v", &[0, val_max, 0, val]);
        assert!(rows.ends_with(&format!(" |{}       |\n", "*".repeat(33))), "{rows}");
    }

    #[test]
    fn python_division_edges() {
        // Exact ties round to the even integer above.
        assert_eq!(python_floor_div(5, 5, 40), 1);
        assert_eq!(python_floor_div(7, 2, 40), 3);
        assert_eq!(python_floor_div(0, 7, 40), 0);
        assert_eq!(python_floor_div(100, 1, 40), 40);
        assert_eq!(python_floor_div(1, 0, 40), 40);
        // (2^54 - 1) / 2^54 is 1 - 2^-54: a tie between 1 - 2^-53 and 1,
        // which goes to 1 (even); (2^55 - 1) / 2^55 rounds to 1 as well.
        assert_eq!(python_floor_div((1 << 54) - 1, 1 << 54, 40), 1);
        assert_eq!(python_floor_div((1 << 55) - 1, 1 << 55, 40), 1);
        // 1 - 2^-53 is a double: stays below 1.
        assert_eq!(python_floor_div((1 << 53) - 1, 1 << 53, 40), 0);
        // Below 3 (not a power of two) the doubles are 2^-51 apart: 3 - 2^-51
        // is one of them, 3 - 2^-52 is the tie (to 3), 3 - 2^-53 rounds up.
        assert_eq!(python_floor_div((3 << 51) - 1, 1 << 51, 40), 2);
        assert_eq!(python_floor_div((3 << 52) - 1, 1 << 52, 40), 3);
        assert_eq!(python_floor_div((3 << 53) - 1, 1 << 53, 40), 3);
    }
}
