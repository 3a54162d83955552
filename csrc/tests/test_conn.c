/*
 * test_conn.c - connections in the loop: close paths, back-pressure,
 * pausing reads, outgoing connects, adopting, files.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util.h"

#define K ((size_t)1 << 10)

/* Reads the client side while turning the loop, until EOF or the time is
 * up. Returns 1 on EOF; the bytes go to got. */
static int drain_until_eof(sl_loop *l, int client, tu_bytes *got, int timeout_ms) {
    char chunk[64 * 1024];
    tu_set_nonblock(client, 1);
    uint64_t deadline = tu_now_ms() + (uint64_t)timeout_ms;
    while (tu_now_ms() < deadline) {
        CHECK(sl_loop_run_once(l, 2) >= 0);
        ssize_t r;
        while ((r = tu_read_now(client, chunk, sizeof chunk)) > 0) tu_bytes_add(got, chunk, (size_t)r);
        if (r == 0) return 1;
        if (errno != EAGAIN) return -errno;
    }
    return 0;
}

/* Small kernel buffers on both sides, so that a few hundred KB are more
 * than the kernel takes at once and the loop must wait for EPOLLOUT. */
static void small_buffers(sl_conn *c, int client) {
    int n = 16 * 1024;
    setsockopt(sl_conn_fd(c), SOL_SOCKET, SO_SNDBUF, &n, sizeof n);
    setsockopt(client, SOL_SOCKET, SO_RCVBUF, &n, sizeof n);
}

static size_t count_for(const recorder *r, uint32_t kind, uint32_t id) {
    size_t n = 0;
    for (size_t i = 0; i < r->n; i++) n += r->evs[i].kind == kind && r->evs[i].id == id;
    return n;
}

static const ev_rec *first_for(const recorder *r, uint32_t kind, uint32_t id) {
    for (size_t i = 0; i < r->n; i++)
        if (r->evs[i].kind == kind && r->evs[i].id == id) return &r->evs[i];
    return NULL;
}

/* A graceful close with little output: it arrives, then EOF. */
TEST(conn_graceful_close_delivers_small_output_then_eof) {
    recorder r;
    sl_loop *l = rec_loop(&r);
    int client;
    sl_conn *c = tu_adopt_pair(l, NULL, &client);
    uint32_t id = sl_conn_id(c);
    CHECK_EQ_I(sl_conn_write(c, "goodbye", 7), 7);
    CHECK_EQ_I(sl_conn_close(c, 0, 1), 0);
    CHECK_EQ_I(sl_conn_write(c, "more", 4), -EPIPE); /* closing: no more output */
    tu_bytes got = {0};
    CHECK_EQ_I(drain_until_eof(l, client, &got, 3000), 1);
    CHECK(got.n == 7 && memcmp(got.p, "goodbye", 7) == 0);
    RUN_UNTIL(l, rec_count(&r, SL_EV_CLOSED) > 0, 1000);
    const ev_rec *e = first_for(&r, SL_EV_CLOSED, id);
    REQUIRE(e != NULL);
    CHECK_EQ_U(e->arg, SL_CLOSE_LOCAL);
    CHECK_EQ_I(e->err, 0);
    sl_loop_stats st;
    sl_loop_get_stats(l, &st);
    CHECK_EQ_U(st.closed[SL_CLOSE_LOCAL], 1);
    CHECK_EQ_U(st.conns_open, 0);
    tu_bytes_free(&got);
    close(client);
    rec_free(&r);
}

/* A graceful close with more output than the kernel takes at once: the
 * rest leaves as the peer reads (EPOLLOUT), all of it, then EOF. */
TEST(conn_graceful_close_delivers_large_output_then_eof) { /* failed before patch 03 (a9537b8) */
    enum { N = 4 * 1024 * 1024 };
    recorder r;
    sl_loop *l = rec_loop(&r);
    int client;
    sl_conn *c = tu_adopt_pair(l, NULL, &client);
    uint32_t id = sl_conn_id(c);
    small_buffers(c, client);
    char *out = malloc(N);
    REQUIRE(out != NULL);
    tu_fill(out, N, 0, 41);
    CHECK_EQ_I(sl_conn_write(c, out, N), N);
    CHECK_EQ_I(sl_conn_close(c, 0, 1), 0);
    tu_bytes got = {0};
    CHECK_EQ_I(drain_until_eof(l, client, &got, 5000), 1);
    CHECK_EQ_U(got.n, N);
    CHECK_EQ_U(tu_mismatch(got.p, got.n, 0, 41), got.n);
    RUN_UNTIL(l, rec_count(&r, SL_EV_CLOSED) > 0, 1000);
    const ev_rec *e = first_for(&r, SL_EV_CLOSED, id);
    CHECK(e != NULL && e->arg == SL_CLOSE_LOCAL);
    free(out);
    tu_bytes_free(&got);
    close(client);
    rec_free(&r);
}

/* An abort drops the output: the peer gets EOF and none of the bytes. */
TEST(conn_abort_drops_output) {
    recorder r;
    sl_loop *l = rec_loop(&r);
    int client;
    sl_conn *c = tu_adopt_pair(l, NULL, &client);
    uint32_t id = sl_conn_id(c);
    static char out[64 * 1024];
    CHECK_EQ_I(sl_conn_write(c, out, sizeof out), (ssize_t)sizeof out);
    CHECK_EQ_I(sl_conn_close(c, 0, 0), 0);
    CHECK_EQ_U(sl_conn_pending(c), 0);
    tu_bytes got = {0};
    CHECK_EQ_I(drain_until_eof(l, client, &got, 3000), 1);
    CHECK_EQ_U(got.n, 0);
    RUN_UNTIL(l, rec_count(&r, SL_EV_CLOSED) > 0, 1000);
    const ev_rec *e = first_for(&r, SL_EV_CLOSED, id);
    REQUIRE(e != NULL);
    CHECK_EQ_U(e->arg, SL_CLOSE_ABORT);
    CHECK_EQ_U(tu_pool_in_use(buf_pool_instance()), 0);
    tu_bytes_free(&got);
    close(client);
    rec_free(&r);
}

/* An abort after a graceful close wins: the output is dropped. */
TEST(conn_abort_overrides_pending_graceful_close) {
    recorder r;
    sl_loop *l = rec_loop(&r);
    int client;
    sl_conn *c = tu_adopt_pair(l, NULL, &client);
    CHECK(sl_conn_write(c, "xyz", 3) == 3);
    CHECK_EQ_I(sl_conn_close(c, 0, 1), 0);
    CHECK_EQ_I(sl_conn_close(c, 0, 0), 0);
    tu_bytes got = {0};
    CHECK_EQ_I(drain_until_eof(l, client, &got, 3000), 1);
    CHECK_EQ_U(got.n, 0);
    RUN_UNTIL(l, rec_count(&r, SL_EV_CLOSED) > 0, 1000);
    const ev_rec *e = rec_first(&r, SL_EV_CLOSED);
    CHECK(e != NULL && e->arg == SL_CLOSE_ABORT);
    tu_bytes_free(&got);
    close(client);
    rec_free(&r);
}

static void close_on_eof(recorder *r, sl_event *e) {
    (void)r;
    if (e->kind == SL_EV_EOF) CHECK_EQ_I(sl_conn_close(e->conn, SL_CLOSE_PEER, 1), 0);
}

/* The peer closes: its last bytes, SL_EV_EOF; the owner closes then, and
 * SL_EV_CLOSED (SL_CLOSE_PEER) comes in a later batch than the EOF. */
static void peer_close_case(int edge) {
    recorder r;
    sl_loop *l = rec_loop(&r);
    r.hook = close_on_eof;
    sl_conn_config cfg = tu_cfg(edge, 0, 0, 0);
    int client;
    sl_conn *c = tu_adopt_pair(l, &cfg, &client);
    uint32_t id = sl_conn_id(c);
    REQUIRE(id < REC_IDS);
    REQUIRE(write(client, "bye", 3) == 3);
    close(client);
    RUN_UNTIL(l, count_for(&r, SL_EV_CLOSED, id) > 0, 3000);
    CHECK(r.data[id].n == 3 && memcmp(r.data[id].p, "bye", 3) == 0);
    const ev_rec *eof = first_for(&r, SL_EV_EOF, id);
    const ev_rec *closed = first_for(&r, SL_EV_CLOSED, id);
    REQUIRE(eof && closed);
    CHECK_EQ_U(count_for(&r, SL_EV_EOF, id), 1);
    CHECK_EQ_U(closed->arg, SL_CLOSE_PEER);
    CHECK_EQ_I(closed->err, 0);
    CHECK(closed->batch > eof->batch);
    CHECK(closed->conn == eof->conn);
    sl_loop_stats st;
    sl_loop_get_stats(l, &st);
    CHECK_EQ_U(st.closed[SL_CLOSE_PEER], 1);
    CHECK_EQ_U(st.conns_open, 0);
    CHECK_EQ_U(tu_pool_in_use(buf_pool_instance()), 0);
    rec_free(&r);
}

TEST(conn_peer_close_gives_eof_then_closed_peer_level_triggered) { peer_close_case(0); }
TEST(conn_peer_close_gives_eof_then_closed_peer_edge_triggered) { peer_close_case(1); }

/* The peer resets (SO_LINGER 0): SL_CLOSE_RESET with ECONNRESET. */
TEST(conn_peer_reset_gives_close_reset) {
    tu_ignore_sigpipe();
    recorder r;
    sl_loop *l = rec_loop(&r);
    int client;
    sl_conn *c = tu_adopt_pair(l, NULL, &client);
    uint32_t id = sl_conn_id(c);
    tu_close_reset(client);
    RUN_UNTIL(l, count_for(&r, SL_EV_CLOSED, id) > 0, 3000);
    const ev_rec *e = first_for(&r, SL_EV_CLOSED, id);
    REQUIRE(e != NULL);
    CHECK_EQ_U(e->arg, SL_CLOSE_RESET);
    CHECK_EQ_I(e->err, ECONNRESET);
    sl_loop_stats st;
    sl_loop_get_stats(l, &st);
    CHECK_EQ_U(st.closed[SL_CLOSE_RESET], 1);
    rec_free(&r);
}

typedef struct resume_seen {
    sl_conn *conn;
    size_t pending_at_resume;
    size_t resumes;
} resume_seen;

static void note_resume(recorder *r, sl_event *e) {
    resume_seen *s = r->user;
    if (e->kind == SL_EV_RESUME) {
        s->resumes++;
        s->pending_at_resume = sl_conn_pending(e->conn);
    }
}

/* Output past the high-water mark: SL_EV_RESUME once it has drained to the
 * low-water mark, and not before. Output that never passed it: none. */
TEST(conn_resume_after_high_water_drains_to_low_water) {
    enum { HIGH = 64 * 1024, LOW = 16 * 1024, N = 1024 * 1024 };
    recorder r;
    sl_loop *l = rec_loop(&r);
    resume_seen seen = {0};
    r.user = &seen;
    r.hook = note_resume;
    sl_conn_config cfg = tu_cfg(0, 0, HIGH, LOW);
    int client;
    sl_conn *c = tu_adopt_pair(l, &cfg, &client);
    small_buffers(c, client);
    static char out[N];
    tu_fill(out, N, 0, 43);
    CHECK(sl_conn_write(c, out, 1000) == 1000); /* below high water */
    tu_set_nonblock(client, 1);
    char chunk[16 * 1024];
    size_t got = 0;
    for (int i = 0; i < 20; i++) {
        CHECK(sl_loop_run_once(l, 5) >= 0);
        ssize_t k = tu_read_now(client, chunk, sizeof chunk);
        if (k > 0) got += (size_t)k;
    }
    CHECK_EQ_U(got, 1000);
    CHECK_EQ_U(seen.resumes, 0);
    CHECK_EQ_I(sl_conn_write(c, out, N), N); /* returns what waits: past high water */
    CHECK(sl_loop_run_once(l, 0) >= 0);
    CHECKF(sl_conn_pending(c) > LOW, "the kernel took all but %zu bytes", sl_conn_pending(c));
    CHECK_EQ_U(seen.resumes, 0); /* nothing read yet: still above low water */
    uint64_t deadline = tu_now_ms() + 5000;
    size_t second = 0;
    while (second < N && tu_now_ms() < deadline) {
        CHECK(sl_loop_run_once(l, 2) >= 0);
        ssize_t k = tu_read_now(client, chunk, sizeof chunk); /* a slow reader */
        if (k > 0) second += (size_t)k;
    }
    for (int i = 0; i < 5; i++) sl_loop_run_once(l, 1); /* a RESUME queued for a next batch */
    CHECK_EQ_U(second, N);
    CHECK_EQ_U(seen.resumes, 1);
    CHECKF(seen.pending_at_resume <= LOW, "pending %zu at RESUME", seen.pending_at_resume);
    close(client);
    rec_free(&r);
}

/* Marks lowered after the connection was made: a write past the new high
 * mark is followed by SL_EV_RESUME once drained; low > high is refused. */
TEST(conn_set_water_moves_both_marks) {
    recorder r;
    sl_loop *l = rec_loop(&r);
    resume_seen seen = {0};
    r.user = &seen;
    r.hook = note_resume;
    sl_conn_config cfg = tu_cfg(0, 0, 0, 0); /* C's defaults: 64 KiB and 16 KiB */
    int client;
    sl_conn *c = tu_adopt_pair(l, &cfg, &client);
    CHECK_EQ_I(sl_conn_set_water(c, 100, 200), -EINVAL);
    CHECK_EQ_I(sl_conn_set_water(c, 1000, 100), 0);
    char out[1500];
    memset(out, 'w', sizeof out);
    CHECK_EQ_I(sl_conn_write(c, out, sizeof out), (ssize_t)sizeof out); /* past 1000: pause */
    tu_set_nonblock(client, 1);
    char chunk[4096];
    size_t got = 0;
    uint64_t deadline = tu_now_ms() + 5000;
    while ((got < sizeof out || !seen.resumes) && tu_now_ms() < deadline) {
        CHECK(sl_loop_run_once(l, 2) >= 0);
        ssize_t k = tu_read_now(client, chunk, sizeof chunk);
        if (k > 0) got += (size_t)k;
    }
    CHECK_EQ_U(got, sizeof out);
    CHECK_EQ_U(seen.resumes, 1);
    CHECK_EQ_I(sl_conn_set_water(c, 0, 0), 0); /* 0: the default high mark again */
    CHECK_EQ_I(sl_conn_write(c, out, 100), 100);
    for (int i = 0; i < 10; i++) sl_loop_run_once(l, 1);
    CHECK_EQ_U(seen.resumes, 1); /* 100 bytes are below 64 KiB: no pause, no resume */
    close(client);
    rec_free(&r);
}

typedef struct pause_state {
    int paused_once;
} pause_state;

static void pause_on_first_data(recorder *r, sl_event *e) {
    pause_state *s = r->user;
    if (e->kind == SL_EV_DATA && !s->paused_once) {
        s->paused_once = 1;
        CHECK_EQ_I(sl_conn_pause_reading(e->conn), 0);
    }
}

/* Paused, a connection reports no data however much arrives; resumed, what
 * waited is reported (in edge-triggered mode too, with no new edge). */
static void pause_case(int edge) {
    recorder r;
    sl_loop *l = rec_loop(&r);
    pause_state s = {0};
    r.user = &s;
    r.hook = pause_on_first_data;
    sl_conn_config cfg = tu_cfg(edge, 0, 0, 0);
    int client;
    sl_conn *c = tu_adopt_pair(l, &cfg, &client);
    uint32_t id = sl_conn_id(c);
    REQUIRE(id < REC_IDS);
    REQUIRE(write(client, "a", 1) == 1);
    RUN_UNTIL(l, r.data[id].n >= 1, 2000);
    REQUIRE(s.paused_once);
    REQUIRE(write(client, "bcd", 3) == 3);
    for (int i = 0; i < 20; i++) CHECK(sl_loop_run_once(l, 5) >= 0);
    /* Not watched for input while paused: a turn waits its whole timeout
     * instead of spinning on the readable socket. */
    uint64_t t0 = tu_now_ms();
    for (int i = 0; i < 3; i++) CHECK_EQ_I(sl_loop_run_once(l, 30), 0);
    CHECKF(tu_now_ms() - t0 >= 80, "3 turns of 30 ms took %llu ms: woken while paused",
           (unsigned long long)(tu_now_ms() - t0));
    CHECK_EQ_U(rec_count(&r, SL_EV_DATA), 1);
    CHECK_EQ_U(r.data[id].n, 1);
    CHECK_EQ_I(sl_conn_resume_reading(c), 0);
    RUN_UNTIL(l, r.data[id].n >= 4, 2000);
    CHECK(r.data[id].n == 4 && memcmp(r.data[id].p, "abcd", 4) == 0);
    close(client);
    rec_free(&r);
}

TEST(conn_pause_reading_stops_data_until_resume_level_triggered) { pause_case(0); }
TEST(conn_pause_reading_stops_data_until_resume_edge_triggered) { pause_case(1); }

static int connect_nonblocking(uint16_t port, int *immediate_err) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    *immediate_err = 0;
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0 && errno != EINPROGRESS) *immediate_err = errno;
    return fd;
}

/* An outgoing connect: SL_EV_CONNECTED with err 0; what was written while
 * connecting leaves once connected. */
TEST(conn_outgoing_connect_gives_connected) {
    recorder r;
    sl_loop *l = rec_loop(&r);
    uint16_t port;
    int lfd = tu_listen_tcp(&port, 8);
    REQUIRE(lfd >= 0);
    int err;
    int fd = connect_nonblocking(port, &err);
    REQUIRE(err == 0);
    sl_conn *c = sl_conn_adopt(l, fd, 1, NULL);
    REQUIRE(c != NULL);
    uint32_t id = sl_conn_id(c);
    CHECK(sl_conn_write(c, "early", 5) == 5);
    RUN_UNTIL(l, count_for(&r, SL_EV_CONNECTED, id) > 0, 3000);
    const ev_rec *e = first_for(&r, SL_EV_CONNECTED, id);
    REQUIRE(e != NULL);
    CHECK_EQ_I(e->err, 0);
    int s = -1;
    for (int i = 0; i < 1000 && s < 0; i++) {
        s = accept(lfd, NULL, NULL);
        if (s < 0) CHECK(sl_loop_run_once(l, 2) >= 0);
    }
    REQUIRE(s >= 0);
    char in[8] = {0};
    for (int i = 0; i < 100 && !strlen(in); i++) {
        CHECK(sl_loop_run_once(l, 2) >= 0);
        tu_read_full(s, in, 5, 10);
    }
    CHECK(memcmp(in, "early", 5) == 0);
    CHECK_EQ_U(count_for(&r, SL_EV_CLOSED, id), 0);
    close(s);
    close(lfd);
    rec_free(&r);
}

/* To a port nobody listens on: SL_EV_CONNECTED with ECONNREFUSED, then the
 * loop closes it (SL_CLOSE_ERROR) in a later batch. */
TEST(conn_outgoing_connect_refused_gives_econnrefused) {
    recorder r;
    sl_loop *l = rec_loop(&r);
    uint16_t port;
    REQUIRE(tu_closed_port(&port) == 0);
    int err;
    int fd = connect_nonblocking(port, &err);
    if (err) {
        close(fd);
        rec_free(&r);
        harness_skip("connect() refused at once (%s); nothing for the loop to see", strerror(err));
    }
    sl_conn *c = sl_conn_adopt(l, fd, 1, NULL);
    REQUIRE(c != NULL);
    uint32_t id = sl_conn_id(c);
    RUN_UNTIL(l, count_for(&r, SL_EV_CLOSED, id) > 0, 3000);
    const ev_rec *e = first_for(&r, SL_EV_CONNECTED, id);
    const ev_rec *closed = first_for(&r, SL_EV_CLOSED, id);
    REQUIRE(e && closed);
    CHECK_EQ_I(e->err, ECONNREFUSED);
    CHECK_EQ_U(closed->arg, SL_CLOSE_ERROR);
    CHECK_EQ_I(closed->err, ECONNREFUSED);
    CHECK(closed->batch > e->batch);
    rec_free(&r);
}

/* epoll refuses a regular file: adopt returns NULL and closes the fd, and
 * the loop stays sound (its slot table holds no stale entry; freeing the
 * loop, or adopting again, is fine). */
TEST(conn_adopt_refused_by_epoll_leaves_loop_sound) { /* failed before patch 04 (a9537b8) */
    recorder r;
    sl_loop *l = rec_loop(&r);
    /* The slot table is allocated by this first adopt: let it come from
     * dirty memory, as it may in any long-running process (ASan fills new
     * blocks with garbage anyway; glibc would hand back zeroed pages). */
    size_t table = 1024 * sizeof(sl_conn *);
    volatile unsigned char *dirty = malloc(table); /* volatile: the stores must happen */
    REQUIRE(dirty != NULL);
    for (size_t i = 0; i < table; i++) dirty[i] = 0xab;
    free((void *)dirty);
    int file = tu_pattern_file(10, 1);
    REQUIRE(file >= 0);
    CHECK(sl_conn_adopt(l, file, 0, NULL) == NULL);
    CHECK(!tu_fd_is_open(file));
    for (uint32_t i = 0; i < l->next_id; i++) CHECKF(l->conns[i] == NULL, "conns[%u] is stale", i);
    sl_loop_stats st;
    sl_loop_get_stats(l, &st);
    CHECK_EQ_U(st.conns_open, 0);
    rec_free(&r); /* walks the slot table */
}

TEST(conn_adopt_then_failed_adopt_then_data_still_flows) {
    recorder r;
    sl_loop *l = rec_loop(&r);
    int file = tu_pattern_file(10, 1);
    REQUIRE(file >= 0);
    CHECK(sl_conn_adopt(l, file, 0, NULL) == NULL);
    int client;
    sl_conn *c = tu_adopt_pair(l, NULL, &client);
    uint32_t id = sl_conn_id(c);
    REQUIRE(id < REC_IDS);
    REQUIRE(write(client, "ok", 2) == 2);
    RUN_UNTIL(l, r.data[id].n >= 2, 2000);
    CHECK(r.data[id].n == 2 && memcmp(r.data[id].p, "ok", 2) == 0);
    close(client);
    rec_free(&r);
}

/* write_eof: the output leaves, then the peer reads EOF; the connection
 * still reads what the peer sends afterwards. */
TEST(conn_write_eof_shuts_down_after_output) {
    enum { N = 300 * 1024 };
    recorder r;
    sl_loop *l = rec_loop(&r);
    int client;
    sl_conn *c = tu_adopt_pair(l, NULL, &client);
    uint32_t id = sl_conn_id(c);
    REQUIRE(id < REC_IDS);
    small_buffers(c, client);
    static char out[N];
    tu_fill(out, N, 0, 44);
    CHECK_EQ_I(sl_conn_write(c, out, N), N);
    CHECK_EQ_I(sl_conn_write_eof(c), 0);
    CHECK_EQ_I(sl_conn_write(c, "x", 1), -EPIPE);
    tu_bytes got = {0};
    CHECK_EQ_I(drain_until_eof(l, client, &got, 5000), 1);
    CHECK_EQ_U(got.n, N);
    CHECK_EQ_U(tu_mismatch(got.p, got.n, 0, 44), got.n);
    REQUIRE(write(client, "still", 5) == 5);
    RUN_UNTIL(l, r.data[id].n >= 5, 2000);
    CHECK(r.data[id].n == 5 && memcmp(r.data[id].p, "still", 5) == 0);
    CHECK_EQ_U(count_for(&r, SL_EV_CLOSED, id), 0);
    tu_bytes_free(&got);
    close(client);
    rec_free(&r);
}

/* write_file: the loop dups the fd (the caller's stays open) and the range
 * arrives between the bytes around it. */
TEST(conn_write_file_sends_range_in_order) {
    enum { FILE_N = 64 * 1024, OFF = 4000, LEN = 40000 };
    recorder r;
    sl_loop *l = rec_loop(&r);
    int client;
    sl_conn *c = tu_adopt_pair(l, NULL, &client);
    int file = tu_pattern_file(FILE_N, 45);
    REQUIRE(file >= 0);
    CHECK(sl_conn_write(c, "<", 1) == 1);
    CHECK(sl_conn_write_file(c, file, OFF, LEN) == 1 + LEN);
    CHECK(sl_conn_write(c, ">", 1) == 2 + LEN);
    CHECK(tu_fd_is_open(file));
    CHECK_EQ_I(sl_conn_close(c, 0, 1), 0);
    tu_bytes got = {0};
    CHECK_EQ_I(drain_until_eof(l, client, &got, 5000), 1);
    REQUIRE(got.n == 2 + LEN);
    CHECK(got.p[0] == '<' && got.p[1 + LEN] == '>');
    CHECK_EQ_U(tu_mismatch(got.p + 1, LEN, OFF, 45), LEN);
    CHECK(tu_fd_is_open(file));
    close(file);
    tu_bytes_free(&got);
    close(client);
    rec_free(&r);
}

typedef struct after_close {
    int seen;
    ssize_t write, write_eof;
    int close, pause, resume;
} after_close;

static void call_on_closed(recorder *r, sl_event *e) {
    after_close *a = r->user;
    if (e->kind == SL_EV_EOF) CHECK_EQ_I(sl_conn_close(e->conn, SL_CLOSE_PEER, 1), 0);
    if (e->kind != SL_EV_CLOSED) return;
    a->seen = 1; /* the pointer is valid for this batch, the connection is not */
    a->write = sl_conn_write(e->conn, "x", 1);
    a->write_eof = sl_conn_write_eof(e->conn);
    a->close = sl_conn_close(e->conn, 0, 0);
    a->pause = sl_conn_pause_reading(e->conn);
    a->resume = sl_conn_resume_reading(e->conn);
}

/* In the batch that reports SL_EV_CLOSED the owner's calls are refused. */
TEST(conn_calls_on_closed_connection_are_refused) {
    recorder r;
    sl_loop *l = rec_loop(&r);
    after_close a = {0};
    r.user = &a;
    r.hook = call_on_closed;
    int client;
    tu_adopt_pair(l, NULL, &client);
    close(client);
    RUN_UNTIL(l, a.seen, 3000);
    REQUIRE(a.seen);
    CHECK_EQ_I(a.write, -EPIPE);
    CHECK_EQ_I(a.write_eof, -EPIPE);
    CHECK_EQ_I(a.close, -EBADF);
    CHECK_EQ_I(a.pause, -EBADF);
    CHECK_EQ_I(a.resume, -EBADF);
    for (int i = 0; i < 3; i++) CHECK(sl_loop_run_once(l, 1) >= 0); /* and the loop goes on */
    CHECK_EQ_U(rec_count(&r, SL_EV_CLOSED), 1);
    rec_free(&r);
}

/* A reset while output waits: SL_CLOSE_RESET, the output dropped. */
TEST(conn_peer_reset_with_pending_output_gives_close_reset) {
    tu_ignore_sigpipe();
    recorder r;
    sl_loop *l = rec_loop(&r);
    int client;
    sl_conn *c = tu_adopt_pair(l, NULL, &client);
    uint32_t id = sl_conn_id(c);
    small_buffers(c, client);
    static char out[1024 * 1024];
    CHECK(sl_conn_write(c, out, sizeof out) == (ssize_t)sizeof out);
    CHECK(sl_loop_run_once(l, 0) >= 0);
    CHECK(sl_conn_pending(c) > 0);
    tu_close_reset(client);
    RUN_UNTIL(l, count_for(&r, SL_EV_CLOSED, id) > 0, 3000);
    const ev_rec *e = first_for(&r, SL_EV_CLOSED, id);
    REQUIRE(e != NULL);
    CHECK_EQ_U(e->arg, SL_CLOSE_RESET);
    CHECK(e->err == ECONNRESET || e->err == EPIPE);
    CHECK_EQ_U(tu_pool_in_use(buf_pool_instance()), 0);
    rec_free(&r);
}

/* The process's pool refuses a bigger input block: what was read is handed
 * over, then the connection closes with SL_CLOSE_POOL (ENOBUFS). */
TEST(conn_pool_refusal_on_input_closes_with_close_pool) {
    recorder r;
    sl_loop *l = rec_loop(&r);
    buf_pool_set_limit(buf_pool_instance(), 4 * K);
    int client;
    sl_conn *c = tu_adopt_pair(l, NULL, &client);
    uint32_t id = sl_conn_id(c);
    REQUIRE(id < REC_IDS);
    char out[10000];
    tu_fill(out, sizeof out, 0, 46);
    REQUIRE(write(client, out, sizeof out) == (ssize_t)sizeof out);
    RUN_UNTIL(l, count_for(&r, SL_EV_CLOSED, id) > 0, 3000);
    const ev_rec *e = first_for(&r, SL_EV_CLOSED, id);
    REQUIRE(e != NULL);
    CHECK_EQ_U(e->arg, SL_CLOSE_POOL);
    CHECK_EQ_I(e->err, ENOBUFS);
    CHECK_EQ_U(r.data[id].n, 4 * K);
    CHECK_EQ_U(tu_mismatch(r.data[id].p, r.data[id].n, 0, 46), 4 * K);
    buf_pool_set_limit(buf_pool_instance(), 0);
    close(client);
    rec_free(&r);
}

/* The pool refuses output: sl_conn_write says -ENOBUFS and keeps what it
 * had; the connection stays usable. */
TEST(conn_write_refused_by_pool_is_enobufs) {
    recorder r;
    sl_loop *l = rec_loop(&r);
    buf_pool_set_limit(buf_pool_instance(), 4 * K);
    int client;
    sl_conn *c = tu_adopt_pair(l, NULL, &client);
    static char big[100 * 1024];
    CHECK(sl_conn_write(c, "ab", 2) == 2);
    CHECK_EQ_I(sl_conn_write(c, big, sizeof big), -ENOBUFS);
    CHECK_EQ_U(sl_conn_pending(c), 2);
    char in[4] = {0};
    CHECK(sl_loop_run_once(l, 0) >= 0);
    CHECK_EQ_U(tu_read_full(client, in, 2, 1000), 2);
    CHECK(memcmp(in, "ab", 2) == 0);
    CHECK_EQ_U(rec_count(&r, SL_EV_CLOSED), 0);
    buf_pool_set_limit(buf_pool_instance(), 0);
    close(client);
    rec_free(&r);
}
