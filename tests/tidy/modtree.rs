//! The module tree of the two crates under `src/` (the library at
//! `src/lib.rs`, the binary at `src/main.rs`) and the file-level imports
//! between their files.
//!
//! The tree is built the way rustc builds it: from each crate root along
//! `mod` declarations, honouring `#[path = "..."]`, so `super` and `self`
//! resolve from the right module (`src/x/mod.rs` is module `x`, `src/x/y.rs`
//! is `x::y`, `#[path = "probes_tests.rs"] mod tests;` in
//! `src/frontend/probes.rs` is `frontend::probes::tests`). A file declared
//! under `#[cfg(test)]`, or declared by such a file, is test code.
//!
//! A path is resolved to the file of its longest prefix that is a module:
//! `crate::a::b::Item` is `src/a/b.rs` if `a::b` is a module, else
//! `src/a.rs` (or `src/a/mod.rs`), else the crate root. Paths may start with
//! `crate`, `self`, `super`, a child module of the current one, or a name a
//! `use` bound to a module (`use super::sys::{self, X}` then `sys::f()`);
//! in the binary crate `trace::` is the library. Other paths (`std::`,
//! `libc::`, enum variants) are outside the crates and ignored.

use std::collections::{BTreeMap, HashMap};

use crate::scan::{scan, Binding, ModDecl, PathRef, Scan};
use crate::Source;

/// The library crate's root file.
pub const LIB_ROOT: &str = "src/lib.rs";
/// The binary crate's root file.
pub const BIN_ROOT: &str = "src/main.rs";
/// The library's name, which the binary uses for it.
const LIB_NAME: &str = "trace";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Crate {
    Lib,
    Bin,
}

/// Where a file sits in the module tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileModule {
    pub krate: Crate,
    /// The module path below the crate root (`["frontend", "probes"]`).
    pub module: Vec<String>,
    /// Compiled only under `#[cfg(test)]`.
    pub test: bool,
}

/// One file's use of another: `from` line `line` names `written`, a path
/// whose module lives in `to`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dep {
    pub from: String,
    pub line: usize,
    pub written: String,
    pub to: String,
}

/// The module tree, the imports of non-test code, and what got in the way.
#[derive(Debug, Default)]
pub struct Analysis {
    pub files: BTreeMap<String, FileModule>,
    pub deps: Vec<Dep>,
    /// Module files that do not exist, files no `mod` reaches.
    pub problems: Vec<String>,
}

/// Builds the module tree of `sources` (the `src/` files) and resolves
/// every `use` and qualified path of non-test code to a file.
pub fn analyze(sources: &[Source]) -> Analysis {
    let scans: HashMap<&str, Scan> = sources.iter().map(|s| (s.path.as_str(), scan(&s.text))).collect();
    let mut tree = Tree::default();
    tree.build(&scans);
    let mut analysis = Analysis { problems: tree.problems.clone(), ..Analysis::default() };
    for source in sources {
        if source.path.starts_with("src/") && !tree.files.contains_key(&source.path) {
            analysis.problems.push(format!(
                "{}: no `mod` declaration reaches this file, so it is not compiled and its imports cannot be \
                 checked; declare it in its parent module or delete it",
                source.path
            ));
        }
    }
    for (path, file) in &tree.files {
        if !file.test {
            analysis.deps.extend(tree.file_deps(path, file, &scans[path.as_str()]));
        }
    }
    analysis.files = tree.files;
    analysis
}

#[derive(Default)]
struct Tree {
    files: BTreeMap<String, FileModule>,
    /// Every module, file-backed or inline, and the file it is in.
    modules: HashMap<(Crate, Vec<String>), String>,
    problems: Vec<String>,
}

/// A file to visit: its place in the tree, and whether it owns its
/// directory (a crate root, a `mod.rs`, a file loaded by `#[path]`), so
/// its submodules sit next to it rather than in a folder named after it.
struct Visit {
    path: String,
    krate: Crate,
    module: Vec<String>,
    test: bool,
    owns_dir: bool,
}

impl Tree {
    fn build(&mut self, scans: &HashMap<&str, Scan>) {
        let mut queue: Vec<Visit> = [(LIB_ROOT, Crate::Lib), (BIN_ROOT, Crate::Bin)]
            .into_iter()
            .filter(|(root, _)| scans.contains_key(root))
            .map(|(root, krate)| Visit { path: root.to_string(), krate, module: vec![], test: false, owns_dir: true })
            .collect();
        while let Some(visit) = queue.pop() {
            if self.files.contains_key(&visit.path) {
                self.problems.push(format!("{}: declared as a module twice", visit.path));
                continue;
            }
            let scan = &scans[visit.path.as_str()];
            let test = visit.test || scan.test_file;
            self.modules.insert((visit.krate, visit.module.clone()), visit.path.clone());
            let file = FileModule { krate: visit.krate, module: visit.module.clone(), test };
            self.files.insert(visit.path.clone(), file);
            for decl in &scan.mods {
                let mut module = visit.module.clone();
                module.extend(decl.scope.iter().cloned());
                module.push(decl.name.clone());
                if decl.inline {
                    self.modules.insert((visit.krate, module), visit.path.clone());
                    continue;
                }
                match module_file(&visit, decl, scans) {
                    Ok(path) => {
                        let owns_dir = decl.path_attr.is_some() || path.ends_with("/mod.rs");
                        let test = test || decl.test;
                        queue.push(Visit { path, krate: visit.krate, module, test, owns_dir });
                    }
                    Err(tried) => self.problems.push(format!(
                        "{}:{}: `mod {};` but there is no {}",
                        visit.path,
                        decl.line,
                        decl.name,
                        tried.join(" or ")
                    )),
                }
            }
        }
    }

    fn is_module(&self, krate: Crate, module: &[String]) -> bool {
        self.modules.contains_key(&(krate, module.to_vec()))
    }

    /// The file of the longest prefix of `path` that is a module, and the
    /// length of that prefix.
    fn locate(&self, krate: Crate, path: &[String]) -> Option<(&str, usize)> {
        (0..=path.len()).rev().find_map(|k| self.modules.get(&(krate, path[..k].to_vec())).map(|f| (f.as_str(), k)))
    }

    fn file_deps(&self, path: &str, file: &FileModule, scan: &Scan) -> Vec<Dep> {
        let mut by_scope: BTreeMap<&[String], Vec<&PathRef>> = BTreeMap::new();
        for p in &scan.paths {
            by_scope.entry(p.scope.as_slice()).or_default().push(p);
        }
        let mut deps = Vec::new();
        for (scope, paths) in by_scope {
            let mut module = file.module.clone();
            module.extend(scope.iter().cloned());
            let mut here = Scope { tree: self, krate: file.krate, module, aliases: HashMap::new() };
            here.bind_module_aliases(&paths);
            for p in paths {
                let Some(absolute) = here.absolute(&p.segments) else { continue };
                let Some((to, k)) = self.locate(absolute.0, &absolute.1) else { continue };
                if to == path {
                    continue;
                }
                let written = shown(&p.segments, absolute.1.len() - k);
                deps.push(Dep { from: path.to_string(), line: p.line, written, to: to.to_string() });
            }
        }
        deps.sort_by_key(|d| d.line);
        deps.dedup();
        deps
    }
}

/// A path as written, cut where its module ends (`crate::a::b` of
/// `crate::a::b::f`, if `f` is not a module), `beyond_module` being how many
/// of its last names are not modules. Keeps one name after leading
/// `crate`, `self` and `super`: `crate::Program` says more than `crate`.
fn shown(segments: &[String], beyond_module: usize) -> String {
    let mut keep = segments.len().saturating_sub(beyond_module);
    let keyword = |s: &String| ["crate", "self", "super", LIB_NAME].contains(&s.as_str());
    while keep < segments.len() && segments[..keep].iter().all(keyword) {
        keep += 1;
    }
    segments[..keep].join("::")
}

/// Name resolution inside one module of one file.
struct Scope<'a> {
    tree: &'a Tree,
    krate: Crate,
    module: Vec<String>,
    /// Names `use` bound to modules.
    aliases: HashMap<String, (Crate, Vec<String>)>,
}

impl Scope<'_> {
    /// `use` leaves that name modules become names for those modules.
    /// Several rounds, as a `use` may start with a name another one binds.
    fn bind_module_aliases(&mut self, paths: &[&PathRef]) {
        for _ in 0..3 {
            for p in paths {
                let Some(Binding::Name(name)) = &p.binding else { continue };
                let Some((krate, absolute)) = self.absolute(&p.segments) else { continue };
                if self.tree.is_module(krate, &absolute) {
                    self.aliases.insert(name.clone(), (krate, absolute));
                }
            }
        }
    }

    /// The crate and full module path `segments` names, if in a crate.
    fn absolute(&self, segments: &[String]) -> Option<(Crate, Vec<String>)> {
        let (first, rest) = segments.split_first()?;
        let (krate, mut base, rest) = match first.as_str() {
            "crate" => (self.krate, vec![], rest),
            LIB_NAME if self.krate == Crate::Bin => (Crate::Lib, vec![], rest),
            "self" => (self.krate, self.module.clone(), rest),
            "super" => {
                let mut base = self.module.clone();
                let mut rest = segments;
                while rest.first().is_some_and(|s| s == "super") {
                    base.pop()?;
                    rest = &rest[1..];
                }
                (self.krate, base, rest)
            }
            name => {
                let mut child = self.module.clone();
                child.push(name.to_string());
                if self.tree.is_module(self.krate, &child) {
                    (self.krate, child, rest)
                } else {
                    let (krate, base) = self.aliases.get(name)?.clone();
                    (krate, base, rest)
                }
            }
        };
        base.extend(rest.iter().cloned());
        Some((krate, base))
    }
}

/// The file a `mod name;` declaration in `visit` loads, or the candidates
/// that do not exist.
fn module_file(visit: &Visit, decl: &ModDecl, scans: &HashMap<&str, Scan>) -> Result<String, Vec<String>> {
    let dir = visit.path.rsplit_once('/').map_or("", |(d, _)| d).to_string();
    let mut base = dir.clone();
    if !visit.owns_dir {
        let stem = visit.path.rsplit('/').next().unwrap_or("").trim_end_matches(".rs");
        base = format!("{dir}/{stem}");
    }
    for s in &decl.scope {
        base = format!("{base}/{s}");
    }
    let candidates = match &decl.path_attr {
        Some(attr) if decl.scope.is_empty() => vec![normalize(&format!("{dir}/{attr}"))],
        Some(attr) => vec![normalize(&format!("{base}/{attr}"))],
        None => vec![format!("{base}/{}.rs", decl.name), format!("{base}/{}/mod.rs", decl.name)],
    };
    candidates.iter().find(|c| scans.contains_key(c.as_str())).cloned().ok_or(candidates)
}

/// `a/./b/../c` → `a/c`.
fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "." | "" => {}
            ".." => drop(parts.pop()),
            p => parts.push(p),
        }
    }
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture;

    /// `from:line written -> to` for every import.
    fn imports(files: &[(&str, &str)]) -> Vec<String> {
        let a = analyze(&fixture(files));
        assert_eq!(a.problems, Vec::<String>::new());
        a.deps.iter().map(|d| format!("{}:{} {} -> {}", d.from, d.line, d.written, d.to)).collect()
    }

    const LIB: (&str, &str) = ("src/lib.rs", "pub mod a;\npub mod b;\npub fn run() {}\n");

    #[test]
    fn super_from_a_mod_rs_is_the_parent_of_its_folder() {
        let files = [
            LIB,
            ("src/a/mod.rs", "mod x;\nuse super::b::f;\n"),
            ("src/a/x.rs", "use super::y;\n"),
            ("src/b.rs", "pub fn f() {}\n"),
        ];
        let got = imports(&files);
        assert_eq!(got, ["src/a/mod.rs:2 super::b -> src/b.rs", "src/a/x.rs:1 super::y -> src/a/mod.rs"]);
    }

    #[test]
    fn super_from_a_leaf_file_is_its_own_folder() {
        let files = [
            LIB,
            ("src/a.rs", "mod x;\npub mod c;\n"),
            ("src/a/x.rs", "use super::c::T;\nfn f() { super::super::run(); }\n"),
            ("src/a/c.rs", "pub struct T;\n"),
            ("src/b.rs", ""),
        ];
        assert_eq!(
            imports(&files),
            ["src/a/x.rs:1 super::c -> src/a/c.rs", "src/a/x.rs:2 super::super::run -> src/lib.rs"]
        );
    }

    #[test]
    fn paths_resolve_to_the_longest_module_prefix() {
        let files = [
            LIB,
            ("src/a.rs", "pub mod deep;\n"),
            ("src/a/deep.rs", "pub fn f() {}\n"),
            ("src/b.rs", "use crate::a::deep::f;\nuse crate::a::Missing;\nuse crate::run;\nuse std::fmt;\n"),
        ];
        let expected = [
            "src/b.rs:1 crate::a::deep -> src/a/deep.rs",
            "src/b.rs:2 crate::a -> src/a.rs",
            "src/b.rs:3 crate::run -> src/lib.rs",
        ];
        assert_eq!(imports(&files), expected);
    }

    #[test]
    fn module_aliases_and_child_modules_start_paths() {
        let files = [
            LIB,
            ("src/a.rs", "pub mod sys;\npub mod inner;\nfn f() { inner::g(); }\n"),
            ("src/a/sys.rs", ""),
            ("src/a/inner.rs", ""),
            ("src/b.rs", "use crate::a::{self as os, Thing};\nfn f() { os::sys::now(); Thing::new(); }\n"),
        ];
        let expected = [
            "src/a.rs:3 inner -> src/a/inner.rs",
            "src/b.rs:1 crate::a -> src/a.rs",
            "src/b.rs:2 os::sys -> src/a/sys.rs",
        ];
        let mut got = imports(&files);
        got.sort();
        assert_eq!(got, expected);
    }

    #[test]
    fn the_binary_names_the_library_trace() {
        let files = [
            LIB,
            ("src/a.rs", ""),
            ("src/b.rs", ""),
            ("src/main.rs", "use trace::a;\nfn main() { trace::b::go(); let trace = 1; a::x(); }\n"),
        ];
        let got = imports(&files);
        let expected =
            ["src/main.rs:1 trace::a -> src/a.rs", "src/main.rs:2 trace::b -> src/b.rs", "src/main.rs:2 a -> src/a.rs"];
        assert_eq!(got, expected);
    }

    #[test]
    fn path_attributes_place_test_files_and_mark_them() {
        let files = [
            LIB,
            ("src/a.rs", "pub mod probes;\n"),
            ("src/a/probes.rs", "#[cfg(test)]\n#[path = \"probes_tests.rs\"]\nmod tests;\n"),
            ("src/a/probes_tests.rs", "#[path = \"helper.rs\"]\nmod helper;\nuse super::super::super::b;\n"),
            ("src/a/helper.rs", "use crate::b::x;\n"),
            ("src/b.rs", ""),
        ];
        let a = analyze(&fixture(&files));
        assert_eq!(a.problems, Vec::<String>::new());
        let module = |p: &str| (a.files[p].module.join("::"), a.files[p].test);
        assert_eq!(module("src/a/probes_tests.rs"), ("a::probes::tests".to_string(), true));
        assert_eq!(module("src/a/helper.rs"), ("a::probes::tests::helper".to_string(), true), "test by its parent");
        assert_eq!(a.deps, [], "test files import freely");
    }

    #[test]
    fn inline_modules_shift_self_and_super() {
        let files = [LIB, ("src/a.rs", "mod m {\n    use super::super::b;\n}\n"), ("src/b.rs", "")];
        assert_eq!(imports(&files), ["src/a.rs:2 super::super::b -> src/b.rs"]);
    }

    #[test]
    fn mod_declarations_are_not_imports() {
        assert_eq!(imports(&[LIB, ("src/a.rs", ""), ("src/b.rs", "")]), Vec::<String>::new());
    }

    #[test]
    fn missing_and_unreached_files_are_problems() {
        let a = analyze(&fixture(&[LIB, ("src/a.rs", ""), ("src/stray.rs", "")]));
        assert_eq!(a.problems.len(), 2, "{:?}", a.problems);
        assert!(a.problems[0].starts_with("src/lib.rs:2: `mod b;` but there is no src/b.rs or src/b/mod.rs"));
        assert!(a.problems[1].starts_with("src/stray.rs: no `mod` declaration reaches this file"));
    }

    #[test]
    fn normalize_handles_dot_and_dot_dot() {
        assert_eq!(normalize("src/a/./b/../c.rs"), "src/a/c.rs");
    }
}
