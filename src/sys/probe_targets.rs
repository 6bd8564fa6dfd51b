//! Functions the runtime's uprobe tests attach to in the test binary
//! itself. They need fixed (unmangled) symbol names, which Rust counts as
//! unsafe code, so they live in the OS module.

use std::hint::black_box;

#[no_mangle]
#[inline(never)]
pub extern "C" fn trace_runtime_test_uprobe_a(x: u64) -> u64 {
    black_box(x).wrapping_mul(3) + 1
}

/// Probed only by the detach test: while any other test's uprobe sits on
/// the same instruction, the breakpoint stays armed, and on this kernel
/// a consumer being unregistered (asynchronously) can still be reached
/// for a moment after its perf event is closed.
#[no_mangle]
#[inline(never)]
pub extern "C" fn trace_runtime_test_uprobe_detach(x: u64) -> u64 {
    black_box(x).wrapping_mul(7) + 3
}

#[no_mangle]
#[inline(never)]
pub extern "C" fn trace_runtime_test_uprobe_b(x: u64) -> u64 {
    black_box(x).wrapping_mul(5) + 2
}
