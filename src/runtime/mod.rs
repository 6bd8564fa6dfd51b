//! Loading, attaching and running compiled programs; printing their results.
//!
//! Layering, bottom up (the OS interface below all of it is [`crate::sys`]):
//!
//! * [`maps`] — [`maps::Map`]: create, look up, update, iterate, clear.
//! * [`load`] — [`load::load_program`]; verifier rejections come back with
//!   the log, the failing instruction index and the reason.
//! * [`attach`] — uprobes, kprobes, tracepoints, interval/profile timers, each a
//!   [`attach::Link`] that detaches on drop.
//! * [`ringbuf`] — [`ringbuf::RingBuf`]: events from programs to a handler.
//! * [`session`] — one run: BEGIN, attach (by the probe kind's
//!   `AttachTarget`), events, periodic reports, teardown, END, the final
//!   output; [`live`] — the REPL's session, growing block by block.
//! * `printer` turns ring-buffer events into output; [`decode`] reads
//!   maps back ([`decode::MapReader`]); [`output`] is the one interface
//!   every format implements ([`output::Output`]); [`symbols`] names the
//!   addresses of captured stacks ([`symbols::Symbolizer`]). The `-c` child
//!   is in [`crate::sys`].
//!
//! Everything here releases its kernel objects on `Drop`, so a probe never
//! outlives the process that created it.

pub mod aggregate;
pub mod attach;
pub mod decode;
pub mod live;
pub mod load;
pub mod maps;
pub mod names;
pub mod output;
pub(crate) mod printer;
pub mod ringbuf;
pub mod session;
pub mod symbols;

#[cfg(test)]
pub(crate) mod testing;

pub use attach::{
    attach_interval, attach_kprobe, attach_profile, attach_tracepoint, attach_uprobe, attach_uprobe_with_ref_ctr,
    AttachError, Link,
};
pub use load::{load_program, load_program_with_funcs, LoadError, Prog};
pub use maps::Map;
pub use ringbuf::RingBuf;
