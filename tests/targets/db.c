/*
 * db — a tiny sharded store: the program most script cases trace.
 *
 *     ./db [N]        N = number of snapshots, default 5
 *
 * It does a fixed amount of work and prints nothing (under `-c` its stdout is
 * trace's stdout), so cases can expect exact numbers.  The numbers below are
 * what the cases in tests/scripts rely on: change them together or not at all.
 *
 * Shards: 4, shards[s] = { .sid = s, .name = "shard-<s>",
 *                          .version = { .epoch = s + 1, .version = (s + 1) * 10000000000 },
 *                          .peer = &shards[(s + 1) % 4] }
 *   (.version.version is above 2^32 on purpose: it catches 32-bit reads;
 *   db_version_t is an anonymous struct behind a typedef on purpose too.)
 *
 * snapshot(shard, n): called N times; call i uses WORKLOAD[i % 10]:
 *       i    0  1  2  3  4   5   6   7   8   9
 *       sid  0  1  2  0  1   0   3   2   1   0
 *       n    1  2  3  5  8  13  21  34  55  89
 *   returns n, or -1 when n > 50 ("too large"): 55 and 89 fail.  The raw
 *   return register holds -1 as 0xffffffff at -O0 and as a 64-bit -1 at -O2.
 *   For N = 10:  count 10; sum(n) 231, avg 23, min 1, max 89
 *                per shard: calls 4/3/2/1, sum(n) 108/65/37/21 (shard-0..3)
 *                hist(n): [1] 1, [2, 4) 2, [4, 8) 1, [8, 16) 2, [16, 32) 1,
 *                         [32, 64) 2, [64, 128) 1
 *                lhist(n, 0, 100, 10): [0, 10) 5, [10, 20) 1, [20, 30) 1,
 *                         [30, 40) 1, [50, 60) 1, [80, 90) 1
 *                retval: 8 calls return n, 2 return -1
 *   For N = 5 (default): n = 1 2 3 5 8 on shards 0 1 2 0 1.
 *   After each call: USDT probe db:checkpoint(sid, n) (when built with sys/sdt.h).
 *
 * db_log_rotate(shard): 5 calls, on shards 0 1 2 3 0, each adding 1 to the
 *   shard's epoch *after* the entry probe point, so entry sees epochs
 *   1 2 3 4 2 and peers' sids 1 2 3 0 1.
 *
 * db_get(shard, key): 6 calls on shards 0 1 2 3 0 1 with keys
 *   "alpha" "beta" "alpha" "gamma" "beta" "alpha" (alpha 3, beta 2, gamma 1);
 *   returns strlen(key) (5, 4, 5).
 *
 * db_flush(a, b, c, d, e, f): 1 call with 1, 2, 3, 4, 5, 6; returns 21.
 *
 * libc and syscalls, in this order, once everything above is done:
 *   srand(42)                    once
 *   getpid() x2, getppid() x1    (glibc does not cache getpid)
 *   open("/dev/null") x3         openat syscall, flags O_RDONLY (0), succeeds
 *   open("/nonexistent/db.conf") x1, flags O_RDONLY, fails with ENOENT
 *   (the dynamic loader's own openat calls, with O_CLOEXEC, come first)
 *
 * Exits 0.  The harness also builds db-O2 (-O2) from this file.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<sys/sdt.h>)
#include <sys/sdt.h>
#define DB_CHECKPOINT(sid, n) DTRACE_PROBE2(db, checkpoint, sid, n)
#endif
#endif
#ifndef DB_CHECKPOINT
#define DB_CHECKPOINT(sid, n) ((void)(sid), (void)(n))
#endif

/* noipa: not inlined, not cloned, no return-value propagation, even at -O2,
 * so every call below is a real call to a symbol the uprobes can find. */
#define TRACED __attribute__((noipa, used))

typedef struct {
    uint32_t epoch;
    uint64_t version;
} db_version_t;

typedef struct db_shard_t {
    int sid;
    char name[16];
    db_version_t version;
    struct db_shard_t *peer;
} db_shard_t;

#define NSHARDS 4

static db_shard_t shards[NSHARDS];

static const struct {
    int sid;
    long n;
} WORKLOAD[10] = {
    {0, 1}, {1, 2}, {2, 3}, {0, 5}, {1, 8}, {0, 13}, {3, 21}, {2, 34}, {1, 55}, {0, 89},
};

/* Volatile sinks keep the work observable, so no call can be dropped. */
static volatile long sink;

TRACED int snapshot(db_shard_t *shard, long n)
{
    sink = shard->sid;
    if (n > 50)
        return -1;
    return (int)n;
}

TRACED void db_log_rotate(db_shard_t *shard)
{
    shard->version.epoch++;
}

TRACED int db_get(db_shard_t *shard, const char *key)
{
    sink = shard->sid;
    return (int)strlen(key);
}

TRACED long db_flush(long a, long b, long c, long d, long e, long f)
{
    return a + b + c + d + e + f;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 5;
    static const char *keys[6] = {"alpha", "beta", "alpha", "gamma", "beta", "alpha"};
    static const int rotations[5] = {0, 1, 2, 3, 0};

    for (int s = 0; s < NSHARDS; s++) {
        shards[s].sid = s;
        snprintf(shards[s].name, sizeof shards[s].name, "shard-%d", s);
        shards[s].version.epoch = (uint32_t)(s + 1);
        shards[s].version.version = (uint64_t)(s + 1) * 10000000000ULL;
        shards[s].peer = &shards[(s + 1) % NSHARDS];
    }

    for (long i = 0; i < n; i++) {
        db_shard_t *shard = &shards[WORKLOAD[i % 10].sid];
        long size = WORKLOAD[i % 10].n;
        sink = snapshot(shard, size);
        DB_CHECKPOINT(shard->sid, size);
    }
    for (int i = 0; i < 5; i++)
        db_log_rotate(&shards[rotations[i]]);
    for (int i = 0; i < 6; i++)
        sink = db_get(&shards[i % NSHARDS], keys[i]);
    sink = db_flush(1, 2, 3, 4, 5, 6);

    srand(42);
    sink = getpid();
    sink = getpid();
    sink = getppid();
    for (int i = 0; i < 3; i++) {
        int fd = open("/dev/null", O_RDONLY);
        if (fd >= 0)
            close(fd);
    }
    sink = open("/nonexistent/db.conf", O_RDONLY);
    return 0;
}
