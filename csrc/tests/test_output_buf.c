/*
 * test_output_buf.c - bytes and file ranges waiting for a socket.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "util.h"

#define K ((size_t)1 << 10)
#define M ((size_t)1 << 20)

/* The core's gathered write (sendmsg with MSG_NOSIGNAL: a writev that
 * cannot raise SIGPIPE) resolves to this definition (the executable's
 * symbols come first), so a test can tell a gathered write from single
 * writes. The real call goes straight to the kernel. */
static atomic_int writev_calls;
static atomic_int writev_max_iov;

ssize_t sendmsg(int fd, const struct msghdr *msg, int flags) {
    atomic_fetch_add(&writev_calls, 1);
    if ((int)msg->msg_iovlen > atomic_load(&writev_max_iov))
        atomic_store(&writev_max_iov, (int)msg->msg_iovlen);
    return syscall(SYS_sendmsg, fd, msg, flags);
}

static size_t pieces(const output_buf *ob) {
    size_t n = 0;
    for (io_buf *b = ob->head; b; b = b->next) n++;
    return n;
}

static size_t class_in_use(buf_pool *p, int cls) {
    buf_pool_stats s;
    buf_pool_get_stats(p, &s);
    return s.cls[cls].in_use;
}

/* Write the buffer to fd, reading the peer as we go, until want bytes have
 * arrived in got (or the time is up). */
static void pump(output_buf *ob, int fd, int peer, tu_bytes *got, size_t want, int timeout_ms) {
    char chunk[64 * 1024];
    uint64_t deadline = tu_now_ms() + (uint64_t)timeout_ms;
    while (got->n < want && tu_now_ms() < deadline) {
        ssize_t w = output_buf_write2fd(ob, fd);
        CHECKF(w >= 0, "write2fd: %zd", w);
        if (w < 0) return;
        ssize_t r = tu_read_now(peer, chunk, sizeof chunk);
        if (r > 0)
            tu_bytes_add(got, chunk, (size_t)r);
        else
            tu_sleep_ms(1);
    }
}

TEST(output_buf_send_small) {
    buf_pool *p = tu_empty_pool(0);
    int sv[2];
    REQUIRE(tu_socketpair(sv) == 0);
    output_buf ob;
    output_buf_init(&ob, p);
    CHECK_EQ_I(output_buf_send_data(&ob, "hello", 5), 0);
    CHECK_EQ_U(ob.pending, 5);
    CHECK_EQ_U(pieces(&ob), 1);
    CHECK_EQ_U(ob.head->capacity, 4 * K);
    CHECK_EQ_I(output_buf_write2fd(&ob, sv[0]), 5);
    CHECK_EQ_U(ob.pending, 0);
    CHECK(ob.head == NULL && ob.tail == NULL);
    CHECK_EQ_U(tu_pool_in_use(p), 0); /* the emptied block went back at once */
    char in[8] = {0};
    CHECK_EQ_I(tu_read_now(sv[1], in, sizeof in), 5);
    CHECK(memcmp(in, "hello", 5) == 0);
    CHECK_EQ_I(output_buf_write2fd(&ob, sv[0]), 0); /* nothing to write */
    CHECK_EQ_I(output_buf_send_data(&ob, "x", 0), 0);
    CHECK(ob.head == NULL);
    close(sv[0]);
    close(sv[1]);
    buf_pool_free(p);
}

/* Appends fill the last block; a lone block too small moves to the class
 * that holds everything (copy + revert), bytes intact and in order. */
TEST(output_buf_grows_by_class) {
    buf_pool *p = tu_empty_pool(0);
    output_buf ob;
    output_buf_init(&ob, p);
    static char src[300 * 1024];
    tu_fill(src, sizeof src, 0, 11);
    size_t sizes[] = {1000, 2000, 1000, 3000, 100 * 1024, 140 * 1024}, off = 0;
    size_t want_cap[] = {4 * K, 4 * K, 4 * K, 16 * K, 256 * K, 256 * K};
    for (int i = 0; i < 6; i++) {
        REQUIRE(output_buf_send_data(&ob, src + off, sizes[i]) == 0);
        off += sizes[i];
        CHECK_EQ_U(ob.pending, off);
        CHECK_EQ_U(pieces(&ob), 1);
        CHECKF(ob.head->capacity == want_cap[i], "after %zu bytes: capacity %zu, want %zu", off,
               ob.head->capacity, want_cap[i]);
        CHECK_EQ_U(tu_pool_in_use(p), 1); /* the outgrown block was given back */
    }
    CHECK_EQ_U(ob.head->length, off);
    CHECK_EQ_U(tu_mismatch(io_buf_begin(ob.head), off, 0, 11), off);
    output_buf_release(&ob);
    CHECK_EQ_U(tu_pool_in_use(p), 0);
    CHECK_EQ_U(ob.pending, 0);
    buf_pool_free(p);
}

typedef struct reader {
    int fd;
    size_t want, got, first_bad;
    uint32_t seed;
} reader;

/* Reads want bytes (blocking fd) and checks them against the pattern. */
static void *read_and_check(void *arg) {
    reader *r = arg;
    static char chunk[256 * 1024];
    r->first_bad = SIZE_MAX;
    uint64_t deadline = tu_now_ms() + 20000;
    while (r->got < r->want && tu_now_ms() < deadline) {
        ssize_t n = read(r->fd, chunk, sizeof chunk);
        if (n <= 0) break;
        size_t bad = tu_mismatch(chunk, (size_t)n, r->got, r->seed);
        if (bad < (size_t)n && r->first_bad == SIZE_MAX) r->first_bad = r->got + bad;
        r->got += (size_t)n;
    }
    return NULL;
}

/* Past 8M the blocks chain and write2fd gathers them with writev; 20 MB go
 * through a socket while another thread reads them, intact. */
TEST(output_buf_chains_past_8m_and_writes_with_writev) {
    enum { N = 20 * 1024 * 1024 };
    buf_pool *p = tu_empty_pool(0);
    char *src = malloc(N);
    REQUIRE(src != NULL);
    tu_fill(src, N, 0, 21);
    output_buf ob;
    output_buf_init(&ob, p);
    REQUIRE(output_buf_send_data(&ob, src, N) == 0);
    CHECK_EQ_U(ob.pending, N);
    CHECK_EQ_U(pieces(&ob), 3); /* 8M + 8M + 4M */
    CHECK_EQ_U(class_in_use(p, 6), 2);
    CHECK_EQ_U(class_in_use(p, 5), 1);
    int client, server;
    REQUIRE(tu_tcp_pair(&client, &server) == 0);
    reader rd = {.fd = client, .want = N, .seed = 21};
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, read_and_check, &rd) == 0);
    atomic_store(&writev_calls, 0);
    uint64_t deadline = tu_now_ms() + 20000;
    while (ob.pending && tu_now_ms() < deadline) {
        ssize_t w = output_buf_write2fd(&ob, server);
        CHECKF(w >= 0, "write2fd: %zd", w);
        if (w < 0) break;
        struct pollfd pf = {.fd = server, .events = POLLOUT};
        if (ob.pending) poll(&pf, 1, 100);
    }
    pthread_join(t, NULL);
    CHECK_EQ_U(ob.pending, 0);
    CHECK_EQ_U(rd.got, N);
    CHECKF(rd.first_bad == SIZE_MAX, "first bad byte at %zu", rd.first_bad);
    CHECK(atomic_load(&writev_calls) > 0);
    CHECK(atomic_load(&writev_max_iov) >= 2);
    CHECK_EQ_U(tu_pool_in_use(p), 0);
    free(src);
    close(client);
    close(server);
    buf_pool_free(p);
}

/* Appending 1 MB at a time grows the one block up to 8M; past it new
 * blocks chain behind, and the bytes read back in order across them. */
TEST(output_buf_piecewise_appends_chain_after_largest_class) {
    buf_pool *p = tu_empty_pool(0);
    static char mb[1 << 20];
    output_buf ob;
    output_buf_init(&ob, p);
    for (int i = 0; i < 10; i++) {
        tu_fill(mb, sizeof mb, (uint64_t)i << 20, 4);
        REQUIRE(output_buf_send_data(&ob, mb, sizeof mb) == 0);
        if (i < 8) CHECK_EQ_U(pieces(&ob), 1);
    }
    CHECK_EQ_U(ob.pending, 10 * M);
    CHECK(pieces(&ob) >= 2);
    CHECK_EQ_U(ob.head->capacity, 8 * M);
    CHECK_EQ_U(ob.head->length, 8 * M);
    size_t off = 0;
    for (io_buf *b = ob.head; b; b = b->next) {
        CHECK_EQ_U(tu_mismatch(io_buf_begin(b), b->length, off, 4), b->length);
        off += b->length;
    }
    CHECK_EQ_U(off, 10 * M);
    CHECK_EQ_U(tu_pool_in_use(p), pieces(&ob));
    output_buf_release(&ob);
    CHECK_EQ_U(tu_pool_in_use(p), 0);
    buf_pool_free(p);
}

/* A small send buffer takes part of the output: the rest stays, EAGAIN is
 * "0 written" (not an error), and each emptied block goes back to the pool
 * as soon as it has left. Bytes, a file range, bytes: all arrive in order. */
TEST(output_buf_partial_writes_keep_the_rest) {
    enum { A = 200 * 1024, F = 50 * 1024, B = 200 * 1024, N = A + F + B };
    buf_pool *p = tu_empty_pool(0);
    int sv[2];
    REQUIRE(tu_socketpair(sv) == 0);
    int small = 4096;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    static char src[N];
    tu_fill(src, N, 0, 13);
    int file = tu_pattern_file(A + F, 13); /* the file's bytes A.. are the stream's A.. */
    REQUIRE(file >= 0);
    output_buf ob;
    output_buf_init(&ob, p);
    REQUIRE(output_buf_send_data(&ob, src, A) == 0);
    REQUIRE(output_buf_send_file(&ob, file, A, F) == 0);
    REQUIRE(output_buf_send_data(&ob, src + A + F, B) == 0);
    CHECK_EQ_U(ob.pending, N);
    CHECK_EQ_U(pieces(&ob), 3);
    CHECK_EQ_U(class_in_use(p, 3), 2);
    ssize_t w = output_buf_write2fd(&ob, sv[0]);
    CHECKF(w > 0 && w < A, "first write took %zd of %d", w, N);
    CHECK_EQ_U(ob.pending, N - (size_t)w);
    CHECK_EQ_I(output_buf_write2fd(&ob, sv[0]), 0); /* the kernel is full: EAGAIN */
    CHECK_EQ_U(ob.pending, N - (size_t)w);
    tu_bytes got = {0};
    char chunk[64 * 1024];
    int saw_first_block_go = 0;
    uint64_t deadline = tu_now_ms() + 10000;
    while ((ob.pending || got.n < N) && tu_now_ms() < deadline) {
        ssize_t r = tu_read_now(sv[1], chunk, sizeof chunk);
        if (r > 0) tu_bytes_add(&got, chunk, (size_t)r);
        ssize_t k = output_buf_write2fd(&ob, sv[0]);
        CHECKF(k >= 0, "write2fd: %zd", k);
        if (k < 0) break;
        if (ob.pending && ob.pending <= F + B && class_in_use(p, 3) == 1) saw_first_block_go = 1;
    }
    CHECK(saw_first_block_go);
    CHECK_EQ_U(ob.pending, 0);
    CHECK_EQ_U(got.n, N);
    CHECK_EQ_U(tu_mismatch(got.p, got.n, 0, 13), N);
    CHECK_EQ_U(tu_pool_in_use(p), 0);
    CHECK(!tu_fd_is_open(file)); /* the buffer owned it and closed it once sent */
    tu_bytes_free(&got);
    close(sv[0]);
    close(sv[1]);
    buf_pool_free(p);
}

/* sendfile for a range from the middle of a file, between bytes. */
TEST(output_buf_send_file_range_between_bytes) {
    enum { FILE_N = 100 * 1024, OFF = 1000, LEN = 50000 };
    buf_pool *p = tu_empty_pool(0);
    int file = tu_pattern_file(FILE_N, 17);
    REQUIRE(file >= 0);
    int client, server;
    REQUIRE(tu_tcp_pair(&client, &server) == 0);
    output_buf ob;
    output_buf_init(&ob, p);
    REQUIRE(output_buf_send_data(&ob, "HEAD:", 5) == 0);
    REQUIRE(output_buf_send_file(&ob, file, OFF, LEN) == 0);
    REQUIRE(output_buf_send_data(&ob, ":TAIL", 5) == 0);
    CHECK_EQ_U(ob.pending, 5 + LEN + 5);
    tu_bytes got = {0};
    pump(&ob, server, client, &got, 5 + LEN + 5, 5000);
    CHECK_EQ_U(ob.pending, 0);
    REQUIRE(got.n == 5 + LEN + 5);
    CHECK(memcmp(got.p, "HEAD:", 5) == 0);
    CHECK_EQ_U(tu_mismatch(got.p + 5, LEN, OFF, 17), LEN);
    CHECK(memcmp(got.p + 5 + LEN, ":TAIL", 5) == 0);
    CHECK(!tu_fd_is_open(file));
    CHECK_EQ_U(tu_pool_in_use(p), 0);
    tu_bytes_free(&got);
    close(client);
    close(server);
    buf_pool_free(p);
}

static int tcp_cork_of(int fd) {
    int on = -1;
    socklen_t len = sizeof on;
    return getsockopt(fd, IPPROTO_TCP, TCP_CORK, &on, &len) == 0 ? on : -1;
}

/* A large file range is sent corked (full segments only) and the cork comes
 * off once the range has gone, so the tail after it is not held back; a
 * small range is never corked. */
TEST(output_buf_large_file_range_is_sent_corked_then_uncorked) {
    enum { FILE_N = 1024 * 1024 };
    buf_pool *p = tu_empty_pool(0);
    int file = tu_pattern_file(FILE_N, 5);
    REQUIRE(file >= 0);
    int client, server;
    REQUIRE(tu_tcp_pair(&client, &server) == 0);
    output_buf ob;
    output_buf_init(&ob, p);
    REQUIRE(output_buf_send_data(&ob, "HEAD:", 5) == 0);
    REQUIRE(output_buf_send_file(&ob, file, 0, FILE_N) == 0);
    REQUIRE(output_buf_send_data(&ob, ":TAIL", 5) == 0);
    int sndbuf = 64 * 1024; /* the socket takes part of the range only */
    REQUIRE(setsockopt(server, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf) == 0);
    REQUIRE(output_buf_write2fd(&ob, server) >= 0);
    REQUIRE(ob.head && ob.head->cls < 0); /* in the middle of the range: corked */
    CHECK_EQ_I(ob.corked, 1);
    CHECK_EQ_I(tcp_cork_of(server), 1);
    tu_bytes got = {0};
    pump(&ob, server, client, &got, 5 + FILE_N + 5, 10000);
    REQUIRE(got.n == 5 + FILE_N + 5);
    CHECK_EQ_U(tu_mismatch(got.p + 5, FILE_N, 0, 5), FILE_N);
    CHECK(memcmp(got.p + 5 + FILE_N, ":TAIL", 5) == 0);
    CHECK_EQ_I(ob.corked, 0);
    CHECK_EQ_I(tcp_cork_of(server), 0);
    /* a small range: no cork at all */
    int small = tu_pattern_file(4096, 6);
    REQUIRE(small >= 0);
    REQUIRE(output_buf_send_file(&ob, small, 0, 4096) == 0);
    tu_bytes_free(&got);
    got = (tu_bytes){0};
    pump(&ob, server, client, &got, 4096, 5000);
    CHECK_EQ_U(got.n, 4096);
    CHECK_EQ_I(ob.corked, 0);
    CHECK_EQ_I(tcp_cork_of(server), 0);
    tu_bytes_free(&got);
    close(client);
    close(server);
    buf_pool_free(p);
}

/* A file shorter than the range promised breaks the stream: what the file
 * had goes, then -EIO (sendfile's 0 is not "try again"). */
TEST(output_buf_file_shorter_than_range_is_eio) {
    buf_pool *p = tu_empty_pool(0);
    int file = tu_pattern_file(100, 1);
    REQUIRE(file >= 0);
    int sv[2];
    REQUIRE(tu_socketpair(sv) == 0);
    output_buf ob;
    output_buf_init(&ob, p);
    REQUIRE(output_buf_send_file(&ob, file, 0, 200) == 0);
    ssize_t w = 0;
    for (int i = 0; i < 3 && w >= 0; i++) w = output_buf_write2fd(&ob, sv[0]);
    CHECK_EQ_I(w, -EIO);
    CHECK_EQ_U(ob.pending, 100);
    output_buf_release(&ob);
    CHECK(!tu_fd_is_open(file));
    close(sv[0]);
    close(sv[1]);
    buf_pool_free(p);
}

TEST(output_buf_write_to_closed_peer_is_epipe) {
    tu_ignore_sigpipe();
    buf_pool *p = tu_empty_pool(0);
    int sv[2];
    REQUIRE(tu_socketpair(sv) == 0);
    close(sv[1]);
    output_buf ob;
    output_buf_init(&ob, p);
    REQUIRE(output_buf_send_data(&ob, "lost", 4) == 0);
    CHECK_EQ_I(output_buf_write2fd(&ob, sv[0]), -EPIPE);
    CHECK_EQ_U(ob.pending, 4); /* nothing was consumed */
    output_buf_release(&ob);
    CHECK_EQ_U(tu_pool_in_use(p), 0);
    close(sv[0]);
    buf_pool_free(p);
}

/* The core never raises SIGPIPE: an embedder that keeps the default
 * disposition (which kills the process) still only sees -EPIPE, for a lone
 * block (send) and for a chain (sendmsg). */
TEST(output_buf_closed_peer_raises_no_sigpipe) {
    signal(SIGPIPE, SIG_DFL);
    buf_pool *p = tu_empty_pool(0);
    int sv[2];
    REQUIRE(tu_socketpair(sv) == 0);
    close(sv[1]);
    output_buf ob;
    output_buf_init(&ob, p);
    static char big[9 * 1024 * 1024];
    REQUIRE(output_buf_send_data(&ob, "lone", 4) == 0);
    CHECK_EQ_I(output_buf_write2fd(&ob, sv[0]), -EPIPE);
    output_buf_release(&ob);
    REQUIRE(output_buf_send_data(&ob, big, sizeof big) == 0); /* past 8M: a chain */
    REQUIRE(output_buf_send_data(&ob, big, 4096) == 0);
    CHECK_EQ_I(output_buf_write2fd(&ob, sv[0]), -EPIPE);
    output_buf_release(&ob);
    close(sv[0]);
    buf_pool_free(p);
}

/* The pool refuses: send_data returns -1 and appends nothing, whether it
 * needed a first block, a bigger one, or a chain of them. */
TEST(output_buf_pool_refusal_appends_nothing) {
    buf_pool *p = tu_empty_pool(4 * K);
    output_buf ob;
    output_buf_init(&ob, p);
    static char src[10 * 1024 * 1024];
    tu_fill(src, sizeof src, 0, 2);
    CHECK_EQ_I(output_buf_send_data(&ob, src, 10000), -1); /* first block: 16K > limit */
    CHECK(ob.head == NULL);
    CHECK_EQ_U(ob.pending, 0);
    REQUIRE(output_buf_send_data(&ob, src, 3000) == 0);
    CHECK_EQ_I(output_buf_send_data(&ob, src + 3000, 3000), -1); /* growth to 16K */
    CHECK_EQ_U(ob.pending, 3000);
    CHECK_EQ_U(pieces(&ob), 1);
    CHECK_EQ_U(ob.head->length, 3000);
    CHECK_EQ_U(tu_mismatch(io_buf_begin(ob.head), 3000, 0, 2), 3000);
    output_buf_release(&ob);
    CHECK_EQ_U(tu_pool_in_use(p), 0);
    /* A chain: 8M is granted, the 4M after it is not; the 8M goes back. */
    buf_pool_set_limit(p, 9 * M);
    CHECK_EQ_I(output_buf_send_data(&ob, src, sizeof src), -1);
    CHECK(ob.head == NULL);
    CHECK_EQ_U(ob.pending, 0);
    CHECK_EQ_U(tu_pool_in_use(p), 0);
    buf_pool_free(p);
}

TEST(output_buf_release_frees_blocks_and_files) {
    buf_pool *p = tu_empty_pool(0);
    int file = tu_pattern_file(10, 1);
    REQUIRE(file >= 0);
    output_buf ob;
    output_buf_init(&ob, p);
    REQUIRE(output_buf_send_data(&ob, "abc", 3) == 0);
    REQUIRE(output_buf_send_file(&ob, file, 0, 10) == 0);
    REQUIRE(output_buf_send_data(&ob, "def", 3) == 0);
    CHECK_EQ_U(tu_pool_in_use(p), 2);
    output_buf_release(&ob);
    CHECK_EQ_U(tu_pool_in_use(p), 0);
    CHECK(!tu_fd_is_open(file));
    CHECK(ob.head == NULL && ob.tail == NULL && ob.pending == 0);
    buf_pool_free(p);
}
