/*
 * io_buffers.c - input_buf and output_buf, the seed's buffers over the pool.
 *
 * input_buf holds one contiguous block (parsers see one span). It reads into
 * the block's free space; only when the block is full does it ask FIONREAD
 * how much waits and move to the class that fits (copy + revert), up to its
 * maximum. An empty input_buf holds no block.
 *
 * output_buf is a chain of blocks and file ranges. Appending fills the last
 * block; a lone block too small moves to the class that fits (copy +
 * revert); past the largest class, and after a file range, blocks chain and
 * write2fd gathers them with writev. Emptied blocks go back at once.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core.h"

#define LARGEST_BLOCK ((size_t)8 << 20)
#define WRITEV_MAX 64 /* pieces per writev; well under IOV_MAX */

/* ---- input_buf ---------------------------------------------------------- */

void input_buf_init(input_buf *ib, buf_pool *pool, size_t max) {
    ib->buf = NULL;
    ib->pool = pool;
    ib->max = max ? SL_MIN(max, LARGEST_BLOCK) : SL_DEFAULT_MAX_INPUT;
}

const char *input_buf_data(const input_buf *ib) { return ib->buf ? ib->buf->data + ib->buf->head : NULL; }
size_t input_buf_length(const input_buf *ib) { return ib->buf ? ib->buf->length : 0; }

void input_buf_release(input_buf *ib) {
    if (ib->buf) buf_pool_revert(ib->pool, ib->buf);
    ib->buf = NULL;
}

void input_buf_pop(input_buf *ib, size_t n) {
    if (!ib->buf) return;
    io_buf_pop(ib->buf, n);
    if (ib->buf->length == 0) input_buf_release(ib);
}

void input_buf_adjust(input_buf *ib) {
    if (ib->buf) io_buf_adjust(ib->buf);
}

/* Room for more: reuse the consumed front, else move to a bigger class. */
static int input_buf_make_room(input_buf *ib, int fd) {
    io_buf *b = ib->buf;
    if (b->head) {
        io_buf_adjust(b);
        if (io_buf_room(b)) return 0;
    }
    if (b->length >= ib->max) return IB_FULL;
    int waiting = 0;
    if (ioctl(fd, FIONREAD, &waiting) != 0 || waiting <= 0) return IB_AGAIN; /* nothing waits now */
    size_t want = SL_MIN(b->length + (size_t)waiting, ib->max);
    if (want <= b->capacity) want = b->capacity + 1;
    io_buf *nb = buf_pool_alloc_buf(ib->pool, SL_MIN(want, LARGEST_BLOCK));
    if (!nb) return IB_NOMEM;
    io_buf_copy(nb, b);
    buf_pool_revert(ib->pool, b);
    ib->buf = nb;
    return 0;
}

int input_buf_read_data(input_buf *ib, int fd, int *err) {
    int flags = 0;
    for (;;) {
        if (!ib->buf && !(ib->buf = buf_pool_alloc_buf(ib->pool, 0))) return flags | IB_NOMEM;
        io_buf *b = ib->buf;
        if (io_buf_room(b) == 0) {
            int r = input_buf_make_room(ib, fd);
            if (r) return flags | r;
            b = ib->buf;
        }
        size_t offer = SL_MIN(io_buf_room(b), ib->max - SL_MIN(ib->max, b->length));
        if (offer == 0) return flags | IB_FULL;
        ssize_t r = read(fd, b->data + b->head + b->length, offer);
        if (r > 0) {
            size_t got = SL_MIN((size_t)r, offer); /* the kernel's word, clamped */
            b->length += got;
            flags |= IB_DATA;
            /* A short read drained the socket at that moment; a later
             * arrival raises a new edge, so even edge-triggered stops here. */
            if (got < offer) return flags | IB_AGAIN;
            continue;
        }
        if (r == 0)
            flags |= IB_EOF;
        else if (errno == EINTR)
            continue;
        else if (errno == EAGAIN || errno == EWOULDBLOCK)
            flags |= IB_AGAIN;
        else {
            *err = errno;
            flags |= IB_ERROR;
        }
        if (b->length == 0) input_buf_release(ib);
        return flags;
    }
}

/* ---- output_buf --------------------------------------------------------- */

void output_buf_init(output_buf *ob, buf_pool *pool) {
    ob->head = ob->tail = NULL;
    ob->pool = pool;
    ob->pending = 0;
    ob->corked = 0;
}

static void piece_release(output_buf *ob, io_buf *b) {
    if (b->cls < 0) {
        close(b->file_fd);
        free(b);
    } else {
        buf_pool_revert(ob->pool, b);
    }
}

void output_buf_release(output_buf *ob) {
    for (io_buf *b = ob->head, *n; b; b = n) {
        n = b->next;
        piece_release(ob, b);
    }
    ob->head = ob->tail = NULL;
    ob->pending = 0;
}

static void link_tail(output_buf *ob, io_buf *b) {
    b->next = NULL;
    if (ob->tail)
        ob->tail->next = b;
    else
        ob->head = b;
    ob->tail = b;
}

int output_buf_send_data(output_buf *ob, const char *p, size_t n) {
    if (n == 0) return 0;
    io_buf *t = ob->tail;
    int mem_tail = t && t->cls >= 0;
    if (mem_tail && io_buf_room(t) < n && t->capacity - t->length >= n) io_buf_adjust(t);
    if (mem_tail && io_buf_room(t) >= n) {
        memcpy(t->data + t->head + t->length, p, n);
        t->length += n;
        ob->pending += n;
        return 0;
    }
    if (mem_tail && t == ob->head && t->length + n <= LARGEST_BLOCK) {
        /* The seed's growth: one block of the class that fits it all. */
        io_buf *nb = buf_pool_alloc_buf(ob->pool, t->length + n);
        if (!nb) return -1;
        io_buf_copy(nb, t);
        buf_pool_revert(ob->pool, t);
        ob->head = ob->tail = nb;
        memcpy(nb->data + nb->length, p, n);
        nb->length += n;
        ob->pending += n;
        return 0;
    }
    /* Chain: take every block first, so a refusal appends nothing. */
    size_t fill = mem_tail ? SL_MIN(io_buf_room(t), n) : 0;
    io_buf *first = NULL, *last = NULL;
    for (size_t rest = n - fill; rest;) {
        io_buf *b = buf_pool_alloc_buf(ob->pool, SL_MIN(rest, LARGEST_BLOCK));
        if (!b) {
            for (io_buf *x = first, *nx; x; x = nx) {
                nx = x->next;
                buf_pool_revert(ob->pool, x);
            }
            return -1;
        }
        b->next = NULL;
        if (last)
            last->next = b;
        else
            first = b;
        last = b;
        rest -= SL_MIN(rest, b->capacity);
    }
    if (fill) {
        memcpy(t->data + t->head + t->length, p, fill);
        t->length += fill;
    }
    size_t off = fill;
    for (io_buf *b = first, *nx; b; b = nx) {
        nx = b->next;
        size_t k = SL_MIN(n - off, b->capacity);
        memcpy(b->data, p + off, k);
        b->length = k;
        off += k;
        link_tail(ob, b);
    }
    ob->pending += n;
    return 0;
}

int output_buf_send_file(output_buf *ob, int file_fd, uint64_t offset, size_t len) {
    if (len == 0) {
        close(file_fd);
        return 0;
    }
    io_buf *f = io_buf_headers_new(1);
    if (!f) return -1;
    f->cls = -1;
    f->file_fd = file_fd;
    f->head = (size_t)offset;
    f->length = len;
    link_tail(ob, f);
    ob->pending += len;
    return 0;
}

/* Drop n written bytes from the front; emptied pieces go back at once. */
static void output_buf_consume(output_buf *ob, size_t n) {
    ob->pending -= SL_MIN(n, ob->pending);
    while (ob->head && n >= ob->head->length) {
        io_buf *b = ob->head;
        n -= b->length;
        ob->head = b->next;
        piece_release(ob, b);
    }
    if (!ob->head)
        ob->tail = NULL;
    else if (n) {
        io_buf *b = ob->head;
        b->head += n; /* for a file range, head is the file offset */
        b->length -= n;
    }
}

/* A file range of at least this size is sent corked (TCP_CORK): the
 * kernel then sends only full segments, where a socket with TCP_NODELAY
 * pushes a short one at the end of every sendfile call that the socket's
 * room cut short. Measured on loopback (1 MiB files, wrk -c100): the
 * client's kernel work per response halves, nginx's tcp_nopush does the
 * same. A smaller range leaves in one sendfile call anyway; the head in
 * front of it is sent with MSG_MORE so that both go in one segment. */
#define CORK_MIN ((size_t)64 << 10)

static void set_cork(output_buf *ob, int fd, int on) {
    /* not a TCP socket (a socketpair in tests): refused, and nothing lost */
    (void)setsockopt(fd, IPPROTO_TCP, TCP_CORK, &on, sizeof on);
    ob->corked = on;
}

ssize_t output_buf_write2fd(output_buf *ob, int fd) {
    size_t total = 0;
    while (ob->head) {
        io_buf *b = ob->head;
        size_t asked;
        ssize_t r;
        if (b->cls < 0) {
            off_t off = (off_t)b->head;
            asked = SL_MIN(b->length, (size_t)1 << 30);
            if (!ob->corked && b->length >= CORK_MIN) set_cork(ob, fd, 1);
            r = sendfile(fd, b->file_fd, &off, asked);
            if (r == 0) { /* the file is shorter than promised: the stream is broken */
                errno = EIO;
                r = -1;
            }
        } else if (!b->next || b->next->cls < 0) {
            asked = b->length;
            /* EPIPE, not SIGPIPE; a file range next: held for it (MSG_MORE) */
            r = send(fd, b->data + b->head, asked, MSG_NOSIGNAL | (b->next ? MSG_MORE : 0));
        } else {
            struct iovec iov[WRITEV_MAX];
            int cnt = 0;
            io_buf *x = b;
            asked = 0;
            for (; x && x->cls >= 0 && cnt < WRITEV_MAX; x = x->next, cnt++) {
                iov[cnt].iov_base = x->data + x->head;
                iov[cnt].iov_len = x->length;
                asked += x->length;
            }
            struct msghdr msg = {.msg_iov = iov, .msg_iovlen = (size_t)cnt};
            r = sendmsg(fd, &msg, MSG_NOSIGNAL | (x && x->cls < 0 ? MSG_MORE : 0));
        }
        if (r < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            return -errno;
        }
        size_t done = SL_MIN((size_t)r, asked);
        output_buf_consume(ob, done);
        total += done;
        if (done < asked) break; /* the kernel is full: wait for EPOLLOUT */
    }
    /* past the large range (or nothing left): what the cork holds leaves now */
    if (ob->corked && (!ob->head || ob->head->cls >= 0)) set_cork(ob, fd, 0);
    return (ssize_t)total;
}
