/*
 * test_listener.c - accepting: a burst of connects in both trigger modes,
 * running out of descriptors (EMFILE) and recovering, closing a listener.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

static long somaxconn(void) {
    FILE *f = fopen("/proc/sys/net/core/somaxconn", "r");
    long v = -1;
    if (f) {
        if (fscanf(f, "%ld", &v) != 1) v = -1;
        fclose(f);
    }
    return v;
}

static int add_listener(sl_loop *l, int edge, int backlog, int *lfd) {
    uint16_t port;
    *lfd = tu_listen_tcp(&port, backlog);
    REQUIRE(*lfd >= 0);
    sl_conn_config cfg = tu_cfg(edge, 0, 0, 0);
    int id = sl_listener_add(l, *lfd, &cfg);
    REQUIRE(id >= 0);
    return port;
}

/* Connects done before the loop turns: all of them queue in the kernel. */
static int *connect_many(uint16_t port, int n) {
    int *fds = malloc((size_t)n * sizeof *fds);
    REQUIRE(fds != NULL);
    for (int i = 0; i < n; i++) {
        fds[i] = tu_connect_tcp(port);
        CHECKF(fds[i] >= 0, "connect %d of %d: %s", i, n, strerror(errno));
        if (fds[i] < 0) harness_end_test();
    }
    return fds;
}

static void close_all(int *fds, int n) {
    for (int i = 0; i < n; i++) close(fds[i]);
    free(fds);
}

/* 2,000 connects in one go: one turn accepts them all (the loop accepts
 * until EAGAIN), and each is reported once as SL_EV_ACCEPT. */
static void accept_burst(int edge) {
    enum { N = 2000 };
    rlim_t have = tu_raise_nofile(8192);
    if (have < 2 * N + 64)
        harness_skip("RLIMIT_NOFILE is %llu; %d fds needed", (unsigned long long)have, 2 * N + 64);
    if (somaxconn() >= 0 && somaxconn() < N)
        harness_skip("net.core.somaxconn is %ld, below %d", somaxconn(), N);
    recorder r;
    sl_loop *l = rec_loop(&r);
    int lfd;
    uint16_t port = (uint16_t)add_listener(l, edge, 4096, &lfd);
    int *clients = connect_many(port, N);
    CHECK(sl_loop_run_once(l, 2000) >= N);
    CHECK_EQ_U(rec_count(&r, SL_EV_ACCEPT), N); /* in that one turn */
    RUN_UNTIL(l, rec_count(&r, SL_EV_ACCEPT) >= N, 5000);
    sl_loop_stats st;
    sl_loop_get_stats(l, &st);
    CHECK_EQ_U(rec_count(&r, SL_EV_ACCEPT), N);
    CHECK_EQ_U(st.accepted, N);
    CHECK_EQ_U(st.conns_open, N);
    CHECK_EQ_U(st.accept_errors, 0);
    char *seen = calloc(2 * N, 1);
    REQUIRE(seen != NULL);
    for (size_t i = 0; i < r.n; i++) {
        const ev_rec *e = &r.evs[i];
        if (e->kind != SL_EV_ACCEPT) continue;
        CHECK(e->conn != NULL && e->arg == 0);
        if (e->id < 2 * N) {
            CHECKF(!seen[e->id], "connection id %u accepted twice", e->id);
            seen[e->id] = 1;
        }
    }
    free(seen);
    close_all(clients, N);
    rec_free(&r);
    close(lfd);
}

TEST(listener_accepts_burst_of_2000_edge_triggered) { accept_burst(1); }
TEST(listener_accepts_burst_of_2000_level_triggered) { accept_burst(0); }

/* Out of descriptors: accept fails with EMFILE, the listener pauses for
 * accept_pause ms and tries again, the loop keeps turning; once the limit is
 * back, the connections that waited are accepted. */
static void emfile_case(int edge) {
    enum { N = 20 };
    recorder r;
    sl_loop *l = rec_loop(&r);
    sl_loop_set_accept_pause(l, 20);
    int lfd;
    uint16_t port = (uint16_t)add_listener(l, edge, 64, &lfd);
    int *clients = connect_many(port, N);
    rlim_t old = tu_nofile_soft();
    int lowest = tu_lowest_free_fd();
    REQUIRE(lowest > 0);
    REQUIRE(tu_set_nofile_soft((rlim_t)lowest) == 0); /* every fd below is taken */
    int failed_turns = 0;
    for (uint64_t until = tu_now_ms() + 200; tu_now_ms() < until;)
        if (sl_loop_run_once(l, 10) < 0) failed_turns++;
    sl_loop_stats st;
    sl_loop_get_stats(l, &st);
    REQUIRE(tu_set_nofile_soft(old) == 0); /* before any CHECK can matter */
    CHECK_EQ_I(failed_turns, 0);
    CHECK_EQ_U(st.accepted, 0);
    CHECKF(st.accept_errors >= 2, "accept_errors %llu: paused once, tried again?",
           (unsigned long long)st.accept_errors);
    CHECKF(st.accept_errors < 50, "accept_errors %llu in 200 ms: the pause did not hold",
           (unsigned long long)st.accept_errors);
    CHECK(r.warnings > 0);
    RUN_UNTIL(l, rec_count(&r, SL_EV_ACCEPT) >= N, 3000);
    sl_loop_get_stats(l, &st);
    CHECK_EQ_U(rec_count(&r, SL_EV_ACCEPT), N);
    CHECK_EQ_U(st.accepted, N);
    close_all(clients, N);
    rec_free(&r);
    close(lfd);
}

TEST(listener_survives_emfile_and_resumes_level_triggered) { emfile_case(0); }
TEST(listener_survives_emfile_and_resumes_edge_triggered) { emfile_case(1); }

/* A closed listener accepts nothing more; its slot is reused. */
TEST(listener_close_stops_accepting) {
    recorder r;
    sl_loop *l = rec_loop(&r);
    int lfd;
    uint16_t port = (uint16_t)add_listener(l, 0, 8, &lfd);
    CHECK_EQ_I(sl_listener_close(l, 0), 0);
    CHECK_EQ_I(sl_listener_close(l, 0), -EBADF);
    CHECK_EQ_I(sl_listener_close(l, 7), -EBADF);
    CHECK_EQ_I(sl_listener_close(l, -1), -EBADF);
    int c = tu_connect_tcp(port); /* the kernel still queues it: the fd is the caller's */
    REQUIRE(c >= 0);
    for (int i = 0; i < 10; i++) CHECK(sl_loop_run_once(l, 5) >= 0);
    CHECK_EQ_U(rec_count(&r, SL_EV_ACCEPT), 0);
    CHECK(tu_fd_is_open(lfd));                    /* the loop does not own it */
    CHECK_EQ_I(sl_listener_add(l, lfd, NULL), 0); /* the freed slot */
    RUN_UNTIL(l, rec_count(&r, SL_EV_ACCEPT) >= 1, 2000);
    CHECK_EQ_U(rec_count(&r, SL_EV_ACCEPT), 1);
    close(c);
    rec_free(&r);
    close(lfd);
}
