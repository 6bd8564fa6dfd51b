/*
 * burst — system calls as fast as possible, for cases about event floods.
 *
 *     ./burst [N]     N = getppid() calls, default 200000, then exit 0
 *
 * A probe on `tracepoint:syscalls:sys_enter_getppid` filtered on
 * `comm == "burst"` sees exactly N events, far faster than a terminal
 * could print them.
 */
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 200000;

    for (long i = 0; i < n; i++)
        syscall(SYS_getppid);
    return 0;
}
