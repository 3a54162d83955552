/*
 * util.h - what the core's tests share: sockets on loopback, byte patterns,
 * bounded reads, rlimits, and a recorder of a loop's events.
 *
 * The tests are white-box: they include core.h to see io_buf, input_buf,
 * output_buf and, where a test needs it, the loop's own fields.
 */
#ifndef SLUICE_TEST_UTIL_H
#define SLUICE_TEST_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "core.h"
#include "harness.h"

uint64_t tu_now_ms(void);
void tu_sleep_ms(int ms);
void tu_ignore_sigpipe(void);
int tu_set_nonblock(int fd, int on);

/* AF_UNIX stream pair, both ends non-blocking. 0 or -1. */
int tu_socketpair(int sv[2]);
/* A listening TCP socket on 127.0.0.1, kernel-chosen port; non-blocking. */
int tu_listen_tcp(uint16_t *port, int backlog);
/* A blocking connect to 127.0.0.1:port; the fd stays blocking. */
int tu_connect_tcp(uint16_t port);
/* A connected TCP pair: *client blocking, *server non-blocking. 0 or -1. */
int tu_tcp_pair(int *client, int *server);
/* A port nobody listens on (bound once, then closed). 0 or -1. */
int tu_closed_port(uint16_t *port);
/* Close with SO_LINGER {1, 0}: the peer gets a reset, not a FIN. */
void tu_close_reset(int fd);

/* A byte pattern that depends on the absolute offset, so a lost, doubled or
 * reordered chunk shows. tu_mismatch: index of the first bad byte, or n. */
void tu_fill(void *p, size_t n, uint64_t offset, uint32_t seed);
size_t tu_mismatch(const void *p, size_t n, uint64_t offset, uint32_t seed);
/* An unlinked temp file of n pattern bytes; returns its fd. */
int tu_pattern_file(size_t n, uint32_t seed);

/* Write all of p to a non-blocking fd, polling; bytes written. */
size_t tu_write_all(int fd, const void *p, size_t n, int timeout_ms);
/* Read what is there now (fd non-blocking or not: uses MSG_DONTWAIT). */
ssize_t tu_read_now(int fd, void *buf, size_t cap);
/* Read until n bytes, EOF or the timeout; returns the bytes read. */
size_t tu_read_full(int fd, void *buf, size_t n, int timeout_ms);
/* 1 if the next read is EOF within the timeout, 0 if data or timeout came
 * instead (any data read is counted in *extra), -errno on an error. */
int tu_expect_eof(int fd, int timeout_ms, size_t *extra);

/* Resident set size in KiB, from /proc/self/statm. */
long tu_rss_kb(void);
/* Soft RLIMIT_NOFILE to at least want (the hard limit too if allowed).
 * Returns the soft limit now. */
rlim_t tu_raise_nofile(rlim_t want);
int tu_set_nofile_soft(rlim_t soft);
rlim_t tu_nofile_soft(void);
/* The fd number the next open() would get. */
int tu_lowest_free_fd(void);
int tu_fd_is_open(int fd);

/* A private pool with nothing preallocated (limit 0: the default), and the
 * blocks it has handed out now, over all classes. */
buf_pool *tu_empty_pool(size_t limit);
size_t tu_pool_in_use(buf_pool *p);

/* A growable byte buffer. */
typedef struct tu_bytes {
    char *p;
    size_t n, cap;
} tu_bytes;
void tu_bytes_add(tu_bytes *b, const void *p, size_t n);
void tu_bytes_free(tu_bytes *b);

/* ---- a loop whose on_events records every event --------------------------- */

#define REC_IDS 16 /* DATA bytes are kept for connection ids below this */

typedef struct ev_rec {
    sl_conn *conn;
    uint32_t kind, id, arg;
    int32_t err;
    size_t len;
    unsigned batch; /* which on_events call (1-based) */
} ev_rec;

typedef struct recorder recorder;
struct recorder {
    sl_loop *loop;
    ev_rec *evs;
    size_t n, cap;
    unsigned batches;
    tu_bytes data[REC_IDS];
    int warnings; /* log lines at level >= 30 */
    /* Called for each event inside on_events, where a test acts on it. */
    void (*hook)(recorder *r, sl_event *e);
    void *user;
};

/* A loop recording into r (zeroed first). REQUIREs success. */
sl_loop *rec_loop(recorder *r);
/* Frees the loop (if any) and what r holds. */
void rec_free(recorder *r);
size_t rec_count(const recorder *r, uint32_t kind);
/* The first event of kind, or NULL. */
const ev_rec *rec_first(const recorder *r, uint32_t kind);

/* Turn the loop until cond holds, at most ms milliseconds (and a bounded
 * number of turns); every turn must succeed. Check cond afterwards. */
#define RUN_UNTIL(l, cond, ms)                                                                               \
    for (uint64_t tu_dl_ = tu_now_ms() + (uint64_t)(ms), tu_n_ = 0;                                          \
         !(cond) && tu_now_ms() < tu_dl_ && tu_n_ < 1000000; tu_n_++)                                        \
    CHECK(sl_loop_run_once((l), 5) >= 0)

/* A config in one line. */
sl_conn_config tu_cfg(int edge, size_t max_input, size_t high_water, size_t low_water);
/* A connected TCP pair whose server side the loop adopts. REQUIREs success. */
sl_conn *tu_adopt_pair(sl_loop *l, const sl_conn_config *cfg, int *client);

#endif
