//! Clocks and calendar time: the monotonic clock BPF's `ktime_get_ns`
//! shares (for `elapsed`), and `strftime` for `time(fmt)`.

/// CLOCK_MONOTONIC in nanoseconds: the clock `bpf_ktime_get_ns` reads.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime fills the struct we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// The local time now, formatted by the C library's `strftime` so every
/// conversion (and the locale) behaves as users expect.
pub fn format_local_time(fmt: &str) -> String {
    // SAFETY: time(NULL) only returns the clock; localtime_r writes into
    // the zeroed `tm` we own and returns NULL on failure, which we check.
    unsafe {
        let now = libc::time(std::ptr::null_mut());
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&now, &mut tm).is_null() {
            return String::new();
        }
        strftime(fmt, &tm)
    }
}

/// `fmt` applied to the UTC time `secs` after the epoch (deterministic, for
/// tests).
pub fn format_utc_time(fmt: &str, secs: i64) -> String {
    // SAFETY: gmtime_r fills the zeroed tm we own; NULL is checked.
    unsafe {
        let t: libc::time_t = secs;
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::gmtime_r(&t, &mut tm).is_null() {
            return String::new();
        }
        strftime(fmt, &tm)
    }
}

/// `strftime` into a growing buffer. It returns 0 both for "too small" and
/// for an empty result, so give up (empty) once the buffer is far larger
/// than any sane result could need.
fn strftime(fmt: &str, tm: &libc::tm) -> String {
    // A C string ends at NUL; so does the format bpftrace passes on.
    let fmt = fmt.split('\0').next().unwrap_or("");
    let Ok(cfmt) = std::ffi::CString::new(fmt) else { return String::new() };
    if fmt.is_empty() {
        return String::new();
    }
    let mut size = 256;
    while size <= 1 << 16 {
        let mut buf = vec![0u8; size];
        // SAFETY: buf has `size` writable bytes, cfmt is NUL-terminated and
        // tm is a valid, initialised struct tm; strftime writes at most
        // `size` bytes and returns how many (excluding the NUL) it wrote.
        let n = unsafe { libc::strftime(buf.as_mut_ptr().cast(), size, cfmt.as_ptr(), tm) };
        if n > 0 {
            buf.truncate(n);
            return String::from_utf8_lossy(&buf).into_owned();
        }
        size *= 4;
    }
    String::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strftime_formats() {
        // 2021-03-04 05:06:07 UTC.
        let t = 1_614_834_367;
        assert_eq!(format_utc_time("%H:%M:%S\n", t), "05:06:07\n");
        assert_eq!(format_utc_time("%Y-%m-%d %H:%M:%S.%f|", t), "2021-03-04 05:06:07.%f|");
        assert_eq!(format_utc_time("no conversions", t), "no conversions");
        assert_eq!(format_utc_time("", t), "");
        assert_eq!(format_utc_time("ab\0%Y", t), "ab");
        assert_eq!(format_utc_time(&"%Y".repeat(5000), t), "2021".repeat(5000));
        let now = format_local_time("%H:%M:%S\n");
        assert_eq!(now.len(), 9, "{now:?}");
    }

    #[test]
    fn monotonic_moves_forward() {
        let a = monotonic_ns();
        assert!(monotonic_ns() >= a && a > 0);
    }
}
