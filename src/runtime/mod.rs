//! Loading, attaching and running compiled programs; printing their results.
pub mod output;
