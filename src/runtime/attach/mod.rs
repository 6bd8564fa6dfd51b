//! Attaching loaded programs to events: uprobes, tracepoints, perf events.
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
use super::sys::{self, PerfEventSpec, ProgKind, SysError};

mod perf;
mod tracepoint;
mod uprobe;

pub use perf::{attach_interval, attach_profile};
pub use tracepoint::{attach_tracepoint, tracepoint_id};
pub use uprobe::{attach_uprobe, attach_uprobe_with_ref_ctr};

#[derive(thiserror::Error, Debug)]
pub enum AttachError {
    #[error("cannot probe {}: {reason}", .path.display())]
    Binary { path: PathBuf, reason: String },
    #[error("cannot probe {}: file offset {offset:#x} is not inside an executable (text) segment", .path.display())]
    NotText { path: PathBuf, offset: u64 },
    #[error("uprobes are not available: {0}")]
    NoUprobes(String),
    #[error("no tracepoint {category}:{name} (no {}); list them with `trace -l 'tracepoint:*'`", .path.display())]
    NoSuchTracepoint {
        category: String,
        name: String,
        path: PathBuf,
    },
    #[error("a {got} program cannot be attached to a {target}; it must be loaded as {expected}")]
    WrongProgKind {
        target: &'static str,
        expected: ProgKind,
        got: ProgKind,
    },
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

/// One perf event and the BPF link binding a program to it (if the kernel
/// has links). Field order matters: the link closes before the event.
#[derive(Debug)]
struct Attachment {
    link: Option<OwnedFd>,
    perf: OwnedFd,
}

impl Drop for Attachment {
    fn drop(&mut self) {
        // Stop the event first so nothing fires while the fds close; a
        // failure here changes nothing, as closing detaches anyway.
        let _ = sys::perf_event_disable(self.perf.as_fd());
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
        Link {
            parts: Vec::new(),
            description,
        }
    }

    /// What this link is attached to, e.g. `tracepoint syscalls:sys_enter_getpid`.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The perf event fds (one per CPU for `profile`).
    pub fn perf_fds(&self) -> Vec<RawFd> {
        self.parts.iter().map(|p| p.perf.as_raw_fd()).collect()
    }

    /// Whether the program is bound through BPF links (vs. the older ioctl).
    pub fn uses_bpf_link(&self) -> bool {
        self.parts.iter().all(|p| p.link.is_some())
    }
}

fn require_kind(prog: &Prog, expected: ProgKind, target: &'static str) -> Result<(), AttachError> {
    if prog.kind() == expected {
        Ok(())
    } else {
        Err(AttachError::WrongProgKind {
            target,
            expected,
            got: prog.kind(),
        })
    }
}

/// Opens one perf event, binds `prog` to it and enables it.
fn attach_perf_event(prog: &Prog, spec: &PerfEventSpec<'_>, what: &str) -> Result<Attachment, AttachError> {
    let perf = sys::perf_event_open(spec, what).map_err(AttachError::sys(what))?;
    let link = match sys::link_create_perf(prog.borrowed_fd(), perf.as_fd()) {
        Ok(link) => Some(link),
        Err(link_err) => {
            // Kernels before 5.15 have no perf links; the ioctl binds the
            // program for the lifetime of the perf fd instead.
            if sys::perf_event_set_bpf(perf.as_fd(), prog.borrowed_fd()).is_err() {
                return Err(AttachError::Sys {
                    what: what.to_string(),
                    source: link_err,
                });
            }
            None
        }
    };
    let attachment = Attachment { link, perf };
    sys::perf_event_enable(attachment.perf.as_fd()).map_err(AttachError::sys(what))?;
    Ok(attachment)
}
