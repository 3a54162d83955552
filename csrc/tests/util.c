/*
 * util.c - the helpers of util.h.
 */
#define _GNU_SOURCE
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

uint64_t tu_now_ms(void) { return sl_monotonic_ms(); }

void tu_sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

void tu_ignore_sigpipe(void) { signal(SIGPIPE, SIG_IGN); }

int tu_set_nonblock(int fd, int on) {
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0) return -1;
    fl = on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK;
    return fcntl(fd, F_SETFL, fl);
}

int tu_socketpair(int sv[2]) {
    return socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv);
}

static struct sockaddr_in loopback(uint16_t port) {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

int tu_listen_tcp(uint16_t *port, int backlog) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = loopback(0);
    socklen_t len = sizeof a;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, backlog) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(a.sin_port);
    return fd;
}

int tu_connect_tcp(uint16_t port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct sockaddr_in a = loopback(port);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int tu_tcp_pair(int *client, int *server) {
    uint16_t port;
    int lfd = tu_listen_tcp(&port, 4);
    if (lfd < 0) return -1;
    int c = tu_connect_tcp(port);
    int s = -1;
    for (int i = 0; c >= 0 && s < 0 && i < 2000; i++) { /* the listener is non-blocking */
        s = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (s < 0) tu_sleep_ms(1);
    }
    close(lfd);
    if (c < 0 || s < 0) {
        if (c >= 0) close(c);
        return -1;
    }
    *client = c;
    *server = s;
    return 0;
}

int tu_closed_port(uint16_t *port) {
    int fd = tu_listen_tcp(port, 1);
    if (fd < 0) return -1;
    close(fd); /* nothing listens there now; the port stays free briefly */
    return 0;
}

void tu_close_reset(int fd) {
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fd);
}

static uint8_t pattern_byte(uint64_t i, uint32_t seed) {
    uint32_t x = (uint32_t)i * 2654435761u + seed + (uint32_t)(i >> 32);
    return (uint8_t)((x >> 24) ^ (x >> 11));
}

void tu_fill(void *p, size_t n, uint64_t offset, uint32_t seed) {
    uint8_t *b = p;
    for (size_t i = 0; i < n; i++) b[i] = pattern_byte(offset + i, seed);
}

size_t tu_mismatch(const void *p, size_t n, uint64_t offset, uint32_t seed) {
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != pattern_byte(offset + i, seed)) return i;
    return n;
}

int tu_pattern_file(size_t n, uint32_t seed) {
    char path[] = "/tmp/sluice-ctest-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return -1;
    unlink(path);
    char chunk[8192];
    for (size_t off = 0; off < n;) {
        size_t k = n - off < sizeof chunk ? n - off : sizeof chunk;
        tu_fill(chunk, k, off, seed);
        if (write(fd, chunk, k) != (ssize_t)k) {
            close(fd);
            return -1;
        }
        off += k;
    }
    return fd;
}

size_t tu_write_all(int fd, const void *p, size_t n, int timeout_ms) {
    const char *c = p;
    size_t done = 0;
    uint64_t deadline = tu_now_ms() + (uint64_t)timeout_ms;
    while (done < n && tu_now_ms() < deadline) {
        ssize_t r = write(fd, c + done, n - done);
        if (r > 0) {
            done += (size_t)r;
        } else if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
            struct pollfd pf = {.fd = fd, .events = POLLOUT};
            poll(&pf, 1, 10);
        } else {
            break;
        }
    }
    return done;
}

ssize_t tu_read_now(int fd, void *buf, size_t cap) {
    ssize_t r = recv(fd, buf, cap, MSG_DONTWAIT);
    if (r < 0 && errno == ENOTSOCK) r = read(fd, buf, cap);
    return r;
}

size_t tu_read_full(int fd, void *buf, size_t n, int timeout_ms) {
    char *c = buf;
    size_t got = 0;
    uint64_t deadline = tu_now_ms() + (uint64_t)timeout_ms;
    while (got < n && tu_now_ms() < deadline) {
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        if (poll(&pf, 1, 10) <= 0) continue;
        ssize_t r = tu_read_now(fd, c + got, n - got);
        if (r > 0)
            got += (size_t)r;
        else if (r == 0)
            break;
        else if (errno != EAGAIN && errno != EINTR)
            break;
    }
    return got;
}

int tu_expect_eof(int fd, int timeout_ms, size_t *extra) {
    char buf[4096];
    uint64_t deadline = tu_now_ms() + (uint64_t)timeout_ms;
    while (tu_now_ms() < deadline) {
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        if (poll(&pf, 1, 10) <= 0) continue;
        ssize_t r = tu_read_now(fd, buf, sizeof buf);
        if (r == 0) return 1;
        if (r > 0) {
            if (extra) *extra += (size_t)r;
            continue;
        }
        if (errno != EAGAIN && errno != EINTR) return -errno;
    }
    return 0;
}

long tu_rss_kb(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, resident = -1;
    if (!f) return -1;
    if (fscanf(f, "%ld %ld", &size, &resident) != 2) resident = -1;
    fclose(f);
    return resident < 0 ? -1 : resident * (sysconf(_SC_PAGESIZE) / 1024);
}

rlim_t tu_nofile_soft(void) {
    struct rlimit rl;
    return getrlimit(RLIMIT_NOFILE, &rl) == 0 ? rl.rlim_cur : 0;
}

int tu_set_nofile_soft(rlim_t soft) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return -1;
    rl.rlim_cur = soft;
    return setrlimit(RLIMIT_NOFILE, &rl);
}

rlim_t tu_raise_nofile(rlim_t want) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 0;
    if (rl.rlim_cur >= want) return rl.rlim_cur;
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want) {
        struct rlimit both = {want, want}; /* needs CAP_SYS_RESOURCE; may fail */
        if (setrlimit(RLIMIT_NOFILE, &both) == 0) return want;
        rl.rlim_cur = rl.rlim_max;
    } else {
        rl.rlim_cur = want;
    }
    setrlimit(RLIMIT_NOFILE, &rl);
    return tu_nofile_soft();
}

int tu_lowest_free_fd(void) {
    int fd = dup(0);
    if (fd < 0) fd = open("/dev/null", O_RDONLY);
    if (fd >= 0) close(fd);
    return fd;
}

int tu_fd_is_open(int fd) { return fcntl(fd, F_GETFD) != -1 || errno != EBADF; }

buf_pool *tu_empty_pool(size_t limit) {
    static const size_t none[SL_NUM_CLASSES] = {0};
    buf_pool *p = buf_pool_new(none, limit);
    REQUIRE(p != NULL);
    return p;
}

size_t tu_pool_in_use(buf_pool *p) {
    buf_pool_stats s;
    buf_pool_get_stats(p, &s);
    size_t n = 0;
    for (int i = 0; i < SL_NUM_CLASSES; i++) n += s.cls[i].in_use;
    return n;
}

void tu_bytes_add(tu_bytes *b, const void *p, size_t n) {
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + n) cap *= 2;
        char *q = realloc(b->p, cap);
        REQUIRE(q != NULL);
        b->p = q;
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->n, p, n);
    b->n += n;
}

void tu_bytes_free(tu_bytes *b) {
    free(b->p);
    *b = (tu_bytes){0};
}

/* ---- the recorder --------------------------------------------------------- */

static void rec_on_events(void *ud, sl_event *evs, size_t n, const char *data, size_t data_len) {
    (void)data;
    (void)data_len;
    recorder *r = ud;
    r->batches++;
    for (size_t i = 0; i < n; i++) {
        sl_event *e = &evs[i];
        if (r->n == r->cap) {
            size_t cap = r->cap ? r->cap * 2 : 64;
            ev_rec *q = realloc(r->evs, cap * sizeof *q);
            REQUIRE(q != NULL);
            r->evs = q;
            r->cap = cap;
        }
        r->evs[r->n++] = (ev_rec){e->conn, e->kind, e->id, e->arg, e->err, e->len, r->batches};
        /* The bytes are valid only during this call: keep a copy. */
        if (e->kind == SL_EV_DATA && e->id < REC_IDS) tu_bytes_add(&r->data[e->id], e->data, e->len);
        if (r->hook) r->hook(r, e);
    }
}

static void rec_log(void *ud, int level, const char *msg) {
    recorder *r = ud;
    if (level >= 30) r->warnings++;
    fprintf(stderr, "sluice log [%d]: %s\n", level, msg);
}

sl_loop *rec_loop(recorder *r) {
    memset(r, 0, sizeof *r);
    sl_callbacks cb = {.on_events = rec_on_events, .log = rec_log};
    r->loop = sl_loop_new(&cb, r);
    REQUIRE(r->loop != NULL);
    return r->loop;
}

void rec_free(recorder *r) {
    sl_loop_free(r->loop);
    r->loop = NULL;
    free(r->evs);
    for (int i = 0; i < REC_IDS; i++) tu_bytes_free(&r->data[i]);
}

size_t rec_count(const recorder *r, uint32_t kind) {
    size_t k = 0;
    for (size_t i = 0; i < r->n; i++) k += r->evs[i].kind == kind;
    return k;
}

const ev_rec *rec_first(const recorder *r, uint32_t kind) {
    for (size_t i = 0; i < r->n; i++)
        if (r->evs[i].kind == kind) return &r->evs[i];
    return NULL;
}

sl_conn_config tu_cfg(int edge, size_t max_input, size_t high_water, size_t low_water) {
    return (sl_conn_config){
        .edge_triggered = edge, .max_input = max_input, .high_water = high_water, .low_water = low_water};
}

sl_conn *tu_adopt_pair(sl_loop *l, const sl_conn_config *cfg, int *client) {
    int s;
    REQUIRE(tu_tcp_pair(client, &s) == 0);
    sl_conn *c = sl_conn_adopt(l, s, 0, cfg);
    REQUIRE(c != NULL);
    return c;
}
