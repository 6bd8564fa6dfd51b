/*
 * loop — a long-running process for cases that attach with -p, end on a
 * signal or a timeout, or need events to keep coming (interval, profile).
 *
 *     ./loop [MS]     MS = milliseconds between ticks, default 10
 *
 * Forever, until killed: tick(i) with i = 0, 1, 2, ... (returns i * 2), then
 * sleeps MS ms.  It prints nothing and never exits on its own, so a case that
 * runs it must end it (BEFORE processes are killed by the harness).  Because
 * the tick count at attach time is unknown, cases count a fixed number of
 * events with a predicate (/@n < 5/) rather than everything they see.
 */
#include <stdlib.h>
#include <unistd.h>

#define TRACED __attribute__((noipa, used))

static volatile long sink;

TRACED long tick(long i)
{
    return i * 2;
}

int main(int argc, char **argv)
{
    long ms = argc > 1 ? strtol(argv[1], NULL, 10) : 10;

    for (long i = 0;; i++) {
        sink = tick(i);
        usleep((useconds_t)(ms * 1000));
    }
}
