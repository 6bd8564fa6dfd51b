//! What one file declares and refers to: `mod` declarations, `use` paths
//! (groups expanded) and qualified paths in code, each with its line and the
//! inline modules around it.
//!
//! Code compiled only for tests is left out of `paths`: an item
//! under `#[cfg(test)]` (an inline `mod tests { ... }` up to its matching
//! brace, a helper `fn`, a `use`) and a whole file that starts with
//! `#![cfg(test)]`. Module declarations are kept, marked as test-only, so
//! the module tree knows which files are test code.

use crate::lex::{matching_close, tokenize, Tok, Token};

/// `mod name;` or `mod name { ... }`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModDecl {
    /// Inline modules around the declaration, outermost first.
    pub scope: Vec<String>,
    pub name: String,
    /// The value of a `#[path = "..."]` attribute.
    pub path_attr: Option<String>,
    /// Under `#[cfg(test)]`, itself or through an enclosing inline module.
    pub test: bool,
    /// `mod name { ... }` rather than a file.
    pub inline: bool,
    pub line: usize,
}

/// What a `use` leaf binds in its scope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Binding {
    /// `use a::b;`, `use a::b as c;`, `use a::{self as c}`.
    Name(String),
    /// `use a::*;`
    Glob,
    /// `use a::b as _;`
    Nothing,
}

/// One path of a `use` declaration or of code, as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathRef {
    /// Inline modules around it, outermost first.
    pub scope: Vec<String>,
    pub segments: Vec<String>,
    /// `Some` for a `use` leaf, `None` for a path in code.
    pub binding: Option<Binding>,
    pub line: usize,
}

/// Everything the module tree and the import rules need from one file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scan {
    pub mods: Vec<ModDecl>,
    /// `use` leaves and qualified paths in non-test code.
    pub paths: Vec<PathRef>,
    /// Macro invocations in non-test code: the name and its line.
    pub macros: Vec<(String, usize)>,
    /// The file starts with `#![cfg(test)]`.
    pub test_file: bool,
}

/// Scans the text of one Rust file.
pub fn scan(text: &str) -> Scan {
    let toks = tokenize(text);
    let mut scanner = Scanner { toks: &toks, out: Scan::default(), frames: Vec::new(), attrs: Vec::new() };
    scanner.run();
    scanner.out
}

/// An outer attribute waiting for its item.
struct Attr {
    test: bool,
    path: Option<String>,
}

/// An open brace: an inline module or any other block.
enum Frame {
    Module { name: String, test: bool },
    Block,
}

struct Scanner<'a> {
    toks: &'a [Token],
    out: Scan,
    frames: Vec<Frame>,
    attrs: Vec<Attr>,
}

/// Keywords that start an item an attribute can be attached to.
const ITEM_KEYWORDS: &[&str] = &[
    "async",
    "const",
    "enum",
    "extern",
    "fn",
    "impl",
    "macro_rules",
    "static",
    "struct",
    "trait",
    "type",
    "union",
    "unsafe",
    "use",
];

impl Scanner<'_> {
    fn word(&self, i: usize) -> Option<&str> {
        self.toks.get(i).and_then(Token::word)
    }

    fn punct(&self, i: usize, c: char) -> bool {
        self.toks.get(i).is_some_and(|t| t.is(c))
    }

    fn scope(&self) -> Vec<String> {
        let names = self.frames.iter().filter_map(|f| match f {
            Frame::Module { name, .. } => Some(name.clone()),
            Frame::Block => None,
        });
        names.collect()
    }

    /// `name!(`, `name![` or `name!{` at `i` (not `x != y`).
    fn is_macro_call(&self, i: usize) -> bool {
        self.punct(i + 1, '!') && ['(', '[', '{'].iter().any(|c| self.punct(i + 2, *c))
    }

    fn in_test(&self) -> bool {
        self.out.test_file || self.frames.iter().any(|f| matches!(f, Frame::Module { test: true, .. }))
    }

    fn run(&mut self) {
        let mut i = 0;
        while i < self.toks.len() {
            i = self.step(i);
        }
    }

    /// Handles the token at `i`; returns the index of the next one.
    fn step(&mut self, i: usize) -> usize {
        let tok = &self.toks[i];
        if tok.is('#') && (self.punct(i + 1, '[') || (self.punct(i + 1, '!') && self.punct(i + 2, '['))) {
            return self.attribute(i);
        }
        match tok.word() {
            // `pub(crate)`, `pub(in crate::x)`: a visibility, not a path.
            Some("pub") if self.punct(i + 1, '(') => return matching_close(self.toks, i + 1) + 1,
            Some("pub") => return i + 1,
            Some("mod") if self.word(i + 1).is_some() => return self.module(i),
            Some(w) if ITEM_KEYWORDS.contains(&w) && self.attrs.iter().any(|a| a.test) => {
                self.attrs.clear();
                return skip_item(self.toks, i);
            }
            // Not `use<'a>` (precise capturing in `impl Trait + use<'a>`).
            Some("use") if !self.punct(i + 1, '<') => {
                self.attrs.clear();
                return self.use_declaration(i);
            }
            _ => {}
        }
        self.attrs.clear();
        match tok.tok {
            Tok::Punct('{') => self.frames.push(Frame::Block),
            Tok::Punct('}') => drop(self.frames.pop()),
            Tok::Word(ref w) if self.is_macro_call(i) && !self.in_test() => {
                self.out.macros.push((w.clone(), tok.line));
            }
            Tok::Word(_) if self.starts_path(i) => return self.inline_path(i),
            _ => {}
        }
        i + 1
    }

    /// `#[...]` or `#![...]` at `i`.
    fn attribute(&mut self, i: usize) -> usize {
        let inner = self.punct(i + 1, '!');
        let open = if inner { i + 2 } else { i + 1 };
        let close = matching_close(self.toks, open);
        let body = &self.toks[open + 1..close];
        let test = is_test_cfg(body);
        if inner {
            if test && self.frames.is_empty() {
                self.out.test_file = true;
            }
        } else {
            let path = match body {
                [name, eq, value] if name.word() == Some("path") && eq.is('=') => match &value.tok {
                    Tok::Str(s) => Some(s.clone()),
                    _ => None,
                },
                _ => None,
            };
            self.attrs.push(Attr { test, path });
        }
        close + 1
    }

    /// `mod name;` or `mod name {` at `i`.
    fn module(&mut self, i: usize) -> usize {
        let name = self.word(i + 1).unwrap_or_default().to_string();
        let test = self.in_test() || self.attrs.iter().any(|a| a.test);
        let path_attr = self.attrs.iter().find_map(|a| a.path.clone());
        let inline = self.punct(i + 2, '{');
        let line = self.toks[i].line;
        self.out.mods.push(ModDecl { scope: self.scope(), name: name.clone(), path_attr, test, inline, line });
        self.attrs.clear();
        if inline {
            self.frames.push(Frame::Module { name, test });
            i + 3
        } else {
            i + 2
        }
    }

    /// A word followed by `::` that does not continue a longer path or
    /// name a field or method.
    fn starts_path(&self, i: usize) -> bool {
        let follows = |t: &Token| matches!(t.tok, Tok::PathSep) || t.is('.') || t.is('$');
        self.toks.get(i + 1).is_some_and(|t| t.tok == Tok::PathSep) && !(i > 0 && follows(&self.toks[i - 1]))
    }

    fn inline_path(&mut self, i: usize) -> usize {
        let line = self.toks[i].line;
        let mut segments = vec![self.word(i).unwrap_or_default().to_string()];
        let mut k = i + 1;
        while self.toks.get(k).is_some_and(|t| t.tok == Tok::PathSep) {
            match self.toks.get(k + 1).map(|t| &t.tok) {
                Some(Tok::Word(w) | Tok::RawWord(w)) => segments.push(w.clone()),
                _ => break,
            }
            k += 2;
        }
        if !self.in_test() {
            self.out.paths.push(PathRef { scope: self.scope(), segments, binding: None, line });
        }
        k
    }

    /// `use TREE;` at `i`; returns the index after the `;`.
    fn use_declaration(&mut self, i: usize) -> usize {
        let end = (i..self.toks.len()).find(|&k| self.toks[k].is(';')).unwrap_or(self.toks.len());
        let mut leaves = Vec::new();
        use_tree(&self.toks[i + 1..end], &mut 0, Vec::new(), &mut leaves);
        if !self.in_test() {
            let scope = self.scope();
            for (segments, binding, line) in leaves {
                self.out.paths.push(PathRef { scope: scope.clone(), segments, binding: Some(binding), line });
            }
        }
        end + 1
    }
}

/// Whether an attribute body is `cfg(test)` or `cfg(all(.., test, ..))`.
fn is_test_cfg(body: &[Token]) -> bool {
    fn predicate(toks: &[Token]) -> bool {
        match toks {
            [t] => t.word() == Some("test"),
            [all, open, rest @ .., close] if all.word() == Some("all") && open.is('(') && close.is(')') => {
                rest.split(|t| t.is(',')).any(predicate)
            }
            _ => false,
        }
    }
    match body {
        [cfg, open, pred @ .., close] if cfg.word() == Some("cfg") && open.is('(') && close.is(')') => predicate(pred),
        _ => false,
    }
}

/// The index after the item starting at `i`: after its `;`, or after the
/// `}` closing its first top-level brace.
fn skip_item(toks: &[Token], i: usize) -> usize {
    let mut k = i;
    while k < toks.len() {
        match toks[k].tok {
            Tok::Punct(';') => return k + 1,
            Tok::Punct('{') => return matching_close(toks, k) + 1,
            Tok::Punct('(' | '[') => k = matching_close(toks, k) + 1,
            _ => k += 1,
        }
    }
    k
}

/// Expands a use tree (`a::{b, c::{self, d as e}, f::*}`) into leaves.
fn use_tree(toks: &[Token], k: &mut usize, prefix: Vec<String>, out: &mut Vec<(Vec<String>, Binding, usize)>) {
    let mut path = prefix;
    if toks.get(*k).is_some_and(|t| t.tok == Tok::PathSep) {
        // `use ::name` names an external crate.
        path.push("::".to_string());
        *k += 1;
    }
    loop {
        let Some(tok) = toks.get(*k) else { return };
        match &tok.tok {
            Tok::Punct('*') => {
                *k += 1;
                out.push((path, Binding::Glob, tok.line));
                return;
            }
            Tok::Punct('{') => {
                *k += 1;
                while toks.get(*k).is_some_and(|t| !t.is('}')) {
                    use_tree(toks, k, path.clone(), out);
                    if toks.get(*k).is_some_and(|t| t.is(',')) {
                        *k += 1;
                    }
                }
                *k += 1;
                return;
            }
            Tok::Word(w) | Tok::RawWord(w) => {
                *k += 1;
                if toks.get(*k).is_some_and(|t| t.tok == Tok::PathSep) {
                    path.push(w.clone());
                    *k += 1;
                    continue;
                }
                let is_self = w == "self" && !path.is_empty();
                if !is_self {
                    path.push(w.clone());
                }
                let mut binding = Binding::Name(path.last().cloned().unwrap_or_default());
                if toks.get(*k).and_then(Token::word) == Some("as") {
                    binding = match toks.get(*k + 1).map(|t| &t.tok) {
                        Some(Tok::Word(n) | Tok::RawWord(n)) if n != "_" => Binding::Name(n.clone()),
                        _ => Binding::Nothing,
                    };
                    *k += 2;
                }
                out.push((path, binding, tok.line));
                return;
            }
            _ => {
                // Malformed: give up on this tree rather than guess.
                *k = toks.len();
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uses(text: &str) -> Vec<(String, Binding)> {
        let paths = scan(text).paths.into_iter().filter(|p| p.binding.is_some());
        paths.map(|p| (p.segments.join("::"), p.binding.unwrap_or(Binding::Nothing))).collect()
    }

    fn code_paths(text: &str) -> Vec<String> {
        scan(text).paths.into_iter().filter(|p| p.binding.is_none()).map(|p| p.segments.join("::")).collect()
    }

    fn name(n: &str) -> Binding {
        Binding::Name(n.to_string())
    }

    #[test]
    fn grouped_and_nested_uses_are_expanded() {
        let got = uses("use crate::{runtime::a, codegen::{self as cg, b::*}, c as _};");
        let expected = [
            ("crate::runtime::a".to_string(), name("a")),
            ("crate::codegen".to_string(), name("cg")),
            ("crate::codegen::b".to_string(), Binding::Glob),
            ("crate::c".to_string(), Binding::Nothing),
        ];
        assert_eq!(got, expected);
    }

    #[test]
    fn each_use_leaf_has_its_own_line() {
        let s = scan("use crate::{\n    a::x,\n    b::y,\n};");
        assert_eq!(s.paths.iter().map(|p| p.line).collect::<Vec<_>>(), [2, 3]);
    }

    #[test]
    fn qualified_paths_in_code_are_found_but_not_method_calls_or_continuations() {
        let text =
            "fn f() { let t = crate::runtime::sys::monotonic_ns(); x.clone(); Vec::<u8>::new(); super::super::y(); }";
        assert_eq!(code_paths(text), ["crate::runtime::sys::monotonic_ns", "Vec", "super::super::y"]);
    }

    #[test]
    fn paths_in_comments_and_strings_are_not_paths() {
        let text = "// crate::a::b\n/* use crate::c; */ fn f() { g(\"crate::d::e\", r#\"use crate::f;\"#); }";
        assert_eq!(scan(text).paths, []);
    }

    #[test]
    fn visibility_paths_are_not_dependencies() {
        assert_eq!(scan("pub(in crate::frontend) fn f() {} pub(crate) struct S;").paths, []);
    }

    #[test]
    fn mod_declarations_are_recorded_with_path_attributes_and_test_flags() {
        let text =
            "pub mod a;\n#[cfg(test)]\n#[path = \"b_tests.rs\"]\nmod tests;\nmod inner {\n    pub(crate) mod c;\n}";
        let mods = scan(text).mods;
        let brief: Vec<_> =
            mods.iter().map(|m| (m.scope.join("::"), m.name.as_str(), m.path_attr.as_deref(), m.test)).collect();
        let expected = [
            (String::new(), "a", None, false),
            (String::new(), "tests", Some("b_tests.rs"), true),
            (String::new(), "inner", None, false),
            ("inner".to_string(), "c", None, false),
        ];
        assert_eq!(brief, expected);
    }

    #[test]
    fn inline_test_modules_are_skipped_to_their_matching_brace() {
        let text = "#[cfg(test)]\nmod tests {\n    use crate::repl::x;\n    fn f() { if y { crate::repl::z(); } }\n}\nuse crate::diag::D;";
        assert_eq!(uses(text), [("crate::diag::D".to_string(), name("D"))]);
        assert_eq!(code_paths(text), Vec::<String>::new());
    }

    #[test]
    fn other_test_only_items_are_skipped_too() {
        let text = "#[cfg(test)]\npub(crate) fn helper() { crate::repl::x(); }\n#[cfg(all(test, unix))] use crate::repl::y;\nfn real() { crate::diag::f(); }";
        assert_eq!(code_paths(text), ["crate::diag::f"]);
        assert_eq!(uses(text), []);
    }

    #[test]
    fn cfg_any_test_is_not_test_only() {
        assert_eq!(uses("#[cfg(any(test, feature = \"x\"))]\nuse crate::repl::y;").len(), 1);
    }

    #[test]
    fn a_file_marked_cfg_test_is_all_test_code() {
        let s = scan("//! doc\n#![cfg(test)]\nuse crate::repl::x;\nmod m;");
        assert!(s.test_file);
        assert_eq!(s.paths, []);
        assert!(s.mods[0].test);
    }

    #[test]
    fn paths_inside_inline_modules_know_their_scope() {
        let s = scan("mod outer {\n    mod inner {\n        use super::x;\n    }\n}\nuse self::y;");
        let scopes: Vec<String> = s.paths.iter().map(|p| p.scope.join("::")).collect();
        assert_eq!(scopes, ["outer::inner", ""]);
    }
}
