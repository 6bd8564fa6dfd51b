//! Resolving the PATH part of `uprobe:PATH:FUNC` to one canonical file.
//!
//! Users write what they would type at a shell, and bpftrace accepts all of
//! these, so we do too:
//!
//! - a path (`./db`, `/usr/bin/bash`, `build/db`): relative to the current
//!   directory, then canonicalized (uprobes attach to an inode; the
//!   canonical path also makes the probe name stable);
//! - a program name found on `$PATH` (`bash`);
//! - a library name, resolved the way the dynamic linker would: `libc`,
//!   `c` and `libc.so.6` all mean the `libc.so.6` that `/etc/ld.so.cache`
//!   lists for this machine's architecture, with the standard library
//!   directories as a fallback when the cache is missing or unreadable.
//!
//! With a target pid, a bare name is first looked up in that process: its
//! executable (`/proc/PID/exe`) and the files it has mapped
//! (`/proc/PID/maps`), so `-p PID uprobe:libssl:SSL_read` traces the library
//! that process actually loaded.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum LibPathError {
    #[error("no such file: {}", path.display())]
    NoSuchFile { path: PathBuf },
    #[error("{} is not a regular file", path.display())]
    NotAFile { path: PathBuf },
    #[error("cannot find `{name}`: not a program on $PATH nor a shared library known to the dynamic linker")]
    NotFound {
        name: String,
        /// A file of that name exists in the current directory (the user
        /// probably meant `./NAME`).
        in_cwd: bool,
    },
    #[error("cannot resolve {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
}

/// Resolve `spec` (see the module docs) to an absolute canonical path.
pub fn resolve(spec: &str, pid: Option<i32>) -> Result<PathBuf, LibPathError> {
    if spec.is_empty() {
        return Err(LibPathError::NotFound { name: String::new(), in_cwd: false });
    }
    if spec.contains('/') {
        let path = Path::new(spec);
        let abs = if path.is_absolute() {
            path.to_path_buf()
        } else {
            let cwd = std::env::current_dir().map_err(|source| LibPathError::Io { path: path.into(), source })?;
            // `components()` drops the `.` of `./db`, for readable messages.
            cwd.join(path).components().collect()
        };
        return canonical_file(&abs);
    }
    if let Some(pid) = pid {
        if let Some(found) = in_process(spec, pid) {
            return canonical_file(&found);
        }
    }
    if let Some(found) = on_path(spec) {
        return canonical_file(&found);
    }
    if let Some(found) = find_library(spec) {
        return canonical_file(&found);
    }
    Err(LibPathError::NotFound { name: spec.to_string(), in_cwd: Path::new(spec).is_file() })
}

fn canonical_file(path: &Path) -> Result<PathBuf, LibPathError> {
    let canon = std::fs::canonicalize(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => LibPathError::NoSuchFile { path: path.to_path_buf() },
        _ => LibPathError::Io { path: path.to_path_buf(), source },
    })?;
    if !canon.is_file() {
        return Err(LibPathError::NotAFile { path: canon });
    }
    Ok(canon)
}

/// `name` as the executable or a mapped file of process `pid`.
fn in_process(name: &str, pid: i32) -> Option<PathBuf> {
    if let Ok(exe) = std::fs::read_link(format!("/proc/{pid}/exe")) {
        if exe.file_name().and_then(|f| f.to_str()) == Some(name) {
            return Some(exe);
        }
    }
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).ok()?;
    maps.lines()
        // address perms offset dev inode pathname; only file mappings have a '/'.
        .filter_map(|line| line.find('/').map(|i| line[i..].trim_end_matches(" (deleted)")))
        .find(|path| Path::new(path).file_name().and_then(|f| f.to_str()).is_some_and(|f| library_matches(f, name)))
        .map(PathBuf::from)
}

/// An executable file called `name` in one of `$PATH`'s directories.
fn on_path(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(name))
        .find(|p| std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
}

/// Whether the file name `file` is what the user meant by library `name`:
/// the exact name (`libc.so.6`), or `lib{name}.so`, `{name}.so` or `{name}`
/// (when it already contains `.so`) followed by nothing or a version
/// (`.6`, `.1.0`). So `c`, `libc`, `libc.so` all match `libc.so.6`, while
/// `c` does not match `libcrypt.so.1`.
pub fn library_matches(file: &str, name: &str) -> bool {
    if file == name {
        return true;
    }
    let versioned =
        |prefix: &str| file.strip_prefix(prefix).is_some_and(|rest| rest.is_empty() || rest.starts_with('.'));
    versioned(&format!("lib{name}.so")) || versioned(&format!("{name}.so")) || (name.contains(".so") && versioned(name))
}

/// The path of shared library `name` for this machine's architecture:
/// `/etc/ld.so.cache` in its order (the linker's preference), then the
/// standard directories.
pub fn find_library(name: &str) -> Option<PathBuf> {
    if let Ok(bytes) = std::fs::read("/etc/ld.so.cache") {
        if let Ok(entries) = parse_ld_cache(&bytes) {
            let hit =
                entries.iter().filter(|e| library_matches(&e.name, name)).map(|e| &e.path).find(|p| native_elf(p));
            if let Some(p) = hit {
                return Some(p.clone());
            }
        }
    }
    let triplet = match std::env::consts::ARCH {
        "x86_64" => "x86_64-linux-gnu",
        "aarch64" => "aarch64-linux-gnu",
        "x86" => "i386-linux-gnu",
        "arm" => "arm-linux-gnueabihf",
        "riscv64" => "riscv64-linux-gnu",
        "powerpc64" => "powerpc64le-linux-gnu",
        "s390x" => "s390x-linux-gnu",
        _ => "",
    };
    let dirs = [
        format!("/lib/{triplet}"),
        format!("/usr/lib/{triplet}"),
        "/lib64".into(),
        "/usr/lib64".into(),
        "/lib".into(),
        "/usr/lib".into(),
        "/usr/local/lib".into(),
    ];
    for dir in dirs.iter().filter(|d| !d.ends_with('/')) {
        let Ok(entries) = std::fs::read_dir(dir) else { continue };
        let mut hits: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_str().is_some_and(|f| library_matches(f, name)))
            .map(|e| e.path())
            .filter(|p| native_elf(p))
            .collect();
        // `libfoo.so`, `libfoo.so.1`, `libfoo.so.1.2` are usually one file;
        // the shortest name is the stable one.
        hits.sort_by_key(|p| (p.as_os_str().len(), p.clone()));
        if let Some(p) = hits.into_iter().next() {
            return Some(p);
        }
    }
    None
}

/// Whether `path` is an ELF file for the architecture we run on (the cache
/// also lists 32-bit and foreign libraries; `libc.so` in /usr/lib is a
/// linker script, not ELF).
fn native_elf(path: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 20];
    let Ok(mut f) = std::fs::File::open(path) else { return false };
    if f.read_exact(&mut head).is_err() || &head[..4] != b"\x7fELF" {
        return false;
    }
    let class64 = head[4] == 2;
    let machine =
        if head[5] == 2 { u16::from_be_bytes([head[18], head[19]]) } else { u16::from_le_bytes([head[18], head[19]]) };
    let want: Option<u16> = match std::env::consts::ARCH {
        "x86_64" => Some(62),
        "aarch64" => Some(183),
        "x86" => Some(3),
        "arm" => Some(40),
        "riscv64" => Some(243),
        "powerpc64" => Some(21),
        "s390x" => Some(22),
        "loongarch64" => Some(258),
        _ => None,
    };
    class64 == cfg!(target_pointer_width = "64") && want.is_none_or(|m| m == machine)
}

/// One library of `/etc/ld.so.cache`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LdCacheEntry {
    /// The soname, e.g. `libc.so.6`.
    pub name: String,
    pub path: PathBuf,
    /// ldconfig's flags (library kind in the low byte, architecture above).
    pub flags: i32,
}

#[derive(Debug, thiserror::Error)]
pub enum LdCacheError {
    #[error("not an ld.so.cache file")]
    BadMagic,
    #[error("truncated ld.so.cache file")]
    Truncated,
}

const OLD_MAGIC: &[u8] = b"ld.so-1.7.0";
const NEW_MAGIC: &[u8] = b"glibc-ld.so.cache1.1";
/// magic+version (20), nlibs, len_strings, flags+padding, extension offset,
/// 3 unused words.
const NEW_HEADER: usize = 48;
const NEW_ENTRY: usize = 24;
const OLD_ENTRY: usize = 12;

/// Parse an ld.so.cache image. Pure.
///
/// Two layouts exist: glibc ≥ 2.32 writes only the "new" format
/// (`glibc-ld.so.cache1.1`, 24-byte entries whose string offsets count from
/// the new header); older ldconfigs wrote the "old" libc5 format
/// (`ld.so-1.7.0`, 12-byte entries, offsets counting from the end of the
/// entry array) followed by the new format at the next 8-byte boundary. The
/// new table is preferred when present. The cache is little-endian on every
/// machine we run on; the new format's header flag byte records this.
pub fn parse_ld_cache(bytes: &[u8]) -> Result<Vec<LdCacheEntry>, LdCacheError> {
    if bytes.starts_with(NEW_MAGIC) {
        return parse_new(bytes);
    }
    if !bytes.starts_with(OLD_MAGIC) {
        return Err(LdCacheError::BadMagic);
    }
    let nlibs = u32_at(bytes, OLD_MAGIC.len())? as usize;
    let entries_start = OLD_MAGIC.len() + 4;
    let strings =
        nlibs.checked_mul(OLD_ENTRY).and_then(|n| n.checked_add(entries_start)).ok_or(LdCacheError::Truncated)?;
    let new_start = (strings + 7) & !7;
    if bytes.get(new_start..).is_some_and(|b| b.starts_with(NEW_MAGIC)) {
        return parse_new(&bytes[new_start..]);
    }
    let mut out = Vec::with_capacity(nlibs.min(1 << 16));
    for i in 0..nlibs {
        let at = entries_start + i * OLD_ENTRY;
        let flags = u32_at(bytes, at)? as i32;
        let key = u32_at(bytes, at + 4)? as usize;
        let value = u32_at(bytes, at + 8)? as usize;
        out.push(entry(bytes, strings, key, value, flags)?);
    }
    Ok(out)
}

fn parse_new(bytes: &[u8]) -> Result<Vec<LdCacheEntry>, LdCacheError> {
    let nlibs = u32_at(bytes, NEW_MAGIC.len())? as usize;
    if nlibs.checked_mul(NEW_ENTRY).and_then(|n| n.checked_add(NEW_HEADER)).is_none_or(|end| end > bytes.len()) {
        return Err(LdCacheError::Truncated);
    }
    let mut out = Vec::with_capacity(nlibs);
    for i in 0..nlibs {
        let at = NEW_HEADER + i * NEW_ENTRY;
        let flags = u32_at(bytes, at)? as i32;
        let key = u32_at(bytes, at + 4)? as usize;
        let value = u32_at(bytes, at + 8)? as usize;
        out.push(entry(bytes, 0, key, value, flags)?);
    }
    Ok(out)
}

fn entry(bytes: &[u8], base: usize, key: usize, value: usize, flags: i32) -> Result<LdCacheEntry, LdCacheError> {
    let name = cstr_at(bytes, base + key)?;
    let path = cstr_at(bytes, base + value)?;
    Ok(LdCacheEntry { name: name.to_string(), path: PathBuf::from(path), flags })
}

fn u32_at(bytes: &[u8], at: usize) -> Result<u32, LdCacheError> {
    let b = bytes.get(at..at + 4).ok_or(LdCacheError::Truncated)?;
    Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

fn cstr_at(bytes: &[u8], at: usize) -> Result<&str, LdCacheError> {
    let tail = bytes.get(at..).ok_or(LdCacheError::Truncated)?;
    let end = tail.iter().position(|&b| b == 0).ok_or(LdCacheError::Truncated)?;
    std::str::from_utf8(&tail[..end]).map_err(|_| LdCacheError::Truncated)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn library_name_matching() {
        for name in ["c", "libc", "libc.so", "libc.so.6"] {
            assert!(library_matches("libc.so.6", name), "{name}");
        }
        assert!(!library_matches("libcrypt.so.1", "c"));
        assert!(!library_matches("libc.so.6", "libc.so.7"));
        assert!(library_matches("libpython3.11.so.1.0", "python3.11"));
        assert!(!library_matches("libc_malloc_debug.so.0", "libc"));
    }

    /// The system cache, checked against `ldconfig -p`'s own reading of it.
    #[test]
    fn system_cache_agrees_with_ldconfig() {
        let Ok(bytes) = std::fs::read("/etc/ld.so.cache") else { return };
        let entries = parse_ld_cache(&bytes).unwrap();
        let Ok(out) = std::process::Command::new("ldconfig").arg("-p").output() else { return };
        let text = String::from_utf8_lossy(&out.stdout);
        let expected: Vec<(String, PathBuf)> = text
            .lines()
            .skip(1)
            .filter_map(|l| {
                let (left, path) = l.split_once(" => ")?;
                let name = left.trim().split(' ').next()?;
                Some((name.to_string(), PathBuf::from(path.trim())))
            })
            .collect();
        let got: Vec<(String, PathBuf)> = entries.into_iter().map(|e| (e.name, e.path)).collect();
        assert_eq!(got, expected);
    }

    /// Synthetic caches in both layouts, and truncations of them.
    #[test]
    fn synthetic_caches() {
        let strings = b"libfoo.so.1\0/opt/lib/libfoo.so.1\0";
        // New format alone.
        let mut new = NEW_MAGIC.to_vec();
        new.extend(1u32.to_le_bytes());
        new.extend((strings.len() as u32).to_le_bytes());
        new.resize(NEW_HEADER, 0);
        let strs = (NEW_HEADER + NEW_ENTRY) as u32;
        for v in [0x0303u32, strs, strs + 12, 0] {
            new.extend(v.to_le_bytes());
        }
        new.extend(0u64.to_le_bytes());
        new.extend(strings);
        let want = vec![LdCacheEntry { name: "libfoo.so.1".into(), path: "/opt/lib/libfoo.so.1".into(), flags: 0x303 }];
        assert_eq!(parse_ld_cache(&new).unwrap(), want);

        // Old format with its own strings, then the new table (preferred).
        let mut old = OLD_MAGIC.to_vec();
        old.extend(1u32.to_le_bytes());
        for v in [1u32, 0, 12] {
            old.extend(v.to_le_bytes());
        }
        let mut only_old = old.clone();
        only_old.extend(b"libbar.so.2\0/lib/libbar.so.2\0");
        let got = parse_ld_cache(&only_old).unwrap();
        assert_eq!((got[0].name.as_str(), got[0].path.as_path()), ("libbar.so.2", Path::new("/lib/libbar.so.2")));
        let mut combined = old;
        combined.resize((combined.len() + 7) & !7, 0);
        combined.extend(&new);
        assert_eq!(parse_ld_cache(&combined).unwrap(), want);

        for cut in [0, 5, 21, 30, 60, new.len() - 3] {
            assert!(parse_ld_cache(&new[..cut]).is_err(), "cut at {cut}");
        }
        assert!(matches!(parse_ld_cache(b"garbage garbage garbage"), Err(LdCacheError::BadMagic)));
    }

    #[test]
    fn resolves_programs_libraries_and_paths() {
        let libc = std::fs::canonicalize("/lib/x86_64-linux-gnu/libc.so.6");
        if let Ok(libc) = libc {
            for name in ["c", "libc", "libc.so.6"] {
                assert_eq!(resolve(name, None).unwrap(), libc, "{name}");
            }
            // Through our own process's mappings.
            assert_eq!(resolve("c", Some(std::process::id() as i32)).unwrap(), libc);
        }
        let bash = std::fs::canonicalize("/bin/bash").unwrap();
        assert_eq!(resolve("bash", None).unwrap(), bash);
        assert_eq!(resolve("/bin/bash", None).unwrap(), bash);
        // Our own executable by its name, via /proc/self/exe.
        let me = std::fs::read_link("/proc/self/exe").unwrap();
        let my_name = me.file_name().unwrap().to_str().unwrap();
        assert_eq!(resolve(my_name, Some(std::process::id() as i32)).unwrap(), std::fs::canonicalize(&me).unwrap());

        assert!(matches!(resolve("./definitely/missing", None), Err(LibPathError::NoSuchFile { .. })));
        assert!(matches!(resolve("/tmp", None), Err(LibPathError::NotAFile { .. })));
        assert!(matches!(resolve("no_such_program_or_lib", None), Err(LibPathError::NotFound { in_cwd: false, .. })));
        // Cargo runs tests in the package root, where Cargo.toml is a file.
        assert!(matches!(resolve("Cargo.toml", None), Err(LibPathError::NotFound { in_cwd: true, .. })));
    }
}
