//! C `printf` formats as scripts use them in `printf()`, `system()`-style
//! builtins and `time()`.
//!
//! The compiler parses a format once (`frontend::printf`, the format
//! language); the runtime then [`render`]s each event's arguments with the
//! parsed pieces, never re-reading the string.
//!
//! Semantics are C's (glibc's), which is what bpftrace 0.17 hands its
//! arguments to, so the sharp edges match it too:
//!
//! * Without a length modifier an integer conversion reads a C `int`:
//!   `%d` of 5000000000 prints 705032704 and `%x` of -42 prints `ffffffd6`.
//!   `l`, `ll`, `z` and `j` read all 64 bits; `h` 16 and `hh` 8.
//! * `%p` prints `0x` and lowercase hex of all 64 bits, and `(nil)` for 0.
//! * `%c` prints the low byte; a NUL prints nothing (bpftrace cuts each
//!   formatted field at its first NUL), bytes >= 0x80 print as the Latin-1
//!   character because the output is a Rust string.
//! * `%s` precision and width count bytes, as C does; precision never
//!   splits a UTF-8 character.
//!
//! The arguments are traced data; [`render_with`] prints their control
//! characters as [`Strings`] says (escaped on a terminal, see
//! `strings.rs`), after precision cuts the string and before width pads
//! it, so the padding fits what is shown. The format's own text prints as
//! written.

use super::strings::Strings;
use super::value::Scalar;
use crate::frontend::printf::{Conversion, Piece, Spec};

/// Formats the arguments into the pieces, as C's `printf` would.
///
/// The type checker guarantees one argument of the right kind per
/// specifier; if that is ever violated this still prints something useful
/// rather than panicking: a missing argument prints the specifier itself,
/// a string under an integer conversion prints as `%s` would, and an
/// integer under `%s` prints in decimal.
pub fn render(pieces: &[Piece], args: &[Scalar]) -> String {
    render_with(pieces, args, Strings::Raw)
}

/// [`render`], with the `%s` and `%c` arguments shown as `strings` says.
pub fn render_with(pieces: &[Piece], args: &[Scalar], strings: Strings) -> String {
    let mut out = String::new();
    let mut args = args.iter();
    for piece in pieces {
        match piece {
            Piece::Lit(text) => out.push_str(text),
            Piece::Spec(spec) if spec.conv == Conversion::Percent => out.push('%'),
            Piece::Spec(spec) => match args.next() {
                Some(arg) => render_spec(spec, arg, strings, &mut out),
                None => out.push_str(&spec.to_string()),
            },
        }
    }
    out
}

fn render_spec(spec: &Spec, arg: &Scalar, strings: Strings, out: &mut String) {
    let raw = match arg {
        Scalar::Int(v) => *v as u64,
        Scalar::UInt(v) | Scalar::Ptr(v) => *v,
        Scalar::Str(s) => {
            let text = strings.show(truncate(s, spec.precision));
            return pad(out, &text, text.len(), spec.width, spec.flags.left);
        }
        Scalar::Stack(s) => {
            let text = s.text(8);
            return pad(out, &text, text.len(), spec.width, spec.flags.left);
        }
        Scalar::Tuple(_) | Scalar::Struct { .. } | Scalar::Array(_) => {
            let text = strings.show(&arg.to_string()).into_owned();
            return pad(out, &text, text.len(), spec.width, spec.flags.left);
        }
    };
    match spec.conv {
        Conversion::Str => {
            let text = match arg {
                Scalar::Int(v) => v.to_string(),
                _ => raw.to_string(),
            };
            pad(out, &text, text.len(), spec.width, spec.flags.left)
        }
        Conversion::Char => {
            let byte = raw as u8;
            if byte == 0 {
                // The field is cut at the NUL: right-justified padding
                // survives, a left-justified field vanishes.
                if !spec.flags.left {
                    out.push_str(&" ".repeat(spec.width.unwrap_or(0).saturating_sub(1)));
                }
                return;
            }
            let c = char::from(byte).to_string();
            let text = strings.show(&c);
            pad(out, &text, text.chars().count(), spec.width, spec.flags.left)
        }
        Conversion::Pointer if raw == 0 => pad(out, "(nil)", 5, spec.width, spec.flags.left),
        _ => render_int(spec, raw, out),
    }
}

/// `s` cut to at most `precision` bytes (and at a NUL, as C stops there),
/// backing off to a character boundary.
fn truncate(s: &str, precision: Option<usize>) -> &str {
    let s = s.split('\0').next().unwrap_or("");
    let Some(mut n) = precision else { return s };
    if n >= s.len() {
        return s;
    }
    while !s.is_char_boundary(n) {
        n -= 1;
    }
    &s[..n]
}

fn pad(out: &mut String, text: &str, cols: usize, width: Option<usize>, left: bool) {
    let fill = " ".repeat(width.unwrap_or(0).saturating_sub(cols));
    if left {
        out.push_str(text);
        out.push_str(&fill);
    } else {
        out.push_str(&fill);
        out.push_str(text);
    }
}

/// d i u x X o p: C's integer formatting on the bits the length selects.
fn render_int(spec: &Spec, raw: u64, out: &mut String) {
    let bits = if spec.conv == Conversion::Pointer { 64 } else { spec.length.bits() };
    let mask = if bits == 64 { u64::MAX } else { (1u64 << bits) - 1 };
    let value = raw & mask;
    let signed = matches!(spec.conv, Conversion::Signed | Conversion::SignedI);
    // Sign-extend from the selected width for d/i.
    let (negative, magnitude) = if signed {
        let shift = 64 - bits;
        let v = ((value << shift) as i64) >> shift;
        (v < 0, v.unsigned_abs())
    } else {
        (false, value)
    };
    let mut digits = match spec.conv {
        Conversion::Hex | Conversion::Pointer => format!("{magnitude:x}"),
        Conversion::UpperHex => format!("{magnitude:X}"),
        Conversion::Octal => format!("{magnitude:o}"),
        _ => magnitude.to_string(),
    };
    if spec.precision == Some(0) && magnitude == 0 {
        digits.clear();
    }
    if let Some(p) = spec.precision {
        if digits.len() < p {
            digits = "0".repeat(p - digits.len()) + &digits;
        }
    }
    let flags = spec.flags;
    let prefix = match spec.conv {
        _ if negative => "-",
        Conversion::Signed | Conversion::SignedI if flags.plus => "+",
        Conversion::Signed | Conversion::SignedI if flags.space => " ",
        Conversion::Pointer => "0x",
        Conversion::Hex if flags.alt && magnitude != 0 => "0x",
        Conversion::UpperHex if flags.alt && magnitude != 0 => "0X",
        _ => "",
    };
    if spec.conv == Conversion::Octal && flags.alt && !digits.starts_with('0') {
        digits.insert(0, '0');
    }
    let len = prefix.len() + digits.len();
    let width = spec.width.unwrap_or(0);
    if flags.zero && !flags.left && spec.precision.is_none() && width > len {
        out.push_str(prefix);
        out.push_str(&"0".repeat(width - len));
        out.push_str(&digits);
    } else {
        pad(out, &(prefix.to_string() + &digits), len, spec.width, flags.left);
    }
}

/// bpftrace's `time(fmt)`: the local time now, through the C library's
/// `strftime` so every conversion (and the locale) behaves as users expect.
pub fn format_time(fmt: &str) -> String {
    crate::sys::format_local_time(fmt)
}

#[cfg(test)]
#[path = "printf_tests.rs"]
mod tests;
