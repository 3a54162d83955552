/*
 * event_loop.c - the epoll loop: turns, listeners, watched fds, wake-ups.
 *
 * A turn (sl_loop_run_once): flush what the owner wrote since the last turn;
 * wait in epoll_wait up to the deadline the owner gives; accept, read and
 * write for every ready descriptor; hand the whole batch of events to
 * on_events once; consume the data that was handed over and free the
 * connections whose close was reported; flush again. Closes decided during a
 * turn happen in the flush, so every pointer in a batch stays valid until
 * on_events returns; their SL_EV_CLOSED arrives in the next turn's batch.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core.h"

#define TAG(t, id) (((uint64_t)(t) << 32) | (uint32_t)(id))

uint64_t sl_monotonic_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void loop_log(sl_loop *l, int level, const char *fmt, ...) {
    if (!l->cb.log) return;
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    l->cb.log(l->ud, level, msg);
}

int loop_epoll_set(sl_loop *l, int fd, uint64_t tag_id, uint32_t *current, uint32_t want) {
    if (*current == want) return 0;
    struct epoll_event ev = {.events = want, .data.u64 = tag_id};
    int op = *current ? (want ? EPOLL_CTL_MOD : EPOLL_CTL_DEL) : EPOLL_CTL_ADD;
    if (!*current && !want) return 0;
    if (epoll_ctl(l->epfd, op, fd, &ev) != 0) return -errno;
    *current = want;
    return 0;
}

int loop_push_event(sl_loop *l, sl_conn *c, uint32_t kind, uint32_t id, uint32_t arg, int32_t err) {
    if (l->nev == l->ev_cap) {
        size_t cap = l->ev_cap ? l->ev_cap * 2 : 256;
        sl_event *ev = realloc(l->ev, cap * sizeof *ev);
        if (!ev) return -1;
        l->ev = ev;
        l->ev_cap = cap;
    }
    l->ev[l->nev++] = (sl_event){.conn = c, .kind = kind, .id = id, .arg = arg, .err = err};
    return 0;
}

sl_loop *sl_loop_new(const sl_callbacks *cb, void *ud) {
    sl_loop *l = calloc(1, sizeof *l);
    if (!l) return NULL;
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    l->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    l->pool = buf_pool_instance();
    if (l->epfd < 0 || l->wakefd < 0 || !l->pool) goto fail;
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = TAG(TAG_WAKE, 0)};
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->wakefd, &ev) != 0) goto fail;
    if (cb) l->cb = *cb;
    l->ud = ud;
    l->owner = pthread_self();
    l->accept_pause_ms = 100;
    l->now_ms = sl_monotonic_ms();
    return l;
fail:
    if (l->epfd >= 0) close(l->epfd);
    if (l->wakefd >= 0) close(l->wakefd);
    free(l);
    return NULL;
}

void sl_loop_free(sl_loop *l) {
    if (!l) return;
    for (uint32_t i = 0; i < l->next_id; i++)
        if (l->conns[i]) {
            conn_close_now(l->conns[i]);
            conn_free(l->conns[i]);
        }
    for (int i = 0; i < l->n_listeners; i++) sl_listener_close(l, i);
    close(l->epfd);
    close(l->wakefd);
    free(l->conns);
    free(l->free_ids);
    free(l->listeners);
    free(l->ev);
    free(l->copy);
    free(l->frec);
    http_loop_free(l);
    free(l);
}

void sl_loop_wake(sl_loop *l) {
    uint64_t one = 1;
    ssize_t r = write(l->wakefd, &one, sizeof one); /* EAGAIN: already awake */
    SL_UNUSED(r);
}

uint64_t sl_loop_now_ms(sl_loop *l) { return l->now_ms; }
void sl_loop_set_copy_data(sl_loop *l, size_t max_each) { l->copy_max_each = max_each; }
sl_conn *sl_loop_conn(sl_loop *l, uint32_t id) { return id < l->next_id ? l->conns[id] : NULL; }
void sl_loop_get_stats(sl_loop *l, sl_loop_stats *out) { *out = l->stats; }
void sl_loop_set_accept_pause(sl_loop *l, int ms) { l->accept_pause_ms = ms > 0 ? ms : 100; }

/* ---- listeners ------------------------------------------------------------ */

int sl_listener_add(sl_loop *l, int fd, const sl_conn_config *cfg) {
    SL_CHECK_OWNER(l, -EPERM);
    int id = 0;
    while (id < l->n_listeners && l->listeners[id].fd >= 0) id++;
    if (id == l->n_listeners) {
        sl_listener *ls = realloc(l->listeners, (size_t)(id + 1) * sizeof *ls);
        if (!ls) return -ENOMEM;
        l->listeners = ls;
        l->n_listeners++;
    }
    sl_listener *ls = &l->listeners[id];
    memset(ls, 0, sizeof *ls);
    if (cfg) ls->cfg = *cfg;
    struct epoll_event ev = {.events = EPOLLIN | (ls->cfg.edge_triggered ? EPOLLET : 0u),
                             .data.u64 = TAG(TAG_LISTENER, id)};
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        ls->fd = -1;
        return -errno;
    }
    ls->fd = fd;
    return id;
}

int sl_listener_close(sl_loop *l, int id) {
    SL_CHECK_OWNER(l, -EPERM);
    if (id < 0 || id >= l->n_listeners || l->listeners[id].fd < 0) return -EBADF;
    sl_listener *ls = &l->listeners[id];
    if (!ls->paused) epoll_ctl(l->epfd, EPOLL_CTL_DEL, ls->fd, NULL);
    ls->fd = -1;
    return 0;
}

static void listener_pause(sl_loop *l, sl_listener *ls, int id, int err) {
    l->stats.accept_errors++;
    epoll_ctl(l->epfd, EPOLL_CTL_DEL, ls->fd, NULL);
    ls->paused = 1;
    ls->resume_at_ms = l->now_ms + (uint64_t)l->accept_pause_ms;
    loop_log(l, 30, "accept on listener %d: %s; accepting again in %d ms", id, strerror(err),
             l->accept_pause_ms);
}

static void listener_accept(sl_loop *l, int id) {
    sl_listener *ls = &l->listeners[id];
    for (;;) { /* until EAGAIN, in both modes: a burst must not strand anyone */
        int fd = accept4(ls->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            switch (errno) {
            case EINTR:
            case ECONNABORTED:
            case EPROTO:
            case EPERM:
                continue;
            case EAGAIN:
                return;
            case EMFILE:
            case ENFILE:
            case ENOBUFS:
            case ENOMEM:
                listener_pause(l, ls, id, errno);
                return;
            default:
                l->stats.accept_errors++;
                loop_log(l, 40, "accept on listener %d: %s", id, strerror(errno));
                return;
            }
        }
        sl_conn *c = conn_new(l, fd, &ls->cfg, 0);
        if (!c) {
            listener_pause(l, ls, id, ENOMEM);
            return;
        }
        l->stats.accepted++;
        loop_push_event(l, c, SL_EV_ACCEPT, c->id, (uint32_t)id, 0);
    }
}

/* Milliseconds until the first paused listener resumes, or -1. Resumes the due. */
static int listeners_tick(sl_loop *l) {
    int wait = -1;
    for (int i = 0; i < l->n_listeners; i++) {
        sl_listener *ls = &l->listeners[i];
        if (ls->fd < 0 || !ls->paused) continue;
        if (l->now_ms >= ls->resume_at_ms) {
            struct epoll_event ev = {.events = EPOLLIN | (ls->cfg.edge_triggered ? EPOLLET : 0u),
                                     .data.u64 = TAG(TAG_LISTENER, i)};
            if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, ls->fd, &ev) == 0) {
                ls->paused = 0;
                listener_accept(l, i); /* what queued meanwhile: no edge will tell */
                continue;
            }
            ls->resume_at_ms = l->now_ms + (uint64_t)l->accept_pause_ms;
        }
        int left = (int)(ls->resume_at_ms - l->now_ms);
        if (wait < 0 || left < wait) wait = left;
    }
    return wait;
}

/* ---- watched descriptors ---------------------------------------------------- */

int sl_watch_fd(sl_loop *l, int fd, uint32_t id, uint32_t events) {
    SL_CHECK_OWNER(l, -EPERM);
    struct epoll_event ev = {.events = events & (EPOLLIN | EPOLLOUT), .data.u64 = TAG(TAG_WATCH, id)};
    if (!ev.events) return epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL) == 0 ? 0 : -errno;
    if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev) == 0) return 0;
    if (errno == ENOENT && epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) == 0) return 0;
    return -errno;
}

/* ---- the turn --------------------------------------------------------------- */

static void flush_dirty(sl_loop *l) {
    while (l->dirty) {
        sl_conn *c = l->dirty;
        l->dirty = c->next_dirty;
        c->next_dirty = NULL;
        c->flags &= ~(uint32_t)CF_DIRTY;
        conn_flush(c);
    }
}

static void read_again(sl_loop *l) {
    sl_conn *c = l->again;
    l->again = NULL;
    while (c) {
        sl_conn *next = c->next_again;
        c->next_again = NULL;
        c->flags &= ~(uint32_t)CF_AGAIN;
        if (c->state == CONN_OPEN) conn_handle_io(c, EPOLLIN);
        if (c->state == CONN_OPEN && (c->flags & CF_FRAME_AGAIN) && !(c->flags & CF_READ_PAUSED)) {
            c->flags &= ~(uint32_t)CF_FRAME_AGAIN; /* the rest of what a framer left: frame it now */
            conn_data_event(c);
        }
        c = next;
    }
}

/* The turn's small SL_EV_DATA bytes, in event order, into one buffer. An
 * event left out (too big, or no memory for the buffer) has arg 0 and is
 * read through its data pointer instead. */
static size_t copy_turn_data(sl_loop *l) {
    if (!l->copy_max_each) return 0;
    size_t total = 0;
    for (size_t i = 0; i < l->nev; i++) {
        sl_event *e = &l->ev[i];
        if (e->kind != SL_EV_DATA && e->kind != SL_EV_REQUESTS && e->kind != SL_EV_FRAMES) continue;
        e->arg &= ~1u;
        if (!e->len || e->len > l->copy_max_each) continue;
        if (total + e->len > l->copy_cap) {
            size_t cap = SL_MAX(l->copy_cap * 2, total + e->len);
            cap = SL_MAX(cap, (size_t)64 << 10);
            char *p = realloc(l->copy, cap);
            if (!p) continue;
            l->copy = p;
            l->copy_cap = cap;
        }
        memcpy(l->copy + total, e->data, e->len);
        total += e->len;
        e->arg |= 1u;
    }
    return total;
}

int sl_loop_run_once(sl_loop *l, int timeout_ms) {
    SL_CHECK_OWNER(l, -EPERM);
    struct epoll_event evs[SL_EPOLL_BATCH];
    flush_dirty(l);
    int resume_in = listeners_tick(l);
    if (resume_in >= 0 && (timeout_ms < 0 || resume_in < timeout_ms)) timeout_ms = resume_in;
    if (l->nev || l->again) timeout_ms = 0;
    int n = epoll_wait(l->epfd, evs, SL_EPOLL_BATCH, timeout_ms);
    if (n < 0) {
        if (errno != EINTR) return -errno;
        n = 0;
    }
    l->now_ms = sl_monotonic_ms();
    l->stats.turns++;
    read_again(l);
    for (int i = 0; i < n; i++) {
        uint32_t tag = (uint32_t)(evs[i].data.u64 >> 32);
        uint32_t id = (uint32_t)evs[i].data.u64;
        switch (tag) {
        case TAG_CONN:
            if (id < l->next_id && l->conns[id]) conn_handle_io(l->conns[id], evs[i].events);
            break;
        case TAG_LISTENER:
            if ((int)id < l->n_listeners && l->listeners[id].fd >= 0) listener_accept(l, (int)id);
            break;
        case TAG_WAKE: {
            uint64_t v;
            ssize_t r = read(l->wakefd, &v, sizeof v);
            SL_UNUSED(r);
            break;
        }
        case TAG_WATCH:
            loop_push_event(l, NULL, SL_EV_FD, id, evs[i].events, 0);
            break;
        }
    }
    size_t handed = l->nev;
    http_frame_turn(l);
    frame_turn(l);
    size_t copied = copy_turn_data(l);
    if (handed && l->cb.on_events) l->cb.on_events(l->ud, l->ev, handed, l->copy, copied);
    for (size_t i = 0; i < handed; i++) {
        sl_event *e = &l->ev[i];
        if (e->kind == SL_EV_DATA || e->kind == SL_EV_REQUESTS || e->kind == SL_EV_FRAMES) {
            e->conn->data_ev = 0;
            if (e->conn->state == CONN_OPEN) input_buf_pop(&e->conn->in, e->len - http_kept(e->conn));
        } else if (e->kind == SL_EV_CLOSED)
            conn_free(e->conn);
    }
    l->nev = 0;
    if (l->copy_cap > ((size_t)4 << 20)) { /* a burst grew it: do not keep it */
        free(l->copy);
        l->copy = NULL;
        l->copy_cap = 0;
    }
    flush_dirty(l);
    return (int)handed;
}
