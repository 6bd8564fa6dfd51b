//! Tokens of the bpftrace language and the literal decoding done while
//! lexing them.
//!
//! [`Tok`] is derived with logos, which only knows the context-free part of
//! the language (operators, literals, identifiers, keywords). The two
//! context-sensitive tokens, [`Tok::AttachPoint`] and [`Tok::EndPred`], have
//! no logos pattern: the mode-switching wrapper in `lexer.rs` produces them.
//!
//! Literal values are decoded here, in logos callbacks, so that a malformed
//! literal becomes a [`LexError`] pointing at the exact bytes at fault rather
//! than a vague parse error later.

use logos::{Lexer, Logos};
use std::fmt;

/// What can go wrong while cutting the source into tokens. Offsets inside a
/// variant are relative to the start of the token; the wrapper in `lexer.rs`
/// turns them into absolute spans.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum LexError {
    /// A character that starts no token (the logos default error).
    #[default]
    InvalidChar,
    UnterminatedString,
    UnterminatedComment,
    /// A bad `\` escape in a string literal, at `at..at+len` in the token.
    BadEscape {
        at: usize,
        len: usize,
    },
    /// The decoded bytes of a string literal are not UTF-8.
    NonUtf8String,
    /// A malformed or out-of-range number; the text says which.
    BadNumber(&'static str),
}

/// One token. Literal variants carry their decoded value.
#[derive(Logos, Clone, Debug, PartialEq, Eq)]
#[logos(error = LexError)]
#[logos(skip r"[ \t\r\n\f]+")]
#[logos(skip r"//[^\n]*")]
#[logos(skip("/\\*", block_comment))]
pub enum Tok {
    // Literals and names.
    #[regex(r"[0-9][0-9A-Za-z_]*", number)]
    Int(i64),
    #[token("\"", string)]
    Str(String),
    #[regex(r"[A-Za-z_][A-Za-z0-9_]*", |lex| lex.slice().to_string())]
    Ident(String),
    /// `$name` (the `$` is not part of the payload).
    #[regex(r"\$[A-Za-z_][A-Za-z0-9_]*", |lex| lex.slice()[1..].to_string())]
    Var(String),
    /// `$1`, `$2`, ...
    #[regex(r"\$[0-9]+", positional)]
    Positional(u32),
    #[token("$#")]
    PositionalCount,
    /// `@name` or the anonymous `@` (empty payload).
    #[regex(r"@([A-Za-z_][A-Za-z0-9_]*)?", |lex| lex.slice()[1..].to_string())]
    Map(String),
    /// An integer type keyword usable in casts: bpftrace's `uint32` family
    /// plus the C spellings (`unsigned long` is two of these in a row).
    #[token("uint8", |lex| lex.slice().to_string())]
    #[token("uint16", |lex| lex.slice().to_string())]
    #[token("uint32", |lex| lex.slice().to_string())]
    #[token("uint64", |lex| lex.slice().to_string())]
    #[token("int8", |lex| lex.slice().to_string())]
    #[token("int16", |lex| lex.slice().to_string())]
    #[token("int32", |lex| lex.slice().to_string())]
    #[token("int64", |lex| lex.slice().to_string())]
    #[token("bool", |lex| lex.slice().to_string())]
    #[token("char", |lex| lex.slice().to_string())]
    #[token("short", |lex| lex.slice().to_string())]
    #[token("int", |lex| lex.slice().to_string())]
    #[token("long", |lex| lex.slice().to_string())]
    #[token("signed", |lex| lex.slice().to_string())]
    #[token("unsigned", |lex| lex.slice().to_string())]
    #[token("void", |lex| lex.slice().to_string())]
    IntType(String),
    /// An identifier that the lexer saw directly inside `( name * )`: a
    /// typedef used in a pointer cast. Produced by the wrapper, never by logos.
    TypedefName(String),

    // Context-sensitive tokens made by the wrapper in `lexer.rs`.
    /// One attach point, verbatim, e.g. `uprobe:./db:f+4`.
    AttachPoint(String),
    /// The `/` that closes a predicate (the next non-blank is `{`).
    EndPred,
    /// C text between probes: a `#` directive line, or a `struct`,
    /// `union`, `enum` or `typedef` declaration. Taken out of the stream
    /// by the parser for `frontend::cdecl`.
    CText,

    // Keywords.
    #[token("if")]
    If,
    #[token("let")]
    Let,
    /// `macro` between probes (made by the wrapper in `lexer.rs`; inside a
    /// block it is an identifier).
    MacroKw,
    /// `config` between probes (likewise).
    ConfigKw,
    #[token("else")]
    Else,
    #[token("sizeof")]
    Sizeof,
    #[token("offsetof")]
    Offsetof,
    #[token("struct")]
    Struct,
    #[token("union")]
    Union,
    #[token("enum")]
    Enum,
    #[token("while")]
    While,
    #[token("for")]
    For,
    #[token("unroll")]
    Unroll,
    #[token("break")]
    Break,
    #[token("continue")]
    Continue,
    #[token("return")]
    Return,
    /// bpftrace keywords that `trace` does not implement (none at the
    /// moment); the parser says so instead of reporting a confusing call.
    Unsupported(String),

    // Punctuation.
    #[token("(")]
    LParen,
    #[token(")")]
    RParen,
    #[token("[")]
    LBracket,
    #[token("]")]
    RBracket,
    #[token("{")]
    LBrace,
    #[token("}")]
    RBrace,
    #[token(";")]
    Semi,
    #[token(",")]
    Comma,
    #[token(".")]
    Dot,
    /// `..` in a `for` range.
    #[token("..")]
    DotDot,
    #[token("->")]
    Arrow,
    #[token("?")]
    Question,
    #[token(":")]
    Colon,

    // Operators.
    #[token("=")]
    Assign,
    #[token("+")]
    Plus,
    #[token("-")]
    Minus,
    #[token("*")]
    Star,
    #[token("/")]
    Slash,
    #[token("%")]
    Percent,
    #[token("&")]
    Amp,
    #[token("|")]
    Pipe,
    #[token("^")]
    Caret,
    #[token("~")]
    Tilde,
    #[token("!")]
    Bang,
    #[token("<<")]
    Shl,
    #[token(">>")]
    Shr,
    #[token("==")]
    EqEq,
    #[token("!=")]
    Ne,
    #[token("<")]
    Lt,
    #[token("<=")]
    Le,
    #[token(">")]
    Gt,
    #[token(">=")]
    Ge,
    #[token("&&")]
    AndAnd,
    #[token("||")]
    OrOr,
    #[token("++")]
    PlusPlus,
    #[token("--")]
    MinusMinus,
    #[token("+=")]
    PlusEq,
    #[token("-=")]
    MinusEq,
    #[token("*=")]
    StarEq,
    #[token("/=")]
    SlashEq,
    #[token("%=")]
    PercentEq,
    #[token("&=")]
    AmpEq,
    #[token("|=")]
    PipeEq,
    #[token("^=")]
    CaretEq,
    #[token("<<=")]
    ShlEq,
    #[token(">>=")]
    ShrEq,
}

impl fmt::Display for Tok {
    /// How a token is quoted in "unexpected `X`" messages: the source text
    /// for fixed tokens, the name plus value for literals.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Int(v) => write!(f, "{v}"),
            Tok::Str(s) => write!(f, "{s:?}"),
            Tok::Ident(s) | Tok::IntType(s) | Tok::TypedefName(s) | Tok::Unsupported(s) => f.write_str(s),
            Tok::Var(s) => write!(f, "${s}"),
            Tok::Positional(n) => write!(f, "${n}"),
            Tok::Map(s) => write!(f, "@{s}"),
            Tok::AttachPoint(s) => f.write_str(s),
            other => f.write_str(other.fixed_text().unwrap_or("?")),
        }
    }
}

impl Tok {
    /// The exact text of a token that has no payload.
    pub fn fixed_text(&self) -> Option<&'static str> {
        use Tok::*;
        Some(match self {
            PositionalCount => "$#",
            EndPred => "/",
            If => "if",
            Let => "let",
            MacroKw => "macro",
            ConfigKw => "config",
            Else => "else",
            Sizeof => "sizeof",
            Offsetof => "offsetof",
            Struct => "struct",
            Union => "union",
            Enum => "enum",
            While => "while",
            For => "for",
            Unroll => "unroll",
            Break => "break",
            Continue => "continue",
            Return => "return",
            DotDot => "..",
            LParen => "(",
            RParen => ")",
            LBracket => "[",
            RBracket => "]",
            LBrace => "{",
            RBrace => "}",
            Semi => ";",
            Comma => ",",
            Dot => ".",
            Arrow => "->",
            Question => "?",
            Colon => ":",
            Assign => "=",
            Plus => "+",
            Minus => "-",
            Star => "*",
            Slash => "/",
            Percent => "%",
            Amp => "&",
            Pipe => "|",
            Caret => "^",
            Tilde => "~",
            Bang => "!",
            Shl => "<<",
            Shr => ">>",
            EqEq => "==",
            Ne => "!=",
            Lt => "<",
            Le => "<=",
            Gt => ">",
            Ge => ">=",
            AndAnd => "&&",
            OrOr => "||",
            PlusPlus => "++",
            MinusMinus => "--",
            PlusEq => "+=",
            MinusEq => "-=",
            StarEq => "*=",
            SlashEq => "/=",
            PercentEq => "%=",
            AmpEq => "&=",
            PipeEq => "|=",
            CaretEq => "^=",
            ShlEq => "<<=",
            ShrEq => ">>=",
            _ => return None,
        })
    }
}

/// Skips a `/* ... */` comment (comments do not nest, as in C).
fn block_comment(lex: &mut Lexer<Tok>) -> Result<(), LexError> {
    match lex.remainder().find("*/") {
        Some(end) => {
            lex.bump(end + 2);
            Ok(())
        }
        None => {
            lex.bump(lex.remainder().len());
            Err(LexError::UnterminatedComment)
        }
    }
}

/// Decodes an integer literal: decimal, `0x` hex, leading-`0` octal, with
/// `_` separators anywhere after the first digit, C's `U`/`L`/`LL`
/// suffixes, and bpftrace's scientific form for integers (`1e6`). The regex
/// deliberately swallows trailing letters so that `12ab` is one bad
/// literal, not `12` followed by a surprising identifier.
fn number(lex: &mut Lexer<Tok>) -> Result<i64, LexError> {
    let text: String = lex.slice().chars().filter(|&c| c != '_').collect();
    let text = strip_int_suffix(&text);
    if let Some((mantissa, exponent)) = text.split_once(['e', 'E']).filter(|_| !text.starts_with("0x")) {
        return scientific(mantissa, exponent);
    }
    let (digits, radix) = if let Some(hex) = text.strip_prefix("0x").or(text.strip_prefix("0X")) {
        (hex, 16)
    } else if text.len() > 1 && text.starts_with('0') {
        (&text[1..], 8)
    } else {
        (text, 10)
    };
    if digits.is_empty() {
        return Err(LexError::BadNumber("hex literal without digits"));
    }
    if !digits.chars().all(|c| c.is_digit(radix)) {
        return Err(LexError::BadNumber(match radix {
            16 => "invalid digit in hex literal",
            8 => "invalid digit in octal literal (a leading 0 means octal)",
            _ => "invalid character in integer literal",
        }));
    }
    // Values up to u64::MAX are allowed; the AST keeps their bit pattern.
    u64::from_str_radix(digits, radix)
        .map(|v| v as i64)
        .map_err(|_| LexError::BadNumber("integer literal does not fit in 64 bits"))
}

/// `text` without a C integer suffix (`u`, `l`, `ul`, `ll`, `ull` in any
/// case): the value is the same 64-bit integer either way.
fn strip_int_suffix(text: &str) -> &str {
    let body = text.trim_end_matches(['u', 'U', 'l', 'L']);
    let suffix = text[body.len()..].to_ascii_lowercase();
    let known = matches!(suffix.as_str(), "" | "u" | "l" | "ul" | "lu" | "ll" | "ull" | "llu");
    if known && !body.is_empty() {
        body
    } else {
        text
    }
}

/// `MeE`: M times ten to the E, both decimal, which must be an integer
/// that fits in 64 bits.
fn scientific(mantissa: &str, exponent: &str) -> Result<i64, LexError> {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(mantissa) || !digits(exponent) {
        return Err(LexError::BadNumber("invalid scientific literal (integers only, e.g. 1e6)"));
    }
    let too_big = LexError::BadNumber("integer literal does not fit in 64 bits");
    let m: u64 = mantissa.parse().map_err(|_| too_big.clone())?;
    let e: u32 = exponent.parse().map_err(|_| too_big.clone())?;
    10u64.checked_pow(e).and_then(|p| m.checked_mul(p)).map(|v| v as i64).ok_or(too_big)
}

fn positional(lex: &mut Lexer<Tok>) -> Result<u32, LexError> {
    lex.slice()[1..].parse::<u32>().map_err(|_| LexError::BadNumber("positional parameter number too large"))
}

/// Scans a string literal after its opening quote and decodes escapes.
/// Strings may span lines (bpftrace allows it); only end of input leaves
/// one unterminated.
fn string(lex: &mut Lexer<Tok>) -> Result<String, LexError> {
    let rest = lex.remainder().as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut bad_escape = None;
    loop {
        let Some(&b) = rest.get(i) else {
            lex.bump(rest.len());
            return Err(LexError::UnterminatedString);
        };
        match b {
            b'"' => break,
            b'\\' => {
                let (bytes, used) = escape(&rest[i + 1..]);
                match bytes {
                    Some(byte) => out.push(byte),
                    // Keep scanning to the closing quote so that lexing
                    // resumes after the string, then report the first bad one.
                    None => {
                        // +1 for the opening quote that starts the token.
                        bad_escape.get_or_insert(LexError::BadEscape { at: i + 1, len: used + 1 });
                    }
                }
                i += 1 + used;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    // `i` is at an ASCII quote, so `i + 1` is a char boundary.
    lex.bump(i + 1);
    if let Some(err) = bad_escape {
        return Err(err);
    }
    String::from_utf8(out).map_err(|_| LexError::NonUtf8String)
}

/// Decodes one escape given the bytes after the backslash. Returns the byte
/// (or None if invalid) and how many bytes after the backslash it used; the
/// count never splits a UTF-8 character.
fn escape(after: &[u8]) -> (Option<u8>, usize) {
    let Some(&c) = after.first() else { return (None, 0) };
    let simple = match c {
        b'n' => Some(b'\n'),
        b't' => Some(b'\t'),
        b'r' => Some(b'\r'),
        b'\\' => Some(b'\\'),
        b'"' => Some(b'"'),
        b'\'' => Some(b'\''),
        _ => None,
    };
    if simple.is_some() {
        return (simple, 1);
    }
    if c == b'x' {
        let n = after[1..].iter().take(2).take_while(|b| b.is_ascii_hexdigit()).count();
        let value = std::str::from_utf8(&after[1..1 + n]).ok().and_then(|s| u8::from_str_radix(s, 16).ok());
        return (value, 1 + n);
    }
    if (b'0'..=b'7').contains(&c) {
        let n = after.iter().take(3).take_while(|b| (b'0'..=b'7').contains(b)).count();
        let value = std::str::from_utf8(&after[..n]).ok().and_then(|s| u16::from_str_radix(s, 8).ok());
        return (value.and_then(|v| u8::try_from(v).ok()), n);
    }
    // Unknown escape: cover the whole following character in the span.
    let len = match c {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    };
    (None, len.min(after.len()))
}
