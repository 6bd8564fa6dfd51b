//! Printing results the way users already know them: bpftrace's text map
//! and histogram formats, C `printf` as bpftrace supports it, and
//! `-f json` objects.
//!
//! Everything here is a pure function over plain values ([`MapDump`],
//! [`Scalar`]): the session reads maps from the kernel, reduces them, and
//! hands them over, so every format is unit-tested without a kernel against
//! strings taken from bpftrace 0.17's output.

pub mod argdist;
pub mod hist;
pub mod json;
pub mod printf;
pub mod text;
pub mod value;

pub use hist::{format_hist, format_lhist};
pub use json::{map_to_json, map_to_json_with, printf_to_json, value_to_json};
pub use printf::{format_time, render};
pub use text::{format_map, format_scalar};
pub use value::{AggValue, MapDump, Scalar};
