/*
 * client.c - sluice bench's client: its own epoll loop, one run per call.
 *
 * Sockets are edge-triggered both ways from the start (no epoll_ctl after a
 * connect); `pipeline` copies of the request let any number of queued ones
 * leave in one send. Constant rate (wrk2): slot g of the process's schedule
 * is due at start + g / rate and owned by connection g % n; a timerfd wakes
 * each slot's owner, which sends all it owes (it may be behind) and counts
 * latency from the intended times. A tick every 10 ms reconnects the failed
 * (100 attempts/s per connection, not a spin), times out, publishes, ends.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "client.h"

/* ---- the response delimiter ------------------------------------------- */

enum { R_STATUS, R_REASON, R_NAME, R_VALUE, R_BODY, R_CHUNK_SIZE, R_CHUNK_EXT, R_CHUNK_DATA, R_CHUNK_END };
enum { R_TRAILER = R_CHUNK_END + 1, R_UNTIL_CLOSE, H_LENGTH = 1, H_TE = 2, H_ALL = 7 };
enum { F_HEAD = 2, F_LENGTH = 4, F_CHUNKED = 8 }; /* beside SL_RESP_CLOSE */
static const char *const header_names[3] = {"content-length", "transfer-encoding", "connection"};

void sl_resp_init(sl_resp *p, int head) { *p = (sl_resp){.flags = head ? F_HEAD : 0}; }

static int to(sl_resp *p, uint32_t state) {
    p->state = state;
    p->pos = p->match = 0;
    p->candidates = H_ALL;
    return SL_RESP_MORE;
}

static int end_of_head(sl_resp *p) {
    if (p->status < 200 && p->status != 101) { /* interim: the answer is still to come */
        sl_resp_init(p, p->flags & F_HEAD);
        return SL_RESP_MORE;
    }
    if (p->minor == 0 || p->status == 101) p->flags |= SL_RESP_CLOSE;
    if ((p->flags & F_HEAD) || p->status == 204 || p->status == 304 || p->status == 101) return SL_RESP_DONE;
    p->head_bytes = 0;
    if (p->flags & F_CHUNKED) return p->length = 0, to(p, R_CHUNK_SIZE);
    if (p->flags & F_LENGTH) return to(p, R_BODY), p->length ? SL_RESP_MORE : SL_RESP_DONE;
    p->flags |= SL_RESP_CLOSE;
    return to(p, R_UNTIL_CLOSE);
}

/* One byte of a head, a chunk line or the trailers. */
static int step(sl_resp *p, unsigned c) {
    unsigned lc = c >= 'A' && c <= 'Z' ? c + 32 : c, digit = c - '0', hex = lc - 'a' + 10;
    switch (p->state) {
    case R_STATUS: /* "HTTP/1.x nnn" then a space or the end of the line */
        if (p->pos == 12 && p->status >= 100 && p->status <= 599 && (c == ' ' || c == '\r' || c == '\n'))
            return to(p, c == '\n' ? R_NAME : R_REASON);
        if (p->pos == 12 ||
            ("HTTP/1.# ###"[p->pos] == '#' ? digit > 9 : c != (unsigned char)"HTTP/1.# ###"[p->pos]))
            return SL_RESP_ERROR;
        if (p->pos == 7) p->minor = digit;
        if (p->pos++ > 8) p->status = p->status * 10 + digit;
        return SL_RESP_MORE;
    case R_REASON:
        return c == '\n' ? to(p, R_NAME) : SL_RESP_MORE;
    case R_NAME:
        if (c == '\r') return SL_RESP_MORE;
        if (c == '\n') return p->pos ? SL_RESP_ERROR : end_of_head(p);
        if (c == ':') {
            p->header = p->match = 0;
            for (unsigned k = 0; k < 3; k++)
                if ((p->candidates >> k & 1) && header_names[k][p->pos] == 0) p->header = 1u << k;
            p->state = R_VALUE;
            return SL_RESP_MORE;
        }
        /* A name leaves the candidates at its first mismatch, its '\0' at the
         * latest (a 0 byte is refused): no read goes past it. */
        if (c == 0) return SL_RESP_ERROR;
        for (unsigned k = 0; k < 3; k++)
            if ((p->candidates >> k & 1) && (unsigned char)header_names[k][p->pos] != lc)
                p->candidates &= ~(1u << k);
        p->pos++;
        return SL_RESP_MORE;
    case R_VALUE:
        if (c == '\n') return p->header == H_LENGTH && p->match == 0 ? SL_RESP_ERROR : to(p, R_NAME);
        if (p->header == H_LENGTH) { /* match: 0 before the digits, 1 in them, 2 after */
            if (c == ' ' || c == '\t' || c == '\r') {
                p->match = p->match ? 2 : 0;
                return SL_RESP_MORE;
            }
            if (digit > 9 || p->match == 2 || (p->match && p->length > (UINT64_MAX - 9) / 10))
                return SL_RESP_ERROR;
            p->length = (p->match ? p->length * 10 : 0) + digit; /* a repeated header: the last counts */
            p->match = 1;
            p->flags |= F_LENGTH;
        } else if (p->header) { /* the letters of either word are distinct: no backtracking */
            const char *word = p->header == H_TE ? "chunked" : "close";
            p->match = lc == (unsigned char)word[p->match] ? p->match + 1 : lc == (unsigned char)word[0];
            if (word[p->match] == 0) p->flags |= p->header == H_TE ? F_CHUNKED : SL_RESP_CLOSE;
            if (word[p->match] == 0) p->match = 0;
        }
        return SL_RESP_MORE;
    case R_CHUNK_SIZE:
    case R_CHUNK_EXT: /* match: a digit seen */
        if (c == '\n' && !p->match) return SL_RESP_ERROR;
        if (c == '\n') return p->head_bytes = 0, to(p, p->length ? R_CHUNK_DATA : R_TRAILER);
        if (p->state == R_CHUNK_EXT || c == '\r' || c == ' ' || c == '\t') return SL_RESP_MORE;
        if (c == ';') return p->state = R_CHUNK_EXT, SL_RESP_MORE;
        if ((digit > 9 && hex > 15) || p->length >> 59) return SL_RESP_ERROR;
        p->length = p->length * 16 + (digit <= 9 ? digit : hex);
        p->match = 1;
        return SL_RESP_MORE;
    case R_CHUNK_END:
        return c == '\r' ? SL_RESP_MORE : c == '\n' ? to(p, R_CHUNK_SIZE) : SL_RESP_ERROR;
    case R_TRAILER: /* pos: bytes in the line */
        if (c == '\n') return p->pos ? to(p, R_TRAILER) : SL_RESP_DONE;
        p->pos += c != '\r';
        return SL_RESP_MORE;
    }
    return SL_RESP_ERROR;
}

int sl_resp_feed(sl_resp *p, const char *data, size_t n, size_t *used) {
    size_t i = 0;
    int r = SL_RESP_MORE;
    while (i < n && r == SL_RESP_MORE) {
        if (p->state == R_UNTIL_CLOSE) {
            i = n;
        } else if (p->state == R_BODY || p->state == R_CHUNK_DATA) { /* bodies are skipped whole */
            size_t take = n - i < p->length ? n - i : (size_t)p->length;
            i += take;
            p->length -= take;
            if (p->length == 0) r = p->state == R_BODY ? SL_RESP_DONE : to(p, R_CHUNK_END);
        } else {
            r = ++p->head_bytes > SL_RESP_MAX_HEAD ? SL_RESP_ERROR : step(p, (unsigned char)data[i++]);
        }
    }
    *used = i;
    return r;
}

int sl_resp_eof(const sl_resp *p) {
    if (p->state == R_UNTIL_CLOSE) return SL_RESP_DONE;
    return p->state == R_STATUS && p->head_bytes == 0 ? SL_RESP_MORE : SL_RESP_ERROR; /* begun: cut short */
}

/* ---- the load loop ---------------------------------------------------- */

enum { C_IDLE, C_CONNECTING, C_OPEN };
#define TICK_US 10000
#define TIMER_TAG UINT64_MAX

typedef struct bconn {
    int fd;
    uint32_t state;
    uint32_t in_flight, sent;      /* requests queued or written and not answered; on this connection */
    uint32_t oldest;               /* ring index of the oldest in-flight start time */
    uint32_t queued;               /* on the batch's send queue */
    uint64_t wr_off, wr_pending;   /* offset in the request of the next byte to write; bytes queued */
    uint64_t next_seq;             /* rate: the next of this connection's slots */
    uint64_t connect_start, since; /* since: the timeout's clock (the connect, or the last progress) */
    sl_resp resp;
} bconn;

typedef struct bench {
    const sl_bench_config *cfg;
    sl_bench_result *out;
    sl_hist *hist;
    bconn *conns;
    uint32_t *sendq; /* connections that read an answer in this batch: they send after it */
    uint32_t nsendq;
    uint64_t *starts; /* each connection's ring of `pipeline` start times */
    char *wbuf;       /* `pipeline` copies of the request */
    size_t wbuf_len;
    int ep, tfd, draining;
    uint64_t start, now, timeout, drain_start, last_done, next_slot;
    double slot_us;
    uint32_t next_source;
    struct sockaddr_storage dst;
    char rbuf[65536];
} bench;

static uint64_t now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void conn_open(bench *b, bconn *c);

/* kind: an SL_BENCH_ERR_* to count, or -1. again: reconnect now (the close
 * ends a response), else at the next tick (a failure: no spin). */
static void conn_close(bench *b, bconn *c, int kind, int again) {
    if (c->state != C_IDLE) close(c->fd);
    if (kind >= 0) b->out->errors[kind]++;
    c->state = C_IDLE;
    c->in_flight = c->sent = c->oldest = 0;
    c->wr_off = c->wr_pending = 0;
    sl_resp_init(&c->resp, b->cfg->flags & SL_BENCH_HEAD);
    if (again && !b->draining) conn_open(b, c);
}

static void conn_open(bench *b, bconn *c) {
    const sl_bench_config *cfg = b->cfg;
    int one = 1, v4 = b->dst.ss_family == AF_INET;
    c->connect_start = c->since = b->now;
    if ((c->fd = socket(b->dst.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0) {
        b->out->errors[SL_BENCH_ERR_CONNECT]++;
        return;
    }
    c->state = C_CONNECTING;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in src = {.sin_family = AF_INET};
    if (cfg->n_sources && v4) { /* no port until connect: the 4-tuple, not the address, must be unique */
        src.sin_addr.s_addr = cfg->sources[b->next_source++ % cfg->n_sources];
        setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    }
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET};
    ev.data.u64 = (uint64_t)(c - b->conns);
    if ((cfg->n_sources && v4 && bind(c->fd, (struct sockaddr *)&src, sizeof src) < 0) ||
        (connect(c->fd, (struct sockaddr *)&b->dst, v4 ? sizeof src : sizeof(struct sockaddr_in6)) < 0 &&
         errno != EINPROGRESS) ||
        epoll_ctl(b->ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
        conn_close(b, c, SL_BENCH_ERR_CONNECT, 0);
}

static void flush(bench *b, bconn *c) {
    while (c->wr_pending) {
        size_t chunk = b->wbuf_len - c->wr_off < c->wr_pending ? b->wbuf_len - c->wr_off : c->wr_pending;
        ssize_t n = send(c->fd, b->wbuf + c->wr_off, chunk, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) conn_close(b, c, SL_BENCH_ERR_WRITE, 0);
        if (n < 0) return;
        c->wr_pending -= (size_t)n;
        c->wr_off = (c->wr_off + (size_t)n) % b->cfg->request_len;
    }
}

/* When this connection's next slot starts (constant rate): its k-th is k * n + idx. */
static uint64_t slot_start(const bench *b, const bconn *c) {
    uint64_t idx = (uint64_t)(c - b->conns);
    return b->start + (uint64_t)((double)(c->next_seq * b->cfg->connections + idx) * b->slot_us);
}

/* Whether the window, the schedule and the mode let c send a request now. */
static int request_due(const bench *b, const bconn *c) {
    const sl_bench_config *cfg = b->cfg;
    if (b->draining || c->in_flight >= cfg->pipeline || ((cfg->flags & SL_BENCH_CLOSE) && c->sent)) return 0;
    return !cfg->rate_milli || slot_start(b, c) <= b->now;
}

/* Queue what the window, the schedule and the mode allow, and write it. */
static void try_send(bench *b, bconn *c) {
    const sl_bench_config *cfg = b->cfg;
    uint64_t idx = (uint64_t)(c - b->conns), close_each = cfg->flags & SL_BENCH_CLOSE;
    while (c->state == C_OPEN && request_due(b, c)) {
        uint64_t start = close_each ? c->connect_start : b->now;
        if (cfg->rate_milli) {
            start = slot_start(b, c);
            c->next_seq++;
        }
        if (c->in_flight == 0) c->since = b->now;
        b->starts[idx * cfg->pipeline + (c->oldest + c->in_flight++) % cfg->pipeline] = start;
        c->sent++;
        c->wr_pending += cfg->request_len;
    }
    if (c->state == C_OPEN) flush(b, c);
}

/* 0 if that closed the connection. */
static int response_done(bench *b, bconn *c) {
    uint64_t start = b->starts[(uint64_t)(c - b->conns) * b->cfg->pipeline + c->oldest];
    c->oldest = (c->oldest + 1) % b->cfg->pipeline;
    c->in_flight--;
    b->out->requests++;
    b->out->status[c->resp.status / 100 - 1]++; /* 100..599, as the parser checked */
    sl_hist_record(b->hist, b->now > start ? b->now - start : 0);
    b->last_done = c->since = b->now;
    if ((c->resp.flags & SL_RESP_CLOSE) || (b->cfg->flags & SL_BENCH_CLOSE)) {
        conn_close(b, c, -1, 1);
        return 0;
    }
    sl_resp_init(&c->resp, b->cfg->flags & SL_BENCH_HEAD);
    return 1;
}

static void on_readable(bench *b, bconn *c, uint32_t events) {
    for (;;) {
        ssize_t n = recv(c->fd, b->rbuf, sizeof b->rbuf, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) conn_close(b, c, SL_BENCH_ERR_READ, 0);
        if (n < 0) return;
        if (n == 0) { /* a close-delimited body ends; else a failure if anything was awaited */
            int r = sl_resp_eof(&c->resp);
            if (r == SL_RESP_DONE && c->in_flight)
                response_done(b, c);
            else /* awaited: a request in flight, or one due to leave after this batch */
                conn_close(b, c,
                           r == SL_RESP_ERROR || c->in_flight || (c->queued && request_due(b, c))
                               ? SL_BENCH_ERR_READ
                               : -1,
                           0);
            return;
        }
        b->out->bytes += (uint64_t)n;
        for (size_t at = 0, used; at < (size_t)n; at += used) {
            int r =
                c->in_flight ? sl_resp_feed(&c->resp, b->rbuf + at, (size_t)n - at, &used) : SL_RESP_ERROR;
            if (r == SL_RESP_ERROR) conn_close(b, c, SL_BENCH_ERR_READ, 0); /* or bytes nobody asked for */
            if (r == SL_RESP_ERROR || (r == SL_RESP_DONE && !response_done(b, c))) return;
        }
        if (!c->queued) { /* the next requests leave after the whole batch is read, as wrk's */
            c->queued = 1;
            b->sendq[b->nsendq++] = (uint32_t)(c - b->conns);
        }
        /* A short read drained the socket: a later arrival raises a new edge.
         * A FIN raises none, so after RDHUP read on until the EOF. */
        if (c->state != C_OPEN ||
            ((size_t)n < sizeof b->rbuf && !(events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))))
            return;
    }
}

static void on_event(bench *b, uint64_t tag, uint32_t events) {
    bconn *c = &b->conns[tag % b->cfg->connections];
    int err = 0;
    socklen_t len = sizeof err;
    if (c->state == C_IDLE) return; /* closed earlier in this batch (a new fd is never in it) */
    if (c->state == C_CONNECTING) {
        if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err || !(events & EPOLLOUT)) {
            conn_close(b, c, SL_BENCH_ERR_CONNECT, 0);
            return;
        }
        c->state = C_OPEN;
        c->since = b->now;
        b->out->connects++;
        try_send(b, c);
    } else if (events & EPOLLOUT) {
        flush(b, c);
    }
    if (c->state == C_OPEN && (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
        on_readable(b, c, events);
}

/* The requests of the connections that read answers in this batch, all
 * at once: the server then finds them together in its next epoll_wait,
 * not one per wake (measured: sending each at once cost the server 7-13%
 * more CPU per request, nginx and Sluice alike). */
static void send_queued(bench *b) {
    for (uint32_t k = 0; k < b->nsendq; k++) {
        bconn *c = &b->conns[b->sendq[k]];
        c->queued = 0;
        if (c->state == C_OPEN) try_send(b, c);
    }
    b->nsendq = 0;
}

/* The timerfd: wake the owners of the slots now due (each sends all it
 * owes, so one round of the connections is enough), arm for the next. */
static void on_slot(bench *b) {
    uint64_t due = (uint64_t)((double)(b->now - b->start) / b->slot_us), n = b->cfg->connections;
    for (uint64_t i = 0; i < n && b->next_slot + i <= due; i++)
        try_send(b, &b->conns[(b->next_slot + i) % n]);
    if (due >= b->next_slot) b->next_slot = due + 1;
    uint64_t t = b->start + (uint64_t)((double)b->next_slot * b->slot_us);
    struct itimerspec its = {.it_value = {(time_t)(t / 1000000), (long)(t % 1000000) * 1000}};
    timerfd_settime(b->tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

/* Every TICK_US: reconnect, time out, publish; 0 once the drain is over. */
static int tick(bench *b) {
    const sl_bench_config *cfg = b->cfg;
    uint64_t busy = 0, over = b->draining && b->now >= b->drain_start + b->timeout;
    for (uint32_t i = 0; i < cfg->connections; i++) {
        bconn *c = &b->conns[i];
        int late = over || b->now - c->since > b->timeout;
        if (c->state == C_IDLE && !b->draining) {
            conn_open(b, c);
        } else if (c->state == C_CONNECTING && late) { /* one that ends in the drain still counts */
            conn_close(b, c, over ? -1 : SL_BENCH_ERR_CONNECT, 0);
        } else if (c->state == C_OPEN && ((c->in_flight && late) || (b->draining && !c->in_flight))) {
            b->out->errors[SL_BENCH_ERR_TIMEOUT] += c->in_flight;
            conn_close(b, c, -1, 0);
        }
        busy += c->state != C_IDLE;
    }
    if (cfg->shared) cfg->shared[0] = b->out->requests;
    if (cfg->shared)
        cfg->shared[1] = b->out->errors[0] + b->out->errors[1] + b->out->errors[2] + b->out->errors[3];
    return !b->draining || busy;
}

static int setup(bench *b) {
    const sl_bench_config *cfg = b->cfg;
    struct sockaddr_in6 *dst = (struct sockaddr_in6 *)&b->dst; /* family and port: the same place in both */
    if (!cfg->request || !cfg->request_len || !cfg->connections || !cfg->pipeline || cfg->pipeline > 65536 ||
        cfg->request_len > (1u << 30) / cfg->pipeline || (cfg->family != 4 && cfg->family != 6) ||
        cfg->port > 65535 || cfg->n_sources > SL_BENCH_MAX_SOURCES)
        return EINVAL;
    dst->sin6_family = cfg->family == 4 ? AF_INET : AF_INET6;
    dst->sin6_port = htons((uint16_t)cfg->port);
    if (cfg->family == 4)
        memcpy(&((struct sockaddr_in *)&b->dst)->sin_addr, cfg->addr, 4);
    else
        memcpy(&dst->sin6_addr, cfg->addr, 16);
    for (size_t at = 0; at < b->wbuf_len; at += cfg->request_len)
        memcpy(b->wbuf + at, cfg->request, cfg->request_len);
    if ((b->ep = epoll_create1(EPOLL_CLOEXEC)) < 0) return errno;
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = TIMER_TAG};
    b->slot_us = cfg->rate_milli ? 1e9 / (double)cfg->rate_milli : 0;
    if (cfg->rate_milli && ((b->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)) < 0 ||
                            epoll_ctl(b->ep, EPOLL_CTL_ADD, b->tfd, &ev) < 0))
        return errno;
    return 0;
}

int sl_bench_run(const sl_bench_config *cfg, sl_bench_result *out, struct sl_hist *latency) {
    /* One block: the loop, the connections, their start-time rings, the request copies. */
    size_t n = cfg->connections, depth = cfg->pipeline <= 65536 ? cfg->pipeline : 0; /* more: EINVAL */
    size_t ring = n * depth * sizeof(uint64_t), wbuf_len = (size_t)cfg->request_len * depth;
    size_t queue = (n * sizeof(uint32_t) + 7) / 8 * 8; /* keeps the rings 8-byte aligned */
    bench *b = calloc(1, sizeof *b + n * sizeof(bconn) + queue + ring + wbuf_len);
    struct epoll_event evs[256];
    *out = (sl_bench_result){.setup_errno = b ? 0 : ENOMEM};
    if (!b) return -1;
    *b = (bench){.cfg = cfg, .out = out, .hist = latency, .ep = -1, .tfd = -1, .wbuf_len = wbuf_len};
    b->conns = (bconn *)(b + 1);
    b->sendq = (uint32_t *)(b->conns + n);
    b->starts = (uint64_t *)((char *)b->sendq + queue);
    b->wbuf = (char *)(b->starts + ring / sizeof(uint64_t));
    b->timeout = cfg->timeout_us ? cfg->timeout_us : 2000000;
    out->setup_errno = setup(b);
    b->start = b->now = now_us();
    uint64_t deadline = b->start + cfg->duration_us, next_tick = b->start + TICK_US;
    for (uint32_t i = 0; i < cfg->connections && !out->setup_errno; i++) {
        sl_resp_init(&b->conns[i].resp, cfg->flags & SL_BENCH_HEAD); /* a HEAD's answers have no body */
        conn_open(b, &b->conns[i]);
    }
    if (cfg->rate_milli && !out->setup_errno) on_slot(b);
    while (!out->setup_errno) {
        uint64_t until = b->draining || deadline > next_tick ? next_tick : deadline, expirations;
        int ready = epoll_wait(b->ep, evs, 256, until > b->now ? (int)((until - b->now + 999) / 1000) : 0);
        if (ready < 0 && errno != EINTR) out->setup_errno = errno;
        for (int i = 0; i < ready; i++) {
            b->now = now_us();
            if (evs[i].data.u64 != TIMER_TAG)
                on_event(b, evs[i].data.u64, evs[i].events);
            else if (read(b->tfd, &expirations, sizeof expirations) >= 0 && !b->draining)
                on_slot(b);
        }
        b->now = now_us();
        send_queued(b);
        if (!b->draining && (b->now >= deadline || (cfg->shared && cfg->shared[2]))) {
            b->draining = 1;
            b->drain_start = next_tick = b->now; /* close the idle ones at once */
        }
        if (b->now >= next_tick && !tick(b)) break;
        if (b->now >= next_tick) next_tick = b->now + TICK_US;
    }
    uint64_t end = b->drain_start > b->last_done ? b->drain_start : b->last_done;
    out->elapsed_us = end > b->start ? end - b->start : 0;
    for (uint32_t i = 0; i < cfg->connections; i++)
        if (b->conns[i].state != C_IDLE) close(b->conns[i].fd);
    if (b->ep >= 0) close(b->ep);
    if (b->tfd >= 0) close(b->tfd);
    free(b);
    return out->setup_errno ? -1 : 0;
}
