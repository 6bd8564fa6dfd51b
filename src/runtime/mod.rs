//! Loading, attaching and running compiled programs; printing their results.
pub mod child;
pub mod decode;
pub mod output;
pub mod session;
