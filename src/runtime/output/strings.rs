//! Traced strings on a terminal. What the kernel hands over — `comm`,
//! `str()`, string map keys and values, `printf` `%s` and `%c` arguments —
//! is data anybody on the system can choose (a process names itself, a file
//! is named), and a terminal obeys the control characters in what it
//! prints: an escape sequence can move the cursor, rewrite lines already
//! printed, retitle the window or, through OSC 52, write the clipboard.
//! bpftrace prints them raw. When stdout is a terminal, trace prints them
//! as C escapes instead:
//!
//! * bytes below 0x20 and DEL: `\a \b \t \n \v \f \r`, the rest `\xNN`
//!   (`\x1b` for ESC);
//! * C1 controls (U+0080 to U+009F; some terminals take U+009B as CSI):
//!   `\u009b`, the code point, as the bytes are the two of its UTF-8.
//!
//! Everything else prints as it is, backslashes too (so the escaping is for
//! the eye, not reversible). Only the data is escaped: the program's own
//! text, such as a `printf` format's `\t` and `\n`, is the user's and
//! prints as written. `--raw-strings` prints the data raw on a terminal
//! too, and output into a pipe or file is raw as it always was. `-f json`
//! escapes in its own way, in every case.

use std::borrow::Cow;
use std::fmt::Write;
use std::io::IsTerminal;

use super::value::{AggValue, MapDump, Scalar};

/// How the text output prints traced strings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Strings {
    /// As they are.
    #[default]
    Raw,
    /// Control characters as C escapes.
    Escaped,
}

impl Strings {
    /// Escaped when stdout is a terminal, unless `raw` (`--raw-strings`).
    pub fn for_stdout(raw: bool) -> Strings {
        Strings::for_terminal(std::io::stdout().is_terminal(), raw)
    }

    fn for_terminal(terminal: bool, raw: bool) -> Strings {
        if terminal && !raw {
            Strings::Escaped
        } else {
            Strings::Raw
        }
    }

    /// `s` as this policy prints it.
    pub fn show(self, s: &str) -> Cow<'_, str> {
        match self {
            Strings::Escaped => escape(s),
            Strings::Raw => Cow::Borrowed(s),
        }
    }

    /// A value as this policy prints it (integers are unchanged).
    pub fn scalar(self, v: &Scalar) -> Cow<'_, Scalar> {
        match v {
            Scalar::Str(s) => match self.show(s) {
                Cow::Owned(shown) => Cow::Owned(Scalar::Str(shown)),
                Cow::Borrowed(_) => Cow::Borrowed(v),
            },
            v => match super::record::map_strings(v, &|s| self.show(s)) {
                Some(shown) => Cow::Owned(shown),
                None => Cow::Borrowed(v),
            },
        }
    }

    /// A map with its string keys and values as this policy prints them.
    /// Sorting happens afterwards, on what is shown.
    pub fn map(self, dump: &MapDump) -> Cow<'_, MapDump> {
        let changes = |v: &Scalar| matches!(self.scalar(v), Cow::Owned(_));
        let touched = dump
            .entries
            .iter()
            .any(|(keys, value)| keys.iter().any(changes) || matches!(value, AggValue::Plain(v) if changes(v)));
        if !touched {
            return Cow::Borrowed(dump);
        }
        let show = |v: &Scalar| self.scalar(v).into_owned();
        let entries = dump
            .entries
            .iter()
            .map(|(keys, value)| {
                let value = match value {
                    AggValue::Plain(v) => AggValue::Plain(show(v)),
                    other => other.clone(),
                };
                (keys.iter().map(show).collect(), value)
            })
            .collect();
        Cow::Owned(MapDump { name: dump.name.clone(), keys_arity: dump.keys_arity, entries })
    }
}

/// Whether `c` is escaped: C0 controls, DEL and C1 controls.
fn is_escaped(c: char) -> bool {
    c.is_control()
}

/// `s` with its control characters as C escapes (see the module doc).
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_escaped) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        let _ = match c {
            '\x07' => out.write_str("\\a"),
            '\x08' => out.write_str("\\b"),
            '\t' => out.write_str("\\t"),
            '\n' => out.write_str("\\n"),
            '\x0b' => out.write_str("\\v"),
            '\x0c' => out.write_str("\\f"),
            '\r' => out.write_str("\\r"),
            c if u32::from(c) < 0x80 && is_escaped(c) => write!(out, "\\x{:02x}", u32::from(c)),
            c if is_escaped(c) => write!(out, "\\u{:04x}", u32::from(c)),
            c => out.write_char(c),
        };
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_become_c_escapes() {
        assert_eq!(escape("plain text, é ✓ \\n"), "plain text, é ✓ \\n");
        assert!(matches!(escape("plain"), Cow::Borrowed(_)));
        assert_eq!(escape("a\tb\nc\r\x07\x08\x0b\x0c"), "a\\tb\\nc\\r\\a\\b\\v\\f");
        assert_eq!(escape("\x01\x1f\x7f"), "\\x01\\x1f\\x7f");
        // OSC 52 (write the clipboard) and a CSI that clears the screen.
        assert_eq!(escape("x\x1b]52;c;aGk=\x07y"), "x\\x1b]52;c;aGk=\\ay");
        assert_eq!(escape("\x1b[2J"), "\\x1b[2J");
        // C1 controls, as their code points; the next character is printable.
        assert_eq!(escape("\u{9b}2J\u{80}\u{9f}\u{a0}"), "\\u009b2J\\u0080\\u009f\u{a0}");
        // Every byte below 0x20, and only those, DEL and C1 change.
        for c in (0..=0xffu32).filter_map(char::from_u32) {
            let changed = escape(&c.to_string()) != c.to_string();
            assert_eq!(changed, c < ' ' || ('\x7f'..='\u{9f}').contains(&c), "{c:?}");
        }
    }

    #[test]
    fn the_policy_follows_the_terminal_and_the_flag() {
        assert_eq!(Strings::for_terminal(true, false), Strings::Escaped);
        assert_eq!(Strings::for_terminal(true, true), Strings::Raw);
        assert_eq!(Strings::for_terminal(false, false), Strings::Raw);
        assert_eq!(Strings::for_terminal(false, true), Strings::Raw);
        assert_eq!(Strings::Raw.show("a\x1bb"), "a\x1bb");
        assert_eq!(Strings::Escaped.show("a\x1bb"), "a\\x1bb");
    }

    #[test]
    fn maps_escape_string_keys_and_values_only() {
        let s = |v: &str| Scalar::Str(v.to_string());
        let dump = MapDump {
            name: "@m".into(),
            keys_arity: 2,
            entries: vec![
                (vec![s("a\nb"), Scalar::Int(1)], AggValue::Plain(s("\x1b[31mred"))),
                (vec![s("ok"), Scalar::Int(2)], AggValue::Hist(vec![0, 1])),
            ],
        };
        let shown = Strings::Escaped.map(&dump);
        assert_eq!(shown.entries[0], (vec![s("a\\nb"), Scalar::Int(1)], AggValue::Plain(s("\\x1b[31mred"))));
        assert_eq!(shown.entries[1], dump.entries[1]);
        assert!(matches!(Strings::Raw.map(&dump), Cow::Borrowed(_)));
        let clean = MapDump { entries: vec![dump.entries[1].clone()], ..dump.clone() };
        assert!(matches!(Strings::Escaped.map(&clean), Cow::Borrowed(_)));
    }
}
