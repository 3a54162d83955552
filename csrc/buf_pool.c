/*
 * buf_pool.c - the memory pool of size-classed I/O blocks.
 *
 * Classes 4K 16K 64K 256K 1M 4M 8M, each a linked free list of io_buf under
 * the pool's one mutex (the seed's design). Blocks of the three small classes
 * are carved from 1 MiB mappings; larger blocks are one mapping each. A block
 * on a free list is either committed (its pages touched) or trimmed (never
 * touched, or given back with MADV_DONTNEED); only committed blocks count in
 * held_bytes, and the limit is checked when a trimmed block is handed out.
 *
 * The thread that made the pool (the loop's thread) also keeps a small cache
 * per class that it alone touches, so its alloc/revert take no lock; other
 * threads, and the owner when its cache is empty or full, use the lists.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core.h"

#define SLAB_BYTES ((size_t)1 << 20)
#define SLAB_CLASSES 3 /* 4K 16K 64K come from slabs */
#define CACHE_MAX 32

enum { BLOCK_FREE = 1, BLOCK_TRIMMED = 2 };

static const size_t class_size[SL_NUM_CLASSES] = {(size_t)4 << 10,   (size_t)16 << 10, (size_t)64 << 10,
                                                  (size_t)256 << 10, (size_t)1 << 20,  (size_t)4 << 20,
                                                  (size_t)8 << 20};
/* More of the small classes than of the large ones, as the seed says. */
static const size_t default_prealloc[SL_NUM_CLASSES] = {512, 128, 32, 8, 4, 2, 1};
static const int cache_max[SL_NUM_CLASSES] = {CACHE_MAX, CACHE_MAX, 16, 4, 2, 0, 0};

typedef struct slab {
    struct slab *next;
    char *mem;
    io_buf *headers;
} slab;

/* 512 bytes: the class's address is then a shift of its index, not a
 * multiply, on the revert's critical path (block -> class -> cache). */
typedef union pool_class {
    struct {
        /* What the owner's fast path touches comes first, in one cache line. */
        _Atomic int cache_count; /* written by the owner only */
        int cache_max;           /* constant after buf_pool_new */
        /* Blocks off the free list: in use, or in the owner's cache (the
         * array, or the pool's hot block). Written under mu, read by the
         * owner without it. in_use = taken - cached, so the owner's cache
         * path counts nothing but allocs. */
        _Atomic int64_t taken;
        _Atomic int64_t peak; /* most in use at once; written by the owner or under mu */
        _Atomic uint64_t allocs_owner, allocs_locked;
        _Atomic uint64_t failures;
        io_buf *cache[CACHE_MAX]; /* owner thread only; all committed, next NULL */
        io_buf *free_list;        /* under mu */
        size_t free_count;        /* under mu */
    };
    char size_[512];
} pool_class;
_Static_assert(sizeof(pool_class) == 512, "pool_class is padded to 512 bytes");

struct buf_pool {
    const char *owner; /* &owner_mark of the thread that made the pool */
    /* The owner's last released block, of any class, taken first by its
     * next alloc of that class. An alloc+revert pair on it loads and stores
     * only this pointer, at an address that does not depend on the block:
     * a class's array adds a load of its count, and the revert a load of
     * the block's class, to the chain from one pair to the next. */
    _Atomic(io_buf *) hot; /* written by the owner only */
    pthread_mutex_t mu;
    _Atomic size_t limit;
    _Atomic size_t held; /* committed bytes; changed under mu or by the owner */
    pool_class cls[SL_NUM_CLASSES];
    slab *slabs; /* under mu */
};

/* Each thread's own address: comparing it costs no call (pthread_self()
 * is a call into libc, and measured a third of an alloc+revert pair). */
/* initial-exec: in a shared object the default model would call
 * __tls_get_addr on every check. */
static _Thread_local char owner_mark __attribute__((tls_model("initial-exec")));
#define IS_OWNER(p) ((p)->owner == &owner_mark)

size_t buf_pool_class_size(int i) { return i >= 0 && i < SL_NUM_CLASSES ? class_size[i] : 0; }

static inline int class_of(size_t n) {
    if (n <= class_size[0]) return 0;
    if (n > class_size[SL_NUM_CLASSES - 1]) return -1;
    /* Compares, not a bit scan: bsr is microcoded on some x86 (6 ops on
     * Zen 2), and without -mlzcnt __builtin_clzll is a bsr. */
    return 1 + (n > class_size[1]) + (n > class_size[2]) + (n > class_size[3]) + (n > class_size[4]) +
           (n > class_size[5]);
}

int buf_pool_class_of(size_t n) { return class_of(n); }

#define RELAXED memory_order_relaxed
/* Single writer: a load and a store, no read-modify-write. */
static inline void add_u(_Atomic uint64_t *c, uint64_t d) {
    atomic_store_explicit(c, atomic_load_explicit(c, RELAXED) + d, RELAXED);
}
static inline int64_t add_i(_Atomic int64_t *c, int64_t d) {
    int64_t v = atomic_load_explicit(c, RELAXED) + d;
    atomic_store_explicit(c, v, RELAXED);
    return v;
}

static inline int cache_count(pool_class *pc) { return atomic_load_explicit(&pc->cache_count, RELAXED); }
static inline void set_cache_count(pool_class *pc, int k) {
    atomic_store_explicit(&pc->cache_count, k, RELAXED);
}

static inline io_buf *hot_of(buf_pool *p) { return atomic_load_explicit(&p->hot, RELAXED); }
static inline void set_hot(buf_pool *p, io_buf *b) { atomic_store_explicit(&p->hot, b, RELAXED); }

/* Blocks of class i in the owner's cache: its array, and the hot block if
 * it is of that class (a block's class never changes). */
static int cached(buf_pool *p, int i) {
    io_buf *h = hot_of(p);
    return cache_count(&p->cls[i]) + (h != NULL && h->cls == i);
}

/* A snapshot when read off the owner thread. */
static int64_t in_use_of(buf_pool *p, int i) {
    return atomic_load_explicit(&p->cls[i].taken, RELAXED) - cached(p, i);
}

static inline void note_peak(pool_class *pc, int64_t in_use) {
    if (in_use > atomic_load_explicit(&pc->peak, RELAXED)) atomic_store_explicit(&pc->peak, in_use, RELAXED);
}

static void held_add(buf_pool *p, size_t n) { atomic_fetch_add_explicit(&p->held, n, RELAXED); }
static void held_sub(buf_pool *p, size_t n) { atomic_fetch_sub_explicit(&p->held, n, RELAXED); }

static void list_add(pool_class *pc, io_buf *b) { /* under mu */
    b->next = pc->free_list;
    pc->free_list = b;
    pc->free_count++;
}

/* A block that was taken (in use or cached) back on the list. Under mu. */
static void push_free(pool_class *pc, io_buf *b) {
    list_add(pc, b);
    add_i(&pc->taken, -1);
}

/* New blocks for class i onto its free list, all trimmed (untouched). Under mu. */
static int grow_locked(buf_pool *p, int i, size_t count) {
    size_t size = class_size[i];
    if (i < SLAB_CLASSES) {
        size_t per = SLAB_BYTES / size;
        for (size_t made = 0; made < count; made += per) {
            slab *s = malloc(sizeof *s);
            io_buf *hdr = io_buf_headers_new(per);
            void *mem = mmap(NULL, SLAB_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (!s || !hdr || mem == MAP_FAILED) {
                free(s);
                free(hdr);
                if (mem != MAP_FAILED) munmap(mem, SLAB_BYTES);
                return -1;
            }
            s->mem = mem;
            s->headers = hdr;
            s->next = p->slabs;
            p->slabs = s;
            for (size_t k = per; k-- > 0;) {
                io_buf *b = &hdr[k];
                b->capacity = size;
                b->data = s->mem + k * size;
                b->cls = i;
                b->flags = BLOCK_FREE | BLOCK_TRIMMED;
                list_add(&p->cls[i], b);
            }
        }
        return 0;
    }
    for (size_t made = 0; made < count; made++) {
        io_buf *b = io_buf_headers_new(1);
        void *mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (!b || mem == MAP_FAILED) {
            free(b);
            if (mem != MAP_FAILED) munmap(mem, size);
            return -1;
        }
        b->capacity = size;
        b->data = mem;
        b->cls = i;
        b->flags = BLOCK_FREE | BLOCK_TRIMMED;
        list_add(&p->cls[i], b);
    }
    return 0;
}

/* Give back the pages of committed free blocks, skipping class `keep`
 * (-1: none), until `want` bytes are released (0: all). Under mu. */
static size_t trim_locked(buf_pool *p, int keep, size_t want) {
    size_t released = 0;
    for (int i = SL_NUM_CLASSES - 1; i >= 0; i--) {
        if (i == keep) continue;
        pool_class *pc = &p->cls[i];
        io_buf **link = &pc->free_list;
        while (*link) {
            io_buf *b = *link;
            if (b->flags & BLOCK_TRIMMED) {
                link = &b->next;
                continue;
            }
            if (i < SLAB_CLASSES) {
                madvise(b->data, b->capacity, MADV_DONTNEED);
                b->flags |= BLOCK_TRIMMED;
                link = &b->next;
            } else { /* one mapping per block: unmap it and forget the block */
                *link = b->next;
                pc->free_count--;
                munmap(b->data, b->capacity);
                free(b);
            }
            released += class_size[i];
            held_sub(p, class_size[i]);
            if (want && released >= want) return released;
        }
    }
    return released;
}

/* The owner's cached blocks back on their lists, where trim_locked can
 * reach them. Under mu, from the owner thread only. */
static void caches_to_lists_locked(buf_pool *p) {
    for (int i = 0; i < SL_NUM_CLASSES; i++) {
        pool_class *pc = &p->cls[i];
        for (int k = cache_count(pc); k > 0; k--) push_free(pc, pc->cache[k - 1]);
        set_cache_count(pc, 0);
    }
    io_buf *h = hot_of(p);
    if (h) push_free(&p->cls[h->cls], h);
    set_hot(p, NULL);
}

/* Take one block of class i from its list, committing it if trimmed. Under
 * mu; owner: the caller is the owner thread (its cache may be emptied). */
static io_buf *pop_locked(buf_pool *p, int i, int owner) {
    pool_class *pc = &p->cls[i];
    size_t size = class_size[i];
    if (!pc->free_list && grow_locked(p, i, i < SLAB_CLASSES ? SLAB_BYTES / size : 1) != 0) return NULL;
    io_buf *b = pc->free_list;
    if (b->flags & BLOCK_TRIMMED) {
        size_t limit = atomic_load_explicit(&p->limit, RELAXED);
        size_t held = atomic_load_explicit(&p->held, RELAXED);
        if (held + size > limit) {
            /* Committed blocks in the owner's cache count in held too. */
            if (owner) caches_to_lists_locked(p);
            trim_locked(p, i, held + size - limit);
            held = atomic_load_explicit(&p->held, RELAXED);
            if (held + size > limit) return NULL;
        }
        held_add(p, size);
        b->flags &= ~BLOCK_TRIMMED;
    }
    pc->free_list = b->next;
    pc->free_count--;
    add_i(&pc->taken, 1);
    return b;
}

buf_pool *buf_pool_new(const size_t *prealloc, size_t limit) {
    buf_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    pthread_mutex_init(&p->mu, NULL);
    p->owner = &owner_mark;
    for (int i = 0; i < SL_NUM_CLASSES; i++) p->cls[i].cache_max = cache_max[i];
    atomic_store(&p->limit, limit ? limit : SL_POOL_DEFAULT_LIMIT);
    const size_t *counts = prealloc ? prealloc : default_prealloc;
    pthread_mutex_lock(&p->mu);
    for (int i = 0; i < SL_NUM_CLASSES; i++)
        if (counts[i] && grow_locked(p, i, counts[i]) != 0) break; /* what fits is kept */
    pthread_mutex_unlock(&p->mu);
    return p;
}

void buf_pool_free(buf_pool *p) {
    if (!p) return;
    io_buf *h = hot_of(p); /* onto its list, which the loop below unmaps for large classes */
    if (h) push_free(&p->cls[h->cls], h);
    set_hot(p, NULL);
    for (int i = 0; i < SL_NUM_CLASSES; i++) {
        pool_class *pc = &p->cls[i];
        for (int k = 0; k < cache_count(pc); k++) push_free(pc, pc->cache[k]);
        set_cache_count(pc, 0);
        if (i >= SLAB_CLASSES) {
            for (io_buf *b = pc->free_list, *n; b; b = n) {
                n = b->next;
                munmap(b->data, b->capacity);
                free(b);
            }
        }
    }
    for (slab *s = p->slabs, *n; s; s = n) {
        n = s->next;
        munmap(s->mem, SLAB_BYTES);
        free(s->headers);
        free(s);
    }
    pthread_mutex_destroy(&p->mu);
    free(p);
}

/* The slow paths are functions of their own, so that the owner's cache
 * path saves no registers and takes no frame: it is a leaf that either
 * returns or jumps here. */
static __attribute__((noinline)) io_buf *alloc_slow(buf_pool *p, int i) {
    pool_class *pc = &p->cls[i];
    int owner = IS_OWNER(p);
    pthread_mutex_lock(&p->mu);
    io_buf *b = pop_locked(p, i, owner);
    if (b) {
        add_u(owner ? &pc->allocs_owner : &pc->allocs_locked, 1);
        note_peak(pc, in_use_of(p, i));
    }
    pthread_mutex_unlock(&p->mu);
    if (!b) {
        atomic_fetch_add_explicit(&pc->failures, 1, RELAXED);
        return NULL;
    }
    b->next = NULL;
    b->flags = 0; /* head and length were reset by revert (or never set) */
    return b;
}

io_buf *buf_pool_alloc_buf(buf_pool *p, size_t n) {
    int i = class_of(n);
    if (i < 0) return NULL;
    pool_class *pc = &p->cls[i];
    int k;
    io_buf *b;
    if (__builtin_expect(!IS_OWNER(p), 0)) return alloc_slow(p, i);
    /* A cached block was reset by revert: head, length 0, next NULL. */
    if (__builtin_expect((b = hot_of(p)) != NULL && b->cls == i, 1)) {
        set_hot(p, NULL);
        add_u(&pc->allocs_owner, 1);
        b->flags = 0;
        note_peak(pc, atomic_load_explicit(&pc->taken, RELAXED) - cache_count(pc));
        return b;
    }
    if (__builtin_expect((k = cache_count(pc)) > 0, 1)) { /* the hot block is not of class i */
        b = pc->cache[k - 1];
        set_cache_count(pc, k - 1);
        add_u(&pc->allocs_owner, 1);
        b->flags = 0;
        note_peak(pc, atomic_load_explicit(&pc->taken, RELAXED) - (k - 1));
        return b;
    }
    return alloc_slow(p, i);
}

/* Owner: the hot block's class has its array full. The upper half of it
 * goes to the list, the hot block into the array (or to the list where the
 * class has no array), and b becomes the hot block, so the last block given
 * back is the next one out of its class. Other threads: b to its list. */
static __attribute__((noinline)) void revert_slow(buf_pool *p, io_buf *b) {
    pthread_mutex_lock(&p->mu);
    if (IS_OWNER(p)) {
        io_buf *old = hot_of(p);
        pool_class *oc = &p->cls[old->cls];
        int k = cache_count(oc);
        for (; k > oc->cache_max / 2; k--) push_free(oc, oc->cache[k - 1]);
        if (k < oc->cache_max)
            oc->cache[k++] = old;
        else
            push_free(oc, old);
        set_cache_count(oc, k);
        set_hot(p, b);
    } else {
        push_free(&p->cls[b->cls], b);
    }
    pthread_mutex_unlock(&p->mu);
}

void buf_pool_revert(buf_pool *p, io_buf *b) {
    if (!b) return;
    if ((unsigned)b->cls >= SL_NUM_CLASSES || (b->flags & BLOCK_FREE)) return; /* not ours, or twice */
    b->head = b->length = 0;
    b->next = NULL;
    b->flags = BLOCK_FREE;
    if (__builtin_expect(!IS_OWNER(p), 0)) {
        revert_slow(p, b);
        return;
    }
    /* b becomes the hot block; the one it displaces goes on its class's array. */
    io_buf *old = hot_of(p);
    if (__builtin_expect(old == NULL, 1)) {
        set_hot(p, b);
        return;
    }
    pool_class *oc = &p->cls[old->cls];
    int k = cache_count(oc);
    if (__builtin_expect(k < oc->cache_max, 1)) {
        oc->cache[k] = old;
        set_cache_count(oc, k + 1);
        set_hot(p, b);
        return;
    }
    revert_slow(p, b);
}

void buf_pool_set_limit(buf_pool *p, size_t limit) {
    atomic_store(&p->limit, limit ? limit : SL_POOL_DEFAULT_LIMIT);
}

size_t buf_pool_trim(buf_pool *p) {
    int owner = IS_OWNER(p);
    pthread_mutex_lock(&p->mu);
    if (owner) caches_to_lists_locked(p); /* the caches' blocks go back to the lists first */
    size_t released = trim_locked(p, -1, 0);
    pthread_mutex_unlock(&p->mu);
    return released;
}

void buf_pool_get_stats(buf_pool *p, buf_pool_stats *out) {
    memset(out, 0, sizeof *out);
    out->limit = atomic_load(&p->limit);
    out->held_bytes = atomic_load(&p->held);
    pthread_mutex_lock(&p->mu);
    for (int i = 0; i < SL_NUM_CLASSES; i++) {
        pool_class *pc = &p->cls[i];
        buf_pool_class_stats *s = &out->cls[i];
        s->block_size = class_size[i];
        int64_t in_use = in_use_of(p, i);
        s->in_use = in_use > 0 ? (size_t)in_use : 0;
        /* the owner's cache count is read without its writer: a snapshot */
        s->free = pc->free_count + (size_t)cached(p, i);
        s->peak = (size_t)atomic_load_explicit(&pc->peak, RELAXED);
        s->allocs = atomic_load_explicit(&pc->allocs_owner, RELAXED) +
                    atomic_load_explicit(&pc->allocs_locked, RELAXED);
        s->failures = atomic_load_explicit(&pc->failures, RELAXED);
        out->in_use_bytes += s->in_use * class_size[i];
    }
    pthread_mutex_unlock(&p->mu);
}

/* ---- the process's pool ------------------------------------------------ */

static pthread_mutex_t instance_mu = PTHREAD_MUTEX_INITIALIZER;
static buf_pool *instance;
static int atfork_registered;

/* In a forked child the parent's pool is abandoned, not freed: its blocks
 * may still be referenced by copies of the parent's structures, and its
 * mutex may have been held by a thread that does not exist here. */
static void forget_instance_in_child(void) {
    pthread_mutex_init(&instance_mu, NULL);
    instance = NULL;
}

buf_pool *buf_pool_instance(void) {
    pthread_mutex_lock(&instance_mu);
    if (!instance) {
        if (!atfork_registered) {
            pthread_atfork(NULL, NULL, forget_instance_in_child);
            atfork_registered = 1;
        }
        instance = buf_pool_new(NULL, 0);
    }
    buf_pool *p = instance;
    pthread_mutex_unlock(&instance_mu);
    return p;
}
