#!/usr/bin/env bash
# REPL latency: how long each typed line takes to compile, load and attach
# in a live session (the "attached [N] ... in X ms" the REPL reports),
# median of several sessions, plus the session's peak RSS. bpftrace has no
# interactive mode, so there is nothing to compare with: the alternative is
# a whole new bpftrace run per change (see bench/startup.sh).
#
#   bench/repl.sh                 RUNS=5, target/release/trace (built if missing)
#
# Needs root, gcc and GNU time. Not a test and not run in CI.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-5}
TRACE=${TRACE:-target/release/trace}
[ "$(id -u)" = 0 ] || { echo "bench: needs root to load BPF programs" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "bench: needs GNU time (apt-get install time)" >&2; exit 1; }
if [ ! -x "$TRACE" ]; then
    cargo build --release --locked >&2
fi
TRACE=$(realpath "$TRACE")
WORK=target/bench
mkdir -p "$WORK"
gcc -g -O0 -fno-omit-frame-pointer -Wall -o "$WORK/db" tests/targets/db.c
cd "$WORK"

# One line per probe kind, typed in this order into one session.
LINES=(
    'uprobe:./db:snapshot { @n = count(); }'
    'uprobe:./db:db_log_rotate { @e[args.shard->version.epoch] = count(); }'
    'tracepoint:syscalls:sys_enter_openat { @o[comm] = count(); }'
    'interval:ms:100 { @t = count(); }'
    'uprobe:libc:malloc { @m = count(); }'
    'uprobe:./db:db_* { @f[probe] = count(); }'
)

declare -A samples
rss=()
for _ in $(seq "$RUNS"); do
    out=$(printf '%s\n' "${LINES[@]}" | /usr/bin/time -f 'RSS %M' "$TRACE" 2>&1 >/dev/null)
    while read -r id ms; do
        samples[$id]+="$ms "
    done < <(sed -n 's/^attached \[\([0-9]*\)\].* in \([0-9.]*\) ms$/\1 \2/p' <<<"$out")
    rss+=("$(sed -n 's/^RSS //p' <<<"$out")")
done

median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
printf '%-72s %s\n' "line (typed in this order)" "ms (median of $RUNS)"
for i in "${!LINES[@]}"; do
    printf '%-72s %s\n' "${LINES[$i]}" "$(median <<<"${samples[$((i + 1))]:-}")"
done
printf 'peak RSS of the session: %s kB (median)\n' "$(printf '%s ' "${rss[@]}" | median)"
