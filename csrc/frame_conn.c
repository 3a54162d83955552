/*
 * frame_conn.c - the framer between a frame connection's reads and its
 * owner: after a turn's reads, each SL_PROTO_FRAMES connection with new
 * bytes is scanned (sl_frame_scan) from the start of its input, and its
 * SL_EV_DATA becomes one SL_EV_FRAMES covering the complete frames only,
 * with one record per frame in the loop's array. A partial frame stays in
 * the input for the next turn; the scan keeps no state, so a frame split at
 * any byte decodes the same.
 */
#include <stdlib.h>

#include "core.h"
#include "frame.h"

const sl_frame *sl_frame_turn_records(sl_loop *l, size_t *n) {
    if (n) *n = l->frec_len;
    return l->frec;
}

/* Room for want more records; the room there is (maybe less) on failure. */
static size_t reserve(sl_loop *l, size_t want) {
    if (l->frec_len + want > l->frec_cap) {
        size_t cap = SL_MAX(l->frec_len + want, l->frec_cap * 2);
        cap = SL_MAX(cap, (size_t)256);
        sl_frame *p = realloc(l->frec, cap * sizeof *p);
        if (p) {
            l->frec = p;
            l->frec_cap = cap;
        }
    }
    return l->frec_cap - l->frec_len;
}

static void frame_conn(sl_loop *l, sl_event *e) {
    sl_conn *c = e->conn;
    const char *buf = input_buf_data(&c->in);
    size_t len = input_buf_length(&c->in);
    uint32_t first = (uint32_t)l->frec_len;
    e->kind = SL_EV_FRAMES;
    e->err = (int32_t)first;
    if (c->frame_error) { /* the framing is lost: read and drop until the owner closes */
        e->len = len;
        e->arg = 0;
        return;
    }
    /* more frames than this cannot be there: a header each at least */
    size_t fits = SL_MIN(len / SL_FRAME_HEADER + 1, (size_t)SL_FRAME_MAX_BATCH);
    size_t cap = reserve(l, fits + 1); /* + 1: an error record */
    size_t n = 0, consumed = 0;
    int rc = 0;
    if (cap < 2) {
        conn_decide_close(c, SL_CLOSE_POOL, 0); /* no memory for a record: nothing is handed over */
        e->len = 0;
        e->arg = 0;
        return;
    }
    rc = sl_frame_scan(buf, len, c->frame_max, l->frec + first, SL_MIN(fits, cap - 1), &n, &consumed);
    l->frec_len += n;
    if (rc < 0) {
        l->frec[l->frec_len++] = (sl_frame){.off = 0, .len = (uint32_t)-rc, .flags = 0, .type = 0, .pad = 0};
        n++;
        c->frame_error = rc;
        consumed = len; /* what follows the bad frame has no framing: dropped */
    } else if (consumed < len && n == SL_MIN(fits, cap - 1)) {
        c->flags |= CF_FRAME_AGAIN; /* the array was full: the rest next turn */
        conn_read_again(c);
    }
    e->len = consumed;
    e->arg = (uint32_t)(n << 2) | (rc == 0 && consumed < len ? 2u : 0u);
}

void frame_turn(sl_loop *l) {
    l->frec_len = 0;
    for (size_t i = 0; i < l->nev; i++) {
        sl_event *e = &l->ev[i];
        if (e->kind == SL_EV_DATA && e->conn->frame_max && e->conn->state == CONN_OPEN) frame_conn(l, e);
    }
}
