//! BPF maps as seen from user space: create, read, write, iterate, clear.
//!
//! A [`Map`] owns its fd (the kernel frees the map when the last fd and the
//! last program using it are gone). Keys and values are raw bytes in the
//! layout the compiler chose; this module only enforces their sizes.
//!
//! Per-CPU maps are read and written as one buffer holding a slot per
//! *possible* CPU, each slot padded to a multiple of 8 bytes — the layout
//! the kernel copies to and from user space. [`Map::percpu_slots`] splits
//! such a buffer for the output code.

use std::os::fd::{AsRawFd, BorrowedFd, RawFd};

use crate::codegen::program::STOP_MAP;
use crate::sys::{self, MapHandle, MapKind, SysError};

#[derive(Debug)]
pub struct Map {
    handle: MapHandle,
    kind: MapKind,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    name: String,
}

impl Map {
    /// Creates a map. `name` is shown by `bpftool map`; it is truncated to
    /// 15 characters and characters the kernel refuses become `_`.
    ///
    /// For [`MapKind::RingBuf`], `max_entries` is the ring size in bytes and
    /// `key_size`/`value_size` are ignored (the kernel requires 0).
    pub fn create(
        name: &str,
        kind: MapKind,
        key_size: u32,
        value_size: u32,
        max_entries: u32,
    ) -> Result<Map, SysError> {
        let (key_size, value_size) = match kind {
            MapKind::RingBuf => (0, 0),
            _ => (key_size, value_size),
        };
        if kind.is_array() && key_size != 4 {
            return Err(SysError::Invalid(format!(
                "{kind} map {name:?}: array keys are u32 (4 bytes), not {key_size} bytes"
            )));
        }
        let name = sys::object_name(name);
        let handle = MapHandle::create(kind, &name, key_size, value_size, max_entries)?;
        Ok(Map { handle, kind, key_size, value_size, max_entries, name })
    }

    pub fn fd(&self) -> RawFd {
        self.handle.fd().as_raw_fd()
    }

    pub(crate) fn borrowed_fd(&self) -> BorrowedFd<'_> {
        self.handle.fd()
    }

    pub fn kind(&self) -> MapKind {
        self.kind
    }

    pub fn key_size(&self) -> u32 {
        self.key_size
    }

    /// The size of one value as the program sees it (one CPU's slot).
    pub fn value_size(&self) -> u32 {
        self.value_size
    }

    pub fn max_entries(&self) -> u32 {
        self.max_entries
    }

    /// The (sanitized) name the kernel knows the map by.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Bytes of a value buffer in `lookup`/`update` (all slots if per-CPU).
    pub fn value_buffer_len(&self) -> usize {
        self.handle.value_len()
    }

    /// The value for `key`, or `None` if absent. Per-CPU kinds return the
    /// concatenated, 8-byte-padded slots of every possible CPU.
    pub fn lookup(&self, key: &[u8]) -> Result<Option<Vec<u8>>, SysError> {
        let mut value = vec![0u8; self.handle.value_len()];
        if self.handle.lookup(key, &mut value)? {
            Ok(Some(value))
        } else {
            Ok(None)
        }
    }

    /// Inserts or replaces `key`. Per-CPU kinds take the full slot buffer.
    pub fn update(&self, key: &[u8], value: &[u8]) -> Result<(), SysError> {
        self.handle.update(key, value)
    }

    /// Removes `key`; `false` if it was not there. Array entries cannot be
    /// deleted (use [`Map::clear`] or write zeros).
    pub fn delete(&self, key: &[u8]) -> Result<bool, SysError> {
        self.handle.delete(key)
    }

    /// All keys, in the kernel's iteration order.
    ///
    /// Uses `BPF_MAP_GET_NEXT_KEY`; if another writer deletes the current
    /// key mid-walk the kernel restarts from the first key, so callers that
    /// need a consistent snapshot should read while programs are detached.
    pub fn keys(&self) -> Result<Vec<Vec<u8>>, SysError> {
        let mut keys: Vec<Vec<u8>> = Vec::new();
        let mut next = vec![0u8; self.key_size as usize];
        // A hash map can hold at most max_entries keys; the bound protects
        // against cycling forever if keys churn while we walk.
        let limit = self.max_entries as usize;
        while keys.len() < limit {
            let found = self.handle.next_key(keys.last().map(Vec::as_slice), &mut next)?;
            if !found {
                break;
            }
            keys.push(next.clone());
        }
        Ok(keys)
    }

    /// Empties the map: deletes every key of a hash map, zeroes every entry
    /// of an array map.
    pub fn clear(&self) -> Result<(), SysError> {
        match self.kind {
            MapKind::Hash | MapKind::PercpuHash | MapKind::StackTrace => {
                for key in self.keys()? {
                    self.handle.delete(&key)?;
                }
                Ok(())
            }
            MapKind::Array | MapKind::PercpuArray => {
                let zeros = vec![0u8; self.handle.value_len()];
                for index in 0..self.max_entries {
                    self.handle.update(&index.to_ne_bytes(), &zeros)?;
                }
                Ok(())
            }
            MapKind::RingBuf => Ok(()),
        }
    }

    /// Splits a per-CPU value buffer into one `value_size` slice per CPU.
    /// For other kinds the whole value is the only slot.
    pub fn percpu_slots<'a>(&self, value: &'a [u8]) -> Vec<&'a [u8]> {
        let size = self.value_size as usize;
        if !self.kind.is_percpu() {
            return vec![value];
        }
        let stride = size.div_ceil(8) * 8;
        if stride == 0 {
            return Vec::new();
        }
        value.chunks(stride).filter(|slot| slot.len() >= size).map(|slot| &slot[..size]).collect()
    }
}

/// Set the stop word of a session's maps (`program::STOP_MAP`): every probe
/// that fires on events does nothing from now on; BEGIN and END still run.
/// A mark already there (`exit(code)`'s, with its status) stays.
pub fn stop_probes(maps: &[Map]) -> Result<(), SysError> {
    match maps.get(STOP_MAP.0 as usize) {
        Some(_) if stop_word(maps) != 0 => Ok(()),
        Some(m) => m.update(&0u32.to_le_bytes(), &1u64.to_le_bytes()),
        None => Ok(()),
    }
}

/// Whether a session's probes are stopped: a probe called `exit()` (whose
/// event may have found the ring buffer full), or [`stop_probes`] ran.
pub fn probes_stopped(maps: &[Map]) -> bool {
    stop_word(maps) != 0
}

/// The exit status a probe's `exit(code)` left in the stop word (0 when
/// the probes were stopped otherwise, or not at all).
pub fn exit_status(maps: &[Map]) -> u8 {
    (stop_word(maps) >> 8) as u8
}

fn stop_word(maps: &[Map]) -> u64 {
    let value = maps.get(STOP_MAP.0 as usize).and_then(|m| m.lookup(&0u32.to_le_bytes()).ok().flatten());
    value.and_then(|v| v.get(..8).and_then(|w| w.try_into().ok())).map(u64::from_le_bytes).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::testing::skip_without_bpf;
    use crate::sys::possible_cpus;

    fn u32k(k: u32) -> [u8; 4] {
        k.to_ne_bytes()
    }

    #[test]
    fn name_is_sanitized_and_truncated() {
        assert_eq!(sys::object_name("@a-very-long-map-name"), "_a_very_long_ma");
        assert_eq!(sys::object_name("ok_name.1"), "ok_name.1");
    }

    #[test]
    fn hash_map_roundtrip() {
        if skip_without_bpf() {
            return;
        }
        let map = Map::create("@counts", MapKind::Hash, 8, 8, 16).expect("create hash");
        assert_eq!(map.name(), "_counts");
        assert_eq!(map.kind(), MapKind::Hash);
        assert_eq!((map.key_size(), map.value_size()), (8, 8));
        assert!(map.fd() >= 0);
        assert_eq!(map.lookup(&1u64.to_ne_bytes()).expect("lookup"), None);
        for k in 1u64..=3 {
            map.update(&k.to_ne_bytes(), &(k * 10).to_ne_bytes()).expect("update");
        }
        let got = map.lookup(&2u64.to_ne_bytes()).expect("lookup");
        assert_eq!(got, Some(20u64.to_ne_bytes().to_vec()));
        let mut keys: Vec<u64> = map
            .keys()
            .expect("keys")
            .iter()
            .map(|k| u64::from_ne_bytes(k[..8].try_into().expect("8-byte key")))
            .collect();
        keys.sort();
        assert_eq!(keys, vec![1, 2, 3]);
        assert!(map.delete(&2u64.to_ne_bytes()).expect("delete"));
        assert!(!map.delete(&2u64.to_ne_bytes()).expect("delete absent"));
        assert_eq!(map.keys().expect("keys").len(), 2);
        map.clear().expect("clear");
        assert!(map.keys().expect("keys").is_empty());
    }

    #[test]
    fn wrong_sizes_are_errors_not_overruns() {
        if skip_without_bpf() {
            return;
        }
        let map = Map::create("sizes", MapKind::Hash, 8, 8, 4).expect("create");
        assert!(matches!(map.lookup(&[0u8; 4]), Err(SysError::Size { what: "map key", expected: 8, got: 4 })));
        assert!(matches!(map.update(&[0u8; 8], &[0u8; 3]), Err(SysError::Size { what: "map value", .. })));
        assert!(Map::create("arr", MapKind::Array, 8, 8, 4).is_err());
    }

    #[test]
    fn full_hash_map_reports_e2big() {
        if skip_without_bpf() {
            return;
        }
        let map = Map::create("full", MapKind::Hash, 4, 4, 1).expect("create");
        map.update(&u32k(1), &u32k(1)).expect("first");
        let err = map.update(&u32k(2), &u32k(2)).expect_err("map is full");
        assert_eq!(err.errno(), Some(libc::E2BIG));
        assert!(err.to_string().contains("full"), "{err}");
    }

    #[test]
    fn percpu_hash_layout() {
        if skip_without_bpf() {
            return;
        }
        let ncpu = possible_cpus().expect("possible cpus");
        // A 4-byte value occupies an 8-byte slot per CPU.
        let map = Map::create("pch", MapKind::PercpuHash, 4, 4, 8).expect("create");
        assert_eq!(map.value_buffer_len(), 8 * ncpu);
        let mut value = vec![0u8; 8 * ncpu];
        for cpu in 0..ncpu {
            value[cpu * 8..cpu * 8 + 4].copy_from_slice(&(100 + cpu as u32).to_ne_bytes());
        }
        map.update(&u32k(7), &value).expect("update");
        let got = map.lookup(&u32k(7)).expect("lookup").expect("present");
        assert_eq!(got.len(), 8 * ncpu);
        let slots = map.percpu_slots(&got);
        assert_eq!(slots.len(), ncpu);
        for (cpu, slot) in slots.iter().enumerate() {
            assert_eq!(*slot, (100 + cpu as u32).to_ne_bytes());
        }
        assert_eq!(map.keys().expect("keys"), vec![u32k(7).to_vec()]);
        map.clear().expect("clear");
        assert_eq!(map.lookup(&u32k(7)).expect("lookup"), None);
    }

    #[test]
    fn array_and_percpu_array() {
        if skip_without_bpf() {
            return;
        }
        let arr = Map::create("arr", MapKind::Array, 4, 8, 3).expect("create");
        // Arrays always have every index, zero-initialised.
        assert_eq!(arr.lookup(&u32k(2)).expect("lookup"), Some(vec![0; 8]));
        assert_eq!(arr.lookup(&u32k(3)).expect("lookup"), None);
        arr.update(&u32k(1), &5u64.to_ne_bytes()).expect("update");
        assert_eq!(arr.keys().expect("keys").len(), 3);
        let err = arr.delete(&u32k(1)).expect_err("arrays refuse delete");
        assert_eq!(err.errno(), Some(libc::EINVAL));
        arr.clear().expect("clear");
        assert_eq!(arr.lookup(&u32k(1)).expect("lookup"), Some(vec![0; 8]));

        let ncpu = possible_cpus().expect("possible cpus");
        let pca = Map::create("pca", MapKind::PercpuArray, 4, 12, 2).expect("create");
        // 12 bytes round up to a 16-byte slot.
        assert_eq!(pca.value_buffer_len(), 16 * ncpu);
        let mut value = vec![0u8; 16 * ncpu];
        value[0] = 1;
        if ncpu > 1 {
            value[16] = 2;
        }
        pca.update(&u32k(0), &value).expect("update");
        let got = pca.lookup(&u32k(0)).expect("lookup").expect("present");
        let slots = pca.percpu_slots(&got);
        assert_eq!(slots.len(), ncpu);
        assert_eq!(slots[0][0], 1);
        assert!(slots.iter().all(|s| s.len() == 12));
        pca.clear().expect("clear");
        let got = pca.lookup(&u32k(0)).expect("lookup").expect("present");
        assert!(got.iter().all(|b| *b == 0));
    }

    #[test]
    fn percpu_values_written_by_a_program() {
        if skip_without_bpf() {
            return;
        }
        use crate::runtime::load::load_program;
        use crate::runtime::testing::prog_count;
        use crate::sys::ProgKind;
        // The program adds 1 to its CPU's slot; the slots must sum to the
        // number of runs whichever CPUs the runs landed on.
        let map = Map::create("pcnt", MapKind::PercpuArray, 4, 8, 1).expect("create");
        let prog = load_program(ProgKind::RawTracepoint, "pcnt", &prog_count(map.fd(), None)).expect("load");
        for _ in 0..6 {
            assert_eq!(prog.test_run().expect("run"), 0);
        }
        let value = map.lookup(&u32k(0)).expect("lookup").expect("present");
        let total: u64 = map
            .percpu_slots(&value)
            .iter()
            .map(|slot| u64::from_ne_bytes((*slot).try_into().expect("8-byte slot")))
            .sum();
        assert_eq!(total, 6);
    }

    #[test]
    fn ringbuf_map_needs_page_multiple() {
        if skip_without_bpf() {
            return;
        }
        let rb = Map::create("rb", MapKind::RingBuf, 4, 4, 64 * 1024).expect("ringbuf");
        assert_eq!((rb.key_size(), rb.value_size()), (0, 0));
        let err = Map::create("rb_bad", MapKind::RingBuf, 0, 0, 1000).expect_err("bad size");
        assert_eq!(err.errno(), Some(libc::EINVAL));
        assert!(err.to_string().contains("page size"), "{err}");
    }
}
