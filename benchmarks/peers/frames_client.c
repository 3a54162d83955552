/*
 * frames_client.c - the load generator of benchmarks/compare's frame
 * scenarios (docs/protocol.md's frames), the same for every server. Built by
 * compare with cc -O2 into benchmarks/build/frames_client.
 *
 *   frames_client echo PORT CONNS FRAME_SIZE DEPTH WARMUP_S DURATION_S
 *   frames_client hold PORT CONNS FRAME_SIZE PING_INTERVAL_S SOURCES
 *
 * A frame is FRAME_SIZE bytes on the wire: the 12-byte header ("SL",
 * version 1, type 0x10, flags = the connection's index, reserved 0, length
 * FRAME_SIZE - 12, big-endian) and its payload (a sequence number, the
 * connection's index, then a pattern).
 *
 * echo: open CONNS connections to 127.0.0.1:PORT; each writes DEPTH frames
 * at once, waits for the DEPTH echoes (the same bytes: same type, flags and
 * payload), checks every byte, and writes the next DEPTH, for WARMUP_S +
 * DURATION_S seconds. Prints {"event": "measure-start"} when the warm-up
 * ends and {"event": "measure-end"} when the window closes (the caller
 * samples the server's CPU time at both lines), then one JSON object:
 * frames echoed in the window, frames/s, latency p50/p99 (each frame's: from
 * the write of its batch to the batch's last echoed byte), every error
 * (connect, read, write, early EOF, mismatched bytes, connections stalled at
 * the end).
 *
 * hold: open CONNS connections (at most 256 connecting at once), from the
 * source addresses 127.0.0.1 .. 127.0.0.SOURCES in turn (past ~28,000
 * connections one source runs out of ports); each sends one frame and waits
 * for its echo. Prints {"event": "held", ...}. Then, when PING_INTERVAL_S >
 * 0, each connection sends a PING (8-byte payload) every PING_INTERVAL_S,
 * the connections' PINGs spread evenly over the interval, and counts the
 * PONGs. Standard input: a line "stop" stops the PINGs (prints {"event":
 * "stopped", ...}); EOF prints {"event": "done", ...} with the PINGs sent,
 * PONGs received, connections the server closed, and errors, and exits.
 *
 * Linux only.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define MAX_EVENTS 512
#define LAT_BUCKETS 200000 /* 1 us each, up to 200 ms; above: the last */
#define MAX_CONNECTING 256
#define HEADER 12
#define APP_TYPE 0x10
#define PING 0x01
#define PONG 0x02
#define PING_PAYLOAD 8
#define TAIL 64 /* hold mode: bytes kept of a partial frame */

enum { C_CONNECTING = 1, C_SENDING, C_READING, C_DONE, C_DEAD };

typedef struct conn {
    int fd;
    int state;
    uint32_t idx;
    size_t sent, got;
    uint64_t seq;
    double started; /* when the current batch was written */
    unsigned char *out, *in;
    unsigned char tail[TAIL]; /* hold mode: what arrived of a frame after the first echo */
    uint32_t tail_len;
} conn;

static struct { uint64_t connect, read, write, eof, mismatch, stalled; } err;

static uint64_t lat[LAT_BUCKETS];
static size_t size, depth = 1, batch;
static int epfd;
static int connecting_now;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void put_be32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static uint32_t get_be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void header(unsigned char *p, unsigned type, uint16_t flags, uint32_t length) {
    p[0] = 'S';
    p[1] = 'L';
    p[2] = 1;
    p[3] = (unsigned char)type;
    p[4] = (unsigned char)(flags >> 8);
    p[5] = (unsigned char)flags;
    p[6] = p[7] = 0;
    put_be32(p + 8, length);
}

/* The next batch: depth frames of size bytes. */
static void fill(conn *c) {
    for (size_t f = 0; f < depth; f++) {
        unsigned char *p = c->out + f * size;
        c->seq++;
        header(p, APP_TYPE, (uint16_t)c->idx, (uint32_t)(size - HEADER));
        for (size_t i = HEADER; i < size; i++) p[i] = (unsigned char)(i * 7 + c->idx + c->seq);
        if (size >= HEADER + 12) {
            memcpy(p + HEADER, &c->seq, 8);
            memcpy(p + HEADER + 8, &c->idx, 4);
        }
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

static int start_connect(conn *c, struct sockaddr_in *addr, int sources) {
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        err.connect++;
        c->state = C_DEAD;
        return -1;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (sources > 1) {
        struct sockaddr_in src = {.sin_family = AF_INET};
        src.sin_addr.s_addr = htonl(0x7f000001u + c->idx % (uint32_t)sources);
        setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        if (bind(c->fd, (struct sockaddr *)&src, sizeof src) != 0) {
            err.connect++;
            close(c->fd);
            c->fd = -1;
            c->state = C_DEAD;
            return -1;
        }
    }
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

/* Write what is left of the batch; 0 when all of it is out. */
static int send_rest(conn *c) {
    while (c->sent < batch) {
        ssize_t w = write(c->fd, c->out + c->sent, batch - c->sent);
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

/* 1: the whole batch came back and matched; 0: not yet; -1: the connection died. */
static int read_echo(conn *c) {
    for (;;) {
        ssize_t r = read(c->fd, c->in + c->got, batch - c->got);
        if (r > 0) {
            c->got += (size_t)r;
            if (c->got < batch) continue;
            if (memcmp(c->in, c->out, batch) != 0) {
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

static uint64_t error_total(void) {
    return err.connect + err.read + err.write + err.eof + err.mismatch + err.stalled;
}

static void print_errors(void) {
    printf("\"errors\": {\"connect\": %llu, \"read\": %llu, \"write\": %llu, \"eof\": %llu, "
           "\"mismatch\": %llu, \"stalled\": %llu}, \"error_total\": %llu",
           (unsigned long long)err.connect, (unsigned long long)err.read, (unsigned long long)err.write,
           (unsigned long long)err.eof, (unsigned long long)err.mismatch, (unsigned long long)err.stalled,
           (unsigned long long)error_total());
}

/* ---- hold mode after the first echo: PINGs out, PONGs in ------------------- */

static uint64_t pings, pongs, others, closed_by_server, ping_blocked;

static void read_held(conn *c) {
    for (;;) {
        ssize_t r = read(c->fd, c->tail + c->tail_len, TAIL - c->tail_len);
        if (r > 0) {
            c->tail_len += (uint32_t)r;
            while (c->tail_len >= HEADER) {
                uint32_t len = get_be32(c->tail + 8);
                if (len > TAIL - HEADER || c->tail[0] != 'S' || c->tail[1] != 'L') {
                    err.mismatch++;
                    kill_conn(c);
                    return;
                }
                if (c->tail_len < HEADER + len) break;
                if (c->tail[3] == PONG)
                    pongs++;
                else
                    others++;
                memmove(c->tail, c->tail + HEADER + len, c->tail_len - HEADER - len);
                c->tail_len -= HEADER + len;
            }
            continue;
        }
        if (r == 0) {
            closed_by_server++;
            kill_conn(c);
            return;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN) return;
        if (errno == ECONNRESET) {
            closed_by_server++;
        } else {
            err.read++;
        }
        kill_conn(c);
        return;
    }
}

static void send_ping(conn *c) {
    unsigned char p[HEADER + PING_PAYLOAD];
    header(p, PING, 0, PING_PAYLOAD);
    memcpy(p + HEADER, &pings, PING_PAYLOAD);
    ssize_t w = write(c->fd, p, sizeof p);
    if (w == (ssize_t)sizeof p) {
        pings++;
    } else if (w < 0 && errno == EAGAIN) {
        ping_blocked++;
    } else if (w < 0 && (errno == EPIPE || errno == ECONNRESET)) {
        closed_by_server++;
        kill_conn(c);
    } else {
        err.write++; /* a partial 20-byte write: the stream is out of step */
        kill_conn(c);
    }
}

static void print_hold_counts(const char *event, int n, int alive) {
    printf("{\"event\": \"%s\", \"conns\": %d, \"alive\": %d, \"pings\": %llu, \"pongs\": %llu, "
           "\"other_frames\": %llu, "
           "\"closed_by_server\": %llu, \"pings_blocked\": %llu, ",
           event, n, alive, (unsigned long long)pings, (unsigned long long)pongs, (unsigned long long)others,
           (unsigned long long)closed_by_server, (unsigned long long)ping_blocked);
    print_errors();
    printf("}\n");
    fflush(stdout);
}

static void hold_loop(conn *conns, int n, double interval) {
    struct epoll_event evs[MAX_EVENTS];
    static conn stdin_marker;
    struct epoll_event e = {.events = EPOLLIN, .data.ptr = &stdin_marker};
    epoll_ctl(epfd, EPOLL_CTL_ADD, 0, &e);
    for (int i = 0; i < n; i++)
        if (conns[i].state == C_DONE) set_events(&conns[i], EPOLLIN);
    int pinging = interval > 0;
    double t0 = now_s(), step = interval / n;
    uint64_t j = 0; /* the j-th PING is due at t0 + j * step, from connection j % n */
    char line[256];
    size_t line_len = 0;
    for (;;) {
        int timeout = 1000;
        if (pinging) {
            double due = t0 + (double)j * step - now_s();
            timeout = due <= 0 ? 0 : (int)(due * 1000) + 1;
        }
        int k = epoll_wait(epfd, evs, MAX_EVENTS, timeout);
        for (int i = 0; i < k; i++) {
            conn *c = evs[i].data.ptr;
            if (c == &stdin_marker) {
                ssize_t r = read(0, line + line_len, sizeof line - 1 - line_len);
                if (r <= 0) {
                    int alive = 0;
                    for (int q = 0; q < n; q++) alive += conns[q].state != C_DEAD;
                    print_hold_counts("done", n, alive);
                    return;
                }
                line_len += (size_t)r;
                line[line_len] = 0;
                if (strchr(line, '\n')) {
                    if (!strncmp(line, "stop", 4)) {
                        pinging = 0;
                        int alive = 0;
                        for (int q = 0; q < n; q++) alive += conns[q].state != C_DEAD;
                        print_hold_counts("stopped", n, alive);
                    }
                    line_len = 0;
                }
            } else if (c->state != C_DEAD) {
                read_held(c);
            }
        }
        if (pinging) {
            double t = now_s();
            while (t0 + (double)j * step <= t) {
                conn *c = &conns[j % (uint64_t)n];
                if (c->state != C_DEAD) send_ping(c);
                j++;
            }
        }
    }
}

int main(int argc, char **argv) {
    int hold = argc == 7 && !strcmp(argv[1], "hold");
    if (!hold && !(argc == 8 && !strcmp(argv[1], "echo"))) {
        fprintf(stderr, "usage: frames_client echo PORT CONNS FRAME_SIZE DEPTH WARMUP_S DURATION_S\n"
                        "       frames_client hold PORT CONNS FRAME_SIZE PING_INTERVAL_S SOURCES\n");
        return 2;
    }
    int port = atoi(argv[2]);
    int n = atoi(argv[3]);
    size = strtoull(argv[4], NULL, 10);
    double warmup = 0, duration = 0, interval = 0;
    int sources = 1;
    if (hold) {
        interval = atof(argv[5]);
        sources = atoi(argv[6]);
    } else {
        depth = strtoull(argv[5], NULL, 10);
        warmup = atof(argv[6]);
        duration = atof(argv[7]);
    }
    if (n < 1 || size < HEADER || depth < 1 || sources < 1 || sources > 250) return 2;
    batch = size * depth;
    signal(SIGPIPE, SIG_IGN);
    raise_nofile();
    epfd = epoll_create1(EPOLL_CLOEXEC);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);

    conn *conns = calloc((size_t)n, sizeof *conns);
    unsigned char *mem = malloc((size_t)n * batch * 2);
    if (!conns || !mem) return 1;
    for (int i = 0; i < n; i++) {
        conns[i].idx = (uint32_t)i;
        conns[i].fd = -1;
        conns[i].out = mem + (size_t)i * batch * 2;
        conns[i].in = conns[i].out + batch;
    }

    /* Connect (at most MAX_CONNECTING in flight in hold mode; all at once for echo). */
    int next = 0, held = 0;
    int cap = hold ? MAX_CONNECTING : n;
    struct epoll_event evs[MAX_EVENTS];
    double t_connect = now_s();
    int pending = n; /* connections not yet connected or dead */
    while (pending > 0) {
        while (next < n && connecting_now < cap)
            if (start_connect(&conns[next++], &addr, sources) != 0) pending--;
        if (now_s() - t_connect > 180) break;
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
                pending--;
                c->state = C_SENDING;
                if (hold)
                    send_next(c, t);
                else
                    set_events(c, 0);
            } else if (hold && c->state != C_DEAD) {
                if (c->state == C_SENDING)
                    send_rest(c);
                else if (c->state == C_READING && read_echo(c) == 1) {
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
        hold_loop(conns, n, interval);
        return 0;
    }

    /* echo: every live connection writes its first batch now. */
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
                total += depth;
                if (measuring && t < t_end) {
                    done += depth;
                    double us = (t - c->started) * 1e6;
                    lat[us < LAT_BUCKETS - 1 ? (int)us : LAT_BUCKETS - 1] += depth;
                    lat_n += depth;
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
    int alive = 0;
    for (int i = 0; i < n; i++) alive += conns[i].state != C_DEAD;
    double window = t_stop - t_start;
    printf("{\"event\": \"result\", \"conns\": %d, \"alive\": %d, \"size\": %zu, \"depth\": %zu, "
           "\"window_s\": %.4f, "
           "\"messages\": %llu, \"messages_total\": %llu, \"msgs_per_s\": %.1f, \"p50_us\": %.1f, "
           "\"p99_us\": %.1f, ",
           n, alive, size, depth, window, (unsigned long long)done, (unsigned long long)total, done / window,
           percentile(lat_n, 0.50), percentile(lat_n, 0.99));
    print_errors();
    printf("}\n");
    fflush(stdout);
    for (int i = 0; i < n; i++)
        if (conns[i].fd >= 0) close(conns[i].fd);
    return 0;
}
