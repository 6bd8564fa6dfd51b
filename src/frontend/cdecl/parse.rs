//! The C declaration parser: a small recursive descent over preprocessed
//! tokens. It keeps what trace can use — struct, union and enum
//! definitions, typedefs, enumerator values — and reads past what it
//! cannot use but C allows in a header (function prototypes and bodies,
//! variable declarations, initializers, attributes other than `packed` and
//! `aligned`). Layout is computed later (`layout.rs`).

use super::expr;
use super::lex::{CTok, K};
use crate::diag::Diagnostic;
use crate::source::Span;
use std::collections::HashMap;

/// A type as written before its declarator: `unsigned long`, `struct foo`,
/// `u32`.
#[derive(Clone, Debug, PartialEq)]
pub enum Spec {
    Int {
        size: u8,
        signed: bool,
    },
    /// `float`, `double`, `long double`: laid out, not readable.
    Float(u8),
    Void,
    /// `struct`/`union`: by tag name, or the definition at this index.
    Record {
        union: bool,
        name: Option<String>,
        def: Option<usize>,
        span: Span,
    },
    Enum {
        name: Option<String>,
        def: Option<usize>,
        span: Span,
    },
    /// A typedef name (the script's, a standard one, or the kernel's).
    Named(String, Span),
}

/// What a declarator adds to its base type, innermost (closest to the
/// base) first: `int *a[3]` is `[Ptr, Array(3)]`.
#[derive(Clone, Debug, PartialEq)]
pub enum Derived {
    Ptr,
    Array(u32),
    Func,
}

#[derive(Clone, Debug)]
pub struct Member {
    pub spec: Spec,
    pub derived: Vec<Derived>,
    /// `None`: an anonymous struct or union member, or an unnamed bitfield.
    pub name: Option<(String, Span)>,
    pub bits: Option<(u32, Span)>,
    pub aligned: Option<u32>,
    /// Where its type is written.
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct RecordDef {
    pub name: Option<String>,
    pub union: bool,
    pub members: Vec<Member>,
    /// The tag name, or the keyword of an anonymous one.
    pub span: Span,
    pub packed: bool,
    pub aligned: Option<u32>,
}

#[derive(Clone, Debug)]
pub struct EnumDef {
    pub values: Vec<i64>,
}

#[derive(Clone, Debug)]
pub struct Typedef {
    pub spec: Spec,
    pub derived: Vec<Derived>,
    pub span: Span,
}

/// Everything the declarations define, in the order the resolver needs.
#[derive(Default, Debug)]
pub struct Parsed {
    pub records: Vec<RecordDef>,
    pub enums: Vec<EnumDef>,
    /// Tagged definitions by (kind, name): `struct`, `union`, `enum`.
    pub tags: HashMap<(&'static str, String), (usize, Span)>,
    pub typedefs: HashMap<String, Typedef>,
    /// Enumerators, with where each is defined.
    pub consts: HashMap<String, (i64, Span)>,
}

/// Words that qualify a declaration without changing its type's layout.
const IGNORED: &[&str] = &[
    "const",
    "volatile",
    "static",
    "extern",
    "inline",
    "__inline",
    "__inline__",
    "register",
    "restrict",
    "__restrict",
    "__restrict__",
    "__volatile__",
    "__const",
    "__extension__",
    "_Noreturn",
    "auto",
    "__user",
    "__kernel",
    "__iomem",
    "__rcu",
    "__percpu",
    "__force",
];

/// The integer type spelled by C's type words, e.g. `unsigned long int`.
pub fn int_words<S: AsRef<str>>(words: &[S]) -> Option<(u8, bool)> {
    let count = |w: &str| words.iter().filter(|x| x.as_ref() == w).count();
    let (longs, shorts, chars, ints) = (count("long"), count("short"), count("char"), count("int"));
    let unsigned = count("unsigned") > 0;
    let signed = count("signed") + count("__signed__") > 0;
    let known = longs + shorts + chars + ints + count("unsigned") + count("signed") + count("__signed__");
    if known != words.len() || words.is_empty() || (unsigned && signed) || longs > 2 || (chars + shorts > 1) {
        return None;
    }
    let size = match (chars, shorts, longs) {
        (1, 0, 0) => 1,
        (0, 1, 0) => 2,
        (0, 0, 0) => 4,
        (0, 0, _) => 8,
        _ => return None,
    };
    Some((size, !unsigned))
}

/// How deeply declarators and struct definitions may nest.
const MAX_NESTING: u32 = 64;

pub struct Parser<'a> {
    toks: &'a [CTok],
    pos: usize,
    depth: u32,
    pub out: Parsed,
    /// Where the input ends, for "unexpected end" errors.
    end: Span,
}

type R<T> = Result<T, Diagnostic>;

/// A declarator's name (if any) and what it derives from the base type.
type Declarator = (Option<(String, Span)>, Vec<Derived>);

#[derive(Default)]
struct Attrs {
    packed: bool,
    aligned: Option<u32>,
}

impl<'a> Parser<'a> {
    pub fn new(toks: &'a [CTok], end: Span) -> Parser<'a> {
        Parser { toks, pos: 0, depth: 0, out: Parsed::default(), end }
    }

    fn peek(&self) -> Option<&'a CTok> {
        self.toks.get(self.pos)
    }

    fn peek_is(&self, p: &str) -> bool {
        self.peek().is_some_and(|t| t.is(p))
    }

    fn eat(&mut self, p: &str) -> bool {
        if self.peek_is(p) {
            self.pos += 1;
            return true;
        }
        false
    }

    fn eat_word(&mut self, w: &str) -> bool {
        if self.peek().and_then(CTok::ident) == Some(w) {
            self.pos += 1;
            return true;
        }
        false
    }

    fn unexpected(&self, expected: &str) -> Diagnostic {
        match self.peek() {
            Some(t) => Diagnostic::error(format!("syntax error in a C definition: unexpected `{}`", t.text()))
                .at(t.span, format!("expected {expected}")),
            None => Diagnostic::error("syntax error in a C definition: unexpected end of input")
                .at(self.end, format!("expected {expected}")),
        }
    }

    fn expect(&mut self, p: &str) -> R<()> {
        if self.eat(p) {
            Ok(())
        } else {
            Err(self.unexpected(&format!("`{p}`")))
        }
    }

    /// All declarations, to the end of the tokens.
    pub fn declarations(&mut self) -> R<()> {
        while self.peek().is_some() {
            if self.eat(";") {
                continue;
            }
            self.declaration()?;
        }
        Ok(())
    }

    fn declaration(&mut self) -> R<()> {
        if matches!(self.peek().and_then(CTok::ident), Some("_Static_assert" | "static_assert")) {
            // Checks the compiler makes; nothing to lay out.
            self.pos += 1;
            if !self.peek_is("(") {
                return Err(self.unexpected("`(`"));
            }
            self.skip_balanced()?;
            return self.expect(";");
        }
        let (spec, is_typedef, _) = self.specifiers()?;
        if self.eat(";") {
            return Ok(());
        }
        loop {
            let (name, derived) = self.declarator()?;
            self.maybe_attributes()?;
            if is_typedef {
                let Some((name, span)) = name else { return Err(self.unexpected("the typedef's name")) };
                let def = Typedef { spec: spec.clone(), derived, span };
                if let Some(old) = self.out.typedefs.get(&name) {
                    if old.spec != def.spec || old.derived != def.derived {
                        return Err(Diagnostic::error(format!("typedef `{name}` is defined twice"))
                            .at(span, "defined again here")
                            .also(old.span, "first defined here"));
                    }
                }
                self.out.typedefs.insert(name, def);
            } else if derived.first() == Some(&Derived::Func) && self.peek_is("{") {
                // A function definition (`static inline` in a header).
                self.skip_balanced()?;
                return Ok(());
            }
            if self.eat("=") {
                self.skip_until(&[",", ";"])?;
            }
            if self.eat(",") {
                continue;
            }
            return self.expect(";");
        }
    }

    /// Runs `f` one nesting level deeper, refusing what is too deep.
    fn nested<T>(&mut self, f: impl FnOnce(&mut Self) -> R<T>) -> R<T> {
        if self.depth >= MAX_NESTING {
            let at = self.peek().map_or(self.end, |t| t.span);
            return Err(
                Diagnostic::error(format!("C definition nested more than {MAX_NESTING} levels deep")).at(at, "here")
            );
        }
        self.depth += 1;
        let r = f(self);
        self.depth -= 1;
        r
    }

    /// Declaration specifiers: the base type, and whether it is a typedef.
    fn specifiers(&mut self) -> R<(Spec, bool, Span)> {
        let start = self.peek().map_or(self.end, |t| t.span);
        let mut words: Vec<&str> = Vec::new();
        let mut spec = None;
        let mut is_typedef = false;
        let mut last = start;
        while let Some(t) = self.peek() {
            let Some(w) = t.ident() else { break };
            match w {
                "typedef" => is_typedef = true,
                "__attribute__" | "__attribute" => {
                    self.pos += 1;
                    self.attributes()?;
                    continue;
                }
                w if IGNORED.contains(&w) => {}
                "struct" | "union" | "enum" if spec.is_none() && words.is_empty() => {
                    self.pos += 1;
                    spec = Some(if w == "enum" {
                        self.enum_spec(t.span)?
                    } else {
                        self.nested(|p| p.record_spec(w == "union", t.span))?
                    });
                    last = self.toks[self.pos - 1].span;
                    continue;
                }
                "void" | "char" | "short" | "int" | "long" | "signed" | "unsigned" | "__signed__" | "_Bool"
                | "float" | "double"
                    if spec.is_none() =>
                {
                    words.push(w)
                }
                _ if spec.is_none() && words.is_empty() => spec = Some(Spec::Named(w.to_string(), t.span)),
                _ => break,
            }
            last = t.span;
            self.pos += 1;
        }
        let span = start.to(last);
        let spec = match spec {
            Some(s) => s,
            None if words.is_empty() => return Err(self.unexpected("a type")),
            None => match words.as_slice() {
                ["void"] => Spec::Void,
                ["_Bool"] => Spec::Int { size: 1, signed: false },
                ["float"] => Spec::Float(4),
                ["double"] => Spec::Float(8),
                ["long", "double"] | ["double", "long"] => Spec::Float(16),
                w => match int_words(w) {
                    Some((size, signed)) => Spec::Int { size, signed },
                    None => {
                        return Err(Diagnostic::error(format!("`{}` is not a C type trace knows", w.join(" ")))
                            .at(span, "this type"))
                    }
                },
            },
        };
        Ok((spec, is_typedef, span))
    }

    /// After `struct`/`union`: a tag, a body, or both.
    fn record_spec(&mut self, union: bool, keyword: Span) -> R<Spec> {
        let kind = if union { "union" } else { "struct" };
        let mut attrs = self.maybe_attributes()?;
        let (name, span) = match self.peek() {
            Some(t) if t.ident().is_some() => {
                self.pos += 1;
                (t.ident().map(str::to_string), t.span)
            }
            _ => (None, keyword),
        };
        if !self.peek_is("{") {
            if name.is_none() {
                return Err(self.unexpected(&format!("the {kind}'s name or `{{`")));
            }
            return Ok(Spec::Record { union, name, def: None, span });
        }
        let open = self.peek().map_or(span, |t| t.span);
        self.pos += 1;
        let mut members = Vec::new();
        let unterminated = || {
            let what = name.as_ref().map_or(format!("anonymous {kind}"), |n| format!("{kind} {n}"));
            Diagnostic::error(format!("unterminated {what}: no closing `}}`")).at(open, "this `{` is never closed")
        };
        while !self.eat("}") {
            if self.peek().is_none() {
                return Err(unterminated());
            }
            if self.eat(";") {
                continue;
            }
            if let Err(e) = self.members(&mut members) {
                // `NAME {` inside a struct: a probe after a struct that
                // was never closed.
                return Err(match self.peek() {
                    Some(t) if t.is("{") && e.message.starts_with("syntax error") => {
                        unterminated().also(t.span, "a probe's body?")
                    }
                    _ => e,
                });
            }
        }
        let after = self.maybe_attributes()?;
        attrs.packed |= after.packed;
        attrs.aligned = attrs.aligned.or(after.aligned);
        let def = self.out.records.len();
        let rec = RecordDef { name: name.clone(), union, members, span, packed: attrs.packed, aligned: attrs.aligned };
        self.out.records.push(rec);
        if let Some(n) = &name {
            self.define_tag(kind, n, def, span)?;
        }
        Ok(Spec::Record { union, name, def: Some(def), span })
    }

    fn define_tag(&mut self, kind: &'static str, name: &str, def: usize, span: Span) -> R<()> {
        if let Some((_, first)) = self.out.tags.get(&(kind, name.to_string())) {
            return Err(Diagnostic::error(format!("{kind} {name} is defined twice"))
                .at(span, "defined again here")
                .also(*first, "first defined here"));
        }
        self.out.tags.insert((kind, name.to_string()), (def, span));
        Ok(())
    }

    /// One member declaration (`int a, *b;`, `unsigned x : 3;`, or an
    /// anonymous struct or union).
    fn members(&mut self, out: &mut Vec<Member>) -> R<()> {
        let (spec, is_typedef, span) = self.specifiers()?;
        if is_typedef {
            return Err(Diagnostic::error("a typedef cannot be a member").at(span, "here"));
        }
        if self.eat(";") {
            if !matches!(spec, Spec::Record { .. }) {
                return Err(Diagnostic::error("this member has no name").at(span, "name it"));
            }
            out.push(Member { spec, derived: Vec::new(), name: None, bits: None, aligned: None, span });
            return Ok(());
        }
        loop {
            let (name, derived) = if self.peek_is(":") { (None, Vec::new()) } else { self.declarator()? };
            let bits = if self.eat(":") {
                let (v, at) = self.const_expr(&[",", ";"])?;
                let width = u32::try_from(v).ok().filter(|w| *w <= 64).ok_or_else(|| {
                    Diagnostic::error(format!("bitfield width {v} is out of range")).at(at, "0 to 64 bits")
                })?;
                Some((width, at))
            } else {
                None
            };
            let attrs = self.maybe_attributes()?;
            if name.is_none() && bits.is_none() {
                return Err(self.unexpected("a member name"));
            }
            out.push(Member { spec: spec.clone(), derived, name, bits, aligned: attrs.aligned, span });
            if self.eat(",") {
                continue;
            }
            // bpftrace takes the last member without its `;`.
            if self.peek_is("}") {
                return Ok(());
            }
            return self.expect(";");
        }
    }

    /// After `enum`: a tag, a list of enumerators, or both.
    fn enum_spec(&mut self, keyword: Span) -> R<Spec> {
        self.maybe_attributes()?;
        let (name, span) = match self.peek() {
            Some(t) if t.ident().is_some() => {
                self.pos += 1;
                (t.ident().map(str::to_string), t.span)
            }
            _ => (None, keyword),
        };
        if !self.eat("{") {
            if name.is_none() {
                return Err(self.unexpected("the enum's name or `{`"));
            }
            return Ok(Spec::Enum { name, def: None, span });
        }
        let mut values = Vec::new();
        let mut next = 0i64;
        while !self.eat("}") {
            let Some(t) = self.peek() else {
                return Err(Diagnostic::error("unterminated enum: no closing `}`").at(span, "this enum"));
            };
            let Some(n) = t.ident() else { return Err(self.unexpected("an enumerator")) };
            self.pos += 1;
            if self.eat("=") {
                next = self.const_expr(&[",", "}"])?.0;
            }
            if let Some((_, first)) = self.out.consts.get(n) {
                return Err(Diagnostic::error(format!("enumerator `{n}` is defined twice"))
                    .at(t.span, "defined again here")
                    .also(*first, "first defined here"));
            }
            self.out.consts.insert(n.to_string(), (next, t.span));
            values.push(next);
            next = next.wrapping_add(1);
            if !self.eat(",") && !self.peek_is("}") {
                return Err(self.unexpected("`,` or `}`"));
            }
        }
        let def = self.out.enums.len();
        self.out.enums.push(EnumDef { values });
        if let Some(n) = &name {
            self.define_tag("enum", n, def, span)?;
        }
        Ok(Spec::Enum { name, def: Some(def), span })
    }

    /// A declarator: its name (if any) and what it derives from the base.
    fn declarator(&mut self) -> R<Declarator> {
        let mut ptrs = 0;
        loop {
            if self.eat("*") {
                ptrs += 1;
            } else if self.peek().and_then(CTok::ident).is_some_and(|w| IGNORED.contains(&w)) {
                self.pos += 1;
            } else if self.peek().and_then(CTok::ident).is_some_and(|w| w.starts_with("__attribute")) {
                self.pos += 1;
                self.attributes()?;
            } else {
                break;
            }
        }
        let mut name = None;
        let mut inner = Vec::new();
        if self.eat("(") {
            let (n, d) = self.nested(Self::declarator)?;
            self.expect(")")?;
            name = n;
            inner = d;
        } else if let Some(t) = self.peek() {
            if let Some(w) = t.ident() {
                if !w.starts_with("__attribute") {
                    name = Some((w.to_string(), t.span));
                    self.pos += 1;
                }
            }
        }
        let mut suffixes = Vec::new();
        loop {
            if self.eat("[") {
                if self.eat("]") {
                    suffixes.push(Derived::Array(0));
                    continue;
                }
                let (n, at) = self.const_expr(&["]"])?;
                self.expect("]")?;
                let n = u32::try_from(n)
                    .map_err(|_| Diagnostic::error(format!("array size {n} is out of range")).at(at, "here"))?;
                suffixes.push(Derived::Array(n));
            } else if self.peek_is("(") {
                self.skip_balanced()?;
                suffixes.push(Derived::Func);
            } else {
                break;
            }
        }
        let mut derived = vec![Derived::Ptr; ptrs];
        derived.extend(suffixes.into_iter().rev());
        derived.extend(inner);
        Ok((name, derived))
    }

    /// A constant expression ending before one of `ends` (outside
    /// parentheses), evaluated with the enumerators defined so far.
    fn const_expr(&mut self, ends: &[&str]) -> R<(i64, Span)> {
        let start = self.pos;
        self.skip_until(ends)?;
        let toks = &self.toks[start..self.pos];
        let at = match (toks.first(), toks.last()) {
            (Some(a), Some(b)) => a.span.to(b.span),
            _ => self.peek().map_or(self.end, |t| t.span),
        };
        let consts = &self.out.consts;
        let v = expr::eval(toks, &|n| consts.get(n).map(|c| c.0), at)?;
        Ok((v, at))
    }

    /// Moves to the next of `ends` outside brackets (not consuming it).
    fn skip_until(&mut self, ends: &[&str]) -> R<()> {
        let mut depth = 0usize;
        while let Some(t) = self.peek() {
            if depth == 0 && ends.iter().any(|e| t.is(e)) {
                return Ok(());
            }
            if t.is("(") || t.is("[") || t.is("{") {
                depth += 1;
            } else if t.is(")") || t.is("]") || t.is("}") {
                if depth == 0 {
                    return Err(
                        self.unexpected(&ends.iter().map(|e| format!("`{e}`")).collect::<Vec<_>>().join(" or "))
                    );
                }
                depth -= 1;
            }
            self.pos += 1;
        }
        Err(self.unexpected(&ends.iter().map(|e| format!("`{e}`")).collect::<Vec<_>>().join(" or ")))
    }

    /// Skips a bracketed group starting at the current `(`, `[` or `{`.
    fn skip_balanced(&mut self) -> R<()> {
        let open = self.peek().map_or(self.end, |t| t.span);
        let mut depth = 0usize;
        while let Some(t) = self.peek() {
            self.pos += 1;
            if t.is("(") || t.is("[") || t.is("{") {
                depth += 1;
            } else if t.is(")") || t.is("]") || t.is("}") {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return Ok(());
                }
            }
        }
        Err(Diagnostic::error("unbalanced brackets in a C definition").at(open, "never closed"))
    }

    fn maybe_attributes(&mut self) -> R<Attrs> {
        let mut all = Attrs::default();
        while self.eat_word("__attribute__") || self.eat_word("__attribute") {
            let a = self.attributes()?;
            all.packed |= a.packed;
            all.aligned = all.aligned.or(a.aligned);
        }
        Ok(all)
    }

    /// `((...))` after `__attribute__`: `packed` and `aligned(N)` are
    /// kept, the rest changes nothing trace reads.
    fn attributes(&mut self) -> R<Attrs> {
        if !self.peek_is("(") {
            return Err(self.unexpected("`((` after `__attribute__`"));
        }
        let start = self.pos;
        self.skip_balanced()?;
        let inner = &self.toks[start..self.pos];
        let mut a = Attrs::default();
        for (i, t) in inner.iter().enumerate() {
            match t.ident() {
                Some("packed" | "__packed__") => a.packed = true,
                Some("aligned" | "__aligned__") => {
                    a.aligned = Some(match (inner.get(i + 1), inner.get(i + 2)) {
                        (Some(p), Some(CTok { kind: K::Int { value, .. }, span, .. })) if p.is("(") => {
                            u32::try_from(*value).ok().filter(|v| v.is_power_of_two()).ok_or_else(|| {
                                Diagnostic::error("alignment must be a power of two").at(*span, "here")
                            })?
                        }
                        _ => 16,
                    })
                }
                _ => {}
            }
        }
        Ok(a)
    }
}
