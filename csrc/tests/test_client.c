/*
 * test_client.c - sluice bench's client core: the response delimiter fed at
 * every split of a stream of responses (Content-Length, chunked with
 * extensions and trailers, no-body statuses, interim 1xx, HTTP/1.0, close
 * delimited), malformed heads refused, and sl_bench_run end to end against
 * a small server thread on loopback (exact counts, status classes, pipelining,
 * a connection per request, the rate, refused/malformed/silent servers).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client.h"
#include "util.h"

/* ---- the delimiter ----------------------------------------------------- */

#define MAXR 32

typedef struct fed {
    int statuses[MAXR], closes[MAXR];
    int n, error;
    size_t consumed;
} fed;

/* Feed s in pieces of at most `piece` bytes, after a first one of `first`;
 * record each response's status and close flag. */
static fed feed(const char *s, size_t len, size_t first, size_t piece, int head) {
    fed f = {.n = 0};
    sl_resp p;
    sl_resp_init(&p, head);
    for (size_t at = 0; at < len && !f.error;) {
        size_t n = at == 0 && first ? first : piece;
        if (n > len - at) n = len - at;
        while (n && !f.error) {
            size_t used = 0;
            int r = sl_resp_feed(&p, s + at, n, &used);
            if (used > n) f.error = 2; /* never past the buffer */
            if (r == SL_RESP_ERROR) f.error = 1;
            at += used;
            n -= used;
            f.consumed += used;
            if (r == SL_RESP_DONE && f.n < MAXR) {
                f.statuses[f.n] = (int)p.status;
                f.closes[f.n++] = (p.flags & SL_RESP_CLOSE) != 0;
                sl_resp_init(&p, head);
            }
        }
    }
    if (!f.error && sl_resp_eof(&p) == SL_RESP_DONE && f.n < MAXR) {
        f.statuses[f.n] = (int)p.status;
        f.closes[f.n++] = 1;
    }
    return f;
}

static const char stream[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nServer: x\r\n\r\nhello"
                             "HTTP/1.1 100 Continue\r\n\r\n"
                             "HTTP/1.1 404 Not Found\r\ncontent-length:3\r\n\r\nnop"
                             "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n"
                             "5;ext=1\r\nabcde\r\nA\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n"
                             "HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n"
                             "HTTP/1.1 304 Not Modified\r\n\r\n"
                             "HTTP/1.1 301 Moved\nContent-Length: 2\n\nok" /* bare LF lines */
                             "HTTP/1.1 503\r\nContent-Length:  0 \r\n\r\n"
                             "HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nContent-Length: 1\r\n\r\n!"
                             "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n10"
                             "HTTP/1.1 200 OK\r\n\r\nuntil the close";
static const int stream_statuses[] = {200, 404, 200, 204, 304, 301, 503, 200, 200, 200};
static const int stream_closes[] = {0, 0, 0, 0, 0, 0, 0, 1, 1, 1};
#define STREAM_N 10

static void check_stream(fed f, size_t first, size_t piece) {
    CHECKF(!f.error && f.n == STREAM_N, "first %zu piece %zu: error %d, %d responses", first, piece, f.error,
           f.n);
    for (int i = 0; i < STREAM_N && i < f.n; i++) {
        CHECKF(f.statuses[i] == stream_statuses[i], "split %zu/%zu: response %d is %d", first, piece, i,
               f.statuses[i]);
        CHECKF(f.closes[i] == stream_closes[i], "split %zu/%zu: response %d close %d", first, piece, i,
               f.closes[i]);
    }
    CHECK_EQ_U(f.consumed, sizeof stream - 1);
}

TEST(resp_stream_delimited_whatever_the_split) {
    size_t len = sizeof stream - 1;
    check_stream(feed(stream, len, 0, len, 0), 0, len); /* all at once */
    check_stream(feed(stream, len, 0, 1, 0), 0, 1);     /* byte by byte */
    for (size_t first = 1; first < len; first++) check_stream(feed(stream, len, first, len, 0), first, len);
    for (size_t piece = 2; piece < 40; piece++) check_stream(feed(stream, len, 0, piece, 0), 0, piece);
}

TEST(resp_chunked_body_and_trailers_are_skipped_exactly) {
    static const char s[] = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
                            "1a\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n\r\n"
                            "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\nContent-Length: 99\r\n\r\n"
                            "3\r\n\r\n\r\r\n0\r\nA: 1\r\nB: 2\r\n\r\n" /* data: CR LF CR */;
    for (size_t piece = 1; piece <= sizeof s; piece++) {
        fed f = feed(s, sizeof s - 1, 0, piece, 0);
        CHECKF(!f.error && f.n == 2 && f.statuses[1] == 201, "piece %zu: error %d n %d", piece, f.error, f.n);
        CHECK_EQ_U(f.consumed, sizeof s - 1);
    }
}

TEST(resp_close_delimited_body_ends_at_eof_only) {
    static const char s[] = "HTTP/1.1 200 OK\r\nX: y\r\n\r\nbody that goes on";
    sl_resp p;
    size_t used;
    sl_resp_init(&p, 0);
    CHECK_EQ_I(sl_resp_feed(&p, s, sizeof s - 1, &used), SL_RESP_MORE);
    CHECK_EQ_U(used, sizeof s - 1);
    CHECK_EQ_I(sl_resp_feed(&p, "more", 4, &used), SL_RESP_MORE);
    CHECK_EQ_I(sl_resp_eof(&p), SL_RESP_DONE);
    CHECK(p.flags & SL_RESP_CLOSE);
}

TEST(resp_eof_before_or_inside_a_response) {
    sl_resp p;
    size_t used;
    sl_resp_init(&p, 0);
    CHECK_EQ_I(sl_resp_eof(&p), SL_RESP_MORE); /* nothing begun: a clean close */
    CHECK_EQ_I(sl_resp_feed(&p, "HTTP/1.1 2", 10, &used), SL_RESP_MORE);
    CHECK_EQ_I(sl_resp_eof(&p), SL_RESP_ERROR);
    sl_resp_init(&p, 0);
    CHECK_EQ_I(sl_resp_feed(&p, "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc", 42, &used), SL_RESP_MORE);
    CHECK_EQ_I(sl_resp_eof(&p), SL_RESP_ERROR);
}

TEST(resp_head_request_has_no_body_whatever_the_length) {
    static const char s[] = "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"
                            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    fed f = feed(s, sizeof s - 1, 0, 3, 1);
    CHECK(!f.error && f.n == 2);
    f = feed(s, sizeof s - 1, 0, 3, 0); /* as GET: the second head is the first one's body */
    CHECK(f.n == 0);
}

TEST(resp_malformed_heads_are_errors) {
    static const char *const bad[] = {
        "HTTP/2 200 OK\r\n\r\n",
        "HTTP/1.1 20 OK\r\n\r\n",
        "HTTP/1.1 2000 OK\r\n\r\n",
        "HTTP/1.1 099 Low\r\n\r\n",
        "HTTP/1.1 600 High\r\n\r\n",
        "http/1.1 200 OK\r\n\r\n",
        "HTTP/1.x 200 OK\r\n\r\n",
        "HTTP/1.1  200 OK\r\n\r\n",
        "<html>hello</html>\r\n\r\n",
        "HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1 2\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n;x\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        for (size_t piece = 1; piece <= 2; piece++) {
            fed f = feed(bad[i], strlen(bad[i]), 0, piece == 1 ? 1 : strlen(bad[i]), 0);
            CHECKF(f.error == 1 && f.n == 0, "accepted: %s (piece %zu)", bad[i], piece);
        }
    }
    static const char nul[] = "HTTP/1.1 200 OK\r\nA\0B: 1\r\n\r\n";
    CHECK(feed(nul, sizeof nul - 1, 0, 64, 0).error == 1);
}

TEST(resp_endless_head_is_an_error_not_a_wait) {
    size_t n = SL_RESP_MAX_HEAD + 100, used;
    char *s = malloc(n);
    REQUIRE(s);
    memcpy(s, "HTTP/1.1 200 OK\r\nX: ", 20);
    memset(s + 20, 'a', n - 20);
    sl_resp p;
    sl_resp_init(&p, 0);
    CHECK_EQ_I(sl_resp_feed(&p, s, n, &used), SL_RESP_ERROR);
    CHECK(used <= n);
    free(s);
}

/* ---- end to end against a server thread --------------------------------- */

enum { SRV_OK, SRV_MALFORMED, SRV_SILENT, SRV_CLOSE_AFTER };

typedef struct tserver {
    int lfd, mode;
    uint16_t port;
    volatile int stop;
    uint64_t requests, accepted; /* read by the test after the join */
    pthread_t thread;
} tserver;

/* Answers every request (a head ending in an empty line): 200 with a body,
 * or 404 for /missing; or per mode, garbage, nothing, or 200 and a close. */
static void *serve(void *arg) {
    tserver *s = arg;
    struct pollfd fds[65];
    int match[65] = {0}, missing[65] = {0}, n = 1;
    fds[0] = (struct pollfd){.fd = s->lfd, .events = POLLIN};
    while (!s->stop) {
        if (poll(fds, (nfds_t)n, 20) <= 0) continue;
        if ((fds[0].revents & POLLIN) && n < 65) {
            int fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
            if (fd >= 0) {
                s->accepted++;
                match[n] = missing[n] = 0;
                fds[n++] = (struct pollfd){.fd = fd, .events = POLLIN};
            }
        }
        for (int i = 1; i < n; i++) {
            char buf[4096];
            ssize_t got = fds[i].revents ? recv(fds[i].fd, buf, sizeof buf, MSG_DONTWAIT) : -1;
            if (got < 0 && (errno == EAGAIN || !fds[i].revents)) continue;
            int closing = got <= 0;
            for (ssize_t k = 0; k < got && !closing; k++) {
                if (buf[k] == '/' && k + 7 < got && memcmp(buf + k, "/missing", 8) == 0) missing[i] = 1;
                match[i] = buf[k] == "\r\n\r\n"[match[i]] ? match[i] + 1 : buf[k] == '\r';
                if (match[i] < 4) continue;
                match[i] = 0;
                s->requests++;
                const char *r = missing[i] ? "HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nno\n"
                                           : "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
                if (s->mode == SRV_MALFORMED) r = "HTTP/1.1 OK\r\n\r\n";
                if (s->mode == SRV_CLOSE_AFTER)
                    r = "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok";
                if (s->mode != SRV_SILENT) tu_write_all(fds[i].fd, r, strlen(r), 1000);
                missing[i] = 0;
                closing = s->mode == SRV_CLOSE_AFTER;
            }
            if (closing) {
                close(fds[i].fd);
                fds[i] = fds[n - 1];
                match[i] = match[n - 1];
                missing[i--] = missing[--n];
            }
        }
    }
    for (int i = 1; i < n; i++) close(fds[i].fd);
    return NULL;
}

static void server_start(tserver *s, int mode) {
    *s = (tserver){.mode = mode};
    s->lfd = tu_listen_tcp(&s->port, 128);
    REQUIRE(s->lfd >= 0);
    REQUIRE(pthread_create(&s->thread, NULL, serve, s) == 0);
}

static void server_stop(tserver *s) {
    s->stop = 1;
    pthread_join(s->thread, NULL);
    close(s->lfd);
}

static sl_bench_config bench_cfg(const char *request, uint16_t port, uint32_t conns, uint64_t ms) {
    sl_bench_config c = {.request = request, .request_len = (uint32_t)strlen(request), .connections = conns};
    c.pipeline = 1;
    c.duration_us = ms * 1000;
    c.timeout_us = 500000;
    c.family = 4;
    c.port = port;
    uint32_t lo = htonl(INADDR_LOOPBACK);
    memcpy(c.addr, &lo, 4);
    return c;
}

static const char get_req[] = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";

static uint64_t all_errors(const sl_bench_result *r) {
    return r->errors[0] + r->errors[1] + r->errors[2] + r->errors[3];
}

TEST(bench_counts_equal_the_servers_with_pipelining) {
    tserver s;
    server_start(&s, SRV_OK);
    sl_bench_config cfg = bench_cfg(get_req, s.port, 3, 300);
    cfg.pipeline = 8;
    volatile uint64_t shared[3] = {0};
    cfg.shared = shared;
    sl_bench_result r;
    sl_hist *h = calloc(1, sizeof *h);
    uint64_t t0 = tu_now_ms();
    CHECK_EQ_I(sl_bench_run(&cfg, &r, h), 0);
    uint64_t took = tu_now_ms() - t0;
    server_stop(&s);
    CHECKF(took >= 300 && took < 1500, "took %ju ms", (uintmax_t)took);
    CHECK(r.requests > 100);
    CHECK_EQ_U(r.requests, s.requests); /* the drain awaited every request in flight */
    CHECK_EQ_U(r.status[1], r.requests);
    CHECK_EQ_U(h->count, r.requests);
    CHECK_EQ_U(all_errors(&r), 0);
    CHECK_EQ_U(r.connects, 3);
    CHECK_EQ_U(s.accepted, 3);
    CHECK_EQ_U(r.bytes, r.requests * 43); /* 38 bytes of head + 5 of body */
    CHECK(r.elapsed_us >= 300000 && r.elapsed_us < 1000000);
    CHECK(shared[0] > 0 && shared[0] <= r.requests);
    free(h);
}

TEST(bench_counts_non_2xx_by_class) {
    static const char req[] = "GET /missing HTTP/1.1\r\nHost: t\r\n\r\n";
    tserver s;
    server_start(&s, SRV_OK);
    sl_bench_config cfg = bench_cfg(req, s.port, 2, 150);
    sl_bench_result r;
    sl_hist *h = calloc(1, sizeof *h);
    CHECK_EQ_I(sl_bench_run(&cfg, &r, h), 0);
    server_stop(&s);
    CHECK(r.requests > 0);
    CHECK_EQ_U(r.status[3], r.requests);
    CHECK_EQ_U(r.status[1], 0);
    free(h);
}

TEST(bench_close_mode_opens_a_connection_per_request) {
    static const char req[] = "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    tserver s;
    server_start(&s, SRV_CLOSE_AFTER);
    sl_bench_config cfg = bench_cfg(req, s.port, 2, 200);
    cfg.flags = SL_BENCH_CLOSE;
    sl_bench_result r;
    sl_hist *h = calloc(1, sizeof *h);
    CHECK_EQ_I(sl_bench_run(&cfg, &r, h), 0);
    server_stop(&s);
    CHECK(r.requests > 10);
    CHECK_EQ_U(r.requests, s.requests);
    CHECK(r.connects >= r.requests && r.connects <= r.requests + 2);
    CHECK_EQ_U(all_errors(&r), 0);
    free(h);
}

TEST(bench_rate_holds_the_schedule) {
    tserver s;
    server_start(&s, SRV_OK);
    sl_bench_config cfg = bench_cfg(get_req, s.port, 4, 500);
    cfg.rate_milli = 200 * 1000; /* 200/s for 0.5 s: 100 requests */
    sl_bench_result r;
    sl_hist *h = calloc(1, sizeof *h);
    CHECK_EQ_I(sl_bench_run(&cfg, &r, h), 0);
    server_stop(&s);
    CHECKF(r.requests >= 90 && r.requests <= 102, "%ju requests", (uintmax_t)r.requests);
    CHECK_EQ_U(r.requests, s.requests);
    free(h);
}

TEST(bench_refused_target_counts_connect_errors_and_ends_on_time) {
    uint16_t port;
    REQUIRE(tu_closed_port(&port) == 0);
    sl_bench_config cfg = bench_cfg(get_req, port, 2, 200);
    sl_bench_result r;
    sl_hist *h = calloc(1, sizeof *h);
    uint64_t t0 = tu_now_ms();
    CHECK_EQ_I(sl_bench_run(&cfg, &r, h), 0);
    CHECK(tu_now_ms() - t0 < 1000);
    CHECK_EQ_U(r.requests, 0);
    CHECK(r.errors[SL_BENCH_ERR_CONNECT] >= 2 && r.errors[SL_BENCH_ERR_CONNECT] <= 2 * 25); /* a tick apart */
    free(h);
}

TEST(bench_malformed_responses_are_read_errors) {
    tserver s;
    server_start(&s, SRV_MALFORMED);
    sl_bench_config cfg = bench_cfg(get_req, s.port, 2, 150);
    sl_bench_result r;
    sl_hist *h = calloc(1, sizeof *h);
    CHECK_EQ_I(sl_bench_run(&cfg, &r, h), 0);
    server_stop(&s);
    CHECK_EQ_U(r.requests, 0);
    CHECK(r.errors[SL_BENCH_ERR_READ] > 0);
    free(h);
}

TEST(bench_silent_server_times_out_each_request_in_flight) {
    tserver s;
    server_start(&s, SRV_SILENT);
    sl_bench_config cfg = bench_cfg(get_req, s.port, 2, 100);
    cfg.pipeline = 3;
    cfg.timeout_us = 200000;
    sl_bench_result r;
    sl_hist *h = calloc(1, sizeof *h);
    uint64_t t0 = tu_now_ms();
    CHECK_EQ_I(sl_bench_run(&cfg, &r, h), 0);
    uint64_t took = tu_now_ms() - t0;
    server_stop(&s);
    CHECKF(took >= 200 && took < 800, "took %ju ms", (uintmax_t)took); /* 0.1 s + the drain's 0.2 s */
    CHECK_EQ_U(r.requests, 0);
    CHECK_EQ_U(r.errors[SL_BENCH_ERR_TIMEOUT], 6);
    free(h);
}

TEST(bench_bad_config_is_einval) {
    sl_bench_config cfg = bench_cfg(get_req, 1, 1, 10);
    sl_bench_result r;
    sl_hist *h = calloc(1, sizeof *h);
    cfg.pipeline = 0;
    CHECK_EQ_I(sl_bench_run(&cfg, &r, h), -1);
    CHECK_EQ_I(r.setup_errno, EINVAL);
    cfg = bench_cfg(get_req, 1, 1, 10);
    cfg.family = 5;
    CHECK_EQ_I(sl_bench_run(&cfg, &r, h), -1);
    CHECK_EQ_I(r.setup_errno, EINVAL);
    free(h);
}
