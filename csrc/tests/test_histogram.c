/*
 * test_histogram.c - the latency histogram against the truth of a sorted
 * array: exact small values, 1% everywhere else, merge, overflow, the empty
 * histogram and the ends of the percentile range.
 */
#include <math.h> /* NAN only: no libm */
#include <stdlib.h>
#include <string.h>

#include "histogram.h"
#include "util.h"

static uint64_t rng_state;
static uint64_t rng(void) { /* xorshift64: fixed seeds, same runs everywhere */
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* Spread over every power of two of the range alike (log-uniform, roughly),
 * a few zeros and values at the top included. */
static uint64_t random_latency(void) {
    unsigned k = (unsigned)(rng() % 27); /* 2^26 > 60 s: some land at the top */
    uint64_t v = k == 0 ? rng() % 2 : ((uint64_t)1 << (k - 1)) + rng() % ((uint64_t)1 << (k - 1));
    return v > SL_HIST_MAX_US ? SL_HIST_MAX_US - rng() % 1000 : v;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* The nearest-rank p-th value of sorted[0..n) (the definition histogram.h gives). */
static uint64_t truth(const uint64_t *sorted, size_t n, double p) {
    if (p <= 0) return sorted[0];
    if (p >= 100) return sorted[n - 1];
    double exact = p / 100.0 * (double)n;
    size_t rank = (size_t)exact;
    if ((double)rank < exact) rank++;
    return sorted[(rank ? rank : 1) - 1];
}

static int within_1_percent(uint64_t got, uint64_t want) {
    uint64_t d = got > want ? got - want : want - got;
    return d * 100 <= want;
}

static sl_hist *new_hist(void) {
    sl_hist *h = malloc(sizeof *h);
    sl_hist_reset(h);
    return h;
}

TEST(hist_size_is_the_struct_and_a_few_tens_of_KiB) {
    CHECK_EQ_U(sl_hist_size(), sizeof(sl_hist));
    CHECK(sizeof(sl_hist) <= 32 * 1024);
    CHECK_EQ_U(sizeof(((sl_hist *)0)->buckets) / sizeof(uint64_t), SL_HIST_BUCKETS);
}

TEST(hist_empty_answers_zero_and_zeroed_memory_is_empty) {
    sl_hist *h = new_hist();
    sl_hist *zero = calloc(1, sizeof *zero);
    CHECK(memcmp(h, zero, sizeof *h) == 0);
    double ps[] = {0, 1, 50, 99.9, 100};
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) CHECK_EQ_U(sl_hist_percentile(h, ps[i]), 0);
    CHECK(sl_hist_mean(h) == 0.0);
    sl_hist_merge(h, zero);
    CHECK(memcmp(h, zero, sizeof *h) == 0);
    free(h);
    free(zero);
}

TEST(hist_small_values_are_exact) {
    sl_hist *h = new_hist();
    for (uint64_t v = 0; v < 256; v++) sl_hist_record(h, v);
    CHECK_EQ_U(h->count, 256);
    CHECK_EQ_U(h->min, 0);
    CHECK_EQ_U(h->max, 255);
    CHECK_EQ_U(h->sum, 255 * 256 / 2);
    for (uint64_t v = 0; v < 256; v++) {
        double p = ((double)v + 0.5) * 100.0 / 256.0; /* rank v + 1 */
        CHECK_EQ_U(sl_hist_percentile(h, p), v);
    }
    free(h);
}

/* Each value with a smaller and a larger neighbour, so that neither min nor
 * max clamps what the bucket itself answers. */
TEST(hist_each_value_alone_comes_back_within_1_percent) {
    sl_hist *h = new_hist();
    uint64_t probes[200];
    size_t n = 0;
    for (unsigned k = 7; k <= 25; k++) {
        uint64_t p2 = (uint64_t)1 << k, width = p2 >> 7;
        uint64_t near[] = {p2 - 1, p2, p2 + 1, p2 + width - 1, p2 + width, 2 * p2 - width, 2 * p2 - 2};
        for (size_t i = 0; i < sizeof near / sizeof near[0]; i++)
            if (near[i] <= SL_HIST_MAX_US) probes[n++] = near[i];
    }
    probes[n++] = SL_HIST_MAX_US;
    probes[n++] = SL_HIST_MAX_US - 1;
    rng_state = 11;
    for (uint64_t v = 0; v < 20000; v++) {
        uint64_t x = v < 4096 ? v : v < n + 4096 ? probes[v - 4096] : random_latency();
        if (x == 0) continue;
        sl_hist_reset(h);
        sl_hist_record(h, 0);
        sl_hist_record(h, x);
        sl_hist_record(h, SL_HIST_MAX_US + 1);
        uint64_t got = sl_hist_percentile(h, 50);
        CHECKF(within_1_percent(got, x), "%ju came back as %ju", (uintmax_t)x, (uintmax_t)got);
        if (!within_1_percent(got, x)) break;
    }
    free(h);
}

TEST(hist_percentiles_across_the_range_are_within_1_percent_of_the_sorted_truth) {
    enum { N = 200000 };
    uint64_t *values = malloc(N * sizeof *values);
    sl_hist *h = new_hist();
    rng_state = 20240601;
    uint64_t sum = 0;
    for (size_t i = 0; i < N; i++) {
        values[i] = random_latency();
        sum += values[i];
        sl_hist_record(h, values[i]);
    }
    qsort(values, N, sizeof *values, cmp_u64);
    CHECK_EQ_U(h->count, N);
    CHECK_EQ_U(h->min, values[0]);
    CHECK_EQ_U(h->max, values[N - 1]);
    CHECK_EQ_U(h->sum, sum);
    CHECK(sl_hist_mean(h) == (double)sum / N);
    int bad = 0;
    for (int i = 0; i <= 400 && bad < 5; i++) {
        double p = i * 0.25;
        uint64_t got = sl_hist_percentile(h, p), want = truth(values, N, p);
        if (!within_1_percent(got, want)) bad++;
        CHECKF(within_1_percent(got, want), "p%.2f: %ju, truth %ju", p, (uintmax_t)got, (uintmax_t)want);
    }
    double tail[] = {99.9, 99.99, 99.999, 0.001, 1e-9, 100 - 1e-9};
    for (size_t i = 0; i < sizeof tail / sizeof tail[0]; i++) {
        uint64_t got = sl_hist_percentile(h, tail[i]), want = truth(values, N, tail[i]);
        CHECKF(within_1_percent(got, want), "p%g: %ju, truth %ju", tail[i], (uintmax_t)got, (uintmax_t)want);
    }
    free(values);
    free(h);
}

TEST(hist_p0_and_p100_are_min_and_max_exactly) {
    sl_hist *h = new_hist();
    sl_hist_record(h, 1234567);
    sl_hist_record(h, 999);
    sl_hist_record(h, 7654321);
    CHECK_EQ_U(sl_hist_percentile(h, 0), 999);
    CHECK_EQ_U(sl_hist_percentile(h, 100), 7654321);
    CHECK_EQ_U(sl_hist_percentile(h, -5), 999); /* outside 0..100: the nearer end */
    CHECK_EQ_U(sl_hist_percentile(h, 250), 7654321);
    CHECK_EQ_U(sl_hist_percentile(h, NAN), 999);
    CHECK(within_1_percent(sl_hist_percentile(h, 50), 1234567));
    free(h);
}

TEST(hist_merge_equals_recording_both_sets_into_one) {
    sl_hist *a = new_hist(), *b = new_hist(), *both = new_hist(), *empty = new_hist();
    rng_state = 5;
    for (int i = 0; i < 50000; i++) {
        uint64_t v = random_latency();
        sl_hist_record(i % 3 ? a : b, v);
        sl_hist_record(both, v);
    }
    sl_hist_record(b, 0);
    sl_hist_record(both, 0);
    sl_hist_record(a, SL_HIST_MAX_US + 5); /* overflow merges too */
    sl_hist_record(both, SL_HIST_MAX_US + 5);
    sl_hist_merge(a, b);
    CHECK(memcmp(a, both, sizeof *a) == 0);
    CHECK_EQ_U(a->min, 0);
    sl_hist_merge(a, empty); /* an empty one changes nothing */
    CHECK(memcmp(a, both, sizeof *a) == 0);
    sl_hist_merge(empty, both); /* into an empty one: a copy */
    CHECK(memcmp(empty, both, sizeof *a) == 0);
    free(a);
    free(b);
    free(both);
    free(empty);
}

TEST(hist_values_above_60_s_count_as_overflow_and_max) {
    sl_hist *h = new_hist();
    sl_hist_record(h, SL_HIST_MAX_US); /* the last value with a bucket */
    CHECK_EQ_U(h->overflow, 0);
    sl_hist_record(h, SL_HIST_MAX_US + 1);
    sl_hist_record(h, 3600ull * 1000 * 1000);
    CHECK_EQ_U(h->count, 3);
    CHECK_EQ_U(h->overflow, 2);
    CHECK_EQ_U(h->max, 3600ull * 1000 * 1000);
    CHECK(within_1_percent(sl_hist_percentile(h, 30), SL_HIST_MAX_US));
    CHECK_EQ_U(sl_hist_percentile(h, 50), h->max); /* a rank among the overflow: max */
    CHECK_EQ_U(sl_hist_percentile(h, 100), h->max);
    sl_hist_record(h, UINT64_MAX); /* no wrap: the sum saturates */
    CHECK_EQ_U(h->sum, UINT64_MAX);
    CHECK_EQ_U(h->max, UINT64_MAX);
    uint64_t total = 0;
    for (size_t i = 0; i < SL_HIST_BUCKETS; i++) total += h->buckets[i];
    CHECK_EQ_U(total + h->overflow, h->count);
    free(h);
}

TEST(hist_mean_is_sum_over_count) {
    sl_hist *h = new_hist();
    sl_hist_record(h, 10);
    sl_hist_record(h, 20);
    sl_hist_record(h, 1000000);
    CHECK(sl_hist_mean(h) == (10 + 20 + 1000000) / 3.0);
    free(h);
}
