/*
 * usdt — USDT probes in every operand form, for tests/scripts/usdt.test.
 *
 *     ./usdt            fire every probe below once, in this order; exit 0
 *     ./usdt LIB [N]    then dlopen LIB (a libusdtlib.so, see lib/usdtlib.c)
 *                       and call its usdtlib_work(i) for i = 1..N (default 3)
 *     ./usdt -w LIB     dlopen LIB, then forever: fire every probe, call
 *                       usdtlib_work(i) for i = 1, 2, ..., sleep 20 ms
 *                       (for the -p cases, which need a running process)
 *
 * It prints nothing.  The harness builds it at -O0 (`usdt`) and -O2
 * (`usdt-O2`); the compiler chooses each operand's location (stack slot,
 * register, RIP-relative global, constant), so the two builds have different
 * notes for the same probes and the cases check the same values on both.
 *
 * Probes, provider `usdt` unless said, with their exact arguments:
 *   values(big, counter, seven, str, neg, ch)
 *                     (1234567890123, 42, 7, "hello", -3, 'x' = 120):
 *                     a long local, a global int, a constant, a string, a
 *                     small negative int, a char
 *   loop(i, sq)       4 times: (0, 0) (1, 1) (2, 4) (3, 9)
 *   inlined(site)     one probe inlined at two sites (two notes with the
 *                     same name): fires with 1, then with 2
 *   guarded(sem)      semaphore-guarded: fires only while a tracer has the
 *                     semaphore raised; sem is the semaphore's value then,
 *                     1 when one tracer is attached (the probe has one site)
 *   many(1, ..., 12)  twelve arguments, locals and constants
 *   dup(1) and other:dup(2): one name in two providers
 *   regs(...)         hand-written note (see HAND_PROBE), registers of every
 *                     width set to known values just before the probe:
 *                       8@%rax 1234605616436508552  -4@%eax 1432778632
 *                       2@%ax 30600  1@%al 136  1@%ah 119  -1@%cl -2
 *                       1@%cl 254  -2@%cx -2  4@%ecx 4294967294
 *                       -4@%r8d -5  2@%r8w 65531  -1@%r8b -5
 *   regs2(...)        hand-written, more registers:
 *                       -2@%dx -32639  1@%dh 128  -1@%dh -128  -1@%dl -127
 *                       1@%sil 127  -4@%edi -100  -8@%rdi -100  4@%r9d 5
 *                       8@%r9 4294967301  -2@%r10w -1  2@%r10w 65535
 *                       1@%r11b 255
 *   mem(...)          hand-written, memory operands (usdt_table = {100,
 *                     -200, 300, -400}, usdt_ints = {-1, -2, -3, -4},
 *                     %rbx = usdt_table, %rdx = usdt_ints, %rax = 2):
 *                       -8@(%rbx) 100  -8@8(%rbx) -200
 *                       -8@(%rbx,%rax,8) 300  -8@-8(%rbx,%rax,8) -200
 *                       -4@-4(%rdx,%rax,4) -2  -8@usdt_table(%rip) 100
 *                       -8@usdt_table+24(%rip) -400
 *                       -8@8+usdt_table(%rip) -200  -4@usdt_ints+4(%rip) -2
 *                       -8@usdt_table(,%rax,8) 300
 *                       8@3(%rip) 81985529216486895 (0x0123456789abcdef,
 *                         stored 3 bytes after the probe's nop, behind a
 *                         2-byte jmp: checks that ip is the probe address)
 *                       1@$0 0
 *   consts(...)       hand-written, constants and the stack pointer:
 *                       -8@$-16 -16  -4@$4294967295 -1  2@$0x10 16
 *                       -1@$255 -1  8@$42 42  8@8(%rsp) 77
 *   usdtlib:work(i, what, total) in the library, see lib/usdtlib.c
 *
 * Every sys/sdt.h probe here has a semaphore (with _SDT_HAS_SEMAPHORES,
 * sys/sdt.h names one per probe, as `dtrace -G` generated headers do), but
 * only `guarded` is skipped when its semaphore is 0.  The hand-written
 * notes have none.
 */
#define _SDT_HAS_SEMAPHORES 1
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sdt.h>
#include <unistd.h>

/* The kernel increments a semaphore while a probe using it is attached.
 * sys/sdt.h's notes name `PROVIDER_NAME_semaphore`; they live in .probes. */
#define SEMAPHORE(p, n) \
    volatile unsigned short p##_##n##_semaphore __attribute__((unused, section(".probes")))
SEMAPHORE(usdt, values);
SEMAPHORE(usdt, loop);
SEMAPHORE(usdt, inlined);
SEMAPHORE(usdt, guarded);
SEMAPHORE(usdt, many);
SEMAPHORE(usdt, dup);
SEMAPHORE(other, dup);

/* Globals the probes read: volatile so the compiler keeps the loads (and,
 * for usdt_counter, leaves it in memory for a RIP-relative operand). */
volatile int usdt_counter = 42;
volatile int usdt_neg_source = -3;
int usdt_squares[4] = {0, 1, 4, 9};
long usdt_table[4] __attribute__((used)) = {100, -200, 300, -400};
int usdt_ints[4] __attribute__((used)) = {-1, -2, -3, -4};

/* A probe note written by hand, with its operand strings verbatim, for the
 * forms no compiler is sure to produce.  Same layout as sys/sdt.h's: the
 * probe's address, the .stapsdt.base address, the semaphore (none), the
 * provider, the name and the arguments.  In an extended asm, `%%` is `%`. */
#define HAND_PROBE(name, args)                   \
    "990: nop\n\t"                               \
    ".pushsection .note.stapsdt,\"\",\"note\"\n\t" \
    ".balign 4\n\t"                              \
    ".4byte 992f-991f, 994f-993f, 3\n"           \
    "991: .asciz \"stapsdt\"\n"                  \
    "992: .balign 4\n"                           \
    "993: .8byte 990b\n\t"                       \
    ".8byte _.stapsdt.base\n\t"                  \
    ".8byte 0\n\t"                               \
    ".asciz \"usdt\"\n\t"                        \
    ".asciz \"" name "\"\n\t"                    \
    ".asciz \"" args "\"\n"                      \
    "994: .balign 4\n\t"                         \
    ".popsection\n\t"                            \
    _SDT_ASM_BASE

__attribute__((noinline)) static void fire_values(void)
{
    long big = 1234567890123L;
    int seven = 7;
    /* On the stack, not in .rodata: a page the program never touched is
     * not mapped yet, and probes cannot fault it in to read a string. */
    char str[8] = "hello";
    int neg = usdt_neg_source;
    char ch = 'x';
    DTRACE_PROBE6(usdt, values, big, usdt_counter, seven, str, neg, ch);
}

__attribute__((noinline)) static void fire_loop(void)
{
    for (int i = 0; i < 4; i++)
        DTRACE_PROBE2(usdt, loop, i, usdt_squares[i]);
}

static inline __attribute__((always_inline)) void inlined_probe(int site)
{
    DTRACE_PROBE1(usdt, inlined, site);
}

__attribute__((noinline)) static void fire_guarded(void)
{
    if (__builtin_expect(usdt_guarded_semaphore, 0))
        DTRACE_PROBE1(usdt, guarded, usdt_guarded_semaphore);
}

__attribute__((noinline)) static void fire_many(int base)
{
    int two = base + 1, four = base + 3, six = base + 5;
    long eight = base + 7, ten = base + 9, twelve = base + 11;
    STAP_PROBE12(usdt, many, base, two, 3, four, 5, six, 7, eight, 9, ten, 11, twelve);
}

__attribute__((noinline)) static void hand_regs(void)
{
    __asm__ __volatile__(
        "movabsq $0x1122334455667788, %%rax\n\t"
        "movq $-2, %%rcx\n\t"
        "movq $-5, %%r8\n\t"
        HAND_PROBE("regs", "8@%%rax -4@%%eax 2@%%ax 1@%%al 1@%%ah -1@%%cl 1@%%cl "
                           "-2@%%cx 4@%%ecx -4@%%r8d 2@%%r8w -1@%%r8b")
        ::: "rax", "rcx", "r8", "memory");
}

__attribute__((noinline)) static void hand_regs2(void)
{
    __asm__ __volatile__(
        "movq $0x8081, %%rdx\n\t"
        "movq $0x7f, %%rsi\n\t"
        "movq $-100, %%rdi\n\t"
        "movabsq $0x100000005, %%r9\n\t"
        "movq $-1, %%r10\n\t"
        "movq $0x1ff, %%r11\n\t"
        HAND_PROBE("regs2", "-2@%%dx 1@%%dh -1@%%dh -1@%%dl 1@%%sil -4@%%edi -8@%%rdi "
                            "4@%%r9d 8@%%r9 -2@%%r10w 2@%%r10w 1@%%r11b")
        ::: "rdx", "rsi", "rdi", "r9", "r10", "r11", "memory");
}

__attribute__((noinline)) static void hand_mem(void)
{
    __asm__ __volatile__(
        "leaq usdt_table(%%rip), %%rbx\n\t"
        "leaq usdt_ints(%%rip), %%rdx\n\t"
        "movq $2, %%rax\n\t"
        HAND_PROBE("mem", "-8@(%%rbx) -8@8(%%rbx) -8@(%%rbx,%%rax,8) -8@-8(%%rbx,%%rax,8) "
                          "-4@-4(%%rdx,%%rax,4) -8@usdt_table(%%rip) -8@usdt_table+24(%%rip) "
                          "-8@8+usdt_table(%%rip) -4@usdt_ints+4(%%rip) -8@usdt_table(,%%rax,8) "
                          "8@3(%%rip) 1@$0")
        "jmp 1f\n\t"
        ".8byte 0x0123456789abcdef\n"
        "1:\n\t"
        ::: "rax", "rbx", "rdx", "memory");
}

__attribute__((noinline)) static void hand_consts(void)
{
    /* Only this asm in the function, so nothing of ours lives in the red
     * zone that the 16 bytes below the stack pointer overlap. */
    __asm__ __volatile__(
        "subq $16, %%rsp\n\t"
        "movq $77, 8(%%rsp)\n\t"
        HAND_PROBE("consts", "-8@$-16 -4@$4294967295 2@$0x10 -1@$255 8@$42 8@8(%%rsp)")
        "addq $16, %%rsp\n\t"
        ::: "memory");
}

/* A probe reads memory the program itself may never have touched (the
 * operands are only named in the note); bpf_probe_read_user cannot fault a
 * page in, so touch every page the probes read first. */
static void touch_data(void)
{
    static volatile long sum;
    sum += usdt_table[0] + usdt_ints[0] + usdt_squares[0];
}

static void fire_all(void)
{
    touch_data();
    fire_values();
    fire_loop();
    inlined_probe(1);
    inlined_probe(2);
    fire_guarded();
    fire_many(1);
    DTRACE_PROBE1(usdt, dup, 1);
    DTRACE_PROBE1(other, dup, 2);
    hand_regs();
    hand_regs2();
    hand_mem();
    hand_consts();
}

static void (*load_library(const char *path))(int)
{
    void *lib = dlopen(path, RTLD_NOW);
    if (!lib) {
        fprintf(stderr, "usdt: %s\n", dlerror());
        exit(2);
    }
    void (*work)(int) = (void (*)(int))dlsym(lib, "usdtlib_work");
    if (!work) {
        fprintf(stderr, "usdt: %s has no usdtlib_work\n", path);
        exit(2);
    }
    return work;
}

int main(int argc, char **argv)
{
    if (argc > 2 && strcmp(argv[1], "-w") == 0) {
        void (*work)(int) = load_library(argv[2]);
        for (int i = 1;; i++) {
            fire_all();
            work(i);
            usleep(20000);
        }
    }
    fire_all();
    if (argc > 1) {
        void (*work)(int) = load_library(argv[1]);
        long n = argc > 2 ? strtol(argv[2], NULL, 10) : 3;
        for (int i = 1; i <= n; i++)
            work(i);
    }
    return 0;
}
