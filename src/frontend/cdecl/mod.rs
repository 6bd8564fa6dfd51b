//! C definitions in scripts: `struct`, `union`, `enum` and `typedef`
//! between probes, `#define` constants, `#include` of local headers.
//!
//! The lexer hands over the script's C text (directives and declarations
//! between probes, [`crate::frontend::token::Tok::CText`], delimited by
//! `scan.rs`); this module
//! preprocesses it (`preproc.rs`, reading included files into the
//! `SourceMap`), tokenizes it (`lex.rs`), parses the declarations
//! (`parse.rs`), lays them out as C on x86-64 (`layout.rs`) and evaluates
//! constants (`expr.rs`). The result, [`Defs`], is one more source of
//! types for the checker, consulted before the probed binary's DWARF and
//! the kernel's BTF, as bpftrace does; its constants are usable wherever
//! an integer (or a string) is.
//!
//! No kernel headers are read: `#include <linux/...>` is accepted with a
//! warning, and the types a script names come from BTF. `BPFTRACE_HAVE_BTF`
//! is defined when the kernel has BTF, as bpftrace defines it, so the
//! bundled tools' `#ifndef BPFTRACE_HAVE_BTF` fallbacks are skipped.

mod expr;
mod layout;
pub mod lex;
mod parse;
mod preproc;
pub mod scan;
#[cfg(test)]
mod tests;

use crate::diag::Diagnostic;
use crate::frontend::btf;
use crate::frontend::types::Type;
use crate::source::{FileId, SourceMap, Span};
use lex::{CTok, K};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// A `#define` or enumerator value as the script uses it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Const {
    Int(i64),
    Str(String),
}

/// The script's definitions, resolved.
#[derive(Default, Debug)]
pub struct Defs {
    /// `struct`, `union` and `enum` tags.
    tags: HashMap<(&'static str, String), Type>,
    typedefs: HashMap<String, Type>,
    /// Enumerators and object-like macros with a constant value.
    consts: HashMap<String, Const>,
    /// Macros without a usable value, with where they are defined and why.
    unusable: HashMap<String, (Span, String)>,
    /// `#include <...>` lines whose header trace did not read.
    pub unread_headers: Vec<(String, Span)>,
}

impl Defs {
    /// A type the script defines: `tag` is "struct", "union", "enum" or
    /// `None` for a typedef name.
    pub fn named_type(&self, tag: Option<&str>, name: &str) -> Option<Type> {
        match tag {
            Some(t @ ("struct" | "union" | "enum")) => {
                let key: &'static str = match t {
                    "struct" => "struct",
                    "union" => "union",
                    _ => "enum",
                };
                self.tags.get(&(key, name.to_string())).cloned()
            }
            Some(_) => None,
            None => self.typedefs.get(name).cloned(),
        }
    }

    /// The typedef names the script defines.
    pub fn typedef_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.typedefs.keys().cloned().collect();
        names.sort();
        names
    }

    /// A constant the script defines: its value, or where the macro of
    /// that name is and why it has no value trace can use.
    pub fn constant(&self, name: &str) -> Option<Result<Const, (Span, String)>> {
        if let Some(c) = self.consts.get(name) {
            return Some(Ok(c.clone()));
        }
        self.unusable.get(name).map(|u| Err(u.clone()))
    }
}

/// What the command line adds: `-I` directories and `--include` files.
#[derive(Clone, Debug, Default)]
pub struct Options {
    pub include_dirs: Vec<PathBuf>,
    pub includes: Vec<String>,
}

/// The definitions, the script's byte ranges that conditionals skipped,
/// and warnings.
#[derive(Default)]
pub struct Built {
    pub defs: Rc<Defs>,
    pub skipped: Vec<(usize, usize)>,
    pub warnings: Vec<Diagnostic>,
}

/// The name bpftrace defines when the kernel has BTF.
const HAVE_BTF: &str = "BPFTRACE_HAVE_BTF";

/// Where a source's `#include "..."` are found first: beside it when it
/// is a file, else the current directory.
fn directory_of(sources: &SourceMap, file: FileId) -> PathBuf {
    let name = sources.files.get(file).map(|f| f.name().clone()).unwrap_or_default();
    match Path::new(&name).parent() {
        Some(d) if Path::new(&name).is_file() && !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Preprocesses, parses and lays out the C text of a script (the
/// `pieces` the lexer found between probes) after the `--include` files.
/// Pieces may come from several sources (the REPL's lines); `main`'s
/// skipped ranges are reported (its probes there are dropped).
pub fn build(sources: &mut SourceMap, main: FileId, pieces: &[Span], opts: &Options) -> Result<Built, Vec<Diagnostic>> {
    if pieces.is_empty() && opts.includes.is_empty() {
        return Ok(Built::default());
    }
    let main_len = sources.text(main).len();
    let texts: Vec<(Span, String, PathBuf)> =
        pieces.iter().map(|p| (*p, sources.slice(*p).to_string(), directory_of(sources, p.file))).collect();
    // What trace defines, and `--include`s, as a prelude of directives.
    let mut prelude = String::new();
    if Path::new("/sys/kernel/btf/vmlinux").exists() {
        prelude += &format!("#define {HAVE_BTF} 1\n");
    }
    for inc in &opts.includes {
        if inc.contains(['"', '\n', '>']) {
            return Err(vec![Diagnostic::error(format!("--include {inc:?}: not a file name"))]);
        }
        let local = Path::new(inc).is_file() || opts.include_dirs.iter().any(|d| d.join(inc).is_file());
        prelude += &if local { format!("#include \"{inc}\"\n") } else { format!("#include <{inc}>\n") };
    }
    let prelude_file = sources.add("<command line>", prelude.clone());
    let mut pre = preproc::Pre::new(sources, &opts.include_dirs, main);
    let run = |pre: &mut preproc::Pre| -> Result<(), Diagnostic> {
        pre.region(prelude_file, 0, &prelude, Path::new("."))?;
        for (p, text, dir) in &texts {
            pre.region(p.file, p.start as usize, text, dir)?;
            pre.end_declaration(Span::new(p.file, p.end as usize, p.end as usize));
        }
        pre.close_conditionals(0)?;
        pre.finish_skips(main_len);
        Ok(())
    };
    run(&mut pre).map_err(|d| vec![d])?;
    let end =
        pieces.last().map_or(Span::new(prelude_file, 0, 0), |p| Span::new(p.file, p.end as usize, p.end as usize));
    let mut parser = parse::Parser::new(&pre.out, end);
    parser.declarations().map_err(|d| vec![d])?;
    let mut parsed = parser.out;
    // An anonymous struct is known by its typedef's name, as DWARF names
    // it (`typedef struct { ... } shard_t;` is `struct shard_t` in messages).
    let named: Vec<(usize, String)> = parsed
        .typedefs
        .iter()
        .filter_map(|(name, td)| match (&td.spec, td.derived.is_empty()) {
            (parse::Spec::Record { name: None, def: Some(i), .. }, true) => Some((*i, name.clone())),
            _ => None,
        })
        .collect();
    for (i, name) in named {
        parsed.records[i].name.get_or_insert(name);
    }

    let mut btf_lookup = |name: &str, tag| match btf::vmlinux() {
        Ok(b) => b.named_type(name, tag).map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    let mut defs = Defs::default();
    let mut resolver = layout::Resolver::new(&parsed, &mut btf_lookup);
    let mut tags: Vec<_> = parsed.tags.iter().collect();
    tags.sort_by_key(|(_, (_, span))| (span.file, span.start));
    for ((kind, name), (i, _)) in tags {
        let ty = match *kind {
            "enum" => layout::enum_type(&parsed.enums[*i].values).ty,
            _ => resolver.record(*i).map_err(|d| vec![d])?.ty,
        };
        defs.tags.insert((kind, name.clone()), ty);
    }
    let mut typedefs: Vec<_> = parsed.typedefs.iter().collect();
    typedefs.sort_by_key(|(_, t)| (t.span.file, t.span.start));
    for (name, td) in typedefs {
        let ty = resolver.sized(&td.spec, &td.derived, false).map_err(|d| vec![d])?.ty;
        defs.typedefs.insert(name.clone(), ty);
    }
    for (name, (v, _)) in &parsed.consts {
        defs.consts.insert(name.clone(), Const::Int(*v));
    }
    let macros: Vec<(String, preproc::Macro)> = pre.macros.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    for (name, m) in macros {
        match macro_value(&mut pre, &name, &m, &parsed.consts) {
            Ok(c) => {
                defs.consts.insert(name, c);
            }
            Err(why) => {
                defs.consts.remove(&name);
                defs.unusable.insert(name, (m.span, why));
            }
        }
    }
    let mut warnings = std::mem::take(&mut pre.warnings);
    defs.unread_headers = std::mem::take(&mut pre.unread_headers);
    if let Some((header, span)) = defs.unread_headers.first() {
        let mut w = Diagnostic::warning("trace does not read header files; types come from BTF")
            .at(*span, format!("<{header}> is not read"));
        if defs.unread_headers.len() > 1 {
            w = w.note(format!("nor the {} other headers included", defs.unread_headers.len() - 1));
        }
        warnings.push(w.note("macros from headers are not known: `#define` the ones the script uses"));
    }
    Ok(Built { defs: Rc::new(defs), skipped: std::mem::take(&mut pre.skipped), warnings })
}

/// The value of an object-like macro: a string literal, or an integer
/// constant expression over numbers, enumerators and other macros.
fn macro_value(
    pre: &mut preproc::Pre,
    name: &str,
    m: &preproc::Macro,
    consts: &HashMap<String, (i64, Span)>,
) -> Result<Const, String> {
    if m.function_like {
        return Err(format!("`{name}` is a function-like macro, which trace does not expand"));
    }
    if m.body.is_empty() {
        return Err(format!("`{name}` is defined without a value"));
    }
    let toks = pre.expand_alone(&m.body, &[name.to_string()]).map_err(|d| d.message)?;
    let strip_parens = |mut t: &[CTok]| {
        while t.len() > 2 && t[0].is("(") && t[t.len() - 1].is(")") {
            t = &t[1..t.len() - 1];
        }
        t.to_vec()
    };
    let inner = strip_parens(&toks);
    if !inner.is_empty() && inner.iter().all(|t| matches!(t.kind, K::Str(_))) {
        let s: String =
            inner.iter().filter_map(|t| if let K::Str(s) = &t.kind { Some(s.as_str()) } else { None }).collect();
        return Ok(Const::Str(s));
    }
    expr::eval(&toks, &|n| consts.get(n).map(|c| c.0), m.span)
        .map(Const::Int)
        .map_err(|d| format!("its value is not a constant trace can use ({})", d.message))
}
