//! The lexer: a hand-written mode switch around the logos token set.
//!
//! bpftrace's syntax is not context-free at the token level. Outside braces,
//! `uprobe:/lib/x86_64-linux-gnu/libc.so.6:malloc` is one attach point, but
//! inside a block the same characters would be a dozen operators. logos only
//! does context-free matching, so this wrapper tracks where it is:
//!
//! * **Top** (between probes): an attach point is a maximal run of anything
//!   but whitespace, `,` and `{` (and `/` before any `:`, so `BEGIN/1/`
//!   works); `,` separates attach points, `/` opens a predicate and `{`
//!   opens the probe body.
//! * **Pred** (inside `/.../`): logos tokens, except that a `/` whose next
//!   non-blank character is `{` closes the predicate ([`Tok::EndPred`]); any
//!   other `/` is division.
//! * **Code** (inside braces): logos tokens; braces are counted and the
//!   matching `}` returns to Top.
//!
//! The wrapper also re-labels `ident` as [`Tok::TypedefName`] when it stands
//! alone before `*`s and `)` as in `(db_shard_t *)arg0`. An LR(1) parser
//! cannot tell that cast from the product `(a * b)` at the `*`, while the
//! lexer can simply look ahead to the `)`.
//!
//! Lexing does not depend on the parser's state, so the whole input is
//! tokenized up front ([`tokenize`]); every lexical error is collected, not
//! only the first.

use crate::diag::{Diagnostic, IntoDiagnostic};
use crate::frontend::cdecl::scan::{c_text_len, if_zero_len, starts_c_declaration};
use crate::frontend::token::{LexError, Tok};
use crate::source::{FileId, Span};
use logos::Logos;

/// Tokens in one statement (or predicate) before the lexer gives up. The
/// parser builds trees whose depth is bounded by this, which keeps every
/// recursive walk over the AST (including `Drop`) far from stack overflow.
pub const MAX_STATEMENT_TOKENS: usize = 1000;
/// How deeply `{ }` blocks may nest, for the same reason.
pub const MAX_BRACE_DEPTH: u32 = 64;

/// A token with its byte range, as lalrpop's extern lexer interface wants.
pub type Spanned = (usize, Tok, usize);

/// Errors found while lexing or while building the tree (the grammar's
/// semantic checks). Each carries the span it is about.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SyntaxError {
    #[error("{}", lex_message(.error))]
    Lex { error: LexError, span: Span },
    #[error("statement too long (more than {MAX_STATEMENT_TOKENS} tokens)")]
    TooLong { span: Span },
    #[error("blocks nested too deeply (more than {MAX_BRACE_DEPTH} levels)")]
    TooDeep { span: Span },
    /// `what` is the operator that needs an assignable target (`=`, `++`).
    #[error("cannot use `{what}` here: the target must be a map or a $variable")]
    NotAssignable { what: &'static str, span: Span },
    #[error("indexing with several keys is only possible on maps")]
    MultiIndex { span: Span },
}

fn lex_message(e: &LexError) -> String {
    match e {
        LexError::InvalidChar => "syntax error: invalid character".into(),
        LexError::UnterminatedString => "unterminated string".into(),
        LexError::UnterminatedComment => "unterminated comment".into(),
        LexError::BadEscape { .. } => "invalid escape sequence in string".into(),
        LexError::NonUtf8String => "string literal is not valid UTF-8 after decoding escapes".into(),
        LexError::BadNumber(what) => (*what).into(),
    }
}

impl SyntaxError {
    pub fn span(&self) -> Span {
        match self {
            SyntaxError::Lex { span, .. }
            | SyntaxError::TooLong { span }
            | SyntaxError::TooDeep { span }
            | SyntaxError::NotAssignable { span, .. }
            | SyntaxError::MultiIndex { span } => *span,
        }
    }

    fn label(&self) -> &'static str {
        match self {
            SyntaxError::Lex { error, .. } => match error {
                LexError::InvalidChar => "not part of any token",
                LexError::UnterminatedString => "this string has no closing `\"`",
                LexError::UnterminatedComment => "this comment has no closing `*/`",
                LexError::BadEscape { .. } => "known escapes: \\n \\t \\r \\\\ \\\" \\' \\xNN \\NNN",
                LexError::NonUtf8String => "in this string",
                LexError::BadNumber(_) => "in this number",
            },
            SyntaxError::TooLong { .. } => "here",
            SyntaxError::TooDeep { .. } => "this block",
            SyntaxError::NotAssignable { .. } => "not a map or a variable",
            SyntaxError::MultiIndex { .. } => "use a single index here",
        }
    }
}

impl IntoDiagnostic for SyntaxError {
    fn into_diagnostic(self) -> Diagnostic {
        Diagnostic::error(self.to_string()).at(self.span(), self.label())
    }
}

/// Where the input starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A whole program: probe blocks, attach points at top level.
    Program,
    /// Statements or an expression with no surrounding probe (REPL, argdist).
    Code,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Top,
    Pred,
    Code,
}

/// The mode-switching lexer; an iterator of tokens or errors.
pub struct Lexer<'s> {
    src: &'s str,
    file: FileId,
    pos: usize,
    state: State,
    /// Whether `}` at depth 0 returns to [`State::Top`] (program mode only).
    program: bool,
    depth: u32,
    /// The next `Ident` is a typedef in a pointer cast.
    typedef_next: bool,
    stmt_tokens: usize,
    /// Typedef names the script's C definitions declare: `(name)` before
    /// an operand is a cast to them even without a `*`.
    typedefs: &'s [String],
}

impl<'s> Lexer<'s> {
    pub fn new(src: &'s str, file: FileId, mode: Mode) -> Lexer<'s> {
        let mut pos = 0;
        if mode == Mode::Program && src.starts_with("#!") {
            pos = src.find('\n').unwrap_or(src.len());
        }
        let (state, program) = match mode {
            Mode::Program => (State::Top, true),
            Mode::Code => (State::Code, false),
        };
        Lexer { src, file, pos, state, program, depth: 0, typedef_next: false, stmt_tokens: 0, typedefs: &[] }
    }

    fn span(&self, start: usize, end: usize) -> Span {
        Span::new(self.file, start, end)
    }

    fn lex_err(&self, error: LexError, start: usize, end: usize) -> SyntaxError {
        SyntaxError::Lex { error, span: self.span(start, end) }
    }

    /// Skips blanks and comments between probes.
    fn skip_top_trivia(&mut self) -> Result<(), SyntaxError> {
        loop {
            let rest = &self.src[self.pos..];
            let trimmed = rest.trim_start();
            self.pos += rest.len() - trimmed.len();
            if trimmed.starts_with("//") {
                self.pos += trimmed.find('\n').unwrap_or(trimmed.len());
            } else if let Some(body) = trimmed.strip_prefix("/*") {
                match body.find("*/") {
                    Some(end) => self.pos += end + 4,
                    None => {
                        let start = self.pos;
                        self.pos = self.src.len();
                        return Err(self.lex_err(LexError::UnterminatedComment, start, start + 2));
                    }
                }
            } else {
                return Ok(());
            }
        }
    }

    fn next_top(&mut self) -> Option<Result<Spanned, SyntaxError>> {
        if let Err(e) = self.skip_top_trivia() {
            return Some(Err(e));
        }
        let start = self.pos;
        let c = self.src[start..].chars().next()?;
        let single = |lexer: &mut Lexer, tok: Tok| {
            lexer.pos += 1;
            Some(Ok((start, tok, start + 1)))
        };
        match c {
            ',' => single(self, Tok::Comma),
            '{' => {
                self.state = State::Code;
                self.depth = 1;
                self.stmt_tokens = 0;
                single(self, Tok::LBrace)
            }
            '/' => {
                self.state = State::Pred;
                self.stmt_tokens = 0;
                single(self, Tok::Slash)
            }
            // C between probes, for `frontend::cdecl`.
            '#' => {
                let rest = &self.src[start..];
                self.pos += if_zero_len(rest).unwrap_or_else(|| c_text_len(rest, true));
                Some(Ok((start, Tok::CText, self.pos)))
            }
            _ if starts_c_declaration(&self.src[start..]) => {
                self.pos += c_text_len(&self.src[start..], false);
                Some(Ok((start, Tok::CText, self.pos)))
            }
            c if c.is_ascii_alphanumeric() || c == '_' => {
                // Like bpftrace, a `/` right after a colon-less attach point
                // (`BEGIN/pid > 1/`) opens the predicate; after a colon it is
                // part of a path (`uprobe:/bin/bash:readline`).
                let mut seen_colon = false;
                let len = self.src[start..]
                    .find(|c: char| {
                        seen_colon |= c == ':';
                        c.is_whitespace() || c == ',' || c == '{' || (c == '/' && !seen_colon)
                    })
                    .unwrap_or(self.src.len() - start);
                let word = &self.src[start..start + len];
                let keyword = match word.split('=').next() {
                    Some("macro") if word == "macro" => Some(Tok::MacroKw),
                    Some("config") if self.src[start + 6..].trim_start().starts_with('=') => Some(Tok::ConfigKw),
                    _ => None,
                };
                if let Some(tok) = keyword {
                    // A macro or a config block: its header and body lex as
                    // code, and its closing brace returns here.
                    let end = start + tok.fixed_text().map_or(len, str::len);
                    self.pos = end;
                    self.state = State::Code;
                    self.depth = 0;
                    self.stmt_tokens = 0;
                    return Some(Ok((start, tok, end)));
                }
                self.pos += len;
                Some(Ok((start, Tok::AttachPoint(self.src[start..start + len].to_string()), start + len)))
            }
            // Anything else cannot start an attach point; lex it as code so
            // the parser can report e.g. a stray `}` by name.
            _ => self.next_logos(),
        }
    }

    /// One logos token from the current position.
    fn next_logos(&mut self) -> Option<Result<Spanned, SyntaxError>> {
        let mut lex = Tok::lexer(&self.src[self.pos..]);
        let item = lex.next()?;
        let base = self.pos;
        let (start, end) = (base + lex.span().start, base + lex.span().end);
        // logos always consumes at least one byte per item, but guard the
        // invariant anyway: a lexer that stops advancing loops forever.
        self.pos = end.max(start + 1).min(self.src.len()).max(self.pos + 1);
        while !self.src.is_char_boundary(self.pos) {
            self.pos += 1;
        }
        Some(match item {
            Ok(tok) => Ok((start, tok, end)),
            Err(error) => {
                let (s, e) = match &error {
                    LexError::UnterminatedString => (start, start + 1),
                    LexError::UnterminatedComment => (start, start + 2),
                    LexError::BadEscape { at, len } => (start + at, start + at + len),
                    _ => (start, end),
                };
                Err(self.lex_err(error, s, e.min(self.src.len())))
            }
        })
    }

    fn next_code(&mut self) -> Option<Result<Spanned, SyntaxError>> {
        let item = self.next_logos()?;
        let (start, tok, end) = match item {
            Ok(t) => t,
            Err(e) => return Some(Err(e)),
        };
        let tok = match tok {
            Tok::Ident(name) if std::mem::take(&mut self.typedef_next) => Tok::TypedefName(name),
            Tok::LParen => {
                self.typedef_next = is_typedef_cast(&self.src[end..], self.typedefs);
                Tok::LParen
            }
            Tok::Slash if self.state == State::Pred && next_is_brace(&self.src[end..]) => {
                self.state = State::Top;
                Tok::EndPred
            }
            Tok::LBrace => {
                if self.state == State::Pred {
                    // A predicate without its closing `/`: resynchronise on
                    // the body so the parser reports the missing `/`.
                    self.state = State::Code;
                    self.depth = 0;
                }
                self.depth += 1;
                if self.depth > MAX_BRACE_DEPTH {
                    self.depth = 0;
                    self.state = if self.program { State::Top } else { State::Code };
                    return Some(Err(SyntaxError::TooDeep { span: self.span(start, end) }));
                }
                Tok::LBrace
            }
            Tok::RBrace if self.state == State::Code => {
                self.depth = self.depth.saturating_sub(1);
                if self.depth == 0 && self.program {
                    self.state = State::Top;
                }
                Tok::RBrace
            }
            other => other,
        };
        if !matches!(tok, Tok::Ident(_) | Tok::TypedefName(_) | Tok::LParen) {
            self.typedef_next = false;
        }
        if matches!(tok, Tok::Semi | Tok::LBrace | Tok::RBrace | Tok::EndPred) {
            self.stmt_tokens = 0;
        } else {
            self.stmt_tokens += 1;
            // Reported once per statement; the tokens after it still lex.
            if self.stmt_tokens == MAX_STATEMENT_TOKENS + 1 {
                return Some(Err(SyntaxError::TooLong { span: self.span(start, end) }));
            }
        }
        Some(Ok((start, tok, end)))
    }
}

impl Iterator for Lexer<'_> {
    type Item = Result<Spanned, SyntaxError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.src.len() {
            return None;
        }
        match self.state {
            State::Top => self.next_top(),
            State::Pred | State::Code => self.next_code(),
        }
    }
}

/// Splits `src` into tokens, collecting every lexical error.
pub fn tokenize(src: &str, file: FileId, mode: Mode) -> (Vec<Spanned>, Vec<SyntaxError>) {
    tokenize_with(src, file, mode, &[])
}

/// [`tokenize`], knowing the script's typedef names.
pub fn tokenize_with(src: &str, file: FileId, mode: Mode, typedefs: &[String]) -> (Vec<Spanned>, Vec<SyntaxError>) {
    let mut tokens = Vec::new();
    let mut errors = Vec::new();
    for item in (Lexer { typedefs, ..Lexer::new(src, file, mode) }) {
        match item {
            Ok(t) => tokens.push(t),
            Err(e) => errors.push(e),
        }
    }
    (tokens, errors)
}

/// After a `(`: is this `ident *...* )`, i.e. a typedef pointer cast (or,
/// for one of the script's `typedefs`, `(ident)`)?
fn is_typedef_cast(rest: &str, typedefs: &[String]) -> bool {
    let rest = rest.trim_start();
    let ident_len = rest
        .char_indices()
        .take_while(|&(i, c)| c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit()))
        .count();
    if ident_len == 0 {
        return false;
    }
    let name = &rest[..ident_len];
    let mut rest = rest[ident_len..].trim_start();
    let mut stars = 0;
    while let Some(r) = rest.strip_prefix('*') {
        stars += 1;
        rest = r.trim_start();
    }
    rest.starts_with(')') && (stars > 0 || typedefs.iter().any(|t| t == name))
}

/// After a `/` in a predicate: is the next non-blank, non-comment `{`?
fn next_is_brace(mut rest: &str) -> bool {
    loop {
        rest = rest.trim_start();
        if let Some(r) = rest.strip_prefix("//") {
            rest = r.find('\n').map_or("", |i| &r[i..]);
        } else if let Some(r) = rest.strip_prefix("/*") {
            match r.find("*/") {
                Some(i) => rest = &r[i + 2..],
                None => return false,
            }
        } else {
            return rest.starts_with('{');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(src: &str) -> Vec<Tok> {
        let (tokens, errors) = tokenize(src, 0, Mode::Program);
        assert!(errors.is_empty(), "{src}: {errors:?}");
        tokens.into_iter().map(|(_, t, _)| t).collect()
    }

    fn code(src: &str) -> Vec<Tok> {
        let (tokens, errors) = tokenize(src, 0, Mode::Code);
        assert!(errors.is_empty(), "{src}: {errors:?}");
        tokens.into_iter().map(|(_, t, _)| t).collect()
    }

    fn ap(s: &str) -> Tok {
        Tok::AttachPoint(s.into())
    }

    fn errs(src: &str) -> Vec<(String, std::ops::Range<usize>)> {
        tokenize(src, 0, Mode::Program).1.into_iter().map(|e| (e.to_string(), e.span().range())).collect()
    }

    #[test]
    fn attach_points_are_single_tokens() {
        use Tok::*;
        assert_eq!(
            toks("uprobe:/lib/x86_64-linux-gnu/libc.so.6:malloc,uretprobe:./db:f+4 {}"),
            vec![ap("uprobe:/lib/x86_64-linux-gnu/libc.so.6:malloc"), Comma, ap("uretprobe:./db:f+4"), LBrace, RBrace]
        );
        assert_eq!(toks("t:syscalls:sys_enter_open*{ }"), vec![ap("t:syscalls:sys_enter_open*"), LBrace, RBrace]);
        assert_eq!(
            toks("BEGIN { } usdt:./db:db:snap, u:libc:mall?c\n{}"),
            vec![ap("BEGIN"), LBrace, RBrace, ap("usdt:./db:db:snap"), Comma, ap("u:libc:mall?c"), LBrace, RBrace]
        );
        let (tokens, _) = tokenize("  interval:s:1 {}", 0, Mode::Program);
        assert_eq!((tokens[0].0, tokens[0].2), (2, 14));
    }

    #[test]
    fn braces_inside_bodies_do_not_end_the_probe() {
        use Tok::*;
        assert_eq!(
            toks("BEGIN { if (1) { exit(); } } END{}"),
            vec![
                ap("BEGIN"),
                LBrace,
                If,
                LParen,
                Int(1),
                RParen,
                LBrace,
                Ident("exit".into()),
                LParen,
                RParen,
                Semi,
                RBrace,
                RBrace,
                ap("END"),
                LBrace,
                RBrace
            ]
        );
    }

    #[test]
    fn predicates_with_division() {
        use Tok::*;
        assert_eq!(
            toks("BEGIN /pid / 2 == 1/ { }"),
            vec![ap("BEGIN"), Slash, Ident("pid".into()), Slash, Int(2), EqEq, Int(1), EndPred, LBrace, RBrace]
        );
        // The closing slash may be followed by a comment and a newline.
        assert_eq!(toks("BEGIN /1/ // c\n{ }"), vec![ap("BEGIN"), Slash, Int(1), EndPred, LBrace, RBrace]);
        assert_eq!(toks("END/1/{}"), vec![ap("END"), Slash, Int(1), EndPred, LBrace, RBrace]);
        let (tokens, _) = tokenize("BEGIN /x/{}", 0, Mode::Program);
        assert_eq!((tokens[3].0, tokens[3].2), (8, 9));
    }

    #[test]
    fn comments_and_shebang() {
        use Tok::*;
        assert_eq!(
            toks("#!/usr/bin/env trace\n// top\n/* block\n */ BEGIN { /* in */ @x = 1; // end\n }"),
            vec![ap("BEGIN"), LBrace, Map("x".into()), Assign, Int(1), Semi, RBrace]
        );
        assert_eq!(toks("#include <linux/sched.h>\nEND{}"), vec![CText, ap("END"), LBrace, RBrace]);
    }

    #[test]
    fn c_text_between_probes() {
        use Tok::*;
        let pieces = |src: &str| -> Vec<String> {
            let (tokens, errors) = tokenize(src, 0, Mode::Program);
            assert!(errors.is_empty(), "{src}: {errors:?}");
            tokens.iter().filter(|t| t.1 == CText).map(|t| src[t.0..t.2].to_string()).collect()
        };
        assert_eq!(
            pieces(
                "#define A \\
 1
struct s { int a; /* } */ };
BEGIN { }"
            ),
            [
                "#define A \\
 1",
                "struct s { int a; /* } */ };"
            ]
        );
        // A forgotten `;` does not swallow the next probe.
        assert_eq!(
            pieces(
                "struct s { int a; }
BEGIN { x; }"
            ),
            ["struct s { int a; }"]
        );
        assert_eq!(
            pieces("struct s { char a; } __attribute__((packed));"),
            ["struct s { char a; } __attribute__((packed));"]
        );
        assert_eq!(pieces("typedef struct { int a; } t;"), ["typedef struct { int a; } t;"]);
        // `#if 0` hides anything up to its `#else` or `#endif`.
        assert_eq!(
            pieces(
                "#if 0
not C {
#if 1
#endif
#else
END {}"
            ),
            ["#if 0\nnot C {\n#if 1\n#endif\n#else"]
        );
        assert_eq!(toks("union u { int a; };\nEND{}"), vec![CText, ap("END"), LBrace, RBrace]);
    }

    #[test]
    fn operators_and_names() {
        use Tok::*;
        assert_eq!(
            code("@ @m $x $1 $# a->b <<= >>= ++ -- && || != ? :"),
            vec![
                Map("".into()),
                Map("m".into()),
                Var("x".into()),
                Positional(1),
                PositionalCount,
                Ident("a".into()),
                Arrow,
                Ident("b".into()),
                ShlEq,
                ShrEq,
                PlusPlus,
                MinusMinus,
                AndAnd,
                OrOr,
                Ne,
                Question,
                Colon
            ]
        );
        assert_eq!(
            code("uint32 int sizeof while"),
            vec![IntType("uint32".into()), IntType("int".into()), Sizeof, While]
        );
    }

    #[test]
    fn numbers() {
        use Tok::*;
        assert_eq!(
            code("0 42 1_000 0x1F 0X_ff 017 18446744073709551615"),
            vec![Int(0), Int(42), Int(1000), Int(31), Int(255), Int(15), Int(-1)]
        );
        let bad = |s: &str| tokenize(s, 0, Mode::Code).1;
        assert_eq!(bad("09").len(), 1);
        assert_eq!(bad("0x").len(), 1);
        assert_eq!(bad("12ab").len(), 1);
        assert_eq!(bad("18446744073709551616").len(), 1);
    }

    #[test]
    fn strings_and_escapes() {
        assert_eq!(code(r#""a\n\t\\\"\0\x41\101 é""#), vec![Tok::Str("a\n\t\\\"\0AA é".into())]);
        assert_eq!(code(r#""\xc3\xa9""#), vec![Tok::Str("é".into())]);
        let (_, e) = tokenize(r#"x "ab\qc" y"#, 0, Mode::Code);
        assert_eq!(e[0].span().range(), 5..7);
        assert_eq!(errs(r#"BEGIN { printf("abc); }"#), vec![("unterminated string".into(), 15..16)]);
    }

    #[test]
    fn typedef_pointer_casts_are_relabelled() {
        use Tok::*;
        assert_eq!(
            code("(db_shard_t *)a (b * c) (t**)"),
            vec![
                LParen,
                TypedefName("db_shard_t".into()),
                Star,
                RParen,
                Ident("a".into()),
                LParen,
                Ident("b".into()),
                Star,
                Ident("c".into()),
                RParen,
                LParen,
                TypedefName("t".into()),
                Star,
                Star,
                RParen
            ]
        );
    }

    #[test]
    fn errors_are_collected_with_spans() {
        assert_eq!(
            errs("BEGIN { ` ; § }"),
            vec![("syntax error: invalid character".into(), 8..9), ("syntax error: invalid character".into(), 12..14)]
        );
        assert_eq!(errs("BEGIN { } /* open"), vec![("unterminated comment".into(), 10..12)]);
        assert_eq!(errs("BEGIN { /* open }"), vec![("unterminated comment".into(), 8..10)]);
        assert_eq!(errs("BEGIN /comm == \"db/ { }"), vec![("unterminated string".into(), 15..16)]);
        let deep = format!("BEGIN {}", "{".repeat(100));
        assert_eq!(errs(&deep).len(), 1);
        let long = format!("BEGIN {{ @x = {}1; }}", "1 + ".repeat(MAX_STATEMENT_TOKENS));
        assert_eq!(errs(&long)[0].0, "statement too long (more than 1000 tokens)");
        let longer = format!("BEGIN {{ @x = {}1; }}", "1 + ".repeat(10 * MAX_STATEMENT_TOKENS));
        assert_eq!(errs(&longer).len(), 1);
    }
}
