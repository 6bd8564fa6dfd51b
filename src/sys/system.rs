//! Facts about the running system: CPU lists (per-CPU map values have one
//! slot per possible CPU; perf events are opened per online CPU), the
//! tracefs mount (mounted when missing, and then unmounted at the end), and
//! the calling thread's id.
//!
//! Part of [`super`], the one FFI module.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use super::{last_errno, Op, SysError};

fn read_cpu_list(path: &str) -> Result<Vec<u32>, SysError> {
    let text = std::fs::read_to_string(path).map_err(|source| SysError::Read { path: PathBuf::from(path), source })?;
    parse_cpu_list(text.trim()).map_err(|detail| SysError::Parse { path: PathBuf::from(path), detail })
}

/// Parses the kernel's CPU list format, e.g. `0-3,5,8-9`.
pub(crate) fn parse_cpu_list(text: &str) -> Result<Vec<u32>, String> {
    let mut cpus = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let num = |s: &str| s.trim().parse::<u32>().map_err(|_| format!("bad CPU number {s:?} in {text:?}"));
        match part.split_once('-') {
            Some((lo, hi)) => {
                let (lo, hi) = (num(lo)?, num(hi)?);
                if lo > hi {
                    return Err(format!("bad CPU range {part:?}"));
                }
                cpus.extend(lo..=hi);
            }
            None => cpus.push(num(part)?),
        }
    }
    if cpus.is_empty() {
        return Err("empty CPU list".to_string());
    }
    Ok(cpus)
}

/// Number of possible CPUs: the slot count of per-CPU map values.
pub fn possible_cpus() -> Result<usize, SysError> {
    static CACHE: OnceLock<usize> = OnceLock::new();
    if let Some(n) = CACHE.get() {
        return Ok(*n);
    }
    let n = read_cpu_list("/sys/devices/system/cpu/possible")?.len();
    Ok(*CACHE.get_or_init(|| n))
}

/// The CPUs that are online now (perf events are opened per CPU).
pub fn online_cpus() -> Result<Vec<u32>, SysError> {
    read_cpu_list("/sys/devices/system/cpu/online")
}

const TRACEFS: &str = "/sys/kernel/tracing";

/// Whether [`ensure_tracefs`] mounted tracefs (then [`unmount_tracefs`]
/// takes it down again).
static MOUNTED: AtomicBool = AtomicBool::new(false);

/// Whether `dir` holds tracefs (an `events/` directory). Not being allowed
/// to look is an error of its own: tracefs is root-only (mode 0700), so a
/// user who may not look usually has it mounted but cannot read it.
fn has_events(dir: &Path) -> Result<bool, SysError> {
    match std::fs::metadata(dir.join("events")) {
        Ok(m) => Ok(m.is_dir()),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => Err(SysError::TracefsDenied(dir.to_path_buf())),
        Err(_) => Ok(false),
    }
}

/// Returns the tracefs mount point, mounting tracefs there if needed (and
/// remembering so: see [`unmount_tracefs`]).
pub fn ensure_tracefs() -> Result<PathBuf, SysError> {
    let tracing = Path::new(TRACEFS);
    if has_events(tracing)? {
        return Ok(tracing.to_path_buf());
    }
    // Older setups only have it under debugfs.
    let legacy = Path::new("/sys/kernel/debug/tracing");
    if has_events(legacy)? {
        return Ok(legacy.to_path_buf());
    }
    let target = c"/sys/kernel/tracing";
    // SAFETY: all pointers are valid NUL-terminated strings; data may be NULL.
    let rc = unsafe { libc::mount(c"nodev".as_ptr(), target.as_ptr(), c"tracefs".as_ptr(), 0, std::ptr::null()) };
    if rc == 0 {
        MOUNTED.store(true, Ordering::SeqCst);
    } else {
        let errno = last_errno();
        // Somebody else may have mounted it in the meantime (then it is
        // theirs to unmount).
        if !(errno == libc::EBUSY && tracing.join("events").is_dir()) {
            return Err(SysError::os(Op::MountTracefs, TRACEFS, errno));
        }
    }
    if tracing.join("events").is_dir() {
        Ok(tracing.to_path_buf())
    } else {
        Err(SysError::Invalid(format!("tracefs mounted at {TRACEFS} but it has no events directory")))
    }
}

/// Unmounts tracefs if [`ensure_tracefs`] mounted it, leaving the system as
/// trace found it; true if it did. Called once everything that used tracefs
/// is closed. A mount still in use (by another trace, say) is left alone:
/// that is `EBUSY`, not forced.
pub fn unmount_tracefs() -> Result<bool, SysError> {
    if !MOUNTED.swap(false, Ordering::SeqCst) {
        return Ok(false);
    }
    // SAFETY: the target is a valid NUL-terminated string.
    if unsafe { libc::umount2(c"/sys/kernel/tracing".as_ptr(), 0) } != 0 {
        return Err(SysError::os(Op::UnmountTracefs, TRACEFS, last_errno()));
    }
    Ok(true)
}

/// The calling thread's id (what `bpf_get_current_pid_tgid` puts in its
/// low 32 bits), used to filter events down to one thread.
pub fn current_tid() -> u32 {
    // SAFETY: gettid has no preconditions and cannot fail.
    unsafe { libc::gettid() as u32 }
}
