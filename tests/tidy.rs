//! The house rules, checked by reading the source, so drift fails CI.
//!
//! 1. Layers only point down: every file under `src/` is in exactly one
//!    layer of the table in ARCHITECTURE.md (top layer first), and uses only
//!    modules of its own layer or of layers below it.
//! 2. No import circle spans two folders.
//! 3. `unsafe` only in the OS module: `src/sys/` (which alone says
//!    `#![allow(unsafe_code)]`, in `src/sys/mod.rs`) and, for the test
//!    harness, `tests/scripts/sys.rs`.
//! 4. Every file under `src/` and `tests/` starts with a `//!` module doc.
//! 5. Every such file has at most 800 lines.
//! 6. No silent fallbacks in lowering (the table in `tidy/rules.rs`).
//! 7. ARCHITECTURE.md names real things: its backticked paths exist, and it
//!    mentions every file and folder directly in `src/`.
//!
//! Test code is exempt from rules 1 and 2 (tests may drive the pipeline end
//! to end): files declared under `#[cfg(test)]` and `#[cfg(test)]` items.
//!
//! The checker works on an in-memory list of files, so its own tests below
//! each module use small synthetic trees; the tests in this file run it on
//! the real one. Each failure lists every violation with its file and line.

use std::fs;
use std::path::Path;
use std::sync::OnceLock;

// The crate root is tests/tidy.rs, so plain `mod` would look in tests/.
#[path = "tidy/layers.rs"]
mod layers;
#[path = "tidy/lex.rs"]
mod lex;
#[path = "tidy/modtree.rs"]
mod modtree;
#[path = "tidy/rules.rs"]
mod rules;
#[path = "tidy/scan.rs"]
mod scan;

/// A file of the repository: its path relative to the crate's root, with
/// `/` separators, and its text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    pub path: String,
    pub text: String,
}

/// Synthetic files for the checker's own tests.
pub fn fixture(files: &[(&str, &str)]) -> Vec<Source> {
    files.iter().map(|(path, text)| Source { path: path.to_string(), text: text.to_string() }).collect()
}

const LAYERS_HINT: &str = "the layers are the table between `<!-- tidy:layers -->` and `<!-- /tidy:layers -->` in \
     ARCHITECTURE.md, top layer first; a file may use modules of its own layer and of the layers below it. Move the \
     code to the layer it belongs to, pass what it needs in from above (a parameter, a trait, a callback), or, if \
     the design changed, change the table and say why in ARCHITECTURE.md.";

/// The crate's root folder.
fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file under `src/` and `tests/`, sorted by path.
fn tree() -> &'static [Source] {
    static TREE: OnceLock<Vec<Source>> = OnceLock::new();
    TREE.get_or_init(|| {
        let mut files = Vec::new();
        for dir in ["src", "tests"] {
            collect(&root().join(dir), dir, &mut files);
        }
        files.sort_by(|a, b| a.path.cmp(&b.path));
        files
    })
}

fn collect(dir: &Path, relative: &str, out: &mut Vec<Source>) {
    let entries = fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
    for entry in entries {
        let entry = entry.expect("a directory entry");
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = format!("{relative}/{name}");
        if entry.file_type().expect("a file type").is_dir() {
            collect(&entry.path(), &path, out);
        } else if name.ends_with(".rs") {
            let text = fs::read_to_string(entry.path()).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
            out.push(Source { path, text });
        }
    }
}

/// The module tree and the imports of the files under `src/`.
fn analysis() -> &'static modtree::Analysis {
    static ANALYSIS: OnceLock<modtree::Analysis> = OnceLock::new();
    ANALYSIS.get_or_init(|| modtree::analyze(&src_files()))
}

fn src_files() -> Vec<Source> {
    tree().iter().filter(|s| s.path.starts_with("src/")).cloned().collect()
}

fn architecture_md() -> String {
    fs::read_to_string(root().join("ARCHITECTURE.md")).expect("ARCHITECTURE.md at the crate's root")
}

fn layers() -> Vec<layers::Layer> {
    layers::parse_layers(&architecture_md()).unwrap_or_else(|errors| {
        panic!("the layer table of ARCHITECTURE.md cannot be read:\n  {}", errors.join("\n  "))
    })
}

/// Fails listing `violations` of `rule`, with a `hint` on fixing them.
fn assert_none(rule: &str, violations: &[String], hint: &str) {
    assert!(
        violations.is_empty(),
        "{rule}: {} violation(s)\n\n  {}\n\nhint: {hint}\n",
        violations.len(),
        violations.join("\n  ")
    );
}

#[test]
fn every_source_file_is_in_exactly_one_layer() {
    let paths: Vec<&str> = tree().iter().map(|s| s.path.as_str()).collect();
    assert_none("every file under src/ is in exactly one layer", &layers::unclassified(&paths, &layers()), LAYERS_HINT);
}

#[test]
fn the_module_tree_reaches_every_source_file() {
    let analysis = analysis();
    let hint = "a file no `mod` declaration reaches is not compiled, so no rule can check its imports";
    assert_none("every file under src/ is a module of the library or the binary", &analysis.problems, hint);
}

#[test]
fn layers_only_point_down() {
    let analysis = analysis();
    assert_none("layers only point down", &layers::upward(&analysis.deps, &layers()), LAYERS_HINT);
}

#[test]
fn no_import_circle_spans_two_folders() {
    let paths: Vec<&str> = tree().iter().map(|s| s.path.as_str()).collect();
    let analysis = analysis();
    let hint = "break the circle where an import goes against the layers in ARCHITECTURE.md: move the shared \
                piece down, or pass it in from above; circles inside one folder are fine";
    assert_none("no import circle spans two folders", &layers::cycles_across_folders(&analysis.deps, &paths), hint);
}

#[test]
fn unsafe_only_in_the_os_module() {
    let hint = "the OS module (src/sys/, and tests/scripts/sys.rs for the test harness) wraps every unsafe call \
                in a safe function; see ARCHITECTURE.md";
    assert_none("`unsafe` only in the OS module", &rules::unsafe_outside_os_module(tree()), hint);
}

#[test]
fn every_file_starts_with_a_module_doc() {
    let hint = "the first line of every file is a `//!` line saying what the module is for";
    assert_none("every module has a `//!` doc", &rules::missing_module_docs(tree()), hint);
}

#[test]
fn every_file_is_under_the_line_limit() {
    let hint = "a long file is several topics; split it along them (see ARCHITECTURE.md for where things go)";
    assert_none(&format!("files are at most {} lines", rules::MAX_LINES), &rules::too_long(tree()), hint);
}

#[test]
fn lowering_has_no_silent_fallbacks() {
    let hint = "a state type checking excludes is a compiler bug when lowering meets it: report it as an internal \
                error diagnostic (see FORBIDDEN_IN_LOWERING in tests/tidy/rules.rs)";
    assert_none("no silent fallbacks in lowering", &rules::silent_fallbacks(tree()), hint);
}

#[test]
fn no_print_macro_on_a_stream_that_can_fail() {
    let analysis = analysis();
    let sources = src_files();
    let macros: Vec<Vec<(String, usize)>> = sources.iter().map(|s| scan::scan(&s.text).macros).collect();
    let test_only = |path: &str| analysis.files.get(path).is_some_and(|f| f.test);
    let files: Vec<rules::FileMacros> =
        sources.iter().zip(&macros).map(|(s, m)| (s.path.as_str(), test_only(&s.path), m.as_slice())).collect();
    let hint = "write to stderr with diag::stderr_line or diag::warn, to stdout through a writer whose errors end \
                the session (see runtime/printer.rs)";
    assert_none("no print-family macro in src/", &rules::print_macros(&files), hint);
}

#[test]
fn architecture_md_names_real_things() {
    let exists = |path: &str| {
        let full = root().join(path);
        if path.ends_with('/') {
            full.is_dir()
        } else {
            full.exists()
        }
    };
    let entries = fs::read_dir(root().join("src")).expect("src/ at the crate's root");
    let mut top_level: Vec<(String, bool)> = entries
        .map(|e| e.expect("a directory entry"))
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path().is_dir()))
        .collect();
    top_level.sort();
    let violations = rules::architecture_names(&architecture_md(), &exists, &top_level);
    let hint = "ARCHITECTURE.md is the map of the code: keep its paths in step with the tree";
    assert_none("ARCHITECTURE.md names real things", &violations, hint);
}
