//! Naming the addresses of a process whose mappings were never read: one
//! that exited within moments of its first recorded stack, before the
//! session could read `/proc/PID/maps` (a `-c` command whose probed
//! function runs just before it exits).
//!
//! When a probe first sees a process, it also sends the frames of its
//! user stack as the kernel resolves them at that moment
//! (`bpf_get_stack` with `BPF_F_USER_BUILD_ID`: each frame's file by build
//! id and offset in it) beside the same frames' addresses. A pair anchors
//! a file: the file offset gives the link-time address, the difference to
//! the run-time address is where the file was loaded (`bias`), and every
//! address of the process in that file is named by subtracting it. Files
//! are found by build id among the files the session names: the binaries
//! its probes attach to and the libraries those link, the `-c` command's
//! program, and the C library.
//!
//! Only files with a frame in the first stack are anchored; for the rest
//! of a vanished process's addresses nothing is known.

use super::files::FileSymbols;
use crate::frontend::elf;
use std::collections::HashMap;
use std::path::PathBuf;
use std::rc::Rc;

/// One user frame as the kernel resolved it when the process was first
/// seen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Anchor {
    pub build_id: Vec<u8>,
    /// The frame's offset in that file.
    pub file_offset: u64,
    /// The frame's run-time address.
    pub addr: u64,
}

/// A file placed in a vanished process by an [`Anchor`].
pub(super) struct Anchored {
    /// Run-time address minus link-time address.
    pub bias: u64,
    pub path: Rc<str>,
    /// The file's key in [`Candidates::files`].
    pub key: PathBuf,
}

/// Files that may hold a vanished process's code, by build id.
#[derive(Default)]
pub(super) struct Candidates {
    /// Files the session named, not looked at yet: their libraries are
    /// found only when a vanished process needs them, not at start-up.
    named: Vec<PathBuf>,
    /// Paths to look at, not opened yet.
    pending: Vec<PathBuf>,
    /// libc was added to `pending`.
    libc_added: bool,
    by_build_id: HashMap<Vec<u8>, PathBuf>,
    /// Opened files, by path.
    pub files: HashMap<PathBuf, FileSymbols>,
}

impl Candidates {
    /// Files worth looking in; the libraries they link (`DT_NEEDED`,
    /// found as the dynamic linker finds them) and libc are looked in too.
    /// Nothing is read until a vanished process needs it.
    pub fn add(&mut self, paths: impl IntoIterator<Item = PathBuf>) {
        self.named.extend(paths);
    }

    /// Move the named files, with their libraries, to `pending`.
    fn expand(&mut self) {
        let push = |pending: &mut Vec<PathBuf>, p: PathBuf| {
            if !pending.contains(&p) {
                pending.push(p);
            }
        };
        if !self.libc_added {
            self.libc_added = true;
            if let Some(libc) = crate::frontend::libpath::find_library("libc.so.6") {
                push(&mut self.pending, libc);
            }
        }
        for path in std::mem::take(&mut self.named) {
            if let Ok(syms) = elf::open(&path) {
                for lib in syms.needed() {
                    if let Some(found) = crate::frontend::libpath::find_library(lib) {
                        push(&mut self.pending, found);
                    }
                }
            }
            push(&mut self.pending, path);
        }
    }

    /// Place the anchors' files: for each file found, where it was loaded.
    pub fn place(&mut self, anchors: &[Anchor]) -> Vec<Anchored> {
        let mut out: Vec<Anchored> = Vec::new();
        for a in anchors {
            let Some(path) = self.find(&a.build_id) else { continue };
            if out.iter().any(|p| p.key == path) {
                continue;
            }
            let file =
                self.files.entry(path.clone()).or_insert_with(|| FileSymbols::open(&path, &path.to_string_lossy()));
            let Some(vaddr) = file.vaddr_of_offset(a.file_offset) else { continue };
            let shown: Rc<str> = Rc::from(path.to_string_lossy().as_ref());
            out.push(Anchored { bias: a.addr.wrapping_sub(vaddr), path: shown, key: path });
        }
        out
    }

    /// The candidate with this build id. (A separate debug file has the
    /// same build id and the symbols, but not the file offsets an anchor
    /// is given in: it is never the answer.)
    fn find(&mut self, id: &[u8]) -> Option<PathBuf> {
        if let Some(p) = self.by_build_id.get(id) {
            return Some(p.clone());
        }
        self.expand();
        while let Some(path) = self.pending.pop() {
            let Some(theirs) = elf::open(&path).ok().and_then(|s| s.build_id()) else { continue };
            self.by_build_id.insert(theirs.clone(), path.clone());
            if theirs == id {
                return Some(path);
            }
        }
        None
    }
}

/// Decode the anchors of a process event: `n` addresses then `n`
/// `struct bpf_stack_build_id` (status, 20-byte build id, offset), as the
/// two `bpf_get_stack` calls filled them. Frames the kernel could not
/// resolve (status other than `BPF_STACK_BUILD_ID_VALID`) are skipped.
pub fn decode(ips: &[u8], build_ids: &[u8]) -> Vec<Anchor> {
    const VALID: i32 = 1;
    let addrs = ips.chunks_exact(8).map(|w| u64::from_le_bytes(w.try_into().unwrap_or([0; 8])));
    let frames = build_ids.chunks_exact(32);
    let mut out = Vec::new();
    for (addr, f) in addrs.zip(frames) {
        let status = i32::from_le_bytes(f[..4].try_into().unwrap_or([0; 4]));
        let offset = u64::from_le_bytes(f[24..32].try_into().unwrap_or([0; 8]));
        if status == VALID && addr != 0 {
            out.push(Anchor { build_id: f[4..24].to_vec(), file_offset: offset, addr });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_pair_addresses_with_resolved_frames() {
        let mut ips = Vec::new();
        let mut ids = Vec::new();
        for (addr, status, off) in
            [(0x5555_1169u64, 1i32, 0x1169u64), (0x7f00_0000_1234, 2, 0), (0x5555_11a0, 1, 0x11a0)]
        {
            ips.extend_from_slice(&addr.to_le_bytes());
            ids.extend_from_slice(&status.to_le_bytes());
            ids.extend_from_slice(&[0xab; 20]);
            ids.extend_from_slice(&off.to_le_bytes());
        }
        let got = decode(&ips, &ids);
        assert_eq!(got.len(), 2, "the unresolved frame is skipped");
        assert_eq!((got[0].addr, got[0].file_offset, got[0].build_id.len()), (0x5555_1169, 0x1169, 20));
        assert_eq!(decode(&ips[..8], &ids).len(), 1, "pairs stop at the shorter list");
    }
}
