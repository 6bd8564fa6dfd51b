/*
 * opens — opens files a known number of times, for cases about kernel
 * probes on the open path (`do_sys_openat2`, `vfs_open`).
 *
 *     ./opens [N]     opens /dev/null N times (default 5) and the missing
 *                     file /nonexistent/opens twice, closing each, then
 *                     exits 0
 *
 * Each open is one openat(2): one call of do_sys_openat2 and, for the ones
 * that exist, one of vfs_open. The dynamic loader opens a few files of its
 * own first (ld.so.cache, libc); filter on the file name to count only
 * these. The names are read once before the first open: a probe cannot
 * fault a page in, so a name the program has not touched yet reads as
 * an empty string (bpftrace's str() has the same limit).
 */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

static const char *const paths[] = { "/dev/null", "/nonexistent/opens" };

int main(int argc, char **argv)
{
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 5;
    unsigned touched = 0;

    for (int i = 0; i < 2; i++)
        for (const char *p = paths[i]; *(volatile const char *)p; p++)
            touched += *p;
    (void)touched;
    for (long i = 0; i < n; i++) {
        int fd = open(paths[0], O_RDONLY);
        if (fd >= 0)
            close(fd);
    }
    for (int i = 0; i < 2; i++) {
        int fd = open(paths[1], O_RDONLY);
        if (fd >= 0)
            close(fd);
    }
    return 0;
}
