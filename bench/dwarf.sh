#!/usr/bin/env bash
# DWARF benchmark: resolve one struct member of one function's argument in a
# large debug binary, and compare whole-session wall time and peak RSS of
# trace and bpftrace on the same probe.
#
# The binary is generated: FILES C files of FUNCS functions and structs each
# (default 400 x 100, about 280,000 lines), compiled with `gcc -g -O0` and
# linked into one program whose main calls the probed function once. trace
# reads only the probed function's compile unit (found through
# .debug_aranges from the symbol's address); bpftrace parses more.
#
#   bench/dwarf.sh                   RUNS=5 FILES=400 FUNCS=100
#
# Needs root, gcc and GNU time (/usr/bin/time). Not a test; not run in CI.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-5}
FILES=${FILES:-400}
FUNCS=${FUNCS:-100}
TRACE=${TRACE:-target/release/trace}
TIME=/usr/bin/time
[ -x "$TIME" ] || { echo "bench: needs GNU time at $TIME (apt-get install time)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "bench: needs root to load BPF programs" >&2; exit 1; }
[ -x "$TRACE" ] || cargo build --release --locked >&2
TRACE=$(realpath "$TRACE")
BPFTRACE=$(command -v bpftrace || true)

WORK=target/bench/dwarf-$FILES-$FUNCS
BIN=$WORK/big
if [ ! -x "$BIN" ]; then
    mkdir -p "$WORK/src"
    echo "bench: generating $FILES files x $FUNCS functions" >&2
    for f in $(seq 1 "$FILES"); do
        {
            echo "#include <stdint.h>"
            for i in $(seq 1 "$FUNCS"); do
                cat <<C
struct s_${f}_${i} { int a; long b; char name[16]; struct s_${f}_${i} *next; uint32_t flags : 3; double d; };
__attribute__((noinline)) long f_${f}_${i}(struct s_${f}_${i} *p, long k)
{
    long t = 0;
    for (int j = 0; j < 3; j++) { t += p->a * j + p->b - k; if (p->next) t += p->next->a; }
    return t + p->flags;
}
C
            done
        } > "$WORK/src/u$f.c"
    done
    cat > "$WORK/src/main.c" <<'C'
struct version { unsigned epoch; };
struct target { int a; long b; char name[16]; struct target *next; struct version version; };
__attribute__((noinline)) long probe_me(struct target *t) { return t->a + t->version.epoch; }
int main(void) { struct target t = { .a = 1, .version = { .epoch = 42 } }; return (int)probe_me(&t) - 43; }
C
    echo "bench: compiling (gcc -g -O0, $(cat "$WORK"/src/*.c | wc -l) lines)" >&2
    (cd "$WORK/src" && ls u*.c | xargs -P "$(nproc)" -n 20 gcc -g -O0 -c && gcc -g -O0 -c main.c)
    gcc -o "$BIN" "$WORK"/src/*.o
fi
info_hex=$(readelf -S -W "$BIN" | awk '$2 == ".debug_info" {print $6}')
echo "binary: $BIN, $(du -h "$BIN" | cut -f1), .debug_info $(( 16#${info_hex:-0} / 1048576 )) MiB, $(readelf --debug-dump=info "$BIN" 2>/dev/null | grep -c 'Compilation Unit @') compile units"

measure() { # tool, program: median wall ms and peak RSS MB over RUNS
    local tool=$1 prog=$2 walls=() rss=()
    for _ in $(seq 1 "$RUNS"); do
        out=$("$TIME" -f '%e %M' "$tool" -e "$prog" -c "$BIN" 2>&1 >/dev/null | tail -1)
        walls+=("$(awk '{printf "%d", $1 * 1000}' <<<"$out")")
        rss+=("$(awk '{printf "%.1f", $2 / 1024}' <<<"$out")")
    done
    median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
    printf '%-10s %10s ms %10s MB\n' "$(basename "$tool")" "$(median "${walls[@]}")" "$(median "${rss[@]}")"
}

# Both must print the member's value, or the timing means nothing.
"$TRACE" -e 'uprobe:'"$BIN"':probe_me { printf("epoch %d\n", args.t->version.epoch); }' -c "$BIN" 2>/dev/null | grep -q 'epoch 42' \
    || { echo "bench: trace did not read the member" >&2; exit 1; }
echo "one-liner: uprobe:BIN:probe_me { printf(\"%d\", args.t->version.epoch) }, -c BIN, $RUNS runs, medians"
measure "$TRACE" 'uprobe:'"$BIN"':probe_me { printf("epoch %d\n", args.t->version.epoch); }'
if [ -n "$BPFTRACE" ]; then
    measure "$BPFTRACE" 'uprobe:'"$BIN"':probe_me { printf("epoch %d\n", args->t->version.epoch); }'
fi
