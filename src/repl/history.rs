//! The REPL's history file, `~/.trace_history`, which trace keeps itself:
//! rustyline's file history opens the name as given, so a symbolic link
//! planted there (say in the home of a user who runs `sudo trace`) would
//! send root's writes wherever it points, and it chmods whatever it opened.
//!
//! Here the file is opened through `sys::open_existing`/`sys::create_new`:
//! never through a symbolic link, only a regular file, only one owned by
//! the user running trace. A new file is created mode 0600 (it may hold
//! paths and pids of what was traced); an existing one of the user's that
//! others may read is made 0600 again, through the descriptor checked. When
//! the file cannot be used the session says why once, and goes on without
//! saving history.
//!
//! The format is rustyline's (`#V2`, then one entry per line with `\` and
//! newlines escaped), so history written by earlier versions of trace
//! loads; a file without the header is read a line per entry, and rewritten
//! with it at start (as is a file holding more than [`MAX_ENTRIES`]).

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use crate::sys::{self, Access, OpenRefused};

/// Entries kept, in the editor and in the file.
pub const MAX_ENTRIES: usize = 1000;

/// History files are small; a larger one is not read whole.
const MAX_BYTES: u64 = 4 << 20;

const HEADER: &str = "#V2";

/// `~/.trace_history`, or wherever a test puts it.
pub struct HistoryFile {
    path: PathBuf,
    /// Why the file was last refused, so that each reason is said once.
    said: Option<String>,
}

impl HistoryFile {
    /// `$HOME/.trace_history`; none without a `$HOME`.
    pub fn in_home() -> Option<HistoryFile> {
        let home = std::env::var_os("HOME").filter(|h| !h.is_empty())?;
        Some(HistoryFile::at(PathBuf::from(home).join(".trace_history")))
    }

    pub fn at(path: PathBuf) -> HistoryFile {
        HistoryFile { path, said: None }
    }

    /// The entries saved so far (none if there is no file yet), or the
    /// message saying why they were not read.
    pub fn load(&mut self) -> Result<Vec<String>, String> {
        let mut file = match sys::open_existing(&self.path, Access::Read, Some(sys::euid())) {
            Ok(f) => f,
            Err(e) if e.is_not_found() => return Ok(Vec::new()),
            // What stops reading stops writing too: said once, for both.
            Err(e) => return Err(self.refusal("not kept", &e).unwrap_or_default()),
        };
        let mut bytes = Vec::new();
        let read = (&mut file).take(MAX_BYTES).read_to_end(&mut bytes);
        if let Err(e) = read {
            return Err(self.refusal("not loaded", &OpenRefused::Io(e)).unwrap_or_default());
        }
        let (mut entries, current) = parse(&String::from_utf8_lossy(&bytes));
        if entries.len() > MAX_ENTRIES {
            entries.drain(..entries.len() - MAX_ENTRIES);
        } else if current {
            return Ok(entries);
        }
        // An old format or too long: write it again, as rustyline did.
        match self.rewrite(&entries) {
            Ok(()) => Ok(entries),
            Err(e) => Err(self.refusal("not saved", &e).unwrap_or_default()),
        }
    }

    /// Adds one entry to the file. `Err` carries a message to show, the
    /// first time a reason comes up (then `None` until another does).
    pub fn append(&mut self, entry: &str) -> Result<(), Option<String>> {
        match self.try_append(entry) {
            Ok(()) => {
                self.said = None;
                Ok(())
            }
            Err(e) => Err(self.refusal("not saved", &e)),
        }
    }

    fn try_append(&self, entry: &str) -> Result<(), OpenRefused> {
        let file = match sys::create_new(&self.path, 0o600) {
            Ok(f) => f,
            Err(OpenRefused::Exists) => self.open_own(Access::Append)?,
            Err(e) => return Err(e),
        };
        file.lock().map_err(OpenRefused::Io)?;
        let empty = file.metadata().map_err(OpenRefused::Io)?.len() == 0;
        let mut text = if empty { format!("{HEADER}\n") } else { String::new() };
        text += &escape(entry);
        text.push('\n');
        // One write with O_APPEND: another session appending at the same
        // time cannot split the line.
        (&file).write_all(text.as_bytes()).map_err(OpenRefused::Io)
    }

    /// The existing file, the user's and regular, made 0600 if it was not.
    fn open_own(&self, access: Access) -> Result<std::fs::File, OpenRefused> {
        let file = sys::open_existing(&self.path, access, Some(sys::euid()))?;
        let mode = file.metadata().map_err(OpenRefused::Io)?.permissions().mode();
        if mode & 0o077 != 0 {
            // fchmod on the descriptor checked, never on the name.
            file.set_permissions(std::fs::Permissions::from_mode(0o600)).map_err(OpenRefused::Io)?;
        }
        Ok(file)
    }

    fn rewrite(&self, entries: &[String]) -> Result<(), OpenRefused> {
        let file = self.open_own(Access::Replace)?;
        file.lock().map_err(OpenRefused::Io)?;
        let mut text = format!("{HEADER}\n");
        for e in entries {
            text += &escape(e);
            text.push('\n');
        }
        (&file).write_all(text.as_bytes()).map_err(OpenRefused::Io)
    }

    /// The message for a refusal, unless its reason was the last one said.
    fn refusal(&mut self, what: &str, e: &OpenRefused) -> Option<String> {
        let reason = e.to_string();
        if self.said.as_deref() == Some(reason.as_str()) {
            return None;
        }
        let message = format!("history {what}: {}: {reason}", self.path.display());
        self.said = Some(reason);
        Some(message)
    }
}

/// An entry as one line: `\` and newlines escaped.
fn escape(entry: &str) -> String {
    entry.replace('\\', "\\\\").replace('\n', "\\n")
}

/// The entries of a history file, and whether it has the current format.
fn parse(text: &str) -> (Vec<String>, bool) {
    let mut lines = text.lines();
    let current = text.lines().next() == Some(HEADER);
    if current {
        lines.next();
    }
    let entries = lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            if !current {
                return l.to_string();
            }
            let mut out = String::with_capacity(l.len());
            let mut chars = l.chars();
            while let Some(c) = chars.next() {
                match (c, chars.clone().next()) {
                    ('\\', Some('n')) => out.push('\n'),
                    ('\\', Some('\\')) => out.push('\\'),
                    _ => {
                        out.push(c);
                        continue;
                    }
                }
                chars.next();
            }
            out
        })
        .collect();
    (entries, current)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;
    use std::path::Path;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("trace-history-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir(&d).unwrap();
        d
    }

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn entries_round_trip_in_rustylines_format() {
        let d = dir("roundtrip");
        let mut h = HistoryFile::at(d.join("h"));
        assert_eq!(h.load(), Ok(vec![]));
        assert!(!d.join("h").exists(), "loading creates nothing");
        for e in ["@x = 5", "uprobe:./db:snapshot {\n  @n = count();\n}", r#"printf("a\n\\")"#] {
            h.append(e).unwrap();
        }
        let text = std::fs::read_to_string(d.join("h")).unwrap();
        assert_eq!(text, "#V2\n@x = 5\nuprobe:./db:snapshot {\\n  @n = count();\\n}\nprintf(\"a\\\\n\\\\\\\\\")\n");
        assert_eq!(mode(&d.join("h")), 0o600);
        let loaded = HistoryFile::at(d.join("h")).load().unwrap();
        assert_eq!(loaded, ["@x = 5", "uprobe:./db:snapshot {\n  @n = count();\n}", r#"printf("a\n\\")"#]);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn old_and_long_files_are_rewritten() {
        let d = dir("rewrite");
        let path = d.join("h");
        std::fs::write(&path, "a\\nb\nc\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(HistoryFile::at(path.clone()).load().unwrap(), ["a\\nb", "c"]);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "#V2\na\\\\nb\nc\n");
        assert_eq!(mode(&path), 0o600, "the user's own file is kept private");
        let long: String = (0..MAX_ENTRIES + 5).map(|i| format!("{i}\n")).collect();
        std::fs::write(&path, format!("#V2\n{long}")).unwrap();
        let loaded = HistoryFile::at(path.clone()).load().unwrap();
        assert_eq!((loaded.len(), loaded[0].as_str()), (MAX_ENTRIES, "5"));
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), MAX_ENTRIES + 1);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_symbolic_link_is_neither_followed_nor_chmodded() {
        let d = dir("symlink");
        let victim = d.join("victim");
        std::fs::write(&victim, "keep\n").unwrap();
        std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o644)).unwrap();
        let link = d.join("h");
        symlink(&victim, &link).unwrap();
        let mut h = HistoryFile::at(link.clone());
        let said = h.load().unwrap_err();
        let why = "h: it is a symbolic link, and trace does not follow those";
        assert!(said.starts_with("history not kept: ") && said.ends_with(why), "{said}");
        // Said once, not at every line.
        assert_eq!(h.append("@x = 1"), Err(None));
        // Planted during the session: said when a line is saved.
        let mut h = HistoryFile::at(link.clone());
        let said = h.append("@x = 1").unwrap_err().unwrap();
        assert!(said.starts_with("history not saved: ") && said.ends_with(why), "{said}");
        assert_eq!(h.append("@x = 2"), Err(None));
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep\n");
        assert_eq!(mode(&victim), 0o644);
        // A dangling link does not create its target.
        let dangling = d.join("h2");
        symlink(d.join("new"), &dangling).unwrap();
        assert!(HistoryFile::at(dangling).append("@x = 1").is_err());
        assert!(!d.join("new").exists());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn only_a_regular_file_is_history() {
        let d = dir("kinds");
        std::fs::create_dir(d.join("h")).unwrap();
        let mut h = HistoryFile::at(d.join("h"));
        assert!(h.load().unwrap_err().ends_with("it is not a regular file"));
        assert!(h.append("x").is_err());
        std::fs::remove_dir_all(&d).unwrap();
    }
}
