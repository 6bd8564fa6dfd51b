#!/usr/bin/env bash
# Stack benchmark, trace against bpftrace (when installed):
#
# 1. In-kernel cost of `@[ustack] = count()` per event: the probe's BPF
#    program run time over its run count, from the kernel's own statistics
#    (kernel.bpf_stats_enabled, read from /proc/PID/fdinfo of the tool's
#    program descriptors) while a uprobe fires on every call of a loop.
# 2. Naming and printing 16,384 distinct stacks (bench/tree.c, depth 14):
#    the whole session's wall time with `@[ustack] = count()` minus the
#    same session with `@n = count()`; the process sleeps until the maps
#    are printed, so both tools can read its mappings.
#
#   bench/stacks.sh                  RUNS=5, target/release/trace (built if missing)
#   RUNS=9 TRACE=path/to/trace bench/stacks.sh
#
# Needs root and gcc. Not a test and not run in CI: numbers depend on the
# machine.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-5}
TRACE=${TRACE:-target/release/trace}

[ "$(id -u)" = 0 ] || { echo "bench: needs root to load BPF programs" >&2; exit 1; }
if [ ! -x "$TRACE" ]; then
    echo "bench: building $TRACE (cargo build --release)" >&2
    cargo build --release --locked >&2
fi
TRACE=$(realpath "$TRACE")
BPFTRACE=$(command -v bpftrace || true)

WORK=target/bench
mkdir -p "$WORK"
gcc -shared -fPIC -g -O0 -fno-omit-frame-pointer -o "$WORK/libstackslib.so" tests/targets/lib/stackslib.c
gcc -g -O0 -fno-omit-frame-pointer -o "$WORK/stacks" tests/targets/stacks.c -L"$WORK" -lstackslib -Wl,-rpath,'$ORIGIN'
gcc -g -O0 -fno-omit-frame-pointer -o "$WORK/tree" bench/tree.c
cd "$WORK"

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else print v[int((NR + 1) / 2)] }'; }

old_stats=$(sysctl -n kernel.bpf_stats_enabled)
cleanup() {
    sysctl -qw kernel.bpf_stats_enabled="$old_stats"
    pkill -f '^./stacks 1000000000' 2>/dev/null || true
}
trap cleanup EXIT
sysctl -qw kernel.bpf_stats_enabled=1

# ns per event of one tool: attach to a running loop for 2 s, read the
# run statistics of the tool's programs after 1.5 s.
ns_per_event() {
    local tool=$1 target tp stats
    ./stacks 1000000000 &
    target=$!
    sleep 0.2
    "$tool" -p "$target" -e 'uprobe:./stacks:c { @[ustack] = count(); } interval:s:2 { exit(); }' >/dev/null 2>&1 &
    tp=$!
    sleep 1.5
    stats=$(cat /proc/"$tp"/fdinfo/* 2>/dev/null | awk '/^run_time_ns:/ { t += $2 } /^run_cnt:/ { n += $2 } END { if (n > 0) printf "%.0f %d\n", t / n, n }')
    wait "$tp" || true
    kill "$target" 2>/dev/null || true
    wait "$target" 2>/dev/null || true
    echo "${stats:-- 0}"
}

# Wall ms of one session over the tree.
tree_ms() {
    local tool=$1 body=$2 start end
    start=$EPOCHREALTIME
    "$tool" -e "uprobe:./tree:leaf { $body } interval:ms:1500 { exit(); }" --max-map-keys 65536 -c './tree 14 3' \
        >"tree.$(basename "$tool").out" 2>/dev/null || true
    end=$EPOCHREALTIME
    echo "$start $end" | awk '{ printf "%.0f\n", ($2 - $1) * 1000 }'
}

printf '%-44s %18s %18s\n' "measure" "trace" "bpftrace"
for tool in "$TRACE" ${BPFTRACE:+"$BPFTRACE"}; do
    ns=$(for _ in $(seq "$RUNS"); do ns_per_event "$tool"; done | awk '{ print $1 }' | median)
    eval "ns_$(basename "$tool")=\$ns"
    with=$(for _ in $(seq "$RUNS"); do tree_ms "$tool" '@[ustack] = count();'; done | median)
    without=$(for _ in $(seq "$RUNS"); do tree_ms "$tool" '@n = count();'; done | median)
    eval "tree_$(basename "$tool")=\$((with - without))"
    named=$(grep -c '^    [a-z_]*+[0-9]' "tree.$(basename "$tool").out" || true)
    eval "named_$(basename "$tool")=\$named"
done
printf '%-44s %15s ns %15s ns\n' "@[ustack] = count(), in-kernel per event" "${ns_trace:--}" "${ns_bpftrace:--}"
printf '%-44s %15s ms %15s ms\n' "16,384 distinct stacks: record, name, print" "${tree_trace:--}" "${tree_bpftrace:--}"
printf '%-44s %18s %18s\n' "frames printed with a name (last run)" "${named_trace:--}" "${named_bpftrace:--}"
