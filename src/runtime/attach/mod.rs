//! Attaching loaded programs to events: uprobes, kprobes, tracepoints, perf
//! events, tracing programs (fentry/fexit, BTF raw tracepoints).
//!
//! Every attachment is a perf event (`perf_event_open`) with the program
//! bound to it, preferably through a BPF link (`BPF_LINK_CREATE`, kernel
//! 5.15+) and otherwise through `PERF_EVENT_IOC_SET_BPF`. A [`Link`] owns
//! those fds: dropping it disables the events and closes them, which
//! detaches the program, so no probe can outlive the process that made it.
//!
//! Perf events are created disabled and enabled only once the program is
//! bound, so an event can never fire without its program.

use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::path::PathBuf;

use super::load::Prog;
use crate::sys::{self, PerfEventSpec, ProgKind, SysError};

mod kprobe;
mod perf;
mod tracepoint;
mod tracing;
mod uprobe;

pub use kprobe::{attach_kprobe, attach_kprobe_multi};
pub use perf::{attach_interval, attach_profile};
pub use tracepoint::{attach_tracepoint, tracepoint_id};
pub use tracing::attach_tracing;
pub use uprobe::{attach_uprobe, attach_uprobe_with_ref_ctr};

#[derive(thiserror::Error, Debug)]
pub enum AttachError {
    #[error("cannot probe {}: {reason}", .path.display())]
    Binary { path: PathBuf, reason: String },
    #[error("cannot probe {}: file offset {offset:#x} is not inside an executable (text) segment", .path.display())]
    NotText { path: PathBuf, offset: u64 },
    #[error("uprobes are not available: {0}")]
    NoUprobes(String),
    #[error("kprobes are not available: {0}")]
    NoKprobes(String),
    #[error("no tracepoint {category}:{name} (no {}); list them with `trace -l 'tracepoint:*'`", .path.display())]
    NoSuchTracepoint { category: String, name: String, path: PathBuf },
    #[error("a {got} program cannot be attached to a {target}; it must be loaded as {expected}")]
    WrongProgKind { target: &'static str, expected: ProgKind, got: ProgKind },
    #[error("{0}")]
    Invalid(String),
    #[error("attaching {what} failed: {source}")]
    Sys {
        what: String,
        #[source]
        source: SysError,
    },
}

impl AttachError {
    fn sys(what: impl Into<String>) -> impl FnOnce(SysError) -> AttachError {
        let what = what.into();
        move |source| AttachError::Sys { what, source }
    }
}

const PMU_DIR: &str = "/sys/bus/event_source/devices";

fn pmu_file(pmu: &str, name: &str) -> Result<String, String> {
    let path = std::path::Path::new(PMU_DIR).join(pmu).join(name);
    std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// The perf event type number of a dynamic PMU (`uprobe`, `kprobe`).
fn pmu_type(pmu: &str) -> Result<u32, String> {
    let text = pmu_file(pmu, "type")?;
    text.trim().parse().map_err(|_| format!("unexpected {PMU_DIR}/{pmu}/type: {:?}", text.trim()))
}

/// The lowest `config` bit of a PMU format field, e.g. `retprobe` is
/// `config:0` and `ref_ctr_offset` is `config:32-63`.
fn pmu_format_bit(pmu: &str, field: &str) -> Result<u32, String> {
    let text = pmu_file(pmu, &format!("format/{field}"))?;
    parse_format_bit(&text).ok_or_else(|| format!("unexpected {PMU_DIR}/{pmu}/format/{field}: {:?}", text.trim()))
}

fn parse_format_bit(text: &str) -> Option<u32> {
    let bits = text.trim().strip_prefix("config:")?;
    let low = bits.split('-').next()?;
    low.parse().ok().filter(|b| *b < 64)
}

/// One perf event and the BPF link binding a program to it (if the kernel
/// has links), or a link without a perf event (kprobe-multi). Field order
/// matters: the link closes before the event.
#[derive(Debug)]
struct Attachment {
    link: Option<OwnedFd>,
    perf: Option<OwnedFd>,
}

impl Drop for Attachment {
    fn drop(&mut self) {
        // Stop the event first so nothing fires while the fds close; a
        // failure here changes nothing, as closing detaches anyway.
        if let Some(perf) = &self.perf {
            let _ = sys::perf_event_disable(perf.as_fd());
        }
    }
}

/// An attached probe (possibly one perf event per CPU). Dropping it
/// detaches the program.
#[derive(Debug)]
pub struct Link {
    parts: Vec<Attachment>,
    description: String,
}

impl Link {
    fn new(description: String) -> Link {
        Link { parts: Vec::new(), description }
    }

    /// A link of one perf event bound to `prog` (everything but `profile`,
    /// which opens one per CPU).
    fn single(prog: &Prog, spec: &PerfEventSpec<'_>, description: String) -> Result<Link, AttachError> {
        let part = attach_perf_event(prog, spec, &description)?;
        Ok(Link { parts: vec![part], description })
    }

    /// What this link is attached to, e.g. `tracepoint syscalls:sys_enter_getpid`.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// A link of one BPF link without a perf event.
    fn bpf_link(link: OwnedFd, description: String) -> Link {
        Link { parts: vec![Attachment { link: Some(link), perf: None }], description }
    }

    /// The perf event fds (one per CPU for `profile`; none for a
    /// kprobe-multi link).
    pub fn perf_fds(&self) -> Vec<RawFd> {
        self.parts.iter().filter_map(|p| p.perf.as_ref().map(|f| f.as_raw_fd())).collect()
    }

    /// Every fd that keeps the probe attached: the perf events and the BPF
    /// links on them.
    pub fn fds(&self) -> Vec<RawFd> {
        let links = self.parts.iter().filter_map(|p| p.link.as_ref().map(|l| l.as_raw_fd()));
        self.perf_fds().into_iter().chain(links).collect()
    }

    /// Stop the probe firing without detaching it yet. Detaching a uprobe
    /// waits for the kernel (tens of milliseconds), so a session disables
    /// its probes, prints its results, and only then drops the links.
    /// A link without a perf event cannot be disabled; the session's stop
    /// word stops its program instead.
    pub fn disable(&self) {
        for p in self.parts.iter().filter_map(|p| p.perf.as_ref()) {
            let _ = sys::perf_event_disable(p.as_fd());
        }
    }

    /// Whether the program is bound through BPF links (vs. the older ioctl).
    pub fn uses_bpf_link(&self) -> bool {
        self.parts.iter().all(|p| p.link.is_some())
    }
}

/// Detach every link at the end of a session. The kernel takes tens of
/// milliseconds to detach each probe, one after another (720 syscall
/// tracepoints: half a minute), so beyond a few the links are handed to a
/// child process that finishes the detach while trace exits (see
/// `sys::close_in_background`). The session has stopped its probes by then
/// (the stop word in `program::STOP_MAP`), so none does anything meanwhile.
pub fn detach_all(links: Vec<Link>) {
    const IN_BACKGROUND_FROM: usize = 8;
    if links.len() >= IN_BACKGROUND_FROM {
        for l in &links {
            l.disable();
        }
        let fds: Vec<RawFd> = links.iter().flat_map(Link::fds).collect();
        // Our copies close at once: the child holds the last references.
        sys::close_in_background(&fds, || drop(links));
        return;
    }
    drop(links);
}

fn require_kind(prog: &Prog, expected: ProgKind, target: &'static str) -> Result<(), AttachError> {
    if prog.kind() == expected {
        Ok(())
    } else {
        Err(AttachError::WrongProgKind { target, expected, got: prog.kind() })
    }
}

/// Opens one perf event, binds `prog` to it and enables it.
fn attach_perf_event(prog: &Prog, spec: &PerfEventSpec<'_>, what: &str) -> Result<Attachment, AttachError> {
    // `what` goes into the AttachError; the SysError needs no context.
    let perf = sys::perf_event_open(spec, "").map_err(AttachError::sys(what))?;
    let link = match sys::link_create_perf(prog.borrowed_fd(), perf.as_fd()) {
        Ok(link) => Some(link),
        Err(link_err) => {
            // Kernels before 5.15 have no perf links; the ioctl binds the
            // program for the lifetime of the perf fd instead.
            if sys::perf_event_set_bpf(perf.as_fd(), prog.borrowed_fd()).is_err() {
                return Err(AttachError::Sys { what: what.to_string(), source: link_err });
            }
            None
        }
    };
    sys::perf_event_enable(perf.as_fd()).map_err(AttachError::sys(what))?;
    Ok(Attachment { link, perf: Some(perf) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pmu_format_fields() {
        assert_eq!(parse_format_bit("config:0\n"), Some(0));
        assert_eq!(parse_format_bit("config:32-63"), Some(32));
        assert_eq!(parse_format_bit("config1:0"), None);
        assert_eq!(parse_format_bit("config:64"), None);
    }

    #[test]
    fn uprobe_pmu_is_readable() {
        let ty = pmu_type("uprobe").expect("uprobe PMU type");
        assert!(ty > 5, "dynamic PMU types follow the fixed ones, got {ty}");
        assert_eq!(pmu_format_bit("uprobe", "retprobe"), Ok(0));
    }
}
