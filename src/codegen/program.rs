//! What code generation hands to the runtime: the maps to create (with the
//! byte layout of their keys and values, so userspace can decode them), one
//! IR function per probe, and the tables that give meaning to events sent
//! through the ring buffer (printf formats, print() value types, ...).

use crate::frontend::passes::{MapInfo, MapValue};
use crate::frontend::printf::Piece;
use crate::frontend::probes::ResolvedProbe;
use crate::frontend::types::{AggKind, StackType, Type};
use crate::sys::MapKind;

use super::ir::{IrFunc, MapId};

/// Fixed map ids of the maps every program has.
pub const SCRATCH_MAP: MapId = MapId(0);
pub const EVENTS_MAP: MapId = MapId(1);
/// The scratch buffer of perf-event (profile, interval) programs. They run
/// in NMI context and can interrupt a uprobe program on the same CPU (the
/// kernel does not keep uprobe programs from being interrupted), so they
/// must not share its buffer.
pub const NMI_SCRATCH_MAP: MapId = MapId(2);
/// One word, non-zero once the session is stopping: set by `exit()` (after
/// its event, so a session whose ring buffer was too full for the event
/// still ends) or by userspace at the end. Probes that fire on events
/// check it first and do nothing once it is set: the kernel goes on
/// running a uprobe's or tracepoint's programs after their perf event is
/// disabled, so this is what stops them at once.
pub const STOP_MAP: MapId = MapId(3);
/// User maps start here, in name order.
pub const FIRST_USER_MAP: u32 = 4;

/// The per-CPU scratch buffers begin with counters the session reads:
/// events the ring buffer had no room for (at [`LOST_COUNTER`]), then, by
/// map id, updates a full map refused ([`drop_counter`]). Programs bump
/// them without a branch (`counter += (result << 32) >> 63`, the sign of
/// the helper's 32-bit result: see `count_failure`), so a probe with
/// thousands of `printf`s stays within the verifier's limit on pending
/// branches; temporaries follow them.
pub const LOST_COUNTER: u32 = 0;

/// The scratch offset of map `id`'s dropped-update counter.
pub fn drop_counter(id: MapId) -> u32 {
    8 + 8 * id.0
}

/// The scratch offset of the counter of loops the kernel's `bpf_loop`
/// limit cut short (a `while` still true after
/// [`MAX_LOOPS`](super::lower_loop::MAX_LOOPS) iterations, a longer range),
/// right after the drop counters; the probes' temporaries follow it.
pub fn loop_cut_counter(drop_counters: u32) -> u32 {
    drop_counter(MapId(drop_counters))
}

/// Drop counters in a live session (the REPL), whose maps come later:
/// updates of maps with higher ids are not counted.
pub const SESSION_DROP_COUNTERS: u32 = 256;

/// Ring buffer size: large enough that a probe printing on every syscall
/// does not overrun between two 100 ms polls.
pub const EVENTS_SIZE: u32 = 1 << 20;
/// Entries per user map, as bpftrace's default (`--max-map-keys`).
pub const MAP_ENTRIES: u32 = 4096;
/// The per-CPU scratch buffer may not exceed what the kernel allows for a
/// per-CPU value, and offsets must fit an instruction's 16-bit field.
pub const MAX_SCRATCH: u32 = 32 * 1024 - 8;

/// Event kinds: the first u64 of every ring buffer record.
pub mod event {
    /// `[kind, printf id, args...]`
    pub const PRINTF: u64 = 1;
    /// `[kind, map index, top, div]`
    pub const PRINT_MAP: u64 = 2;
    /// `[kind, map index]`
    pub const CLEAR: u64 = 3;
    /// `[kind, map index]`
    pub const ZERO: u64 = 4;
    /// `[kind]`
    pub const EXIT: u64 = 5;
    /// `[kind, time format id]`
    pub const TIME: u64 = 6;
    /// `[kind, print id, value]`
    pub const PRINT_VALUE: u64 = 7;
    /// `[kind, process id, bytes of addresses, bytes of build-id frames,
    /// addresses, build-id frames]`: a process was first seen capturing a
    /// user stack or symbol; userspace reads its mappings while it lives
    /// (`codegen::lower_stack`).
    pub const PROCESS: u64 = 8;
}

/// The internal map of processes already announced with
/// [`event::PROCESS`] (u32 process id → unused byte).
pub const PROCESSES_MAP: &str = "processes";

/// The internal stack-trace map a stack of this kind is captured into:
/// one per user/kernel and depth (the depth is the map's value size).
pub fn stack_map_name(st: StackType) -> String {
    format!("{}stack_{}", if st.user { "u" } else { "k" }, st.limit)
}

/// Where a stack goes when its hash bucket in [`stack_map_name`]'s map is
/// taken by another stack (`bpf_get_stackid` says EEXIST): half the size,
/// so the same hash picks a bucket among other neighbours; its ids carry
/// [`SPILLED_STACK`]. The kernel hashes stacks with a fixed seed, so only
/// another map's bucket count gives a colliding stack a second chance.
/// Measured with bench/tree.c: 1,024 distinct stacks in a 4,096-entry map
/// lose 7–11 instead of about 115; 16,384 in a 20,000-entry map lose
/// 650–690 instead of about 3,550. (Stack maps are larger by default:
/// `lower_stack::stack_map_entries`.)
pub fn spill_map_name(st: StackType) -> String {
    format!("{}_spill", stack_map_name(st))
}

/// The bit marking a stack id of the spill map (ids are below the
/// number of buckets, at most 2^24 here).
pub const SPILLED_STACK: u32 = 1 << 30;

#[derive(Clone, Debug)]
pub struct MapDecl {
    /// `@name` for user maps; an internal name otherwise.
    pub name: String,
    pub kind: MapKind,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    /// Set for user maps: how to decode keys and values.
    pub user: Option<UserMap>,
}

#[derive(Clone, Debug)]
pub struct UserMap {
    /// Key slot types (each 8 bytes for ints, its rounded size for strings).
    pub keys: Vec<Type>,
    pub value: MapValue,
    /// The type of the values (what a [`MapValue::Composite`] holds).
    pub value_type: Type,
}

impl UserMap {
    /// Size of the user part of the key (hist maps append an 8-byte bucket).
    pub fn user_key_size(&self) -> u32 {
        let n: u32 = self.keys.iter().map(slot_size).sum();
        n.max(if self.keys.is_empty() { 8 } else { 0 })
    }

    pub fn is_hist(&self) -> bool {
        matches!(self.value, MapValue::Agg(AggKind::Hist | AggKind::Lhist { .. }))
    }
}

/// Bytes a key slot or stored value of this type takes (8-aligned).
pub fn slot_size(t: &Type) -> u32 {
    t.slot_size()
}

pub fn round8(n: u32) -> u32 {
    n.div_ceil(8) * 8
}

impl MapDecl {
    /// The layout of a user map from its type-checked description.
    /// `entries` is the key limit of an ordinary map; histograms get 16
    /// times as many (a key for each bucket).
    pub fn for_user(info: &MapInfo, entries: u32) -> MapDecl {
        let value = info.value.unwrap_or(MapValue::Int { signed: true });
        let user = UserMap { keys: info.keys.clone(), value, value_type: info.value_type() };
        let mut key_size = user.user_key_size();
        let (kind, value_size) = match value {
            MapValue::Int { .. } => (MapKind::Hash, 8),
            MapValue::Str { size } => (MapKind::Hash, round8(size)),
            MapValue::Stack(_) => (MapKind::Hash, 8),
            MapValue::Sym { .. } => (MapKind::Hash, 16),
            MapValue::Composite => (MapKind::Hash, user.value_type.slot_size()),
            MapValue::Agg(a) => match a {
                AggKind::Count | AggKind::Sum => (MapKind::PercpuHash, 8),
                AggKind::Min | AggKind::Max | AggKind::Avg | AggKind::Stats => (MapKind::PercpuHash, 16),
                AggKind::Hist | AggKind::Lhist { .. } => {
                    key_size += 8;
                    (MapKind::PercpuHash, 8)
                }
            },
        };
        let max_entries = if user.is_hist() { entries.saturating_mul(16) } else { entries };
        MapDecl { name: info.display_name(), kind, key_size, value_size, max_entries, user: Some(user) }
    }
}

/// A printf() call site: its parsed format and argument types.
#[derive(Clone, Debug)]
pub struct PrintfDecl {
    pub pieces: Vec<Piece>,
    pub args: Vec<Type>,
}

#[derive(Clone, Debug)]
pub struct CompiledProbe {
    pub resolved: ResolvedProbe,
    pub ir: IrFunc,
}

/// Everything the runtime needs to load, attach and interpret a program.
#[derive(Clone, Debug, Default)]
pub struct Compiled {
    pub maps: Vec<MapDecl>,
    /// Maps with a dropped-update counter in the scratch buffers (ids
    /// below this).
    pub drop_counters: u32,
    pub probes: Vec<CompiledProbe>,
    pub printfs: Vec<PrintfDecl>,
    /// Types of print(expr) values, by print id.
    pub prints: Vec<Type>,
    /// time() formats, by id.
    pub times: Vec<String>,
}

impl Compiled {
    /// The maps and event tables without the probes: what a live session
    /// keeps, and compiles its next line against.
    pub fn tables(&self) -> Compiled {
        Compiled {
            maps: self.maps.clone(),
            drop_counters: self.drop_counters,
            probes: Vec::new(),
            printfs: self.printfs.clone(),
            prints: self.prints.clone(),
            times: self.times.clone(),
        }
    }
}
