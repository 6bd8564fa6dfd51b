#!/usr/bin/env bash
# Startup benchmark: what a whole short session costs with trace and with
# bpftrace (when installed) — wall time and peak RSS, median of several runs.
# One-liners are where users feel startup: bpftrace runs clang/LLVM for every
# program, trace emits bytecode itself, and this measures that difference.
#
#   bench/startup.sh                  RUNS=5, target/release/trace (built if missing)
#   RUNS=9 TRACE=path/to/trace bench/startup.sh
#
# Needs root (it loads BPF programs), gcc and GNU time (/usr/bin/time, Debian
# package `time`). Not a test and not run in CI: numbers depend on the machine.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-5}
TRACE=${TRACE:-target/release/trace}
TIME=/usr/bin/time

[ -x "$TIME" ] || { echo "bench: needs GNU time at $TIME (apt-get install time)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "bench: needs root to load BPF programs" >&2; exit 1; }
if [ ! -x "$TRACE" ]; then
    echo "bench: building $TRACE (cargo build --release)" >&2
    cargo build --release --locked >&2
fi
TRACE=$(realpath "$TRACE")
BPFTRACE=$(command -v bpftrace || true)
if [ ! -d /sys/kernel/tracing/events ]; then
    mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || true
fi

# The same target the script cases use, built the same way (see tests/scripts.rs).
WORK=target/bench
mkdir -p "$WORK"
gcc -g -O0 -fno-omit-frame-pointer -Wall -o "$WORK/db" tests/targets/db.c
cd "$WORK"

# name | program | extra arguments (split on spaces) | regex stdout must match,
# so a run that did nothing is reported as failed rather than as fast
CASES=(
    "BEGIN exit|BEGIN { printf(\"ok\\n\"); exit(); }||^ok$"
    "uprobe count+hist, -c|uprobe:./db:snapshot { @calls = count(); @sizes = hist(arg1); }|-c ./db|^@calls: 5$"
    "tracepoint count, 100ms|tracepoint:syscalls:sys_enter_openat { @opens = count(); } interval:ms:100 { exit(); }||^@opens: [0-9]+$"
)

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else print v[int((NR + 1) / 2)] }'; }

# Runs one tool on one case RUNS times; prints "wall_ms rss_mb" medians, or
# "failed" with the reason on stderr when any run fails. Wall time comes from
# the shell's microsecond clock (GNU time's %e has 10 ms steps), peak RSS
# from GNU time's %M.
measure() {
    local tool=$1 prog=$2 extra=$3 expect=$4 out start end walls=() rsses=()
    out=$(mktemp)
    for _ in $(seq "$RUNS"); do
        start=$EPOCHREALTIME
        # shellcheck disable=SC2086  # extra is deliberately word-split
        if ! timeout 60 "$TIME" -f '%M' -o "$out.rss" "$tool" -e "$prog" $extra >"$out" 2>"$out.err" \
            || ! grep -Eq "$expect" "$out"; then
            echo "bench: $(basename "$tool") failed or printed no /$expect/ for: $prog" >&2
            tail -3 "$out.err" >&2
            rm -f "$out" "$out.err" "$out.rss"
            echo failed
            return
        fi
        end=$EPOCHREALTIME
        walls+=("$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%d", (b - a) * 1000 }')")
        rsses+=("$(awk -v k="$(tail -1 "$out.rss")" 'BEGIN { printf "%.1f", k / 1024 }')")
    done
    rm -f "$out" "$out.err" "$out.rss"
    echo "$(printf '%s\n' "${walls[@]}" | median) $(printf '%s\n' "${rsses[@]}" | median)"
}

echo "kernel $(uname -r), $(nproc) CPUs, $RUNS runs per cell, medians"
printf '%-26s %-9s %10s %12s\n' "one-liner" "tool" "wall ms" "peak RSS MB"
for entry in "${CASES[@]}"; do
    IFS='|' read -r name prog extra expect <<<"$entry"
    for tool in "$TRACE" ${BPFTRACE:+"$BPFTRACE"}; do
        result=$(measure "$tool" "$prog" "$extra" "$expect")
        if [ "$result" = failed ]; then
            printf '%-26s %-9s %10s %12s\n' "$name" "$(basename "$tool")" failed -
        else
            read -r wall rss <<<"$result"
            printf '%-26s %-9s %10s %12s\n' "$name" "$(basename "$tool")" "$wall" "$rss"
        fi
    done
done
[ -n "$BPFTRACE" ] || echo "(bpftrace not installed: trace only)"
