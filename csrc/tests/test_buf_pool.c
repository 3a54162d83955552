/*
 * test_buf_pool.c - the pool of size-classed blocks: classes, reuse, the
 * limit, stats, trim, double reverts, other threads, fork.
 *
 * Most tests use a private pool with nothing preallocated, so the stats
 * they check come from what the test did alone.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

#define K ((size_t)1 << 10)
#define M ((size_t)1 << 20)

static const size_t no_prealloc[SL_NUM_CLASSES] = {0};

static buf_pool *empty_pool(size_t limit) {
    buf_pool *p = buf_pool_new(no_prealloc, limit);
    REQUIRE(p != NULL);
    return p;
}

static buf_pool_stats stats_of(buf_pool *p) {
    buf_pool_stats s;
    buf_pool_get_stats(p, &s);
    return s;
}

static size_t total_in_use(const buf_pool_stats *s) {
    size_t n = 0;
    for (int i = 0; i < SL_NUM_CLASSES; i++) n += s->cls[i].in_use;
    return n;
}

/* Write the first and last byte of every page: the block is really there. */
static void touch(io_buf *b) {
    for (size_t off = 0; off < b->capacity; off += 4096) b->data[off] = (char)off;
    b->data[b->capacity - 1] = 1;
}

TEST(buf_pool_class_sizes_are_4k_to_8m) {
    const size_t want[SL_NUM_CLASSES] = {4 * K, 16 * K, 64 * K, 256 * K, 1 * M, 4 * M, 8 * M};
    for (int i = 0; i < SL_NUM_CLASSES; i++) CHECK_EQ_U(buf_pool_class_size(i), want[i]);
    CHECK_EQ_U(buf_pool_class_size(-1), 0);
    CHECK_EQ_U(buf_pool_class_size(SL_NUM_CLASSES), 0);
}

TEST(buf_pool_alloc_gives_each_class_its_size) {
    buf_pool *p = empty_pool(0);
    for (int i = 0; i < SL_NUM_CLASSES; i++) {
        size_t size = buf_pool_class_size(i);
        io_buf *b = buf_pool_alloc_buf(p, size);
        REQUIRE(b != NULL);
        CHECK_EQ_U(b->capacity, size);
        CHECK_EQ_I(b->cls, i);
        CHECK_EQ_U(b->head, 0);
        CHECK_EQ_U(b->length, 0);
        CHECK(b->next == NULL);
        touch(b); /* the whole capacity is writable */
        buf_pool_revert(p, b);
    }
    buf_pool_free(p);
}

/* alloc_buf(n) takes the smallest class >= n: one below, at and above each
 * boundary. 16384 must give 16K (the seed's off-by-one gave 64K). */
TEST(buf_pool_alloc_takes_smallest_class_that_fits) {
    struct {
        size_t n, want;
    } cases[] = {
        {0, 4 * K},
        {1, 4 * K},
        {4 * K - 1, 4 * K},
        {4 * K, 4 * K},
        {4 * K + 1, 16 * K},
        {16 * K - 1, 16 * K},
        {16 * K, 16 * K},
        {16 * K + 1, 64 * K},
        {64 * K, 64 * K},
        {64 * K + 1, 256 * K},
        {256 * K, 256 * K},
        {256 * K + 1, M},
        {M, M},
        {M + 1, 4 * M},
        {4 * M, 4 * M},
        {4 * M + 1, 8 * M},
        {8 * M, 8 * M},
    };
    buf_pool *p = empty_pool(0);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        io_buf *b = buf_pool_alloc_buf(p, cases[i].n);
        CHECKF(b && b->capacity == cases[i].want, "alloc_buf(%zu): capacity %zu, want %zu", cases[i].n,
               b ? b->capacity : 0, cases[i].want);
        buf_pool_revert(p, b);
    }
    buf_pool_free(p);
}

TEST(buf_pool_alloc_above_8m_is_null) {
    buf_pool *p = empty_pool(0);
    CHECK(buf_pool_alloc_buf(p, 8 * M + 1) == NULL);
    CHECK(buf_pool_alloc_buf(p, SIZE_MAX) == NULL);
    buf_pool_stats s = stats_of(p);
    CHECK_EQ_U(total_in_use(&s), 0);
    CHECK_EQ_I(buf_pool_class_of(8 * M + 1), -1);
    buf_pool_free(p);
}

TEST(buf_pool_revert_resets_head_and_length) {
    buf_pool *p = empty_pool(0);
    io_buf *b = buf_pool_alloc_buf(p, 100);
    REQUIRE(b != NULL);
    b->head = 10;
    b->length = 100;
    buf_pool_revert(p, b);
    CHECK_EQ_U(b->head, 0);
    CHECK_EQ_U(b->length, 0);
    io_buf *again = buf_pool_alloc_buf(p, 100);
    CHECK(again == b);
    CHECK_EQ_U(again->head, 0);
    CHECK_EQ_U(again->length, 0);
    buf_pool_revert(p, again);
    buf_pool_free(p);
}

/* The last block given back is the first handed out again: through the
 * owner's cache (4K) and through the locked list (8M has no cache). */
TEST(buf_pool_reverted_blocks_are_reused_lifo) {
    buf_pool *p = empty_pool(0);
    size_t sizes[] = {4 * K, 8 * M};
    for (int k = 0; k < 2; k++) {
        io_buf *a = buf_pool_alloc_buf(p, sizes[k]);
        io_buf *b = buf_pool_alloc_buf(p, sizes[k]);
        REQUIRE(a && b && a != b);
        buf_pool_revert(p, a);
        buf_pool_revert(p, b);
        io_buf *x = buf_pool_alloc_buf(p, sizes[k]);
        io_buf *y = buf_pool_alloc_buf(p, sizes[k]);
        CHECKF(x == b && y == a, "class %zu: got %p %p, want %p %p", sizes[k], (void *)x, (void *)y,
               (void *)b, (void *)a);
        buf_pool_revert(p, x);
        buf_pool_revert(p, y);
    }
    buf_pool_free(p);
}

/* The owner's last given-back block (of any class) is kept apart as the
 * hot one; a block given back after it pushes it onto its own class's
 * cache. Each class stays last-in first-out across that, and the stats
 * count the hot block as free in its class only. */
TEST(buf_pool_lifo_per_class_across_the_hot_block) {
    buf_pool *p = empty_pool(0);
    io_buf *a4 = buf_pool_alloc_buf(p, 4 * K), *b4 = buf_pool_alloc_buf(p, 4 * K);
    io_buf *c16 = buf_pool_alloc_buf(p, 16 * K), *d8m = buf_pool_alloc_buf(p, 8 * M);
    REQUIRE(a4 && b4 && c16 && d8m);
    buf_pool_revert(p, a4);
    buf_pool_revert(p, b4);
    buf_pool_revert(p, c16); /* hot: c16; b4 on top of 4K's cache */
    buf_pool_stats s = stats_of(p);
    CHECK_EQ_U(s.cls[0].in_use, 0);
    CHECK_EQ_U(s.cls[1].in_use, 0);
    CHECK_EQ_U(s.cls[6].in_use, 1);
    CHECK_EQ_U(s.cls[1].free, 1 * M / (16 * K));
    CHECK_EQ_U(s.cls[0].free, 1 * M / (4 * K));
    buf_pool_revert(p, d8m); /* hot: d8m (8M has no cache); c16 on 16K's */
    s = stats_of(p);
    CHECK_EQ_U(s.cls[6].in_use, 0);
    CHECK_EQ_U(s.cls[6].free, 1);
    CHECK_EQ_U(s.cls[1].free, 1 * M / (16 * K));
    CHECK(buf_pool_alloc_buf(p, 4 * K) == b4);
    CHECK(buf_pool_alloc_buf(p, 16 * K) == c16);
    CHECK(buf_pool_alloc_buf(p, 4 * K) == a4);
    CHECK(buf_pool_alloc_buf(p, 8 * M) == d8m);
    s = stats_of(p);
    CHECK_EQ_U(s.cls[0].in_use, 2);
    CHECK_EQ_U(s.cls[1].in_use, 1);
    CHECK_EQ_U(s.cls[6].in_use, 1);
    CHECK_EQ_U(s.cls[0].peak, 2);
    CHECK_EQ_U(s.cls[6].peak, 1);
    buf_pool_revert(p, a4);
    buf_pool_revert(p, b4);
    buf_pool_revert(p, c16);
    buf_pool_revert(p, d8m);
    s = stats_of(p);
    CHECK_EQ_U(total_in_use(&s), 0);
    buf_pool_free(p);
}

/* Past the limit alloc_buf returns NULL, counts a failure in that class and
 * the process goes on; a block given back can be had again. */
TEST(buf_pool_limit_refuses_and_counts_failure) {
    buf_pool *p = empty_pool(64 * K);
    io_buf *b[4];
    for (int i = 0; i < 4; i++) REQUIRE((b[i] = buf_pool_alloc_buf(p, 16 * K)) != NULL);
    CHECK(buf_pool_alloc_buf(p, 16 * K) == NULL);
    CHECK(buf_pool_alloc_buf(p, 4 * K) == NULL);
    buf_pool_stats s = stats_of(p);
    CHECK_EQ_U(s.limit, 64 * K);
    CHECK_EQ_U(s.cls[1].failures, 1);
    CHECK_EQ_U(s.cls[1].allocs, 4);
    CHECK_EQ_U(s.cls[1].in_use, 4);
    CHECK_EQ_U(s.cls[0].failures, 1);
    CHECK_EQ_U(s.cls[0].allocs, 0);
    CHECK_EQ_U(s.held_bytes, 64 * K);
    buf_pool_revert(p, b[3]);
    b[3] = buf_pool_alloc_buf(p, 16 * K);
    CHECK(b[3] != NULL);
    for (int i = 0; i < 4; i++) buf_pool_revert(p, b[i]);
    buf_pool_free(p);
}

TEST(buf_pool_set_limit_zero_means_default) {
    buf_pool *p = empty_pool(4 * K);
    CHECK_EQ_U(stats_of(p).limit, 4 * K);
    buf_pool_set_limit(p, 0);
    CHECK_EQ_U(stats_of(p).limit, SL_POOL_DEFAULT_LIMIT);
    io_buf *b = buf_pool_alloc_buf(p, 64 * K); /* refused before, fine now */
    CHECK(b != NULL);
    buf_pool_revert(p, b);
    buf_pool_free(p);
}

/* Committed free blocks of another class are given back before the limit
 * refuses: here a 4M block on its class's list makes room for an 8M one. */
TEST(buf_pool_limit_frees_other_classes_listed_blocks) {
    buf_pool *p = empty_pool(8 * M);
    io_buf *a = buf_pool_alloc_buf(p, 4 * M);
    REQUIRE(a != NULL);
    touch(a);
    buf_pool_revert(p, a);
    CHECK_EQ_U(stats_of(p).held_bytes, 4 * M);
    io_buf *big = buf_pool_alloc_buf(p, 8 * M);
    CHECK(big != NULL);
    buf_pool_stats s = stats_of(p);
    CHECK_EQ_U(s.held_bytes, 8 * M);
    CHECK_EQ_U(s.cls[6].failures, 0);
    CHECK_EQ_U(s.cls[5].free, 0); /* its mapping went back to the OS */
    buf_pool_revert(p, big);
    buf_pool_free(p);
}

/* The same when the committed free blocks sit in the owner thread's
 * lock-free cache (1M and 64K reverted by the owner go there). */
TEST(buf_pool_limit_frees_owner_cached_blocks) { /* failed before patch 01 (a9537b8) */
    buf_pool *p = empty_pool(8 * M);
    io_buf *a = buf_pool_alloc_buf(p, 1 * M);
    io_buf *b = buf_pool_alloc_buf(p, 64 * K);
    REQUIRE(a && b);
    buf_pool_revert(p, a);
    buf_pool_revert(p, b);
    CHECK_EQ_U(stats_of(p).held_bytes, 1 * M + 64 * K);
    io_buf *big = buf_pool_alloc_buf(p, 8 * M);
    CHECK(big != NULL);
    buf_pool_stats s = stats_of(p);
    CHECK_EQ_U(s.cls[6].failures, 0);
    CHECK(s.held_bytes <= 8 * M);
    buf_pool_revert(p, big);
    buf_pool_free(p);
}

TEST(buf_pool_stats_count_per_class) {
    buf_pool *p = empty_pool(0);
    io_buf *small[3], *mid[2];
    for (int i = 0; i < 3; i++) REQUIRE((small[i] = buf_pool_alloc_buf(p, 100)) != NULL);
    for (int i = 0; i < 2; i++) REQUIRE((mid[i] = buf_pool_alloc_buf(p, 40 * K)) != NULL);
    buf_pool_revert(p, small[2]);
    buf_pool_stats s = stats_of(p);
    for (int i = 0; i < SL_NUM_CLASSES; i++) CHECK_EQ_U(s.cls[i].block_size, buf_pool_class_size(i));
    CHECK_EQ_U(s.cls[0].in_use, 2);
    CHECK_EQ_U(s.cls[0].peak, 3);
    CHECK_EQ_U(s.cls[0].allocs, 3);
    CHECK_EQ_U(s.cls[0].failures, 0);
    CHECK_EQ_U(s.cls[0].free, 1 * M / (4 * K) - 2); /* one 1 MiB slab of 4K blocks */
    CHECK_EQ_U(s.cls[2].in_use, 2);
    CHECK_EQ_U(s.cls[2].peak, 2);
    CHECK_EQ_U(s.cls[2].allocs, 2);
    CHECK_EQ_U(s.cls[2].free, 1 * M / (64 * K) - 2);
    CHECK_EQ_U(s.cls[1].allocs, 0);
    CHECK_EQ_U(s.cls[1].free, 0);
    CHECK_EQ_U(s.in_use_bytes, 2 * 4 * K + 2 * 64 * K);
    CHECK_EQ_U(s.held_bytes, 3 * 4 * K + 2 * 64 * K); /* the reverted 4K is still committed */
    CHECK_EQ_U(s.limit, SL_POOL_DEFAULT_LIMIT);
    buf_pool_revert(p, small[0]);
    buf_pool_revert(p, small[1]);
    for (int i = 0; i < 2; i++) buf_pool_revert(p, mid[i]);
    s = stats_of(p);
    CHECK_EQ_U(total_in_use(&s), 0);
    CHECK_EQ_U(s.cls[0].peak, 3);
    buf_pool_free(p);
}

/* in_use and peak are exact across the owner's cache, its spills to the
 * list (revert past cache_max) and refills (alloc with the cache empty),
 * and allocations by another thread: in_use = blocks off the list minus
 * the cache, so none of these moves may change it by more than the block. */
static void *alloc_two_4k(void *arg) {
    io_buf **out = arg;
    buf_pool *p = (buf_pool *)out[0];
    out[0] = buf_pool_alloc_buf(p, 4 * K);
    out[1] = buf_pool_alloc_buf(p, 4 * K);
    return NULL;
}

TEST(buf_pool_in_use_and_peak_exact_across_cache_spills) {
    buf_pool *p = empty_pool(0);
    enum { N = 100 };
    io_buf *b[N];
    for (int i = 0; i < N; i++) REQUIRE((b[i] = buf_pool_alloc_buf(p, 4 * K)) != NULL);
    buf_pool_stats s = stats_of(p);
    CHECK_EQ_U(s.cls[0].in_use, N);
    CHECK_EQ_U(s.cls[0].peak, N);
    for (int i = 0; i < 70; i++) buf_pool_revert(p, b[i]); /* fills the cache, spills half, twice */
    s = stats_of(p);
    CHECK_EQ_U(s.cls[0].in_use, N - 70);
    CHECK_EQ_U(s.cls[0].free, 1 * M / (4 * K) - (N - 70));
    for (int i = 0; i < 60; i++)
        REQUIRE((b[i] = buf_pool_alloc_buf(p, 4 * K)) != NULL); /* cache, then list */
    s = stats_of(p);
    CHECK_EQ_U(s.cls[0].in_use, N - 10);
    CHECK_EQ_U(s.cls[0].peak, N);
    CHECK_EQ_U(s.cls[0].allocs, N + 60);
    io_buf *theirs[2] = {(io_buf *)p, NULL};
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, alloc_two_4k, theirs) == 0);
    pthread_join(t, NULL);
    REQUIRE(theirs[0] != NULL && theirs[1] != NULL);
    for (int i = 60; i < 70; i++) REQUIRE((b[i] = buf_pool_alloc_buf(p, 4 * K)) != NULL);
    s = stats_of(p);
    CHECK_EQ_U(s.cls[0].in_use, N + 2);
    CHECK_EQ_U(s.cls[0].peak, N + 2);
    CHECK_EQ_U(s.cls[0].allocs, N + 72);
    buf_pool_revert(p, theirs[0]); /* the owner gives back a block it did not take */
    buf_pool_revert(p, theirs[1]);
    for (int i = 0; i < N; i++) buf_pool_revert(p, b[i]);
    s = stats_of(p);
    CHECK_EQ_U(s.cls[0].in_use, 0);
    CHECK_EQ_U(s.cls[0].peak, N + 2);
    CHECK_EQ_U(s.cls[0].free, 1 * M / (4 * K));
    buf_pool_free(p);
}

/* The defaults preallocate per class (slab classes rounded up to whole
 * 1 MiB slabs) without touching a page: nothing counts as held. */
TEST(buf_pool_default_prealloc_is_listed_not_held) {
    buf_pool *p = buf_pool_new(NULL, 0);
    REQUIRE(p != NULL);
    buf_pool_stats s = stats_of(p);
    const size_t want[SL_NUM_CLASSES] = {512, 128, 32, 8, 4, 2, 1};
    for (int i = 0; i < SL_NUM_CLASSES; i++) CHECK_EQ_U(s.cls[i].free, want[i]);
    CHECK_EQ_U(s.held_bytes, 0);
    CHECK_EQ_U(total_in_use(&s), 0);
    buf_pool_free(p);
}

TEST(buf_pool_trim_releases_free_bytes) {
    buf_pool *p = empty_pool(0);
    io_buf *a = buf_pool_alloc_buf(p, 8 * M), *b = buf_pool_alloc_buf(p, 64 * K),
           *c = buf_pool_alloc_buf(p, 4 * K), *kept = buf_pool_alloc_buf(p, 4 * K);
    REQUIRE(a && b && c && kept);
    touch(a);
    touch(b);
    touch(c);
    buf_pool_revert(p, a);
    buf_pool_revert(p, b);
    buf_pool_revert(p, c);
    size_t before = stats_of(p).held_bytes;
    CHECK_EQ_U(before, 8 * M + 64 * K + 2 * 4 * K);
    size_t released = buf_pool_trim(p);
    CHECK_EQ_U(released, 8 * M + 64 * K + 4 * K); /* every free block; not the one in use */
    buf_pool_stats s = stats_of(p);
    CHECK_EQ_U(s.held_bytes, 4 * K);
    CHECK_EQ_U(s.cls[6].free, 0);                  /* unmapped and forgotten */
    CHECK_EQ_U(s.cls[2].free, 1 * M / (64 * K));   /* slab blocks stay listed, trimmed */
    CHECK_EQ_U(buf_pool_trim(p), 0);               /* nothing left to give */
    io_buf *again = buf_pool_alloc_buf(p, 64 * K); /* a trimmed block counts once more */
    REQUIRE(again != NULL);
    CHECK_EQ_U(stats_of(p).held_bytes, 64 * K + 4 * K);
    buf_pool_revert(p, again);
    buf_pool_revert(p, kept);
    buf_pool_free(p);
}

static size_t resident_pages(void *addr, size_t len) {
    size_t pages = len / 4096, n = 0;
    unsigned char *vec = calloc(pages, 1);
    REQUIRE(vec != NULL);
    REQUIRE(mincore(addr, len, vec) == 0);
    for (size_t i = 0; i < pages; i++) n += vec[i] & 1;
    free(vec);
    return n;
}

/* A slab block's pages are dropped (MADV_DONTNEED): mincore says so. */
TEST(buf_pool_trim_drops_slab_block_pages) {
    buf_pool *p = empty_pool(0);
    io_buf *b = buf_pool_alloc_buf(p, 64 * K);
    REQUIRE(b != NULL);
    touch(b);
    char *data = b->data;
    CHECK_EQ_U(resident_pages(data, 64 * K), 16);
    buf_pool_revert(p, b);
    CHECK_EQ_U(resident_pages(data, 64 * K), 16); /* free but committed: kept */
    buf_pool_trim(p);
    CHECK_EQ_U(resident_pages(data, 64 * K), 0);
    buf_pool_free(p);
}

/* A large block is unmapped: the process's RSS falls by about its size. */
TEST(buf_pool_trim_returns_large_block_to_os) {
    buf_pool *p = empty_pool(0);
    io_buf *b = buf_pool_alloc_buf(p, 8 * M);
    REQUIRE(b != NULL);
    long rss0 = tu_rss_kb();
    touch(b);
    long rss1 = tu_rss_kb();
    REQUIRE(rss0 > 0 && rss1 > 0);
    CHECKF(rss1 - rss0 > 6 * 1024, "touching 8 MiB raised RSS by %ld KiB only", rss1 - rss0);
    buf_pool_revert(p, b);
    size_t released = buf_pool_trim(p);
    long rss2 = tu_rss_kb();
    CHECK_EQ_U(released, 8 * M);
    CHECKF(rss1 - rss2 > 6 * 1024, "trim lowered RSS by %ld KiB only (from %ld)", rss1 - rss2, rss1);
    buf_pool_free(p);
}

/* Reverting twice is ignored: the block is listed once, the stats count one
 * give-back, and two allocs get two different blocks. */
TEST(buf_pool_double_revert_is_ignored) {
    buf_pool *p = empty_pool(0);
    size_t sizes[] = {4 * K, 8 * M}; /* the owner's cache, and the list */
    for (int k = 0; k < 2; k++) {
        int cls = buf_pool_class_of(sizes[k]);
        io_buf *a = buf_pool_alloc_buf(p, sizes[k]);
        REQUIRE(a != NULL);
        buf_pool_revert(p, a);
        buf_pool_revert(p, a);
        CHECK_EQ_U(stats_of(p).cls[cls].in_use, 0);
        io_buf *x = buf_pool_alloc_buf(p, sizes[k]);
        io_buf *y = buf_pool_alloc_buf(p, sizes[k]);
        REQUIRE(x && y);
        CHECKF(x != y, "class %d: one block handed out twice", cls);
        CHECK(x == a || y == a);
        CHECK_EQ_U(stats_of(p).cls[cls].in_use, 2);
        buf_pool_revert(p, x);
        buf_pool_revert(p, y);
        CHECK_EQ_U(stats_of(p).cls[cls].in_use, 0);
    }
    buf_pool_free(p);
}

/* ---- other threads ------------------------------------------------------- */

typedef struct revert_job {
    buf_pool *pool;
    io_buf **blocks;
    size_t n;
} revert_job;

static void *revert_all(void *arg) {
    revert_job *j = arg;
    for (size_t i = 0; i < j->n; i++) buf_pool_revert(j->pool, j->blocks[i]);
    return NULL;
}

TEST(buf_pool_revert_from_another_thread) {
    buf_pool *p = empty_pool(0);
    enum { N_SMALL = 40, N_MID = 3, N_BIG = 2, N = N_SMALL + N_MID + N_BIG };
    io_buf *blocks[N];
    size_t n = 0;
    for (int i = 0; i < N_SMALL; i++) blocks[n++] = buf_pool_alloc_buf(p, 4 * K);
    for (int i = 0; i < N_MID; i++) blocks[n++] = buf_pool_alloc_buf(p, 256 * K);
    for (int i = 0; i < N_BIG; i++) blocks[n++] = buf_pool_alloc_buf(p, 4 * M);
    for (size_t i = 0; i < n; i++) REQUIRE(blocks[i] != NULL);
    size_t held = stats_of(p).held_bytes;
    revert_job job = {p, blocks, n};
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, revert_all, &job) == 0);
    pthread_join(t, NULL);
    buf_pool_stats s = stats_of(p);
    CHECK_EQ_U(total_in_use(&s), 0);
    CHECK_EQ_U(s.cls[0].free, 1 * M / (4 * K));
    CHECK_EQ_U(s.cls[3].free, N_MID);
    CHECK_EQ_U(s.cls[5].free, N_BIG);
    CHECK_EQ_U(s.held_bytes, held); /* given back, still committed */
    /* The owner gets them back, each once. */
    io_buf *again[N_SMALL];
    for (int i = 0; i < N_SMALL; i++) {
        again[i] = buf_pool_alloc_buf(p, 4 * K);
        REQUIRE(again[i] != NULL);
        for (int k = 0; k < i; k++) CHECK(again[k] != again[i]);
    }
    for (int i = 0; i < N_SMALL; i++) buf_pool_revert(p, again[i]);
    CHECK_EQ_U(stats_of(p).cls[0].in_use, 0);
    buf_pool_free(p);
}

/* The owner allocates and hands blocks to a worker that gives them back,
 * while the worker also allocates and reverts its own. A block is marked
 * while someone holds it: one handed out twice would show. */
#define HANDOFF_TOTAL 20000
#define QUEUE_CAP 64
#define MARK 0x5a

typedef struct handoff {
    buf_pool *pool;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    io_buf *q[QUEUE_CAP];
    size_t head, count;
    int done;
    int doubled; /* blocks found marked when handed out */
    size_t worker_allocs;
} handoff;

static void take_block(handoff *h, io_buf *b) {
    if ((unsigned char)b->data[0] == MARK) __atomic_add_fetch(&h->doubled, 1, __ATOMIC_RELAXED);
    b->data[0] = (char)MARK;
}

static void give_block(buf_pool *p, io_buf *b) {
    b->data[0] = 0;
    buf_pool_revert(p, b);
}

static void *worker(void *arg) {
    handoff *h = arg;
    for (;;) {
        pthread_mutex_lock(&h->mu);
        while (!h->count && !h->done) pthread_cond_wait(&h->cv, &h->mu);
        if (!h->count && h->done) {
            pthread_mutex_unlock(&h->mu);
            return NULL;
        }
        io_buf *b = h->q[h->head];
        h->head = (h->head + 1) % QUEUE_CAP;
        h->count--;
        pthread_cond_broadcast(&h->cv);
        pthread_mutex_unlock(&h->mu);
        give_block(h->pool, b);
        io_buf *own = buf_pool_alloc_buf(h->pool, 1 + (h->worker_allocs % 3) * 10 * K);
        if (own) {
            h->worker_allocs++;
            take_block(h, own);
            give_block(h->pool, own);
        }
    }
}

TEST(buf_pool_concurrent_reverts_keep_stats_consistent) {
    handoff h = {.pool = empty_pool(0)};
    pthread_mutex_init(&h.mu, NULL);
    pthread_cond_init(&h.cv, NULL);
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, worker, &h) == 0);
    size_t owner_allocs = 0;
    for (int i = 0; i < HANDOFF_TOTAL; i++) {
        io_buf *b = buf_pool_alloc_buf(h.pool, 1 + (size_t)(i % 3) * 10 * K); /* 4K, 16K, 64K */
        if (!b) continue;
        owner_allocs++;
        take_block(&h, b);
        pthread_mutex_lock(&h.mu);
        while (h.count == QUEUE_CAP) pthread_cond_wait(&h.cv, &h.mu);
        h.q[(h.head + h.count) % QUEUE_CAP] = b;
        h.count++;
        pthread_cond_broadcast(&h.cv);
        pthread_mutex_unlock(&h.mu);
    }
    pthread_mutex_lock(&h.mu);
    h.done = 1;
    pthread_cond_broadcast(&h.cv);
    pthread_mutex_unlock(&h.mu);
    pthread_join(t, NULL);
    CHECK_EQ_I(h.doubled, 0);
    CHECK_EQ_U(owner_allocs, HANDOFF_TOTAL);
    buf_pool_stats s = stats_of(h.pool);
    CHECK_EQ_U(total_in_use(&s), 0);
    CHECK_EQ_U(s.cls[0].allocs + s.cls[1].allocs + s.cls[2].allocs, owner_allocs + h.worker_allocs);
    for (int i = 0; i < 3; i++) CHECK(s.cls[i].peak >= 1 && s.cls[i].peak <= QUEUE_CAP + 2);
    pthread_mutex_destroy(&h.mu);
    pthread_cond_destroy(&h.cv);
    buf_pool_free(h.pool);
}

/* ---- the process's pool ---------------------------------------------------- */

TEST(buf_pool_instance_is_one_per_process_and_new_after_fork) {
    buf_pool *a = buf_pool_instance();
    buf_pool *b = buf_pool_instance();
    REQUIRE(a != NULL);
    CHECK(a == b);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        buf_pool *c = buf_pool_instance();
        int ok = c != NULL && c != a && buf_pool_instance() == c;
        io_buf *blk = ok ? buf_pool_alloc_buf(c, 100) : NULL;
        ok = ok && blk != NULL;
        /* _exit: the parent's pool is abandoned here by design, not leaked */
        _exit(ok ? 0 : 1);
    }
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0,
           "the child's buf_pool_instance() was NULL, the parent's, or unusable (status %d)", status);
    CHECK(buf_pool_instance() == a);
}
