//! What unit tests that need the kernel share: the decision to skip. On a
//! machine without root, BPF or tracefs such a test says plainly why it
//! does not run and passes; in CI (`CI=true`), where the kernel tests must
//! run, a skip is a failure. (`runtime::testing::skip_without_bpf` and
//! `frontend::tracefs::skip_without_tracefs` apply it.)

/// Whether to skip a test that needs `what`; `available` says whether
/// this machine has it, or why not.
pub(crate) fn skip_unless(available: Result<(), String>, what: &str) -> bool {
    match available {
        Ok(()) => false,
        Err(e) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("{what} is unavailable in CI, where kernel tests must run: {e}")
        }
        Err(e) => {
            crate::diag::stderr_line(format_args!("skipping: {what} unavailable: {e}"));
            true
        }
    }
}
