/*
 * sluice.h - the one public header of Sluice's C core.
 *
 * The core is plain C11 with no Python in it: a buffer pool of size-classed
 * I/O blocks, the input/output buffers built on them, and an epoll loop with
 * listeners and connections. It calls out only through the function
 * pointers given to sl_loop_new(); Python (through cffi) is one such caller,
 * the C unit tests are another.
 *
 * Threads: a loop and its connections are used from the thread that created
 * the loop only; sl_loop_wake() is the one call that is safe from any thread.
 * Debug builds (-DSL_DEBUG) check this and refuse a call from another thread.
 *
 * Everything between the CDEF-BEGIN and CDEF-END markers is also what cffi
 * sees (build.py extracts it), so it holds only declarations cffi parses:
 * no preprocessor lines except integer #defines.
 */
#ifndef SLUICE_H
#define SLUICE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* CDEF-BEGIN */

/* ---- buf_pool: size-classed I/O blocks (buf_pool.c) ------------------- */

#define SL_NUM_CLASSES 7

typedef struct io_buf io_buf;
typedef struct buf_pool buf_pool;

typedef struct buf_pool_class_stats {
    size_t block_size;
    size_t in_use;     /* blocks handed out now */
    size_t free;       /* blocks on the free list (committed or trimmed) */
    size_t peak;       /* most blocks in use at once */
    uint64_t allocs;   /* successful alloc_buf calls */
    uint64_t failures; /* alloc_buf calls refused by the limit or the OS */
} buf_pool_class_stats;

typedef struct buf_pool_stats {
    size_t limit;      /* bytes the pool may hold (in use + committed free) */
    size_t held_bytes; /* bytes held now: in use + free blocks not trimmed */
    size_t in_use_bytes;
    buf_pool_class_stats cls[7];
} buf_pool_stats;

/* The process's pool, made on first use and made anew in a forked child. */
buf_pool *buf_pool_instance(void);
/* A private pool (tests, benchmarks). prealloc: blocks per class, or NULL for
 * the defaults; limit: bytes, 0 for the default (SL_POOL_DEFAULT_LIMIT). */
buf_pool *buf_pool_new(const size_t *prealloc, size_t limit);
void buf_pool_free(buf_pool *pool);
/* The smallest block of at least n bytes (n == 0: the 4K class); NULL above
 * 8M, past the limit (counted as a failure) or when the OS refuses. */
io_buf *buf_pool_alloc_buf(buf_pool *pool, size_t n);
/* Give a block back: head and length reset. On the owner's thread it becomes
 * the pool's hot block (the one it displaces goes to its class's cache or
 * list); from another thread it goes on its class's list. Safe from any
 * thread. */
void buf_pool_revert(buf_pool *pool, io_buf *buf);
void buf_pool_set_limit(buf_pool *pool, size_t limit);
/* Return every free block's memory to the OS; returns the bytes released. */
size_t buf_pool_trim(buf_pool *pool);
void buf_pool_get_stats(buf_pool *pool, buf_pool_stats *out);
/* Block size of class i (0..6), or 0. */
size_t buf_pool_class_size(int i);

/* ---- the loop (event_loop.c) and connections (conn.c) ------------------ */

typedef struct sl_loop sl_loop;
typedef struct sl_conn sl_conn;

/* Event kinds handed to on_events. */
#define SL_EV_ACCEPT 1    /* conn: a new connection; arg: listener id */
#define SL_EV_DATA 2      /* conn: data, len bytes, valid during the call */
#define SL_EV_EOF 3       /* conn: the peer shut down its side */
#define SL_EV_CLOSED 4    /* conn: closed; arg: reason; err: errno or 0 */
#define SL_EV_RESUME 5    /* conn: output fell to the low-water mark */
#define SL_EV_CONNECTED 6 /* conn: an outgoing connect finished; err: errno */
#define SL_EV_FD 7        /* id: a watched fd; arg: EPOLLIN/EPOLLOUT bits */
#define SL_EV_REQUESTS 8  /* conn (HTTP): complete requests, as SL_EV_DATA; see http1.h */
#define SL_EV_FRAMES 9    /* conn (frames): complete frames, as SL_EV_DATA; see frame.h */

/* sl_conn_config.protocol: what frames a connection's input in C. */
#define SL_PROTO_RAW 0    /* bytes as they come (SL_EV_DATA) */
#define SL_PROTO_HTTP1 1  /* HTTP/1.1 requests (SL_EV_REQUESTS; sl_http_configure) */
#define SL_PROTO_FRAMES 2 /* the message protocol's frames (SL_EV_FRAMES; frame.h) */

/* Close reasons (SL_EV_CLOSED's arg). */
#define SL_CLOSE_PEER 1         /* the peer closed (EOF, then we closed) */
#define SL_CLOSE_RESET 2        /* ECONNRESET / EPIPE */
#define SL_CLOSE_ERROR 3        /* another socket error (err says which) */
#define SL_CLOSE_IDLE 4         /* kicked by the idle wheel */
#define SL_CLOSE_SHUTDOWN 5     /* server shutdown */
#define SL_CLOSE_POOL 6         /* the buffer pool refused a block */
#define SL_CLOSE_PROTOCOL 7     /* bad input for the connection's protocol */
#define SL_CLOSE_LOCAL 8        /* closed by its owner (close() after flush) */
#define SL_CLOSE_ABORT 9        /* aborted by its owner (output dropped) */
#define SL_CLOSE_INPUT_LIMIT 10 /* input over the per-connection maximum */
#define SL_CLOSE_TIMEOUT 11     /* a timeout other than idle (decided above) */
#define SL_CLOSE_NREASONS 12

/* 40 bytes; Python reads them as ten uint32s (kind, id, arg, err, len's
 * low word...): len is at most one block's (8 MiB), its high word 0. */
typedef struct sl_event {
    uint32_t kind;
    uint32_t id;  /* the connection's slot, or the watched fd's id */
    uint32_t arg; /* SL_EV_DATA: 1 if the bytes were also copied to the turn's data */
    int32_t err;
    uint64_t len;     /* SL_EV_DATA: bytes */
    const char *data; /* SL_EV_DATA only; valid until on_events returns */
    sl_conn *conn;    /* NULL for SL_EV_FD */
} sl_event;

typedef struct sl_callbacks {
    /* Once per loop turn with every event of the turn. With copy_data set
     * (sl_loop_set_copy_data), data[0..data_len) holds, in event order, the
     * bytes of every SL_EV_DATA whose arg is 1: one buffer for the turn. */
    void (*on_events)(void *ud, sl_event *events, size_t n, const char *data, size_t data_len);
    /* A line for the error log (level: 10 debug .. 40 error); may be NULL. */
    void (*log)(void *ud, int level, const char *msg);
} sl_callbacks;

typedef struct sl_conn_config {
    int edge_triggered; /* 0: level-triggered (the default) */
    size_t max_input;   /* bytes buffered unread before close; 0: 1 MiB */
    size_t high_water;  /* output bytes past which sl_conn_write's answer says pause; 0: 64 KiB */
    size_t low_water;   /* output bytes that raise SL_EV_RESUME; 0: 16 KiB */
    int protocol;       /* SL_PROTO_RAW (0), SL_PROTO_HTTP1 or SL_PROTO_FRAMES */
    /* SL_PROTO_FRAMES: the largest payload accepted (0: 1 MiB; at most
     * SL_FRAME_MAX_PAYLOAD_LIMIT); max_input is raised to hold such a frame. */
    uint32_t max_frame;
} sl_conn_config;

typedef struct sl_loop_stats {
    uint64_t turns;
    uint64_t accepted;
    uint64_t accept_errors; /* EMFILE, ENFILE, ENOBUFS, ENOMEM: accept paused */
    uint64_t conns_open;
    uint64_t reads;
    uint64_t writes;
    uint64_t bytes_in;
    uint64_t bytes_out;
    uint64_t closed[12]; /* by reason */
} sl_loop_stats;

sl_loop *sl_loop_new(const sl_callbacks *cb, void *ud);
/* Closes every connection and listener (no events), frees the loop. */
void sl_loop_free(sl_loop *loop);
/* One turn: flush pending output, wait up to timeout_ms (-1: no limit) for
 * events, read, hand the batch to on_events, flush again. Returns the number
 * of events handed over, or -errno. */
int sl_loop_run_once(sl_loop *loop, int timeout_ms);
/* Wake a loop blocked in run_once. Safe from any thread. */
void sl_loop_wake(sl_loop *loop);
/* CLOCK_MONOTONIC in milliseconds, as cached at the last wake-up. */
uint64_t sl_loop_now_ms(sl_loop *loop);
uint64_t sl_monotonic_ms(void);
void sl_loop_get_stats(sl_loop *loop, sl_loop_stats *out);
/* Copy each turn's SL_EV_DATA bytes of up to max_each bytes (0: off) into
 * one buffer handed to on_events: a caller that wants bytes objects then
 * makes them from one buffer (Python: one crossing per turn, not per event). */
void sl_loop_set_copy_data(sl_loop *loop, size_t max_each);
sl_conn *sl_loop_conn(sl_loop *loop, uint32_t id);
/* Milliseconds an exhausted accept (EMFILE...) pauses; default 100. */
void sl_loop_set_accept_pause(sl_loop *loop, int ms);

/* A listening socket (bound, listening, non-blocking) the loop accepts on
 * until EAGAIN, in both modes. Returns the listener id (>= 0) or -errno.
 * The loop does not own fd: sl_listener_close() stops watching it. */
int sl_listener_add(sl_loop *loop, int fd, const sl_conn_config *cfg);
int sl_listener_close(sl_loop *loop, int id);

/* Adopt a connected (or connecting: connecting=1) non-blocking socket; the
 * loop owns fd from now on. NULL on failure (fd is closed). */
sl_conn *sl_conn_adopt(sl_loop *loop, int fd, int connecting, const sl_conn_config *cfg);
uint32_t sl_conn_id(sl_conn *c);
int sl_conn_fd(sl_conn *c);
/* Append to the output; it leaves at the end of this turn. Returns the bytes
 * now waiting, or -errno (-EPIPE once closing, -ENOBUFS if the pool refused). */
ssize_t sl_conn_write(sl_conn *c, const char *data, size_t n);
/* Send len bytes of file_fd from offset (sendfile); the loop dups file_fd. */
ssize_t sl_conn_write_file(sl_conn *c, int file_fd, uint64_t offset, size_t len);
size_t sl_conn_pending(sl_conn *c);
/* Shut down the write side once the output has left. */
int sl_conn_write_eof(sl_conn *c);
/* graceful: close once the output has left (reason SL_CLOSE_LOCAL unless
 * given); otherwise drop the output and close now. */
int sl_conn_close(sl_conn *c, int reason, int graceful);
int sl_conn_pause_reading(sl_conn *c);
int sl_conn_resume_reading(sl_conn *c);
uint64_t sl_conn_last_active_ms(sl_conn *c);
int sl_conn_set_nodelay(sl_conn *c, int on);
/* The write marks from now on: past high the next write says pause; at or
 * below low once paused, SL_EV_RESUME (0 for high: SL_DEFAULT_HIGH_WATER).
 * Returns 0, or -EINVAL when low > high. */
int sl_conn_set_water(sl_conn *c, size_t high, size_t low);
/* The peer's address as text into out[0 .. cap) (NUL-terminated); returns
 * its port, or -errno (a Unix socket: port 0, path or "" as text). */
int sl_conn_peername(sl_conn *c, char *out, size_t cap);

/* Watch an fd the loop does not own (SL_EV_FD with id); events: EPOLLIN,
 * EPOLLOUT bits (0 stops watching). Returns 0 or -errno. */
int sl_watch_fd(sl_loop *loop, int fd, uint32_t id, uint32_t events);

/* CDEF-END */

#define SL_POOL_DEFAULT_LIMIT ((size_t)1 << 30) /* 1 GiB per process */
#define SL_DEFAULT_MAX_INPUT ((size_t)1 << 20)
#define SL_DEFAULT_HIGH_WATER ((size_t)64 << 10)
#define SL_DEFAULT_LOW_WATER ((size_t)16 << 10)

/* io_buf: one block (io_buf.c). Fields as the seed's; lengths are size_t.
 * A header is one cache line (64 bytes, so aligned): one whose fields
 * straddle two lines made the pool's pair on it 1.7x as slow. Headers are
 * made by io_buf_headers_new. */
struct io_buf {
    _Alignas(64) size_t capacity; /* bytes in data */
    size_t head;                  /* offset of the first valid byte */
    size_t length;                /* valid bytes from head */
    char *data;
    io_buf *next;   /* free list in the pool, chain in an output_buf */
    int cls;        /* size class, or -1 for a file range (output_buf) */
    unsigned flags; /* the pool's: on a free list, pages given back */
    int file_fd;    /* file range only: the file; offset in head */
};

/* n zeroed headers, 64-byte aligned (free() them); NULL if out of memory. */
io_buf *io_buf_headers_new(size_t n);
void io_buf_clear(io_buf *b);
/* Drop len bytes from the front (all of them if len >= length). */
void io_buf_pop(io_buf *b, size_t len);
/* Move the valid bytes to the front of the block (head = 0). */
void io_buf_adjust(io_buf *b);
/* Replace the contents with other's valid bytes (the seed's copy: head = 0);
 * returns 0, or -1 if they do not fit (b unchanged). */
int io_buf_copy(io_buf *b, const io_buf *other);
static inline char *io_buf_begin(io_buf *b) { return b->data + b->head; }
static inline size_t io_buf_room(const io_buf *b) { return b->capacity - b->head - b->length; }

/* input_buf: what was read and not yet consumed (io_buffers.c). */
typedef struct input_buf {
    io_buf *buf; /* NULL while empty */
    buf_pool *pool;
    size_t max; /* most bytes held; reading stops there */
} input_buf;

enum { IB_DATA = 1, IB_AGAIN = 2, IB_EOF = 4, IB_ERROR = 8, IB_FULL = 16, IB_NOMEM = 32 };

void input_buf_init(input_buf *ib, buf_pool *pool, size_t max);
/* Read what fd has: until a short read, EAGAIN, EOF, an error or the
 * maximum. A short read proves the socket was drained at that moment, so an
 * edge-triggered caller needs no further read to see EAGAIN: data arriving
 * later raises a new edge, and a FIN already queued shows as EPOLLRDHUP in
 * the event that led here (conn.c reads again next turn then).
 * Returns IB_* bits; *err gets errno on IB_ERROR. */
int input_buf_read_data(input_buf *ib, int fd, int *err);
const char *input_buf_data(const input_buf *ib);
size_t input_buf_length(const input_buf *ib);
/* Consume n bytes; the block goes back to the pool when none remain. */
void input_buf_pop(input_buf *ib, size_t n);
void input_buf_adjust(input_buf *ib);
void input_buf_release(input_buf *ib);

/* output_buf: bytes and file ranges waiting for the socket (io_buffers.c). */
typedef struct output_buf {
    io_buf *head, *tail;
    buf_pool *pool;
    size_t pending; /* bytes waiting, file ranges included */
    int corked;     /* TCP_CORK set while a large file range is sent */
} output_buf;

void output_buf_init(output_buf *ob, buf_pool *pool);
/* Append n bytes; returns 0 or -1 when the pool refuses (nothing appended). */
int output_buf_send_data(output_buf *ob, const char *p, size_t n);
/* Append a file range; the buffer owns file_fd from now on. 0 or -1. */
int output_buf_send_file(output_buf *ob, int file_fd, uint64_t offset, size_t len);
/* Write what the kernel takes: bytes written (0 on EAGAIN) or -errno. */
ssize_t output_buf_write2fd(output_buf *ob, int fd);
void output_buf_release(output_buf *ob);

#endif
