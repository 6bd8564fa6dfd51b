//! Matching names the user typed against names that exist: shell-style
//! globs for wildcards in attach points, and "did you mean" suggestions by
//! edit distance, shared by symbols, tracepoints, probe types, builtins and
//! functions.

/// Does `s` contain a wildcard?
pub(crate) fn is_glob(s: &str) -> bool {
    s.contains(['*', '?'])
}

/// Shell-style match of `*` (any run) and `?` (one character). Runs over
/// every symbol of a binary for `trace -l`, so ASCII (nearly every symbol)
/// is matched as bytes without allocating.
pub(crate) fn glob_match(pattern: &str, s: &str) -> bool {
    if pattern.is_ascii() && s.is_ascii() {
        glob(pattern.as_bytes(), s.as_bytes(), b'*', b'?')
    } else {
        let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), s.chars().collect());
        glob(&p, &t, '*', '?')
    }
}

fn glob<T: PartialEq + Copy>(p: &[T], t: &[T], star: T, any: T) -> bool {
    let (mut pi, mut ti) = (0, 0);
    // Where the last `*` was and how much it has consumed, for backtracking;
    // only the last star matters, so this is linear in practice.
    let mut last: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == any || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == star {
            last = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = last {
            pi = sp + 1;
            ti = st + 1;
            last = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == star)
}

/// Up to `max` candidates close to `target`, closest first: a small edit
/// distance, or containing it (people often remember a fragment of a name).
pub(crate) fn similar_names<'a>(
    target: &str,
    candidates: impl Iterator<Item = &'a str>,
    max: usize,
    ignore_case: bool,
) -> Vec<String> {
    let fold = |s: &str| if ignore_case { s.to_ascii_lowercase() } else { s.to_string() };
    let target_key = fold(target);
    let t = target_key.as_bytes();
    let limit = (t.len() / 3).max(1);
    let mut rows = (Vec::new(), Vec::new());
    let mut scored: Vec<(usize, &str)> = Vec::new();
    for cand in candidates {
        if cand == target {
            continue;
        }
        let substring =
            t.len() >= 4 && if ignore_case { fold(cand).contains(&target_key) } else { cand.contains(target) };
        if !substring && cand.len().abs_diff(t.len()) > limit {
            continue;
        }
        let d = if ignore_case {
            edit_distance(t, fold(cand).as_bytes(), &mut rows)
        } else {
            edit_distance(t, cand.as_bytes(), &mut rows)
        };
        if d <= limit || substring {
            scored.push((d.min(limit), cand));
        }
    }
    scored.sort();
    scored.dedup_by(|a, b| a.1 == b.1);
    scored.into_iter().take(max).map(|(_, s)| s.to_string()).collect()
}

/// Levenshtein distance over bytes, reusing the caller's row buffers.
fn edit_distance(a: &[u8], b: &[u8], rows: &mut (Vec<usize>, Vec<usize>)) -> usize {
    let (prev, cur) = rows;
    prev.clear();
    prev.extend(0..=b.len());
    cur.clear();
    cur.resize(b.len() + 1, 0);
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let sub = prev[j - 1] + usize::from(a[i - 1] != b[j - 1]);
            cur[j] = sub.min(prev[j] + 1).min(cur[j - 1] + 1);
        }
        std::mem::swap(prev, cur);
    }
    prev[b.len()]
}
