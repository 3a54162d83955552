/*
 * core.h - internals shared by the core's .c files; never seen by cffi.
 */
#ifndef SLUICE_CORE_H
#define SLUICE_CORE_H

#include "sluice.h"

#define SL_UNUSED(x) ((void)(x))
#define SL_MIN(a, b) ((a) < (b) ? (a) : (b))
#define SL_MAX(a, b) ((a) > (b) ? (a) : (b))

/* Index of the smallest class that holds n bytes, or -1 above 8M. */
int buf_pool_class_of(size_t n);

/* ---- the loop and its connections (event_loop.c, conn.c) ---------------- */

#include <pthread.h>

/* epoll_data.u64 = tag << 32 | id */
enum { TAG_CONN = 1, TAG_LISTENER = 2, TAG_WAKE = 3, TAG_WATCH = 4 };

enum { CONN_OPEN = 1, CONN_CLOSED = 2 };

enum {
    CF_EDGE = 1 << 0,         /* edge-triggered */
    CF_CONNECTING = 1 << 1,   /* outgoing connect in progress */
    CF_READ_PAUSED = 1 << 2,  /* the owner paused reading */
    CF_EOF = 1 << 3,          /* the peer's FIN was read */
    CF_WANT_CLOSE = 1 << 4,   /* close once the output has left */
    CF_WANT_SHUT_WR = 1 << 5, /* shutdown(SHUT_WR) once the output has left */
    CF_SHUT_WR = 1 << 6,      /* done */
    CF_WRITE_PAUSED = 1 << 7, /* output passed the high-water mark */
    CF_DIRTY = 1 << 8,        /* on the loop's dirty list */
    CF_AGAIN = 1 << 9,        /* on the loop's read-again list */
    CF_FRAME_AGAIN = 1 << 10, /* a framer left complete input for the next turn */
};

struct sl_conn {
    sl_loop *loop;
    int fd;
    uint32_t id;
    uint16_t state;
    uint16_t close_reason; /* set when a close is decided; done in flush */
    int32_t close_err;
    uint32_t flags;
    uint32_t ep_events; /* what epoll watches now */
    uint32_t high_water, low_water;
    uint32_t data_ev; /* 1 + index of this turn's SL_EV_DATA, or 0 */
    uint64_t last_active_ms;
    uint64_t last_write_ms; /* the last write the kernel took bytes of */
    input_buf in;
    output_buf out;
    sl_conn *next_dirty, *next_again;
    struct sl_http_conn *http; /* SL_PROTO_HTTP1 only */
    uint32_t frame_max;        /* SL_PROTO_FRAMES: the largest payload; 0 for other protocols */
    int32_t frame_error;       /* SL_PROTO_FRAMES: the decoder's error once it refused a frame */
};

typedef struct sl_listener {
    int fd;     /* -1: slot unused */
    int paused; /* accept paused after EMFILE and the like */
    uint64_t resume_at_ms;
    sl_conn_config cfg;
} sl_listener;

#define SL_EPOLL_BATCH 256

struct sl_loop {
    int epfd, wakefd;
    pthread_t owner;
    sl_callbacks cb;
    void *ud;
    buf_pool *pool;
    uint64_t now_ms;
    int accept_pause_ms;

    sl_conn **conns; /* by id */
    uint32_t conns_cap;
    uint32_t *free_ids;
    uint32_t n_free_ids;
    uint32_t next_id;

    sl_listener *listeners;
    int n_listeners;

    sl_event *ev; /* this turn's batch (and events queued for the next) */
    size_t nev, ev_cap;
    char *copy; /* the turn's data (sl_loop_set_copy_data) */
    size_t copy_cap, copy_max_each;
    sl_conn *dirty, *again;
    sl_loop_stats stats;
    struct sl_http_loop *http; /* sl_http_configure's settings and the turn's request records */
    struct sl_frame *frec;     /* the turn's frame records (frame_conn.c) */
    size_t frec_len, frec_cap;
};

int loop_push_event(sl_loop *l, sl_conn *c, uint32_t kind, uint32_t id, uint32_t arg, int32_t err);
void loop_log(sl_loop *l, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int loop_epoll_set(sl_loop *l, int fd, uint64_t tag_id, uint32_t *current, uint32_t want);

sl_conn *conn_new(sl_loop *l, int fd, const sl_conn_config *cfg, int connecting);
void conn_handle_io(sl_conn *c, uint32_t revents);
void conn_mark_dirty(sl_conn *c);
void conn_data_event(sl_conn *c);                        /* this turn's SL_EV_DATA covers all the input now */
void conn_read_again(sl_conn *c);                        /* look at the connection again next turn */
void conn_decide_close(sl_conn *c, int reason, int err); /* the flush carries it out */
void conn_flush(sl_conn *c);                             /* write, finish closes, fix EPOLLOUT */
void conn_free(sl_conn *c);                              /* after its SL_EV_CLOSED was handed over */
void conn_close_now(sl_conn *c);                         /* no event: the loop is going away */

/* HTTP/1.1 framing (http1_conn.c). */
int http_conn_init(sl_conn *c);             /* at accept/adopt of an SL_PROTO_HTTP1 connection */
void http_conn_free(sl_conn *c);            /* with the connection */
void http_frame_turn(sl_loop *l);           /* the turn's SL_EV_DATA of HTTP conns into SL_EV_REQUESTS */
int http_close_reason(sl_conn *c, int why); /* the reason a lingering close is counted under */
size_t http_kept(sl_conn *c);               /* bytes of its SL_EV_REQUESTS not to pop */
void http_loop_free(sl_loop *l);
/* Frame connections (frame_conn.c). */
void frame_turn(sl_loop *l); /* the turn's SL_EV_DATA of frame conns into SL_EV_FRAMES */

/* Exact routes (http1_routes.c). */
struct http_routes;
int http_routes_make(struct http_routes **out, const char *paths, size_t len);
void http_routes_free(struct http_routes *t);
uint32_t http_route_of(const struct http_routes *t, const char *path, size_t len); /* 0: none */

#ifdef SL_DEBUG
#define SL_CHECK_OWNER(l, ret)                                                                               \
    do {                                                                                                     \
        if (!pthread_equal(pthread_self(), (l)->owner)) {                                                    \
            loop_log((l), 40, "%s called from a thread that does not own the loop", __func__);               \
            return ret;                                                                                      \
        }                                                                                                    \
    } while (0)
#else
#define SL_CHECK_OWNER(l, ret) ((void)0)
#endif

#endif
