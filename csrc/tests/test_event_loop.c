/*
 * test_event_loop.c - the turn: reading in both trigger modes, waiting,
 * waking from another thread, watched fds, writes leaving at the end of a
 * turn, and the owner-thread check.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "util.h"

/* A loop adopting one end of a socketpair. AF_UNIX queues a whole write on
 * the reader's side at once, so after the write no new edge comes: whatever
 * the loop still reads, it reads on its own. */
static sl_conn *adopt_unix(sl_loop *l, const sl_conn_config *cfg, int *peer) {
    int sv[2];
    REQUIRE(tu_socketpair(sv) == 0);
    sl_conn *c = sl_conn_adopt(l, sv[0], 0, cfg);
    REQUIRE(c != NULL);
    *peer = sv[1];
    return c;
}

static size_t max_data_len(const recorder *r) {
    size_t m = 0;
    for (size_t i = 0; i < r->n; i++)
        if (r->evs[i].kind == SL_EV_DATA && r->evs[i].len > m) m = r->evs[i].len;
    return m;
}

/* Level-triggered: bytes still in the kernel after a turn (here the read
 * stopped at max_input) are reported again with no new write. */
TEST(loop_level_triggered_reports_data_left_in_kernel) {
    enum { N = 10000, MAX = 4096 };
    recorder r;
    sl_loop *l = rec_loop(&r);
    sl_conn_config cfg = tu_cfg(0, MAX, 0, 0);
    int peer;
    sl_conn *c = adopt_unix(l, &cfg, &peer);
    uint32_t id = sl_conn_id(c);
    REQUIRE(id < REC_IDS);
    char out[N];
    tu_fill(out, N, 0, 31);
    REQUIRE(write(peer, out, N) == N);
    CHECK(sl_loop_run_once(l, 1000) >= 1);
    CHECK_EQ_U(r.data[id].n, MAX);
    CHECK(sl_loop_run_once(l, 1000) >= 1); /* nothing new was written */
    CHECK_EQ_U(r.data[id].n, 2 * MAX);
    RUN_UNTIL(l, r.data[id].n >= N, 2000);
    CHECK_EQ_U(r.data[id].n, N);
    CHECK_EQ_U(tu_mismatch(r.data[id].p, r.data[id].n, 0, 31), N);
    CHECK_EQ_U(rec_count(&r, SL_EV_DATA), 3);
    CHECK(max_data_len(&r) <= MAX);
    sl_loop_stats st;
    sl_loop_get_stats(l, &st);
    CHECK_EQ_U(st.bytes_in, N);
    close(peer);
    rec_free(&r);
}

/* Edge-triggered: the payload is queued once, far more than one block and
 * than max_input; no edge will come again, yet all of it arrives because
 * the loop keeps reading what it knows is left. */
TEST(loop_edge_triggered_reads_until_drained) {
    enum { N = 100 * 1024, MAX = 16 * 1024 };
    recorder r;
    sl_loop *l = rec_loop(&r);
    sl_conn_config cfg = tu_cfg(1, MAX, 0, 0);
    int peer;
    sl_conn *c = adopt_unix(l, &cfg, &peer);
    uint32_t id = sl_conn_id(c);
    REQUIRE(id < REC_IDS);
    static char out[N];
    tu_fill(out, N, 0, 32);
    REQUIRE(tu_write_all(peer, out, N, 2000) == N);
    RUN_UNTIL(l, r.data[id].n >= N, 3000);
    CHECK_EQ_U(r.data[id].n, N);
    CHECK_EQ_U(tu_mismatch(r.data[id].p, r.data[id].n, 0, 32), r.data[id].n);
    CHECK(rec_count(&r, SL_EV_DATA) >= N / MAX);
    CHECK(max_data_len(&r) <= MAX);
    close(peer);
    rec_free(&r);
}

/* Edge-triggered with the default max_input: one turn's read grows past the
 * 4K block and hands the whole payload over. */
TEST(loop_edge_triggered_payload_larger_than_one_block) {
    enum { N = 150 * 1024 };
    recorder r;
    sl_loop *l = rec_loop(&r);
    sl_conn_config cfg = tu_cfg(1, 0, 0, 0);
    int peer;
    sl_conn *c = adopt_unix(l, &cfg, &peer);
    uint32_t id = sl_conn_id(c);
    static char out[N];
    tu_fill(out, N, 0, 33);
    REQUIRE(tu_write_all(peer, out, N, 2000) == N);
    RUN_UNTIL(l, r.data[id].n >= N, 3000);
    CHECK_EQ_U(r.data[id].n, N);
    CHECK_EQ_U(tu_mismatch(r.data[id].p, r.data[id].n, 0, 33), r.data[id].n);
    CHECK(max_data_len(&r) > 4096);
    close(peer);
    rec_free(&r);
}

TEST(loop_run_once_waits_its_timeout) {
    recorder r;
    sl_loop *l = rec_loop(&r);
    uint64_t t0 = tu_now_ms();
    CHECK_EQ_I(sl_loop_run_once(l, 60), 0);
    uint64_t took = tu_now_ms() - t0;
    CHECKF(took >= 50 && took < 2000, "run_once(60) took %llu ms", (unsigned long long)took);
    CHECK(sl_loop_now_ms(l) >= t0 + 50); /* the cached clock moved with the wake-up */
    sl_loop_stats st;
    sl_loop_get_stats(l, &st);
    CHECK_EQ_U(st.turns, 1);
    rec_free(&r);
}

static void *wake_later(void *arg) {
    tu_sleep_ms(100);
    sl_loop_wake(arg);
    return NULL;
}

/* A turn blocked with no timeout returns soon after another thread wakes
 * it; the wake-up is consumed, so the next turn waits again. */
TEST(loop_wake_from_another_thread_ends_blocked_turn) {
    recorder r;
    sl_loop *l = rec_loop(&r);
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, wake_later, l) == 0);
    uint64_t t0 = tu_now_ms();
    int n = sl_loop_run_once(l, -1); /* a lost wake-up hangs here: the harness's alarm */
    uint64_t took = tu_now_ms() - t0;
    pthread_join(t, NULL);
    CHECK_EQ_I(n, 0);
    CHECKF(took >= 80 && took < 3000, "woken after %llu ms", (unsigned long long)took);
    t0 = tu_now_ms();
    CHECK_EQ_I(sl_loop_run_once(l, 50), 0);
    CHECK(tu_now_ms() - t0 >= 40);
    /* Several wakes before a turn: one prompt turn, then waiting again. */
    sl_loop_wake(l);
    sl_loop_wake(l);
    t0 = tu_now_ms();
    CHECK_EQ_I(sl_loop_run_once(l, 5000), 0);
    CHECK(tu_now_ms() - t0 < 1000);
    t0 = tu_now_ms();
    CHECK_EQ_I(sl_loop_run_once(l, 50), 0);
    CHECK(tu_now_ms() - t0 >= 40);
    rec_free(&r);
}

/* A watched pipe: readable gives SL_EV_FD with the id (level-triggered, so
 * again while unread); events 0 stops the watch. */
TEST(loop_watch_fd_reports_pipe_readable) {
    recorder r;
    sl_loop *l = rec_loop(&r);
    int p[2];
    REQUIRE(pipe(p) == 0);
    CHECK_EQ_I(sl_watch_fd(l, p[0], 77, EPOLLIN), 0);
    CHECK_EQ_I(sl_loop_run_once(l, 20), 0);
    REQUIRE(write(p[1], "x", 1) == 1);
    CHECK_EQ_I(sl_loop_run_once(l, 1000), 1);
    const ev_rec *e = rec_first(&r, SL_EV_FD);
    REQUIRE(e != NULL);
    CHECK_EQ_U(e->id, 77);
    CHECK(e->arg & EPOLLIN);
    CHECK(e->conn == NULL);
    CHECK_EQ_I(sl_loop_run_once(l, 1000), 1); /* still unread */
    CHECK_EQ_U(rec_count(&r, SL_EV_FD), 2);
    char c;
    REQUIRE(read(p[0], &c, 1) == 1);
    CHECK_EQ_I(sl_loop_run_once(l, 20), 0);
    /* Watching it again (an update, not a second add) works too. */
    CHECK_EQ_I(sl_watch_fd(l, p[0], 78, EPOLLIN), 0);
    CHECK_EQ_I(sl_watch_fd(l, p[0], 78, 0), 0);
    REQUIRE(write(p[1], "y", 1) == 1);
    CHECK_EQ_I(sl_loop_run_once(l, 50), 0);
    CHECK_EQ_U(rec_count(&r, SL_EV_FD), 2);
    CHECK(sl_watch_fd(l, p[0], 78, 0) < 0); /* not watched any more */
    close(p[0]);
    close(p[1]);
    rec_free(&r);
}

static void echo_hook(recorder *r, sl_event *e) {
    (void)r;
    if (e->kind == SL_EV_DATA) CHECK(sl_conn_write(e->conn, e->data, e->len) == (ssize_t)e->len);
}

/* What on_events writes leaves in that turn's closing flush: the peer has
 * it when run_once returns, with no other turn. */
TEST(loop_writes_in_on_events_leave_at_end_of_turn) {
    recorder r;
    sl_loop *l = rec_loop(&r);
    r.hook = echo_hook;
    int client;
    tu_adopt_pair(l, NULL, &client);
    REQUIRE(write(client, "ping", 4) == 4);
    RUN_UNTIL(l, rec_count(&r, SL_EV_DATA) > 0, 2000);
    REQUIRE(rec_count(&r, SL_EV_DATA) == 1);
    char in[8] = {0};
    CHECK_EQ_U(tu_read_full(client, in, 4, 1000), 4); /* the loop is not turned here */
    CHECK(memcmp(in, "ping", 4) == 0);
    close(client);
    rec_free(&r);
}

/* Written between turns, the bytes wait for the next turn's flush. */
TEST(loop_writes_between_turns_leave_with_next_turn) {
    recorder r;
    sl_loop *l = rec_loop(&r);
    int client;
    sl_conn *c = tu_adopt_pair(l, NULL, &client);
    CHECK_EQ_I(sl_conn_write(c, "later", 5), 5);
    CHECK_EQ_U(sl_conn_pending(c), 5);
    char in[8] = {0};
    tu_sleep_ms(20);
    CHECK(tu_read_now(client, in, sizeof in) < 0); /* nothing left yet */
    CHECK(sl_loop_run_once(l, 0) >= 0);
    CHECK_EQ_U(tu_read_full(client, in, 5, 1000), 5);
    CHECK(memcmp(in, "later", 5) == 0);
    CHECK_EQ_U(sl_conn_pending(c), 0);
    sl_loop_stats st;
    sl_loop_get_stats(l, &st);
    CHECK_EQ_U(st.bytes_out, 5);
    close(client);
    rec_free(&r);
}

#ifdef SL_DEBUG
typedef struct foreign_calls {
    sl_loop *loop;
    int run, listen, watch;
} foreign_calls;

static void *call_from_other_thread(void *arg) {
    foreign_calls *f = arg;
    f->run = sl_loop_run_once(f->loop, 0);
    f->listen = sl_listener_add(f->loop, 0, NULL);
    f->watch = sl_watch_fd(f->loop, 0, 1, EPOLLIN);
    return NULL;
}
#endif

/* Debug builds refuse the loop's calls from a thread that does not own it. */
TEST(loop_refuses_calls_from_other_threads_in_debug_builds) {
#ifndef SL_DEBUG
    harness_skip("built without SL_DEBUG");
#else
    recorder r;
    sl_loop *l = rec_loop(&r);
    foreign_calls f = {.loop = l};
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, call_from_other_thread, &f) == 0);
    pthread_join(t, NULL);
    CHECK_EQ_I(f.run, -EPERM);
    CHECK_EQ_I(f.listen, -EPERM);
    CHECK_EQ_I(f.watch, -EPERM);
    CHECK(r.warnings >= 3); /* each refusal is logged */
    sl_loop_stats st;
    sl_loop_get_stats(l, &st);
    CHECK_EQ_U(st.turns, 0);
    rec_free(&r);
#endif
}
