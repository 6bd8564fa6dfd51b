//! The machine trace generates code for: x86-64. A uprobe's, kprobe's or
//! perf event's program gets a pointer to the interrupted context's saved
//! registers, `struct pt_regs`; this module is the one place that knows its
//! layout and which registers the System V calling convention passes
//! arguments and results in. The USDT operand decoder, the DWARF parameter
//! locator and code generation all ask here.

/// `struct pt_regs` on x86-64 (arch/x86/include/asm/ptrace.h): each
/// register's name and byte offset.
const PT_REGS: [(&str, u16); 21] = [
    ("r15", 0),
    ("r14", 8),
    ("r13", 16),
    ("r12", 24),
    ("rbp", 32),
    ("rbx", 40),
    ("r11", 48),
    ("r10", 56),
    ("r9", 64),
    ("r8", 72),
    ("rax", 80),
    ("rcx", 88),
    ("rdx", 96),
    ("rsi", 104),
    ("rdi", 112),
    ("orig_rax", 120),
    ("rip", 128),
    ("cs", 136),
    ("eflags", 144),
    ("rsp", 152),
    ("ss", 160),
];

/// The `pt_regs` offset of a 64-bit register (`rax`, `r8`, `rip`, ...).
pub fn pt_regs_offset(reg: &str) -> Option<u16> {
    PT_REGS.iter().find(|(name, _)| *name == reg).map(|r| r.1)
}

/// `reg(NAME)`'s names, as bpftrace spells them (the kernel's
/// `pt_regs` field names: `ip`, `sp`, `ax`, `r8`, ...); the assembler's
/// names (`rip`, `rax`) are accepted too.
pub fn user_reg_offset(name: &str) -> Option<u16> {
    let full = match name {
        "ip" | "sp" | "bp" | "ax" | "bx" | "cx" | "dx" | "si" | "di" => format!("r{name}"),
        "flags" => "eflags".to_string(),
        "orig_ax" => "orig_rax".to_string(),
        other => other.to_string(),
    };
    pt_regs_offset(&full)
}

/// The names [`user_reg_offset`] takes, bpftrace's spelling.
pub fn user_reg_names() -> impl Iterator<Item = &'static str> {
    const SHORT: [&str; 21] = [
        "r15", "r14", "r13", "r12", "bp", "bx", "r11", "r10", "r9", "r8", "ax", "cx", "dx", "si", "di", "orig_ax",
        "ip", "cs", "flags", "sp", "ss",
    ];
    SHORT.into_iter()
}

/// `pt_regs` offset of the instruction pointer: at a uprobe hit, the
/// address of the probed instruction.
pub const IP_OFFSET: u16 = 128;
/// `pt_regs` offset of the stack pointer.
pub const SP_OFFSET: u16 = 152;
/// `pt_regs` offset of the register an integer or pointer result is
/// returned in (`rax`).
pub const RETURN_OFFSET: u16 = 80;

/// The System V integer argument registers, in order.
pub const INT_ARG_REGS: [&str; 6] = ["rdi", "rsi", "rdx", "rcx", "r8", "r9"];

/// The `pt_regs` offset of the `i`th integer argument register.
pub fn int_arg_offset(i: usize) -> Option<u16> {
    INT_ARG_REGS.get(i).and_then(|r| pt_regs_offset(r))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_consecutive_words() {
        for (i, (_, off)) in PT_REGS.iter().enumerate() {
            assert_eq!(*off as usize, 8 * i);
        }
        assert_eq!(pt_regs_offset("rip"), Some(IP_OFFSET));
        assert_eq!(pt_regs_offset("rsp"), Some(SP_OFFSET));
        assert_eq!(pt_regs_offset("rax"), Some(RETURN_OFFSET));
        let args: Vec<u16> = (0..6).filter_map(int_arg_offset).collect();
        assert_eq!(args, [112, 104, 96, 88, 72, 64]);
        assert_eq!(int_arg_offset(6), None);
    }

    #[test]
    fn reg_names_are_bpftraces_and_the_assemblers() {
        for (i, name) in user_reg_names().enumerate() {
            assert_eq!(user_reg_offset(name), Some(8 * i as u16), "{name}");
        }
        assert_eq!(user_reg_offset("ip"), Some(IP_OFFSET));
        assert_eq!(user_reg_offset("rip"), Some(IP_OFFSET));
        assert_eq!(user_reg_offset("eip"), None);
    }
}
