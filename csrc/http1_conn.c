/*
 * http1_conn.c - HTTP/1.1 connections: the framer between the reads and
 * Python, the response writer, lingering closes and the ticks for timeouts.
 *
 * After a turn's reads, every HTTP connection with new bytes is parsed where
 * its last request stopped; its SL_EV_DATA becomes one SL_EV_REQUESTS whose
 * bytes are the complete requests only (a partial one stays in the input
 * for the next turn) and whose records (offsets, flags, headers) sit in the
 * loop's record array. Python answers each with sl_http_respond, which
 * renders the head here; a turn's pipelined answers leave in one write.
 *
 * A refused request (a parse error) is answered in its turn: the framer
 * ends the batch with a refused record and keeps the status (H_REFUSED), and
 * Python sends it with sl_http_refuse once the requests before it are
 * answered, so a pipelined client gets every answer in order. Then the
 * connection lingers: the write side is shut once the answer has left, and
 * what the client still sends is read and dropped until it closes, the
 * linger time passes or SL_HTTP_LINGER_MAX bytes came, so it reads the
 * answer instead of a reset. A request without keep-alive ends the batch
 * the same way (H_LAST: what follows it is no request), and its answer
 * lingers. An `Expect: 100-continue` behind requests of the same batch is
 * answered next turn, after theirs.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core.h"
#include "http1.h"

/* H_REFUSED: a refusal waits for the answers before it (sl_http_refuse);
 * H_LAST: a request without keep-alive was the last. Both drop what comes. */
enum { H_IDLE = 0, H_REQ = 1, H_LINGER = 2, H_REFUSED = 3, H_LAST = 4 };
/* What becomes of a request's body (streaming on): announced, awaiting the
 * decision; buffered whole; streamed in pieces. */
enum { B_NONE = 0, B_PENDING = 1, B_BUFFER = 2, B_STREAM = 3 };

typedef struct sl_http_conn {
    sl_http_request r;
    sl_http_header *saved; /* the headers of a request split across turns */
    uint32_t n_saved, saved_cap;
    uint8_t state;
    uint8_t mode;           /* B_* */
    uint8_t continue_due;   /* a 100 Continue to send next turn, after the answers before it */
    uint16_t refuse_status; /* H_REFUSED: the answer to send */
    const char *refuse_why; /* H_REFUSED: its reason (a static string) */
    uint32_t keep;          /* bytes of this turn's event left in the input (an announced head) */
    uint16_t linger_reason; /* counted as this close reason (0: the actual one) */
    uint64_t start_ms;      /* the request's first byte, or the linger's start */
    uint64_t lingered;      /* bytes dropped while lingering */
} sl_http_conn;

struct sl_http_loop {
    sl_http_limits lim;
    sl_http_limits parse; /* lim, max_body raised to max_stream_body when streaming */
    char server[64];
    size_t server_len;
    uint32_t *rec; /* the turn's request records */
    size_t rec_len, rec_cap;
    struct http_routes *routes; /* sl_http_set_routes's, or NULL */
};

static const char continue_100[] = "HTTP/1.1 100 Continue\r\n\r\n";

static struct sl_http_loop *loop_http(sl_loop *l) {
    if (!l->http) {
        l->http = calloc(1, sizeof *l->http);
        if (!l->http) return NULL;
        sl_http_limits_default(&l->http->lim);
        l->http->parse = l->http->lim;
        memcpy(l->http->server, "sluice", 6);
        l->http->server_len = 6;
    }
    return l->http;
}

int sl_http_configure(sl_loop *l, const sl_http_limits *lim, const char *server, size_t server_len) {
    SL_CHECK_OWNER(l, -EPERM);
    struct sl_http_loop *hl = loop_http(l);
    if (!hl) return -ENOMEM;
    if (server_len >= sizeof hl->server) return -EINVAL;
    if (lim) hl->lim = hl->parse = *lim;
    hl->parse.max_body = SL_MAX(hl->lim.max_body, hl->lim.max_stream_body);
    memcpy(hl->server, server, server_len);
    hl->server_len = server_len;
    return 0;
}

int sl_http_set_routes(sl_loop *l, const char *paths, size_t len) {
    SL_CHECK_OWNER(l, -EPERM);
    struct sl_http_loop *hl = loop_http(l);
    if (!hl) return -ENOMEM;
    struct http_routes *t = NULL;
    int rc = len ? http_routes_make(&t, paths, len) : 0;
    if (rc) return rc;
    http_routes_free(hl->routes);
    hl->routes = t;
    return 0;
}

void http_loop_free(sl_loop *l) {
    if (!l->http) return;
    http_routes_free(l->http->routes);
    free(l->http->rec);
    free(l->http);
    l->http = NULL;
}

const uint32_t *sl_http_turn_records(sl_loop *l, size_t *n_words) {
    if (n_words) *n_words = l->http ? l->http->rec_len : 0;
    return l->http ? l->http->rec : NULL;
}

int http_conn_init(sl_conn *c) {
    if (!loop_http(c->loop)) return -1;
    c->http = calloc(1, sizeof *c->http);
    return c->http ? 0 : -1;
}

void http_conn_free(sl_conn *c) {
    if (!c->http) return;
    free(c->http->saved);
    free(c->http);
    c->http = NULL;
}

size_t http_kept(sl_conn *c) {
    if (!c->http) return 0;
    size_t k = c->http->keep;
    c->http->keep = 0;
    return k;
}

int http_close_reason(sl_conn *c, int why) {
    return c->http && c->http->linger_reason ? c->http->linger_reason : why;
}

/* Room for one more record with every header the limits allow. */
static uint32_t *reserve_record(struct sl_http_loop *hl) {
    size_t need = hl->rec_len + SL_HTTP_REC_WORDS + 4 * (size_t)hl->lim.max_headers;
    if (need > hl->rec_cap) {
        size_t cap = SL_MAX(need, hl->rec_cap * 2);
        uint32_t *p = realloc(hl->rec, cap * sizeof *p);
        if (!p) return NULL;
        hl->rec = p;
        hl->rec_cap = cap;
    }
    return hl->rec + hl->rec_len;
}

static void linger(sl_conn *c, int reason) {
    sl_http_conn *h = c->http;
    h->state = H_LINGER;
    h->start_ms = c->loop->now_ms;
    if (reason) h->linger_reason = (uint16_t)reason;
    c->flags |= CF_WANT_SHUT_WR;
    conn_mark_dirty(c);
}

/* Answer a refused or timed-out request here, then linger. */
static void refuse(sl_conn *c, unsigned status, const char *why, int reason) {
    struct sl_http_loop *hl = c->loop->http;
    char body[160], head[512];
    const char *text = sl_http_reason(status);
    int n = snprintf(body, sizeof body, "%u %s%s%s\n", status, text ? text : "Error", why ? ": " : "",
                     why ? why : "");
    size_t blen = n < 0 ? 0 : SL_MIN((size_t)n, sizeof body - 1);
    size_t hlen = sl_http_render_head(head, sizeof head, status, NULL, 0, "Content-Type: text/plain\r\n", 26,
                                      (int64_t)blen, 1, 0, hl->server, hl->server_len);
    if (hlen && output_buf_send_data(&c->out, head, hlen) == 0) output_buf_send_data(&c->out, body, blen);
    linger(c, reason);
}

static void save_headers(sl_http_conn *h, const sl_http_header *hdrs) {
    uint32_t n = h->r.n_headers;
    if (n > h->saved_cap) {
        sl_http_header *p = realloc(h->saved, n * sizeof *p);
        if (!p) { /* cannot keep them: the request is refused below */
            h->n_saved = UINT32_MAX;
            return;
        }
        h->saved = p;
        h->saved_cap = n;
    }
    memcpy(h->saved, hdrs, n * sizeof *hdrs);
    h->n_saved = n;
}

/* The request is framed whole: ready for the next one, or, without
 * keep-alive, for none (what follows is dropped). */
static void request_framed(sl_http_conn *h) {
    int last = !(h->r.flags & SL_HTTP_F_KEEP_ALIVE);
    sl_http_request_reset(&h->r);
    h->n_saved = 0;
    h->mode = B_NONE;
    h->state = last ? H_LAST : H_IDLE;
}

static void write_record(uint32_t *w, const sl_http_request *r, const char *buf,
                         const struct http_routes *routes) {
    w[SL_HTTP_R_METHOD] = r->method;
    w[SL_HTTP_R_FLAGS] = r->flags;
    w[SL_HTTP_R_VERSION] = r->version_minor;
    w[SL_HTTP_R_ROUTE] = http_route_of(routes, buf + r->path_off, r->path_len);
    w[SL_HTTP_R_METHOD_OFF] = r->method_off;
    w[SL_HTTP_R_METHOD_LEN] = r->method_len;
    w[SL_HTTP_R_PATH_OFF] = r->path_off;
    w[SL_HTTP_R_PATH_LEN] = r->path_len;
    w[SL_HTTP_R_TARGET_OFF] = r->target_off;
    w[SL_HTTP_R_TARGET_LEN] = r->target_len;
    w[SL_HTTP_R_AUTHORITY_OFF] = r->authority_off;
    w[SL_HTTP_R_AUTHORITY_LEN] = r->authority_len;
    w[SL_HTTP_R_BODY_OFF] = r->body_off;
    w[SL_HTTP_R_BODY_LEN] = (uint32_t)r->body_len;
    w[SL_HTTP_R_CONSUMED] = (uint32_t)r->consumed;
    w[SL_HTTP_R_HEADERS] = r->n_headers;
}

/* An announced request's body: buffered (413 over max_body) or streamed. */
static int decide(sl_conn *c, int mode) {
    sl_http_conn *h = c->http;
    sl_http_request *r = &h->r;
    const sl_http_limits *lim = &c->loop->http->lim;
    uint64_t max = mode == B_BUFFER ? lim->max_body : lim->max_stream_body;
    h->mode = (uint8_t)mode;
    if (r->content_length > max || r->body_len > max) {
        h->mode = B_NONE;
        refuse(c, 413, r->content_length > max ? "Content-Length over the limit" : "body over the limit",
               SL_CLOSE_PROTOCOL);
        return 413;
    }
    if ((r->flags & SL_HTTP_F_EXPECT_CONTINUE) && !r->consumed) /* the body has not all come */
        output_buf_send_data(&c->out, continue_100, sizeof continue_100 - 1), conn_mark_dirty(c);
    if (mode == B_STREAM) { /* the body bytes already here: handed over next turn */
        c->flags |= CF_FRAME_AGAIN;
        conn_read_again(c);
    }
    return 0;
}

int sl_http_body_mode(sl_conn *c, int stream) {
    SL_CHECK_OWNER(c->loop, -EPERM);
    sl_http_conn *h = c->http;
    if (!h || c->state != CONN_OPEN || h->mode != B_PENDING) return -EINVAL;
    return decide(c, stream ? B_STREAM : B_BUFFER);
}

/* One connection's new bytes into records; e becomes its SL_EV_REQUESTS. */
static void frame_conn(sl_loop *l, sl_event *e) {
    sl_conn *c = e->conn;
    sl_http_conn *h = c->http;
    struct sl_http_loop *hl = l->http;
    char *buf = (char *)input_buf_data(&c->in);
    size_t len = input_buf_length(&c->in), off = 0;
    uint32_t first = (uint32_t)hl->rec_len, records = 0;
    e->kind = SL_EV_REQUESTS;
    h->keep = 0;
    if (h->mode == B_PENDING) decide(c, B_BUFFER); /* the caller did not say: buffer it */
    if (h->state == H_LINGER || h->state == H_REFUSED || h->state == H_LAST) { /* read and drop */
        h->lingered += len;
        if (h->lingered > SL_HTTP_LINGER_MAX)
            conn_decide_close(c, h->linger_reason ? h->linger_reason : SL_CLOSE_LOCAL, 0);
        e->len = len;
        e->arg = 0;
        return;
    }
    if (h->continue_due) { /* the answers of the requests before it have gone (last turn) */
        h->continue_due = 0;
        output_buf_send_data(&c->out, continue_100, sizeof continue_100 - 1);
        conn_mark_dirty(c);
    }
    while (off < len) {
        if (records == SL_HTTP_MAX_BATCH) { /* the rest next turn: a turn's records stay bounded */
            c->flags |= CF_FRAME_AGAIN;
            conn_read_again(c);
            break;
        }
        uint32_t *w = reserve_record(hl);
        if (!w) {
            refuse(c, 503, "out of memory", SL_CLOSE_POOL);
            break;
        }
        sl_http_header *hdrs = (sl_http_header *)(w + SL_HTTP_REC_WORDS);
        if (h->state == H_IDLE) {
            h->state = H_REQ;
            h->start_ms = l->now_ms;
        } else if (h->n_saved) {
            if (h->n_saved == UINT32_MAX) {
                refuse(c, 503, "out of memory", SL_CLOSE_POOL);
                break;
            }
            memcpy(hdrs, h->saved, h->n_saved * sizeof *hdrs);
        }
        int rc = sl_http_parse(&h->r, buf + off, len - off, hdrs, hl->lim.max_headers, &hl->parse);
        if (rc != SL_HTTP_ERROR && h->mode == B_STREAM &&
            h->r.st.taken + h->r.body_len > hl->lim.max_stream_body) {
            rc = SL_HTTP_ERROR; /* a streamed chunked body grew past max_stream_body */
            h->r.status = 413;
            h->r.error = "chunked body over the limit";
        }
        if (rc != SL_HTTP_ERROR && h->mode == B_STREAM) {
            int done = rc == SL_HTTP_DONE;
            uint64_t piece = h->r.body_len;
            if (piece || done) {
                memset(w, 0, SL_HTTP_REC_WORDS * sizeof *w);
                w[SL_HTTP_R_METHOD] = SL_HTTP_BODY_PIECE;
                w[SL_HTTP_R_FLAGS] = h->r.flags | (done ? SL_HTTP_F_BODY_END : 0);
                w[SL_HTTP_R_VERSION] = h->r.version_minor;
                w[SL_HTTP_R_BODY_OFF] = h->r.body_off;
                w[SL_HTTP_R_BODY_LEN] = (uint32_t)piece;
            }
            size_t took = sl_http_take_body(&h->r);
            off += took;
            if (piece || done) {
                w[SL_HTTP_R_CONSUMED] = (uint32_t)took;
                hl->rec_len += SL_HTTP_REC_WORDS;
                records++;
            }
            if (!done) break;
            request_framed(h);
            if (h->state == H_LAST) {
                h->lingered = len - off;
                off = len;
                break;
            }
            continue;
        }
        if (rc != SL_HTTP_ERROR && hl->lim.max_stream_body &&
            h->r.body_len + h->r.st.taken > hl->lim.max_body && h->mode == B_BUFFER) {
            rc = SL_HTTP_ERROR; /* a buffered chunked body grew past max_body */
            h->r.status = 413;
            h->r.error = "chunked body over the limit";
        }
        if (hl->lim.max_stream_body && h->mode == B_NONE &&
            (rc == SL_HTTP_HEAD_DONE || (rc == SL_HTTP_DONE && h->r.body_len > hl->lim.max_body))) {
            write_record(w, &h->r, buf + off, hl->routes); /* the head only; the caller decides the body */
            w[SL_HTTP_R_FLAGS] |= SL_HTTP_F_ANNOUNCED;
            w[SL_HTTP_R_BODY_LEN] = 0;
            w[SL_HTTP_R_CONSUMED] = 0;
            hl->rec_len += SL_HTTP_REC_WORDS + 4 * (size_t)h->r.n_headers;
            records++;
            h->mode = B_PENDING;
            h->keep = h->r.head_len;
            save_headers(h, hdrs);
            break;
        }
        if (rc == SL_HTTP_DONE) {
            write_record(w, &h->r, buf + off, hl->routes);
            hl->rec_len += SL_HTTP_REC_WORDS + 4 * (size_t)h->r.n_headers;
            records++;
            off += h->r.consumed;
            request_framed(h);
            if (h->state == H_LAST) { /* no keep-alive: what follows is no request */
                h->lingered = len - off;
                off = len;
                break;
            }
            continue;
        }
        if (rc == SL_HTTP_ERROR) {
            write_record(w, &h->r, buf + off, NULL);
            w[SL_HTTP_R_METHOD] = SL_HTTP_REFUSED;
            w[SL_HTTP_R_STATUS] = h->r.status;
            w[SL_HTTP_R_CONSUMED] = 0;
            w[SL_HTTP_R_HEADERS] = 0;
            hl->rec_len += SL_HTTP_REC_WORDS;
            records++;
            /* answered by sl_http_refuse, after the requests before it */
            h->state = H_REFUSED;
            h->refuse_status = (uint16_t)h->r.status;
            h->refuse_why = h->r.error;
            h->start_ms = l->now_ms;
            h->lingered = len - off;
            off = len; /* the rest is dropped */
            break;
        }
        if (rc == SL_HTTP_HEAD_DONE && !hl->lim.max_stream_body && (h->r.flags & SL_HTTP_F_EXPECT_CONTINUE)) {
            if (records) { /* behind answers still to come: next turn, after them */
                h->continue_due = 1;
                c->flags |= CF_FRAME_AGAIN;
                conn_read_again(c);
            } else {
                output_buf_send_data(&c->out, continue_100, sizeof continue_100 - 1);
                conn_mark_dirty(c);
            }
        }
        save_headers(h, hdrs); /* NEED_MORE or HEAD_DONE: the rest comes later */
        break;
    }
    e->len = off + h->keep;
    e->arg = records << 1;
    e->err = (int32_t)first;
}

void http_frame_turn(sl_loop *l) {
    if (!l->http) return;
    l->http->rec_len = 0;
    for (size_t i = 0; i < l->nev; i++) {
        sl_event *e = &l->ev[i];
        if (e->kind == SL_EV_DATA && e->conn->http && e->conn->state == CONN_OPEN) frame_conn(l, e);
    }
}

/* The head of an answer into the output; 0, or -errno. */
static ssize_t respond_head(sl_conn *c, unsigned status, const char *extra, size_t extra_len, int64_t length,
                            int version_minor, int keep_alive) {
    sl_http_conn *h = c->http;
    if (!h || h->state == H_LINGER || c->state != CONN_OPEN || c->close_reason) return -EPIPE;
    struct sl_http_loop *hl = c->loop->http;
    char stack[2048];
    size_t cap = 512 + extra_len;
    char *head = cap <= sizeof stack ? stack : malloc(cap);
    if (!head) return -ENOMEM;
    size_t n = sl_http_render_head(head, cap, status, NULL, 0, extra, extra_len, length, version_minor,
                                   keep_alive, hl->server, hl->server_len);
    int failed = n && output_buf_send_data(&c->out, head, n) != 0;
    if (head != stack) free(head);
    return !n ? -EINVAL : failed ? -ENOBUFS : 0;
}

static ssize_t respond_done(sl_conn *c, int keep_alive) {
    if (!keep_alive) linger(c, 0);
    if (c->out.pending > c->high_water) c->flags |= CF_WRITE_PAUSED;
    conn_mark_dirty(c);
    return (ssize_t)c->out.pending;
}

ssize_t sl_http_respond(sl_conn *c, unsigned status, const char *extra, size_t extra_len, const char *body,
                        size_t body_len, int64_t content_length, int version_minor, int keep_alive,
                        int head_only) {
    SL_CHECK_OWNER(c->loop, -EPERM);
    if (content_length == SL_HTTP_LENGTH_OF_BODY) content_length = (int64_t)body_len;
    ssize_t r = respond_head(c, status, extra, extra_len, content_length, version_minor, keep_alive);
    if (r < 0) return r;
    if (!head_only && body_len && output_buf_send_data(&c->out, body, body_len) != 0) return -ENOBUFS;
    return respond_done(c, keep_alive || head_only == SL_HTTP_STREAM_HEAD);
}

ssize_t sl_http_respond_text(sl_conn *c, const char *body, size_t body_len, int version_minor, int keep_alive,
                             int head_only) {
    static const char text[] = "Content-Type: text/plain; charset=utf-8\r\n";
    return sl_http_respond(c, 200, text, sizeof text - 1, body, body_len, SL_HTTP_LENGTH_OF_BODY,
                           version_minor, keep_alive, head_only);
}

int sl_http_finish(sl_conn *c, int keep_alive) {
    SL_CHECK_OWNER(c->loop, -EPERM);
    sl_http_conn *h = c->http;
    if (!h || h->state == H_LINGER || c->state != CONN_OPEN || c->close_reason) return -EPIPE;
    respond_done(c, keep_alive);
    return 0;
}

int sl_http_refuse(sl_conn *c) {
    SL_CHECK_OWNER(c->loop, -EPERM);
    sl_http_conn *h = c->http;
    if (!h || c->state != CONN_OPEN || c->close_reason) return -EPIPE;
    if (h->state != H_REFUSED) return -EINVAL;
    unsigned status = h->refuse_status;
    refuse(c, status, h->refuse_why, SL_CLOSE_PROTOCOL);
    return (int)status;
}

ssize_t sl_http_respond_file(sl_conn *c, unsigned status, const char *extra, size_t extra_len, int file_fd,
                             uint64_t offset, size_t len, int version_minor, int keep_alive, int head_only) {
    SL_CHECK_OWNER(c->loop, -EPERM);
    ssize_t r = respond_head(c, status, extra, extra_len, (int64_t)len, version_minor, keep_alive);
    if (r < 0) return r;
    if (!head_only && len) {
        int fd = fcntl(file_fd, F_DUPFD_CLOEXEC, 0);
        if (fd < 0) return -errno;
        if (output_buf_send_file(&c->out, fd, offset, len) != 0) {
            close(fd);
            return -ENOBUFS;
        }
    }
    return respond_done(c, keep_alive);
}

uint64_t sl_http_deadline(sl_conn *c, uint32_t header_ms, uint32_t keepalive_ms, uint32_t linger_ms) {
    sl_http_conn *h = c->http;
    /* an answer still leaving: idle only once the client stops taking it */
    if (c->out.pending) return SL_MAX(c->last_active_ms, c->last_write_ms) + keepalive_ms;
    if (!h || h->state == H_IDLE || h->state == H_LAST) return c->last_active_ms + keepalive_ms;
    if (h->state == H_LINGER) return h->start_ms + linger_ms;
    if (h->state == H_REFUSED) return h->start_ms + header_ms; /* the answers before it are late */
    /* a head runs from its first byte (slowloris); a body from its last byte */
    return (h->r.head_len ? c->last_active_ms : h->start_ms) + header_ms;
}

int sl_http_expire(sl_conn *c) {
    SL_CHECK_OWNER(c->loop, -EPERM);
    sl_http_conn *h = c->http;
    if (c->state != CONN_OPEN) return -EBADF;
    if (h && h->state == H_REFUSED) { /* the answers before it took too long: refuse now */
        unsigned status = h->refuse_status;
        refuse(c, status, h->refuse_why, SL_CLOSE_PROTOCOL);
        return (int)status;
    }
    if (h && h->state == H_REQ) {
        refuse(c, 408,
               h->r.head_len ? "the body did not arrive in time" : "the request head did not arrive in time",
               SL_CLOSE_TIMEOUT);
        return 408;
    }
    int reason = SL_CLOSE_IDLE;
    if (h && h->state == H_LINGER) reason = h->linger_reason ? h->linger_reason : SL_CLOSE_LOCAL;
    sl_conn_close(c, reason, 0);
    return 0;
}
