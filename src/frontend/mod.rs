//! Front ends and semantic passes: source text ─► typed AST.
pub mod ast;
pub mod lexer;
pub mod parser;
pub mod token;
pub mod types;
pub mod builtins;
pub mod passes;
