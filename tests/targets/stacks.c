/*
 * stacks — a known call chain for ustack, usym and flame-graph cases.
 *
 *     ./stacks [N] [MS] [SPIN_MS]
 *
 * N times (default 1): main → a → b → c → lib_leaf (in libstackslib.so),
 * sleeping MS milliseconds (default 0) after each call. Then, if SPIN_MS is
 * given, burns the CPU for that long in spin() (called from main), for
 * profile cases. Returns 0.
 *
 * Built like every target (`stacks`, `stacks-O2`, PIE, frame pointers
 * kept) and also without PIE (`stacks-nopie`, `stacks-O2-nopie`); all link
 * libstackslib.so from their own directory. `counter` is a global for
 * uaddr().
 *
 * trace-build: -L. -lstackslib -Wl,-rpath,$ORIGIN
 * trace-variant: nopie -no-pie
 */
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define TRACED __attribute__((noipa, used))

long lib_leaf(long x);

volatile long counter;

TRACED long c(long x)
{
    return lib_leaf(x) + 1;
}

TRACED long b(long x)
{
    return c(x) + 1;
}

TRACED long a(long x)
{
    return b(x) + 1;
}

TRACED void spin(long ms)
{
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    do {
        for (int i = 0; i < 100000; i++)
            counter++;
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000 < ms);
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 1;
    long ms = argc > 2 ? strtol(argv[2], NULL, 10) : 0;
    long spin_ms = argc > 3 ? strtol(argv[3], NULL, 10) : 0;

    for (long i = 0; i < n; i++) {
        counter += a(i);
        if (ms)
            usleep(ms * 1000);
    }
    if (spin_ms)
        spin(spin_ms);
    return 0;
}
