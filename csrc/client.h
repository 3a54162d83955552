/*
 * client.h - sluice bench's client core (client.c): one blocking call per
 * process runs a load on an epoll loop of its own, no Python per request.
 * Results and histogram are plain data: children hand them through pipes.
 * A latency counts from the request's start: its write, the connect's start
 * with SL_BENCH_CLOSE, and with a rate its *intended* send time (wrk2).
 */
#ifndef SLUICE_CLIENT_H
#define SLUICE_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "histogram.h"

/* CDEF-BEGIN */

/* ---- load generator client (client.c) --------------------------------- */

#define SL_BENCH_CLOSE 1 /* flags: a connection per request (the request says Connection: close) */
#define SL_BENCH_HEAD 2  /* flags: the request is HEAD, its responses have no body */
#define SL_BENCH_MAX_SOURCES 64
#define SL_BENCH_ERR_CONNECT 0 /* a connect attempt failed: refused, unreachable, not done in time */
#define SL_BENCH_ERR_READ 1    /* a connection failed reading: reset, cut short, a malformed response */
#define SL_BENCH_ERR_WRITE 2   /* a connection failed writing */
#define SL_BENCH_ERR_TIMEOUT 3 /* a request unanswered in time (each one counts) */

typedef struct sl_bench_config {
    const char *request;       /* one request's bytes, sent as they are */
    uint32_t request_len;      /* > 0 */
    uint32_t connections;      /* > 0, kept open (or reopened) all along */
    uint32_t pipeline;         /* requests in flight per connection, >= 1 (SL_BENCH_CLOSE: 1 is used) */
    uint32_t flags;            /* SL_BENCH_* */
    uint64_t duration_us;      /* then no new request; those in flight are awaited up to the timeout */
    uint64_t timeout_us;       /* no answer this long: a timeout; bounds connects, the drain. 0: 2 s */
    uint64_t rate_milli;       /* a constant rate, requests per 1000 s in this process; 0: flat out */
    uint32_t family;           /* 4 or 6 */
    uint32_t port;             /* the server's */
    uint8_t addr[16];          /* the server's address, network order (IPv4: the first 4 bytes) */
    uint32_t n_sources;        /* IPv4 source addresses to bind round-robin (past ~28K connections) */
    uint32_t sources[64];      /* network order */
    volatile uint64_t *shared; /* optional: [0] responses, [1] errors (every 10 ms); [2] != 0: stop */
} sl_bench_config;

typedef struct sl_bench_result {
    uint64_t requests;   /* complete responses */
    uint64_t bytes;      /* read from the sockets */
    uint64_t status[5];  /* responses by class: [0] 1xx .. [4] 5xx */
    uint64_t errors[4];  /* by SL_BENCH_ERR_* */
    uint64_t connects;   /* connections established */
    uint64_t elapsed_us; /* from the start to the later of the drain's start and the last response */
    int32_t setup_errno; /* non-zero: could not run (EINVAL: a bad config, ENOMEM, EMFILE) */
    uint32_t reserved;
} sl_bench_result;

/* Runs the load in the calling thread until the duration is over and what
 * is in flight answered or timed out. latency gets a value (us) per response
 * and is not reset first. 0, or -1 and out->setup_errno. */
int sl_bench_run(const sl_bench_config *cfg, sl_bench_result *out, struct sl_hist *latency);

/* CDEF-END */

/* The response delimiter (exposed for the tests): byte-wise, no buffer; the status line (HTTP/1.x,
 * 100..599), Content-Length, chunked, Connection: close, HTTP/1.0, close-delimited; 1xx (not 101) skipped. */
#define SL_RESP_MAX_HEAD 65536 /* a longer head, chunk line or trailer: an error */
#define SL_RESP_MORE 0
#define SL_RESP_DONE 1
#define SL_RESP_ERROR (-1)
#define SL_RESP_CLOSE 1 /* in flags after DONE: the connection ends after this response */

typedef struct sl_resp {
    uint32_t state, pos, status, minor, header, candidates, match, flags;
    uint64_t length, head_bytes;
} sl_resp;

void sl_resp_init(sl_resp *p, int head); /* before each response; head: it answers a HEAD */
/* DONE: a response ended after *used bytes (status, flags); MORE: all taken; ERROR: malformed. */
int sl_resp_feed(sl_resp *p, const char *data, size_t n, size_t *used);
/* The peer closed. DONE: that ended a body; MORE: no response had begun; ERROR: one was cut short. */
int sl_resp_eof(const sl_resp *p);

#endif
