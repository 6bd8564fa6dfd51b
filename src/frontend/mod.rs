//! Front ends and semantic passes: source text ─► checked program.
//!
//! The bpftrace-language parser (`lexer`, `parser`, `token`, over
//! `grammar/trace.lalrpop`) and the argdist front end (`argdist`) both
//! produce the [`ast`]; [`probes`] resolves attach points, one file per
//! probe kind; [`passes`] resolves names against the [`builtins`] tables
//! and checks types, whose sources are DWARF ([`dwarf`], found through
//! [`elf`] and [`libpath`]), tracefs formats ([`tracefs`]) and USDT notes
//! ([`usdt`]); kernel functions come from [`kfuncs`]. [`printf`] is the format language `printf()` takes.
pub mod argdist;
pub mod ast;
pub mod btf;
pub mod builtins;
pub mod cdecl;
pub mod config;
pub mod dwarf;
pub mod elf;
pub mod kfuncs;
pub mod lexer;
pub mod libpath;
pub mod macros;
pub mod names;
pub mod parser;
pub mod passes;
pub mod printf;
pub mod probes;
pub mod token;
pub mod tracefs;
pub mod types;
pub mod usdt;
