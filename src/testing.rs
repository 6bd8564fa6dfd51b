//! What unit tests that need the kernel share: the decision to skip. On a
//! machine without root, BPF or tracefs such a test says plainly why it
//! does not run and passes; in CI (`CI=true`), where the kernel tests must
//! run, a skip is a failure.

/// Whether to skip a test that needs `what`; `available` says whether
/// this machine has it, or why not.
pub(crate) fn skip_unless(available: Result<(), String>, what: &str) -> bool {
    match available {
        Ok(()) => false,
        Err(e) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("{what} is unavailable in CI, where kernel tests must run: {e}")
        }
        Err(e) => {
            eprintln!("skipping: {what} unavailable: {e}");
            true
        }
    }
}

/// Skip a test that reads tracefs (tracepoint formats and events), which
/// only root can read.
pub(crate) fn skip_without_tracefs() -> bool {
    let available = crate::frontend::tracefs::tracefs_root().map(drop).map_err(|e| e.to_string());
    skip_unless(available, "tracefs (needs root)")
}

/// For tests with a part that reads tracefs: whether that part can run
/// here (when not, it says so; in CI it must run).
pub(crate) fn tracefs_readable() -> bool {
    !skip_without_tracefs()
}
