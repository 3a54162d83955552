/*
 * test_input_buf.c - reading a socket into one contiguous block.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util.h"

#define K ((size_t)1 << 10)

static int waiting(int fd) {
    int n = -1;
    return ioctl(fd, FIONREAD, &n) == 0 ? n : -1;
}

TEST(input_buf_small_read) {
    buf_pool *p = tu_empty_pool(0);
    int sv[2];
    REQUIRE(tu_socketpair(sv) == 0);
    REQUIRE(write(sv[1], "hello", 5) == 5);
    input_buf ib;
    input_buf_init(&ib, p, 0);
    int err = 0;
    int r = input_buf_read_data(&ib, sv[0], &err);
    CHECK(r & IB_DATA);
    CHECK_EQ_I(r & (IB_ERROR | IB_EOF | IB_FULL | IB_NOMEM), 0);
    CHECK_EQ_U(input_buf_length(&ib), 5);
    CHECK(input_buf_data(&ib) && memcmp(input_buf_data(&ib), "hello", 5) == 0);
    REQUIRE(ib.buf != NULL);
    CHECK_EQ_U(ib.buf->capacity, 4 * K); /* a small read takes the smallest class */
    input_buf_release(&ib);
    CHECK_EQ_U(tu_pool_in_use(p), 0);
    close(sv[0]);
    close(sv[1]);
    buf_pool_free(p);
}

/* More than 4K waiting: the block moves to a bigger class (copy + revert)
 * and everything ends up in one contiguous block, intact. (AF_UNIX: the
 * whole write waits on the reader's side, nothing needs reading first.) */
TEST(input_buf_grows_across_classes_in_one_block) {
    enum { N = 100 * 1024 };
    buf_pool *p = tu_empty_pool(0);
    int sv[2];
    REQUIRE(tu_socketpair(sv) == 0);
    int client = sv[1], server = sv[0];
    char *out = malloc(N);
    REQUIRE(out != NULL);
    tu_fill(out, N, 0, 7);
    REQUIRE(tu_write_all(client, out, N, 2000) == N);
    input_buf ib;
    input_buf_init(&ib, p, 0);
    int err = 0, flags = 0;
    for (int i = 0; i < 50 && input_buf_length(&ib) < N; i++) {
        flags |= input_buf_read_data(&ib, server, &err);
        if (input_buf_length(&ib) < N) tu_sleep_ms(2);
    }
    CHECK(flags & IB_DATA);
    CHECK_EQ_I(flags & (IB_ERROR | IB_NOMEM | IB_FULL), 0);
    CHECK_EQ_U(input_buf_length(&ib), N);
    REQUIRE(ib.buf != NULL);
    CHECKF(ib.buf->capacity >= N && ib.buf->cls > 0, "capacity %zu class %d", ib.buf->capacity, ib.buf->cls);
    CHECK_EQ_U(tu_mismatch(input_buf_data(&ib), input_buf_length(&ib), 0, 7), N);
    CHECK_EQ_U(tu_pool_in_use(p), 1); /* the outgrown 4K block went back */
    input_buf_release(&ib);
    CHECK_EQ_U(tu_pool_in_use(p), 0);
    free(out);
    close(client);
    close(server);
    buf_pool_free(p);
}

TEST(input_buf_eagain_on_empty_socket_holds_no_block) {
    buf_pool *p = tu_empty_pool(0);
    int sv[2];
    REQUIRE(tu_socketpair(sv) == 0);
    input_buf ib;
    input_buf_init(&ib, p, 0);
    int err = 0;
    CHECK_EQ_I(input_buf_read_data(&ib, sv[0], &err), IB_AGAIN);
    CHECK(ib.buf == NULL);
    CHECK_EQ_U(input_buf_length(&ib), 0);
    CHECK(input_buf_data(&ib) == NULL);
    CHECK_EQ_U(tu_pool_in_use(p), 0);
    close(sv[0]);
    close(sv[1]);
    buf_pool_free(p);
}

TEST(input_buf_eof_on_empty_socket_holds_no_block) {
    buf_pool *p = tu_empty_pool(0);
    int sv[2];
    REQUIRE(tu_socketpair(sv) == 0);
    close(sv[1]);
    input_buf ib;
    input_buf_init(&ib, p, 0);
    int err = 0;
    CHECK_EQ_I(input_buf_read_data(&ib, sv[0], &err), IB_EOF);
    CHECK(ib.buf == NULL);
    CHECK_EQ_U(tu_pool_in_use(p), 0);
    close(sv[0]);
    buf_pool_free(p);
}

/* Data, then EOF (the peer wrote and closed). A short read ends a call
 * (sluice.h: it proves the socket was drained at that moment), so the data
 * comes first; the next call reports the EOF and keeps the data it holds. */
TEST(input_buf_eof_after_data_keeps_data) {
    buf_pool *p = tu_empty_pool(0);
    int sv[2];
    REQUIRE(tu_socketpair(sv) == 0);
    REQUIRE(write(sv[1], "last words", 10) == 10);
    close(sv[1]);
    input_buf ib;
    input_buf_init(&ib, p, 0);
    int err = 0;
    int r = input_buf_read_data(&ib, sv[0], &err);
    CHECKF(r == (IB_DATA | IB_AGAIN), "first read_data returned %#x, want IB_DATA|IB_AGAIN", r);
    r = input_buf_read_data(&ib, sv[0], &err);
    CHECKF(r == IB_EOF, "second read_data returned %#x, want IB_EOF", r);
    CHECK_EQ_U(input_buf_length(&ib), 10);
    CHECK(input_buf_data(&ib) && memcmp(input_buf_data(&ib), "last words", 10) == 0);
    CHECK_EQ_U(tu_pool_in_use(p), 1);
    CHECK_EQ_I(input_buf_read_data(&ib, sv[0], &err), IB_EOF); /* EOF stays EOF */
    CHECK_EQ_U(input_buf_length(&ib), 10);
    input_buf_release(&ib);
    CHECK_EQ_U(tu_pool_in_use(p), 0);
    close(sv[0]);
    buf_pool_free(p);
}

/* Reading stops at max: nothing beyond it is taken from the kernel. */
TEST(input_buf_stops_at_max) {
    enum { MAX = 10000, N = 25000 };
    buf_pool *p = tu_empty_pool(0);
    int sv[2];
    REQUIRE(tu_socketpair(sv) == 0);
    char out[N];
    tu_fill(out, N, 0, 3);
    REQUIRE(tu_write_all(sv[1], out, N, 2000) == N);
    input_buf ib;
    input_buf_init(&ib, p, MAX);
    int err = 0;
    int r = input_buf_read_data(&ib, sv[0], &err);
    CHECK(r & IB_DATA);
    CHECK(r & IB_FULL);
    CHECK_EQ_U(input_buf_length(&ib), MAX);
    CHECK_EQ_U(tu_mismatch(input_buf_data(&ib), input_buf_length(&ib), 0, 3), MAX);
    CHECK_EQ_I(waiting(sv[0]), N - MAX);
    /* Full: another call reads nothing more. */
    CHECK(input_buf_read_data(&ib, sv[0], &err) & IB_FULL);
    CHECK_EQ_U(input_buf_length(&ib), MAX);
    CHECK_EQ_I(waiting(sv[0]), N - MAX);
    /* Consumed: the next read carries on where the last stopped. */
    input_buf_pop(&ib, MAX);
    r = input_buf_read_data(&ib, sv[0], &err);
    CHECK(r & IB_FULL);
    CHECK_EQ_U(input_buf_length(&ib), MAX);
    CHECK_EQ_U(tu_mismatch(input_buf_data(&ib), input_buf_length(&ib), MAX, 3), MAX);
    input_buf_release(&ib);
    close(sv[0]);
    close(sv[1]);
    buf_pool_free(p);
}

TEST(input_buf_max_defaults_to_1m_and_is_clamped_to_8m) {
    input_buf ib;
    input_buf_init(&ib, NULL, 0);
    CHECK_EQ_U(ib.max, SL_DEFAULT_MAX_INPUT);
    input_buf_init(&ib, NULL, (size_t)100 << 20);
    CHECK_EQ_U(ib.max, (size_t)8 << 20);
    input_buf_init(&ib, NULL, 5000);
    CHECK_EQ_U(ib.max, 5000);
}

TEST(input_buf_pop_to_empty_releases_block) {
    buf_pool *p = tu_empty_pool(0);
    int sv[2];
    REQUIRE(tu_socketpair(sv) == 0);
    REQUIRE(write(sv[1], "hello", 5) == 5);
    input_buf ib;
    input_buf_init(&ib, p, 0);
    int err = 0;
    REQUIRE(input_buf_read_data(&ib, sv[0], &err) & IB_DATA);
    input_buf_pop(&ib, 2);
    CHECK_EQ_U(input_buf_length(&ib), 3);
    CHECK(memcmp(input_buf_data(&ib), "llo", 3) == 0);
    CHECK_EQ_U(tu_pool_in_use(p), 1);
    input_buf_pop(&ib, 3);
    CHECK(ib.buf == NULL);
    CHECK_EQ_U(tu_pool_in_use(p), 0);
    input_buf_pop(&ib, 10); /* popping an empty buffer is harmless */
    CHECK_EQ_U(tu_pool_in_use(p), 0);
    close(sv[0]);
    close(sv[1]);
    buf_pool_free(p);
}

/* A full block whose front was consumed makes room by moving the rest to
 * the front, not by growing. */
TEST(input_buf_reuses_consumed_front_before_growing) {
    buf_pool *p = tu_empty_pool(0);
    int sv[2];
    REQUIRE(tu_socketpair(sv) == 0);
    char out[4 * K + 500];
    tu_fill(out, sizeof out, 0, 9);
    REQUIRE(write(sv[1], out, 4 * K) == (ssize_t)(4 * K));
    input_buf ib;
    input_buf_init(&ib, p, 0);
    int err = 0;
    REQUIRE(input_buf_read_data(&ib, sv[0], &err) & IB_DATA);
    REQUIRE(input_buf_length(&ib) == 4 * K);
    input_buf_pop(&ib, 1000);
    REQUIRE(write(sv[1], out + 4 * K, 500) == 500);
    CHECK(input_buf_read_data(&ib, sv[0], &err) & IB_DATA);
    CHECK_EQ_U(input_buf_length(&ib), 4 * K - 1000 + 500);
    CHECK_EQ_U(ib.buf->capacity, 4 * K);
    CHECK_EQ_U(ib.buf->head, 0);
    CHECK_EQ_U(tu_mismatch(input_buf_data(&ib), input_buf_length(&ib), 1000, 9), input_buf_length(&ib));
    input_buf_release(&ib);
    close(sv[0]);
    close(sv[1]);
    buf_pool_free(p);
}

TEST(input_buf_bad_fd_is_ib_error_with_errno) {
    buf_pool *p = tu_empty_pool(0);
    int sv[2];
    REQUIRE(tu_socketpair(sv) == 0);
    int closed = sv[0];
    close(sv[0]);
    close(sv[1]);
    int fds[] = {-1, closed};
    for (int i = 0; i < 2; i++) {
        input_buf ib;
        input_buf_init(&ib, p, 0);
        int err = 0;
        int r = input_buf_read_data(&ib, fds[i], &err);
        CHECK_EQ_I(r, IB_ERROR);
        CHECK_EQ_I(err, EBADF);
        CHECK(ib.buf == NULL);
    }
    CHECK_EQ_U(tu_pool_in_use(p), 0);
    buf_pool_free(p);
}

TEST(input_buf_reset_is_ib_error_econnreset) {
    buf_pool *p = tu_empty_pool(0);
    int client, server;
    REQUIRE(tu_tcp_pair(&client, &server) == 0);
    tu_close_reset(client);
    tu_sleep_ms(20);
    input_buf ib;
    input_buf_init(&ib, p, 0);
    int err = 0;
    int r = input_buf_read_data(&ib, server, &err);
    CHECK(r & IB_ERROR);
    CHECK_EQ_I(err, ECONNRESET);
    CHECK(ib.buf == NULL);
    CHECK_EQ_U(tu_pool_in_use(p), 0);
    close(server);
    buf_pool_free(p);
}

/* The pool refuses the bigger block: IB_NOMEM, and what was read stays. */
TEST(input_buf_pool_refusal_is_ib_nomem_keeping_data) {
    buf_pool *p = tu_empty_pool(4 * K);
    int sv[2];
    REQUIRE(tu_socketpair(sv) == 0);
    char out[10000];
    tu_fill(out, sizeof out, 0, 5);
    REQUIRE(write(sv[1], out, sizeof out) == (ssize_t)sizeof out);
    input_buf ib;
    input_buf_init(&ib, p, 0);
    int err = 0;
    int r = input_buf_read_data(&ib, sv[0], &err);
    CHECK_EQ_I(r, IB_DATA | IB_NOMEM);
    CHECK_EQ_U(input_buf_length(&ib), 4 * K);
    CHECK_EQ_U(tu_mismatch(input_buf_data(&ib), input_buf_length(&ib), 0, 5), 4 * K);
    buf_pool_stats s;
    buf_pool_get_stats(p, &s);
    CHECK_EQ_U(s.cls[1].failures, 1);
    input_buf_release(&ib);
    /* Refused even the first block: nothing is taken from the socket. */
    io_buf *hog = buf_pool_alloc_buf(p, 4 * K);
    REQUIRE(hog != NULL);
    int before = waiting(sv[0]);
    CHECK_EQ_I(input_buf_read_data(&ib, sv[0], &err), IB_NOMEM);
    CHECK_EQ_I(waiting(sv[0]), before);
    buf_pool_revert(p, hog);
    close(sv[0]);
    close(sv[1]);
    buf_pool_free(p);
}
