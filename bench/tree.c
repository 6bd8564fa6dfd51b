/*
 * tree — many distinct call stacks, for bench/stacks.sh.
 *
 *     ./tree DEPTH [SECONDS]
 *
 * Walks a binary tree of calls DEPTH deep: each level calls walk() once
 * through left() and once through right(), so leaf() is reached 2^DEPTH
 * times, each time from a different stack (the return addresses say
 * which way each level went). Then sleeps SECONDS (default 0), so a
 * tracer can read the process's mappings while it lives. Built with
 * frame pointers.
 */
#include <stdlib.h>
#include <unistd.h>

#define TRACED __attribute__((noipa, used))

static volatile long leaves;

TRACED void leaf(void)
{
    leaves++;
}

void walk(int depth);

TRACED void left(int depth)
{
    walk(depth);
}

TRACED void right(int depth)
{
    walk(depth);
}

TRACED void walk(int depth)
{
    if (depth == 0) {
        leaf();
        return;
    }
    left(depth - 1);
    right(depth - 1);
}

int main(int argc, char **argv)
{
    int depth = argc > 1 ? atoi(argv[1]) : 14;
    int seconds = argc > 2 ? atoi(argv[2]) : 0;
    walk(depth);
    if (seconds)
        sleep(seconds);
    return 0;
}
