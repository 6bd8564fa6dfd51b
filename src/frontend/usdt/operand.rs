//! USDT argument strings: `-4@%eax 8@-20(%rbp) 8@foo+8(%rip) 1@$0` ─►
//! where each argument's value is at a probe hit.
//!
//! sys/sdt.h lets the compiler pick each operand's location (its default
//! constraint is `nor`: memory, an immediate or a register) and records the
//! operand as the assembler would print it, prefixed with `SIZE@`: the
//! size in bytes, negative for a signed type, with an `f` suffix for
//! floating point (`8f@%xmm0`). An argument is decoded in two steps:
//! [`parse_operand`] reads the AT&T syntax (registers, `$` immediates,
//! `disp(base,index,scale)` memory with an optional symbol in the
//! displacement), and [`decode_args`] turns that into an [`ArgLoc`], given
//! the probe's address and the file's symbol table.
//!
//! Registers are named in any width (`%rax`, `%eax`, `%ax`, `%al`, `%ah`,
//! `%r8d`, `%r8w`, `%r8b`, ...): the location is the 64-bit register's slot
//! in `struct pt_regs` plus the width and bit offset of the sub-register,
//! and the *declared size* governs the value (sys/sdt.h's own comment: the
//! named register may be a longer or shorter alias of where the value is).
//!
//! Addresses written as link-time addresses (a symbol, `N(%rip)`, an
//! absolute address) are *relocated*: at run time they are moved by the
//! load bias of the object, which the probe computes as
//! `pt_regs->ip - probe address` (at a uprobe hit `ip` is the probed
//! instruction, the kernel rewinds it past the breakpoint before running
//! the handlers). `N(%rip)` means `ip + N` at the probe, as bcc and gdb
//! read it: there is no instruction after a probe's nop that `%rip` could
//! be relative to.
//!
//! An operand this module cannot read is kept as [`ArgLoc::Unsupported`]
//! with the reason, so the probe still attaches and only a program using
//! that argument is rejected.

use crate::arch;

/// A general-purpose register as named in an operand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reg {
    /// Offset of the 64-bit register in x86-64 `struct pt_regs`.
    pub pt_regs_offset: u16,
    /// Width of the named (sub-)register in bytes: 8, 4, 2 or 1.
    pub width: u8,
    /// Bit offset of the sub-register in the 64-bit one: 8 for `%ah`..`%dh`.
    pub shift: u8,
}

/// The legacy registers: 64, 32, 16, low 8 and high 8 bit names.
const LEGACY: [(&str, &str, &str, &str, &str); 8] = [
    ("rax", "eax", "ax", "al", "ah"),
    ("rbx", "ebx", "bx", "bl", "bh"),
    ("rcx", "ecx", "cx", "cl", "ch"),
    ("rdx", "edx", "dx", "dl", "dh"),
    ("rsi", "esi", "si", "sil", ""),
    ("rdi", "edi", "di", "dil", ""),
    ("rbp", "ebp", "bp", "bpl", ""),
    ("rsp", "esp", "sp", "spl", ""),
];

impl Reg {
    /// The register called `name` (without the `%`).
    pub fn named(name: &str) -> Option<Reg> {
        let reg = |pt_regs_offset, width, shift| Some(Reg { pt_regs_offset, width, shift });
        if name == "rip" {
            return reg(arch::IP_OFFSET, 8, 0);
        }
        for (q, d, w, b, h) in LEGACY {
            let off = arch::pt_regs_offset(q)?;
            match name {
                _ if name == q => return reg(off, 8, 0),
                _ if name == d => return reg(off, 4, 0),
                _ if name == w => return reg(off, 2, 0),
                _ if name == b => return reg(off, 1, 0),
                _ if !h.is_empty() && name == h => return reg(off, 1, 8),
                _ => {}
            }
        }
        let rest = name.strip_prefix('r')?;
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let n: u8 = rest[..digits].parse().ok()?;
        if !(8..=15).contains(&n) {
            return None;
        }
        let off = arch::pt_regs_offset(&format!("r{n}"))?;
        match &rest[digits..] {
            "" => reg(off, 8, 0),
            "d" => reg(off, 4, 0),
            "w" => reg(off, 2, 0),
            // Intel's manuals say `r8b`, some tools print `r8l`.
            "b" | "l" => reg(off, 1, 0),
            _ => None,
        }
    }

    pub fn is_ip(&self) -> bool {
        self.pt_regs_offset == arch::IP_OFFSET
    }
}

/// An operand as written, before symbols and the probe address are known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Operand {
    Reg(Reg),
    /// `$N`
    Imm(i64),
    /// `disp(base,index,scale)`; `disp` may name a symbol (`foo+8`).
    Mem {
        disp: i64,
        symbol: Option<String>,
        base: Option<Reg>,
        index: Option<(Reg, u8)>,
    },
}

/// Where an argument's value is at a probe hit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ArgLoc {
    /// In a register (possibly a sub-register).
    Reg(Reg),
    /// A constant.
    Const(i64),
    /// In memory at `base + index * scale + disp`, plus the load bias when
    /// `relocated` (`disp` is then a link-time address).
    Mem { base: Option<Reg>, index: Option<(Reg, u8)>, disp: i64, relocated: bool },
    /// Not readable by trace; the reason.
    Unsupported(String),
}

/// One decoded argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsdtArg {
    /// The operand as written, e.g. `-4@-20(%rbp)`.
    pub text: String,
    /// Size in bytes (1, 2, 4 or 8).
    pub size: u8,
    pub signed: bool,
    pub loc: ArgLoc,
}

impl UsdtArg {
    /// The type name bpftrace users know: `int32`, `uint64`, ...
    pub fn type_name(&self) -> String {
        format!("{}int{}", if self.signed { "" } else { "u" }, 8 * self.size as u32)
    }
}

/// `SIZE@OPERAND`: size in bytes, signedness, float, and the operand text.
/// A missing `SIZE@` (notes of old sys/sdt.h versions) is an unsigned long.
pub fn split_size(arg: &str) -> Result<(u8, bool, bool, &str), String> {
    let Some((size, operand)) = arg.split_once('@') else { return Ok((8, false, false, arg)) };
    // `@` also appears in symbol versions (`foo@GOTPCREL`); only a number
    // before the first `@` is a size.
    let (signed, digits) = match size.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, size),
    };
    let (digits, float) = match digits.strip_suffix('f') {
        Some(d) => (d, true),
        None => (digits, false),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Ok((8, false, false, arg));
    }
    match digits.parse::<u8>() {
        Ok(n @ (1 | 2 | 4 | 8)) => Ok((n, signed, float, operand)),
        _ => Err(format!("unsupported argument size {size} (sizes are 1, 2, 4 or 8 bytes)")),
    }
}

/// Read one AT&T operand.
pub fn parse_operand(text: &str) -> Result<Operand, String> {
    let bad = |why: &str| Err(format!("cannot read operand `{text}`: {why}"));
    if let Some(imm) = text.strip_prefix('$') {
        return match parse_int(imm) {
            Some(v) => Ok(Operand::Imm(v)),
            None => bad("the immediate is not a number (a symbol's address is not supported)"),
        };
    }
    if let Some(name) = text.strip_prefix('%') {
        if name.contains(':') {
            return bad("segment-relative addresses (thread-local data) are not supported");
        }
        return match Reg::named(name) {
            Some(r) => Ok(Operand::Reg(r)),
            None if name.starts_with("xmm") || name.starts_with("st") => {
                bad("floating-point registers are not readable")
            }
            None => bad("unknown register"),
        };
    }
    let (disp_text, regs) = match text.find('(') {
        Some(open) => {
            let Some(inner) = text[open + 1..].strip_suffix(')') else { return bad("unbalanced parentheses") };
            (&text[..open], Some(inner))
        }
        None => (text, None),
    };
    let (disp, symbol) =
        parse_disp(disp_text).ok_or_else(|| format!("cannot read operand `{text}`: bad displacement `{disp_text}`"))?;
    let (mut base, mut index) = (None, None);
    if let Some(inner) = regs {
        let parts: Vec<&str> = inner.split(',').map(str::trim).collect();
        let reg = |s: &str| -> Result<Option<Reg>, String> {
            if s.is_empty() {
                return Ok(None);
            }
            let name =
                s.strip_prefix('%').ok_or_else(|| format!("cannot read operand `{text}`: `{s}` is not a register"))?;
            Reg::named(name).map(Some).ok_or_else(|| format!("cannot read operand `{text}`: unknown register `{s}`"))
        };
        match parts[..] {
            [b] => base = reg(b)?,
            [b, i] => {
                base = reg(b)?;
                index = reg(i)?.map(|r| (r, 1));
            }
            [b, i, s] => {
                base = reg(b)?;
                let scale = match s {
                    "1" => 1,
                    "2" => 2,
                    "4" => 4,
                    "8" => 8,
                    _ => return bad("the scale must be 1, 2, 4 or 8"),
                };
                index = reg(i)?.map(|r| (r, scale));
            }
            _ => return bad("too many parts in the memory reference"),
        }
        if base.is_none() && index.is_none() {
            return bad("empty memory reference");
        }
        if index.is_some_and(|(r, _)| r.is_ip()) || (base.is_some_and(|r| r.is_ip()) && index.is_some()) {
            return bad("%rip cannot be an index");
        }
    } else if symbol.is_none() && disp_text.is_empty() {
        return bad("empty operand");
    }
    Ok(Operand::Mem { disp, symbol, base, index })
}

/// A displacement: numbers and at most one symbol joined by `+`/`-`
/// (`-8`, `0x10`, `foo`, `foo+24`, `24+foo`, `foo-8`).
fn parse_disp(s: &str) -> Option<(i64, Option<String>)> {
    let s = s.trim();
    if s.is_empty() {
        return Some((0, None));
    }
    let mut total: i64 = 0;
    let mut symbol = None;
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut first = true;
    while i < bytes.len() {
        let mut negative = false;
        if bytes[i] == b'+' || bytes[i] == b'-' {
            negative = bytes[i] == b'-';
            i += 1;
        } else if !first {
            return None;
        }
        first = false;
        let start = i;
        while i < bytes.len() && bytes[i] != b'+' && bytes[i] != b'-' {
            i += 1;
        }
        let term = &s[start..i];
        if term.is_empty() {
            return None;
        }
        if term.as_bytes()[0].is_ascii_digit() {
            let v = parse_int(term)?;
            total = if negative { total.checked_sub(v)? } else { total.checked_add(v)? };
        } else if is_symbol(term) && !negative && symbol.is_none() {
            symbol = Some(term.to_string());
        } else {
            return None;
        }
    }
    Some((total, symbol))
}

fn is_symbol(s: &str) -> bool {
    let mut b = s.bytes();
    b.next().is_some_and(|c| c.is_ascii_alphabetic() || c == b'_' || c == b'.')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.' || c == b'$')
}

/// Decimal or `0x` hex, optionally negative; `0x` values above `i64::MAX`
/// wrap (they are 64-bit patterns, e.g. addresses).
fn parse_int(s: &str) -> Option<i64> {
    let (negative, digits) = match s.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, s),
    };
    let v: u64 = match digits.strip_prefix("0x").or_else(|| digits.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16).ok()?,
        None if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => digits.parse().ok()?,
        None => return None,
    };
    let v = v as i64;
    Some(if negative { v.wrapping_neg() } else { v })
}

/// Truncate `v` to `size` bytes and extend it back by the signedness: what
/// a value of that C type is as a 64-bit integer.
pub fn fit(v: i64, size: u8, signed: bool) -> i64 {
    if size >= 8 {
        return v;
    }
    let sh = 64 - 8 * size as u32;
    if signed {
        (v << sh) >> sh
    } else {
        ((v as u64) << sh >> sh) as i64
    }
}

/// Decode a note's argument string for a probe at link-time address
/// `probe_vaddr`; `symbol` gives a symbol's link-time address.
pub fn decode_args(text: &str, probe_vaddr: u64, symbol: &dyn Fn(&str) -> Option<u64>) -> Vec<UsdtArg> {
    text.split_whitespace().map(|arg| decode_arg(arg, probe_vaddr, symbol)).collect()
}

fn decode_arg(arg: &str, probe_vaddr: u64, symbol: &dyn Fn(&str) -> Option<u64>) -> UsdtArg {
    let mk = |size, signed, loc| UsdtArg { text: arg.to_string(), size, signed, loc };
    let (size, signed, float, operand) = match split_size(arg) {
        Ok(s) => s,
        Err(why) => return mk(8, false, ArgLoc::Unsupported(why)),
    };
    if float {
        return mk(size, signed, ArgLoc::Unsupported("floating-point arguments are not supported".into()));
    }
    let loc = match parse_operand(operand) {
        Err(why) => ArgLoc::Unsupported(why),
        Ok(Operand::Reg(r)) => ArgLoc::Reg(r),
        Ok(Operand::Imm(v)) => ArgLoc::Const(fit(v, size, signed)),
        Ok(Operand::Mem { disp, symbol: sym, base, index }) => {
            let sym_addr = match &sym {
                Some(name) => match symbol(name) {
                    Some(a) => Some(a),
                    None => {
                        let why = format!("symbol `{name}` is not in the file's symbol tables");
                        return mk(size, signed, ArgLoc::Unsupported(why));
                    }
                },
                None => None,
            };
            let rip = base.is_some_and(|b| b.is_ip());
            // A symbol or an address without a base register is a link-time
            // address; `N(%rip)` is relative to the probe itself.
            let relocated = sym_addr.is_some() || rip || base.is_none();
            let mut disp = disp.wrapping_add(sym_addr.unwrap_or(0) as i64);
            if rip && sym_addr.is_none() {
                disp = disp.wrapping_add(probe_vaddr as i64);
            }
            ArgLoc::Mem { base: base.filter(|b| !b.is_ip()), index, disp, relocated }
        }
    };
    mk(size, signed, loc)
}
