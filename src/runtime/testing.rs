//! Test helpers for the runtime: a few hand-encoded BPF instructions and the
//! tiny programs the tests load, plus the skip decision for machines
//! without BPF.
//!
//! The runtime must be testable on its own, before and independently of the
//! code generator, so the handful of encodings needed here are written out
//! by hand (`struct bpf_insn`: opcode byte, dst/src nibbles, s16 offset,
//! s32 immediate, little-endian on the machines we run on).

use std::time::{Duration, Instant};

use crate::sys;

/// Returns true (and says why) when this machine cannot run BPF tests.
/// In CI (`CI=true`) the kernel is required, so a skip is a failure.
pub(crate) fn skip_without_bpf() -> bool {
    let available = sys::bpf_available().map_err(|e| e.to_string());
    crate::testing::skip_unless(available, "BPF (needs root and a BPF-enabled kernel)")
}

/// Polls `cond` until it holds or `timeout` passes; events from perf and
/// uprobes are synchronous, but timers and ring buffers need a moment.
pub(crate) fn wait_for(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if cond() {
            return true;
        }
        if start.elapsed() > timeout {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Helper ids from the kernel's `enum bpf_func_id`.
pub(crate) const HELPER_MAP_LOOKUP_ELEM: i32 = 1;
pub(crate) const HELPER_GET_CURRENT_PID_TGID: i32 = 14;
pub(crate) const HELPER_RINGBUF_OUTPUT: i32 = 130;

/// A growing instruction buffer in kernel byte layout.
#[derive(Default)]
pub(crate) struct Asm {
    bytes: Vec<u8>,
}

impl Asm {
    pub fn new() -> Asm {
        Asm::default()
    }

    fn raw(&mut self, code: u8, dst: u8, src: u8, off: i16, imm: i32) -> &mut Asm {
        self.bytes.push(code);
        self.bytes.push((src << 4) | (dst & 0x0f));
        self.bytes.extend_from_slice(&off.to_le_bytes());
        self.bytes.extend_from_slice(&imm.to_le_bytes());
        self
    }

    /// Index of the next instruction (in 8-byte slots).
    pub fn len(&self) -> usize {
        self.bytes.len() / 8
    }

    pub fn mov64_imm(&mut self, dst: u8, imm: i32) -> &mut Asm {
        self.raw(0xb7, dst, 0, 0, imm)
    }

    pub fn mov64_reg(&mut self, dst: u8, src: u8) -> &mut Asm {
        self.raw(0xbf, dst, src, 0, 0)
    }

    pub fn add64_imm(&mut self, dst: u8, imm: i32) -> &mut Asm {
        self.raw(0x07, dst, 0, 0, imm)
    }

    /// `*(u32 *)(dst + off) = imm`
    pub fn st_w(&mut self, dst: u8, off: i16, imm: i32) -> &mut Asm {
        self.raw(0x62, dst, 0, off, imm)
    }

    /// `*(u64 *)(dst + off) = src`
    pub fn stx_dw(&mut self, dst: u8, off: i16, src: u8) -> &mut Asm {
        self.raw(0x7b, dst, src, off, 0)
    }

    /// `dst = *(u64 *)(src + off)`
    pub fn ldx_dw(&mut self, dst: u8, src: u8, off: i16) -> &mut Asm {
        self.raw(0x79, dst, src, off, 0)
    }

    /// `lock *(u64 *)(dst + off) += src`
    pub fn atomic_add64(&mut self, dst: u8, off: i16, src: u8) -> &mut Asm {
        self.raw(0xdb, dst, src, off, 0)
    }

    /// Two-slot `dst = imm64`.
    pub fn ld_imm64(&mut self, dst: u8, imm: u64) -> &mut Asm {
        self.raw(0x18, dst, 0, 0, imm as u32 as i32);
        self.raw(0, 0, 0, 0, (imm >> 32) as u32 as i32)
    }

    /// Two-slot `dst = map_by_fd(fd)` (src = BPF_PSEUDO_MAP_FD).
    pub fn ld_map_fd(&mut self, dst: u8, fd: i32) -> &mut Asm {
        self.raw(0x18, dst, 1, 0, fd);
        self.raw(0, 0, 0, 0, 0)
    }

    pub fn call(&mut self, helper: i32) -> &mut Asm {
        self.raw(0x85, 0, 0, 0, helper)
    }

    /// `if dst == imm goto +off`
    pub fn jeq_imm(&mut self, dst: u8, imm: i32, off: i16) -> &mut Asm {
        self.raw(0x15, dst, 0, off, imm)
    }

    /// `if w(dst) != imm goto +off` (32-bit compare)
    pub fn jne32_imm(&mut self, dst: u8, imm: i32, off: i16) -> &mut Asm {
        self.raw(0x56, dst, 0, off, imm)
    }

    pub fn exit(&mut self) -> &mut Asm {
        self.raw(0x95, 0, 0, 0, 0)
    }

    pub fn bytes(&self) -> Vec<u8> {
        self.bytes.clone()
    }
}

/// `r0 = value; exit`
pub(crate) fn prog_return(value: i32) -> Vec<u8> {
    Asm::new().mov64_imm(0, value).exit().bytes()
}

/// Adds 1 to the u64 at index 0 of the array map `map_fd`; with
/// `only_tid`, only when the current thread is that thread (so parallel
/// tests and other processes cannot disturb the count).
pub(crate) fn prog_count(map_fd: i32, only_tid: Option<u32>) -> Vec<u8> {
    let mut a = Asm::new();
    // Body from the key store to the increment is 9 slots; "out" follows it.
    const BODY: i16 = 9;
    if let Some(tid) = only_tid {
        a.call(HELPER_GET_CURRENT_PID_TGID);
        a.jne32_imm(0, tid as i32, BODY);
    }
    let body_start = a.len();
    a.st_w(10, -4, 0)
        .mov64_reg(2, 10)
        .add64_imm(2, -4)
        .ld_map_fd(1, map_fd)
        .call(HELPER_MAP_LOOKUP_ELEM)
        .jeq_imm(0, 0, 2)
        .mov64_imm(1, 1)
        .atomic_add64(0, 0, 1);
    debug_assert_eq!(a.len() - body_start, BODY as usize);
    a.mov64_imm(0, 0).exit();
    a.bytes()
}

/// Writes the 8 bytes of `value` to the ring buffer `map_fd` and returns
/// the helper's result (0 on success).
pub(crate) fn prog_ringbuf_output(map_fd: i32, value: u64) -> Vec<u8> {
    Asm::new()
        .ld_imm64(1, value)
        .stx_dw(10, -8, 1)
        .ld_map_fd(1, map_fd)
        .mov64_reg(2, 10)
        .add64_imm(2, -8)
        .mov64_imm(3, 8)
        .mov64_imm(4, 0)
        .call(HELPER_RINGBUF_OUTPUT)
        .exit()
        .bytes()
}

/// Dereferences a scalar: `r1 = 0; r0 = *(u64 *)(r1 + 0); exit` — the
/// verifier rejects instruction 1.
pub(crate) fn prog_bad_deref() -> Vec<u8> {
    Asm::new().mov64_imm(1, 0).ldx_dw(0, 1, 0).exit().bytes()
}

/// Reads the u64 at index 0 of an array map.
pub(crate) fn read_count(map: &super::maps::Map) -> u64 {
    map.lookup(&0u32.to_ne_bytes())
        .ok()
        .flatten()
        .and_then(|v| v.get(..8).and_then(|b| b.try_into().ok()))
        .map(u64::from_ne_bytes)
        .unwrap_or(0)
}
