//! Front ends and semantic passes: source text ─► typed AST.
pub mod argdist;
pub mod ast;
pub mod builtins;
pub mod dwarf;
pub mod elf;
pub mod lexer;
pub mod libpath;
pub mod names;
pub mod parser;
pub mod passes;
pub mod printf;
pub mod probes;
pub mod token;
pub mod tracefs;
pub mod types;
pub mod usdt;
