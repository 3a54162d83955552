/*
 * conn.c - connections: reading into input_buf, writing from output_buf,
 * the one close path, and the calls the owner makes on a connection.
 *
 * The owner's calls only record what is wanted and put the connection on the
 * loop's dirty list; the loop's flush (end of each turn, and before it
 * waits) writes, shuts down and closes. A connection is freed after its
 * SL_EV_CLOSED has been handed over, so the owner's pointer stays valid until
 * it has seen the close.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core.h"
#include "frame.h"

#define TAG_OF(c) (((uint64_t)TAG_CONN << 32) | (c)->id)

static int take_id(sl_loop *l, uint32_t *id) {
    if (l->n_free_ids) {
        *id = l->free_ids[--l->n_free_ids];
        return 0;
    }
    if (l->next_id == l->conns_cap) {
        uint32_t cap = l->conns_cap ? l->conns_cap * 2 : 1024;
        sl_conn **conns = realloc(l->conns, cap * sizeof *conns);
        if (!conns) return -1;
        l->conns = conns;
        uint32_t *ids = realloc(l->free_ids, cap * sizeof *ids);
        if (!ids) return -1;
        l->free_ids = ids;
        l->conns_cap = cap;
    }
    *id = l->next_id++;
    return 0;
}

static uint32_t wanted_events(const sl_conn *c) {
    uint32_t ev = 0;
    if (!(c->flags & (CF_READ_PAUSED | CF_EOF | CF_WANT_CLOSE | CF_CONNECTING))) ev |= EPOLLIN | EPOLLRDHUP;
    if (c->out.pending || (c->flags & CF_CONNECTING)) ev |= EPOLLOUT;
    if (ev && (c->flags & CF_EDGE)) ev |= EPOLLET;
    return ev;
}

/* Keep epoll's interest in step with what the connection needs. A connection
 * that wants nothing stays registered with EPOLLET alone, so EPOLLHUP, which
 * epoll reports unasked, comes once instead of at every turn. */
static void update_events(sl_conn *c) {
    if (c->state != CONN_OPEN) return;
    uint32_t want = wanted_events(c);
    loop_epoll_set(c->loop, c->fd, TAG_OF(c), &c->ep_events, want ? want : EPOLLET);
}

sl_conn *conn_new(sl_loop *l, int fd, const sl_conn_config *cfg, int connecting) {
    sl_conn_config dflt = {0};
    if (!cfg) cfg = &dflt;
    uint32_t id;
    sl_conn *c = calloc(1, sizeof *c);
    if (!c || take_id(l, &id) != 0) {
        free(c);
        close(fd);
        return NULL;
    }
    c->loop = l;
    c->fd = fd;
    c->id = id;
    c->state = CONN_OPEN;
    c->flags = (cfg->edge_triggered ? CF_EDGE : 0u) | (connecting ? CF_CONNECTING : 0u);
    c->high_water = (uint32_t)(cfg->high_water ? cfg->high_water : SL_DEFAULT_HIGH_WATER);
    c->low_water = (uint32_t)(cfg->low_water ? cfg->low_water : SL_DEFAULT_LOW_WATER);
    if (c->low_water > c->high_water) c->low_water = c->high_water;
    c->last_active_ms = l->now_ms;
    if (cfg->protocol == SL_PROTO_HTTP1 && http_conn_init(c) != 0) {
        l->free_ids[l->n_free_ids++] = id;
        close(fd);
        free(c);
        return NULL;
    }
    size_t max_input = cfg->max_input ? cfg->max_input : SL_DEFAULT_MAX_INPUT;
    if (cfg->protocol == SL_PROTO_FRAMES) { /* the input holds the largest frame whole */
        c->frame_max = cfg->max_frame ? SL_MIN(cfg->max_frame, SL_FRAME_MAX_PAYLOAD_LIMIT)
                                      : SL_FRAME_DEFAULT_MAX_PAYLOAD;
        max_input = SL_MAX(max_input, (size_t)c->frame_max + SL_FRAME_HEADER);
    }
    input_buf_init(&c->in, l->pool, max_input);
    output_buf_init(&c->out, l->pool);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* not TCP: harmless */
    if (loop_epoll_set(l, fd, TAG_OF(c), &c->ep_events, wanted_events(c)) != 0) {
        l->conns[id] = NULL; /* a fresh slot holds realloc's garbage; sl_loop_free reads it */
        l->free_ids[l->n_free_ids++] = id;
        close(fd);
        http_conn_free(c);
        free(c);
        return NULL;
    }
    l->conns[id] = c;
    l->stats.conns_open++;
    return c;
}

void conn_mark_dirty(sl_conn *c) {
    if (c->flags & CF_DIRTY) return;
    c->flags |= CF_DIRTY;
    c->next_dirty = c->loop->dirty;
    c->loop->dirty = c;
}

/* Decide a close; the flush carries it out. The first reason wins. */
void conn_decide_close(sl_conn *c, int reason, int err) {
    if (!c->close_reason) {
        c->close_reason = (uint16_t)reason;
        c->close_err = err;
    }
    conn_mark_dirty(c);
}

static void conn_do_close(sl_conn *c) {
    sl_loop *l = c->loop;
    /* The explicit DEL matters: a forked child may hold a copy of the fd,
     * and epoll forgets an fd only when every copy is closed. */
    epoll_ctl(l->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
    input_buf_release(&c->in);
    output_buf_release(&c->out);
    c->state = CONN_CLOSED;
    int reason = http_close_reason(c, c->close_reason ? c->close_reason : SL_CLOSE_LOCAL);
    if (reason < SL_CLOSE_NREASONS) l->stats.closed[reason]++;
    l->stats.conns_open--;
    loop_push_event(l, c, SL_EV_CLOSED, c->id, (uint32_t)reason, c->close_err);
}

void conn_close_now(sl_conn *c) {
    if (c->state != CONN_OPEN) return;
    epoll_ctl(c->loop->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    input_buf_release(&c->in);
    output_buf_release(&c->out);
    c->state = CONN_CLOSED;
}

void conn_free(sl_conn *c) {
    sl_loop *l = c->loop;
    l->conns[c->id] = NULL;
    l->free_ids[l->n_free_ids++] = c->id;
    http_conn_free(c);
    free(c);
}

static void conn_write_out(sl_conn *c) {
    sl_loop *l = c->loop;
    ssize_t r = output_buf_write2fd(&c->out, c->fd);
    if (r < 0) {
        int err = (int)-r;
        output_buf_release(&c->out);
        c->close_reason = (uint16_t)(err == EPIPE || err == ECONNRESET ? SL_CLOSE_RESET : SL_CLOSE_ERROR);
        c->close_err = err;
        return;
    }
    if (r > 0) {
        c->last_write_ms = l->now_ms;
        l->stats.writes++;
        l->stats.bytes_out += (uint64_t)r;
    }
    if ((c->flags & CF_WRITE_PAUSED) && c->out.pending <= c->low_water) {
        c->flags &= ~(uint32_t)CF_WRITE_PAUSED;
        loop_push_event(l, c, SL_EV_RESUME, c->id, 0, 0);
    }
}

void conn_flush(sl_conn *c) {
    if (c->state != CONN_OPEN) return;
    if (c->close_reason && !(c->flags & CF_WANT_CLOSE)) { /* abort, error, idle... */
        conn_do_close(c);
        return;
    }
    if (c->out.pending && !(c->flags & CF_CONNECTING)) conn_write_out(c);
    if (c->close_reason && !(c->flags & CF_WANT_CLOSE)) {
        conn_do_close(c);
        return;
    }
    if (!c->out.pending) {
        if ((c->flags & CF_WANT_SHUT_WR) && !(c->flags & CF_SHUT_WR)) {
            shutdown(c->fd, SHUT_WR);
            c->flags |= CF_SHUT_WR;
        }
        if (c->flags & CF_WANT_CLOSE) {
            conn_do_close(c);
            return;
        }
    }
    update_events(c);
}

/* One SL_EV_DATA per connection per turn, covering all it holds: a second
 * read may have moved the bytes to a bigger block. */
void conn_data_event(sl_conn *c) {
    sl_loop *l = c->loop;
    if (!c->data_ev && loop_push_event(l, c, SL_EV_DATA, c->id, 0, 0) == 0) c->data_ev = (uint32_t)l->nev;
    if (c->data_ev) {
        sl_event *e = &l->ev[c->data_ev - 1];
        e->data = input_buf_data(&c->in);
        e->len = input_buf_length(&c->in);
    }
}

void conn_read_again(sl_conn *c) {
    if (c->flags & CF_AGAIN) return;
    c->flags |= CF_AGAIN;
    c->next_again = c->loop->again;
    c->loop->again = c;
}

static void conn_read(sl_conn *c, uint32_t revents) {
    sl_loop *l = c->loop;
    size_t before = input_buf_length(&c->in);
    int err = 0;
    int r = input_buf_read_data(&c->in, c->fd, &err);
    size_t got = input_buf_length(&c->in) - before;
    l->stats.reads++;
    if (got) {
        l->stats.bytes_in += got;
        c->last_active_ms = l->now_ms;
        conn_data_event(c);
    } else if ((r & IB_FULL) && !c->data_ev && !(c->flags & CF_FRAME_AGAIN)) {
        /* Full, and what it holds was handed over and kept: nothing can ever
         * make room (a framer found no end in max_input bytes). With
         * CF_FRAME_AGAIN the framer has yet to take it (read_again). */
        conn_decide_close(c, SL_CLOSE_INPUT_LIMIT, 0);
        return;
    }
    if (r & IB_ERROR) {
        conn_decide_close(c, err == ECONNRESET ? SL_CLOSE_RESET : SL_CLOSE_ERROR, err);
    } else if (r & IB_NOMEM) {
        conn_decide_close(c, SL_CLOSE_POOL, ENOBUFS);
    } else if (r & IB_EOF) {
        c->flags |= CF_EOF;
        loop_push_event(l, c, SL_EV_EOF, c->id, 0, 0);
        conn_mark_dirty(c); /* stop watching EPOLLIN */
    } else if (c->flags & CF_EDGE) {
        /* No new edge will come for what is still queued: read it next turn. */
        if ((r & IB_FULL) || (revents & (EPOLLRDHUP | EPOLLHUP))) conn_read_again(c);
    }
}

/* A close decided by an abort, an error... is carried out by the flush; a
 * graceful close (CF_WANT_CLOSE) still has its output to write first. */
static int closing_now(const sl_conn *c) { return c->close_reason && !(c->flags & CF_WANT_CLOSE); }

void conn_handle_io(sl_conn *c, uint32_t revents) {
    if (c->state != CONN_OPEN || closing_now(c)) return;
    if (c->flags & CF_CONNECTING) {
        if (!(revents & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
        c->flags &= ~(uint32_t)CF_CONNECTING;
        loop_push_event(c->loop, c, SL_EV_CONNECTED, c->id, 0, err);
        if (err)
            conn_decide_close(c, SL_CLOSE_ERROR, err);
        else
            conn_mark_dirty(c); /* watch EPOLLIN now, write what waits */
        return;
    }
    if ((revents & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) &&
        !(c->flags & (CF_READ_PAUSED | CF_EOF | CF_WANT_CLOSE)))
        conn_read(c, revents);
    else if ((revents & EPOLLERR) && !c->out.pending) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        conn_decide_close(c, err == ECONNRESET ? SL_CLOSE_RESET : SL_CLOSE_ERROR, err);
    }
    if ((revents & EPOLLOUT) && c->out.pending && !closing_now(c)) {
        conn_write_out(c);
        if (c->close_reason || (c->flags & CF_WANT_CLOSE) || !c->out.pending) conn_mark_dirty(c);
    }
}

/* ---- the owner's calls -------------------------------------------------- */

sl_conn *sl_conn_adopt(sl_loop *l, int fd, int connecting, const sl_conn_config *cfg) {
    SL_CHECK_OWNER(l, NULL);
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0) {
        close(fd);
        return NULL;
    }
    return conn_new(l, fd, cfg, connecting);
}

uint32_t sl_conn_id(sl_conn *c) { return c->id; }
int sl_conn_fd(sl_conn *c) { return c->fd; }
size_t sl_conn_pending(sl_conn *c) { return c->out.pending; }
uint64_t sl_conn_last_active_ms(sl_conn *c) { return c->last_active_ms; }

int sl_conn_set_water(sl_conn *c, size_t high, size_t low) {
    SL_CHECK_OWNER(c->loop, -EPERM);
    if (!high) high = SL_DEFAULT_HIGH_WATER;
    if (low > high || high > UINT32_MAX) return -EINVAL;
    c->high_water = (uint32_t)high;
    c->low_water = (uint32_t)low;
    if (c->out.pending > c->high_water) c->flags |= CF_WRITE_PAUSED; /* a resume will follow */
    return 0;
}

static int writable(const sl_conn *c) {
    return c->state == CONN_OPEN && !c->close_reason && !(c->flags & (CF_WANT_CLOSE | CF_WANT_SHUT_WR));
}

static ssize_t after_append(sl_conn *c) {
    if (c->out.pending > c->high_water) c->flags |= CF_WRITE_PAUSED;
    conn_mark_dirty(c);
    return (ssize_t)c->out.pending;
}

ssize_t sl_conn_write(sl_conn *c, const char *data, size_t n) {
    SL_CHECK_OWNER(c->loop, -EPERM);
    if (!writable(c)) return -EPIPE;
    if (output_buf_send_data(&c->out, data, n) != 0) return -ENOBUFS;
    return after_append(c);
}

ssize_t sl_conn_write_file(sl_conn *c, int file_fd, uint64_t offset, size_t len) {
    SL_CHECK_OWNER(c->loop, -EPERM);
    if (!writable(c)) return -EPIPE;
    int fd = fcntl(file_fd, F_DUPFD_CLOEXEC, 0);
    if (fd < 0) return -errno;
    if (output_buf_send_file(&c->out, fd, offset, len) != 0) {
        close(fd);
        return -ENOMEM;
    }
    return after_append(c);
}

int sl_conn_write_eof(sl_conn *c) {
    SL_CHECK_OWNER(c->loop, -EPERM);
    if (c->state != CONN_OPEN) return -EPIPE;
    c->flags |= CF_WANT_SHUT_WR;
    conn_mark_dirty(c);
    return 0;
}

int sl_conn_close(sl_conn *c, int reason, int graceful) {
    SL_CHECK_OWNER(c->loop, -EPERM);
    if (c->state != CONN_OPEN) return -EBADF;
    if (reason <= 0 || reason >= SL_CLOSE_NREASONS) reason = graceful ? SL_CLOSE_LOCAL : SL_CLOSE_ABORT;
    if (graceful) {
        if (!c->close_reason) c->close_reason = (uint16_t)reason;
        c->flags |= CF_WANT_CLOSE;
        conn_mark_dirty(c);
    } else {
        c->flags &= ~(uint32_t)CF_WANT_CLOSE;
        c->close_reason = (uint16_t)reason; /* an abort overrides a pending close */
        c->close_err = 0;
        output_buf_release(&c->out);
        conn_mark_dirty(c);
    }
    return 0;
}

int sl_conn_pause_reading(sl_conn *c) {
    SL_CHECK_OWNER(c->loop, -EPERM);
    if (c->state != CONN_OPEN) return -EBADF;
    c->flags |= CF_READ_PAUSED;
    conn_mark_dirty(c);
    return 0;
}

int sl_conn_resume_reading(sl_conn *c) {
    SL_CHECK_OWNER(c->loop, -EPERM);
    if (c->state != CONN_OPEN) return -EBADF;
    c->flags &= ~(uint32_t)CF_READ_PAUSED;
    if (c->flags & CF_FRAME_AGAIN) conn_read_again(c);
    conn_mark_dirty(c);
    return 0;
}

int sl_conn_set_nodelay(sl_conn *c, int on) {
    if (c->state != CONN_OPEN) return -EBADF;
    return setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) == 0 ? 0 : -errno;
}

int sl_conn_peername(sl_conn *c, char *out, size_t cap) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (!cap) return -EINVAL;
    out[0] = 0;
    if (c->state != CONN_OPEN) return -EBADF;
    if (getpeername(c->fd, (struct sockaddr *)&ss, &len) != 0) return -errno;
    if (ss.ss_family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        return inet_ntop(AF_INET, &a->sin_addr, out, (socklen_t)cap) ? ntohs(a->sin_port) : -ENOSPC;
    }
    if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        return inet_ntop(AF_INET6, &a->sin6_addr, out, (socklen_t)cap) ? ntohs(a->sin6_port) : -ENOSPC;
    }
    return 0;
}
