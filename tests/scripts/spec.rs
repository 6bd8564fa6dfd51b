//! The `.test` file format: bpftrace's runtime-test vocabulary, plus the few
//! directives trace needs.  One file holds any number of cases; a case starts
//! at `NAME` and runs to the next `NAME`.  Lines starting with `#` are
//! comments (only whole lines: `#` is ordinary text after a directive, since
//! expected output may contain it).  Blank lines are ignored.
//!
//! ```text
//! NAME          case name (unique across all files; the filter matches it)
//! PROG          program, run as `trace -e PROG ARGS...`; with nothing after
//!               it, the indented lines that follow are the program
//! RUN           instead of PROG: a shell command line, `{{TRACE}}` = binary
//! REPL          instead of PROG: an interactive session, `trace` with no
//!               program on a pseudo-terminal (`REPL ARGS...` adds trace
//!               arguments, split like ARGS); the indented lines that follow
//!               are steps, run in order:
//!                 > TEXT   type TEXT and Enter, wait until trace reads again
//!                 + TEXT   type TEXT and Enter without waiting (a line of a
//!                          block whose braces are still open)
//!                 $ CMD    run `sh -c CMD` and wait; the case fails if it
//!                          exits non-zero or runs into TIMEOUT (its output
//!                          is shown then); $REPL_HOME is trace's $HOME
//!                 ! KEY    ctrl-c (then wait as for `>`), ctrl-d (the
//!                          session ends), tab
//!               In TEXT, `\t` is a Tab key press.  After the last step the
//!               harness sends Ctrl-D unless the session has ended.  Stdout
//!               is the transcript: the terminal's output as the screen
//!               shows it, line by line (see `scripts/repl.rs`); there is no
//!               separate stderr, and no AFTER.
//! ARGS          extra trace arguments after `-e PROG` (or for REPL), split
//!               like a shell (quotes group words, no expansion); may repeat
//! EXPECT        a whole line of stdout (trailing blanks ignored), any order
//! EXPECT_REGEX  a regex that matches within some line of stdout (the
//!               `regex` crate's syntax; `^` and `$` are the line's start
//!               and end; `\d \w \s \b` are Unicode-aware); a pattern
//!               that does not compile is a parse error
//! EXPECT_NONE   a line that must not appear in stdout
//! EXPECT_REGEX_NONE   a regex that must match no line of stdout
//! EXPECT_BLOCK  the indented lines that follow must appear in stdout as
//!               contiguous lines (common indentation removed)
//! EXPECT_STDERR, EXPECT_STDERR_REGEX   the same, against stderr
//! EXIT_CODE     expected exit status (default 0)
//! TIMEOUT       seconds before trace gets SIGINT (default 5); what it
//!               prints after the SIGINT still counts.  A REPL session must
//!               end within it, or it is killed and the case fails.  In a
//!               VM it is multiplied by the time scale (`scripts/vm.rs`)
//! BEFORE        shell command started in the background first, killed at
//!               the end; `{{BEFORE_PID}}` is the first one's pid
//! AFTER         shell command run once trace has printed "Attaching"
//!               ($TRACE_PID is trace's pid there)
//! REQUIRES      shell command that must succeed, else the case is skipped
//! NO_ORACLE     why bpftrace 0.17 cannot check this case (see scripts.rs)
//! UNPRIVILEGED  the case loads nothing into the kernel and reads no
//!               root-only file (tracefs and other users' /proc/PID are
//!               root-only), so it also runs without root or BPF; every
//!               other case is skipped there.  Takes no value
//! KERNEL        the kernel the case runs on, by name (`KERNEL 6.1`: Debian
//!               bookworm's), in a QEMU guest that sees the host's files
//!               (`tests/vm/run-in-kernel.sh`); the harness boots each
//!               kernel once and runs all its cases there, one after
//!               another.  For behaviour the host's kernel lacks (kprobes,
//!               fentry).  Without QEMU or the downloaded kernel the case is
//!               skipped, saying how to get them (a failure in CI).
//!               `TRACE_VM_KERNEL=6.1` runs the cases without KERNEL there
//!               too (see `tests/vm/README.md`)
//! HOST_KERNEL   why the case is about this machine's kernel (what it
//!               lacks, such as kprobes), so `TRACE_VM_KERNEL` leaves it out
//!               of the other kernel's run (listed as left out, neither run
//!               nor skipped); it always runs on the host.  Not with KERNEL
//! ```
//!
//! `{{TRACE}}`, `{{TARGETS}}` (absolute target directory), `{{SCRIPTS}}`
//! (absolute tests/scripts, for script files), `{{BEFORE_PID}}` and
//! `{{TIME_SCALE}}` (1 on the host, the VM's time scale in a VM: a case's
//! own wall-clock limits multiply by it, `-lt $((1000 * {{TIME_SCALE}}))`)
//! are replaced in PROG, RUN, REPL, ARGS, BEFORE, AFTER and all expectations;
//! in REPL cases also `{{REPL_HOME}}` (trace's fresh, empty $HOME), so a
//! typed `.save {{REPL_HOME}}/n.bt` writes where a `$` step can look.
//! Commands run with the built targets' directory as cwd.

use std::time::Duration;

use regex::Regex;

/// Cases end by exit() or -c in well under a second; a trace that hangs
/// costs this (plus the SIGINT grace) per case, so keep it small.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct Case {
    pub name: String,
    /// Line of `NAME`, for messages.
    pub line: usize,
    pub program: Program,
    pub args: Vec<String>,
    pub checks: Vec<Check>,
    pub timeout: Duration,
    pub before: Vec<String>,
    pub after: Vec<String>,
    pub requires: Vec<String>,
    pub exit_code: i32,
    pub no_oracle: Option<String>,
    /// `UNPRIVILEGED`: runs without root or BPF too.
    pub unprivileged: bool,
    /// `KERNEL`: the kernel (a name `tests/vm/run-in-kernel.sh` knows) whose
    /// VM the case runs in; None: the host's kernel.
    pub kernel: Option<String>,
    /// `HOST_KERNEL`: why the case is about the host's own kernel, so a
    /// whole-suite run on another kernel leaves it out.
    pub host_kernel: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Program {
    Prog(String),
    Run(String),
    Repl(Vec<Step>),
}

/// One step of a REPL case (see the table above).
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// `> TEXT`: typed, Enter, wait for the next prompt.  TEXT as written:
    /// `\t` becomes a Tab only when typed (see [`Step::keys`]).
    Line(String),
    /// `+ TEXT`: typed, Enter, no wait.
    Partial(String),
    /// `$ CMD`: a shell command the harness runs and waits for.
    Shell(String),
    /// `! KEY`.
    Key(Key),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Key {
    CtrlC,
    CtrlD,
    Tab,
}

impl Key {
    const NAMES: [(&'static str, Key); 3] = [("ctrl-c", Key::CtrlC), ("ctrl-d", Key::CtrlD), ("tab", Key::Tab)];

    pub fn byte(self) -> u8 {
        match self {
            Key::CtrlC => 0x03,
            Key::CtrlD => 0x04,
            Key::Tab => 0x09,
        }
    }
}

impl Step {
    fn parse(line: &str) -> Result<Step, String> {
        let (marker, text) = match line.split_at_checked(1) {
            Some((m, rest)) if rest.is_empty() || rest.starts_with(' ') => (m, rest.strip_prefix(' ').unwrap_or(rest)),
            _ => ("", line),
        };
        match marker {
            ">" => Ok(Step::Line(text.to_string())),
            "+" => Ok(Step::Partial(text.to_string())),
            "$" => Ok(Step::Shell(need(text, "a `$` step")?)),
            "!" => Key::NAMES
                .iter()
                .find(|(name, _)| *name == text)
                .map(|&(_, key)| Step::Key(key))
                .ok_or_else(|| format!("unknown key `{text}` (ctrl-c, ctrl-d or tab)")),
            _ => Err(format!("REPL step `{line}` should start with `> `, `+ `, `$ ` or `! `")),
        }
    }

    /// What to write to the terminal for a typing step: the text with each
    /// `\t` as a Tab, then Enter (a terminal sends CR for Enter).
    pub fn keys(&self) -> Option<Vec<u8>> {
        match self {
            Step::Line(text) | Step::Partial(text) => Some(format!("{}\r", text.replace("\\t", "\t")).into_bytes()),
            Step::Key(key) => Some(vec![key.byte()]),
            Step::Shell(_) => None,
        }
    }
}

impl std::fmt::Display for Step {
    /// As written in the case file.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Step::Line(t) => write!(f, "> {t}"),
            Step::Partial(t) => write!(f, "+ {t}"),
            Step::Shell(c) => write!(f, "$ {c}"),
            Step::Key(k) => {
                let name = Key::NAMES.iter().find(|(_, key)| key == k).map_or("?", |n| n.0);
                write!(f, "! {name}")
            }
        }
    }
}

#[derive(Debug, Clone)]
pub enum Check {
    Line(String),
    Regex(Regex),
    None(String),
    RegexNone(Regex),
    Block(Vec<String>),
    StderrLine(String),
    StderrRegex(Regex),
}

#[derive(Debug, Clone, PartialEq)]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

/// A case being read; `program` is optional until the case is finished.
struct Draft {
    name: String,
    line: usize,
    prog: Option<String>,
    run: Option<String>,
    repl: Option<Vec<Step>>,
    args: Vec<String>,
    checks: Vec<Check>,
    timeout: Option<Duration>,
    before: Vec<String>,
    after: Vec<String>,
    requires: Vec<String>,
    exit_code: Option<i32>,
    no_oracle: Option<String>,
    unprivileged: Option<()>,
    kernel: Option<String>,
    host_kernel: Option<String>,
}

/// Which multi-line block indented lines are being collected for.
#[derive(Clone, Copy, PartialEq)]
enum BlockKind {
    Prog,
    Expect,
    Repl,
}

pub fn parse(text: &str) -> (Vec<Case>, Vec<ParseError>) {
    let mut cases = Vec::new();
    let mut errors = Vec::new();
    let mut draft: Option<Draft> = None;
    let mut block: Option<(BlockKind, usize, Vec<String>)> = None;

    let lines: Vec<&str> = text.lines().collect();
    for (index, raw) in lines.iter().enumerate() {
        let lineno = index + 1;
        let is_indented = raw.starts_with([' ', '\t']);
        if let Some((_, _, body)) = block.as_mut() {
            if is_indented && !raw.trim().is_empty() {
                body.push(raw.to_string());
                continue;
            }
            let (kind, start, body) = block.take().unwrap_or((BlockKind::Expect, 0, Vec::new()));
            if let Some(d) = draft.as_mut() {
                close_block(d, kind, start, body, &mut errors);
            }
        }
        let line = raw.trim_end();
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        if is_indented {
            errors.push(err(lineno, "indented line outside a PROG, REPL or EXPECT_BLOCK block"));
            continue;
        }
        let (directive, value) = match line.split_once([' ', '\t']) {
            Some((d, v)) => (d, v.trim()),
            None => (line, ""),
        };
        if directive == "NAME" {
            if let Some(d) = draft.take() {
                finish(d, &mut cases, &mut errors);
            }
            if value.is_empty() {
                errors.push(err(lineno, "NAME needs a name"));
            }
            draft = Some(Draft {
                name: value.to_string(),
                line: lineno,
                prog: None,
                run: None,
                repl: None,
                args: Vec::new(),
                checks: Vec::new(),
                timeout: None,
                before: Vec::new(),
                after: Vec::new(),
                requires: Vec::new(),
                exit_code: None,
                no_oracle: None,
                unprivileged: None,
                kernel: None,
                host_kernel: None,
            });
            continue;
        }
        let Some(d) = draft.as_mut() else {
            errors.push(err(lineno, &format!("`{directive}` before the first NAME")));
            continue;
        };
        if let Err(message) = apply(d, directive, value, lineno, &mut block) {
            errors.push(err(lineno, &message));
        }
    }
    if let Some((kind, start, body)) = block.take() {
        if let Some(d) = draft.as_mut() {
            close_block(d, kind, start, body, &mut errors);
        }
    }
    if let Some(d) = draft.take() {
        finish(d, &mut cases, &mut errors);
    }
    (cases, errors)
}

fn err(line: usize, message: &str) -> ParseError {
    ParseError { line, message: message.to_string() }
}

fn need(value: &str, directive: &str) -> Result<String, String> {
    if value.is_empty() {
        Err(format!("{directive} needs a value"))
    } else {
        Ok(value.to_string())
    }
}

fn apply(
    d: &mut Draft,
    directive: &str,
    value: &str,
    lineno: usize,
    block: &mut Option<(BlockKind, usize, Vec<String>)>,
) -> Result<(), String> {
    match directive {
        "PROG" | "RUN" | "REPL" if d.prog.is_some() || d.run.is_some() || d.repl.is_some() => {
            return Err("a case has one PROG, RUN or REPL".into());
        }
        "PROG" if value.is_empty() => *block = Some((BlockKind::Prog, lineno, Vec::new())),
        "PROG" => d.prog = Some(value.to_string()),
        "RUN" => d.run = Some(need(value, directive)?),
        "REPL" => {
            d.args.extend(split_args(value)?);
            d.repl = Some(Vec::new());
            *block = Some((BlockKind::Repl, lineno, Vec::new()));
        }
        "ARGS" => d.args.extend(split_args(&need(value, directive)?)?),
        "EXPECT" => d.checks.push(Check::Line(need(value, directive)?)),
        "EXPECT_NONE" => d.checks.push(Check::None(need(value, directive)?)),
        "EXPECT_STDERR" => d.checks.push(Check::StderrLine(need(value, directive)?)),
        "EXPECT_REGEX" => d.checks.push(Check::Regex(regex(value, directive)?)),
        "EXPECT_REGEX_NONE" => d.checks.push(Check::RegexNone(regex(value, directive)?)),
        "EXPECT_STDERR_REGEX" => d.checks.push(Check::StderrRegex(regex(value, directive)?)),
        "EXPECT_BLOCK" if !value.is_empty() => {
            return Err("EXPECT_BLOCK takes its lines from the indented lines below it".into());
        }
        "EXPECT_BLOCK" => *block = Some((BlockKind::Expect, lineno, Vec::new())),
        "TIMEOUT" => {
            let secs: f64 = value.parse().map_err(|_| format!("TIMEOUT `{value}` is not a number of seconds"))?;
            if !(secs > 0.0 && secs <= 600.0) {
                return Err("TIMEOUT must be between 0 and 600 seconds".into());
            }
            set_once(&mut d.timeout, Duration::from_secs_f64(secs), directive)?;
        }
        "EXIT_CODE" => {
            let code = value.parse().map_err(|_| format!("EXIT_CODE `{value}` is not an integer"))?;
            set_once(&mut d.exit_code, code, directive)?;
        }
        "BEFORE" => d.before.push(need(value, directive)?),
        "AFTER" => d.after.push(need(value, directive)?),
        "REQUIRES" => d.requires.push(need(value, directive)?),
        "NO_ORACLE" => set_once(&mut d.no_oracle, need(value, directive)?, directive)?,
        "UNPRIVILEGED" if !value.is_empty() => return Err("UNPRIVILEGED takes no value".into()),
        "UNPRIVILEGED" => set_once(&mut d.unprivileged, (), directive)?,
        "KERNEL" if value.is_empty() || value.contains(char::is_whitespace) => {
            return Err("KERNEL takes one kernel name, such as 6.1".into());
        }
        "KERNEL" => set_once(&mut d.kernel, value.to_string(), directive)?,
        "HOST_KERNEL" => set_once(
            &mut d.host_kernel,
            need(value, "HOST_KERNEL (why the case is about this machine's kernel)")?,
            directive,
        )?,
        _ => return Err(format!("unknown directive `{directive}`")),
    }
    Ok(())
}

fn set_once<T>(slot: &mut Option<T>, value: T, directive: &str) -> Result<(), String> {
    if slot.is_some() {
        return Err(format!("{directive} given twice"));
    }
    *slot = Some(value);
    Ok(())
}

/// A pattern that does not compile is reported, not taken as a literal.
/// The crate's message shows the pattern with a caret under the mistake
/// over several lines; they are indented under the file:line it goes with.
fn regex(value: &str, directive: &str) -> Result<Regex, String> {
    Regex::new(&need(value, directive)?).map_err(|e| {
        let mut message = format!("bad regex in {directive}:");
        for line in e.to_string().lines() {
            message.push_str("\n    ");
            message.push_str(line);
        }
        message
    })
}

fn close_block(d: &mut Draft, kind: BlockKind, start: usize, body: Vec<String>, errors: &mut Vec<ParseError>) {
    if body.is_empty() {
        errors.push(err(start, "empty block: indent the lines that belong to it"));
        return;
    }
    let indent = body.iter().map(|l| l.len() - l.trim_start().len()).min().unwrap_or(0);
    let lines: Vec<String> = body.iter().map(|l| l[indent..].trim_end().to_string()).collect();
    match kind {
        BlockKind::Prog => d.prog = Some(lines.join("\n")),
        BlockKind::Expect => d.checks.push(Check::Block(lines)),
        // Block lines are contiguous (a blank line ends the block), so
        // step i is on line start + 1 + i.
        BlockKind::Repl => {
            let mut steps = Vec::new();
            for (i, line) in lines.iter().enumerate() {
                match Step::parse(line) {
                    Ok(step) => steps.push(step),
                    Err(message) => errors.push(err(start + 1 + i, &message)),
                }
            }
            d.repl = Some(steps);
        }
    }
}

fn finish(d: Draft, cases: &mut Vec<Case>, errors: &mut Vec<ParseError>) {
    let program = match (d.prog, d.run, d.repl) {
        (Some(p), None, None) => Program::Prog(p),
        (None, Some(r), None) => Program::Run(r),
        (None, None, Some(steps)) => Program::Repl(steps),
        _ => {
            errors.push(err(d.line, &format!("case `{}` has no PROG, RUN or REPL", d.name)));
            return;
        }
    };
    if matches!(program, Program::Repl(_)) {
        // The session ends when its steps do: there is no moment at which
        // AFTER would start; and a terminal has one output stream.
        let misfit = if !d.after.is_empty() {
            Some("AFTER does not go with REPL (use a `$` step)")
        } else if d.checks.iter().any(|c| matches!(c, Check::StderrLine(_) | Check::StderrRegex(_))) {
            Some("EXPECT_STDERR* does not go with REPL (a terminal has one output: use EXPECT*)")
        } else {
            None
        };
        if let Some(why) = misfit {
            errors.push(err(d.line, &format!("case `{}`: {why}", d.name)));
            return;
        }
    }
    if d.kernel.is_some() && d.host_kernel.is_some() {
        errors.push(err(d.line, &format!("case `{}`: HOST_KERNEL and KERNEL exclude each other", d.name)));
        return;
    }
    if matches!(program, Program::Run(_)) && !d.args.is_empty() {
        errors.push(err(d.line, &format!("case `{}`: ARGS only goes with PROG or REPL (put them in RUN)", d.name)));
        return;
    }
    cases.push(Case {
        name: d.name,
        line: d.line,
        program,
        args: d.args,
        checks: d.checks,
        timeout: d.timeout.unwrap_or(DEFAULT_TIMEOUT),
        before: d.before,
        after: d.after,
        requires: d.requires,
        exit_code: d.exit_code.unwrap_or(0),
        no_oracle: d.no_oracle,
        unprivileged: d.unprivileged.is_some(),
        kernel: d.kernel,
        host_kernel: d.host_kernel,
    });
}

/// Splits like a POSIX shell without expansion: blanks separate words,
/// '...' is literal, "..." allows \" and \\, a backslash escapes one char.
pub fn split_args(text: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err(format!("unclosed ' in `{text}`")),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => word.push(c),
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err(format!("unclosed \" in `{text}`")),
                        },
                        Some(c) => word.push(c),
                        None => return Err(format!("unclosed \" in `{text}`")),
                    }
                }
            }
            '\\' => {
                in_word = true;
                word.push(chars.next().ok_or_else(|| format!("trailing \\ in `{text}`"))?);
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// Checks run at harness start-up (the harness has no #[test] functions).
pub fn self_check() -> Result<(), String> {
    let sample = [
        "# a comment",
        "NAME first case",
        "PROG uprobe:./db:snapshot { @calls = count(); }",
        "ARGS -c './db 10' \"two words\" plain",
        "EXPECT @calls: 10",
        "EXPECT_REGEX ^@calls: \\d+$",
        "EXPECT_NONE @calls: 0",
        "TIMEOUT 2.5",
        "EXIT_CODE 3",
        "REQUIRES true",
        "UNPRIVILEGED",
        "",
        "NAME second case",
        "PROG",
        "  BEGIN {",
        "    exit();",
        "  }",
        "RUN_NOTHING_HERE_IS_A_TYPO",
        "EXPECT_BLOCK",
        "    @:",
        "    [1]    1 |@|   ",
        "",
        "BEFORE ./loop",
        "AFTER kill -TERM $TRACE_PID",
        "EXPECT_STDERR_REGEX error",
        "NO_ORACLE because",
        "KERNEL 6.1",
        "",
        "NAME third case",
        "HOST_KERNEL it lacks kprobes",
        "REPL -p 123",
        "    > uprobe:./db:snapshot {",
        "    +   @n = count();",
        "    > }",
        "    $ ./db 10",
        "    > .pro\\t",
        "    >",
        "    ! ctrl-c",
        "    ! tab",
        "    ! ctrl-d",
        "EXPECT @n: 10",
    ]
    .join("\n");
    let (cases, errors) = parse(&sample);
    let expect_errors = vec![err(18, "unknown directive `RUN_NOTHING_HERE_IS_A_TYPO`")];
    if errors != expect_errors {
        return Err(format!("parse errors: got {errors:?}, want {expect_errors:?}"));
    }
    let [a, b, c] = &cases[..] else {
        return Err(format!("expected 3 cases, got {}", cases.len()));
    };
    let ok = a.name == "first case"
        && a.line == 2
        && a.program == Program::Prog("uprobe:./db:snapshot { @calls = count(); }".into())
        && a.args == ["-c", "./db 10", "two words", "plain"]
        && a.checks.len() == 3
        && matches!(&a.checks[0], Check::Line(l) if l == "@calls: 10")
        && matches!(&a.checks[1], Check::Regex(r) if r.is_match("@calls: 12"))
        && matches!(&a.checks[2], Check::None(l) if l == "@calls: 0")
        && a.timeout == Duration::from_millis(2500)
        && a.exit_code == 3
        && a.requires == ["true"]
        && a.unprivileged
        && !b.unprivileged
        && b.program == Program::Prog("BEGIN {\n  exit();\n}".into())
        && matches!(&b.checks[0], Check::Block(l) if l == &["@:", "[1]    1 |@|"])
        && b.before == ["./loop"]
        && b.after == ["kill -TERM $TRACE_PID"]
        && b.timeout == DEFAULT_TIMEOUT
        && b.exit_code == 0
        && b.no_oracle.as_deref() == Some("because")
        && a.kernel.is_none()
        && b.kernel.as_deref() == Some("6.1")
        && b.host_kernel.is_none()
        && c.host_kernel.as_deref() == Some("it lacks kprobes");
    let steps = [
        Step::Line("uprobe:./db:snapshot {".into()),
        Step::Partial("  @n = count();".into()),
        Step::Line("}".into()),
        Step::Shell("./db 10".into()),
        Step::Line(".pro\\t".into()),
        Step::Line(String::new()),
        Step::Key(Key::CtrlC),
        Step::Key(Key::Tab),
        Step::Key(Key::CtrlD),
    ];
    let ok = ok
        && c.program == Program::Repl(steps.to_vec())
        && c.args == ["-p", "123"]
        && matches!(&c.checks[..], [Check::Line(l)] if l == "@n: 10")
        && steps[1].keys().as_deref() == Some(&b"  @n = count();\r"[..])
        && steps[4].keys().as_deref() == Some(&b".pro\t\r"[..])
        && steps[6].keys().as_deref() == Some(&[3u8][..])
        && steps[3].keys().is_none()
        && steps.iter().all(|s| Step::parse(&s.to_string()).as_ref() == Ok(s));
    if !ok {
        return Err(format!("parsed sample wrongly: {cases:#?}"));
    }
    let bad: &[(&str, &str)] = &[
        ("PROG x", "before the first NAME"),
        ("NAME a\nEXPECT x", "no PROG, RUN or REPL"),
        ("NAME a\nPROG x\nRUN y", "one PROG, RUN or REPL"),
        ("NAME a\nPROG x\nREPL\n  > y", "one PROG, RUN or REPL"),
        ("NAME a\nRUN y\nARGS -v", "ARGS only goes with PROG"),
        ("NAME a\nREPL\n  > x\nAFTER y", "AFTER does not go with REPL"),
        ("NAME a\nREPL\n  > x\nEXPECT_STDERR y", "EXPECT_STDERR* does not go"),
        ("NAME a\nREPL\n  > x\n  ? y", "should start with"),
        ("NAME a\nREPL\n  >x", "should start with"),
        ("NAME a\nREPL\n  ! alt-x", "unknown key"),
        ("NAME a\nREPL\n  $", "needs a value"),
        ("NAME a\nREPL\n\nEXPECT x", "empty block"),
        ("NAME a\nPROG x\nTIMEOUT soon", "not a number"),
        ("NAME a\nPROG x\nEXPECT_REGEX [x", "bad regex in EXPECT_REGEX"),
        ("NAME a\nPROG x\nEXPECT_STDERR_REGEX a{x}", "bad regex in EXPECT_STDERR_REGEX"),
        ("NAME a\nPROG x\nUNPRIVILEGED yes", "takes no value"),
        ("NAME a\nPROG x\nUNPRIVILEGED\nUNPRIVILEGED", "given twice"),
        ("NAME a\nPROG x\nKERNEL", "one kernel name"),
        ("NAME a\nPROG x\nKERNEL 6.1 6.12", "one kernel name"),
        ("NAME a\nPROG x\nKERNEL 6.1\nKERNEL 6.1", "given twice"),
        ("NAME a\nPROG x\nHOST_KERNEL", "needs a value"),
        ("NAME a\nPROG x\nHOST_KERNEL why\nKERNEL 6.1", "exclude each other"),
        ("NAME a\nPROG x\nEXPECT_BLOCK\n\nEXPECT y", "empty block"),
        ("NAME a\nPROG x\nARGS 'open", "unclosed '"),
        ("NAME a\nPROG x\n  stray", "indented line outside"),
    ];
    for (text, want) in bad {
        let (_, errors) = parse(text);
        if !errors.iter().any(|e| e.message.contains(want)) {
            return Err(format!("parsing {text:?}: wanted an error containing {want:?}, got {errors:?}"));
        }
    }
    // A bad pattern is reported at its own line, with the crate's reason.
    let (_, errors) = parse("NAME a\nPROG x\nEXPECT x\nEXPECT_STDERR_REGEX (┌─|-->)\\s*:1:(\\d+");
    if !matches!(&errors[..], [e] if e.line == 4 && e.message.contains("unclosed group")) {
        return Err(format!("an unclosed group in a regex on line 4: got {errors:?}"));
    }
    Ok(())
}
