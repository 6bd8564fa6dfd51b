//! Call stacks as users see them: `ustack`/`kstack` values already
//! symbolized (see `runtime/symbols/`), and their text in bpftrace's three
//! modes, checked against bpftrace 0.17's output:
//!
//! ```text
//! bpftrace (default)        perf                                    raw
//!
//!         c+0               \t401146 c+0 (/tmp/stacks)               401146
//!         b+24              \t40117c b+24 (/tmp/stacks)              40117c
//!         0x7f4f2ee7c24a    \t7f4f2ee7c24a 0x7f4f2ee7c24a ([unknown])
//! ```
//!
//! Every frame is a line; the whole text starts with a newline, so that
//! `@[ustack]` prints as `@[` + frames + `]`. Map keys indent frames by 4
//! spaces, `print` and `printf("%s")` by 8; perf mode always uses a tab and
//! names the file a user frame is in (kernel frames name none). An empty
//! stack (`kstack` in a uprobe) prints as nothing at all, not a newline.
//! A frame without a symbol prints its address in hex.

use crate::frontend::types::StackMode;
use std::fmt::Write;
use std::rc::Rc;

/// What a stack the kernel could not record prints as.
const LOST: &str = "[lost stack]";

/// One return address and what it resolved to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub addr: u64,
    /// The function (or object) the address is in, demangled; `None` when
    /// no symbol covers it.
    pub symbol: Option<Rc<str>>,
    /// `addr` minus the symbol's start.
    pub offset: u64,
    /// The file a user address is in; `None` for kernel frames and
    /// addresses in no known mapping.
    pub module: Option<Rc<str>>,
}

impl Frame {
    /// An address nothing is known about.
    pub fn unknown(addr: u64) -> Frame {
        Frame { addr, symbol: None, offset: 0, module: None }
    }

    /// `name+offset`, or `0xADDR` when there is no symbol.
    pub fn with_offset(&self) -> String {
        match &self.symbol {
            Some(s) => format!("{s}+{}", self.offset),
            None => format!("{:#x}", self.addr),
        }
    }

    /// `name` alone (as `usym`/`ksym` print), or `0xADDR`.
    pub fn name(&self) -> String {
        match &self.symbol {
            Some(s) => s.to_string(),
            None => format!("{:#x}", self.addr),
        }
    }
}

/// A symbolized stack, innermost frame first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stack {
    pub mode: StackMode,
    /// User or kernel frames (perf mode names the file of user frames).
    pub user: bool,
    pub frames: Vec<Frame>,
    /// The kernel could not record it (see `runtime/names.rs`).
    pub lost: bool,
}

impl Stack {
    /// The text `print`/`printf` (indent 8) or a map key (indent 4) shows.
    pub fn text(&self, indent: usize) -> String {
        let pad = " ".repeat(indent);
        if self.lost {
            return format!("\n{pad}{LOST}\n");
        }
        if self.frames.is_empty() {
            return String::new();
        }
        let mut out = String::from("\n");
        for f in &self.frames {
            let _ = match self.mode {
                StackMode::Bpftrace => writeln!(out, "{pad}{}", f.with_offset()),
                StackMode::Perf if self.user => {
                    let module = f.module.as_deref().unwrap_or("[unknown]");
                    writeln!(out, "\t{:x} {} ({module})", f.addr, f.with_offset())
                }
                StackMode::Perf => writeln!(out, "\t{:x} {}", f.addr, f.with_offset()),
                StackMode::Raw => writeln!(out, "{:x}", f.addr),
            };
        }
        out
    }

    /// The frames outermost first, as folded stacks list them
    /// (`main;a;b`): names without offsets, `[unknown]` for an address
    /// without a symbol, so that samples in one function fold together.
    pub fn folded_frames(&self) -> Vec<String> {
        if self.lost {
            return vec![LOST.to_string()];
        }
        self.frames.iter().rev().map(|f| f.symbol.as_deref().unwrap_or("[unknown]").to_string()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(addr: u64, sym: Option<&str>, offset: u64, module: Option<&str>) -> Frame {
        Frame { addr, symbol: sym.map(Rc::from), offset, module: module.map(Rc::from) }
    }

    fn stack(mode: StackMode, user: bool) -> Stack {
        Stack {
            mode,
            user,
            frames: vec![
                frame(0x401146, Some("c"), 0, Some("/tmp/st/stacks-nopie")),
                frame(0x40117c, Some("b"), 24, Some("/tmp/st/stacks-nopie")),
                frame(0x7f4f2ee7c24a, None, 0, None),
            ],
            lost: false,
        }
    }

    #[test]
    fn bpftrace_mode_indents_by_context() {
        let s = stack(StackMode::Bpftrace, true);
        assert_eq!(s.text(8), "\n        c+0\n        b+24\n        0x7f4f2ee7c24a\n");
        assert_eq!(s.text(4), "\n    c+0\n    b+24\n    0x7f4f2ee7c24a\n");
    }

    #[test]
    fn perf_mode_names_files_of_user_frames_only() {
        // bpftrace 0.17: `\t401146 c+0 (/tmp/st/stacks-nopie)`,
        // `\t556dbfee0159 0x556dbfee0159 ([unknown])`, and for kernel
        // frames `\tffffffff814c2e8b perf_syscall_enter+475`.
        let s = stack(StackMode::Perf, true);
        assert_eq!(
            s.text(4),
            "\n\t401146 c+0 (/tmp/st/stacks-nopie)\n\t40117c b+24 (/tmp/st/stacks-nopie)\n\t7f4f2ee7c24a \
             0x7f4f2ee7c24a ([unknown])\n"
        );
        let k = Stack {
            mode: StackMode::Perf,
            user: false,
            frames: vec![frame(0xffffffff814c2e8b, Some("perf_syscall_enter"), 475, None)],
            lost: false,
        };
        assert_eq!(k.text(8), "\n\tffffffff814c2e8b perf_syscall_enter+475\n");
    }

    #[test]
    fn raw_mode_is_bare_hex_and_empty_is_nothing() {
        assert_eq!(stack(StackMode::Raw, true).text(8), "\n401146\n40117c\n7f4f2ee7c24a\n");
        let mut empty = Stack { mode: StackMode::Bpftrace, user: false, frames: vec![], lost: false };
        assert_eq!(empty.text(4), "");
        empty.lost = true;
        assert_eq!(empty.text(4), "\n    [lost stack]\n");
        assert_eq!(empty.folded_frames(), ["[lost stack]"]);
    }

    #[test]
    fn folded_frames_are_outermost_first_without_offsets() {
        let got = stack(StackMode::Bpftrace, true).folded_frames();
        assert_eq!(got, ["[unknown]", "b", "c"]);
    }
}
