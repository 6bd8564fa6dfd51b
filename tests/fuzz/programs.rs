//! The `programs` target: generated and mutated programs through
//! `trace::compile` (parse, check, lower, register allocation), no kernel.
//!
//! Half the inputs are generated, well-typed (`typed.rs`) or anything the
//! grammar allows (`grammar.rs`); half are mutations (`mutate.rs`) of a
//! well-typed program or, twice as often, of the corpus: every `PROG` of
//! `tests/scripts/*.test` and `tests/pending/*.test`, with the harness's
//! placeholders filled in. A third of the inputs get positional parameters
//! (`$1`, `$#`), some taken from the case, some odd.
//!
//! Never a panic; a rejection must be diagnostics that render (see
//! `check.rs`); an accepted program must link and disassemble.

use std::path::Path;

use crate::check;
use crate::driver::Target;
use crate::grammar::{Gen, NUMBERS};
use crate::mutate;
use crate::rng::Rng;
use crate::spec;
use crate::typed::Typed;
use trace::frontend::passes::Params;
use trace::source::SourceMap;
use trace::CompileOptions;

pub struct Programs {
    /// Corpus programs with their `ARGS`.
    corpus: Vec<(String, Vec<String>)>,
    texts: Vec<String>,
}

pub struct Input {
    pub text: String,
    pub params: Vec<String>,
}

/// Every `PROG` (and its `ARGS`) of the `.test` files in `dirs`, with
/// `{{TARGETS}}` pointing at `targets`.
pub fn corpus(dirs: &[&Path], targets: &Path) -> Result<Vec<(String, Vec<String>)>, String> {
    let mut out = Vec::new();
    for dir in dirs {
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .map_err(|e| format!("cannot list {}: {e}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "test"))
            .collect();
        files.sort();
        for path in files {
            let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let text = text
                .replace("{{TARGETS}}", &targets.display().to_string())
                .replace("{{SCRIPTS}}", &dir.display().to_string())
                .replace("{{BEFORE_PID}}", "1")
                .replace("{{TRACE}}", "trace");
            let (cases, errors) = spec::parse(&text);
            if let Some(e) = errors.first() {
                return Err(format!("{}:{}: {}", path.display(), e.line, e.message));
            }
            for case in cases {
                if let spec::Program::Prog(p) = case.program {
                    out.push((p, case.args));
                }
            }
        }
    }
    Ok(out)
}

impl Programs {
    pub fn new(corpus: Vec<(String, Vec<String>)>) -> Programs {
        let texts = corpus.iter().map(|(t, _)| t.clone()).collect();
        Programs { corpus, texts }
    }
}

/// Positional parameters: empty, numbers, strings, odd ones.
fn params(rng: &mut Rng) -> Vec<String> {
    const P: &[&str] = &["1", "0", "-5", "100", "hello", "", "18446744073709551616", "0x10", "3", "a b", "\u{e9}"];
    (0..rng.small(4)).map(|_| rng.pick(P).to_string()).collect()
}

impl Target for Programs {
    type Input = Input;

    fn name(&self) -> &'static str {
        "programs"
    }

    fn generate(&self, rng: &mut Rng) -> Input {
        let (text, mut params) = if rng.chance(1, 2) {
            // A mutant of a corpus program, or of a well-typed one.
            let (text, args) =
                if rng.chance(2, 3) { rng.pick(&self.corpus).clone() } else { (Typed::new(rng).program(), Vec::new()) };
            let mut fresh = |r: &mut Rng| {
                let mut g = Gen::new(r);
                match g.rng.below(4) {
                    0 => g.stmt(),
                    1 => g.attach_point(),
                    2 => g.string(),
                    _ => g.expr(),
                }
            };
            (mutate::mutate(rng, &text, &self.texts, NUMBERS, &mut fresh), args)
        } else if rng.chance(3, 5) {
            (Typed::new(rng).program(), Vec::new())
        } else {
            (Gen::new(rng).program(), Vec::new())
        };
        if rng.chance(1, 3) {
            params = self::params(rng);
        }
        Input { text, params }
    }

    fn run(&self, input: &Input) -> Result<&'static str, String> {
        let mut sources = SourceMap::new();
        let file = sources.add("<fuzz>", input.text.clone());
        let opts = CompileOptions {
            params: Params { args: input.params.clone(), ..Params::default() },
            ..CompileOptions::default()
        };
        match trace::compile(&mut sources, file, &opts) {
            Ok(program) => check::accepted(&sources, &program).map(|_| "compiled"),
            Err(diags) => check::diagnostics(&sources, &diags).map(|_| "rejected"),
        }
    }

    fn reproducer(&self, input: &Input) -> (&'static str, Vec<u8>, String) {
        let args: Vec<String> = input.params.iter().map(|p| format!("'{}'", p.replace('\'', "'\\''"))).collect();
        let how = format!("trace -d ir {{}} {}", args.join(" "));
        ("bt", input.text.clone().into_bytes(), how.trim_end().to_string())
    }
}
