//! Where the REPL's lines come from, and where its output goes.
//!
//! Input is read on its own thread so probes keep printing while the user
//! types: from a terminal through rustyline (history, kept in a file by
//! `history.rs`; completion; blocks that continue while braces are open),
//! or line by line from a pipe or
//! file. Each input is handed to the main thread (which owns every BPF
//! object) through a channel plus one byte on a pipe, so the main thread
//! can wait on the ring buffer and the user at once; the reader then waits
//! for the main thread to finish with it before reading on, so diagnostics
//! come out before the next prompt.
//!
//! On a terminal, everything the main thread prints goes through one FIFO
//! to a printer thread holding rustyline's external printer, which prints
//! above the line being edited without garbling it.

use std::io::{BufRead, PipeReader, PipeWriter, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use rustyline::error::ReadlineError;
use rustyline::history::{History, MemHistory};
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Editor, ExternalPrinter};

use super::complete::{complete, CompletionContext};
use super::history::{HistoryFile, MAX_ENTRIES};
use crate::frontend::lexer::{tokenize, Mode, SyntaxError};
use crate::frontend::token::{LexError, Tok};
use crate::source::FileId;

pub const PROMPT: &str = "trace> ";

/// One thing the user did.
pub enum Input {
    /// A line, or a block of lines whose braces balance.
    Text(String),
    /// Ctrl-C at the prompt.
    Interrupted,
    /// Ctrl-D, or the end of piped input.
    Eof,
    /// Something the session should say (a warning about the history file).
    Note(String),
}

/// The main thread's end of the reader.
pub struct Inputs {
    rx: Receiver<Input>,
    wake: PipeReader,
    ack: Sender<()>,
}

impl Inputs {
    /// Readable when an input is waiting.
    pub fn wake_fd(&self) -> RawFd {
        self.wake.as_raw_fd()
    }

    /// The waiting input (call when [`Inputs::wake_fd`] is readable).
    pub fn take(&mut self) -> Input {
        let mut byte = [0u8; 1];
        match self.wake.read_exact(&mut byte) {
            Ok(()) => self.rx.recv().unwrap_or(Input::Eof),
            Err(_) => Input::Eof,
        }
    }

    /// The input has been dealt with: the reader may read the next.
    pub fn done(&self) {
        let _ = self.ack.send(());
    }
}

/// The reader thread's end.
struct Feed {
    tx: Sender<Input>,
    wake: PipeWriter,
    ack: Receiver<()>,
}

impl Feed {
    /// Hand over an input and wait until it has been dealt with; false when
    /// the main thread is gone.
    fn send(&mut self, input: Input) -> bool {
        self.tx.send(input).is_ok() && self.wake.write_all(b"i").is_ok() && self.ack.recv().is_ok()
    }
}

fn pair() -> std::io::Result<(Inputs, Feed)> {
    let (tx, rx) = channel();
    let (ack_tx, ack_rx) = channel();
    let (wake_r, wake_w) = std::io::pipe()?;
    Ok((Inputs { rx, wake: wake_r, ack: ack_tx }, Feed { tx, wake: wake_w, ack: ack_rx }))
}

/// Whether the input goes on on the next line: while `text` has more `{`
/// than `}` outside strings and comments, after a trailing `,` (attach
/// points listed over lines), and after a probe header with no block yet
/// (bpftrace scripts often put the predicate and `{` on lines of their
/// own). Commands are always one line.
pub fn needs_more(text: &str) -> bool {
    let trimmed = text.trim();
    if trimmed.starts_with('.') || trimmed.is_empty() {
        return false;
    }
    // The lexer knows strings and comments; read the input as what it
    // looks like, probes or statements.
    let probe = super::eval::looks_like_probe(text);
    let (tokens, errors) = tokenize(text, FileId::default(), if probe { Mode::Program } else { Mode::Code });
    let open_comment = |e: &SyntaxError| matches!(e, SyntaxError::Lex { error: LexError::UnterminatedComment, .. });
    if errors.iter().any(open_comment) {
        return true;
    }
    let count = |want: Tok| tokens.iter().filter(|t| t.1 == want).count() as i64;
    let depth = count(Tok::LBrace) - count(Tok::RBrace);
    depth > 0 || (depth == 0 && tokens.last().is_some_and(|t| t.1 == Tok::Comma)) || (probe && count(Tok::LBrace) == 0)
}

/// Lines from a pipe or file: blocks are joined while braces are open.
pub fn from_stdin() -> std::io::Result<Inputs> {
    let (inputs, mut feed) = pair()?;
    std::thread::spawn(move || {
        let mut block = String::new();
        let mut stdin = std::io::stdin().lock();
        let mut raw = Vec::new();
        loop {
            raw.clear();
            match stdin.read_until(b'\n', &mut raw) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            // Not UTF-8 is not the end: the line is read as best it can be
            // and the parser reports what it cannot make sense of.
            let line = String::from_utf8_lossy(&raw);
            block.push_str(line.trim_end_matches(['\n', '\r']));
            block.push('\n');
            if needs_more(&block) {
                continue;
            }
            if !feed.send(Input::Text(std::mem::take(&mut block))) {
                return;
            }
        }
        if !block.trim().is_empty() && !feed.send(Input::Text(block)) {
            return;
        }
        feed.send(Input::Eof);
    });
    Ok(inputs)
}

/// What completion needs to know about the session, kept current by the
/// main thread.
#[derive(Clone, Default)]
pub struct SessionNames {
    pub maps: Arc<Mutex<Vec<String>>>,
}

struct LineHelper {
    names: SessionNames,
    pid: Option<i32>,
}

impl rustyline::completion::Completer for LineHelper {
    type Candidate = String;

    fn complete(&self, line: &str, pos: usize, _: &rustyline::Context<'_>) -> rustyline::Result<(usize, Vec<String>)> {
        let maps = self.names.maps.lock().map(|m| m.clone()).unwrap_or_default();
        Ok(complete(line, pos, &CompletionContext { map_names: &maps, pid: self.pid }))
    }
}

impl rustyline::Helper for LineHelper {}
impl rustyline::hint::Hinter for LineHelper {
    type Hint = String;
}
impl rustyline::highlight::Highlighter for LineHelper {}

impl Validator for LineHelper {
    fn validate(&self, ctx: &mut ValidationContext) -> rustyline::Result<ValidationResult> {
        Ok(if needs_more(ctx.input()) { ValidationResult::Incomplete } else { ValidationResult::Valid(None) })
    }
}

/// The terminal: a rustyline editor on a reader thread, and the printer
/// thread that everything printed goes through.
pub fn from_terminal(names: SessionNames, pid: Option<i32>) -> Result<(Inputs, Console), String> {
    let (inputs, mut feed) = pair().map_err(|e| e.to_string())?;
    let config = rustyline::Config::builder()
        .auto_add_history(false)
        .history_ignore_dups(true)
        .map_err(|e| e.to_string())?
        .max_history_size(MAX_ENTRIES)
        .map_err(|e| e.to_string())?
        .build();
    // History in memory; the file is ours to open (see `history.rs`).
    let memory = MemHistory::with_config(&config);
    let mut editor = Editor::with_history(config, memory).map_err(|e| e.to_string())?;
    editor.set_helper(Some(LineHelper { names, pid }));
    let mut history = HistoryFile::in_home();
    let mut load_note = None;
    if let Some(file) = history.as_mut() {
        match file.load() {
            Ok(entries) => {
                for e in entries {
                    let _ = editor.history_mut().add_owned(e);
                }
            }
            Err(note) => load_note = Some(note),
        }
    }
    let console = match editor.create_external_printer() {
        Ok(printer) => Console::terminal(printer),
        // stdout is not a terminal: print to it directly.
        Err(_) => Console::plain(),
    };
    std::thread::spawn(move || {
        // What the history file had to say comes first.
        if let Some(note) = load_note {
            if !feed.send(Input::Note(note)) {
                return;
            }
        }
        loop {
            let input = match editor.readline(PROMPT) {
                Ok(line) => {
                    // A repeat of the last entry is not added, as the editor
                    // ignores it too.
                    let added = !line.trim().is_empty() && editor.add_history_entry(line.as_str()).unwrap_or(false);
                    // Why the line was not saved, before what it does.
                    if let (true, Some(file)) = (added, history.as_mut()) {
                        if let Err(Some(note)) = file.append(&line) {
                            if !feed.send(Input::Note(note)) {
                                return;
                            }
                        }
                    }
                    Input::Text(line)
                }
                Err(ReadlineError::Interrupted) => Input::Interrupted,
                Err(_) => Input::Eof,
            };
            let eof = matches!(input, Input::Eof);
            if !feed.send(input) || eof {
                return;
            }
        }
    });
    Ok((inputs, console))
}

/// Messages waiting for the terminal. The main thread never waits for the
/// terminal (the line editor may be waiting for the main thread): when this
/// many are queued, output is dropped and counted instead.
const CONSOLE_BACKLOG: usize = 4096;

/// What the printer thread is handed.
enum ToTerminal {
    Text(String),
    /// Answer once everything before has been printed.
    Sync(Sender<()>),
}

/// Where the main thread's output goes: stdout, or on a terminal the
/// printer thread. Text is buffered until `flush`.
pub struct Console {
    buf: Vec<u8>,
    to_printer: Option<(SyncSender<ToTerminal>, JoinHandle<()>)>,
    /// Set while the printer thread should skip what is queued (Ctrl-C).
    discard: Arc<AtomicBool>,
    /// Messages dropped because the terminal fell behind.
    pub dropped: u64,
}

/// Output goes to the terminal in pieces of about this size, so Ctrl-C can
/// stop a long print between two of them.
const CHUNK: usize = 16 * 1024;

impl Console {
    pub fn plain() -> Console {
        Console { buf: Vec::new(), to_printer: None, discard: Arc::default(), dropped: 0 }
    }

    fn terminal(mut printer: impl ExternalPrinter + Send + 'static) -> Console {
        let (tx, rx) = sync_channel::<ToTerminal>(CONSOLE_BACKLOG);
        let discard = Arc::new(AtomicBool::new(false));
        let skip = discard.clone();
        let thread = std::thread::spawn(move || {
            for msg in rx {
                match msg {
                    ToTerminal::Text(text) => {
                        if !skip.load(Ordering::SeqCst) {
                            let _ = printer.print(text);
                        }
                    }
                    ToTerminal::Sync(done) => {
                        let _ = done.send(());
                    }
                }
            }
        });
        Console { buf: Vec::new(), to_printer: Some((tx, thread)), discard, dropped: 0 }
    }

    /// Whether output goes to a terminal through the line editor (then
    /// diagnostics come this way too, so everything stays in order).
    pub fn is_terminal(&self) -> bool {
        self.to_printer.is_some()
    }

    /// Wait until what has been written so far is on the terminal, so a
    /// line's output comes before the next prompt; if `interrupted` says
    /// so meanwhile (Ctrl-C), the rest is skipped. Returns whether it was.
    /// Bounded: the line editor could in theory hold the printer up until
    /// the next prompt.
    pub fn sync(&mut self, interrupted: &dyn Fn() -> bool) -> bool {
        let _ = self.flush();
        let Some((tx, _)) = &self.to_printer else { return false };
        let (done, printed) = channel();
        if tx.try_send(ToTerminal::Sync(done)).is_err() {
            return false;
        }
        let mut skipped = false;
        let until = std::time::Instant::now() + std::time::Duration::from_millis(500);
        while std::time::Instant::now() < until {
            if !skipped && interrupted() {
                skipped = true;
                self.discard.store(true, Ordering::SeqCst);
            }
            if printed.recv_timeout(std::time::Duration::from_millis(20)).is_ok() {
                break;
            }
        }
        self.discard.store(false, Ordering::SeqCst);
        skipped
    }

    /// Ctrl-C at the prompt: drop the output still queued.
    pub fn discard_pending(&mut self) {
        self.sync(&|| true);
    }

    /// The session is ending while the line editor is still reading: hand
    /// it what is queued, then write straight to stdout.
    pub fn leave_editor(&mut self) {
        let _ = self.flush();
        if let Some((tx, thread)) = self.to_printer.take() {
            drop(tx);
            let _ = thread.join();
        }
    }

    /// Flush and wait until everything has been printed.
    pub fn close(mut self) {
        let _ = self.flush();
        if let Some((tx, thread)) = self.to_printer.take() {
            drop(tx);
            let _ = thread.join();
        }
    }
}

impl Write for Console {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let bytes = std::mem::take(&mut self.buf);
        match &self.to_printer {
            Some((tx, _)) => {
                for piece in chunks(&bytes) {
                    let text = ToTerminal::Text(String::from_utf8_lossy(piece).into_owned());
                    if let Err(TrySendError::Full(_)) = tx.try_send(text) {
                        self.dropped += 1;
                    }
                }
                Ok(())
            }
            None => {
                let mut out = std::io::stdout().lock();
                out.write_all(&bytes)?;
                out.flush()
            }
        }
    }
}

/// `bytes` in pieces of about [`CHUNK`], cut after a newline where there
/// is one.
fn chunks(bytes: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while rest.len() > CHUNK {
        let cut = rest[..CHUNK].iter().rposition(|b| *b == b'\n').map_or(CHUNK, |i| i + 1);
        let (piece, tail) = rest.split_at(cut);
        out.push(piece);
        rest = tail;
    }
    if !rest.is_empty() {
        out.push(rest);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{chunks, needs_more, CHUNK};

    #[test]
    fn long_output_is_cut_after_newlines() {
        let text = "x".repeat(100) + "\n";
        let long = text.repeat(1000);
        let pieces = chunks(long.as_bytes());
        assert!(pieces.len() > 1);
        assert!(pieces.iter().all(|p| p.len() <= CHUNK && p.ends_with(b"\n")));
        assert_eq!(pieces.concat(), long.as_bytes());
        assert_eq!(chunks(b"short"), [b"short"]);
    }

    #[test]
    fn blocks_continue_while_braces_are_open() {
        assert!(!needs_more("uprobe:./db:snapshot { @n = count(); }"));
        assert!(needs_more("uprobe:./db:snapshot {\n"));
        assert!(needs_more("BEGIN { if (1) {\n @x = 1; }\n"));
        assert!(!needs_more("BEGIN { if (1) {\n @x = 1; }\n}\n"));
        assert!(!needs_more("print(@m)"));
    }

    #[test]
    fn probe_headers_and_lists_go_on() {
        assert!(needs_more("uprobe:./db:snapshot\n"));
        assert!(needs_more("uprobe:./db:snapshot\n/arg1 > 1/\n"));
        assert!(!needs_more("uprobe:./db:snapshot\n/arg1 > 1/\n{ @n = count(); }\n"));
        assert!(needs_more("uprobe:./db:snapshot,\n"));
        assert!(!needs_more("printf(\"a,\")"));
        assert!(!needs_more(".save a{"));
        assert!(!needs_more("@x = 1"));
    }

    #[test]
    fn braces_in_strings_and_comments_do_not_count() {
        assert!(!needs_more(r#"BEGIN { printf("{ \" {\n"); }"#));
        assert!(!needs_more("BEGIN { @x = 1; } // {"));
        assert!(!needs_more("BEGIN { /* { */ @x = 1; }"));
        assert!(needs_more("BEGIN { // }\n"));
    }
}
