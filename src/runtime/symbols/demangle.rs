//! Symbol names as bpftrace and perf show them: C++ (`_Z...`, Itanium ABI)
//! demangled with parameters (`ns::f(int)`, as `c++filt` prints), Rust
//! (legacy `_ZN...17h<hash>E` and v0 `_R...`) without the hash
//! (`core::ptr::drop_in_place`). Anything else is shown as written.
//!
//! Names come from untrusted files: both demanglers limit their recursion,
//! the input is capped at [`MAX_MANGLED`], and the C++ output at
//! [`MAX_DEMANGLED`] (a few bytes of substitutions can expand
//! exponentially); past a cap the name is shown mangled.

use std::fmt;

/// Longer mangled names are not demangled (the longest real ones, deep
/// template instantiations, are a few KiB).
const MAX_MANGLED: usize = 16 * 1024;

/// A demangled C++ name longer than this is abandoned.
const MAX_DEMANGLED: usize = 64 * 1024;

/// `name` demangled, or `None` when it is not a mangled name (or could not
/// be demangled within the limits).
pub(super) fn demangle(name: &str) -> Option<String> {
    if name.len() > MAX_MANGLED || !name.starts_with('_') {
        return None;
    }
    // Rust's legacy scheme is a subset of C++'s spelling (`_ZN...E`); a
    // name rustc-demangle accepts is shown its way (no hash), and for the
    // C++ names it also accepts (`_ZN3foo3barE`, a variable) the two agree.
    if name.starts_with("_R") || name.starts_with("_ZN") {
        if let Ok(d) = rustc_demangle::try_demangle(name) {
            return Some(format!("{d:#}"));
        }
    }
    if name.starts_with("_Z") {
        let symbol = cpp_demangle::BorrowedSymbol::new(name.as_bytes()).ok()?;
        let mut out = Capped(String::new());
        symbol.structured_demangle(&mut out, &cpp_demangle::DemangleOptions::default()).ok()?;
        return Some(out.0);
    }
    None
}

/// A string that refuses to grow past [`MAX_DEMANGLED`].
struct Capped(String);

impl fmt::Write for Capped {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.0.len() + s.len() > MAX_DEMANGLED {
            return Err(fmt::Error);
        }
        self.0.push_str(s);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::demangle;

    #[test]
    fn cpp_with_parameters_like_cxxfilt() {
        assert_eq!(demangle("_ZN5space3fooEibc").as_deref(), Some("space::foo(int, bool, char)"));
        assert_eq!(
            demangle("_ZNSt6thread11_State_implINS_8_InvokerISt5tupleIJPFvvEEEEEE6_M_runEv").as_deref(),
            Some("std::thread::_State_impl<std::thread::_Invoker<std::tuple<void (*)()> > >::_M_run()")
        );
        assert_eq!(demangle("_ZL6helperv").as_deref(), Some("helper()"), "a static function");
        assert_eq!(demangle("_Z3fooi.cold").as_deref(), Some("foo(int) [clone .cold]"));
        assert_eq!(demangle("_ZN3foo3barE").as_deref(), Some("foo::bar"), "a variable");
    }

    #[test]
    fn rust_without_the_hash() {
        assert_eq!(
            demangle("_ZN4core3ptr13drop_in_place17h0123456789abcdefE").as_deref(),
            Some("core::ptr::drop_in_place")
        );
        assert_eq!(
            demangle("_ZN3std2rt10lang_start28_$u7b$$u7b$closure$u7d$$u7d$17h1b8f1d1b4b5e0a5aE.llvm.123").as_deref(),
            Some("std::rt::lang_start::{{closure}}")
        );
        assert_eq!(demangle("_RNvCsdtmpAgOdLgK_5hello4main").as_deref(), Some("hello::main"), "v0");
    }

    #[test]
    fn plain_and_malformed_names_stay_as_written() {
        for name in ["main", "__libc_start_call_main", "_start", "_Z", "_ZN3foo", "_RNv", "_Zzzzz"] {
            assert_eq!(demangle(name), None, "{name}");
        }
        // Substitutions that double at every level (`A<A, A>`, then
        // `A<A<A, A>, A<A, A>>`, ...): 40 levels would print 2^40 bytes.
        let levels = |n: usize| {
            let mut m = String::from("_Z1f1AIS_S_E");
            for i in 0..n {
                let prev = if i == 0 { "S0_".to_string() } else { format!("S{}_", i) };
                m += &format!("S_I{prev}{prev}E");
            }
            m
        };
        let small = demangle(&levels(3)).expect("a valid name");
        assert!(small.starts_with("f(A<A, A>, A<A<A, A>, A<A, A> >"), "{small}");
        assert!(demangle(&levels(10)).is_some_and(|d| d.len() > 1 << 12), "valid at 10 levels");
        assert_eq!(demangle(&levels(40)), None, "past the cap");
        assert_eq!(demangle(&format!("_ZN{}", "3foo".repeat(10_000))), None, "too long to try");
    }
}
