//! The parser: tokens from `lexer` ─► AST, via the lalrpop grammar in
//! `grammar/trace.lalrpop`.
//!
//! Three entry points share one grammar: whole programs, bare statements
//! (the REPL) and lone expressions (argdist specifiers). Each returns either
//! the tree or every error found: all lexical errors if there are any (they
//! are precise and would only confuse the parser), otherwise each syntax
//! error lalrpop recovered from plus the final one.
//!
//! lalrpop reports expected tokens in its own quoting (`"\";\""`, `Ident`);
//! [`expected_label`] rewrites them into the names users see (`` `;` ``,
//! `identifier`) and folds the long lists of expression starters and binary
//! operators into "expression" and "operator".

use crate::diag::{Diagnostic, IntoDiagnostic};
use crate::frontend::ast::*;
use crate::frontend::cdecl::{Const, Defs};
use crate::frontend::lexer::{tokenize_with, Mode, Spanned, SyntaxError};
use crate::frontend::token::Tok;
use crate::source::{FileId, Span};
use lalrpop_util::{ErrorRecovery, ParseError};

lalrpop_util::lalrpop_mod!(
    // Generated code: not held to the project's lints.
    #[allow(clippy::all)]
    grammar,
    "/trace.rs"
);

/// Parses a whole program: probe blocks with attach points.
/// The C text between probes is kept aside (`Program::c_text`).
pub fn parse_program(src: &str, file: FileId) -> Result<Program, Vec<Diagnostic>> {
    parse_program_with(src, file, &Defs::default())
}

/// The spans of the C text between probes (directives and declarations),
/// read before the program is parsed (lexical errors are the parser's to
/// report).
pub fn c_text(src: &str, file: FileId) -> Vec<Span> {
    let (tokens, _) = tokenize_with(src, file, Mode::Program, &[]);
    tokens.into_iter().filter(|t| t.1 == Tok::CText).map(|(l, _, r)| Span::new(file, l, r)).collect()
}

/// [`parse_program`] knowing the script's C definitions: their typedef
/// names make `(name)x` a cast, and their constants (`#define`s and
/// enumerators) are replaced by their values, as the C preprocessor would
/// (so `lhist(x, 0, MAX, STEP)` has literal parameters).
pub fn parse_program_with(src: &str, file: FileId, defs: &Defs) -> Result<Program, Vec<Diagnostic>> {
    let mut c_text = Vec::new();
    let mut program = run(src, file, Mode::Program, defs, |errors, tokens| {
        let (c, probes): (Vec<Spanned>, Vec<Spanned>) = tokens.into_iter().partition(|t| t.1 == Tok::CText);
        c_text = c.into_iter().map(|(l, _, r)| Span::new(file, l, r)).collect();
        grammar::ProgramParser::new().parse(file, errors, probes.into_iter().map(Ok))
    })?;
    program.c_text = c_text;
    Ok(program)
}

/// Parses one C-like expression with nothing around it.
pub fn parse_expr(src: &str, file: FileId) -> Result<Expr, Vec<Diagnostic>> {
    run(src, file, Mode::Code, &Defs::default(), |errors, tokens| {
        grammar::ExprOnlyParser::new().parse(file, errors, tokens.into_iter().map(Ok))
    })
}

/// Parses statements that are not inside a probe (as typed at the REPL).
pub fn parse_stmts(src: &str, file: FileId) -> Result<Vec<Stmt>, Vec<Diagnostic>> {
    parse_stmts_with(src, file, &Defs::default())
}

/// [`parse_stmts`] knowing the session's C definitions (as
/// [`parse_program_with`]).
pub fn parse_stmts_with(src: &str, file: FileId, defs: &Defs) -> Result<Vec<Stmt>, Vec<Diagnostic>> {
    run(src, file, Mode::Code, defs, |errors, tokens| {
        grammar::StmtsOnlyParser::new().parse(file, errors, tokens.into_iter().map(Ok))
    })
}

type Errors = Vec<ErrorRecovery<usize, Tok, SyntaxError>>;
type Error = ParseError<usize, Tok, SyntaxError>;

fn run<T>(
    src: &str,
    file: FileId,
    mode: Mode,
    defs: &Defs,
    parse: impl FnOnce(&mut Errors, Vec<Spanned>) -> Result<T, Error>,
) -> Result<T, Vec<Diagnostic>> {
    let (mut tokens, lex_errors) = tokenize_with(src, file, mode, &defs.typedef_names());
    substitute_constants(&mut tokens, defs);
    if !lex_errors.is_empty() {
        return Err(lex_errors.into_iter().map(IntoDiagnostic::into_diagnostic).collect());
    }
    let bodies = if mode == Mode::Program { body_ranges(&tokens) } else { Vec::new() };
    let mut recovered = Errors::new();
    let result = parse(&mut recovered, tokens);
    let mut errors: Vec<Error> = recovered.into_iter().map(|r| r.error).collect();
    match result {
        Ok(tree) if errors.is_empty() => return Ok(tree),
        Ok(_) => {}
        Err(e) => errors.push(e),
    }
    // Statement-level recovery may resume one `}` too early, after which
    // the parser believes it is between probes while the lexer knows it is
    // still inside a body. Those follow-on errors only repeat an earlier
    // one; the first error is always kept so the list is never empty.
    let mut first = true;
    errors.retain(|e| std::mem::take(&mut first) || !is_cascade(e, &bodies));
    Err(errors.into_iter().map(|e| to_diagnostic(e, file)).collect())
}

/// The script's constants as literals, where an expression names them
/// (not as a member name after `.` or `->`). Macros without a usable value
/// stay names, for the checker to explain.
fn substitute_constants(tokens: &mut [Spanned], defs: &Defs) {
    for i in 0..tokens.len() {
        let Tok::Ident(name) = &tokens[i].1 else { continue };
        if i > 0 && matches!(tokens[i - 1].1, Tok::Dot | Tok::Arrow) {
            continue;
        }
        tokens[i].1 = match defs.constant(name) {
            Some(Ok(Const::Int(v))) => Tok::Int(v),
            Some(Ok(Const::Str(s))) => Tok::Str(s),
            _ => continue,
        };
    }
}

/// Byte ranges of probe bodies, from each top-level `{` to its `}`.
fn body_ranges(tokens: &[Spanned]) -> Vec<(usize, usize)> {
    let mut ranges = Vec::new();
    let mut depth = 0u32;
    let mut open = 0;
    for (start, tok, end) in tokens {
        match tok {
            Tok::LBrace => {
                if depth == 0 {
                    open = *start;
                }
                depth += 1;
            }
            Tok::RBrace if depth > 0 => {
                depth -= 1;
                if depth == 0 {
                    ranges.push((open, *end));
                }
            }
            _ => {}
        }
    }
    if depth > 0 {
        ranges.push((open, usize::MAX));
    }
    ranges
}

/// An error expecting an attach point (so the parser is between probes)
/// at a token that is inside a probe body.
fn is_cascade(error: &Error, bodies: &[(usize, usize)]) -> bool {
    let ParseError::UnrecognizedToken { token: (at, _, _), expected } = error else { return false };
    expected.iter().any(|e| e == "AttachPoint") && bodies.iter().any(|&(open, close)| open < *at && *at < close)
}

fn to_diagnostic(error: Error, file: FileId) -> Diagnostic {
    match error {
        ParseError::User { error } => error.into_diagnostic(),
        ParseError::UnrecognizedToken { token: (l, Tok::Unsupported(word), r), .. } => {
            Diagnostic::error(format!("syntax error: `{word}` is not supported by trace"))
                .at(Span::new(file, l, r), "unsupported keyword")
        }
        ParseError::UnrecognizedToken { token: (l, tok, r), expected } => {
            Diagnostic::error(format!("syntax error: unexpected `{}`", shorten(&tok.to_string())))
                .at(Span::new(file, l, r), expected_label(&expected))
        }
        ParseError::UnrecognizedEof { location, expected } => {
            Diagnostic::error("syntax error: unexpected end of input")
                .at(Span::new(file, location, location), expected_label(&expected))
        }
        ParseError::ExtraToken { token: (l, tok, r) } => {
            Diagnostic::error(format!("syntax error: unexpected `{}`", shorten(&tok.to_string())))
                .at(Span::new(file, l, r), "expected end of input")
        }
        // Only lalrpop's built-in lexer produces this; ours reports
        // invalid characters itself. Kept for completeness.
        ParseError::InvalidToken { location } => {
            Diagnostic::error("syntax error: invalid character").at(Span::new(file, location, location), "here")
        }
    }
}

/// Long string literals or attach points make unreadable headlines.
fn shorten(text: &str) -> String {
    const MAX: usize = 32;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_string(),
    }
}

/// Tokens that can start an expression (lalrpop spelling).
const EXPR_START: &[&str] = &[
    "Int",
    "Str",
    "Ident",
    "Var",
    "Positional",
    "\"$#\"",
    "Map",
    "\"(\"",
    "\"-\"",
    "\"!\"",
    "\"~\"",
    "\"*\"",
    "\"&\"",
    "\"++\"",
    "\"--\"",
    "\"sizeof\"",
    "\"offsetof\"",
];

/// Tokens that can continue an expression.
const OPERATORS: &[&str] = &[
    "\"||\"", "\"&&\"", "\"|\"", "\"^\"", "\"&\"", "\"==\"", "\"!=\"", "\"<\"", "\"<=\"", "\">\"", "\">=\"", "\"<<\"",
    "\">>\"", "\"+\"", "\"-\"", "\"*\"", "\"/\"", "\"%\"", "\"?\"", "\".\"", "\"->\"", "\"[\"", "\"++\"", "\"--\"",
];

/// At most this many alternatives are listed.
const MAX_EXPECTED: usize = 6;

/// The keywords that start a statement.
const STMT_START: &[&str] =
    &["\"if\"", "\"while\"", "\"for\"", "\"unroll\"", "\"break\"", "\"continue\"", "\"return\"", "\"let\""];

/// Turns lalrpop's expected-token list into a label such as
/// "expected one of `;`, `}`, operator".
pub fn expected_label(expected: &[String]) -> String {
    let has = |t: &str| expected.iter().any(|e| e == t);
    let expression = has("Ident") && has("Int");
    let operator = has("\"+\"") && has("\"==\"");
    // Where a statement may start, its keywords are one item.
    let statement = has("\"while\"");
    let mut names: Vec<String> = Vec::new();
    for raw in expected {
        if (expression && EXPR_START.contains(&raw.as_str())) || (operator && OPERATORS.contains(&raw.as_str())) {
            continue;
        }
        // Between probes, definitions are possible too; "attach point"
        // says what is missing better.
        if has("AttachPoint") && (raw == "\"macro\"" || raw == "\"config\"") {
            continue;
        }
        if statement && STMT_START.contains(&raw.as_str()) {
            if !names.iter().any(|n| n == "statement") {
                names.push("statement".into());
            }
            continue;
        }
        let name = token_name(raw);
        if !names.contains(&name) {
            names.push(name);
        }
    }
    if operator {
        names.push("operator".into());
    }
    if expression {
        names.push("expression".into());
    }
    match names.len() {
        0 => "unexpected here".into(),
        1 => format!("expected {}", names[0]),
        n if n <= MAX_EXPECTED => format!("expected one of {}", names.join(", ")),
        _ => format!("expected one of {}, ...", names[..MAX_EXPECTED].join(", ")),
    }
}

fn token_name(raw: &str) -> String {
    if let Some(text) = raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        return format!("`{}`", text.replace("\\\"", "\""));
    }
    match raw {
        "Int" => "integer",
        "Str" => "string",
        "Ident" => "identifier",
        "Var" => "variable",
        "Positional" => "positional parameter",
        "Map" => "map",
        "IntType" | "TypedefName" => "type name",
        "AttachPoint" => "attach point",
        "EndPred" => "`/`",
        other => other,
    }
    .to_string()
}

// ---- Tree-building helpers used by the grammar's actions ----------------

fn push(errors: &mut Errors, error: SyntaxError) {
    errors.push(ErrorRecovery { error: ParseError::User { error }, dropped_tokens: Vec::new() });
}

pub(crate) fn binary(op: BinOp, lhs: Expr, rhs: Expr) -> Expr {
    let span = lhs.span.to(rhs.span);
    Expr::new(ExprKind::Binary { op, lhs: Box::new(lhs), rhs: Box::new(rhs) }, span)
}

/// `at` is the operator's position. A minus applied to an integer literal
/// is folded, so `-1` is `Int(-1)` (and `-9223372036854775808` fits).
pub(crate) fn unary(op: UnOp, expr: Expr, at: Span) -> Expr {
    let span = at.to(expr.span);
    match (op, &expr.kind) {
        (UnOp::Neg, ExprKind::Int(v)) => Expr::new(ExprKind::Int(v.wrapping_neg()), span),
        _ => Expr::new(ExprKind::Unary { op, expr: Box::new(expr) }, span),
    }
}

/// `at` is the position of the `++`/`--` (its start when prefix, its end
/// when postfix). Only maps and variables can be incremented.
pub(crate) fn inc_dec(target: Expr, inc: bool, prefix: bool, at: Span, errors: &mut Errors) -> Expr {
    if !matches!(target.kind, ExprKind::Map(_) | ExprKind::Var(_)) {
        let what = if inc { "++" } else { "--" };
        push(errors, SyntaxError::NotAssignable { what, span: target.span });
    }
    let span = at.to(target.span);
    Expr::new(ExprKind::IncDec { target: Box::new(target), inc, prefix }, span)
}

pub(crate) fn field(base: Expr, (field, field_span): (String, Span), arrow: bool) -> Expr {
    let span = base.span.to(field_span);
    Expr::new(ExprKind::Field { base: Box::new(base), field, field_span, arrow }, span)
}

/// `base[k1, ...]`: keys of a bare map (`@m[k]`), otherwise an index.
pub(crate) fn index_or_keys(base: Expr, keys: Vec<Expr>, end: Span, errors: &mut Errors) -> Expr {
    let span = base.span.to(end);
    let bare_map = matches!(&base.kind, ExprKind::Map(m) if m.keys.is_empty() && m.span == base.span);
    if bare_map {
        if let ExprKind::Map(mut map) = base.kind {
            map.keys = keys;
            map.span = span;
            return Expr::new(ExprKind::Map(map), span);
        }
        return base;
    }
    if let (Some(second), Some(last)) = (keys.get(1), keys.last()) {
        push(errors, SyntaxError::MultiIndex { span: second.span.to(last.span) });
    }
    match keys.into_iter().next() {
        Some(index) => Expr::new(ExprKind::Index { base: Box::new(base), index: Box::new(index) }, span),
        None => base,
    }
}

/// `lhs op= rhs` as a statement; the target must be a map or a variable.
pub(crate) fn assign(lhs: Expr, (op, symbol): (Option<BinOp>, &'static str), value: Expr, errors: &mut Errors) -> Stmt {
    let span = lhs.span.to(value.span);
    let lhs_span = lhs.span;
    let kind = match lhs.kind {
        ExprKind::Map(map) => StmtKind::AssignMap { map, op, value },
        ExprKind::Var(name) => StmtKind::AssignVar { name, name_span: lhs_span, op, value },
        _ => {
            push(errors, SyntaxError::NotAssignable { what: symbol, span: lhs_span });
            StmtKind::Expr(value)
        }
    };
    Stmt { kind, span }
}

/// What may stand between probes.
pub(crate) enum Top {
    Probe(Probe),
    Macro(MacroDef),
    Config(Vec<ConfigEntry>),
}

/// `let $x: type = value;` (current bpftrace): an assignment whose value
/// is cast to the declared type; without a value the variable starts as
/// zero (or an empty `string`); `let $x;` alone declares nothing trace
/// needs, as variables are typed by their first assignment.
pub(crate) fn declare(name: String, name_span: Span, ty: Option<TypeName>, value: Option<Expr>, span: Span) -> Stmt {
    let is_string = |t: &TypeName| t.tag.is_none() && t.pointers == 0 && t.name == "string";
    let value = match (ty, value) {
        (Some(t), value) if is_string(&t) => value.unwrap_or_else(|| Expr::new(ExprKind::Str(String::new()), t.span)),
        (Some(t), value) => {
            let value = value.unwrap_or_else(|| Expr::new(ExprKind::Int(0), t.span));
            let span = t.span.to(value.span);
            Expr::new(ExprKind::Cast { ty: t, expr: Box::new(value) }, span)
        }
        (None, Some(value)) => value,
        (None, None) => return Stmt { kind: StmtKind::Expr(Expr::new(ExprKind::Int(0), span)), span },
    };
    Stmt { kind: StmtKind::AssignVar { name, name_span, op: None, value }, span }
}

#[cfg(test)]
#[path = "parser_tests.rs"]
mod tests;
