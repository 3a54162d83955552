/*
 * histogram.c - log-linear latency buckets, HdrHistogram's layout in small.
 *
 * The layout: values 0..127 have a bucket each; above, every power of two
 * [2^k, 2^(k+1)) is cut into 128 buckets of width 2^(k-7). A bucket's width
 * is then at most 1/128 of any value in it, so all the values that share a
 * bucket are within 0.8% of one another, and the bucket's middle, which a
 * percentile reports, within 0.4% of each: the 1% promised with room to
 * spare, and exact below 256 us (widths of one). 60 s is below 2^26 us, so
 * 128 exact buckets plus 19 powers of two (2^7 .. 2^25) of 128 make 2560
 * buckets, 20 KiB of counters: one write into a pipe (64 KiB), one memcmp to
 * compare. Fewer sub-buckets (64) would still meet 1% with the middle, but
 * not with every value of the bucket; more would double the struct for
 * precision a load generator cannot use.
 *
 * Index of v >= 128 with k = floor(log2 v): (k - 6) * 128 + the 7 bits below
 * the top one. For k = 7 that is v itself, so the two halves meet at 128.
 */
#include <string.h>

#include "histogram.h"

_Static_assert(sizeof(((sl_hist *)0)->buckets) == SL_HIST_BUCKETS * sizeof(uint64_t), "bucket count");
_Static_assert(SL_HIST_MAX_US < (1u << 26), "60 s lies in the last power of two");

static size_t bucket_of(uint64_t v) {
    if (v < SL_HIST_SUB_BUCKETS) return (size_t)v;
    unsigned k = 63u - (unsigned)__builtin_clzll(v); /* v > 0 here */
    return (size_t)(k - 6) * SL_HIST_SUB_BUCKETS + (size_t)((v >> (k - 7)) & (SL_HIST_SUB_BUCKETS - 1));
}

/* The middle of bucket i's values (i >= 128: group g = i / 128 has width
 * 2^(g-1) and starts at (128 + i % 128) << (g - 1)). */
static uint64_t bucket_middle(size_t i) {
    if (i < 2 * SL_HIST_SUB_BUCKETS) return i;
    unsigned shift = (unsigned)(i / SL_HIST_SUB_BUCKETS) - 1;
    uint64_t low = (uint64_t)(SL_HIST_SUB_BUCKETS + i % SL_HIST_SUB_BUCKETS) << shift;
    return low + (((uint64_t)1 << shift) - 1) / 2;
}

static uint64_t add_saturating(uint64_t a, uint64_t b) { return b > UINT64_MAX - a ? UINT64_MAX : a + b; }

void sl_hist_reset(sl_hist *h) { memset(h, 0, sizeof *h); }

void sl_hist_record(sl_hist *h, uint64_t value_us) {
    if (value_us <= SL_HIST_MAX_US)
        h->buckets[bucket_of(value_us)]++;
    else
        h->overflow++;
    if (h->count == 0 || value_us < h->min) h->min = value_us;
    if (value_us > h->max) h->max = value_us;
    h->sum = add_saturating(h->sum, value_us);
    h->count++;
}

void sl_hist_merge(sl_hist *into, const sl_hist *from) {
    if (from->count == 0) return;
    if (into->count == 0 || from->min < into->min) into->min = from->min;
    if (from->max > into->max) into->max = from->max;
    into->sum = add_saturating(into->sum, from->sum);
    into->count += from->count;
    into->overflow += from->overflow;
    for (size_t i = 0; i < SL_HIST_BUCKETS; i++) into->buckets[i] += from->buckets[i];
}

uint64_t sl_hist_percentile(const sl_hist *h, double p) {
    if (h->count == 0) return 0;
    if (!(p > 0)) return h->min; /* NaN too */
    if (p >= 100) return h->max;
    /* Nearest rank: ceil(p/100 * count), without libm. */
    double exact = p / 100.0 * (double)h->count;
    uint64_t rank = (uint64_t)exact;
    if ((double)rank < exact) rank++;
    if (rank == 0) rank = 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < SL_HIST_BUCKETS; i++) {
        seen += h->buckets[i];
        if (seen >= rank) {
            uint64_t v = bucket_middle(i);
            return v < h->min ? h->min : v > h->max ? h->max : v;
        }
    }
    return h->max; /* the rank lies among the overflow */
}

double sl_hist_mean(const sl_hist *h) { return h->count ? (double)h->sum / (double)h->count : 0.0; }

size_t sl_hist_size(void) { return sizeof(sl_hist); }
