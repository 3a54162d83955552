/*
 * pool_bench.c - Sluice's buffer pool vs glibc malloc+free, one size class.
 *
 *   pool_bench MODE SIZE SAMPLES SAMPLE_MS
 *
 * Built by benchmarks/pool.py with cc -O2 from csrc/ (every .c); prints one JSON
 * object: ns per allocate+release pair, one figure per sample, the pool's
 * and malloc's samples alternated (pool, malloc, pool, ...) after one
 * unrecorded warm-up sample of each. One byte of every block is written, so
 * neither side can skip the block or its page.
 *
 * MODE
 *   single   the pool's owner thread allocates and releases (its lock-free
 *            cache where the class has one; 4M and 8M have none) vs
 *            malloc+free. Thread CPU time.
 *   foreign  the same from a thread that is not the pool's owner: every
 *            alloc and every revert takes the pool's mutex (uncontended).
 *   cross    the owner allocates a batch of BATCH blocks and a second thread
 *            on the other CPU releases them (buf_pool_revert from a foreign
 *            thread, malloc'd blocks freed by another thread): the locked
 *            path with the lock and the blocks moving between cores. Wall
 *            time of the owner, hand-over included, per pair; the hand-over
 *            alone (the same rounds with no block) is reported beside it.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sluice.h"

#define BATCH 32
#define CHUNK 1024 /* pairs between clock reads */

static buf_pool *pool;
static size_t size;
static int samples;
static double sample_ns;

static inline void keep(void *p) { __asm__ volatile("" : : "r"(p) : "memory"); }

static double now_ns(clockid_t clk) {
    struct timespec ts;
    clock_gettime(clk, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* ---- single / foreign: pairs in one thread ------------------------------ */

static double run_pool_pairs(void) {
    double t0 = now_ns(CLOCK_THREAD_CPUTIME_ID), t;
    unsigned long pairs = 0;
    do {
        for (int k = 0; k < CHUNK; k++) {
            io_buf *b = buf_pool_alloc_buf(pool, size);
            if (!b) {
                fprintf(stderr, "pool_bench: the pool refused a %zu-byte block\n", size);
                exit(1);
            }
            ((volatile char *)b->data)[0] = (char)k;
            keep(b->data);
            buf_pool_revert(pool, b);
        }
        pairs += CHUNK;
        t = now_ns(CLOCK_THREAD_CPUTIME_ID);
    } while (t - t0 < sample_ns);
    return (t - t0) / (double)pairs;
}

static double run_malloc_pairs(void) {
    double t0 = now_ns(CLOCK_THREAD_CPUTIME_ID), t;
    unsigned long pairs = 0;
    do {
        for (int k = 0; k < CHUNK; k++) {
            char *p = malloc(size);
            if (!p) {
                fprintf(stderr, "pool_bench: malloc(%zu) failed\n", size);
                exit(1);
            }
            ((volatile char *)p)[0] = (char)k;
            keep(p);
            free(p);
        }
        pairs += CHUNK;
        t = now_ns(CLOCK_THREAD_CPUTIME_ID);
    } while (t - t0 < sample_ns);
    return (t - t0) / (double)pairs;
}

static double pool_out[256], malloc_out[256], handover_out[256];

static void pairs_all(void) {
    run_pool_pairs(); /* warm-up: pages committed, caches filled */
    run_malloc_pairs();
    for (int s = 0; s < samples; s++) {
        pool_out[s] = run_pool_pairs();
        malloc_out[s] = run_malloc_pairs();
    }
}

static void *foreign_main(void *arg) {
    (void)arg;
    pairs_all();
    return NULL;
}

/* ---- cross: allocate here, release there -------------------------------- */

static void *slots[BATCH];
static _Atomic int turn; /* 0: the owner fills the slots; 1: the releaser empties them */
static _Atomic int stop;
static _Atomic int use_pool;

static void *releaser_main(void *arg) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(*(int *)arg, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
    for (;;) {
        while (atomic_load_explicit(&turn, memory_order_acquire) == 0) {
            if (atomic_load_explicit(&stop, memory_order_relaxed)) return NULL;
            __builtin_ia32_pause();
        }
        int p = atomic_load_explicit(&use_pool, memory_order_relaxed);
        for (int k = 0; k < BATCH && p != 2; k++) {
            if (p)
                buf_pool_revert(pool, slots[k]);
            else
                free(slots[k]);
        }
        atomic_store_explicit(&turn, 0, memory_order_release);
    }
}

/* p: 1 the pool, 0 malloc, 2 neither (the hand-over alone) */
static double run_cross(int p) {
    atomic_store(&use_pool, p);
    double t0 = now_ns(CLOCK_MONOTONIC), t;
    unsigned long pairs = 0;
    do {
        for (int round = 0; round < CHUNK / BATCH; round++) {
            for (int k = 0; k < BATCH; k++) {
                char *data;
                if (p == 2) {
                    slots[k] = data = (char *)&slots[k];
                } else if (p) {
                    io_buf *b = buf_pool_alloc_buf(pool, size);
                    if (!b) {
                        fprintf(stderr, "pool_bench: the pool refused a %zu-byte block\n", size);
                        exit(1);
                    }
                    slots[k] = b;
                    data = b->data;
                } else {
                    data = malloc(size);
                    if (!data) {
                        fprintf(stderr, "pool_bench: malloc(%zu) failed\n", size);
                        exit(1);
                    }
                    slots[k] = data;
                }
                ((volatile char *)data)[0] = (char)k;
                keep(data);
            }
            atomic_store_explicit(&turn, 1, memory_order_release);
            while (atomic_load_explicit(&turn, memory_order_acquire) == 1) __builtin_ia32_pause();
        }
        pairs += CHUNK;
        t = now_ns(CLOCK_MONOTONIC);
    } while (t - t0 < sample_ns);
    return (t - t0) / (double)pairs;
}

static void pin_self(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: pool_bench single|foreign|cross SIZE SAMPLES SAMPLE_MS\n");
        return 2;
    }
    const char *mode = argv[1];
    size = strtoull(argv[2], NULL, 10);
    samples = atoi(argv[3]);
    sample_ns = atof(argv[4]) * 1e6;
    if (samples < 1 || samples > 256) {
        fprintf(stderr, "pool_bench: SAMPLES must be 1..256\n");
        return 2;
    }
    pool = buf_pool_new(NULL, 0); /* this thread owns it */
    if (!pool) return 1;
    if (!strcmp(mode, "single")) {
        pairs_all();
    } else if (!strcmp(mode, "foreign")) {
        pthread_t th;
        pthread_create(&th, NULL, foreign_main, NULL);
        pthread_join(th, NULL);
    } else if (!strcmp(mode, "cross")) {
        int other = 0;
        pin_self(1);
        pthread_t th;
        pthread_create(&th, NULL, releaser_main, &other);
        run_cross(1);
        run_cross(0);
        for (int s = 0; s < samples; s++) {
            pool_out[s] = run_cross(1);
            malloc_out[s] = run_cross(0);
            handover_out[s] = run_cross(2);
        }
        atomic_store(&stop, 1);
        pthread_join(th, NULL);
    } else {
        fprintf(stderr, "pool_bench: unknown mode %s\n", mode);
        return 2;
    }
    printf("{\"mode\": \"%s\", \"size\": %zu, \"pool_ns\": [", mode, size);
    for (int s = 0; s < samples; s++) printf("%s%.2f", s ? ", " : "", pool_out[s]);
    printf("], \"malloc_ns\": [");
    for (int s = 0; s < samples; s++) printf("%s%.2f", s ? ", " : "", malloc_out[s]);
    printf("]");
    if (!strcmp(mode, "cross")) {
        printf(", \"handover_ns\": [");
        for (int s = 0; s < samples; s++) printf("%s%.2f", s ? ", " : "", handover_out[s]);
        printf("]");
    }
    printf("}\n");
    buf_pool_free(pool);
    return 0;
}
