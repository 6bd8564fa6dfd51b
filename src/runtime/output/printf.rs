//! C `printf` formats as scripts use them in `printf()`, `system()`-style
//! builtins and `time()`.
//!
//! The compiler parses a format once ([`parse_format`]) to check argument
//! count and types against [`Spec::arg_kind`] and to point diagnostics at
//! the bad specifier; the runtime then [`render`]s each event's arguments
//! with the parsed pieces, never re-reading the string.
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
//! Where we accept more than bpftrace 0.17: its pattern matcher silently
//! printed `%i`, and the `+`, space and `#` flags, as literal text; here
//! they work as in C. Unknown conversions, `%n` and `*` widths are errors
//! rather than literal text.

use super::value::Scalar;
use std::fmt;
use std::ops::Range;

/// Largest width or precision accepted; beyond this a format is almost
/// certainly a typo, and the padding would be built on every event.
const MAX_FIELD: usize = 65_535;

/// A parsed format string: literal text and conversion specifiers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Piece {
    Lit(String),
    Spec(Spec),
}

/// The flag characters of one specifier.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flags {
    /// `-`: pad on the right.
    pub left: bool,
    /// `0`: pad numbers with zeros (ignored with `-` or a precision).
    pub zero: bool,
    /// `+`: always print a sign on signed conversions.
    pub plus: bool,
    /// ` `: a space where a `+` would go.
    pub space: bool,
    /// `#`: `0x`/`0X` before non-zero hex, a leading `0` for octal.
    pub alt: bool,
}

/// The length modifier, which decides how many bits of the 64-bit argument
/// an integer conversion reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Length {
    /// No modifier: a C `int` (32 bits).
    Int,
    /// `hh`: 8 bits.
    Char,
    /// `h`: 16 bits.
    Short,
    /// `l`
    Long,
    /// `ll`
    LongLong,
    /// `z`
    Size,
    /// `j`
    Max,
}

impl Length {
    pub fn bits(self) -> u32 {
        match self {
            Length::Int => 32,
            Length::Char => 8,
            Length::Short => 16,
            Length::Long | Length::LongLong | Length::Size | Length::Max => 64,
        }
    }

    fn text(self) -> &'static str {
        match self {
            Length::Int => "",
            Length::Char => "hh",
            Length::Short => "h",
            Length::Long => "l",
            Length::LongLong => "ll",
            Length::Size => "z",
            Length::Max => "j",
        }
    }
}

/// The conversion character.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conversion {
    /// `d`
    Signed,
    /// `i`, same as `d`.
    SignedI,
    /// `u`
    Unsigned,
    /// `x`
    Hex,
    /// `X`
    UpperHex,
    /// `o`
    Octal,
    /// `c`
    Char,
    /// `s`
    Str,
    /// `p`
    Pointer,
    /// `%%`
    Percent,
}

impl Conversion {
    fn letter(self) -> char {
        match self {
            Conversion::Signed => 'd',
            Conversion::SignedI => 'i',
            Conversion::Unsigned => 'u',
            Conversion::Hex => 'x',
            Conversion::UpperHex => 'X',
            Conversion::Octal => 'o',
            Conversion::Char => 'c',
            Conversion::Str => 's',
            Conversion::Pointer => 'p',
            Conversion::Percent => '%',
        }
    }
}

/// One conversion specifier, e.g. `%-16s` or `%05lld`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spec {
    pub flags: Flags,
    pub width: Option<usize>,
    pub precision: Option<usize>,
    pub length: Length,
    pub conv: Conversion,
    /// Byte range of the specifier in the format string, `%` included.
    pub span: Range<usize>,
}

/// What kind of argument a specifier consumes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgKind {
    Int,
    Str,
}

impl Spec {
    /// `None` for `%%`, which consumes no argument.
    pub fn arg_kind(&self) -> Option<ArgKind> {
        match self.conv {
            Conversion::Percent => None,
            Conversion::Str => Some(ArgKind::Str),
            _ => Some(ArgKind::Int),
        }
    }
}

impl fmt::Display for Spec {
    /// The specifier in canonical spelling (flags in a fixed order).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("%")?;
        let fl = self.flags;
        for (on, c) in [(fl.left, '-'), (fl.zero, '0'), (fl.plus, '+'), (fl.space, ' '), (fl.alt, '#')] {
            if on {
                write!(f, "{c}")?;
            }
        }
        if let Some(w) = self.width {
            write!(f, "{w}")?;
        }
        if let Some(p) = self.precision {
            write!(f, ".{p}")?;
        }
        write!(f, "{}{}", self.length.text(), self.conv.letter())
    }
}

/// Why a format string was rejected; every variant carries the byte range
/// of the offending specifier so the caller can point a diagnostic at it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error("invalid conversion `{text}`")]
    InvalidConversion { span: Range<usize>, text: String },
    #[error("incomplete format specifier")]
    Incomplete { span: Range<usize> },
    #[error("%n is not supported")]
    PercentN { span: Range<usize> },
    #[error("`*` widths and precisions are not supported; write the number into the format")]
    StarWidth { span: Range<usize> },
    #[error("field width or precision is larger than {MAX_FIELD}")]
    FieldTooWide { span: Range<usize> },
}

impl FormatError {
    /// Byte range of the offending specifier.
    pub fn span(&self) -> Range<usize> {
        match self {
            FormatError::InvalidConversion { span, .. }
            | FormatError::Incomplete { span }
            | FormatError::PercentN { span }
            | FormatError::StarWidth { span }
            | FormatError::FieldTooWide { span } => span.clone(),
        }
    }

    /// Byte offset of the `%` that starts the offending specifier.
    pub fn offset(&self) -> usize {
        self.span().start
    }
}

/// Reads a decimal field starting at `*i`; `None` if there are no digits.
fn number(bytes: &[u8], i: &mut usize, start: usize) -> Result<Option<usize>, FormatError> {
    let begin = *i;
    let mut n: usize = 0;
    while let Some(d) = bytes.get(*i).filter(|b| b.is_ascii_digit()) {
        n = n.saturating_mul(10).saturating_add(usize::from(d - b'0'));
        *i += 1;
    }
    if *i == begin {
        Ok(None)
    } else if n > MAX_FIELD {
        Err(FormatError::FieldTooWide { span: start..*i })
    } else {
        Ok(Some(n))
    }
}

/// Parses one specifier whose `%` is at `start`; returns it and the index
/// just past it.
fn parse_spec(fmt: &str, start: usize) -> Result<(Spec, usize), FormatError> {
    let bytes = fmt.as_bytes();
    let mut i = start + 1;
    let incomplete = || FormatError::Incomplete { span: start..fmt.len() };
    let mut flags = Flags::default();
    loop {
        match bytes.get(i) {
            Some(b'-') => flags.left = true,
            Some(b'0') => flags.zero = true,
            Some(b'+') => flags.plus = true,
            Some(b' ') => flags.space = true,
            Some(b'#') => flags.alt = true,
            _ => break,
        }
        i += 1;
    }
    if bytes.get(i) == Some(&b'*') {
        return Err(FormatError::StarWidth { span: start..i + 1 });
    }
    let width = number(bytes, &mut i, start)?;
    let mut precision = None;
    if bytes.get(i) == Some(&b'.') {
        i += 1;
        if bytes.get(i) == Some(&b'*') {
            return Err(FormatError::StarWidth { span: start..i + 1 });
        }
        // C: a lone `.` means precision 0.
        precision = Some(number(bytes, &mut i, start)?.unwrap_or(0));
    }
    let (length, len_bytes) = match (bytes.get(i), bytes.get(i + 1)) {
        (Some(b'h'), Some(b'h')) => (Length::Char, 2),
        (Some(b'h'), _) => (Length::Short, 1),
        (Some(b'l'), Some(b'l')) => (Length::LongLong, 2),
        (Some(b'l'), _) => (Length::Long, 1),
        (Some(b'z'), _) => (Length::Size, 1),
        (Some(b'j'), _) => (Length::Max, 1),
        _ => (Length::Int, 0),
    };
    i += len_bytes;
    // `i` only ever moved over ASCII bytes, so it is on a char boundary.
    let c = fmt.get(i..).and_then(|rest| rest.chars().next()).ok_or_else(incomplete)?;
    let end = i + c.len_utf8();
    let plain = width.is_none() && precision.is_none() && flags == Flags::default();
    let conv = match c {
        'd' => Conversion::Signed,
        'i' => Conversion::SignedI,
        'u' => Conversion::Unsigned,
        'x' => Conversion::Hex,
        'X' => Conversion::UpperHex,
        'o' => Conversion::Octal,
        // C's %lc/%ls are wide characters, which scripts do not have.
        'c' if length == Length::Int => Conversion::Char,
        's' if length == Length::Int => Conversion::Str,
        // bpftrace 0.17 accepts %lp; the modifier changes nothing.
        'p' => Conversion::Pointer,
        '%' if plain && length == Length::Int => Conversion::Percent,
        'n' => return Err(FormatError::PercentN { span: start..end }),
        _ => return Err(FormatError::InvalidConversion { span: start..end, text: fmt[start..end].to_string() }),
    };
    Ok((Spec { flags, width, precision, length, conv, span: start..end }, end))
}

/// Splits a format string into literal text and specifiers.
pub fn parse_format(fmt: &str) -> Result<Vec<Piece>, FormatError> {
    let mut pieces = Vec::new();
    let mut lit_start = 0;
    let mut i = 0;
    while let Some(off) = fmt[i..].find('%') {
        let start = i + off;
        if start > lit_start {
            pieces.push(Piece::Lit(fmt[lit_start..start].to_string()));
        }
        let (spec, end) = parse_spec(fmt, start)?;
        pieces.push(Piece::Spec(spec));
        i = end;
        lit_start = end;
    }
    if lit_start < fmt.len() {
        pieces.push(Piece::Lit(fmt[lit_start..].to_string()));
    }
    Ok(pieces)
}

/// Number of arguments the pieces consume.
pub fn arg_count(pieces: &[Piece]) -> usize {
    pieces.iter().filter(|p| matches!(p, Piece::Spec(s) if s.arg_kind().is_some())).count()
}

/// Formats the arguments into the pieces, as C's `printf` would.
///
/// The type checker guarantees one argument of the right kind per
/// specifier; if that is ever violated this still prints something useful
/// rather than panicking: a missing argument prints the specifier itself,
/// a string under an integer conversion prints as `%s` would, and an
/// integer under `%s` prints in decimal.
pub fn render(pieces: &[Piece], args: &[Scalar]) -> String {
    let mut out = String::new();
    let mut args = args.iter();
    for piece in pieces {
        match piece {
            Piece::Lit(text) => out.push_str(text),
            Piece::Spec(spec) if spec.conv == Conversion::Percent => out.push('%'),
            Piece::Spec(spec) => match args.next() {
                Some(arg) => render_spec(spec, arg, &mut out),
                None => out.push_str(&spec.to_string()),
            },
        }
    }
    out
}

fn render_spec(spec: &Spec, arg: &Scalar, out: &mut String) {
    let raw = match arg {
        Scalar::Int(v) => *v as u64,
        Scalar::UInt(v) => *v,
        Scalar::Str(s) => {
            let text = truncate(s, spec.precision);
            return pad(out, text, text.len(), spec.width, spec.flags.left);
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
            pad(out, &char::from(byte).to_string(), 1, spec.width, spec.flags.left)
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

/// `time()` without an argument uses this format.
pub const DEFAULT_TIME_FORMAT: &str = "%H:%M:%S\n";

/// bpftrace's `time(fmt)`: the local time now, through the C library's
/// `strftime` so every conversion (and the locale) behaves as users expect.
pub fn format_time(fmt: &str) -> String {
    crate::sys::format_local_time(fmt)
}

#[cfg(test)]
#[path = "printf_tests.rs"]
mod tests;
