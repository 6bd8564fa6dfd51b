//! Source text and byte spans.
//!
//! Every AST node and every emitted instruction carries a [`Span`]: a file id
//! plus a byte range. Line and column are computed only when a diagnostic is
//! rendered (by codespan-reporting, through [`SourceMap`]).
//!
//! Script files are read by [`read_script`], for `trace FILE` and the REPL's
//! `.load` alike.

use codespan_reporting::files::SimpleFiles;
use std::io::Read;
use std::path::Path;

/// The most a script file may hold. Scripts are small text files; what is
/// longer is a device (`/dev/zero`) or a pipe that does not end, and is
/// refused once past this, never read whole.
pub const MAX_SCRIPT: u64 = 4 << 20;

/// The text of the script at `path`, read as it comes (so a pipe such as
/// `/dev/stdin` or `<(...)` works), at most [`MAX_SCRIPT`] bytes of UTF-8.
/// The error says why, for "cannot read PATH: ...".
pub fn read_script(path: &Path) -> Result<String, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    // One byte past the limit tells a script of exactly MAX_SCRIPT bytes
    // from a longer one.
    file.take(MAX_SCRIPT + 1).read_to_end(&mut bytes).map_err(|e| e.to_string())?;
    if bytes.len() as u64 > MAX_SCRIPT {
        return Err(format!("longer than {} MiB, too long for a script", MAX_SCRIPT >> 20));
    }
    String::from_utf8(bytes)
        .map_err(|e| format!("not UTF-8 text (invalid byte at offset {})", e.utf8_error().valid_up_to()))
}

/// Identifies one source text (a `-e` program, a script file, an argdist spec,
/// a REPL line) inside a [`SourceMap`].
pub type FileId = usize;

/// A byte range inside one source text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Span {
    pub file: FileId,
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn new(file: FileId, start: usize, end: usize) -> Span {
        Span { file, start: start as u32, end: end as u32 }
    }

    /// The smallest span covering both `self` and `other` (same file).
    pub fn to(self, other: Span) -> Span {
        Span { file: self.file, start: self.start.min(other.start), end: self.end.max(other.end) }
    }

    pub fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }
}

/// All source texts of one compilation, for rendering diagnostics.
pub struct SourceMap {
    pub files: SimpleFiles<String, String>,
}

impl Default for SourceMap {
    fn default() -> Self {
        SourceMap { files: SimpleFiles::new() }
    }
}

impl SourceMap {
    pub fn new() -> SourceMap {
        SourceMap::default()
    }

    pub fn add(&mut self, name: impl Into<String>, text: impl Into<String>) -> FileId {
        self.files.add(name.into(), text.into())
    }

    pub fn text(&self, file: FileId) -> &str {
        self.files.get(file).map(|f| f.source().as_str()).unwrap_or("")
    }

    /// The source text a span covers ("" when out of range).
    pub fn slice(&self, span: Span) -> &str {
        self.text(span.file).get(span.range()).unwrap_or("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::time::{Duration, Instant};

    fn temp(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("trace-source-test-{}-{name}", std::process::id()))
    }

    #[test]
    fn scripts_up_to_the_limit_read_whole() {
        let path = temp("limit");
        let head = "BEGIN { exit(); }\n";
        let text = format!("{head}{}", "/".repeat(MAX_SCRIPT as usize - head.len()));
        std::fs::write(&path, &text).expect("write");
        assert_eq!(read_script(&path).map(|t| t.len()), Ok(MAX_SCRIPT as usize));
        std::fs::write(&path, format!("{text}/")).expect("write");
        assert_eq!(read_script(&path), Err("longer than 4 MiB, too long for a script".into()));
        std::fs::write(&path, b"BEGIN { printf(\"\xff\"); }").expect("write");
        assert_eq!(read_script(&path), Err("not UTF-8 text (invalid byte at offset 16)".into()));
        let _ = std::fs::remove_file(&path);
        assert!(read_script(Path::new("/no/such/script.bt")).is_err());
        assert!(read_script(Path::new("/")).is_err(), "a directory");
    }

    #[test]
    fn a_device_or_an_endless_pipe_is_refused_after_the_limit() {
        let start = Instant::now();
        assert_eq!(read_script(Path::new("/dev/zero")), Err("longer than 4 MiB, too long for a script".into()));
        // A FIFO whose writer never stops.
        let fifo = temp("fifo");
        let _ = std::fs::remove_file(&fifo);
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().is_ok_and(|s| s.success()), "mkfifo");
        let writer = {
            let fifo = fifo.clone();
            std::thread::spawn(move || {
                let mut f = std::fs::OpenOptions::new().write(true).open(&fifo).expect("open the FIFO");
                let chunk = [b'x'; 4096];
                // Ends when the reader closes its end (EPIPE).
                while f.write_all(&chunk).is_ok() {}
            })
        };
        assert_eq!(read_script(&fifo), Err("longer than 4 MiB, too long for a script".into()));
        writer.join().expect("writer");
        let _ = std::fs::remove_file(&fifo);
        assert!(start.elapsed() < Duration::from_secs(30));
    }
}
