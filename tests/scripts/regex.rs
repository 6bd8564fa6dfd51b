//! A small backtracking regular-expression matcher for `EXPECT_REGEX` and
//! `EXPECT_STDERR_REGEX`.
//!
//! Why not the `regex` crate: the harness is std-only (it is one test binary
//! and must not grow the crate's dependency set), and expectations are short
//! patterns matched against short lines, where backtracking is plenty.
//!
//! Supported, with the usual (Python/PCRE/Rust) meaning: literals, `.`,
//! `^` `$` (start/end of the line being matched), `\b`, classes `[a-z_]`
//! `[^0-9]`, escapes `\d \D \w \W \s \S \t \n` and `\` before any punctuation,
//! groups `( )` and `(?: )` (no captures), alternation `|`, and the greedy or
//! lazy quantifiers `* + ? {n} {n,} {n,m}` (`*?` etc.).  Anything else is a
//! syntax error reported when the .test file is parsed, not a silent literal.

use std::fmt;

#[derive(Debug, Clone)]
pub struct Regex {
    source: String,
    node: Node,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RegexError {
    pub pattern: String,
    pub message: String,
}

impl fmt::Display for RegexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad regex `{}`: {}", self.pattern, self.message)
    }
}

#[derive(Debug, Clone)]
enum Node {
    Empty,
    Char(char),
    Any,
    Class(Class),
    Start,
    End,
    WordBoundary,
    Concat(Vec<Node>),
    Alt(Vec<Node>),
    Repeat { node: Box<Node>, min: usize, max: Option<usize>, greedy: bool },
}

#[derive(Debug, Clone)]
struct Class {
    negated: bool,
    items: Vec<ClassItem>,
}

#[derive(Debug, Clone)]
enum ClassItem {
    Range(char, char),
    Digit(bool),
    Word(bool),
    Space(bool),
}

impl ClassItem {
    fn matches(&self, c: char) -> bool {
        match *self {
            ClassItem::Range(lo, hi) => lo <= c && c <= hi,
            ClassItem::Digit(neg) => c.is_ascii_digit() != neg,
            ClassItem::Word(neg) => is_word(c) != neg,
            ClassItem::Space(neg) => c.is_whitespace() != neg,
        }
    }
}

impl Class {
    fn matches(&self, c: char) -> bool {
        self.items.iter().any(|i| i.matches(c)) != self.negated
    }
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

impl Regex {
    pub fn new(pattern: &str) -> Result<Regex, RegexError> {
        let mut p = Parser { chars: pattern.chars().collect(), pos: 0, pattern };
        let node = p.alternation()?;
        if p.pos < p.chars.len() {
            // Only an unbalanced `)` stops the top-level alternation early.
            return Err(p.error("unmatched `)`"));
        }
        Ok(Regex { source: pattern.to_string(), node })
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// True if the pattern matches anywhere in `text` (a search, not a full match).
    pub fn is_match(&self, text: &str) -> bool {
        let chars: Vec<char> = text.chars().collect();
        (0..=chars.len()).any(|start| matches(&self.node, &chars, start, &mut |_| true))
    }
}

struct Parser<'a> {
    chars: Vec<char>,
    pos: usize,
    pattern: &'a str,
}

impl Parser<'_> {
    fn error(&self, message: &str) -> RegexError {
        RegexError { pattern: self.pattern.to_string(), message: format!("{message} at offset {}", self.pos) }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn alternation(&mut self) -> Result<Node, RegexError> {
        let mut branches = vec![self.concat()?];
        while self.eat('|') {
            branches.push(self.concat()?);
        }
        Ok(if branches.len() == 1 { branches.pop().unwrap_or(Node::Empty) } else { Node::Alt(branches) })
    }

    fn concat(&mut self) -> Result<Node, RegexError> {
        let mut items = Vec::new();
        while let Some(c) = self.peek() {
            if c == '|' || c == ')' {
                break;
            }
            let atom = self.atom()?;
            items.push(self.quantified(atom)?);
        }
        Ok(match items.len() {
            0 => Node::Empty,
            1 => items.pop().unwrap_or(Node::Empty),
            _ => Node::Concat(items),
        })
    }

    fn quantified(&mut self, atom: Node) -> Result<Node, RegexError> {
        let (min, max) = match self.peek() {
            Some('{') => self.braces()?,
            Some(c @ ('*' | '+' | '?')) => {
                self.pos += 1;
                match c {
                    '*' => (0, None),
                    '+' => (1, None),
                    _ => (0, Some(1)),
                }
            }
            _ => return Ok(atom),
        };
        if matches!(atom, Node::Start | Node::End | Node::WordBoundary | Node::Empty) {
            return Err(self.error("nothing to repeat"));
        }
        let greedy = !self.eat('?');
        if matches!(self.peek(), Some('*' | '+' | '?' | '{')) {
            return Err(self.error("stacked quantifiers"));
        }
        Ok(Node::Repeat { node: Box::new(atom), min, max, greedy })
    }

    /// Consumes `{n}`, `{n,}` or `{n,m}`.  A `{` that does not start a
    /// well-formed bound is an error, not a silent literal (write `\{`).
    fn braces(&mut self) -> Result<(usize, Option<usize>), RegexError> {
        let start = self.pos;
        let close = self.chars[start..].iter().position(|&c| c == '}').map(|i| start + i);
        let body: String = match close {
            Some(end) => self.chars[start + 1..end].iter().collect(),
            None => return Err(self.error("unclosed `{` (write `\\{` for a literal brace)")),
        };
        let parse = |t: &str| t.parse::<usize>().map_err(|_| self.error("malformed `{n,m}`"));
        let (min, max) = match body.split_once(',') {
            None => {
                let n = parse(&body)?;
                (n, Some(n))
            }
            Some((lo, "")) => (parse(lo)?, None),
            Some((lo, hi)) => (parse(lo)?, Some(parse(hi)?)),
        };
        if max.is_some_and(|m| m < min) {
            return Err(self.error("`{n,m}` with m < n"));
        }
        self.pos = close.unwrap_or(start) + 1;
        Ok((min, max))
    }

    fn atom(&mut self) -> Result<Node, RegexError> {
        let c = self.peek().ok_or_else(|| self.error("unexpected end"))?;
        self.pos += 1;
        match c {
            '.' => Ok(Node::Any),
            '^' => Ok(Node::Start),
            '$' => Ok(Node::End),
            '(' => {
                if self.eat('?') && !self.eat(':') {
                    return Err(self.error("only `(?:` groups are supported"));
                }
                let inner = self.alternation()?;
                if !self.eat(')') {
                    return Err(self.error("unclosed `(`"));
                }
                Ok(inner)
            }
            '[' => self.class(),
            '\\' => self.escape(false).map(|item| match item {
                Escaped::Char(c) => Node::Char(c),
                Escaped::Item(item) => Node::Class(Class { negated: false, items: vec![item] }),
                Escaped::WordBoundary => Node::WordBoundary,
            }),
            '*' | '+' | '?' | '{' => Err(self.error("nothing to repeat")),
            ')' => Err(self.error("unmatched `)`")),
            c => Ok(Node::Char(c)),
        }
    }

    fn escape(&mut self, in_class: bool) -> Result<Escaped, RegexError> {
        let c = self.peek().ok_or_else(|| self.error("trailing `\\`"))?;
        self.pos += 1;
        Ok(match c {
            'd' => Escaped::Item(ClassItem::Digit(false)),
            'D' => Escaped::Item(ClassItem::Digit(true)),
            'w' => Escaped::Item(ClassItem::Word(false)),
            'W' => Escaped::Item(ClassItem::Word(true)),
            's' => Escaped::Item(ClassItem::Space(false)),
            'S' => Escaped::Item(ClassItem::Space(true)),
            'b' if !in_class => Escaped::WordBoundary,
            't' => Escaped::Char('\t'),
            'n' => Escaped::Char('\n'),
            c if c.is_ascii_punctuation() || c == ' ' => Escaped::Char(c),
            c => return Err(self.error(&format!("unknown escape `\\{c}`"))),
        })
    }

    fn class(&mut self) -> Result<Node, RegexError> {
        let negated = self.eat('^');
        let mut items = Vec::new();
        let mut first = true;
        loop {
            let c = self.peek().ok_or_else(|| self.error("unclosed `[`"))?;
            if c == ']' && !first {
                self.pos += 1;
                break;
            }
            first = false;
            self.pos += 1;
            let lo = if c == '\\' {
                match self.escape(true)? {
                    Escaped::Char(c) => c,
                    Escaped::Item(item) => {
                        items.push(item);
                        continue;
                    }
                    Escaped::WordBoundary => unreachable!("\\b is rejected inside classes"),
                }
            } else {
                c
            };
            // `a-z` is a range; a `-` first or last is a literal dash.
            if self.peek() == Some('-') && self.chars.get(self.pos + 1).is_some_and(|&n| n != ']') {
                self.pos += 1;
                let mut hi = self.peek().ok_or_else(|| self.error("unclosed `[`"))?;
                self.pos += 1;
                if hi == '\\' {
                    hi = match self.escape(true)? {
                        Escaped::Char(c) => c,
                        _ => return Err(self.error("class escape as a range end")),
                    };
                }
                if hi < lo {
                    return Err(self.error("reversed range in class"));
                }
                items.push(ClassItem::Range(lo, hi));
            } else {
                items.push(ClassItem::Range(lo, lo));
            }
        }
        Ok(Node::Class(Class { negated, items }))
    }
}

enum Escaped {
    Char(char),
    Item(ClassItem),
    WordBoundary,
}

/// Match `node` at `pos`, then call `k` with the end position; true if `k`
/// accepted some way of matching (continuation-passing backtracking).
fn matches(node: &Node, s: &[char], pos: usize, k: &mut dyn FnMut(usize) -> bool) -> bool {
    match node {
        Node::Empty => k(pos),
        Node::Char(c) => s.get(pos) == Some(c) && k(pos + 1),
        Node::Any => s.get(pos).is_some_and(|&c| c != '\n') && k(pos + 1),
        Node::Class(class) => s.get(pos).is_some_and(|&c| class.matches(c)) && k(pos + 1),
        Node::Start => pos == 0 && k(pos),
        Node::End => pos == s.len() && k(pos),
        Node::WordBoundary => {
            let before = pos > 0 && is_word(s[pos - 1]);
            let after = pos < s.len() && is_word(s[pos]);
            before != after && k(pos)
        }
        Node::Concat(items) => concat(items, s, pos, k),
        Node::Alt(branches) => branches.iter().any(|b| matches(b, s, pos, k)),
        Node::Repeat { node, min, max, greedy } => repeat(node, *min, *max, *greedy, 0, s, pos, k),
    }
}

fn concat(items: &[Node], s: &[char], pos: usize, k: &mut dyn FnMut(usize) -> bool) -> bool {
    match items.split_first() {
        None => k(pos),
        Some((first, rest)) => matches(first, s, pos, &mut |next| concat(rest, s, next, k)),
    }
}

#[allow(clippy::too_many_arguments)]
fn repeat(
    node: &Node,
    min: usize,
    max: Option<usize>,
    greedy: bool,
    count: usize,
    s: &[char],
    pos: usize,
    k: &mut dyn FnMut(usize) -> bool,
) -> bool {
    let can_stop = count >= min;
    let can_go = max.is_none_or(|m| count < m);
    // An iteration that consumed nothing would loop forever: stop there.
    let more = |k: &mut dyn FnMut(usize) -> bool| {
        can_go
            && matches(node, s, pos, &mut |next| {
                (next != pos || count < min) && repeat(node, min, max, greedy, count + 1, s, next, k)
            })
    };
    // Greedy tries one more iteration before stopping; lazy the reverse.
    if greedy {
        if more(k) {
            return true;
        }
        can_stop && k(pos)
    } else {
        if can_stop && k(pos) {
            return true;
        }
        more(k)
    }
}

/// Checks run at harness start-up (the harness has no #[test] functions).
pub fn self_check() -> Result<(), String> {
    let yes: &[(&str, &str)] = &[
        ("abc", "xxabcxx"),
        ("^@calls: 10$", "@calls: 10"),
        (r"^\[2, 4\)\s+\d+", "[2, 4)                 2 |@@@@|"),
        (r"^@\[shard-\d\]: \d+$", "@[shard-3]: 21"),
        ("a|b", "b"),
        ("^(foo|bar)+$", "foobarfoo"),
        ("^a{2,3}$", "aaa"),
        ("^a{2}$", "aa"),
        ("^a{2,}$", "aaaaa"),
        ("^[^0-9]+$", "abc"),
        ("^[a-c-]+$", "a-b"),
        (r"^\w+\b", "hello world"),
        ("^.*?x", "aaxbx"),
        ("^(?:ab)?c$", "c"),
        (r"count\D+10\D+average\D+23", "@s: { .count = 10, .average = 23, .total = 1 }"),
        (r"count\D+10\D+average\D+23", "@s: count 10, average 23, total 1"),
        ("^$", ""),
        ("(a*)*b", "aaab"),
    ];
    let no: &[(&str, &str)] = &[
        ("^abc$", "abcd"),
        ("^@calls: 10$", "@calls: 100"),
        ("^a{2}$", "aaa"),
        ("^[^0-9]+$", "a1c"),
        (r"\bworld", "helloworld"),
        ("^a.c$", "a\nc"),
        ("(a*)*b", "aaaa"),
    ];
    for &(pattern, text) in yes.iter().chain(no) {
        let want = yes.contains(&(pattern, text));
        let re = Regex::new(pattern).map_err(|e| e.to_string())?;
        if re.is_match(text) != want {
            return Err(format!("regex `{pattern}` on {text:?}: expected is_match = {want}"));
        }
    }
    for bad in ["(", "a)", "[abc", "*a", "a{x}", "a{3,1}", r"\q", "(?=x)", "a**"] {
        if Regex::new(bad).is_ok() {
            return Err(format!("regex `{bad}` should be rejected"));
        }
    }
    Ok(())
}
