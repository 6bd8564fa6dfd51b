//! Rules 1 and 2: layers only point down, and no import circle spans two
//! folders.
//!
//! The layers are the table between `<!-- tidy:layers -->` and
//! `<!-- /tidy:layers -->` in ARCHITECTURE.md, top layer first; each row
//! names a layer and its paths (a path ending in `/` covers every file
//! below it). Every file under `src/` is in exactly one layer, and its
//! non-test code uses only modules of its own layer or of layers below.
//!
//! Circles of imports are fine inside one folder (a module and its helper
//! files grow together) but not across folders, where they mean two parts
//! cannot be understood, tested or moved one without the other. A file
//! `x.rs` whose submodules live in `x/` counts as part of `x/`, as
//! `x/mod.rs` would.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::modtree::Dep;

/// Where the layer table starts and ends in ARCHITECTURE.md.
pub const BEGIN: &str = "<!-- tidy:layers -->";
pub const END: &str = "<!-- /tidy:layers -->";

/// One row of the layer table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layer {
    pub name: String,
    /// Files, or folders ending in `/`, all under `src/`.
    pub paths: Vec<String>,
}

/// The layer table of ARCHITECTURE.md (given as `doc`), top layer first.
pub fn parse_layers(doc: &str) -> Result<Vec<Layer>, Vec<String>> {
    let lines: Vec<&str> = doc.lines().collect();
    let begin = lines.iter().position(|l| l.trim() == BEGIN);
    let end = lines.iter().position(|l| l.trim() == END);
    let (Some(begin), Some(end)) = (begin, end) else {
        return Err(vec![format!("ARCHITECTURE.md has no layer table between the lines `{BEGIN}` and `{END}`")]);
    };
    let mut layers: Vec<Layer> = Vec::new();
    let mut errors = Vec::new();
    let mut rows = 0;
    for (n, line) in lines.iter().enumerate().take(end).skip(begin + 1) {
        let at = format!("ARCHITECTURE.md:{}", n + 1);
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let Some(inner) = line.strip_prefix('|').and_then(|l| l.strip_suffix('|')) else {
            errors.push(format!("{at}: not a table row: `{line}`"));
            continue;
        };
        let cells: Vec<&str> = inner.split('|').map(str::trim).collect();
        rows += 1;
        let separator = cells.iter().all(|c| !c.is_empty() && c.chars().all(|ch| matches!(ch, '-' | ':' | ' ')));
        if rows == 1 || separator {
            continue;
        }
        let [name, paths] = cells[..] else {
            errors.push(format!("{at}: a layer row has two cells, `| name | paths |`"));
            continue;
        };
        let name = name.trim_matches('`').to_string();
        let paths = code_spans(paths);
        if paths.is_empty() {
            errors.push(format!("{at}: layer {name} lists no paths (write them in backticks: `src/x/`)"));
        }
        for p in paths.iter().filter(|p| !p.starts_with("src/")) {
            errors.push(format!("{at}: layer {name} lists `{p}`, which is not under src/"));
        }
        if layers.iter().any(|l| l.name == name) {
            errors.push(format!("{at}: layer {name} is listed twice"));
        }
        layers.push(Layer { name, paths });
    }
    if layers.is_empty() && errors.is_empty() {
        errors.push(format!("ARCHITECTURE.md: the layer table between `{BEGIN}` and `{END}` has no layers"));
    }
    if errors.is_empty() {
        Ok(layers)
    } else {
        Err(errors)
    }
}

/// The contents of every `` `code span` `` in `text`.
pub fn code_spans(text: &str) -> Vec<String> {
    text.split('`').skip(1).step_by(2).map(|s| s.trim().to_string()).collect()
}

/// The indices of the layers whose paths cover `file`.
fn layers_of(file: &str, layers: &[Layer]) -> Vec<usize> {
    let covers = |p: &String| if p.ends_with('/') { file.starts_with(p.as_str()) } else { file == p };
    (0..layers.len()).filter(|&i| layers[i].paths.iter().any(covers)).collect()
}

/// Files under `src/` in no layer or in more than one.
pub fn unclassified(files: &[&str], layers: &[Layer]) -> Vec<String> {
    let mut out = Vec::new();
    for file in files.iter().filter(|f| f.starts_with("src/")) {
        match layers_of(file, layers)[..] {
            [] => out.push(format!(
                "{file} is in no layer: add it, or a folder above it, to a layer of the table in ARCHITECTURE.md"
            )),
            [_] => {}
            ref several => {
                let names: Vec<&str> = several.iter().map(|&i| layers[i].name.as_str()).collect();
                out.push(format!("{file} is in several layers ({}): list it under one", names.join(", ")));
            }
        }
    }
    out
}

/// Imports from a file to a module of a layer above the file's own.
pub fn upward(deps: &[Dep], layers: &[Layer]) -> Vec<String> {
    let single = |f: &str| match layers_of(f, layers)[..] {
        [i] => Some(i),
        _ => None,
    };
    let mut out = Vec::new();
    for d in deps {
        let (Some(from), Some(to)) = (single(&d.from), single(&d.to)) else { continue };
        if to < from {
            out.push(format!(
                "{}:{} uses {} ({}, layer {}), above its own layer {}",
                d.from, d.line, d.written, d.to, layers[to].name, layers[from].name
            ));
        }
    }
    out
}

/// The folder a file belongs to: its directory, or `x/` for a module file
/// `x.rs` whose submodules are in `x/`.
fn folder<'a>(file: &'a str, files: &BTreeSet<&str>) -> &'a str {
    let stem = file.strip_suffix(".rs").unwrap_or(file);
    let prefix = format!("{stem}/");
    if files.range(prefix.as_str()..).next().is_some_and(|f| f.starts_with(&prefix)) {
        stem
    } else {
        file.rsplit_once('/').map_or("", |(dir, _)| dir)
    }
}

/// Circles of imports (strongly connected components of the file graph)
/// whose files are in more than one folder, each with one cycle spelled
/// out import by import. `files` is every source file (for folders).
pub fn cycles_across_folders(deps: &[Dep], files: &[&str]) -> Vec<String> {
    let all: BTreeSet<&str> = files.iter().copied().collect();
    let mut edges: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for d in deps {
        edges.entry(&d.from).or_default().insert(&d.to);
        edges.entry(&d.to).or_default();
    }
    let mut out = Vec::new();
    for component in strongly_connected(&edges) {
        let folders: BTreeSet<&str> = component.iter().map(|f| folder(f, &all)).collect();
        if folders.len() < 2 {
            continue;
        }
        let inside: BTreeSet<&str> = component.iter().copied().collect();
        let cycle = shortest_cross_folder_cycle(&edges, &inside, &all);
        let steps: Vec<String> = cycle
            .windows(2)
            .map(|w| {
                let d = deps.iter().find(|d| d.from == w[0] && d.to == w[1]).expect("an edge has an import");
                format!("    {}:{} uses {} ({})", d.from, d.line, d.written, d.to)
            })
            .collect();
        out.push(format!(
            "import circle across folders {} ({} files: {}); one cycle:\n{}",
            folders.into_iter().collect::<Vec<_>>().join(", "),
            component.len(),
            component.join(", "),
            steps.join("\n")
        ));
    }
    out
}

/// Tarjan's algorithm; components of two or more files, each sorted.
fn strongly_connected<'a>(edges: &BTreeMap<&'a str, BTreeSet<&'a str>>) -> Vec<Vec<&'a str>> {
    struct State<'a, 'e> {
        edges: &'e BTreeMap<&'a str, BTreeSet<&'a str>>,
        index: BTreeMap<&'a str, (usize, usize)>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        out: Vec<Vec<&'a str>>,
    }
    fn visit<'a>(s: &mut State<'a, '_>, v: &'a str) {
        let n = s.index.len();
        s.index.insert(v, (n, n));
        s.stack.push(v);
        s.on_stack.insert(v);
        for &w in &s.edges[v] {
            if !s.index.contains_key(w) {
                visit(s, w);
                let low = s.index[v].1.min(s.index[w].1);
                s.index.entry(v).or_default().1 = low;
            } else if s.on_stack.contains(w) {
                let low = s.index[v].1.min(s.index[w].0);
                s.index.entry(v).or_default().1 = low;
            }
        }
        if s.index[v].0 == s.index[v].1 {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w);
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.out.push(component);
            }
        }
    }
    let mut s = State { edges, index: BTreeMap::new(), stack: vec![], on_stack: BTreeSet::new(), out: vec![] };
    for &v in edges.keys() {
        if !s.index.contains_key(v) {
            visit(&mut s, v);
        }
    }
    s.out.sort();
    s.out
}

/// The shortest cycle inside `component` that crosses a folder boundary,
/// as files from start back to start.
fn shortest_cross_folder_cycle<'a>(
    edges: &BTreeMap<&'a str, BTreeSet<&'a str>>,
    component: &BTreeSet<&'a str>,
    all: &BTreeSet<&str>,
) -> Vec<&'a str> {
    let mut best: Option<Vec<&'a str>> = None;
    for &u in component {
        for &v in edges[u].iter().filter(|v| component.contains(*v) && folder(v, all) != folder(u, all)) {
            // Breadth-first from v back to u.
            let mut came_from: BTreeMap<&str, &str> = BTreeMap::new();
            let mut queue = VecDeque::from([v]);
            while let Some(x) = queue.pop_front() {
                if x == u {
                    break;
                }
                for &y in edges[x].iter().filter(|y| component.contains(*y)) {
                    if y != v && !came_from.contains_key(y) {
                        came_from.insert(y, x);
                        queue.push_back(y);
                    }
                }
            }
            let mut path = vec![u];
            let mut x = u;
            while x != v {
                x = came_from[x];
                path.push(x);
            }
            path.push(u);
            path.reverse();
            if best.as_ref().is_none_or(|b| path.len() < b.len()) {
                best = Some(path);
            }
        }
    }
    best.unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture;
    use crate::modtree::analyze;

    const TABLE: &str = "# Architecture\n\nProse.\n\n<!-- tidy:layers -->\n| layer | paths |\n| --- | --- |\n\
        | repl | `src/repl/` |\n| runtime | `src/runtime/`, `src/lib.rs` |\n| frontend | `src/frontend/` |\n\
        <!-- /tidy:layers -->\n";

    fn layers() -> Vec<Layer> {
        parse_layers(TABLE).expect("the fixture table parses")
    }

    /// Rule 1's messages for a synthetic crate.
    fn layer_violations(files: &[(&str, &str)]) -> Vec<String> {
        let sources = fixture(files);
        let analysis = analyze(&sources);
        assert_eq!(analysis.problems, Vec::<String>::new());
        let paths: Vec<&str> = sources.iter().map(|s| s.path.as_str()).collect();
        let mut out = unclassified(&paths, &layers());
        out.extend(upward(&analysis.deps, &layers()));
        out
    }

    const LIB: (&str, &str) = ("src/lib.rs", "pub mod frontend;\npub mod runtime;\npub mod repl;\n");

    fn tree_with(frontend_x: &str) -> Vec<(&str, &str)> {
        vec![
            LIB,
            ("src/frontend/mod.rs", "pub mod x;\n"),
            ("src/frontend/x.rs", frontend_x),
            ("src/runtime/mod.rs", "pub mod y;\n"),
            ("src/runtime/y.rs", "use crate::frontend::x::parse;\n"),
            ("src/repl/mod.rs", "pub mod z;\n"),
            ("src/repl/z.rs", ""),
        ]
    }

    #[test]
    fn the_layer_table_is_read_top_first() {
        let names: Vec<String> = layers().into_iter().map(|l| l.name).collect();
        assert_eq!(names, ["repl", "runtime", "frontend"]);
        assert_eq!(layers()[1].paths, ["src/runtime/", "src/lib.rs"]);
    }

    #[test]
    fn a_missing_or_malformed_table_is_reported() {
        assert!(parse_layers("# Architecture\n").is_err());
        let bad = "<!-- tidy:layers -->\n| layer | paths |\n| --- | --- |\n| cli | main.rs |\n| x | `lib.rs` |\n<!-- /tidy:layers -->";
        let errors = parse_layers(bad).expect_err("no backticks, not under src/");
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].starts_with("ARCHITECTURE.md:4: layer cli lists no paths"), "{errors:?}");
        assert!(errors[1].starts_with("ARCHITECTURE.md:5: layer x lists `lib.rs`, which is not under src/"));
    }

    #[test]
    fn a_downward_import_is_fine() {
        assert_eq!(layer_violations(&tree_with("pub fn parse() {}\n")), Vec::<String>::new());
    }

    #[test]
    fn an_upward_import_is_reported_with_both_layers() {
        let got = layer_violations(&tree_with("//! x\n\nuse crate::runtime::y;\n"));
        let expected = "src/frontend/x.rs:3 uses crate::runtime::y (src/runtime/y.rs, layer runtime), above its own layer frontend";
        assert_eq!(got, [expected]);
    }

    #[test]
    fn every_leaf_of_a_grouped_use_counts() {
        let got = layer_violations(&tree_with("use crate::{runtime::y, repl::{z, self}};\n"));
        assert_eq!(got.len(), 3, "{got:?}");
        assert!(got[0].contains("crate::runtime::y (src/runtime/y.rs, layer runtime)"), "{got:?}");
        assert!(got[1].contains("crate::repl::z (src/repl/z.rs, layer repl)"), "{got:?}");
        assert!(got[2].contains("crate::repl (src/repl/mod.rs, layer repl)"), "{got:?}");
    }

    #[test]
    fn an_inline_path_in_code_counts() {
        let got = layer_violations(&tree_with("fn f() -> u64 {\n    crate::runtime::y::now()\n}\n"));
        assert_eq!(got.len(), 1);
        assert!(got[0].starts_with("src/frontend/x.rs:2 uses crate::runtime::y "), "{got:?}");
    }

    #[test]
    fn paths_in_comments_and_strings_do_not_count() {
        let text = "// use crate::repl::z;\n/** crate::repl::z */\nconst A: &str = \"crate::repl::z\";\n\
                    const B: &str = r#\"use crate::runtime::y;\"#;\nconst C: &[u8] = br\"crate::repl::z()\";\n";
        assert_eq!(layer_violations(&tree_with(text)), Vec::<String>::new());
    }

    #[test]
    fn a_crate_root_item_is_in_the_root_files_layer() {
        let got = layer_violations(&tree_with("use crate::Program;\n"));
        assert_eq!(
            got,
            ["src/frontend/x.rs:1 uses crate::Program (src/lib.rs, layer runtime), above its own layer frontend"]
        );
    }

    #[test]
    fn inline_test_modules_are_exempt() {
        let text = "pub fn parse() {}\n#[cfg(test)]\nmod tests {\n    use crate::repl::x;\n}\n";
        assert_eq!(layer_violations(&tree_with(text)), Vec::<String>::new());
    }

    #[test]
    fn test_only_files_are_exempt() {
        let mut files = tree_with("");
        files[1].1 = "pub mod x;\n#[cfg(test)]\nmod testing;\n";
        files.push(("src/frontend/testing.rs", "use crate::repl::z;\n"));
        assert_eq!(layer_violations(&files), Vec::<String>::new());
    }

    #[test]
    fn an_unclassified_file_is_named() {
        let mut files = tree_with("");
        files[0].1 = "pub mod frontend;\npub mod runtime;\npub mod repl;\npub mod stray;\n";
        files.push(("src/stray.rs", ""));
        let got = layer_violations(&files);
        assert_eq!(got.len(), 1);
        assert!(got[0].starts_with("src/stray.rs is in no layer: add it"), "{got:?}");
    }

    #[test]
    fn a_file_in_two_layers_is_named() {
        let table = TABLE.replace("`src/repl/` |", "`src/repl/`, `src/frontend/x.rs` |");
        let layers = parse_layers(&table).expect("parses");
        let got = unclassified(&["src/frontend/x.rs", "src/repl/z.rs"], &layers);
        assert_eq!(got, ["src/frontend/x.rs is in several layers (repl, frontend): list it under one"]);
    }

    /// Rule 2's messages for a synthetic crate.
    fn circles(files: &[(&str, &str)]) -> Vec<String> {
        let sources = fixture(files);
        let analysis = analyze(&sources);
        assert_eq!(analysis.problems, Vec::<String>::new());
        let paths: Vec<&str> = sources.iter().map(|s| s.path.as_str()).collect();
        cycles_across_folders(&analysis.deps, &paths)
    }

    #[test]
    fn a_circle_across_two_folders_is_reported_with_a_cycle() {
        let got = circles(&tree_with("use crate::runtime::y::now;\n"));
        let expected = "import circle across folders src/frontend, src/runtime (2 files: src/frontend/x.rs, \
                        src/runtime/y.rs); one cycle:\n    src/frontend/x.rs:1 uses crate::runtime::y \
                        (src/runtime/y.rs)\n    src/runtime/y.rs:1 uses crate::frontend::x (src/frontend/x.rs)";
        assert_eq!(got, [expected]);
    }

    #[test]
    fn a_circle_inside_one_folder_is_fine() {
        let files = [
            ("src/lib.rs", "pub mod a;\n"),
            ("src/a/mod.rs", "mod b;\nmod c;\npub use b::B;\n"),
            ("src/a/b.rs", "use super::c::C;\npub struct B;\n"),
            ("src/a/c.rs", "use super::B;\npub struct C;\n"),
        ];
        assert_eq!(circles(&files), Vec::<String>::new());
    }

    #[test]
    fn a_module_file_and_its_folder_are_one_folder() {
        let files = [
            ("src/lib.rs", "pub mod a;\n"),
            ("src/a.rs", "mod split;\npub use split::S;\npub struct T;\n"),
            ("src/a/split.rs", "use super::T;\npub struct S;\n"),
        ];
        assert_eq!(circles(&files), Vec::<String>::new());
    }
}
