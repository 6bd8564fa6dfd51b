#!/bin/sh
# pgcluster.sh TRACER 'PROGRAM' 'WORKLOAD'
#
# For the PostgreSQL cases of usdt.test: starts a throwaway PostgreSQL 15
# cluster, traces WORKLOAD with TRACER (trace, or bpftrace in oracle mode),
# prints what the tracer printed, and always stops and removes the cluster.
#
# - The cluster lives in a fresh directory under /tmp, owned by `postgres`,
#   and listens on a Unix socket in that directory only (no TCP), so
#   neither its socket nor its port can clash with another server.
# - Autovacuum and the logical replication launcher are off: both run
#   transactions of their own at times of their choosing.
# - PROGRAM gets the postmaster's pid as $1: it counts only in the
#   backends our postmaster forks (a fork tracepoint records them), since a
#   USDT probe fires in every process running the binary, including other
#   clusters on the machine.
# - WORKLOAD runs through `sh -c` with PGHOST, PGPORT, PGUSER and
#   PGDATABASE set, once the tracer has attached (it has one perf event per
#   probe site open: waiting for PROBES of them, the 4th argument,
#   default 2), then the tracer gets SIGTERM and prints its maps (SIGTERM,
#   not SIGINT: a non-interactive shell starts background commands with
#   SIGINT ignored, and bpftrace leaves it that way).
set -u
BIN=/usr/lib/postgresql/15/bin
tracer=$1 program=$2 workload=$3 probes=${4:-2}

dir=$(mktemp -d /tmp/trace-pg.XXXXXX) || exit 1
tracer_pid=
cleanup() {
    [ -n "$tracer_pid" ] && kill -TERM "$tracer_pid" 2>/dev/null
    if [ -f "$dir/data/postmaster.pid" ]; then
        runuser -u postgres -- "$BIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1
    fi
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
chown postgres "$dir"
port=$((20000 + $$ % 20000))

if ! runuser -u postgres -- "$BIN/initdb" -D "$dir/data" -U postgres -A trust --no-sync >"$dir/initdb.log" 2>&1; then
    cat "$dir/initdb.log" >&2
    exit 1
fi
if ! runuser -u postgres -- "$BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
    -o "-k $dir -p $port -c listen_addresses= -c autovacuum=off -c max_logical_replication_workers=0 -c max_parallel_maintenance_workers=0 -c max_parallel_workers_per_gather=0 -c fsync=off" \
    start >/dev/null; then
    cat "$dir/server.log" >&2
    exit 1
fi
export PGHOST="$dir" PGPORT="$port" PGUSER=postgres PGDATABASE=postgres
postmaster=$(head -n 1 "$dir/data/postmaster.pid")

"$tracer" -e "$program" "$postmaster" >"$dir/out" 2>"$dir/err" &
tracer_pid=$!
# Attached when the tracer holds one perf event per probe (10 s at most).
i=0
while [ "$(ls -l /proc/$tracer_pid/fd 2>/dev/null | grep -c perf_event)" -lt "$probes" ]; do
    i=$((i + 1))
    if [ $i -gt 200 ] || ! kill -0 "$tracer_pid" 2>/dev/null; then
        echo "pgcluster.sh: the tracer did not attach" >&2
        cat "$dir/err" >&2
        exit 1
    fi
    sleep 0.05
done

workload_status=0
sh -c "$workload" >"$dir/workload.log" 2>&1 || workload_status=$?
kill -TERM "$tracer_pid"
wait "$tracer_pid"
status=$?
tracer_pid=
cat "$dir/out"
cat "$dir/err" >&2
if [ "$workload_status" -ne 0 ]; then
    echo "pgcluster.sh: the workload failed (exit status $workload_status):" >&2
    cat "$dir/workload.log" >&2
    exit 1
fi
exit $status
