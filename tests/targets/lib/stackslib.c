/*
 * libstackslib.so — the shared-library frame of `stacks` (see stacks.c).
 */
#define TRACED __attribute__((noipa, used))

TRACED long lib_leaf(long x)
{
    return x * 3;
}
