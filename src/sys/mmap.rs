//! Read-only file mappings: symbol tables and debug info are read in place,
//! touching only the pages a lookup needs.
//!
//! Part of [`super`], the one FFI module.

use std::fs::File;
use std::os::fd::AsRawFd;

/// A read-only private mapping of a whole file.
///
/// A file truncated by another process while mapped would fault on access;
/// binaries being traced are not rewritten in place (installers replace
/// them by rename), so this is the same trade-off every symbolizer makes.
pub struct Mmap {
    ptr: *mut libc::c_void,
    len: usize,
}

// SAFETY: the mapping is read-only and owned; sharing it across threads is sound.
unsafe impl Send for Mmap {}
// SAFETY: as above.
unsafe impl Sync for Mmap {}

impl Mmap {
    pub fn map(file: &File, len: u64) -> std::io::Result<Mmap> {
        let len = usize::try_from(len).map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
        // SAFETY: a fresh PROT_READ/MAP_PRIVATE mapping of an open fd; the
        // result is checked before use and unmapped exactly once in Drop.
        let ptr =
            unsafe { libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ, libc::MAP_PRIVATE, file.as_raw_fd(), 0) };
        if ptr == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        // Symbol and DWARF lookups touch scattered pages (one unit header
        // here, a symbol there); random-access advice stops the kernel from
        // reading ahead and mapping neighbours around each fault (measured:
        // 0.5 MB less resident for one member of a 20 MB debug binary).
        // SAFETY: advice on the mapping just created; failure is harmless.
        unsafe { libc::madvise(ptr, len, libc::MADV_RANDOM) };
        Ok(Mmap { ptr, len })
    }

    pub fn bytes(&self) -> &[u8] {
        // SAFETY: `ptr` is a live mapping of `len` readable bytes until Drop.
        unsafe { std::slice::from_raw_parts(self.ptr as *const u8, self.len) }
    }
}

impl Drop for Mmap {
    fn drop(&mut self) {
        // SAFETY: unmaps the mapping created in `map`; no borrows outlive self.
        unsafe {
            libc::munmap(self.ptr, self.len);
        }
    }
}
