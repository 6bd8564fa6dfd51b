//! The preprocessor trace has: `#define` (object-like macros are expanded
//! in C definitions and usable in the script; function-like ones are
//! recorded and refused where used), `#undef`, `#include "file"` and
//! `#include <file>` (found relative to the including file, then the `-I`
//! directories; a system header that is not found is not read, its types
//! come from BTF), conditionals (`#if`, `#ifdef`, `#ifndef`, `#elif`,
//! `#else`, `#endif`) and `#pragma once`. Everything else is an error.

use super::expr;
use super::lex::{tokenize, CTok, K};
use crate::diag::Diagnostic;
use crate::source::{read_script, FileId, SourceMap, Span};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

/// How deeply `#include`s may nest.
const MAX_INCLUDE_DEPTH: u32 = 32;
/// Tokens after macro expansion, at most: `#define`s that double at each
/// level would otherwise take all memory.
const MAX_TOKENS: usize = 1 << 20;

#[derive(Clone, Debug)]
pub struct Macro {
    pub body: Vec<CTok>,
    pub function_like: bool,
    /// The macro's name where it is defined.
    pub span: Span,
}

#[derive(Debug)]
struct Cond {
    /// Whether the enclosing region is read at all.
    outer: bool,
    /// Whether the current branch is read.
    active: bool,
    /// Whether some branch of this conditional was read already.
    taken: bool,
    seen_else: bool,
    span: Span,
}

pub struct Pre<'a> {
    pub sources: &'a mut SourceMap,
    include_dirs: &'a [PathBuf],
    pub macros: HashMap<String, Macro>,
    conds: Vec<Cond>,
    /// Declaration tokens, macros expanded, in the order read.
    pub out: Vec<CTok>,
    pub warnings: Vec<Diagnostic>,
    /// `#include <...>` lines whose header was not read.
    pub unread_headers: Vec<(String, Span)>,
    once: HashSet<PathBuf>,
    depth: u32,
    /// Byte ranges of the script skipped by conditionals (probes there
    /// are dropped).
    pub skipped: Vec<(usize, usize)>,
    skip_from: Option<usize>,
    pub main: FileId,
}

type R<T> = Result<T, Diagnostic>;

impl<'a> Pre<'a> {
    pub fn new(sources: &'a mut SourceMap, include_dirs: &'a [PathBuf], main: FileId) -> Pre<'a> {
        Pre {
            sources,
            include_dirs,
            macros: HashMap::new(),
            conds: Vec::new(),
            out: Vec::new(),
            warnings: Vec::new(),
            unread_headers: Vec::new(),
            once: HashSet::new(),
            depth: 0,
            skipped: Vec::new(),
            skip_from: None,
            main,
        }
    }

    fn active(&self) -> bool {
        self.conds.last().is_none_or(|c| c.active)
    }

    /// Preprocesses `text`, the part of `file` from byte `base`; `dir` is
    /// where its `#include "..."` are found first.
    pub fn region(&mut self, file: FileId, base: usize, text: &str, dir: &Path) -> R<()> {
        let toks = tokenize(text, file, base)?;
        let mut i = 0;
        while i < toks.len() {
            let t = &toks[i];
            if t.line_start && t.is("#") {
                let end = (i + 1..toks.len()).find(|&j| toks[j].line_start).unwrap_or(toks.len());
                let line_end = toks[end - 1].span.end as usize - base;
                let line = &text[t.span.start as usize - base..line_end];
                self.directive(&toks[i + 1..end], t.span, line, dir)?;
                i = end;
                continue;
            }
            if self.active() {
                self.expand(t, &mut Vec::new(), 0)?;
            }
            i += 1;
        }
        Ok(())
    }

    /// After a declaration of the script: bpftrace takes a struct
    /// definition without its `;` (`struct A { int x; } BEGIN { ... }`),
    /// so one is added where it is missing.
    pub fn end_declaration(&mut self, at: Span) {
        if self.out.last().is_some_and(|t| !t.is(";")) {
            self.out.push(CTok { kind: K::Punct(";"), span: at, line_start: false });
        }
    }

    /// Checks that every conditional opened since `depth` was closed.
    pub fn close_conditionals(&mut self, depth: usize) -> R<()> {
        match self.conds.get(depth) {
            Some(c) => Err(Diagnostic::error("`#if` without `#endif`").at(c.span, "never closed")),
            None => Ok(()),
        }
    }

    pub fn cond_depth(&self) -> usize {
        self.conds.len()
    }

    /// Appends `t` to the output, replacing object-like macros by their
    /// bodies (a macro is not expanded inside itself, as in C).
    fn expand(&mut self, t: &CTok, hide: &mut Vec<String>, depth: u32) -> R<()> {
        if self.out.len() >= MAX_TOKENS || depth > 64 {
            return Err(Diagnostic::error("macro expansion is too large").at(t.span, "expanding this"));
        }
        if let Some(name) = t.ident() {
            if !hide.iter().any(|h| h == name) {
                if let Some(m) = self.macros.get(name).filter(|m| !m.function_like).cloned() {
                    hide.push(name.to_string());
                    for b in &m.body {
                        self.expand(b, hide, depth + 1)?;
                    }
                    hide.pop();
                    return Ok(());
                }
            }
        }
        self.out.push(t.clone());
        Ok(())
    }

    /// Expands `toks` on their own (for `#if` and macro values).
    pub fn expand_alone(&mut self, toks: &[CTok], hide: &[String]) -> R<Vec<CTok>> {
        let saved = std::mem::take(&mut self.out);
        let mut hide = hide.to_vec();
        let mut result = Ok(());
        for t in toks {
            result = self.expand(t, &mut hide, 0);
            if result.is_err() {
                break;
            }
        }
        let expanded = std::mem::replace(&mut self.out, saved);
        result.map(|_| expanded)
    }

    fn directive(&mut self, args: &[CTok], hash: Span, line: &str, dir: &Path) -> R<()> {
        let Some(name_tok) = args.first() else { return Ok(()) };
        let text = name_tok.text();
        let name = name_tok.ident().unwrap_or(&text);
        let rest = &args[1..];
        let span = hash.to(args.last().map_or(hash, |t| t.span));
        match name {
            "ifdef" | "ifndef" => {
                let m = self.macro_name(rest, span)?;
                let defined = self.macros.contains_key(&m);
                self.open(defined == (name == "ifdef"), span);
            }
            "if" => {
                let v = if self.active() { self.condition(rest, span)? } else { false };
                self.open(v, span);
            }
            "elif" | "else" => {
                let active = self.active();
                let Some(c) = self.conds.last() else {
                    return Err(Diagnostic::error(format!("`#{name}` without `#if`")).at(span, "nothing to continue"));
                };
                if c.seen_else {
                    return Err(Diagnostic::error(format!("`#{name}` after `#else`")).at(span, "here"));
                }
                let (outer, taken) = (c.outer, c.taken);
                let take = outer && !taken && (name == "else" || self.condition(rest, span)?);
                let c = self.conds.last_mut().expect("checked above");
                c.seen_else = name == "else";
                c.active = take;
                c.taken |= take;
                self.track_skip(active, span);
            }
            "endif" => {
                let active = self.active();
                if self.conds.pop().is_none() {
                    return Err(Diagnostic::error("`#endif` without `#if`").at(span, "nothing to close"));
                }
                self.track_skip(active, span);
            }
            _ if !self.active() => {}
            "define" => {
                let m = self.macro_name(rest, span)?;
                let name_span = rest[0].span;
                let function_like = rest.get(1).is_some_and(|t| t.is("(") && t.span.start == name_span.end);
                let body = rest[1..].to_vec();
                self.macros.insert(m, Macro { body, function_like, span: name_span });
            }
            "undef" => {
                let m = self.macro_name(rest, span)?;
                self.macros.remove(&m);
            }
            "include" => self.include(line, span, dir)?,
            "pragma" if rest.first().and_then(CTok::ident) == Some("once") => {
                if let Some(path) = self.sources.files.get(span.file).ok().map(|f| PathBuf::from(f.name())) {
                    self.once.insert(path.canonicalize().unwrap_or(path));
                }
            }
            "pragma" => {}
            "error" => {
                let msg = line.trim_start_matches('#').trim_start().trim_start_matches("error").trim();
                return Err(Diagnostic::error(format!("#error {msg}")).at(span, "here"));
            }
            "warning" => {
                let msg = line.trim_start_matches('#').trim_start().trim_start_matches("warning").trim();
                self.warnings.push(Diagnostic::warning(format!("#warning {msg}")).at(span, "here"));
            }
            other => {
                return Err(Diagnostic::error(format!("the `#{other}` directive is not supported by trace"))
                    .at(span, "not supported")
                    .note("trace reads `#define`, `#undef`, `#include`, `#if`/`#ifdef`/`#ifndef`/`#elif`/`#else`/`#endif` and `#pragma once`"))
            }
        }
        Ok(())
    }

    fn open(&mut self, take: bool, span: Span) {
        let outer = self.active();
        self.conds.push(Cond { outer, active: outer && take, taken: take, seen_else: false, span });
        self.track_skip(outer, span);
    }

    /// Records the script's skipped ranges, given whether the region
    /// before `span` was read.
    fn track_skip(&mut self, was_active: bool, span: Span) {
        if span.file != self.main {
            return;
        }
        match (was_active, self.active()) {
            (true, false) => self.skip_from = Some(span.end as usize),
            (false, true) => {
                if let Some(from) = self.skip_from.take() {
                    self.skipped.push((from, span.start as usize));
                }
            }
            _ => {}
        }
    }

    /// The end of the script: a region still skipped runs to its end.
    pub fn finish_skips(&mut self, len: usize) {
        if let Some(from) = self.skip_from.take() {
            self.skipped.push((from, len));
        }
    }

    fn macro_name(&self, rest: &[CTok], span: Span) -> R<String> {
        match rest.first().and_then(CTok::ident) {
            Some(n) => Ok(n.to_string()),
            None => Err(Diagnostic::error("expected a macro name").at(span, "here")),
        }
    }

    /// An `#if`/`#elif` condition: `defined`, then macros, then names left
    /// over are 0, as in C.
    fn condition(&mut self, rest: &[CTok], span: Span) -> R<bool> {
        let mut toks = Vec::new();
        let mut i = 0;
        while i < rest.len() {
            let t = &rest[i];
            if t.ident() == Some("defined") {
                let (name, used) = match (rest.get(i + 1), rest.get(i + 2), rest.get(i + 3)) {
                    (Some(p), Some(n), Some(c)) if p.is("(") && c.is(")") => (n.ident(), 4),
                    (Some(n), _, _) => (n.ident(), 2),
                    _ => (None, 1),
                };
                let Some(name) = name else {
                    return Err(Diagnostic::error("`defined` needs a macro name").at(t.span, "here"));
                };
                let value = self.macros.contains_key(name) as i64;
                toks.push(CTok { kind: K::Int { value, unsigned: false }, span: t.span, line_start: false });
                i += used;
                continue;
            }
            toks.push(t.clone());
            i += 1;
        }
        let toks = self.expand_alone(&toks, &[])?;
        let toks: Vec<CTok> = toks
            .into_iter()
            .map(|t| match t.kind {
                K::Ident(_) => CTok { kind: K::Int { value: 0, unsigned: false }, ..t },
                _ => t,
            })
            .collect();
        Ok(expr::eval(&toks, &|_| None, span)? != 0)
    }

    /// `#include "file"` or `#include <file>`.
    fn include(&mut self, line: &str, span: Span, dir: &Path) -> R<()> {
        let rest = line.trim_start_matches('#').trim_start().trim_start_matches("include").trim();
        let (name, system) = match rest.chars().next() {
            Some('"') => (rest[1..].split('"').next().filter(|_| rest[1..].contains('"')), false),
            Some('<') => (rest[1..].split('>').next().filter(|_| rest.contains('>')), true),
            _ => (None, false),
        };
        let Some(name) = name.filter(|n| !n.is_empty()) else {
            return Err(Diagnostic::error("expected `\"FILE\"` or `<FILE>` after #include").at(span, "here"));
        };
        self.include_file(name, system, span, Some(dir))
    }

    /// Reads an included file; `local` is where a `"..."` include looks
    /// first.
    pub fn include_file(&mut self, name: &str, system: bool, span: Span, local: Option<&Path>) -> R<()> {
        let mut candidates: Vec<PathBuf> = Vec::new();
        if !system {
            candidates.extend(local.map(|d| d.join(name)));
        }
        candidates.extend(self.include_dirs.iter().map(|d| d.join(name)));
        let Some(path) = candidates.into_iter().find(|p| p.is_file()) else {
            if system {
                self.unread_headers.push((name.to_string(), span));
                return Ok(());
            }
            let dirs: Vec<String> = local
                .iter()
                .map(|d| d.display().to_string())
                .chain(self.include_dirs.iter().map(|d| d.display().to_string()))
                .collect();
            return Err(Diagnostic::error(format!("cannot find the included file `{name}`"))
                .at(span, "not found")
                .note(format!("looked in: {}", if dirs.is_empty() { "(nowhere)".into() } else { dirs.join(", ") }))
                .note("add the directory with `-I DIR`"));
        };
        let canonical = path.canonicalize().unwrap_or_else(|_| path.clone());
        if self.once.contains(&canonical) {
            return Ok(());
        }
        if self.depth >= MAX_INCLUDE_DEPTH {
            return Err(Diagnostic::error(format!("#include nested more than {MAX_INCLUDE_DEPTH} deep"))
                .at(span, "including itself?"));
        }
        let text = read_script(&path)
            .map_err(|e| Diagnostic::error(format!("cannot read {}: {e}", path.display())).at(span, "included here"))?;
        let file = self.sources.add(path.display().to_string(), text.clone());
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        self.depth += 1;
        let depth = self.cond_depth();
        let result = self.region(file, 0, &text, &dir).and_then(|_| self.close_conditionals(depth));
        self.depth -= 1;
        result
    }
}
