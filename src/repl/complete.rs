//! Tab completion for the interactive REPL: a pure function from the text
//! before the cursor to the word to replace and its candidates.
//!
//! The context decides what the word is:
//!
//! * **Commands**: input whose first non-blank character is `.` completes
//!   the REPL commands of [`COMMANDS`]; after `.save `, `.save! `, `.flamegraph[!] ` or
//!   `.load ` a file path (a plain listing of the directory, relative to
//!   the cwd; directories get a trailing `/`), after `.detach ` the word
//!   `all`.
//! * **Attach points** (at the start of the input, after a `,` between
//!   attach points, after the `}` that ends a probe): probe types, then one
//!   `:`-separated part at a time. The replaced word is the last part, so
//!   candidates are short: tracepoint categories (with their `:`) and event
//!   names, a binary's functions after `uprobe:PATH:` (at most
//!   [`MAX_CANDIDATES`]), file paths after `uprobe:`/`usdt:`, USDT probes as
//!   `provider:name` and `name` after `usdt:PATH:`, timer units after
//!   `interval:`/`profile:`. Binaries are found as attach points find them
//!   (`libpath::resolve`, so `./db`, `/abs/path`, `libc` and, with `-p`, the
//!   process's own files).
//! * **Code** (inside `{ }` or a `/.../` predicate): `@` words complete the
//!   session's maps; identifiers complete keywords, builtin variables and
//!   builtin functions (offered with their `(`). `$` variables, members
//!   (after `.`/`->`), numbers and the inside of strings and comments
//!   complete nothing.
//!
//! Where the cursor is comes from the real lexer (`lexer::tokenize`) run on
//! the text before it, so strings, comments, predicates and nested braces
//! are read exactly as the parser will read them; this module only follows
//! the tokens that switch between top level, predicate and code.
//!
//! Nothing here prints or panics: an unreadable binary or a missing tracefs
//! just means no candidates. Names holding control characters (a symbol or
//! file name can) are never offered: the editor lists candidates raw.

use crate::frontend::lexer::{tokenize, Mode, Spanned, SyntaxError};
use crate::frontend::token::{LexError, Tok};
use crate::source::FileId;
use sources::{attach_point, identifiers, matching, paths};

/// Where candidates come from, once this module has found the word.
use super::complete_sources as sources;

/// The REPL commands with a one-line help each (usage, then what it does).
pub const COMMANDS: &[(&str, &str)] = &[
    (".help", ".help            show this help"),
    (".probes", ".probes          list the attached probes with their IDs"),
    (".detach", ".detach ID|all   detach probe ID, or all probes"),
    (".maps", ".maps            list the maps: type and number of entries"),
    (".save", ".save FILE       write the session's probes to FILE as a script (a new file)"),
    (".save!", ".save! FILE      the same, replacing FILE if it exists"),
    (".load", ".load FILE       attach the probes of the script FILE"),
    (".folded", ".folded          print the stack-keyed maps as folded stacks (for flame graphs)"),
    (".flamegraph", ".flamegraph F   write the stack-keyed maps as an SVG flame graph to F (a new file)"),
    (".flamegraph!", ".flamegraph! F  the same, replacing F if it exists"),
    (".quit", ".quit            detach every probe and leave"),
];

/// What the session knows that completion needs beyond the line itself.
pub struct CompletionContext<'a> {
    /// Names of the session's maps, with the `@` (e.g. "@calls", "@").
    pub map_names: &'a [String],
    /// `-p PID`: bare binary/library names resolve against this process first.
    pub pid: Option<i32>,
}

/// At most this many function names or USDT probes are offered, so that
/// `uprobe:libc:<TAB>` does not flood the terminal with thousands.
pub const MAX_CANDIDATES: usize = crate::frontend::probes::MAX_COMPLETIONS;

/// Candidates for the word that ends at byte `pos` of `line`: returns the
/// byte offset where the replaced word starts, and the candidates (sorted,
/// deduplicated, each one the full replacement text for line[start..pos]).
pub fn complete(line: &str, pos: usize, ctx: &CompletionContext) -> (usize, Vec<String>) {
    let mut pos = pos.min(line.len());
    while !line.is_char_boundary(pos) {
        pos -= 1;
    }
    let text = &line[..pos];
    let (start, mut found) = if text.trim_start().starts_with('.') { command(text) } else { in_input(text, ctx) };
    // Names from a binary's symbols or a directory are anybody's text: the
    // editor would list them raw on the terminal, and one with a control
    // character cannot be typed as it is anyway.
    found.retain(|c| !c.chars().any(char::is_control));
    found.sort();
    found.dedup();
    if found.is_empty() {
        return (pos, found);
    }
    (start, found)
}

/// `.comm`, or the argument of a command.
fn command(text: &str) -> (usize, Vec<String>) {
    let lead = text.len() - text.trim_start().len();
    let blank = text.char_indices().rfind(|c| c.1.is_whitespace());
    let word_at = blank.map_or(0, |(i, c)| i + c.len_utf8()).max(lead);
    let word = &text[word_at..];
    if word_at == lead {
        return (lead, matching(word, COMMANDS.iter().map(|c| c.0)));
    }
    let found = match text[lead..].split_whitespace().next() {
        Some(".save" | ".save!" | ".load" | ".flamegraph" | ".flamegraph!") => paths(word),
        Some(".detach") => matching(word, ["all"]),
        _ => Vec::new(),
    };
    (word_at, found)
}

/// Where the lexer is after a token: between probes, in a predicate, or in
/// a block nested this deep.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Where {
    Top,
    Pred,
    Code(u32),
}

/// The state switches of `lexer::Lexer`, replayed over its tokens.
fn after(at: Where, tok: &Tok) -> Where {
    match (at, tok) {
        (Where::Top, Tok::Slash) => Where::Pred,
        (Where::Top | Where::Pred, Tok::LBrace) => Where::Code(1),
        (Where::Code(d), Tok::LBrace) => Where::Code(d + 1),
        (Where::Pred, Tok::EndPred) => Where::Top,
        (Where::Code(d), Tok::RBrace) if d > 1 => Where::Code(d - 1),
        (Where::Code(_), Tok::RBrace) => Where::Top,
        _ => at,
    }
}

/// A token the cursor can be completing: a name of some kind.
fn is_word(tok: &Tok) -> bool {
    use Tok::*;
    matches!(
        tok,
        Ident(_)
            | TypedefName(_)
            | IntType(_)
            | Unsupported(_)
            | AttachPoint(_)
            | Map(_)
            | If
            | Else
            | While
            | For
            | Unroll
            | Break
            | Continue
            | Return
            | Sizeof
            | Offsetof
            | Struct
            | Union
            | Enum
    )
}

/// A token that completes nothing when the cursor touches it.
fn is_value(tok: &Tok) -> bool {
    matches!(tok, Tok::Int(_) | Tok::Str(_) | Tok::Var(_) | Tok::Positional(_) | Tok::PositionalCount)
}

/// Everything but commands. The REPL takes probes and also bare
/// statements (`print(@m)`), so a first word still being typed may be
/// either: both kinds are offered.
fn in_input(text: &str, ctx: &CompletionContext) -> (usize, Vec<String>) {
    let first = text.trim_start();
    let first_word_only = !first.is_empty() && !first.contains(|c: char| !c.is_alphanumeric() && c != '_');
    if first_word_only {
        let (start, mut found) = in_program(text, ctx);
        found.extend(in_code(text, ctx, Mode::Code, Where::Code(1)).1);
        found.sort();
        found.dedup();
        return (start, found);
    }
    if first.is_empty() || super::eval::looks_like_probe(text) {
        in_program(text, ctx)
    } else {
        in_code(text, ctx, Mode::Code, Where::Code(1))
    }
}

/// Probes: an attach point, a map, or a name in code.
fn in_program(text: &str, ctx: &CompletionContext) -> (usize, Vec<String>) {
    in_code(text, ctx, Mode::Program, Where::Top)
}

/// Completion in text lexed in `mode`, starting `at` a place in a program.
fn in_code(text: &str, ctx: &CompletionContext, mode: Mode, start_at: Where) -> (usize, Vec<String>) {
    let none = (text.len(), Vec::new());
    let (tokens, errors) = tokenize(text, FileId::default(), mode);
    let open = |e: &SyntaxError| {
        matches!(e, SyntaxError::Lex { error: LexError::UnterminatedString | LexError::UnterminatedComment, .. })
    };
    if errors.iter().any(open) {
        return none; // The cursor is inside a string or a comment.
    }
    let at = tokens.iter().fold(start_at, |at, t| after(at, &t.1));
    let last: Option<&Spanned> = tokens.last();
    let touching = last.filter(|t| t.2 == text.len());
    let (start, word, prev) = match touching {
        Some((s, tok, _)) if is_word(tok) => (*s, Some(tok), tokens.len().checked_sub(2).map(|i| &tokens[i].1)),
        Some((_, tok, _)) if is_value(tok) => return none,
        // Text that is no token (a comment, a lone `$`) ends the input.
        _ if !last.map_or(text, |t| &text[t.2..]).trim().is_empty() => return none,
        _ => (text.len(), None, last.map(|t| &t.1)),
    };
    let word_text = &text[start..];
    match word {
        Some(Tok::Map(_)) => (start, matching(word_text, ctx.map_names.iter().map(String::as_str))),
        Some(Tok::AttachPoint(ap)) if at == Where::Top => {
            let (offset, found) = attach_point(ap, ctx);
            (start + offset, found)
        }
        None if at == Where::Top && matches!(prev, None | Some(Tok::Comma | Tok::RBrace)) => attach_point("", ctx),
        _ if at == Where::Top => none,
        _ if matches!(prev, Some(Tok::Dot | Tok::Arrow | Tok::Struct | Tok::Union | Tok::Enum)) => none,
        _ => (start, identifiers(word_text)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frontend::builtins::{function_names, variable_names};
    use crate::frontend::elf::test_support::{build_target, temp_dir};
    use crate::frontend::probes::completable_types;
    use crate::frontend::tracefs as tracepoint;
    use sources::KEYWORDS;

    fn ctx() -> CompletionContext<'static> {
        static MAPS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
        let maps = MAPS.get_or_init(|| ["@", "@calls", "@count", "@x"].map(String::from).to_vec());
        CompletionContext { map_names: maps, pid: None }
    }

    /// Completes at the end of `line`.
    fn at_end(line: &str) -> (usize, Vec<String>) {
        complete(line, line.len(), &ctx())
    }

    fn words(line: &str) -> Vec<String> {
        at_end(line).1
    }

    fn strs(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn commands_and_their_arguments() {
        assert_eq!(at_end(".d"), (0, strs(&[".detach"])));
        assert_eq!(words(".").len(), COMMANDS.len());
        assert_eq!(at_end("  .sa"), (2, strs(&[".save", ".save!"])));
        assert_eq!(at_end(".save!"), (0, strs(&[".save!"])));
        assert_eq!(at_end(".save! sr"), (7, strs(&["src/"])));
        assert_eq!(at_end(".detach a"), (8, strs(&["all"])));
        // Tests run in the crate's directory.
        assert_eq!(words(".load Cargo."), ["Cargo.lock", "Cargo.toml"]);
        assert_eq!(at_end(".save  sr"), (7, strs(&["src/"])));
        assert_eq!(words(".load src/rep"), ["src/repl/"]);
        assert!(words(".load src/repl/").contains(&"src/repl/complete.rs".to_string()));
        assert!(words(".load .").iter().all(|w| w.starts_with('.')), "hidden files on request only");
        assert!(words(".load ").iter().all(|w| !w.starts_with('.')));
        assert!(words(".maps x").is_empty());
    }

    #[test]
    fn probe_types() {
        // A first word may also start a bare statement (`uid`, `union`).
        assert_eq!(
            words("u"),
            [
                "u:",
                "uaddr(",
                "uid",
                "union",
                "unroll",
                "uprobe:",
                "ur:",
                "uretprobe:",
                "usdt:",
                "ustack",
                "ustack(",
                "usym("
            ]
        );
        assert_eq!(words("B"), ["BEGIN"]);
        assert_eq!(words("").len(), completable_types().count());
        assert_eq!(words("  \n").len(), completable_types().count());
        assert_eq!(at_end("BEGIN,E"), (6, strs(&["END"])));
        assert_eq!(at_end("BEGIN, in"), (7, strs(&["interval:"])));
        assert_eq!(at_end("BEGIN { exit(); }\nE"), (18, strs(&["END"])));
        assert_eq!(words("BEGIN { exit(); } "), words(""));
        // After an attach point, only a `,` starts another one.
        assert!(words("BEGIN ").is_empty());
        assert!(words("BEGIN: ").is_empty());
        assert!(words("BEGIN:").is_empty());
        assert!(words("kprobe:").is_empty());
    }

    #[test]
    fn timer_units() {
        assert_eq!(at_end("interval:"), (9, strs(&["hz:", "ms:", "s:", "us:"])));
        assert_eq!(at_end("i:m"), (2, strs(&["ms:"])));
        assert_eq!(words("profile:h"), ["hz:"]);
        assert!(words("p:hz:").is_empty());
    }

    #[test]
    fn tracepoint_categories_and_events() {
        if tracepoint::tracefs_root().is_err() {
            // No tracefs (not mounted and not mountable without root):
            // there is nothing to list, which the next assertion checks.
            assert!(words("tracepoint:").is_empty());
            return;
        }
        let (start, cats) = at_end("tracepoint:sysc");
        assert_eq!(start, 11);
        assert!(cats.contains(&"syscalls:".to_string()), "{cats:?}");
        assert!(cats.iter().all(|c| c.starts_with("sysc") && c.ends_with(':')));
        let (start, names) = at_end("BEGIN {}\nt:syscalls:sys_enter_opena");
        assert_eq!(start, 20);
        assert!(names.contains(&"sys_enter_openat".to_string()), "{names:?}");
        assert!(words("t:no_such_category:").is_empty());
        assert!(words("t:syscalls:sys_enter_openat:").is_empty());
    }

    #[test]
    fn uprobe_paths_and_functions() {
        let exe = build_target(true);
        let dir = temp_dir().display().to_string();
        let (start, found) = at_end(&format!("uprobe:{dir}/db-p"));
        assert_eq!((start, found), (7, vec![exe.display().to_string()]));
        let line = format!("ur:{}:db_", exe.display());
        let (start, found) = at_end(&line);
        assert_eq!(start, line.len() - 3);
        assert_eq!(found, ["db_log_rotate", "db_open", "db_snapshot"]);
        assert!(words(&format!("u:{}:", exe.display())).contains(&"main".to_string()));
        // Library names resolve as in attach points; big ones are capped.
        let libc = words("uprobe:libc:");
        assert_eq!(libc.len(), MAX_CANDIDATES, "{libc:?}");
        assert!(words("uprobe:libc:mallo").contains(&"malloc".to_string()));
        // With `-p`, a bare name is first a file of that process.
        let me = std::env::current_exe().expect("test binary");
        let line = format!("uprobe:{}:mai", me.file_name().and_then(|f| f.to_str()).expect("name"));
        let pid = CompletionContext { map_names: &[], pid: Some(std::process::id() as i32) };
        assert_eq!(complete(&line, line.len(), &pid).1, ["main"]);
        assert!(words(&line).is_empty(), "not on $PATH nor a library");
        // Unreadable or non-ELF files give nothing.
        assert!(words("uprobe:/no/such/file:m").is_empty());
        assert!(words("uprobe:/etc/passwd:").is_empty());
    }

    #[test]
    fn usdt_probes_of_a_binary() {
        let exe = crate::frontend::usdt::tests::build_usdt("-O0");
        let head = format!("usdt:{}:", exe.display());
        let (start, found) = at_end(&format!("{head}lo"));
        assert_eq!((start, found), (head.len(), strs(&["loop"])));
        let found = words(&format!("U:{}:usdt:v", exe.display()));
        assert_eq!(found, ["usdt:values"]);
        let all = words(&head);
        assert!(all.contains(&"usdt:many".to_string()) && all.contains(&"many".to_string()), "{all:?}");
        assert!(words("usdt:/etc/passwd:").is_empty());
    }

    /// The REPL runs bare statements: they complete like code in a block.
    #[test]
    fn bare_statements_complete_like_code() {
        assert_eq!(at_end("print(@c"), (6, strs(&["@calls", "@count"])));
        assert_eq!(words("@x = co"), ["comm", "continue", "count("]);
        assert_eq!(words("clear(@"), ["@", "@calls", "@count", "@x"]);
        let first = words("pr");
        assert!(first.contains(&"print(".to_string()) && first.contains(&"profile:".to_string()), "{first:?}");
        assert_eq!(
            words("t:sysc"),
            ["syscalls:"]
                .map(String::from)
                .into_iter()
                .filter(|_| tracepoint::tracefs_root().is_ok())
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn maps_builtins_and_functions_in_code() {
        assert_eq!(at_end("BEGIN { @c"), (8, strs(&["@calls", "@count"])));
        assert_eq!(words("BEGIN { @").len(), 4);
        assert_eq!(words("BEGIN { @x = co"), ["comm", "continue", "count("]);
        assert_eq!(words("BEGIN { printf(\"%d\", pi"), ["pid"]);
        assert_eq!(words("BEGIN { i"), ["if"]);
        assert_eq!(words("BEGIN { if (1) { } el"), ["elapsed", "else"]);
        let args = words("BEGIN { $x = ar");
        assert_eq!(args.len(), 13, "arg0..arg11, args: {args:?}");
        assert_eq!(args[..3], ["arg0", "arg1", "arg10"]);
        // Predicates too.
        assert_eq!(at_end("BEGIN /co"), (7, strs(&["comm", "continue", "count("])));
        assert_eq!(words("t:a:b / pid == 1 && ui"), ["uid"]);
        // A fresh word inside code offers everything.
        let all = words("BEGIN { ");
        assert_eq!(all.len(), KEYWORDS.len() + variable_names().count() + function_names().count());
        assert_eq!(words("BEGIN { @x = "), all);
    }

    #[test]
    fn nothing_to_complete() {
        for line in [
            "BEGIN { printf(\"pi",
            "BEGIN { $",
            "BEGIN { $fo",
            "BEGIN { $1",
            "BEGIN { 12",
            "BEGIN { args.fi",
            "BEGIN { $x->na",
            "BEGIN { (struct ta",
            "BEGIN { /* co",
            "BEGIN { // co",
            "BEGIN { exit(); } // E",
            "BEGIN {}\n/* E",
        ] {
            assert_eq!(at_end(line), (line.len(), vec![]), "{line:?}");
        }
    }

    #[test]
    fn multi_line_blocks_and_the_cursor() {
        let block = "uprobe:/bin/true:main {\n  @x = count();\n  if (pid > 1) {\n    pri";
        assert_eq!(at_end(block), (block.len() - 3, strs(&["print(", "printf("])));
        // Only the text before the cursor matters.
        let line = "BEGIN {\n  co\n}\nEND { exit(); }";
        assert_eq!(complete(line, 12, &ctx()), (10, strs(&["comm", "continue", "count("])));
        assert_eq!(complete(line, 15, &ctx()).1, words(""));
        assert_eq!(complete(line, 16, &ctx()), (15, strs(&["END"])));
        assert_eq!(complete("BEGIN, E", 1, &ctx()), (0, strs(&["BEGIN"])));
    }

    #[test]
    fn names_with_control_characters_are_not_offered() {
        let dir = std::env::temp_dir().join(format!("trace-complete-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for name in ["ab.bt", "a\x1b]52;c;aGk=\x07.bt", "a\nb.bt"] {
            std::fs::write(dir.join(name), "").unwrap();
        }
        let prefix = format!("{}/a", dir.display());
        assert_eq!(words(&format!(".load {prefix}")), [format!("{prefix}b.bt")]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn never_panics_on_any_prefix() {
        let program =
            "BEGIN { printf(\"é %d\", pid); } t:syscalls:sys_enter_read /comm == \"x\"/ { @[tid] = hist(arg0); }";
        let lines = [program, ".save é/x", ".load\u{3000}x", "Ü:é", "u:./é:"];
        for line in lines {
            for pos in 0..=line.len() + 2 {
                let (start, found) = complete(line, pos, &ctx());
                assert!(start <= pos.min(line.len()), "{line:?} at {pos}");
                assert!(found.windows(2).all(|w| w[0] < w[1]), "sorted and unique");
            }
        }
    }
}
