//! BPF helper function ids (`enum bpf_func_id` in the kernel's
//! `include/uapi/linux/bpf.h`) and their names.
//!
//! The ids are a stable kernel ABI; the names (with a `bpf_` prefix) are what
//! bpftool and the verifier log print after `call`, so our disassembly uses
//! the same spelling and users can match the two listings line by line.
//! Only helpers that tracing programs use are listed.

pub const MAP_LOOKUP_ELEM: i32 = 1;
pub const MAP_UPDATE_ELEM: i32 = 2;
pub const MAP_DELETE_ELEM: i32 = 3;
pub const PROBE_READ: i32 = 4;
pub const KTIME_GET_NS: i32 = 5;
pub const TRACE_PRINTK: i32 = 6;
pub const GET_PRANDOM_U32: i32 = 7;
pub const GET_SMP_PROCESSOR_ID: i32 = 8;
pub const GET_CURRENT_PID_TGID: i32 = 14;
pub const GET_CURRENT_UID_GID: i32 = 15;
pub const GET_CURRENT_COMM: i32 = 16;
pub const PERF_EVENT_OUTPUT: i32 = 25;
pub const GET_STACKID: i32 = 27;
pub const GET_CURRENT_TASK: i32 = 35;
pub const PROBE_READ_STR: i32 = 45;
pub const GET_STACK: i32 = 67;
pub const GET_CURRENT_CGROUP_ID: i32 = 80;
pub const SEND_SIGNAL: i32 = 109;
pub const PROBE_READ_USER: i32 = 112;
pub const PROBE_READ_KERNEL: i32 = 113;
pub const PROBE_READ_USER_STR: i32 = 114;
pub const PROBE_READ_KERNEL_STR: i32 = 115;
pub const JIFFIES64: i32 = 118;
pub const GET_NS_CURRENT_PID_TGID: i32 = 120;
pub const KTIME_GET_BOOT_NS: i32 = 125;
pub const RINGBUF_OUTPUT: i32 = 130;
pub const RINGBUF_RESERVE: i32 = 131;
pub const RINGBUF_SUBMIT: i32 = 132;
pub const RINGBUF_DISCARD: i32 = 133;
pub const GET_CURRENT_TASK_BTF: i32 = 158;
pub const FOR_EACH_MAP_ELEM: i32 = 164;
pub const GET_FUNC_IP: i32 = 173;
pub const LOOP: i32 = 181;
pub const MAP_LOOKUP_PERCPU_ELEM: i32 = 195;

/// Every helper this module knows, with its kernel name.
const NAMES: &[(i32, &str)] = &[
    (MAP_LOOKUP_ELEM, "bpf_map_lookup_elem"),
    (MAP_UPDATE_ELEM, "bpf_map_update_elem"),
    (MAP_DELETE_ELEM, "bpf_map_delete_elem"),
    (PROBE_READ, "bpf_probe_read"),
    (KTIME_GET_NS, "bpf_ktime_get_ns"),
    (TRACE_PRINTK, "bpf_trace_printk"),
    (GET_PRANDOM_U32, "bpf_get_prandom_u32"),
    (GET_SMP_PROCESSOR_ID, "bpf_get_smp_processor_id"),
    (GET_CURRENT_PID_TGID, "bpf_get_current_pid_tgid"),
    (GET_CURRENT_UID_GID, "bpf_get_current_uid_gid"),
    (GET_CURRENT_COMM, "bpf_get_current_comm"),
    (PERF_EVENT_OUTPUT, "bpf_perf_event_output"),
    (GET_STACKID, "bpf_get_stackid"),
    (GET_CURRENT_TASK, "bpf_get_current_task"),
    (PROBE_READ_STR, "bpf_probe_read_str"),
    (GET_STACK, "bpf_get_stack"),
    (GET_CURRENT_CGROUP_ID, "bpf_get_current_cgroup_id"),
    (SEND_SIGNAL, "bpf_send_signal"),
    (PROBE_READ_USER, "bpf_probe_read_user"),
    (PROBE_READ_KERNEL, "bpf_probe_read_kernel"),
    (PROBE_READ_USER_STR, "bpf_probe_read_user_str"),
    (PROBE_READ_KERNEL_STR, "bpf_probe_read_kernel_str"),
    (JIFFIES64, "bpf_jiffies64"),
    (GET_NS_CURRENT_PID_TGID, "bpf_get_ns_current_pid_tgid"),
    (KTIME_GET_BOOT_NS, "bpf_ktime_get_boot_ns"),
    (RINGBUF_OUTPUT, "bpf_ringbuf_output"),
    (RINGBUF_RESERVE, "bpf_ringbuf_reserve"),
    (RINGBUF_SUBMIT, "bpf_ringbuf_submit"),
    (RINGBUF_DISCARD, "bpf_ringbuf_discard"),
    (GET_CURRENT_TASK_BTF, "bpf_get_current_task_btf"),
    (FOR_EACH_MAP_ELEM, "bpf_for_each_map_elem"),
    (GET_FUNC_IP, "bpf_get_func_ip"),
    (LOOP, "bpf_loop"),
    (MAP_LOOKUP_PERCPU_ELEM, "bpf_map_lookup_percpu_elem"),
];

/// The kernel's name for helper `id` (e.g. `bpf_map_lookup_elem`), or `None`
/// for helpers this module does not list.
pub fn helper_name(id: i32) -> Option<&'static str> {
    NAMES.iter().find(|(i, _)| *i == id).map(|(_, n)| *n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve_and_are_unique() {
        assert_eq!(helper_name(MAP_LOOKUP_ELEM), Some("bpf_map_lookup_elem"));
        assert_eq!(helper_name(RINGBUF_OUTPUT), Some("bpf_ringbuf_output"));
        assert_eq!(helper_name(0), None);
        assert_eq!(helper_name(-1), None);
        for (i, (id, name)) in NAMES.iter().enumerate() {
            assert!(name.starts_with("bpf_"));
            assert!(NAMES[i + 1..].iter().all(|(j, n)| j != id && n != name), "{name}");
        }
    }

    #[test]
    fn ids_match_uapi() {
        // Spot checks against enum bpf_func_id, the ones the brief names.
        let expect = [
            (MAP_LOOKUP_ELEM, 1),
            (MAP_UPDATE_ELEM, 2),
            (MAP_DELETE_ELEM, 3),
            (PROBE_READ, 4),
            (KTIME_GET_NS, 5),
            (GET_SMP_PROCESSOR_ID, 8),
            (GET_CURRENT_PID_TGID, 14),
            (GET_CURRENT_UID_GID, 15),
            (GET_CURRENT_COMM, 16),
            (GET_CURRENT_TASK, 35),
            (PROBE_READ_STR, 45),
            (PROBE_READ_USER, 112),
            (PROBE_READ_KERNEL, 113),
            (PROBE_READ_USER_STR, 114),
            (PROBE_READ_KERNEL_STR, 115),
            (KTIME_GET_BOOT_NS, 125),
            (RINGBUF_OUTPUT, 130),
            (FOR_EACH_MAP_ELEM, 164),
            (LOOP, 181),
            (MAP_LOOKUP_PERCPU_ELEM, 195),
        ];
        for (got, want) in expect {
            assert_eq!(got, want);
        }
    }
}
