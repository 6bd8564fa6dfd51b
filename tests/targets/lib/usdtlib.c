/*
 * libusdtlib.so — a shared library with a USDT probe, for the shared-object
 * cases of tests/scripts/usdt.test.  The harness builds only the programs
 * directly in tests/targets/; the cases build this one themselves:
 *
 *     gcc -shared -fPIC -g -o libusdtlib.so .../tests/targets/lib/usdtlib.c
 *
 * ./usdt dlopen()s it (see usdt.c) and calls usdtlib_work(i, "lib-<i>")
 * for i = 1..N; each call fires usdtlib:work(i, what, total) with total the
 * running sum of i (1, 3, 6, ...).  No semaphore: the probe always fires.
 */
#include <stdio.h>
#include <sys/sdt.h>

long usdtlib_total;

__attribute__((noinline)) void usdtlib_work(int i)
{
    char what[16];
    snprintf(what, sizeof what, "lib-%d", i);
    usdtlib_total += i;
    DTRACE_PROBE3(usdtlib, work, i, what, usdtlib_total);
}
