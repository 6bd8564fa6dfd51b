//! Histogram rows for `hist()` and `lhist()` maps, in bpftrace's layout:
//!
//! ```text
//! [4, 8)                 3 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|
//! [8, 16)                1 |@@@@@@@@@@@@@@@@@                                   |
//! ```
//!
//! The label is left-justified to 16 columns and the count right-justified
//! to 8 (both grow when wider), then ` |`, a bar of `@` scaled so the largest
//! count is 52 wide (truncated; exact integer arithmetic, which matches the
//! oracle at the points where a float would round the wrong way, e.g. 15 of
//! 26), and `|`. Only buckets from the first to the last non-empty one print.
//!
//! Bucket ranges are computed once ([`BucketRange`]) and shared with the
//! JSON printer, which reports the same buckets as `min`/`max` pairs.

use std::fmt::Write;

/// Width of the bar at the largest count.
const BAR_WIDTH: u128 = 52;

/// log2 buckets beyond this index cannot come from 64-bit values; ignoring
/// them keeps every bound inside `i128`.
const MAX_LOG2_BUCKETS: usize = 127;

/// The values one bucket counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BucketRange {
    /// Values below the bound: `(..., 0)`.
    Below(i128),
    /// Exactly one value: `[0]`, `[1]`.
    Exact(i128),
    /// `[lo, hi)`.
    Span(i128, i128),
    /// The bound and above: `[100, ...)`.
    Above(i128),
}

impl BucketRange {
    /// Smallest value counted, if bounded below.
    pub(crate) fn min(self) -> Option<i128> {
        match self {
            BucketRange::Below(_) => None,
            BucketRange::Exact(v) | BucketRange::Span(v, _) | BucketRange::Above(v) => Some(v),
        }
    }

    /// Largest value counted (inclusive), if bounded above.
    pub(crate) fn max(self) -> Option<i128> {
        match self {
            BucketRange::Below(v) | BucketRange::Span(_, v) => Some(v - 1),
            BucketRange::Exact(v) => Some(v),
            BucketRange::Above(_) => None,
        }
    }

    /// The text label; log2 histograms abbreviate powers of 1024.
    fn label(self, suffixes: bool) -> String {
        let n = |v: i128| if suffixes { with_suffix(v) } else { v.to_string() };
        match self {
            BucketRange::Below(v) => format!("(..., {})", n(v)),
            BucketRange::Exact(v) => format!("[{}]", n(v)),
            BucketRange::Span(lo, hi) => format!("[{}, {})", n(lo), n(hi)),
            BucketRange::Above(v) => format!("[{}, ...)", n(v)),
        }
    }
}

/// `1024` → `1K`, `3145728` → `3M`: the largest of K, M, G, T, P, E
/// (powers of 1024) that divides the value evenly.
fn with_suffix(v: i128) -> String {
    const UNITS: [&str; 6] = ["K", "M", "G", "T", "P", "E"];
    let mut scaled = v;
    let mut unit = None;
    for (i, _) in UNITS.iter().enumerate() {
        if scaled == 0 || scaled % 1024 != 0 {
            break;
        }
        scaled /= 1024;
        unit = Some(i);
    }
    match unit {
        Some(u) => format!("{scaled}{}", UNITS[u]),
        None => v.to_string(),
    }
}

/// Ranges of `hist()` buckets (see [`super::AggValue::Hist`]).
pub(crate) fn log2_ranges(buckets: &[u64]) -> Vec<(BucketRange, u64)> {
    buckets
        .iter()
        .take(MAX_LOG2_BUCKETS)
        .enumerate()
        .map(|(k, &count)| {
            let range = match k {
                0 => BucketRange::Below(0),
                1 => BucketRange::Exact(0),
                2 => BucketRange::Exact(1),
                k => BucketRange::Span(1i128 << (k - 2), 1i128 << (k - 1)),
            };
            (range, count)
        })
        .collect()
}

/// Ranges of `lhist(min, max, step)` buckets (see
/// [`super::AggValue::Lhist`]). Buckets past the overflow bucket cannot be
/// produced by the kernel side and are ignored; a non-positive step (never
/// accepted by the type checker) yields just the two open-ended buckets.
pub(crate) fn lhist_ranges(min: i64, max: i64, step: i64, buckets: &[u64]) -> Vec<(BucketRange, u64)> {
    let (min, max, step) = (i128::from(min), i128::from(max), i128::from(step));
    let n = if step > 0 && max > min { (max - min) / step } else { 0 };
    buckets
        .iter()
        .enumerate()
        .map(|(i, &count)| (i as i128, count))
        .take_while(|&(i, _)| i <= n + 1)
        .map(|(i, count)| {
            let range = if i == 0 {
                BucketRange::Below(min)
            } else if i <= n {
                BucketRange::Span(min + (i - 1) * step, min + i * step)
            } else {
                BucketRange::Above(max)
            };
            (range, count)
        })
        .collect()
}

/// The slice from the first to the last non-empty bucket (empty if none).
pub(crate) fn trimmed(ranges: &[(BucketRange, u64)]) -> &[(BucketRange, u64)] {
    let first = ranges.iter().position(|&(_, c)| c != 0);
    let last = ranges.iter().rposition(|&(_, c)| c != 0);
    match (first, last) {
        (Some(f), Some(l)) => &ranges[f..=l],
        _ => &[],
    }
}

/// Renders rows. `div` divides the printed counts only: bpftrace scales the
/// bars from the undivided counts (so a bucket divided down to 0 can still
/// show a bar), and we keep that.
fn rows(ranges: &[(BucketRange, u64)], suffixes: bool, div: u64) -> String {
    let shown = trimmed(ranges);
    let max = shown.iter().map(|&(_, c)| c).max().unwrap_or(0);
    let mut out = String::new();
    for &(range, count) in shown {
        let bar = if max == 0 { 0 } else { (u128::from(count) * BAR_WIDTH / u128::from(max)) as usize };
        let _ = writeln!(
            out,
            "{:<16}{:>8} |{}{}|",
            range.label(suffixes),
            count / div.max(1),
            "@".repeat(bar),
            " ".repeat(BAR_WIDTH as usize - bar),
        );
    }
    out
}

pub(crate) fn hist_rows(buckets: &[u64], div: u64) -> String {
    rows(&log2_ranges(buckets), true, div)
}

pub(crate) fn lhist_rows(min: i64, max: i64, step: i64, buckets: &[u64], div: u64) -> String {
    rows(&lhist_ranges(min, max, step, buckets), false, div)
}

/// Rows of a `hist()` value, each ending in `\n`; empty when every bucket is.
pub fn format_hist(buckets: &[u64]) -> String {
    hist_rows(buckets, 1)
}

/// Rows of an `lhist(min, max, step)` value, each ending in `\n`.
pub fn format_lhist(min: i64, max: i64, step: i64, buckets: &[u64]) -> String {
    lhist_rows(min, max, step, buckets, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@";
    const EMPTY: &str = "                                                    ";

    fn log2(pairs: &[(usize, u64)]) -> Vec<u64> {
        let len = pairs.iter().map(|&(i, _)| i + 1).max().unwrap_or(0);
        let mut v = vec![0; len];
        for &(i, c) in pairs {
            v[i] = c;
        }
        v
    }

    #[test]
    fn one_bucket() {
        // bpftrace -e 'BEGIN { @b = hist(100); }'
        assert_eq!(format_hist(&log2(&[(8, 1)])), format!("[64, 128)              1 |{FULL}|\n"));
        assert_eq!(format_hist(&log2(&[(1, 1)])), format!("[0]                    1 |{FULL}|\n"));
        assert_eq!(format_hist(&log2(&[(2, 3)])), format!("[1]                    3 |{FULL}|\n"));
        assert_eq!(format_hist(&log2(&[(0, 1)])), format!("(..., 0)               1 |{FULL}|\n"));
    }

    #[test]
    fn empty_histogram_prints_nothing() {
        assert_eq!(format_hist(&[]), "");
        assert_eq!(format_hist(&[0, 0, 0]), "");
        assert_eq!(format_lhist(0, 100, 10, &[0; 12]), "");
    }

    #[test]
    fn gaps_negative_and_suffixes() {
        // hist(-1), hist(0), hist(1), hist(2), hist(1023), hist(1024), hist(3M)
        let b = log2(&[(0, 1), (1, 1), (2, 1), (3, 1), (11, 1), (12, 1), (23, 1)]);
        let z = |l: &str| format!("{l:<16}       0 |{EMPTY}|\n");
        let o = |l: &str| format!("{l:<16}       1 |{FULL}|\n");
        let mut want = o("(..., 0)") + &o("[0]") + &o("[1]") + &o("[2, 4)");
        for l in ["[4, 8)", "[8, 16)", "[16, 32)", "[32, 64)", "[64, 128)", "[128, 256)", "[256, 512)"] {
            want += &z(l);
        }
        want += &o("[512, 1K)");
        want += &o("[1K, 2K)");
        for l in [
            "[2K, 4K)",
            "[4K, 8K)",
            "[8K, 16K)",
            "[16K, 32K)",
            "[32K, 64K)",
            "[64K, 128K)",
            "[128K, 256K)",
            "[256K, 512K)",
            "[512K, 1M)",
            "[1M, 2M)",
        ] {
            want += &z(l);
        }
        want += &o("[2M, 4M)");
        assert_eq!(format_hist(&b), want);
        // The exact line bpftrace printed for the [1M, 2M) gap row.
        assert!(format_hist(&b)
            .contains("[1M, 2M)               0 |                                                    |\n"));
    }

    #[test]
    fn labels_beyond_oracle_range() {
        // bpftrace 0.17 clamps its log2 at 32 bits; the suffix rule extends.
        let label = |k: usize| log2_ranges(&vec![0; k + 1])[k].0.label(true);
        assert_eq!(label(33), "[2G, 4G)");
        assert_eq!(label(40), "[256G, 512G)");
        assert_eq!(label(42), "[1T, 2T)");
        assert_eq!(label(52), "[1P, 2P)");
        assert_eq!(label(62), "[1E, 2E)");
        assert_eq!(label(64), "[4E, 8E)");
        assert_eq!(label(65), "[8E, 16E)");
        assert_eq!(label(75), "[8192E, 16384E)");
        assert_eq!(log2_ranges(&vec![1; 500]).len(), MAX_LOG2_BUCKETS);
        assert!(format_hist(&vec![1; 500]).lines().count() == MAX_LOG2_BUCKETS);
    }

    #[test]
    fn bars_truncate_with_exact_arithmetic() {
        // lhist with buckets of 52, 15, 30 and 26, 15 counts (oracle output).
        assert_eq!(
            format_lhist(0, 10, 1, &[0, 0, 52, 15, 30]),
            format!(
                "[1, 2)                52 |{FULL}|\n\
                 [2, 3)                15 |@@@@@@@@@@@@@@@                                     |\n\
                 [3, 4)                30 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@                      |\n"
            )
        );
        assert_eq!(
            format_lhist(0, 10, 1, &[0, 0, 26, 15]),
            format!(
                "[1, 2)                26 |{FULL}|\n\
                 [2, 3)                15 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@                      |\n"
            )
        );
    }

    #[test]
    fn huge_counts_widen_the_column() {
        let rows = format_hist(&[0, 0, u64::MAX, 1, 123_456_789]);
        assert_eq!(
            rows,
            format!(
                "[1]             18446744073709551615 |{FULL}|\n\
                 [2, 4)                 1 |{EMPTY}|\n\
                 [4, 8)          123456789 |{}|\n",
                // 123456789 * 52 / u64::MAX rounds down to nothing.
                EMPTY
            )
        );
    }

    #[test]
    fn lhist_below_and_above_range() {
        // lhist(-5|100|99, 0, 100, 10), as the oracle printed it.
        let mut b = vec![0; 12];
        b[0] = 1;
        b[10] = 1;
        b[11] = 1;
        let mut want = format!("(..., 0)               1 |{FULL}|\n");
        for lo in (0..90).step_by(10) {
            want += &format!("{:<16}       0 |{EMPTY}|\n", format!("[{lo}, {})", lo + 10));
        }
        want += &format!("[90, 100)              1 |{FULL}|\n");
        want += &format!("[100, ...)             1 |{FULL}|\n");
        assert_eq!(format_lhist(0, 100, 10, &b), want);
    }

    #[test]
    fn lhist_labels_are_plain_numbers_and_max_bounds_overflow() {
        let mut b = vec![0; 12];
        b[0] = 1;
        b[6] = 1;
        b[11] = 1;
        let rows = format_lhist(0, 10000, 1000, &b);
        assert!(rows.contains("[5000, 6000)           1 |"));
        assert!(rows.contains("[9000, 10000)          0 |"));
        assert!(rows.ends_with(&format!("[10000, ...)           1 |{FULL}|\n")));
        // lhist(x, 0, 105, 10): 10 regular buckets, overflow labelled 105.
        let mut b = vec![0; 12];
        b[10] = 1;
        b[11] = 3;
        assert_eq!(
            format_lhist(0, 105, 10, &b),
            format!(
                "[90, 100)              1 |@@@@@@@@@@@@@@@@@                                   |\n\
                 [105, ...)             3 |{FULL}|\n"
            )
        );
        // Negative minimum (bpftrace 0.17 refuses it; the labels still work).
        let rows = format_lhist(-20, 20, 10, &[1, 1, 0, 0, 0, 0]);
        assert_eq!(rows, format!("(..., -20)             1 |{FULL}|\n[-20, -10)             1 |{FULL}|\n"));
        // A label wider than 16 columns pushes the count right.
        let mut b = vec![0; 6];
        b[5] = 1;
        assert!(format_lhist(0, 4_000_000_000, 1_000_000_000, &b).starts_with("[4000000000, ...)       1 |"));
    }

    #[test]
    fn bad_lhist_parameters_do_not_panic() {
        let half = format!("{}{}", "@".repeat(26), " ".repeat(26));
        // step 0: only the open-ended buckets; the extra bucket is ignored.
        assert_eq!(
            format_lhist(0, 10, 0, &[1, 2, 3]),
            format!("(..., 0)               1 |{half}|\n[10, ...)              2 |{FULL}|\n")
        );
        assert_eq!(format_lhist(10, 0, 5, &[0, 4]), format!("[0, ...)               4 |{FULL}|\n"));
        assert_eq!(
            format_lhist(i64::MIN, i64::MAX, 1, &[1]),
            format!("(..., -9223372036854775808)       1 |{FULL}|\n")
        );
    }

    #[test]
    fn divided_counts_keep_undivided_bars() {
        // print(@h, 0, 2) with [1]=4, [2,4)=2, [4,8)=1 (oracle output).
        assert_eq!(
            hist_rows(&[0, 0, 4, 2, 1], 2),
            format!(
                "[1]                    2 |{FULL}|\n\
                 [2, 4)                 1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |\n\
                 [4, 8)                 0 |@@@@@@@@@@@@@                                       |\n"
            )
        );
    }

    #[test]
    fn ranges_for_json() {
        let r = log2_ranges(&[0, 0, 0, 0, 0]);
        assert_eq!((r[0].0.min(), r[0].0.max()), (None, Some(-1)));
        assert_eq!((r[1].0.min(), r[1].0.max()), (Some(0), Some(0)));
        assert_eq!((r[2].0.min(), r[2].0.max()), (Some(1), Some(1)));
        assert_eq!((r[4].0.min(), r[4].0.max()), (Some(4), Some(7)));
        let r = lhist_ranges(0, 100, 10, &[0; 12]);
        assert_eq!((r[1].0.min(), r[1].0.max()), (Some(0), Some(9)));
        assert_eq!((r[11].0.min(), r[11].0.max()), (Some(100), None));
    }
}
