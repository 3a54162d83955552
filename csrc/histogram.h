/*
 * histogram.h - the load generator's latency histogram (histogram.c).
 *
 * Log-linear buckets in the manner of HdrHistogram over 0 .. 60 s in
 * microseconds: a recorded value comes back from sl_hist_percentile within
 * 1% (0.4% in fact; values below 256 us exactly). Recording is O(1) with no
 * allocation. The struct is plain data of fixed size and layout: a child
 * process of the load generator writes it raw into a pipe, the parent reads
 * it and merges. All-zero bytes are a valid empty histogram.
 */
#ifndef SLUICE_HISTOGRAM_H
#define SLUICE_HISTOGRAM_H

#include <stddef.h>
#include <stdint.h>

/* CDEF-BEGIN */

/* ---- histogram: latencies in microseconds (histogram.c) --------------- */

#define SL_HIST_MAX_US 60000000 /* 60 s: larger values count as overflow */
#define SL_HIST_SUB_BUCKETS 128 /* linear buckets per power of two */
#define SL_HIST_BUCKETS 2560    /* 20 powers of two (up to 2^26 us) x 128 */

typedef struct sl_hist {
    uint64_t count;    /* values recorded, overflow included */
    uint64_t min;      /* smallest value recorded; 0 while empty */
    uint64_t max;      /* largest value recorded, overflow included; 0 while empty */
    uint64_t sum;      /* of every value recorded; saturates at 2^64 - 1 */
    uint64_t overflow; /* values above SL_HIST_MAX_US (no bucket of their own) */
    uint64_t buckets[2560];
} sl_hist;

void sl_hist_reset(sl_hist *h);
/* O(1). A value above SL_HIST_MAX_US counts in overflow, max and sum. */
void sl_hist_record(sl_hist *h, uint64_t value_us);
/* Add from's values to into (as if recorded there too). */
void sl_hist_merge(sl_hist *into, const sl_hist *from);
/* The p-th percentile (p in 0..100, nearest rank: the smallest recorded value
 * with at least p% of the values at or below it), within 1%. p <= 0 gives min
 * and p >= 100 max, exactly; a rank that falls among the overflow gives max.
 * 0 when empty. */
uint64_t sl_hist_percentile(const sl_hist *h, double p);
/* sum / count; 0 when empty. */
double sl_hist_mean(const sl_hist *h);
/* sizeof(sl_hist), so that Python can check the layout it reads. */
size_t sl_hist_size(void);

/* CDEF-END */

#endif
