//! Front ends and semantic passes: source text ─► typed AST.
pub mod ast;
pub mod types;
pub mod elf;
pub mod libpath;
pub mod probes;
pub mod tracepoint;
