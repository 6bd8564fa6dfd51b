//! Files trace writes for the user — the REPL's history and `.save`d
//! scripts — opened so that a name never leads trace somewhere else: a
//! symbolic link as the last component is never followed (`O_NOFOLLOW`, and
//! `O_EXCL` when creating, which does not follow one either), only regular
//! files are opened (a FIFO or a device is refused before it is opened, as
//! opening one can block or have effects), and the checks that count are
//! made on the descriptor opened (`fstat`), so swapping the name between a
//! check and the open changes nothing.
//!
//! Part of [`super`], the one FFI module.

use std::fmt;
use std::fs::{File, Metadata, OpenOptions};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

/// Why a file was not opened.
#[derive(Debug)]
pub enum OpenRefused {
    /// The name is a symbolic link (also a dangling one when creating).
    Symlink,
    /// Creating a new file: something by that name exists.
    Exists,
    /// A directory, FIFO, device or socket.
    NotRegular,
    /// The file belongs to this other user id.
    NotYours(u32),
    Io(io::Error),
}

impl fmt::Display for OpenRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenRefused::Symlink => f.write_str("it is a symbolic link, and trace does not follow those"),
            OpenRefused::Exists => f.write_str("it already exists"),
            OpenRefused::NotRegular => f.write_str("it is not a regular file"),
            OpenRefused::NotYours(uid) => write!(f, "it belongs to uid {uid}, not to you (uid {})", euid()),
            OpenRefused::Io(e) => write!(f, "{e}"),
        }
    }
}

impl OpenRefused {
    /// The name does not exist (the only refusal that may mean "create it").
    pub fn is_not_found(&self) -> bool {
        matches!(self, OpenRefused::Io(e) if e.kind() == io::ErrorKind::NotFound)
    }
}

/// What an existing file is opened for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Read,
    /// Writes go to the end (`O_APPEND`).
    Append,
    /// The file is emptied once it has been checked, then written.
    Replace,
}

/// The effective user id: whose files trace writes and may chmod.
pub fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Creates `path`, which must not exist under any form (not even as a
/// dangling symbolic link), with `mode` (less the umask).
pub fn create_new(path: &Path, mode: u32) -> Result<File, OpenRefused> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| match e.kind() {
            io::ErrorKind::AlreadyExists => match path.symlink_metadata() {
                Ok(m) if m.file_type().is_symlink() => OpenRefused::Symlink,
                _ => OpenRefused::Exists,
            },
            _ => OpenRefused::Io(e),
        })
}

/// A file the user named for trace to write (`--flamegraph FILE`):
/// created, or, if it exists, replaced only when it is a regular file of
/// the user's own (never through a symbolic link).
pub fn create_or_replace_own(path: &Path) -> Result<File, OpenRefused> {
    match create_new(path, 0o666) {
        Err(OpenRefused::Exists) => open_existing(path, Access::Replace, Some(euid())),
        other => other,
    }
}

/// Opens the existing regular file `path` (not a symbolic link to one),
/// owned by `owner` if given.
pub fn open_existing(path: &Path, access: Access, owner: Option<u32>) -> Result<File, OpenRefused> {
    // Look first: a FIFO or a device is not even opened.
    check(&path.symlink_metadata().map_err(OpenRefused::Io)?, owner)?;
    let mut options = OpenOptions::new();
    match access {
        Access::Read => options.read(true),
        Access::Append => options.append(true),
        Access::Replace => options.write(true),
    };
    // O_NONBLOCK: should the name have become a FIFO meanwhile, the open
    // does not wait for a peer (the check below then refuses it).
    let file =
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC).open(path).map_err(|e| match e
            .raw_os_error()
        {
            Some(libc::ELOOP) => OpenRefused::Symlink,
            _ => OpenRefused::Io(e),
        })?;
    // What was opened is what counts: the name may have changed since.
    check(&file.metadata().map_err(OpenRefused::Io)?, owner)?;
    if access == Access::Replace {
        file.set_len(0).map_err(OpenRefused::Io)?;
    }
    Ok(file)
}

fn check(meta: &Metadata, owner: Option<u32>) -> Result<(), OpenRefused> {
    if meta.file_type().is_symlink() {
        return Err(OpenRefused::Symlink);
    }
    if !meta.is_file() {
        return Err(OpenRefused::NotRegular);
    }
    match owner {
        Some(uid) if meta.uid() != uid => Err(OpenRefused::NotYours(meta.uid())),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn temp_dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("trace-files-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        dir
    }

    #[test]
    fn symbolic_links_are_never_followed() {
        let dir = temp_dir("links");
        let target = dir.join("target");
        std::fs::write(&target, "keep\n").unwrap();
        let link = dir.join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        for access in [Access::Read, Access::Append, Access::Replace] {
            assert!(matches!(open_existing(&link, access, None), Err(OpenRefused::Symlink)), "{access:?}");
        }
        assert!(matches!(create_new(&link, 0o600), Err(OpenRefused::Symlink)));
        // A dangling link is not a way to create its target either.
        let dangling = dir.join("dangling");
        std::os::unix::fs::symlink(dir.join("new"), &dangling).unwrap();
        assert!(matches!(create_new(&dangling, 0o600), Err(OpenRefused::Symlink)));
        assert!(!dir.join("new").exists());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn only_regular_files_and_owners_pass() {
        let dir = temp_dir("kinds");
        assert!(matches!(open_existing(&dir, Access::Read, None), Err(OpenRefused::NotRegular)));
        let fifo = dir.join("fifo");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        // Refused without blocking on the FIFO.
        assert!(matches!(open_existing(&fifo, Access::Append, None), Err(OpenRefused::NotRegular)));
        let file = dir.join("file");
        assert!(create_new(&file, 0o600).is_ok());
        assert!(matches!(create_new(&file, 0o600), Err(OpenRefused::Exists)));
        assert!(open_existing(&file, Access::Read, Some(euid())).is_ok());
        let other = euid().wrapping_add(1);
        assert!(
            matches!(open_existing(&file, Access::Read, Some(other)), Err(OpenRefused::NotYours(u)) if u == euid())
        );
        assert!(open_existing(&dir.join("missing"), Access::Read, None).is_err_and(|e| e.is_not_found()));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn append_and_replace() {
        let dir = temp_dir("write");
        let path = dir.join("f");
        create_new(&path, 0o644).unwrap().write_all(b"one\n").unwrap();
        open_existing(&path, Access::Append, None).unwrap().write_all(b"two\n").unwrap();
        let mut text = String::new();
        open_existing(&path, Access::Read, None).unwrap().read_to_string(&mut text).unwrap();
        assert_eq!(text, "one\ntwo\n");
        open_existing(&path, Access::Replace, None).unwrap().write_all(b"new\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
