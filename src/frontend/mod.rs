//! Front ends and semantic passes: source text ─► typed AST.
pub mod ast;
pub mod types;
pub mod builtins;
pub mod passes;
