//! Timer-driven probes on the software CPU clock: `interval` and `profile`.
//!
//! `interval:ms:N` fires every N on one CPU, like bpftrace: a `cpu-clock`
//! event with a fixed period (the event counts nanoseconds) on the first
//! online CPU. The clock is an hrtimer, so it ticks even while that CPU
//! idles. `profile:hz:N` samples every online CPU N times a second: one
//! frequency-mode event per CPU, all held by one [`Link`].

use super::{attach_perf_event, require_kind, AttachError, Link};
use crate::runtime::load::Prog;
use crate::sys::{self, PerfEventSpec, ProgKind, PERF_COUNT_SW_CPU_CLOCK, PERF_TYPE_SOFTWARE};

fn cpu_clock(sample: u64, freq: bool, cpu: u32) -> PerfEventSpec<'static> {
    PerfEventSpec {
        type_: PERF_TYPE_SOFTWARE,
        config: PERF_COUNT_SW_CPU_CLOCK,
        config1_str: None,
        config1: 0,
        config2: 0,
        sample,
        freq,
        pid: -1,
        cpu: cpu as i32,
    }
}

fn online_cpus() -> Result<Vec<u32>, AttachError> {
    sys::online_cpus().map_err(AttachError::sys("perf event (listing online CPUs)"))
}

/// Runs a PerfEvent-kind program every `period_ns` nanoseconds.
pub fn attach_interval(prog: &Prog, period_ns: u64) -> Result<Link, AttachError> {
    require_kind(prog, ProgKind::PerfEvent, "interval probe")?;
    if period_ns == 0 {
        return Err(AttachError::Invalid("interval period must be positive".to_string()));
    }
    let cpu = online_cpus()?.first().copied().unwrap_or(0);
    let description = format!("interval {period_ns}ns (cpu {cpu})");
    Link::single(prog, &cpu_clock(period_ns, false, cpu), description)
}

/// Runs a PerfEvent-kind program `hz` times a second on every online CPU.
pub fn attach_profile(prog: &Prog, hz: u64) -> Result<Link, AttachError> {
    require_kind(prog, ProgKind::PerfEvent, "profile probe")?;
    if hz == 0 {
        return Err(AttachError::Invalid("profile frequency must be positive".to_string()));
    }
    let mut link = Link::new(format!("profile {hz}Hz"));
    for cpu in online_cpus()? {
        let what = format!("profile {hz}Hz on cpu {cpu}");
        // On error the events attached so far are released with `link`.
        link.parts.push(attach_perf_event(prog, &cpu_clock(hz, true, cpu), &what)?);
    }
    Ok(link)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::load::load_program;
    use crate::runtime::maps::Map;
    use crate::runtime::testing::{prog_count, prog_return, read_count, skip_without_bpf, wait_for};
    use crate::sys::MapKind;
    use std::time::Duration;

    #[test]
    fn interval_fires() {
        if skip_without_bpf() {
            return;
        }
        let map = Map::create("ivcount", MapKind::Array, 4, 8, 1).expect("map");
        let prog = load_program(ProgKind::PerfEvent, "interval", &prog_count(map.fd(), None)).expect("load");
        let link = attach_interval(&prog, 10_000_000).expect("attach");
        assert_eq!(link.perf_fds().len(), 1);
        assert!(
            wait_for(Duration::from_secs(5), || read_count(&map) >= 3),
            "interval fired {} times in 5s",
            read_count(&map)
        );
        drop(link);
        // Let an in-flight run finish, then the count must stay put.
        std::thread::sleep(Duration::from_millis(50));
        let settled = read_count(&map);
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(read_count(&map), settled, "interval fired after its Link was dropped");
    }

    #[test]
    fn profile_fires_on_every_cpu() {
        if skip_without_bpf() {
            return;
        }
        let map = Map::create("pfcount", MapKind::Array, 4, 8, 1).expect("map");
        let prog = load_program(ProgKind::PerfEvent, "profile", &prog_count(map.fd(), None)).expect("load");
        let link = attach_profile(&prog, 99).expect("attach");
        let cpus = sys::online_cpus().expect("online cpus");
        assert_eq!(link.perf_fds().len(), cpus.len());
        assert!(
            wait_for(Duration::from_secs(5), || read_count(&map) >= 2),
            "profile fired {} times in 5s",
            read_count(&map)
        );
    }

    #[test]
    fn bad_arguments() {
        if skip_without_bpf() {
            return;
        }
        let prog = load_program(ProgKind::PerfEvent, "pe", &prog_return(0)).expect("load");
        assert!(matches!(attach_interval(&prog, 0), Err(AttachError::Invalid(_))));
        assert!(matches!(attach_profile(&prog, 0), Err(AttachError::Invalid(_))));
        let tp = load_program(ProgKind::Tracepoint, "tp", &prog_return(0)).expect("load");
        assert!(matches!(attach_interval(&tp, 1000), Err(AttachError::WrongProgKind { .. })));
    }
}
