//! A process's memory map, from `/proc/PID/maps`, and where to open the
//! files mapped in it.
//!
//! Every mapping is kept, file-backed or not, so that an address in an
//! anonymous one (JIT code, the heap) is known to be nameless without
//! reading the map again. An unnamed mapping right after a file's mapping
//! is that file's `.bss` beyond its last file-backed page: it is taken as
//! the file continuing (its offset running past the file's end), so that a
//! variable there still resolves through the file's segment table.
//!
//! The path `/proc/PID/maps` shows is the file as that process sees it.
//! [`locate`] opens the same file (same device and inode) from here: by its
//! path, through `/proc/PID/root` (another mount namespace: a container),
//! or through `/proc/PID/map_files/` (a file deleted or replaced since it
//! was mapped; root only). The last two exist only while the process does.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// One line of `/proc/PID/maps`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Mapping {
    pub start: u64,
    /// Exclusive.
    pub end: u64,
    /// `None` for an anonymous mapping, the heap, the stack, `[vdso]`.
    pub file: Option<MappedFile>,
}

/// The file behind a mapping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct MappedFile {
    /// As `/proc/PID/maps` shows it (`/usr/lib/x86_64-linux-gnu/libc.so.6`).
    pub path: Rc<str>,
    /// The file offset mapped at `start`.
    pub pgoff: u64,
    pub id: FileId,
}

/// A file's identity: device (major, minor) and inode, as the kernel
/// reports it for the mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) struct FileId {
    pub major: u32,
    pub minor: u32,
    pub inode: u64,
}

/// Parse the text of `/proc/PID/maps`, in the kernel's order (by address).
/// Lines that do not parse are skipped: the kernel writes this text, only
/// the paths in it come from elsewhere.
pub(super) fn parse_maps(text: &str) -> Vec<Mapping> {
    let mut paths: HashMap<&str, Rc<str>> = HashMap::new();
    let mut out: Vec<Mapping> = Vec::new();
    for line in text.lines() {
        // START-END PERMS OFFSET MAJOR:MINOR INODE [PATH]; the path (which
        // may contain spaces) after padding.
        let mut fields = line.splitn(6, ' ');
        let (Some(range), Some(_perms), Some(offset), Some(dev), Some(inode)) =
            (fields.next(), fields.next(), fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let path = fields.next().unwrap_or("").trim_start();
        let hex = |s: &str| u64::from_str_radix(s, 16).ok();
        let Some((start, end)) = range.split_once('-').and_then(|(s, e)| Some((hex(s)?, hex(e)?))) else {
            continue;
        };
        let (Some(pgoff), Some((major, minor)), Ok(inode)) = (
            hex(offset),
            dev.split_once(':')
                .and_then(|(a, b)| Some((u32::from_str_radix(a, 16).ok()?, u32::from_str_radix(b, 16).ok()?))),
            inode.parse::<u64>(),
        ) else {
            continue;
        };
        if start >= end {
            continue;
        }
        let file = if path.starts_with('/') && inode != 0 {
            let path = paths.entry(path).or_insert_with(|| Rc::from(path)).clone();
            Some(MappedFile { path, pgoff, id: FileId { major, minor, inode } })
        } else if path.is_empty() && inode == 0 {
            // A file's `.bss` continues its last mapping.
            out.last().filter(|prev| prev.end == start).and_then(|prev| {
                let f = prev.file.as_ref()?;
                Some(MappedFile { pgoff: f.pgoff.checked_add(prev.end - prev.start)?, ..f.clone() })
            })
        } else {
            None
        };
        out.push(Mapping { start, end, file });
    }
    out
}

/// The mappings of process `pid`; an error when it is gone.
pub(super) fn read_maps(pid: u32) -> std::io::Result<Vec<Mapping>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/maps"))?;
    Ok(parse_maps(&text))
}

/// The mapping containing `addr` in `maps` (sorted by address).
pub(super) fn mapping_at(maps: &[Mapping], addr: u64) -> Option<&Mapping> {
    let i = maps.partition_point(|m| m.start <= addr).checked_sub(1)?;
    Some(&maps[i]).filter(|m| addr < m.end)
}

/// Where the file of mapping `m` of process `pid` can be opened from here,
/// and whether that path lasts beyond the process (see the module docs).
/// When no path is the same file, the path as shown, if it exists: its
/// identity cannot always be checked (overlayfs reports the device of the
/// layer below for mappings, its own for `stat`).
pub(super) fn locate(pid: u32, m: &Mapping) -> Option<(PathBuf, bool)> {
    let f = m.file.as_ref()?;
    let same = |p: &Path| {
        std::fs::metadata(p).is_ok_and(|meta| {
            meta.is_file() && meta.ino() == f.id.inode && dev_of(meta.dev()) == (f.id.major, f.id.minor)
        })
    };
    let shown = Path::new(&*f.path);
    if same(shown) {
        return Some((shown.to_path_buf(), true));
    }
    let in_root = Path::new("/proc").join(pid.to_string()).join("root").join(shown.strip_prefix("/").unwrap_or(shown));
    if same(&in_root) {
        return Some((in_root, false));
    }
    let mapped = PathBuf::from(format!("/proc/{pid}/map_files/{:x}-{:x}", m.start, m.end));
    if std::fs::metadata(&mapped).is_ok_and(|meta| meta.is_file()) {
        return Some((mapped, false));
    }
    std::fs::metadata(shown).is_ok_and(|meta| meta.is_file()).then(|| (shown.to_path_buf(), true))
}

/// glibc's encoding of `dev_t`: (major, minor).
fn dev_of(dev: u64) -> (u32, u32) {
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    (major as u32, minor as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAPS: &str = "\
55d0c1a00000-55d0c1a01000 r--p 00000000 fe:00 1234                       /tmp/st/my prog
55d0c1a01000-55d0c1a02000 r-xp 00001000 fe:00 1234                       /tmp/st/my prog
55d0c1a03000-55d0c1a04000 rw-p 00002000 fe:00 1234                       /tmp/st/my prog
55d0c1a04000-55d0c1a06000 rw-p 00000000 00:00 0 
55d0c2000000-55d0c2021000 rw-p 00000000 00:00 0                          [heap]
7f0000000000-7f0000001000 r-xp 00000000 00:00 0 
7ffd1e9f0000-7ffd1e9f2000 r-xp 00000000 00:00 0                          [vdso]
garbage line
";

    #[test]
    fn maps_lines_files_and_bss() {
        let maps = parse_maps(MAPS);
        assert_eq!(maps.len(), 7);
        let f = maps[1].file.as_ref().unwrap();
        assert_eq!((&*f.path, f.pgoff), ("/tmp/st/my prog", 0x1000));
        assert_eq!(f.id, FileId { major: 0xfe, minor: 0, inode: 1234 });
        assert!(Rc::ptr_eq(&f.path, &maps[0].file.as_ref().unwrap().path), "one string per path");
        // The anonymous mapping right after the file's last one is its .bss.
        let bss = maps[3].file.as_ref().expect("bss continues the file");
        assert_eq!(bss.pgoff, 0x3000);
        assert!(maps[4].file.is_none() && maps[5].file.is_none() && maps[6].file.is_none());

        assert_eq!(mapping_at(&maps, 0x55d0c1a01010).map(|m| m.start), Some(0x55d0c1a01000));
        assert_eq!(mapping_at(&maps, 0x55d0c1a02000), None, "between mappings");
        assert_eq!(mapping_at(&maps, 0x1000), None, "below all");
        assert_eq!(mapping_at(&maps, 0x7ffd1e9f2000), None, "at the end of the last");
    }

    #[test]
    fn dev_t_encoding() {
        assert_eq!(dev_of(0xfe00), (0xfe, 0));
        assert_eq!(dev_of(0x0803), (8, 3));
        let makedev = |major: u64, minor: u64| {
            ((major & 0xfffff000) << 32) | ((major & 0xfff) << 8) | ((minor & 0xffffff00) << 12) | (minor & 0xff)
        };
        assert_eq!(dev_of(makedev(0x1234, 0x56789)), (0x1234, 0x56789));
    }
}
