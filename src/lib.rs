//! `trace`: a tracing language compiled straight to eBPF.
pub mod codegen;
pub mod diag;
pub mod frontend;
pub mod runtime;
pub mod source;
