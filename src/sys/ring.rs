//! libbpf's `ring_buffer` behind a safe type with a Rust closure handler.
//!
//! Part of [`super`], the one FFI module. The handler lives in a leaked box
//! whose pointer libbpf passes back to [`ring_sample`]; the box is
//! reclaimed after `ring_buffer__free`, so it outlives every callback.

use std::any::Any;
use std::ffi::{c_int, c_void};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::ptr::NonNull;

use libbpf_sys as bpf;

use super::{last_errno, quiet_libbpf, Op, SysError};

/// Called with each record; 0 to go on, non-zero to stop this poll.
pub type SampleHandler = Box<dyn FnMut(&[u8]) -> i32>;

struct RingCtx {
    handler: SampleHandler,
    delivered: usize,
    stopped: bool,
    panic: Option<Box<dyn Any + Send>>,
}

/// libbpf stops consuming only on a negative callback result.
const STOP: c_int = -libc::ECANCELED;

unsafe extern "C" fn ring_sample(ctx: *mut c_void, data: *mut c_void, size: bpf::size_t) -> c_int {
    // SAFETY: ctx is the RingCtx pointer registered in RawRingBuffer::new,
    // alive until ring_buffer__free; libbpf calls us from poll/consume only,
    // while the RawRingBuffer is mutably borrowed, so this is the only alias.
    let ctx = unsafe { &mut *ctx.cast::<RingCtx>() };
    if ctx.panic.is_some() {
        return STOP;
    }
    let bytes: &[u8] = if size == 0 || data.is_null() {
        &[]
    } else {
        // SAFETY: libbpf hands us `size` readable bytes of the sample.
        unsafe { std::slice::from_raw_parts(data.cast::<u8>(), size as usize) }
    };
    // A panic must not unwind into C; it is re-raised after the poll returns.
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (ctx.handler)(bytes))) {
        Ok(rc) => {
            ctx.delivered += 1;
            if rc == 0 {
                0
            } else {
                ctx.stopped = true;
                STOP
            }
        }
        Err(payload) => {
            ctx.panic = Some(payload);
            STOP
        }
    }
}

/// A libbpf `struct ring_buffer` reading one ringbuf map.
pub(crate) struct RawRingBuffer {
    rb: NonNull<bpf::ring_buffer>,
    ctx: NonNull<RingCtx>,
    /// Our own reference to the map, so it outlives the mapping and epoll.
    _map: OwnedFd,
}

impl RawRingBuffer {
    pub fn new(map: BorrowedFd<'_>, handler: SampleHandler) -> Result<RawRingBuffer, SysError> {
        quiet_libbpf();
        let map = map
            .try_clone_to_owned()
            .map_err(|e| SysError::os(Op::Dup, "ringbuf map", e.raw_os_error().unwrap_or(libc::EIO)))?;
        let ctx = NonNull::from(Box::leak(Box::new(RingCtx { handler, delivered: 0, stopped: false, panic: None })));
        // SAFETY: ctx stays valid until Drop; the fd is a live map fd.
        let rb =
            unsafe { bpf::ring_buffer__new(map.as_raw_fd(), Some(ring_sample), ctx.as_ptr().cast(), std::ptr::null()) };
        match NonNull::new(rb) {
            Some(rb) => Ok(RawRingBuffer { rb, ctx, _map: map }),
            None => {
                let errno = last_errno();
                // SAFETY: libbpf did not keep ctx; reclaim the leaked box.
                drop(unsafe { Box::from_raw(ctx.as_ptr()) });
                Err(SysError::os(Op::RingBufNew, "", errno))
            }
        }
    }

    fn run(&mut self, call: impl FnOnce(*mut bpf::ring_buffer) -> c_int) -> Result<usize, SysError> {
        {
            // SAFETY: no callback is running; we hold &mut self.
            let ctx = unsafe { self.ctx.as_mut() };
            ctx.delivered = 0;
            ctx.stopped = false;
        }
        let rc = call(self.rb.as_ptr());
        // SAFETY: as above; the callbacks have returned.
        let ctx = unsafe { self.ctx.as_mut() };
        if let Some(payload) = ctx.panic.take() {
            std::panic::resume_unwind(payload);
        }
        if rc >= 0 || ctx.stopped || rc == -libc::EINTR {
            return Ok(ctx.delivered);
        }
        Err(SysError::os(Op::RingBufPoll, "", -rc))
    }

    pub fn poll(&mut self, timeout_ms: i32) -> Result<usize, SysError> {
        // SAFETY: rb is live until Drop.
        self.run(|rb| unsafe { bpf::ring_buffer__poll(rb, timeout_ms) })
    }

    pub fn consume(&mut self) -> Result<usize, SysError> {
        // SAFETY: rb is live until Drop.
        self.run(|rb| unsafe { bpf::ring_buffer__consume(rb) })
    }

    /// Whether the handler asked to stop during the last poll/consume.
    pub fn stopped(&self) -> bool {
        // SAFETY: no callback is running outside poll/consume.
        unsafe { self.ctx.as_ref() }.stopped
    }

    pub fn epoll_fd(&self) -> std::os::fd::RawFd {
        // SAFETY: rb is live until Drop.
        unsafe { bpf::ring_buffer__epoll_fd(self.rb.as_ptr()) }
    }
}

impl Drop for RawRingBuffer {
    fn drop(&mut self) {
        // SAFETY: rb came from ring_buffer__new and is freed exactly once;
        // after that nothing refers to ctx, which we then reclaim.
        unsafe {
            bpf::ring_buffer__free(self.rb.as_ptr());
            drop(Box::from_raw(self.ctx.as_ptr()));
        }
    }
}
