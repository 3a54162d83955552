/*
 * echo_client.c - the one load generator of benchmarks/echo.py and
 * benchmarks/idle_memory.py: the same client for every server.
 *
 *   echo_client echo PORT CONNS SIZE WARMUP_S DURATION_S
 *   echo_client hold PORT CONNS SIZE
 *
 * echo: open CONNS connections to 127.0.0.1:PORT (epoll, non-blocking); each
 * sends a SIZE-byte message, waits for the whole echo, checks every byte,
 * and sends the next, for WARMUP_S + DURATION_S seconds. It prints
 * {"event": "measure-start"} when the warm-up ends and {"event":
 * "measure-end"} the moment the measured window closes (the caller samples
 * the server's CPU time at both lines), then one JSON object: messages
 * echoed in the window, messages/s, latency p50/p99 in the window, and
 * every error (connect, read, write, early EOF, mismatched bytes, and
 * connections stalled at the end).
 *
 * hold: open CONNS connections (at most 256 connecting at once), each sends
 * one message and waits for its echo; prints {"event": "held", ...} with the
 * count and the errors, then holds every connection open until its standard
 * input closes.
 *
 * Built by the scripts with cc -O2; Linux only.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_EVENTS 512
#define LAT_BUCKETS 200000 /* 1 us each, up to 200 ms; above: the last */
#define MAX_CONNECTING 256

enum { C_CONNECTING = 1, C_SENDING, C_READING, C_DONE, C_DEAD };

typedef struct conn {
    int fd;
    int state;
    uint32_t idx;
    size_t sent, got;
    uint64_t seq;
    double started; /* when the current message was sent */
    unsigned char *out, *in;
} conn;

static struct { uint64_t connect, read, write, eof, mismatch, stalled; } err;

static uint64_t lat[LAT_BUCKETS];
static size_t size;
static int epfd;
static int connecting_now;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void fill(conn *c) {
    c->seq++;
    for (size_t i = 0; i < size; i++) c->out[i] = (unsigned char)(i * 7 + c->idx + c->seq);
    if (size >= 16) {
        memcpy(c->out, &c->seq, 8);
        memcpy(c->out + 8, &c->idx, 4);
    }
    c->sent = c->got = 0;
}

static void set_events(conn *c, uint32_t ev) {
    struct epoll_event e = {.events = ev, .data.ptr = c};
    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &e);
}

static void kill_conn(conn *c) {
    if (c->state == C_CONNECTING) connecting_now--;
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
    c->state = C_DEAD;
}

static int start_connect(conn *c, struct sockaddr_in *addr) {
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        err.connect++;
        c->state = C_DEAD;
        return -1;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int r = connect(c->fd, (struct sockaddr *)addr, sizeof *addr);
    if (r != 0 && errno != EINPROGRESS) {
        err.connect++;
        close(c->fd);
        c->fd = -1;
        c->state = C_DEAD;
        return -1;
    }
    c->state = C_CONNECTING;
    connecting_now++;
    struct epoll_event e = {.events = EPOLLOUT, .data.ptr = c};
    epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &e);
    return 0;
}

/* Write what is left of the message; 0 when all of it is out. */
static int send_rest(conn *c) {
    while (c->sent < size) {
        ssize_t w = write(c->fd, c->out + c->sent, size - c->sent);
        if (w > 0) {
            c->sent += (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && errno == EAGAIN) {
            set_events(c, EPOLLOUT);
            c->state = C_SENDING;
            return 1;
        }
        err.write++;
        kill_conn(c);
        return -1;
    }
    if (c->state != C_READING) set_events(c, EPOLLIN);
    c->state = C_READING;
    return 0;
}

static void send_next(conn *c, double t) {
    fill(c);
    c->started = t;
    send_rest(c);
}

/* 1: a whole echo arrived and matched; 0: not yet; -1: the connection died. */
static int read_echo(conn *c) {
    for (;;) {
        ssize_t r = read(c->fd, c->in + c->got, size - c->got);
        if (r > 0) {
            c->got += (size_t)r;
            if (c->got < size) continue;
            if (memcmp(c->in, c->out, size) != 0) {
                err.mismatch++;
                kill_conn(c);
                return -1;
            }
            return 1;
        }
        if (r == 0) {
            err.eof++;
            kill_conn(c);
            return -1;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN) return 0;
        err.read++;
        kill_conn(c);
        return -1;
    }
}

static double percentile(uint64_t total, double q) {
    if (!total) return 0;
    uint64_t want = (uint64_t)(q * (double)total), seen = 0;
    for (int i = 0; i < LAT_BUCKETS; i++) {
        seen += lat[i];
        if (seen > want) return i + 0.5;
    }
    return LAT_BUCKETS;
}

static void raise_nofile(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static void print_errors(void) {
    printf("\"errors\": {\"connect\": %llu, \"read\": %llu, \"write\": %llu, \"eof\": %llu, "
           "\"mismatch\": %llu, \"stalled\": %llu}, \"error_total\": %llu",
           (unsigned long long)err.connect, (unsigned long long)err.read, (unsigned long long)err.write,
           (unsigned long long)err.eof, (unsigned long long)err.mismatch, (unsigned long long)err.stalled,
           (unsigned long long)(err.connect + err.read + err.write + err.eof + err.mismatch + err.stalled));
}

int main(int argc, char **argv) {
    int hold = argc == 5 && !strcmp(argv[1], "hold");
    if (!hold && !(argc == 7 && !strcmp(argv[1], "echo"))) {
        fprintf(stderr, "usage: echo_client echo PORT CONNS SIZE WARMUP_S DURATION_S\n"
                        "       echo_client hold PORT CONNS SIZE\n");
        return 2;
    }
    int port = atoi(argv[2]);
    int n = atoi(argv[3]);
    size = strtoull(argv[4], NULL, 10);
    double warmup = hold ? 0 : atof(argv[5]), duration = hold ? 0 : atof(argv[6]);
    if (n < 1 || size < 1) return 2;
    raise_nofile();
    epfd = epoll_create1(EPOLL_CLOEXEC);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);

    conn *conns = calloc((size_t)n, sizeof *conns);
    unsigned char *mem = malloc((size_t)n * size * 2);
    if (!conns || !mem) return 1;
    for (int i = 0; i < n; i++) {
        conns[i].idx = (uint32_t)i;
        conns[i].fd = -1;
        conns[i].out = mem + (size_t)i * size * 2;
        conns[i].in = conns[i].out + size;
    }

    /* Connect (at most MAX_CONNECTING in flight in hold mode; all at once for echo). */
    int next = 0, alive = 0, held = 0;
    int cap = hold ? MAX_CONNECTING : n;
    struct epoll_event evs[MAX_EVENTS];
    double t_connect = now_s();
    int pending = n; /* connections not yet connected or dead */
    while (pending > 0) {
        while (next < n && connecting_now < cap)
            if (start_connect(&conns[next++], &addr) != 0) pending--;
        if (now_s() - t_connect > 60) break;
        int k = epoll_wait(epfd, evs, MAX_EVENTS, 100);
        double t = now_s();
        for (int i = 0; i < k; i++) {
            conn *c = evs[i].data.ptr;
            if (c->state == C_CONNECTING) {
                int e = 0;
                socklen_t len = sizeof e;
                getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &e, &len);
                if (e || (evs[i].events & (EPOLLERR | EPOLLHUP))) {
                    err.connect++;
                    kill_conn(c);
                    pending--;
                    continue;
                }
                connecting_now--;
                alive++;
                pending--;
                c->state = C_SENDING;
                if (hold)
                    send_next(c, t);
                else
                    set_events(c, 0);
            } else if (hold && c->state != C_DEAD) {
                if (c->state == C_SENDING)
                    send_rest(c);
                else if (read_echo(c) == 1) {
                    held++;
                    c->state = C_DONE;
                    set_events(c, 0);
                }
            }
        }
    }
    for (int i = 0; i < n; i++)
        if (conns[i].state == C_CONNECTING) {
            err.connect++;
            kill_conn(&conns[i]);
        }

    if (hold) {
        double deadline = now_s() + 60;
        while (held + (int)(err.connect + err.read + err.write + err.eof + err.mismatch) < n &&
               now_s() < deadline) {
            int k = epoll_wait(epfd, evs, MAX_EVENTS, 100);
            for (int i = 0; i < k; i++) {
                conn *c = evs[i].data.ptr;
                if (c->state == C_SENDING)
                    send_rest(c);
                else if (c->state == C_READING && read_echo(c) == 1) {
                    held++;
                    c->state = C_DONE;
                    set_events(c, 0);
                }
            }
        }
        for (int i = 0; i < n; i++)
            if (conns[i].state == C_SENDING || conns[i].state == C_READING) err.stalled++;
        printf("{\"event\": \"held\", \"conns\": %d, \"held\": %d, \"connect_s\": %.3f, ", n, held,
               now_s() - t_connect);
        print_errors();
        printf("}\n");
        fflush(stdout);
        char buf[64];
        while (read(0, buf, sizeof buf) > 0) {
        }
        return 0;
    }

    /* echo: every live connection sends its first message now. */
    double t0 = now_s();
    for (int i = 0; i < n; i++)
        if (conns[i].state == C_SENDING) send_next(&conns[i], t0);
    double t_start = t0 + warmup, t_end = t_start + duration;
    int measuring = 0;
    uint64_t done = 0, total = 0, lat_n = 0;
    for (;;) {
        double t = now_s();
        if (!measuring && t >= t_start) {
            measuring = 1;
            printf("{\"event\": \"measure-start\"}\n");
            fflush(stdout);
            t_start = t;
            t_end = t + duration;
        }
        if (measuring && t >= t_end) break;
        int k = epoll_wait(epfd, evs, MAX_EVENTS, 10);
        t = now_s();
        for (int i = 0; i < k; i++) {
            conn *c = evs[i].data.ptr;
            if (c->state == C_SENDING) {
                send_rest(c);
            } else if (c->state == C_READING) {
                if (read_echo(c) != 1) continue;
                total++;
                if (measuring && t < t_end) {
                    done++;
                    double us = (t - c->started) * 1e6;
                    lat[us < LAT_BUCKETS - 1 ? (int)us : LAT_BUCKETS - 1]++;
                    lat_n++;
                }
                send_next(c, t);
            }
        }
    }
    double t_stop = now_s();
    printf("{\"event\": \"measure-end\"}\n");
    fflush(stdout);
    for (int i = 0; i < n; i++)
        if ((conns[i].state == C_SENDING || conns[i].state == C_READING) && t_stop - conns[i].started > 1.0)
            err.stalled++;
    alive = 0;
    for (int i = 0; i < n; i++) alive += conns[i].state != C_DEAD;
    double window = t_stop - t_start;
    printf("{\"event\": \"result\", \"conns\": %d, \"alive\": %d, \"size\": %zu, \"window_s\": %.4f, "
           "\"messages\": %llu, \"messages_total\": %llu, \"msgs_per_s\": %.1f, \"p50_us\": %.1f, "
           "\"p99_us\": %.1f, ",
           n, alive, size, window, (unsigned long long)done, (unsigned long long)total, done / window,
           percentile(lat_n, 0.50), percentile(lat_n, 0.99));
    print_errors();
    printf("}\n");
    fflush(stdout);
    for (int i = 0; i < n; i++)
        if (conns[i].fd >= 0) close(conns[i].fd);
    return 0;
}
