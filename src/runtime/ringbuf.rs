//! Reading events that programs emit into a `BPF_MAP_TYPE_RINGBUF` map.
//!
//! A thin safe layer over libbpf's `ring_buffer`: the handler is called
//! with each record's bytes, in order, from inside [`RingBuf::poll`] or
//! [`RingBuf::consume`] on the calling thread. Returning non-zero from the
//! handler stops that call after the current record (the record counts as
//! consumed); the next call resumes with the following record. A panic in
//! the handler is carried across libbpf and re-raised by the call.

use std::cell::RefCell;
use std::os::fd::RawFd;
use std::rc::Rc;

use super::maps::Map;
use crate::sys::{MapKind, RawRingBuffer, SampleHandler, SysError};

pub struct RingBuf {
    raw: RawRingBuffer,
}

impl RingBuf {
    /// Sets up reading `map`, which must be a [`MapKind::RingBuf`]. The
    /// reader keeps its own reference to the map.
    pub fn new(map: &Map, handler: SampleHandler) -> Result<RingBuf, SysError> {
        if map.kind() != MapKind::RingBuf {
            return Err(SysError::Invalid(format!("map {:?} is a {} map, not a ringbuf", map.name(), map.kind())));
        }
        Ok(RingBuf { raw: RawRingBuffer::new(map.borrowed_fd(), handler)? })
    }

    /// Waits up to `timeout_ms` (-1: forever) for records and hands every
    /// available one to the handler; returns how many it handled. A signal
    /// interrupting the wait is not an error: it returns `Ok(0)`.
    pub fn poll(&mut self, timeout_ms: i32) -> Result<usize, SysError> {
        self.raw.poll(timeout_ms)
    }

    /// Hands every record already in the ring to the handler, without waiting.
    pub fn consume(&mut self) -> Result<usize, SysError> {
        self.raw.consume()
    }

    /// Whether the handler asked to stop during the last poll/consume.
    pub fn stopped(&self) -> bool {
        self.raw.stopped()
    }

    /// An epoll fd that becomes readable when records arrive, for callers
    /// that wait on several sources at once.
    pub fn epoll_fd(&self) -> RawFd {
        self.raw.epoll_fd()
    }
}

/// A ring buffer whose records are copied out and handed over in batches,
/// so they can be interpreted outside libbpf's callback (the sessions
/// print them with state the callback could not borrow).
///
/// Batches are bounded ([`BATCH`] records): under a flood of events the
/// kernel refills the ring as fast as it is read, and a session must get
/// back to its stop checks (Ctrl-C, SIGTERM, `exit()`) between batches.
pub struct EventQueue {
    ring: RingBuf,
    queue: Rc<RefCell<Vec<Vec<u8>>>>,
}

/// The most records one [`EventQueue::take`] hands over.
pub const BATCH: usize = 4096;

impl EventQueue {
    pub fn new(map: &Map) -> Result<EventQueue, SysError> {
        let queue: Rc<RefCell<Vec<Vec<u8>>>> = Rc::default();
        let sink = queue.clone();
        let ring = RingBuf::new(
            map,
            Box::new(move |data: &[u8]| {
                let mut queue = sink.borrow_mut();
                queue.push(data.to_vec());
                // Non-zero stops this poll or consume: the batch is full.
                i32::from(queue.len() >= BATCH)
            }),
        )?;
        Ok(EventQueue { ring, queue })
    }

    /// Waits up to `timeout_ms` for records (see [`RingBuf::poll`]); they
    /// are kept for [`EventQueue::take`].
    pub fn poll(&mut self, timeout_ms: i32) -> Result<(), SysError> {
        if self.queue.borrow().len() >= BATCH {
            return Ok(());
        }
        self.ring.poll(timeout_ms).map(drop)
    }

    /// The records that have arrived, oldest first: at most [`BATCH`];
    /// the rest stay in the ring for the next call.
    pub fn take(&mut self) -> Result<Vec<Vec<u8>>, SysError> {
        if self.queue.borrow().len() < BATCH {
            self.ring.consume()?;
        }
        Ok(std::mem::take(&mut *self.queue.borrow_mut()))
    }

    /// Whether records may be waiting in the ring after a full batch.
    pub fn more(&self) -> bool {
        self.ring.stopped()
    }

    pub fn epoll_fd(&self) -> RawFd {
        self.ring.epoll_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::load::load_program;
    use crate::runtime::testing::{prog_ringbuf_output, skip_without_bpf};
    use crate::sys::ProgKind;
    use std::cell::RefCell;
    use std::rc::Rc;

    #[test]
    fn delivers_records_in_order() {
        if skip_without_bpf() {
            return;
        }
        let map = Map::create("events", MapKind::RingBuf, 0, 0, 64 * 1024).expect("ringbuf map");
        let seen: Rc<RefCell<Vec<Vec<u8>>>> = Rc::default();
        let sink = Rc::clone(&seen);
        let mut rb = RingBuf::new(
            &map,
            Box::new(move |data| {
                sink.borrow_mut().push(data.to_vec());
                0
            }),
        )
        .expect("ring buffer");
        for value in [0x1122_3344_5566_7788u64, 42] {
            let prog =
                load_program(ProgKind::RawTracepoint, "emit", &prog_ringbuf_output(map.fd(), value)).expect("load");
            assert_eq!(prog.test_run().expect("run"), 0, "bpf_ringbuf_output failed");
        }
        assert_eq!(rb.poll(1000).expect("poll"), 2);
        assert_eq!(*seen.borrow(), vec![0x1122_3344_5566_7788u64.to_ne_bytes().to_vec(), 42u64.to_ne_bytes().to_vec()]);
        // Nothing left: consume returns at once.
        assert_eq!(rb.consume().expect("consume"), 0);
        assert_eq!(rb.poll(10).expect("poll timeout"), 0);
        assert!(rb.epoll_fd() >= 0);
    }

    #[test]
    fn handler_can_stop_and_resume() {
        if skip_without_bpf() {
            return;
        }
        let map = Map::create("stopper", MapKind::RingBuf, 0, 0, 64 * 1024).expect("ringbuf map");
        let prog = load_program(ProgKind::RawTracepoint, "emit", &prog_ringbuf_output(map.fd(), 7)).expect("load");
        for _ in 0..3 {
            assert_eq!(prog.test_run().expect("run"), 0);
        }
        let calls = Rc::new(RefCell::new(0));
        let counter = Rc::clone(&calls);
        let mut rb = RingBuf::new(
            &map,
            Box::new(move |_| {
                *counter.borrow_mut() += 1;
                // Stop after the first record.
                i32::from(*counter.borrow() == 1)
            }),
        )
        .expect("ring buffer");
        assert_eq!(rb.consume().expect("first"), 1);
        assert!(rb.stopped());
        assert_eq!(rb.consume().expect("rest"), 2);
        assert!(!rb.stopped());
        assert_eq!(*calls.borrow(), 3);
    }

    #[test]
    fn outlives_its_map_handle_and_rejects_other_maps() {
        if skip_without_bpf() {
            return;
        }
        let hash = Map::create("h", MapKind::Hash, 4, 4, 1).expect("hash");
        assert!(matches!(RingBuf::new(&hash, Box::new(|_| 0)), Err(SysError::Invalid(_))));
        let map = Map::create("owned", MapKind::RingBuf, 0, 0, 64 * 1024).expect("ringbuf map");
        let prog = load_program(ProgKind::RawTracepoint, "emit", &prog_ringbuf_output(map.fd(), 1)).expect("load");
        let mut rb = RingBuf::new(&map, Box::new(|_| 0)).expect("ring buffer");
        drop(map);
        assert_eq!(prog.test_run().expect("run"), 0);
        assert_eq!(rb.poll(1000).expect("poll"), 1);
    }
}
