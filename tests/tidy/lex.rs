//! Rust source as tokens, with comments dropped and literals made opaque.
//!
//! Every rule that looks at code (imports, `unsafe`, forbidden expressions)
//! works on these tokens, so a path or keyword inside a comment (line,
//! block — nested — or doc) or inside a string, byte string, raw string
//! (`r#"..."#`) or char literal never counts. String contents are kept in
//! the token because `#[path = "..."]` attributes need them.

/// One token of Rust source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tok {
    /// An identifier or keyword (`crate`, `unsafe`, `foo`).
    Word(String),
    /// A raw identifier (`r#type`): never a keyword.
    RawWord(String),
    /// `::`
    PathSep,
    /// Any other punctuation character (`{`, `#`, `;`, ...).
    Punct(char),
    /// A string literal of any kind, with its contents as written.
    Str(String),
    /// A number or char literal.
    Lit,
    /// A lifetime or loop label (`'a`).
    Lifetime,
}

/// A token and the 1-based line it starts on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    pub tok: Tok,
    pub line: usize,
}

impl Token {
    /// The identifier, if this token is a plain (non-raw) word.
    pub fn word(&self) -> Option<&str> {
        match &self.tok {
            Tok::Word(w) => Some(w),
            _ => None,
        }
    }

    /// Whether this token is the punctuation character `c`.
    pub fn is(&self, c: char) -> bool {
        self.tok == Tok::Punct(c)
    }
}

// The lexer works on bytes: everything but identifiers, comments and
// literals is ASCII, and a non-ASCII byte can only be part of those.
fn is_ident_start(c: u8) -> bool {
    c == b'_' || c.is_ascii_alphabetic() || c >= 0x80
}

fn is_ident_continue(c: u8) -> bool {
    c == b'_' || c.is_ascii_alphanumeric() || c >= 0x80
}

/// How many bytes the UTF-8 character starting with `first` takes.
fn utf8_width(first: u8) -> usize {
    match first {
        0xF0.. => 4,
        0xE0.. => 3,
        0xC0.. => 2,
        _ => 1,
    }
}

/// Splits `text` into tokens, skipping whitespace and comments.
pub fn tokenize(text: &str) -> Vec<Token> {
    let mut lexer = Lexer { s: text.as_bytes(), i: 0, line: 1, out: Vec::new() };
    lexer.run();
    lexer.out
}

struct Lexer<'a> {
    s: &'a [u8],
    i: usize,
    line: usize,
    out: Vec<Token>,
}

impl Lexer<'_> {
    fn at(&self, k: usize) -> u8 {
        self.s.get(self.i + k).copied().unwrap_or(0)
    }

    /// The text from `start` to the current position.
    fn text_from(&self, start: usize) -> String {
        String::from_utf8_lossy(&self.s[start.min(self.s.len())..self.i.min(self.s.len())]).into_owned()
    }

    /// Moves past one character, counting lines.
    fn bump(&mut self) {
        if self.at(0) == b'\n' {
            self.line += 1;
        }
        self.i += 1;
    }

    fn push(&mut self, tok: Tok, line: usize) {
        self.out.push(Token { tok, line });
    }

    fn run(&mut self) {
        while self.i < self.s.len() {
            let (c, line) = (self.at(0), self.line);
            if c.is_ascii_whitespace() {
                self.bump();
            } else if c == b'/' && self.at(1) == b'/' {
                while self.i < self.s.len() && self.at(0) != b'\n' {
                    self.i += 1;
                }
            } else if c == b'/' && self.at(1) == b'*' {
                self.block_comment();
            } else if is_ident_start(c) {
                self.word_or_prefixed_literal(line);
            } else if c.is_ascii_digit() {
                while is_ident_continue(self.at(0)) {
                    self.i += 1;
                }
                self.push(Tok::Lit, line);
            } else if c == b'"' {
                let text = self.quoted();
                self.push(Tok::Str(text), line);
            } else if c == b'\'' {
                self.char_or_lifetime(line);
            } else if c == b':' && self.at(1) == b':' {
                self.i += 2;
                self.push(Tok::PathSep, line);
            } else {
                self.i += 1;
                self.push(Tok::Punct(char::from(c)), line);
            }
        }
    }

    /// `/* ... */`, which nests in Rust.
    fn block_comment(&mut self) {
        let mut depth = 0;
        while self.i < self.s.len() {
            if self.at(0) == b'/' && self.at(1) == b'*' {
                depth += 1;
                self.i += 2;
            } else if self.at(0) == b'*' && self.at(1) == b'/' {
                depth -= 1;
                self.i += 2;
                if depth == 0 {
                    return;
                }
            } else {
                self.bump();
            }
        }
    }

    /// An identifier, or the prefix of `b"..."`, `r#"..."#`, `b'x'`, `r#ident`.
    fn word_or_prefixed_literal(&mut self, line: usize) {
        let start = self.i;
        while is_ident_continue(self.at(0)) {
            self.i += 1;
        }
        let word = self.text_from(start);
        let next = self.at(0);
        let raw_string_follows = || {
            let mut k = 0;
            while self.at(k) == b'#' {
                k += 1;
            }
            self.at(k) == b'"'
        };
        match word.as_str() {
            "r" | "br" | "cr" if raw_string_follows() => {
                let text = self.raw_string();
                self.push(Tok::Str(text), line);
            }
            "b" | "c" if next == b'"' => {
                let text = self.quoted();
                self.push(Tok::Str(text), line);
            }
            "b" if next == b'\'' => self.char_or_lifetime(line),
            "r" if next == b'#' && is_ident_start(self.at(1)) => {
                self.i += 1;
                let start = self.i;
                while is_ident_continue(self.at(0)) {
                    self.i += 1;
                }
                self.push(Tok::RawWord(self.text_from(start)), line);
            }
            _ => self.push(Tok::Word(word), line),
        }
    }

    /// `"..."` with backslash escapes; returns the contents as written.
    fn quoted(&mut self) -> String {
        self.i += 1;
        let start = self.i;
        while self.i < self.s.len() && self.at(0) != b'"' {
            if self.at(0) == b'\\' {
                self.bump();
            }
            self.bump();
        }
        let text = self.text_from(start);
        self.i += 1;
        text
    }

    /// `#"..."#` (the `r` already read): ends at a quote and as many hashes.
    fn raw_string(&mut self) -> String {
        let mut hashes = 0;
        while self.at(0) == b'#' {
            hashes += 1;
            self.i += 1;
        }
        self.i += 1;
        let start = self.i;
        while self.i < self.s.len() {
            if self.at(0) == b'"' && (1..=hashes).all(|k| self.at(k) == b'#') {
                let text = self.text_from(start);
                self.i += 1 + hashes;
                return text;
            }
            self.bump();
        }
        self.text_from(start)
    }

    /// `'x'`, `'\n'`, `'\u{..}'`, `'é'` are literals; `'a` is a lifetime or label.
    fn char_or_lifetime(&mut self, line: usize) {
        if self.at(1) == b'\\' {
            self.i += 3;
            while self.i < self.s.len() && self.at(0) != b'\'' {
                self.i += 1;
            }
            self.i += 1;
            self.push(Tok::Lit, line);
        } else if self.at(1 + utf8_width(self.at(1))) == b'\'' {
            self.i += 2 + utf8_width(self.at(1));
            self.push(Tok::Lit, line);
        } else {
            self.i += 1;
            while is_ident_continue(self.at(0)) {
                self.i += 1;
            }
            self.push(Tok::Lifetime, line);
        }
    }
}

/// The index of the token closing the group opened at `open` (`(`, `[` or
/// `{`), counting all three kinds; the last index if it is never closed.
pub fn matching_close(toks: &[Token], open: usize) -> usize {
    let mut depth = 0usize;
    for (k, t) in toks.iter().enumerate().skip(open) {
        match t.tok {
            Tok::Punct('(' | '[' | '{') => depth += 1,
            Tok::Punct(')' | ']' | '}') => {
                depth -= 1;
                if depth == 0 {
                    return k;
                }
            }
            _ => {}
        }
    }
    toks.len().saturating_sub(1)
}

/// `toks` without trailing commas (a `,` right before a closing bracket),
/// which rustfmt adds when it breaks a call over lines.
fn without_trailing_commas(toks: &[Token]) -> Vec<Token> {
    let closes = |t: Option<&Token>| t.is_some_and(|t| t.is(')') || t.is(']') || t.is('}'));
    let kept = toks.iter().enumerate().filter(|&(i, t)| !(t.is(',') && closes(toks.get(i + 1))));
    kept.map(|(_, t)| t.clone()).collect()
}

/// Every place the token sequence of `pattern` occurs in `toks`, as lines.
/// Whitespace, line breaks, comments and trailing commas do not matter.
pub fn find_sequence(toks: &[Token], pattern: &str) -> Vec<usize> {
    let pat: Vec<Tok> = without_trailing_commas(&tokenize(pattern)).into_iter().map(|t| t.tok).collect();
    if pat.is_empty() {
        return Vec::new();
    }
    without_trailing_commas(toks)
        .windows(pat.len())
        .filter(|w| w.iter().zip(&pat).all(|(t, p)| &t.tok == p))
        .map(|w| w[0].line)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        tokenize(text).into_iter().filter_map(|t| t.word().map(str::to_string)).collect()
    }

    #[test]
    fn comments_of_every_kind_are_dropped() {
        let text = "a // b\n/// c\n//! d\n/* e /* nested f */ g */ h /** i */ j";
        assert_eq!(words(text), ["a", "h", "j"]);
    }

    #[test]
    fn string_literals_are_one_opaque_token() {
        let text = r####"a "b \" c" r#"d " e"# br##"f"# g"## b"h" c"i" j"####;
        assert_eq!(words(text), ["a", "j"]);
        let strings: Vec<Tok> = tokenize(r#"x = r"raw\"; y = "esc\\";"#).into_iter().map(|t| t.tok).collect();
        assert!(strings.contains(&Tok::Str(r"raw\".to_string())), "{strings:?}");
        assert!(strings.contains(&Tok::Str(r"esc\\".to_string())), "{strings:?}");
    }

    #[test]
    fn char_literals_and_lifetimes_are_told_apart() {
        let toks = tokenize(r"'\'' '\u{1F600}' b'x' '{' &'a str 'outer: loop");
        let kinds: Vec<&Tok> = toks.iter().map(|t| &t.tok).collect();
        let word = |w: &str| Tok::Word(w.to_string());
        let expected = [Tok::Lit, Tok::Lit, Tok::Lit, Tok::Lit, Tok::Punct('&'), Tok::Lifetime, word("str")];
        assert_eq!(kinds[..7], expected.iter().collect::<Vec<_>>()[..]);
        assert_eq!(kinds[7..], [&Tok::Lifetime, &Tok::Punct(':'), &word("loop")]);
        let wide: Vec<Tok> = tokenize("'é' '─' x").into_iter().map(|t| t.tok).collect();
        assert_eq!(wide, [Tok::Lit, Tok::Lit, word("x")], "characters of several bytes");
    }

    #[test]
    fn raw_identifiers_are_not_keywords() {
        assert_eq!(tokenize("r#unsafe")[0].tok, Tok::RawWord("unsafe".to_string()));
    }

    #[test]
    fn lines_count_through_comments_and_strings() {
        let toks = tokenize("a\n/* x\n y */ \"s\ns\"\nb");
        assert_eq!(toks.last().map(|t| t.line), Some(5));
    }

    #[test]
    fn sequences_match_across_whitespace_but_not_comments_inside_strings() {
        let toks =
            tokenize("x = Val::Int(\n    self.imm(0),\n);\n// Val::Int(self.imm(0))\ny = \"Val::Int(self.imm(0))\";");
        assert_eq!(find_sequence(&toks, "Val::Int(self.imm(0)"), [1]);
    }
}
