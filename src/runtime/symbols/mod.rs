//! Naming captured stack addresses: `ustack`/`kstack` frames and
//! `usym`/`ksym` values, as [`Frame`]s.
//!
//! The kernel captures stacks as raw instruction addresses; a
//! [`Symbolizer`], one per session (kept across REPL lines), names them:
//!
//! * **User addresses** of process PID: the mapping holding the address
//!   (`/proc/PID/maps`, `process.rs`) gives the file and the file offset
//!   (`address − start + offset`), the file's `PT_LOAD` segments the
//!   link-time address (`offset − p_offset + p_vaddr`), which is the same
//!   computation for PIE and fixed-address executables and for shared
//!   libraries; the file's symbol tables name it (`files.rs`, over
//!   `frontend::elf`). The mappings are read when a process is first
//!   noted, so that its addresses can be named after it exits; an address
//!   outside them re-reads the map of a live process (it may have loaded a
//!   library since), at most once per `REREAD_AFTER`.
//! * **Kernel addresses**: `/proc/kallsyms`, read on the first one
//!   (`kernel.rs`).
//!   A process that exited before its mappings could be read is named
//!   through the frames of its first stack as the kernel resolved them
//!   (file by build id and offset: `anchors.rs`).
//! * Names are demangled (C++, Rust) as bpftrace shows them (`demangle.rs`).
//!
//! Every answer is cached: a user frame per (process, address), a kernel
//! frame per address, and each symbol's printed name once per file, so
//! printing the same stacks again (periodic prints, the REPL) is a hash
//! lookup, and frames in one function share one name string. Each file is
//! indexed once per session and keyed by its device and inode, so a library
//! shared by many processes is read once.
//!
//! Nothing here fails: what cannot be named (a file that is gone or
//! damaged, kallsyms hidden) is a [`Frame`] with the address alone, and the
//! reason is said once on stderr.

mod anchors;
mod demangle;
mod files;
mod kernel;
mod process;
#[cfg(test)]
mod tests;

use crate::diag;
use crate::frontend::kfuncs::KALLSYMS;
use crate::runtime::output::stack::Frame;
pub use anchors::{decode as decode_anchors, Anchor};
use anchors::{Anchored, Candidates};
use files::FileSymbols;
use kernel::KernelSymbols;
use process::{FileId, Mapping};
use std::collections::HashMap;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// A live process's map is read again for an address outside it only when
/// the last reading is older than this, so that a burst of addresses in no
/// mapping (a corrupt frame chain) costs one reading, not one each.
const REREAD_AFTER: Duration = Duration::from_millis(10);

/// Names addresses for one session; see the module docs.
#[derive(Default)]
pub struct Symbolizer {
    processes: HashMap<u32, Process>,
    /// Per file identity; opened on the first address in it.
    files: HashMap<FileId, FileSymbols>,
    /// Read on the first kernel address.
    kernel: Option<KernelSymbols>,
    kernel_names: HashMap<u32, Rc<str>>,
    kernel_frames: HashMap<u64, Frame>,
    /// Files that may hold a vanished process's code (`anchors.rs`).
    candidates: Candidates,
}

/// What is known of one process.
struct Process {
    maps: Vec<Mapping>,
    /// When `maps` was read; `None` before the first reading.
    read_at: Option<Instant>,
    /// The process has exited: `maps` is final.
    gone: bool,
    /// Frames named so far, by address.
    frames: HashMap<u64, Frame>,
    /// Files placed by anchors, when the mappings could not be read.
    anchored: Vec<Anchored>,
}

impl Symbolizer {
    /// A symbolizer that has read nothing yet.
    pub fn new() -> Symbolizer {
        Symbolizer::default()
    }

    /// Process `pid` was first seen using `ustack`/`usym`: remember its
    /// mappings now, so that its addresses can be named after it exits.
    /// Noting it again reads them again (a live process's only).
    pub fn note_process(&mut self, pid: u32) {
        let p = self.processes.entry(pid).or_insert_with(Process::new);
        p.read_at = None;
        p.reread(pid);
        self.open_fleeting(pid);
    }

    /// Files the session's probes name (uprobe binaries), where the code
    /// of a process that vanished before its mappings were read is looked
    /// for (with the libraries they link).
    pub fn add_candidates(&mut self, paths: impl IntoIterator<Item = PathBuf>) {
        self.candidates.add(paths);
    }

    /// [`note_process`](Self::note_process), with the frames of the
    /// process's first stack as the kernel resolved them: when its
    /// mappings cannot be read (it has exited already), they place the
    /// files they are in (see `anchors.rs`).
    pub fn note_process_anchored(&mut self, pid: u32, anchors: &[Anchor]) {
        self.note_process(pid);
        let Some(p) = self.processes.get_mut(&pid) else { return };
        if p.maps.is_empty() && !anchors.is_empty() {
            p.anchored = self.candidates.place(anchors);
            p.frames.clear();
        }
    }

    /// User address `addr` of process `pid`: the symbol covering it and the
    /// offset into it, and the file it is in as the process's
    /// `/proc/PID/maps` names it. A file address no symbol covers keeps
    /// only the file; an address in no file (anonymous memory, `[vdso]`, no
    /// mapping at all) is [`Frame::unknown`]. A process never noted is read
    /// now, if it still runs.
    pub fn user(&mut self, pid: u32, addr: u64) -> Frame {
        let p = self.processes.entry(pid).or_insert_with(Process::new);
        if let Some(f) = p.frames.get(&addr) {
            return f.clone();
        }
        if process::mapping_at(&p.maps, addr).is_none() && p.reread(pid) {
            self.open_fleeting(pid);
        }
        let Some(p) = self.processes.get_mut(&pid) else { return Frame::unknown(addr) };
        let frame = match process::mapping_at(&p.maps, addr) {
            Some(m) => name_user(&mut self.files, pid, m, addr),
            None => name_anchored(&mut self.candidates, &p.anchored, addr),
        };
        p.frames.insert(addr, frame.clone());
        frame
    }

    /// Kernel address `addr`: the kernel (or module, or BPF program)
    /// function it is in and the offset into it, no file; reads kallsyms
    /// on the first call.
    pub fn kernel(&mut self, addr: u64) -> Frame {
        if let Some(f) = self.kernel_frames.get(&addr) {
            return f.clone();
        }
        let table = self.kernel.get_or_insert_with(read_kallsyms);
        let frame = match table.find(addr) {
            Some(s) => {
                let symbol = self
                    .kernel_names
                    .entry(s.index)
                    .or_insert_with(|| demangle::demangle(s.name).map_or_else(|| Rc::from(s.name), Rc::from))
                    .clone();
                Frame { addr, symbol: Some(symbol), offset: addr - s.start, module: None }
            }
            None => Frame::unknown(addr),
        };
        self.kernel_frames.insert(addr, frame.clone());
        frame
    }

    /// Open now the files of `pid` that can only be opened while it lives
    /// (through `/proc/PID/`: deleted, replaced, or in another mount
    /// namespace); the others wait for their first address.
    fn open_fleeting(&mut self, pid: u32) {
        let Some(p) = self.processes.get(&pid) else { return };
        for m in &p.maps {
            let Some(f) = &m.file else { continue };
            if self.files.contains_key(&f.id) {
                continue;
            }
            if let Some((path, false)) = process::locate(pid, m) {
                // The process may exit while its file (or the file's debug
                // file, found through it) is opened through `/proc/PID/`:
                // then the file waits for its first address, and is opened
                // by the path it was mapped from.
                let file = FileSymbols::open_quietly(&path, &f.path);
                if file.is_complete() {
                    self.files.insert(f.id, file);
                }
            }
        }
    }
}

impl Process {
    fn new() -> Process {
        Process { maps: Vec::new(), read_at: None, gone: false, frames: HashMap::new(), anchored: Vec::new() }
    }

    /// Read the maps again if the process lives and the last reading is
    /// not recent; says whether they changed (then the cached frames are
    /// dropped: an address may now be in a different mapping).
    fn reread(&mut self, pid: u32) -> bool {
        if self.gone || self.read_at.is_some_and(|t| t.elapsed() < REREAD_AFTER) {
            return false;
        }
        self.read_at = Some(Instant::now());
        match process::read_maps(pid) {
            Ok(maps) if maps != self.maps => {
                self.maps = maps;
                self.frames.clear();
                true
            }
            Ok(_) => false,
            Err(_) => {
                self.gone = true;
                false
            }
        }
    }
}

/// Name `addr`, in mapping `m` of process `pid`.
fn name_user(files: &mut HashMap<FileId, FileSymbols>, pid: u32, m: &Mapping, addr: u64) -> Frame {
    let Some(f) = &m.file else { return Frame::unknown(addr) };
    let module = Some(f.path.clone());
    let file = files.entry(f.id).or_insert_with(|| {
        let path = process::locate(pid, m).map_or_else(|| PathBuf::from(&*f.path), |(path, _)| path);
        FileSymbols::open(&path, &f.path)
    });
    let found = (addr - m.start)
        .checked_add(f.pgoff)
        .and_then(|offset| file.vaddr_of_offset(offset))
        .and_then(|vaddr| Some((vaddr, file.symbol(vaddr)?)));
    match found {
        Some((vaddr, (symbol, start))) => Frame { addr, symbol: Some(symbol), offset: vaddr - start, module },
        None => Frame { addr, symbol: None, offset: 0, module },
    }
}

/// Name `addr` in the files anchors placed (a vanished process's).
fn name_anchored(candidates: &mut Candidates, anchored: &[Anchored], addr: u64) -> Frame {
    for a in anchored {
        let vaddr = addr.wrapping_sub(a.bias);
        let Some(file) = candidates.files.get_mut(&a.key).filter(|f| f.contains_vaddr(vaddr)) else { continue };
        let module = Some(a.path.clone());
        return match file.symbol(vaddr) {
            Some((symbol, start)) => Frame { addr, symbol: Some(symbol), offset: vaddr - start, module },
            None => Frame { addr, symbol: None, offset: 0, module },
        };
    }
    Frame::unknown(addr)
}

/// The kernel's symbol table; empty (every kernel address unknown) when
/// kallsyms cannot be read or hides addresses, which is said once.
fn read_kallsyms() -> KernelSymbols {
    let read =
        std::fs::File::open(KALLSYMS).and_then(|f| KernelSymbols::read(std::io::BufReader::with_capacity(1 << 16, f)));
    let table = match read {
        Ok(table) => table,
        Err(e) => {
            diag::warn(format_args!("kernel addresses are shown as numbers: cannot read {KALLSYMS}: {e}"));
            return KernelSymbols::default();
        }
    };
    if table.is_empty() {
        diag::warn(format_args!(
            "kernel addresses are shown as numbers: {KALLSYMS} hides them (kernel.kptr_restrict, or not root)"
        ));
    }
    table
}
