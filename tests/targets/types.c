/*
 * types — C data shapes for the DWARF cases (tests/scripts/structs.test):
 * bitfields, a union, an anonymous member, an enum, arrays, a pointer to a
 * pointer, and a function with eight arguments (the last two on the stack).
 *
 *     ./types         prints nothing, exits 0
 *
 * Calls, in order (each function exactly once unless stated):
 *   inspect_flags(&f) with f = { .ready = 1, .mode = 5, .delta = -3, .count = 1000 }
 *     (ready: 1 bit, mode: 3 bits unsigned, delta: 4 bits signed, count: 12 bits)
 *   inspect_value(&v) three times: v.kind = KIND_INT (1), .as_int = -7;
 *     then KIND_WORDS (2), .words = {10, 20}; then KIND_INT, .as_int = 42.
 *   inspect_point(&p) with p = { .x = 3, .y = 4, anonymous { .tag = 9 }, .grid = {{1,2,3},{4,5,6}} }
 *   inspect_chain(&pp) where *pp -> node { .id = 77 }
 *   eight(1, 2, 3, 4, 5, 6, 70, 80)   returns 171
 *   make_node(5) returns a pointer to node { .id = 5 }
 *   malloc(1234) once, then free (for libc's own debug info: args.bytes)
 *   inspect_pair(&pr) with pr = { .nodes = {{ .id = 1 }, { .id = 2 }}, .count = 2 }
 *     (an array of structs; the nodes' next pointers are NULL)
 */
#include <stdint.h>
#include <stdlib.h>

#define TRACED __attribute__((noipa, used))

struct flags {
    unsigned ready : 1;
    unsigned mode : 3;
    signed delta : 4;
    unsigned count : 12;
};

enum kind { KIND_NONE, KIND_INT, KIND_WORDS };

struct value {
    enum kind kind;
    union {
        int64_t as_int;
        uint32_t words[2];
    } u;
};

struct point {
    int x, y;
    struct {
        int tag;
    };
    short grid[2][3];
};

struct node {
    long id;
    struct node *next;
};

static volatile long sink;

TRACED void inspect_flags(struct flags *f) { sink = f->mode; }
TRACED void inspect_value(struct value *v) { sink = v->kind; }
TRACED void inspect_point(struct point *p) { sink = p->x; }
TRACED void inspect_chain(struct node **pp) { sink = (*pp)->id; }
TRACED long eight(long a, long b, long c, long d, long e, long f, long g, long h)
{
    return a + b + c + d + e + f + g + h;
}
struct pair {
    struct node nodes[2];
    int count;
};

TRACED void inspect_pair(struct pair *p) { sink = p->count; }
TRACED struct node *make_node(long id)
{
    static struct node n;
    n.id = id;
    return &n;
}

int main(void)
{
    struct flags f = {.ready = 1, .mode = 5, .delta = -3, .count = 1000};
    inspect_flags(&f);
    struct value v = {.kind = KIND_INT, .u.as_int = -7};
    inspect_value(&v);
    v.kind = KIND_WORDS;
    v.u.words[0] = 10;
    v.u.words[1] = 20;
    inspect_value(&v);
    v.kind = KIND_INT;
    v.u.as_int = 42;
    inspect_value(&v);
    struct point p = {.x = 3, .y = 4, .tag = 9, .grid = {{1, 2, 3}, {4, 5, 6}}};
    inspect_point(&p);
    struct node n = {.id = 77};
    struct node *pn = &n;
    inspect_chain(&pn);
    sink = eight(1, 2, 3, 4, 5, 6, 70, 80);
    sink = make_node(5)->id;
    void *volatile block = malloc(1234);
    free(block);
    struct pair pr = {.nodes = {{.id = 1}, {.id = 2}}, .count = 2};
    inspect_pair(&pr);
    return 0;
}
