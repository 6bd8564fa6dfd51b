//! Token-level mutation of program and specifier text.
//!
//! The text is cut into rough tokens (words, numbers, strings, operators,
//! blanks) so that a mutation removes, repeats, swaps or replaces whole
//! tokens, as a person editing a script would, and keeps most inputs close
//! to valid. A few mutations work on characters instead (odd bytes, unicode,
//! NUL, a lone quote), and one repeats a piece hundreds of times to reach
//! the lexer's size limits. Splicing takes the head of one corpus entry and
//! the tail of another. The caller supplies a generator for fresh pieces
//! (an expression, a statement, an attach point) in its own grammar.

use crate::rng::Rng;

/// Tokens inserted or swapped in: the language's operators and keywords.
pub const DICTIONARY: &[&str] = &[
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    "/",
    ";",
    ",",
    ":",
    "::",
    ".",
    "->",
    "?",
    "=",
    "==",
    "++",
    "--",
    "+=",
    "<<=",
    "&&",
    "||",
    "!",
    "~",
    "*",
    "&",
    "@",
    "$",
    "$#",
    "$1",
    "\"",
    "'",
    "#",
    "if",
    "else",
    "sizeof",
    "offsetof",
    "struct",
    "union",
    "enum",
    "while",
    "return",
    "unroll",
    "args",
    "arg0",
    "arg12",
    "retval",
    "comm",
    "probe",
    "func",
    "count()",
    "hist(",
    "str(",
    "printf(\"%d\\n\", ",
    "(uint64)",
    "(int8)",
    "(db_shard_t *)",
    "BEGIN",
    "END",
    "uprobe:",
    "usdt:",
    "t:",
    "interval:s:1",
    "*",
    "/*",
    "*/",
    "//",
    "\n",
    "\\",
    "0",
    "-1",
    "18446744073709551615",
    "0x",
    "\"\\x\"",
    "$entry(",
    "$retval",
    "$latency",
    "#label",
];

/// What kind of character a token is made of.
fn class(c: char) -> u8 {
    match c {
        c if c.is_alphanumeric() || c == '_' || c == '$' || c == '@' => 0,
        c if c.is_whitespace() => 1,
        '"' => 2,
        _ => 3,
    }
}

/// How much one repetition may add.
const MAX_GROWTH: usize = 32 << 10;

/// Cut `text` into tokens; concatenating them gives `text` back.
pub fn tokens(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let mut tok = String::from(c);
        match class(c) {
            2 => {
                // A string literal, escapes included, to its closing quote.
                let mut escaped = false;
                for d in chars.by_ref() {
                    tok.push(d);
                    if d == '"' && !escaped {
                        break;
                    }
                    escaped = d == '\\' && !escaped;
                }
            }
            3 => {}
            k => {
                while let Some(&d) = chars.peek() {
                    if class(d) != k {
                        break;
                    }
                    tok.push(d);
                    chars.next();
                }
            }
        }
        out.push(tok);
    }
    out
}

/// Apply one to four mutations to `text`. `corpus` is for splicing,
/// `fresh` makes a new piece of the target's grammar, `numbers` are
/// interesting literals.
pub fn mutate(
    rng: &mut Rng,
    text: &str,
    corpus: &[String],
    numbers: &[&str],
    fresh: &mut dyn FnMut(&mut Rng) -> String,
) -> String {
    let mut toks = tokens(text);
    for _ in 0..rng.range(1, 4) {
        let n = toks.len();
        let at = rng.below(n + 1);
        match rng.below(14) {
            0 if n > 0 => {
                let end = (at + 1 + rng.small(4)).min(n);
                toks.drain(at.min(end)..end);
            }
            1 if at < n => {
                let end = (at + 1 + rng.small(6)).min(n);
                let copy: Vec<String> = toks[at..end].to_vec();
                toks.splice(end..end, copy);
            }
            2 if n > 1 => {
                let other = rng.below(n);
                toks.swap(at.min(n - 1), other);
            }
            3 => toks.insert(at, rng.pick(DICTIONARY).to_string()),
            4 if at < n => toks[at] = rng.pick(DICTIONARY).to_string(),
            5 => {
                // A number for a number (or for anything).
                let i = (0..n).map(|k| (at + k) % n).find(|&i| toks[i].starts_with(|c: char| c.is_ascii_digit()));
                let num = rng.pick(numbers).to_string();
                match i {
                    Some(i) => toks[i] = num,
                    None => toks.insert(at, num),
                }
            }
            6 | 7 => {
                let piece = fresh(rng);
                if at < n && rng.chance(1, 2) {
                    toks[at] = piece;
                } else {
                    toks.insert(at, piece);
                }
            }
            8 if !corpus.is_empty() => {
                // Head of this text, tail of another.
                let other = tokens(rng.pick(corpus).as_str());
                let from = rng.below(other.len() + 1);
                toks.truncate(at);
                toks.extend(other[from..].iter().cloned());
            }
            9 => {
                let weird =
                    *rng.pick(&["\0", "\r", "\u{7f}", "é", "\u{202e}", "\u{FEFF}", "\"", "'", "\\", "`", "#", "\t"]);
                toks.insert(at, weird.to_string());
            }
            10 if at < n && !toks[at].is_empty() => {
                // Drop or double one character of a token.
                let t: Vec<char> = toks[at].chars().collect();
                let k = rng.below(t.len());
                let mut s: String = t[..k].iter().collect();
                if rng.chance(1, 2) {
                    s.push(t[k]);
                    s.push(t[k]);
                }
                s.extend(&t[k + 1..]);
                toks[at] = s;
            }
            11 if at < n => {
                // A piece repeated many times: nesting, long statements.
                let end = (at + 1 + rng.small(3)).min(n);
                let piece: String = toks[at..end].concat();
                // Past the lexer's limits, but no input beyond ~64 KiB: a
                // bigger one only measures how fast megabytes are read.
                let times = (*rng.pick(&[2usize, 10, 100, 600, 1100])).min(MAX_GROWTH / piece.len().max(1));
                toks.insert(at, piece.repeat(times));
            }
            12 if n > 0 => {
                // Truncation.
                toks.truncate(at);
            }
            _ => toks.insert(at, " ".to_string()),
        }
    }
    toks.concat()
}
