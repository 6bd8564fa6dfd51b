#!/usr/bin/env bash
# Stack benchmark, trace against bpftrace (when installed), medians of RUNS:
#
# 1. In-kernel cost of `@[ustack] = count()` per event: the BPF programs'
#    run time over their run count, from the kernel's own statistics
#    (kernel.bpf_stats_enabled, restored at exit; run_time_ns and run_cnt in
#    /proc/TOOL_PID/fdinfo of the program descriptors the tool holds), over
#    1 s while a uprobe fires on every call of a loop (tests/targets/stacks.c,
#    attached with -p). Only that probe fires while it is measured.
#    The lowest and highest run are shown too: on a small VM they spread.
# 2. Recording, naming and printing 16,384 distinct stacks (bench/tree.c,
#    depth 14): the session's wall time with `@[ustack] = count()` minus the
#    same session with `@n = count()`. The tree starts 0.3 s after the tool
#    says "Attaching", and sleeps until the maps are printed, so both tools
#    can read its mappings (not -c: bpftrace kills its -c child before
#    printing, and then names no frame). Each session ends 1.5 s after it
#    attached; a run whose output does not account for exactly the 16,384
#    events (named stacks plus lost ones) stops the benchmark.
#
# Both hold 16,384 stacks: bpftrace's stack maps always have 131,072 entries
# and its @ map BPFTRACE_MAP_KEYS_MAX (65,536 here); trace sizes every map,
# stack maps too, by --max-map-keys (131,072 here: the same stack map).
# bpf_get_stackid refuses a stack whose hash bucket holds another one, so a
# few percent are lost either way: trace prints them as one `[lost stack]`
# key, bpftrace as an empty key `@[]` (and "failed to look up stack id").
#
# bpftrace runs twice for part 2: as it comes, and as bpftrace+cache, told
# to keep each process's symbols (BPFTRACE_CACHE_USER_SYMBOLS=1), which
# 0.17 does by itself only with ASLR off or for a -c command; without it,
# it reads the process's symbols again for every frame it prints.
#
#   bench/stacks.sh                  RUNS=5, target/release/trace (built if missing)
#   RUNS=9 TRACE=path/to/trace bench/stacks.sh
#
# The tools take turns, run after run. Needs root and gcc. Not a test and
# not run in CI: numbers depend on the machine. Each tool's output of its
# last run stays in target/bench.
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
# shellcheck disable=SC2016  # $ORIGIN is for the linker
gcc -g -O0 -fno-omit-frame-pointer -o "$WORK/stacks" tests/targets/stacks.c -L"$WORK" -lstackslib -Wl,-rpath,'$ORIGIN'
gcc -g -O0 -fno-omit-frame-pointer -o "$WORK/tree" bench/tree.c
cd "$WORK"

# run_tool NAME ARGS...: run tool NAME with its map sizes (exec: in the
# background, $! is the tool's own pid, whose fdinfo lists its programs).
run_tool() {
    local name=$1
    shift
    case $name in
        trace) exec "$TRACE" --max-map-keys 131072 "$@" ;;
        bpftrace) exec env BPFTRACE_MAP_KEYS_MAX=65536 "$BPFTRACE" "$@" ;;
        bpftrace+cache) exec env BPFTRACE_MAP_KEYS_MAX=65536 BPFTRACE_CACHE_USER_SYMBOLS=1 "$BPFTRACE" "$@" ;;
    esac
}
TOOLS=(trace ${BPFTRACE:+bpftrace bpftrace+cache})

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else print v[int((NR + 1) / 2)] }'; }

# Processes this script started and has not reaped yet, by role.
declare -A PIDS=()
old_stats=$(sysctl -n kernel.bpf_stats_enabled)
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill -KILL "$pid" 2>/dev/null || true
    done
    sysctl -qw kernel.bpf_stats_enabled="$old_stats"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
sysctl -qw kernel.bpf_stats_enabled=1

# start ROLE COMMAND...: run COMMAND in the background as ROLE.
start() {
    local role=$1
    shift
    "$@" &
    PIDS[$role]=$!
}

# finish ROLE SIGNAL SECONDS: send SIGNAL (none if empty), wait up to
# SECONDS for ROLE to exit, kill it after that.
finish() {
    local role=$1 sig=$2 pid=${PIDS[$1]}
    [ -z "$sig" ] || kill "-$sig" "$pid" 2>/dev/null || true
    for _ in $(seq $(($3 * 10))); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    unset "PIDS[$role]"
}

fail() { echo "bench: $*" >&2; exit 1; }

# "run_time_ns run_cnt", summed over the BPF programs process PID holds.
prog_stats() {
    cat /proc/"$1"/fdinfo/* 2>/dev/null \
        | awk '/^run_time_ns:/ { t += $2 } /^run_cnt:/ { n += $2 } END { printf "%d %d\n", t, n }'
}

# ns per event of one tool, in RESULT: attach to a running loop, wait for
# its probe to fire, then measure 1 s of the programs' run statistics.
# (Measures run in this shell, not in $(...), so that the cleanup knows
# every process they start.)
ns_per_event() {
    local tool=$1 out="stacks.$1" t0 n0 t1 n1
    start target ./stacks 1000000000 >/dev/null
    start tool run_tool "$tool" -p "${PIDS[target]}" -e 'uprobe:./stacks:c { @[ustack] = count(); }' \
        >"$out.out" 2>"$out.err"
    for _ in $(seq 300); do
        kill -0 "${PIDS[tool]}" 2>/dev/null || fail "$tool exited early: $(tail -2 "$out.err")"
        read -r t0 n0 < <(prog_stats "${PIDS[tool]}")
        [ "$n0" = 0 ] || break
        sleep 0.1
    done
    [ "$n0" != 0 ] || fail "$tool: its probe never fired in 30 s"
    sleep 1
    read -r t1 n1 < <(prog_stats "${PIDS[tool]}")
    finish tool INT 20
    finish target TERM 5
    [ "$n1" -gt "$n0" ] || fail "$tool: its probe stopped firing"
    RESULT=$(awk -v t="$((t1 - t0))" -v n="$((n1 - n0))" 'BEGIN { printf "%.0f", t / n }')
}

# What a tree session printed: "named lost events unnamed" — stacks with
# every frame named (4-space-indented name+offset, leaf first), events in
# lost stacks (trace's `[lost stack]` key, bpftrace's empty `@[]`), all
# events counted, and frames printed as bare addresses.
tree_summary() {
    awk '
        /^@\[\]: [0-9]+$/ { lost += $2; events += $2; next }   # bpftrace: a stack it could not look up
        /^@\[$/ { frames = 0; bare = 0; leaf = 0; gone = 0; next }
        /^    \[lost stack\]$/ { gone = 1; next }
        /^    0x[0-9a-f]+$/ { bare++; frames++; next }
        /^    [^ ]+\+[0-9]+$/ { if (frames == 0 && $1 ~ /^leaf\+/) leaf = 1; frames++; next }
        /^\]: [0-9]+$/ {
            events += $2; unnamed += bare
            if (gone) lost += $2; else if (leaf && bare == 0) named++
        }
        END { printf "%d %d %d %d\n", named, lost, events, unnamed }
    ' "$1"
}

# Wall ms of one session over the tree, with probe body BODY, in RESULT;
# KIND names its output files (tree.TOOL.KIND.out/.err).
tree_ms() {
    local tool=$1 body=$2 kind=$3 out="tree.$1.$3" t0 t1 events
    t0=$EPOCHREALTIME
    start tool run_tool "$tool" -e "uprobe:./tree:leaf { $body } interval:ms:1500 { exit(); }" \
        >"$out.out" 2>"$out.err"
    # trace says "Attaching" on stderr, bpftrace on stdout; both just
    # before attaching.
    for _ in $(seq 300); do
        ! grep -q '^Attaching' "$out.out" "$out.err" || break
        kill -0 "${PIDS[tool]}" 2>/dev/null || fail "$tool exited early: $(tail -2 "$out.err")"
        sleep 0.1
    done
    grep -q '^Attaching' "$out.out" "$out.err" || fail "$tool did not attach in 30 s"
    sleep 0.3
    start tree ./tree 14 600 >/dev/null
    finish tool '' 600
    t1=$EPOCHREALTIME
    finish tree TERM 5
    if [ "$kind" = count ]; then
        grep -qx '@n: 16384' "$out.out" || fail "$tool did not count 16384 leaves (see $WORK/$out.out)"
    else
        read -r _ _ events _ < <(tree_summary "$out.out")
        [ "$events" = 16384 ] || fail "$tool printed $events of 16384 stack events (see $WORK/$out.out)"
    fi
    RESULT=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", (b - a) * 1000 }')
}

# The tools take turns, so that a change in the machine's load falls on
# all of them. Each measure's runs, space-separated, by tool.
declare -A NS_RUNS WITH_RUNS WITHOUT_RUNS
for _ in $(seq "$RUNS"); do
    for t in "${TOOLS[@]}"; do
        if [ "$t" != bpftrace+cache ]; then # the same BPF program as bpftrace's
            ns_per_event "$t"
            NS_RUNS[$t]+=" $RESULT"
        fi
        tree_ms "$t" '@[ustack] = count();' ustack
        WITH_RUNS[$t]+=" $RESULT"
        tree_ms "$t" '@n = count();' count
        WITHOUT_RUNS[$t]+=" $RESULT"
    done
done

runs_median() { [ -z "$1" ] || tr ' ' '\n' <<<"$1" | grep . | median; }
runs_range() { [ -z "$1" ] || tr ' ' '\n' <<<"$1" | grep . | sort -n | sed -n '1p;$p' | paste -sd-; }
declare -A NS NS_RANGE WITH WITHOUT DIFF NAMED LOST UNNAMED
for t in "${TOOLS[@]}"; do
    NS[$t]=$(runs_median "${NS_RUNS[$t]:-}")
    NS_RANGE[$t]=$(runs_range "${NS_RUNS[$t]:-}")
    WITH[$t]=$(runs_median "${WITH_RUNS[$t]}")
    WITHOUT[$t]=$(runs_median "${WITHOUT_RUNS[$t]}")
    DIFF[$t]=$((WITH[$t] - WITHOUT[$t]))
    read -r "NAMED[$t]" "LOST[$t]" _ "UNNAMED[$t]" < <(tree_summary "tree.$t.ustack.out")
done

# row TITLE UNIT TRACE BPFTRACE BPFTRACE+CACHE: one measure ("-": not run).
row() {
    local title=$1 unit=$2 v
    shift 2
    printf '%-46s' "$title"
    for v in "$@"; do
        if [ -n "$v" ]; then v="$v$unit"; else v=-; fi
        printf ' %15s' "$v"
    done
    printf '\n'
}
b=bpftrace c=bpftrace+cache
echo "kernel $(uname -r), $(nproc) CPUs, $RUNS runs per cell, medians"
printf '%-46s %15s %15s %15s\n' measure trace "$b" "$c"
row "@[ustack] = count(), in-kernel per event" " ns" "${NS[trace]}" "${NS[$b]:-}" "${NS[$c]:-}"
row "  lowest-highest of the runs" "" "${NS_RANGE[trace]}" "${NS_RANGE[$b]:-}" "${NS_RANGE[$c]:-}"
row "tree session with @[ustack] = count()" " ms" "${WITH[trace]}" "${WITH[$b]:-}" "${WITH[$c]:-}"
row "tree session with @n = count()" " ms" "${WITHOUT[trace]}" "${WITHOUT[$b]:-}" "${WITHOUT[$c]:-}"
row "16,384 stacks: record, name, print" " ms" "${DIFF[trace]}" "${DIFF[$b]:-}" "${DIFF[$c]:-}"
row "stacks printed, every frame named (last run)" "" "${NAMED[trace]}" "${NAMED[$b]:-}" "${NAMED[$c]:-}"
row "stacks lost to the stack map (last run)" "" "${LOST[trace]}" "${LOST[$b]:-}" "${LOST[$c]:-}"
row "frames printed as bare addresses (last run)" "" "${UNNAMED[trace]}" "${UNNAMED[$b]:-}" "${UNNAMED[$c]:-}"
[ -n "$BPFTRACE" ] || echo "(bpftrace not installed: trace only)"
