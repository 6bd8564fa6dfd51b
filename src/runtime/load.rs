//! Loading programs into the kernel and explaining verifier rejections.
//!
//! [`load_program`] always hands the kernel a log buffer. libbpf first loads
//! without logging (verification with a log is slower) and only on failure
//! reloads with log level 1; if the log does not fit, the kernel says
//! `ENOSPC` and how much it wanted, and we retry with that much.
//!
//! A rejection becomes [`LoadError::Verifier`] with the full log, the index
//! of the instruction the verifier stopped at and its final message, so the
//! caller can map the index back to a source span through the linker's
//! insn→span table and show the user their script, not bytecode.

use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};

use crate::sys::{self, Op, ProgKind, SysError};

/// A loaded program; the kernel frees it when this and every link using it
/// are gone.
#[derive(Debug)]
pub struct Prog {
    fd: OwnedFd,
    name: String,
    kind: ProgKind,
    insn_count: usize,
}

#[derive(thiserror::Error, Debug)]
pub enum LoadError {
    #[error("the BPF verifier rejected the program{}: {reason}", at_insn(*.failed_insn))]
    Verifier {
        errno: i32,
        log: String,
        /// Index of the instruction the verifier stopped at.
        failed_insn: Option<usize>,
        /// The verifier's final message, e.g. `R1 invalid mem access 'scalar'`.
        reason: String,
    },
    #[error(transparent)]
    Sys(#[from] SysError),
}

fn at_insn(insn: Option<usize>) -> String {
    insn.map(|n| format!(" at instruction {n}")).unwrap_or_default()
}

/// First log buffer size; most rejection logs of small programs fit.
const INITIAL_LOG_SIZE: usize = 256 * 1024;
/// The kernel accepts up to `u32::MAX >> 2`; beyond 64 MiB the tail (which
/// is what we parse, and what the kernel keeps when it truncates) suffices.
const MAX_LOG_SIZE: usize = 64 << 20;

/// Loads `insns` (raw `struct bpf_insn` bytes) as a `kind` program named
/// `name` (sanitized to the kernel's 15-character rule), license "GPL".
pub fn load_program(kind: ProgKind, name: &str, insns: &[u8]) -> Result<Prog, LoadError> {
    load_with_log_size(kind, name, insns, &[], INITIAL_LOG_SIZE)
}

/// [`load_program`] for a program with subprograms (loop callbacks)
/// starting at the slots `funcs`: the kernel then wants BTF naming every
/// function (`sys::prog_load` makes it).
pub fn load_program_with_funcs(kind: ProgKind, name: &str, insns: &[u8], funcs: &[u32]) -> Result<Prog, LoadError> {
    load_with_log_size(kind, name, insns, funcs, INITIAL_LOG_SIZE)
}

pub(crate) fn load_with_log_size(
    kind: ProgKind,
    name: &str,
    insns: &[u8],
    funcs: &[u32],
    initial_log_size: usize,
) -> Result<Prog, LoadError> {
    if insns.is_empty() || !insns.len().is_multiple_of(8) {
        return Err(SysError::Invalid(format!(
            "program {name:?} is {} bytes, not a non-empty sequence of 8-byte instructions",
            insns.len()
        ))
        .into());
    }
    let mut size = initial_log_size.clamp(1024, MAX_LOG_SIZE);
    // Level 0 + buffer: libbpf retries with level 1 only if the load fails.
    let mut level = 0;
    loop {
        let mut log = vec![0u8; size];
        let failure = match sys::prog_load(kind, name, insns, funcs, level, &mut log) {
            Ok(fd) => return Ok(Prog { fd, name: sys::object_name(name), kind, insn_count: insns.len() / 8 }),
            Err(failure) => failure,
        };
        if failure.errno == libc::ENOSPC && size < MAX_LOG_SIZE {
            let wanted = (failure.log_true_size as usize).saturating_add(1);
            size = wanted.max(size.saturating_mul(4)).min(MAX_LOG_SIZE);
            level = 1;
            continue;
        }
        let end = log.iter().position(|b| *b == 0).unwrap_or(log.len());
        let log = String::from_utf8_lossy(&log[..end]).into_owned();
        if log.trim().is_empty() {
            return Err(SysError::os(Op::ProgLoad, format!("{kind} program {name:?}"), failure.errno).into());
        }
        let (failed_insn, reason) = parse_verifier_log(&log);
        return Err(LoadError::Verifier { errno: failure.errno, log, failed_insn, reason });
    }
}

impl Prog {
    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    pub(crate) fn borrowed_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn kind(&self) -> ProgKind {
        self.kind
    }

    pub fn insn_count(&self) -> usize {
        self.insn_count
    }

    /// Runs the program once with `BPF_PROG_TEST_RUN` and no context, as
    /// BEGIN and END probes are run; returns r0.
    pub fn test_run(&self) -> Result<u32, SysError> {
        sys::prog_test_run(self.fd.as_fd())
    }
}

/// `N: (xx) ...` — the verifier printing instruction N before checking it.
fn insn_line_index(line: &str) -> Option<usize> {
    let (index, rest) = line.trim_start().split_once(": ")?;
    let index: usize = index.parse().ok()?;
    let bytes = rest.as_bytes();
    let is_opcode = bytes.len() >= 4
        && bytes[0] == b'('
        && bytes[1].is_ascii_hexdigit()
        && bytes[2].is_ascii_hexdigit()
        && bytes[3] == b')';
    is_opcode.then_some(index)
}

/// Lines that are bookkeeping (register state, statistics, source
/// annotations, precision tracking), not the verifier's complaint.
fn is_noise(line: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "processed ",
        "verification time",
        "stack depth",
        "max_states_per_insn",
        "; ",
        "from ",
        "mark_precise:",
        "last_idx",
        "regs=",
        "parent ",
        "func#",
        "Func#",
        "Live regs",
        "Global function",
        "-- BEGIN PROG LOAD LOG --",
        "-- END PROG LOAD LOG --",
    ];
    let line = line.trim();
    if line.is_empty() || PREFIXES.iter().any(|p| line.starts_with(p)) {
        return true;
    }
    // Register-state lines: "7: R0=... R10=fp0" or "7: frame1: R1=...".
    if let Some((index, rest)) = line.split_once(": ") {
        if index.chars().all(|c| c.is_ascii_digit()) && (rest.starts_with('R') || rest.starts_with("frame")) {
            return true;
        }
    }
    false
}

/// Finds the instruction the verifier stopped at and its final message.
///
/// The log prints each instruction as `N: (op) text` before checking it,
/// and the complaint right after the failing one. Errors found before
/// the walk (the CFG check: `back-edge from insn 3 to 1`, `unreachable
/// insn 5`, ...) print no instruction lines; for those the index is taken
/// from the message itself.
pub(crate) fn parse_verifier_log(log: &str) -> (Option<usize>, String) {
    let lines: Vec<&str> = log.lines().collect();
    let last_insn = lines.iter().enumerate().rev().find_map(|(pos, line)| insn_line_index(line).map(|n| (pos, n)));
    let tail_start = last_insn.map_or(0, |(pos, _)| pos + 1);
    let mut reason: Vec<&str> =
        lines[tail_start..].iter().map(|l| l.trim()).filter(|l| !is_noise(l) && insn_line_index(l).is_none()).collect();
    if last_insn.is_none() {
        // Without an instruction anchor keep only the final complaint.
        reason = reason.split_off(reason.len().saturating_sub(2));
    }
    let reason = if reason.is_empty() {
        lines
            .iter()
            .rev()
            .map(|l| l.trim())
            .find(|l| !l.is_empty() && !l.starts_with("processed "))
            .unwrap_or("")
            .to_string()
    } else {
        reason.join("\n")
    };
    let failed_insn = last_insn.map(|(_, n)| n).or_else(|| insn_in_message(&reason));
    (failed_insn, reason)
}

/// The first `insn N` mentioned in a message, e.g. `unreachable insn 5`.
fn insn_in_message(message: &str) -> Option<usize> {
    let mut rest = message;
    while let Some(pos) = rest.find("insn ") {
        rest = &rest[pos + 5..];
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if let Ok(n) = digits.parse() {
            return Some(n);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::testing::{prog_bad_deref, prog_return, skip_without_bpf, Asm};

    #[test]
    fn parses_typical_rejection() {
        let log = "0: R1=ctx() R10=fp0\n\
                   0: (b7) r1 = 0                        ; R1_w=0\n\
                   1: (79) r0 = *(u64 *)(r1 +0)\n\
                   R1 invalid mem access 'scalar'\n\
                   processed 2 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0\n";
        let (insn, reason) = parse_verifier_log(log);
        assert_eq!(insn, Some(1));
        assert_eq!(reason, "R1 invalid mem access 'scalar'");
    }

    #[test]
    fn parses_cfg_rejection_without_insn_lines() {
        let (insn, reason) = parse_verifier_log("unreachable insn 2\nprocessed 0 insns\n");
        assert_eq!(insn, Some(2));
        assert_eq!(reason, "unreachable insn 2");
        let (insn, reason) = parse_verifier_log("back-edge from insn 1 to 0\n");
        assert_eq!(insn, Some(1));
        assert_eq!(reason, "back-edge from insn 1 to 0");
    }

    #[test]
    fn loads_and_test_runs_raw_tracepoint() {
        if skip_without_bpf() {
            return;
        }
        let prog = load_program(ProgKind::RawTracepoint, "BEGIN", &prog_return(42)).expect("load");
        assert!(prog.fd() >= 0);
        assert_eq!(prog.name(), "BEGIN");
        assert_eq!(prog.kind(), ProgKind::RawTracepoint);
        assert_eq!(prog.insn_count(), 2);
        assert_eq!(prog.test_run().expect("test_run"), 42);
        assert_eq!(prog.test_run().expect("test_run again"), 42);
    }

    #[test]
    fn every_prog_kind_loads() {
        if skip_without_bpf() {
            return;
        }
        for kind in [ProgKind::Kprobe, ProgKind::Tracepoint, ProgKind::PerfEvent, ProgKind::RawTracepoint] {
            load_program(kind, "ok", &prog_return(0)).unwrap_or_else(|e| panic!("{kind}: {e}"));
        }
    }

    fn expect_verifier(result: Result<Prog, LoadError>) -> (i32, String, Option<usize>, String) {
        match result {
            Err(LoadError::Verifier { errno, log, failed_insn, reason }) => (errno, log, failed_insn, reason),
            Err(other) => panic!("expected a verifier error, got {other}"),
            Ok(_) => panic!("expected a verifier error, program loaded"),
        }
    }

    #[test]
    fn verifier_rejection_reports_insn_and_reason() {
        if skip_without_bpf() {
            return;
        }
        let (errno, log, insn, reason) =
            expect_verifier(load_program(ProgKind::RawTracepoint, "bad", &prog_bad_deref()));
        assert_eq!(errno, libc::EACCES, "log:\n{log}");
        assert!(!log.is_empty());
        assert_eq!(insn, Some(1), "log:\n{log}");
        assert!(reason.contains("R1 invalid mem access"), "reason {reason:?}, log:\n{log}");
        let message =
            load_program(ProgKind::RawTracepoint, "bad", &prog_bad_deref()).expect_err("rejected").to_string();
        assert!(message.contains("at instruction 1"), "{message}");
    }

    #[test]
    fn small_log_buffer_grows() {
        if skip_without_bpf() {
            return;
        }
        // A long straight run before the fault makes the log exceed 1 KiB.
        let mut asm = Asm::new();
        for i in 0..200 {
            asm.mov64_imm(2, i);
        }
        asm.mov64_imm(1, 0).ldx_dw(0, 1, 0).exit();
        let (_, log, insn, reason) =
            expect_verifier(load_with_log_size(ProgKind::RawTracepoint, "big", &asm.bytes(), &[], 1024));
        assert!(log.len() > 1024, "log was not grown: {} bytes", log.len());
        assert!(log.starts_with("0: "), "log lost its head: {:?}", &log[..40.min(log.len())]);
        assert_eq!(insn, Some(201));
        assert!(reason.contains("invalid mem access"), "{reason}");
    }

    #[test]
    fn cfg_rejection_from_kernel() {
        if skip_without_bpf() {
            return;
        }
        // No exit: "last insn is not an exit or jmp".
        let insns = Asm::new().mov64_imm(0, 0).bytes();
        let (_, log, _, reason) = expect_verifier(load_program(ProgKind::RawTracepoint, "noexit", &insns));
        assert!(reason.contains("exit"), "reason {reason:?}, log:\n{log}");
    }

    #[test]
    fn malformed_input_is_an_error() {
        assert!(matches!(
            load_program(ProgKind::RawTracepoint, "x", &[0u8; 7]),
            Err(LoadError::Sys(SysError::Invalid(_)))
        ));
        assert!(matches!(load_program(ProgKind::RawTracepoint, "x", &[]), Err(LoadError::Sys(SysError::Invalid(_)))));
    }
}
