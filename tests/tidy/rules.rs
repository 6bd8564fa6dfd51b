//! Rules 3 to 7, each a pure function from file texts to violations:
//! `unsafe` only in the OS module, a `//!` doc on every file, files under
//! 800 lines, no silent fallbacks in lowering, and an ARCHITECTURE.md that
//! names only real paths and every top-level part of `src/`.

use crate::lex::{find_sequence, matching_close, tokenize};
use crate::Source;

/// The longest a source file may be.
pub const MAX_LINES: usize = 800;

/// The modules that may say `#![allow(unsafe_code)]`: the crate's OS
/// module, and the test harness's (a separate crate, so it needs its own).
pub const OS_MODULES: [&str; 2] = ["src/sys/mod.rs", "tests/scripts/sys.rs"];

/// Where `unsafe` may appear: the OS module of the crate, and the OS module
/// of the test harness.
fn may_be_unsafe(path: &str) -> bool {
    path.starts_with("src/sys/") || path == "tests/scripts/sys.rs"
}

/// Rule 3: the `unsafe` keyword outside the OS modules (comments, strings
/// and raw identifiers do not count), and `allow(unsafe_code)` anywhere
/// but as the inner attribute of an OS module's file.
pub fn unsafe_outside_os_module(sources: &[Source]) -> Vec<String> {
    let mut out = Vec::new();
    for s in sources {
        let toks = tokenize(&s.text);
        let mut lines: Vec<usize> = toks.iter().filter(|t| t.word() == Some("unsafe")).map(|t| t.line).collect();
        lines.dedup();
        if !may_be_unsafe(&s.path) {
            let home = if s.path.starts_with("tests/") { "tests/scripts/sys.rs" } else { "src/sys/" };
            for line in lines {
                out.push(format!(
                    "{}:{line}: `unsafe` outside the OS module; move it into {home} behind a safe function",
                    s.path
                ));
            }
        }
        for (i, t) in toks.iter().enumerate() {
            let inner = toks.get(i + 1).is_some_and(|t| t.is('!'));
            let open = if inner { i + 2 } else { i + 1 };
            if !t.is('#') || !toks.get(open).is_some_and(|t| t.is('[')) {
                continue;
            }
            let body = &toks[open..=matching_close(&toks, open)];
            let has = |w: &str| body.iter().any(|t| t.word() == Some(w));
            if !has("unsafe_code") || !(has("allow") || has("expect")) {
                continue;
            }
            if !OS_MODULES.contains(&s.path.as_str()) {
                out.push(format!(
                    "{}:{}: `allow(unsafe_code)` outside src/sys/mod.rs; unsafe code lives in src/sys/, which allows \
                     it once with `#![allow(unsafe_code)]`",
                    s.path, t.line
                ));
            } else if !inner {
                out.push(format!(
                    "{}:{}: allow unsafe code for the whole module, once, with the inner attribute \
                     `#![allow(unsafe_code)]` at the top of the file",
                    s.path, t.line
                ));
            }
        }
    }
    out
}

/// Rule 4: every file starts with a `//!` line saying what it is for.
pub fn missing_module_docs(sources: &[Source]) -> Vec<String> {
    let undocumented = sources.iter().filter(|s| !s.text.starts_with("//!"));
    undocumented
        .map(|s| format!("{}:1: the file does not start with a `//!` doc; say first what the module is for", s.path))
        .collect()
}

/// Rule 5: no file over [`MAX_LINES`] lines.
pub fn too_long(sources: &[Source]) -> Vec<String> {
    let mut out = Vec::new();
    for s in sources {
        let n = s.text.lines().count();
        if n > MAX_LINES {
            out.push(format!(
                "{}: {n} lines, over the limit of {MAX_LINES}; split it by topic (tests can move to a \
                 `#[cfg(test)] #[path = \"..._tests.rs\"] mod tests;` file)",
                s.path
            ));
        }
    }
    out
}

/// Code that lowering (`src/codegen/lower*.rs`) must not contain, and why.
///
/// Type checking excludes some states (a map it never saw, a value of the
/// wrong kind). Lowering reaches them only through a bug in the checker,
/// and must then stop with an internal-error diagnostic: carrying on with a
/// made-up value compiles a program that silently does the wrong thing.
/// Add a row when another silent fallback turns up; patterns are matched as
/// tokens, so spacing and line breaks do not matter, comments never match.
pub const FORBIDDEN_IN_LOWERING: &[(&str, &str)] = &[
    (
        "Val::Int(self.imm(0))",
        "a silent zero where the checker's guarantee failed; return an internal-error diagnostic instead",
    ),
    (
        "unwrap_or(MapId(",
        "a silent fallback map id (a real, different map) for a map the checker should have known; return an \
         internal-error diagnostic instead",
    ),
];

/// Whether `path` is a lowering file, `src/codegen/lower*.rs`.
fn is_lowering(path: &str) -> bool {
    path.strip_prefix("src/codegen/lower").is_some_and(|rest| rest.ends_with(".rs") && !rest.contains('/'))
}

/// Rule 6: no [`FORBIDDEN_IN_LOWERING`] pattern in lowering files.
pub fn silent_fallbacks(sources: &[Source]) -> Vec<String> {
    let mut out = Vec::new();
    for s in sources.iter().filter(|s| is_lowering(&s.path)) {
        let toks = tokenize(&s.text);
        for (pattern, why) in FORBIDDEN_IN_LOWERING {
            for line in find_sequence(&toks, pattern) {
                out.push(format!("{}:{line}: `{pattern}`: {why}", s.path));
            }
        }
    }
    out
}

/// Macros that write to stdout or stderr and panic when the write fails
/// (a closed pipe, a full device): the session must end or go on, never
/// abort. Write through `diag::stderr_line`/`diag::warn` or to a stream
/// whose errors are handled.
pub const PRINT_MACROS: &[&str] = &["print", "println", "eprint", "eprintln", "dbg"];

/// One file for [`print_macros`]: its path, whether it is test-only, and
/// its macro calls outside test code (name, line).
pub type FileMacros<'a> = (&'a str, bool, &'a [(String, usize)]);

/// Rule 8: no [`PRINT_MACROS`] call in the non-test code of `src/`.
pub fn print_macros(files: &[FileMacros]) -> Vec<String> {
    let mut out = Vec::new();
    for (path, test_only, macros) in files {
        if *test_only || !path.starts_with("src/") {
            continue;
        }
        for (name, line) in macros.iter().filter(|(n, _)| PRINT_MACROS.contains(&n.as_str())) {
            out.push(format!("{path}:{line}: `{name}!` panics when its stream is closed or full"));
        }
    }
    out
}

/// Top-level folders whose paths ARCHITECTURE.md may name.
const REPO_FOLDERS: &[&str] = &["src/", "tests/", "grammar/", "examples/", "bench/", ".ci/"];

/// Rule 7: every backticked repository path in ARCHITECTURE.md (`doc`)
/// exists, and every entry directly in `src/` (`top_level`: name, is a
/// folder) is mentioned. `exists` answers for a path as written; a path
/// ending in `/` must be a folder. Spans with `*`, `{` or spaces are
/// patterns or prose, not paths.
pub fn architecture_names(doc: &str, exists: &dyn Fn(&str) -> bool, top_level: &[(String, bool)]) -> Vec<String> {
    let mut out = Vec::new();
    let mut fenced = false;
    for (n, line) in doc.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        for span in crate::layers::code_spans(line) {
            let is_path = REPO_FOLDERS.iter().any(|f| span.starts_with(f))
                && !span.contains(['*', '{'])
                && !span.contains(char::is_whitespace);
            if is_path && !exists(&span) {
                out.push(format!("ARCHITECTURE.md:{}: `{span}` does not exist; fix the path or the text", n + 1));
            }
        }
    }
    for (name, is_dir) in top_level {
        let path = format!("src/{name}");
        let mentioned = doc.match_indices(&path).any(|(at, _)| {
            let next = doc[at + path.len()..].chars().next();
            !next.is_some_and(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | '-'))
        });
        if !mentioned {
            let shown = if *is_dir { format!("{path}/") } else { path };
            out.push(format!(
                "{shown} is not mentioned in ARCHITECTURE.md; say what it is for and put it in the layer table"
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture;

    #[test]
    fn unsafe_in_comments_strings_and_raw_identifiers_is_fine() {
        let text = "//! doc\n// unsafe here\n/* unsafe */ const S: &str = \"unsafe\";\nconst R: &str = r#\"unsafe { x }\"#;\nfn r#unsafe() {}\n";
        assert_eq!(unsafe_outside_os_module(&fixture(&[("src/frontend/a.rs", text)])), Vec::<String>::new());
    }

    #[test]
    fn unsafe_in_code_outside_the_os_module_fails() {
        let text = "//! doc\nfn f() {\n    let x = unsafe { g() };\n}\n";
        let got = unsafe_outside_os_module(&fixture(&[("src/runtime/a.rs", text), ("tests/scripts/run.rs", text)]));
        assert_eq!(
            got,
            [
                "src/runtime/a.rs:3: `unsafe` outside the OS module; move it into src/sys/ behind a safe function",
                "tests/scripts/run.rs:3: `unsafe` outside the OS module; move it into tests/scripts/sys.rs behind a \
                 safe function",
            ]
        );
    }

    #[test]
    fn unsafe_in_the_os_modules_is_fine() {
        let files = [
            ("src/sys/mod.rs", "//! OS\n#![allow(unsafe_code)]\nmod bpf;\n"),
            ("src/sys/bpf.rs", "//! bpf\npub fn f() { unsafe { g() } }\n"),
            ("tests/scripts/sys.rs", "//! OS\n#![allow(unsafe_code)]\npub fn f() { unsafe { g() } }\n"),
        ];
        assert_eq!(unsafe_outside_os_module(&fixture(&files)), Vec::<String>::new());
    }

    #[test]
    fn allow_unsafe_code_is_only_the_os_modules_inner_attribute() {
        let files = [
            ("src/sys/mod.rs", "//! OS\n#[allow(unsafe_code)]\nmod bpf;\n"),
            ("src/runtime/mod.rs", "//! rt\n#![allow(dead_code, unsafe_code)]\n"),
            ("src/lib.rs", "//! lib\n#![deny(unsafe_code)]\n"),
        ];
        let got = unsafe_outside_os_module(&fixture(&files));
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got[0].starts_with("src/sys/mod.rs:2: allow unsafe code for the whole module, once"), "{got:?}");
        assert!(got[1].starts_with("src/runtime/mod.rs:2: `allow(unsafe_code)` outside src/sys/mod.rs"), "{got:?}");
    }

    #[test]
    fn a_file_without_a_module_doc_fails() {
        let files = [
            ("src/a.rs", "//! A.\nfn f() {}\n"),
            ("src/b.rs", "/// Not a module doc.\nfn f() {}\n"),
            ("src/c.rs", "\n//! Too late.\n"),
        ];
        let got = missing_module_docs(&fixture(&files));
        assert_eq!(got.len(), 2);
        assert!(got[0].starts_with("src/b.rs:1: the file does not start with a `//!` doc"), "{got:?}");
        assert!(got[1].starts_with("src/c.rs:1: "), "{got:?}");
    }

    #[test]
    fn a_file_of_801_lines_fails_and_800_passes() {
        let lines = |n: usize| "//! x\n".to_string() + &"fn f() {}\n".repeat(n - 1);
        let (ok, long) = (lines(800), lines(801));
        let got = too_long(&fixture(&[("src/ok.rs", &ok), ("tests/long.rs", &long)]));
        assert_eq!(got.len(), 1);
        assert!(got[0].starts_with("tests/long.rs: 801 lines, over the limit of 800; split it"), "{got:?}");
    }

    #[test]
    fn forbidden_fallbacks_in_lowering_fail_wherever_the_line_breaks() {
        let text =
            "//! x\nfn f() {\n    let v = Val::Int(\n        self.imm(0),\n    );\n    // unwrap_or(MapId(0))\n    \
                    let m = ids.get(n).copied().unwrap_or(MapId(0));\n}\n";
        let got = silent_fallbacks(&fixture(&[("src/codegen/lower_expr.rs", text), ("src/codegen/insn.rs", text)]));
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got[0].starts_with("src/codegen/lower_expr.rs:3: `Val::Int(self.imm(0))`: a silent zero"), "{got:?}");
        assert!(got[1].starts_with("src/codegen/lower_expr.rs:7: `unwrap_or(MapId(`: a silent fallback"), "{got:?}");
    }

    #[test]
    fn only_lower_star_files_are_lowering() {
        assert!(is_lowering("src/codegen/lower.rs") && is_lowering("src/codegen/lower_map.rs"));
        assert!(!is_lowering("src/codegen/lowering/x.rs") && !is_lowering("src/frontend/lower.rs"));
    }

    fn exists(path: &str) -> bool {
        ["src/", "src/lib.rs", "src/repl/", "tests/scripts.rs", "grammar/"].contains(&path)
    }

    fn top_level() -> Vec<(String, bool)> {
        vec![("lib.rs".to_string(), false), ("repl".to_string(), true)]
    }

    #[test]
    fn architecture_md_naming_only_real_paths_passes() {
        let doc = "# A\n`src/lib.rs` and `src/repl/`, tested by `tests/scripts.rs`; `src/*.rs`, `src/{a,b}.rs`, \
                   `cargo test`.\n```\n`src/gone.rs` in a code block\n```\n";
        assert_eq!(architecture_names(doc, &exists, &top_level()), Vec::<String>::new());
    }

    #[test]
    fn a_backticked_path_that_does_not_exist_fails() {
        let doc = "# A\n`src/lib.rs` `src/repl/`\nThe OS code is in `src/sys/` and `grammar/trace.lalrpop`.\n";
        let got = architecture_names(doc, &exists, &top_level());
        assert_eq!(
            got,
            [
                "ARCHITECTURE.md:3: `src/sys/` does not exist; fix the path or the text",
                "ARCHITECTURE.md:3: `grammar/trace.lalrpop` does not exist; fix the path or the text",
            ]
        );
    }

    #[test]
    fn an_unmentioned_top_level_entry_of_src_fails() {
        let doc = "`src/lib.rs`, and `src/replay.rs` is not `src/repl/`'s neighbour: src/repl.rs\n";
        let got = architecture_names(doc, &|_: &str| true, &top_level());
        assert_eq!(got, Vec::<String>::new(), "src/repl/ is mentioned");
        let got = architecture_names("`src/lib.rs`, `src/replay.rs`, src/repl.rs", &|_: &str| true, &top_level());
        assert_eq!(
            got,
            ["src/repl/ is not mentioned in ARCHITECTURE.md; say what it is for and put it in the layer table"]
        );
    }

    #[test]
    fn print_family_macros_are_refused_outside_tests() {
        let macros = [("eprintln".to_string(), 3), ("format".to_string(), 4)];
        let files: [FileMacros; 3] = [
            ("src/runtime/x.rs", false, &macros),
            ("src/runtime/x_tests.rs", true, &macros),
            ("tests/a.rs", false, &macros),
        ];
        let got = print_macros(&files);
        assert_eq!(got, ["src/runtime/x.rs:3: `eprintln!` panics when its stream is closed or full"]);
    }
}
