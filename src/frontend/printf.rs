//! The C `printf` format language as scripts use it in `printf()`: the
//! compiler parses a format once ([`parse_format`]) to check argument count
//! and types against [`Spec::arg_kind`] and to point diagnostics at the bad
//! specifier; the runtime renders each event's arguments with the parsed
//! [`Piece`]s (`runtime::output::printf`), never re-reading the string.
//!
//! Semantics are C's (glibc's), which is what bpftrace 0.17 hands its
//! arguments to; the rendering side documents the sharp edges. Where we
//! accept more than bpftrace 0.17: its pattern matcher silently printed `%i`,
//! and the `+`, space and `#` flags, as literal text; here they work as in
//! C. Unknown conversions, `%n` and `*` widths are errors rather than
//! literal text.

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

/// `time()` without an argument uses this format.
pub const DEFAULT_TIME_FORMAT: &str = "%H:%M:%S\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_structure() {
        let pieces = parse_format("a%-08.3lldb%%").unwrap();
        assert_eq!(pieces.len(), 4);
        assert_eq!(pieces[0], Piece::Lit("a".into()));
        let Piece::Spec(spec) = &pieces[1] else { panic!("not a spec: {pieces:?}") };
        assert!(spec.flags.left && spec.flags.zero && !spec.flags.plus);
        assert_eq!(
            (spec.width, spec.precision, spec.length, spec.conv),
            (Some(8), Some(3), Length::LongLong, Conversion::Signed)
        );
        assert_eq!(spec.span, 1..10);
        assert_eq!(spec.to_string(), "%-08.3lld");
        assert_eq!(spec.arg_kind(), Some(ArgKind::Int));
        let Piece::Spec(pct) = &pieces[3] else { panic!("not a spec: {pieces:?}") };
        assert_eq!((pct.arg_kind(), pct.span.clone()), (None, 11..13));
        assert_eq!(arg_count(&pieces), 1);

        let kinds: Vec<_> = parse_format("%s %c %d %u %x %p %%")
            .unwrap()
            .iter()
            .filter_map(|p| match p {
                Piece::Spec(s) => Some(s.arg_kind()),
                Piece::Lit(_) => None,
            })
            .collect();
        assert_eq!(
            kinds,
            [
                Some(ArgKind::Str),
                Some(ArgKind::Int),
                Some(ArgKind::Int),
                Some(ArgKind::Int),
                Some(ArgKind::Int),
                Some(ArgKind::Int),
                None
            ]
        );
        // A lone `.` is precision 0.
        let pieces = parse_format("%.d").unwrap();
        assert!(matches!(pieces.as_slice(), [Piece::Spec(Spec { precision: Some(0), .. })]));
    }

    #[test]
    fn errors_point_at_the_specifier() {
        let err = |f: &str| parse_format(f).err().map(|e| (e.to_string(), e.span()));
        assert_eq!(err("ab %q"), Some(("invalid conversion `%q`".into(), 3..5)));
        assert_eq!(err("%5.2lq x"), Some(("invalid conversion `%5.2lq`".into(), 0..6)));
        assert_eq!(err("x %é"), Some(("invalid conversion `%é`".into(), 2..5)));
        assert_eq!(err("%f"), Some(("invalid conversion `%f`".into(), 0..2)));
        assert_eq!(err("%ls"), Some(("invalid conversion `%ls`".into(), 0..3)));
        assert_eq!(err("%lc"), Some(("invalid conversion `%lc`".into(), 0..3)));
        assert_eq!(err("%5%"), Some(("invalid conversion `%5%`".into(), 0..3)));
        assert_eq!(err("%Lu"), Some(("invalid conversion `%L`".into(), 0..2)));
        assert_eq!(err("abc %"), Some(("incomplete format specifier".into(), 4..5)));
        assert_eq!(err("%-5"), Some(("incomplete format specifier".into(), 0..3)));
        assert_eq!(err("%ll"), Some(("incomplete format specifier".into(), 0..3)));
        assert_eq!(err("%d %n"), Some(("%n is not supported".into(), 3..5)));
        assert_eq!(err("%lln"), Some(("%n is not supported".into(), 0..4)));
        assert!(matches!(parse_format("%*d"), Err(FormatError::StarWidth { .. })));
        assert!(matches!(parse_format("%.*d"), Err(FormatError::StarWidth { .. })));
        assert!(matches!(parse_format("%99999999999999999999999d"), Err(FormatError::FieldTooWide { .. })));
        assert!(matches!(parse_format("%.70000s"), Err(FormatError::FieldTooWide { .. })));
        assert_eq!(parse_format("x %q").err().map(|e| e.offset()), Some(2));
    }
}
