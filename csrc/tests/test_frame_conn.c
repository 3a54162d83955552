/*
 * test_frame_conn.c - frame connections (SL_PROTO_FRAMES): the framer after
 * a turn's reads, its records, partial frames kept in the input, the batch
 * bound, refused frames, and the input sized for the largest frame.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "frame.h"
#include "util.h"

typedef struct got_frame {
    uint8_t type;
    uint16_t flags;
    uint32_t len;
    char *payload;
} got_frame;

/* What the hook collects from the SL_EV_FRAMES of one connection. */
typedef struct collector {
    got_frame *f;
    size_t n, cap;
    size_t events, bytes; /* SL_EV_FRAMES seen, and the bytes they covered */
    size_t most;          /* most records in one event */
    uint32_t last_arg;
    int error;     /* the error record's code (negative), 0 if none */
    int after_err; /* records seen after the error record */
} collector;

static void collect(recorder *r, sl_event *e) {
    collector *c = r->user;
    if (e->kind != SL_EV_FRAMES) return;
    size_t total = 0;
    const sl_frame *rec = sl_frame_turn_records(r->loop, &total);
    size_t count = e->arg >> 2, first = (size_t)e->err;
    REQUIRE(first + count <= total);
    c->events++;
    c->bytes += e->len;
    c->last_arg = e->arg;
    if (count > c->most) c->most = count;
    for (size_t i = 0; i < count; i++) {
        const sl_frame *f = &rec[first + i];
        if (c->error) {
            c->after_err++;
            continue;
        }
        if (f->type == 0) {
            c->error = -(int)f->len;
            continue;
        }
        REQUIRE((size_t)f->off + f->len <= e->len);
        if (c->n == c->cap) {
            c->cap = c->cap ? c->cap * 2 : 64;
            c->f = realloc(c->f, c->cap * sizeof *c->f);
            REQUIRE(c->f != NULL);
        }
        got_frame *g = &c->f[c->n++];
        g->type = f->type;
        g->flags = f->flags;
        g->len = f->len;
        g->payload = malloc(f->len ? f->len : 1);
        REQUIRE(g->payload != NULL);
        memcpy(g->payload, e->data + f->off, f->len);
    }
}

static void collector_free(collector *c) {
    for (size_t i = 0; i < c->n; i++) free(c->f[i].payload);
    free(c->f);
}

static sl_conn_config frames_cfg(uint32_t max_frame) {
    sl_conn_config cfg = {0};
    cfg.protocol = SL_PROTO_FRAMES;
    cfg.max_frame = max_frame;
    return cfg;
}

/* A loop whose frame connection (max_frame) has its frames collected. */
static sl_conn *frames_pair(recorder *r, collector *col, uint32_t max_frame, int *client) {
    memset(col, 0, sizeof *col);
    sl_loop *l = rec_loop(r);
    r->hook = collect;
    r->user = col;
    sl_conn_config cfg = frames_cfg(max_frame);
    return tu_adopt_pair(l, &cfg, client);
}

static size_t put(char *buf, unsigned type, unsigned flags, uint32_t n, uint32_t seed) {
    size_t h = sl_frame_encode_header(buf, type, flags, n);
    tu_fill(buf + h, n, 0, seed);
    return h + n;
}

static uint32_t rng_state;
static uint32_t rng(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

TEST(frame_conn_a_stream_cut_anywhere_arrives_as_every_frame_once_in_order) {
    enum { FRAMES = 300 };
    recorder r;
    collector col;
    int client;
    frames_pair(&r, &col, 0, &client);
    sl_loop *l = r.loop;
    char *stream = malloc(FRAMES * (SL_FRAME_HEADER + 3000));
    uint32_t lens[FRAMES], types[FRAMES], flags[FRAMES];
    size_t len = 0;
    rng_state = 7;
    for (int i = 0; i < FRAMES; i++) {
        types[i] = i % 5 == 0 ? SL_FRAME_PING : SL_FRAME_APP_MIN + rng() % 200;
        lens[i] = rng() % (types[i] == SL_FRAME_PING ? SL_FRAME_HEARTBEAT_MAX + 1 : 3000);
        flags[i] = rng() & 0xFFFF;
        len += put(stream + len, types[i], flags[i], lens[i], (uint32_t)i);
    }
    for (size_t sent = 0; sent < len;) {
        size_t piece = 1 + rng() % 700; /* not inside SL_MIN: it would draw twice, and send past the end */
        size_t k = SL_MIN(len - sent, piece);
        REQUIRE(tu_write_all(client, stream + sent, k, 2000) == k);
        sent += k;
        if (rng() % 3 == 0) CHECK(sl_loop_run_once(l, 0) >= 0);
    }
    RUN_UNTIL(l, col.n == FRAMES, 5000);
    CHECK_EQ_U(col.n, FRAMES);
    CHECK_EQ_U(col.bytes, len);
    CHECK_EQ_U(col.last_arg & 2u, 0); /* nothing waits once the last frame came */
    CHECK_EQ_I(col.error, 0);
    for (size_t i = 0; i < col.n && i < FRAMES; i++) {
        got_frame *g = &col.f[i];
        CHECKF(g->type == types[i] && g->flags == flags[i] && g->len == lens[i] &&
                   tu_mismatch(g->payload, g->len, 0, (uint32_t)i) == g->len,
               "frame %zu differs", i);
    }
    close(client);
    collector_free(&col);
    free(stream);
    rec_free(&r);
}

TEST(frame_conn_a_partial_frame_waits_in_the_input_and_says_so) {
    recorder r;
    collector col;
    int client;
    sl_conn *c = frames_pair(&r, &col, 0, &client);
    sl_loop *l = r.loop;
    char buf[256];
    size_t n = put(buf, SL_FRAME_APP_MIN, 0, 100, 1);
    REQUIRE(tu_write_all(client, buf, 50, 1000) == 50);
    RUN_UNTIL(l, col.events == 1, 2000);
    CHECK_EQ_U(col.events, 1);
    CHECK_EQ_U(col.n, 0);
    CHECK_EQ_U(col.last_arg, 2u); /* no records, a partial frame waits */
    CHECK_EQ_U(input_buf_length(&c->in), 50);
    REQUIRE(tu_write_all(client, buf + 50, n - 50, 1000) == n - 50);
    RUN_UNTIL(l, col.n == 1, 2000);
    CHECK_EQ_U(col.n, 1);
    CHECK_EQ_U(col.last_arg, 1u << 2);
    CHECK_EQ_U(input_buf_length(&c->in), 0);
    close(client);
    collector_free(&col);
    rec_free(&r);
}

TEST(frame_conn_a_refused_frame_ends_the_records_and_what_follows_is_dropped) {
    recorder r;
    collector col;
    int client;
    sl_conn *c = frames_pair(&r, &col, 100, &client);
    sl_loop *l = r.loop;
    char buf[1024];
    size_t n = put(buf, SL_FRAME_APP_MIN, 0, 10, 1);
    n += put(buf + n, SL_FRAME_APP_MIN + 1, 0, 100, 2);             /* exactly max_frame: accepted */
    n += sl_frame_encode_header(buf + n, SL_FRAME_APP_MIN, 0, 101); /* one more: refused at its header */
    n += put(buf + n, SL_FRAME_APP_MIN, 0, 5, 3);                   /* no framing after a refused frame */
    REQUIRE(tu_write_all(client, buf, n, 1000) == n);
    RUN_UNTIL(l, col.error != 0, 2000);
    CHECK_EQ_U(col.n, 2);
    CHECK_EQ_I(col.error, SL_FRAME_TOO_BIG);
    CHECK_EQ_U(col.bytes, n); /* all of it consumed: the frames, then the dropped rest */
    size_t events = col.events;
    REQUIRE(tu_write_all(client, buf, 40, 1000) == 40); /* good frames now: still dropped */
    RUN_UNTIL(l, col.events > events, 2000);
    CHECK_EQ_U(col.n, 2);
    CHECK_EQ_U(col.after_err, 0);
    CHECK_EQ_U(input_buf_length(&c->in), 0);
    CHECK_EQ_U(rec_count(&r, SL_EV_CLOSED), 0); /* the owner decides the close */
    close(client);
    collector_free(&col);
    rec_free(&r);
}

TEST(frame_conn_bad_magic_is_refused_after_its_first_byte) {
    recorder r;
    collector col;
    int client;
    frames_pair(&r, &col, 0, &client);
    sl_loop *l = r.loop;
    REQUIRE(tu_write_all(client, "G", 1, 1000) == 1);
    RUN_UNTIL(l, col.error != 0, 2000);
    CHECK_EQ_I(col.error, SL_FRAME_BAD_MAGIC);
    close(client);
    collector_free(&col);
    rec_free(&r);
}

TEST(frame_conn_the_largest_frame_is_held_whole_over_the_default_input_limit) {
    recorder r;
    collector col;
    int client;
    frames_pair(&r, &col, 0, &client); /* 1 MiB payloads; max_input left at its 1 MiB default */
    sl_loop *l = r.loop;
    size_t n = SL_FRAME_HEADER + SL_FRAME_DEFAULT_MAX_PAYLOAD;
    char *buf = malloc(n + SL_FRAME_HEADER);
    put(buf, SL_FRAME_APP_MIN, 9, SL_FRAME_DEFAULT_MAX_PAYLOAD, 42);
    tu_set_nonblock(client, 1);
    size_t sent = 0;
    uint64_t deadline = tu_now_ms() + 10000;
    while ((sent < n || col.n == 0) && tu_now_ms() < deadline) {
        if (sent < n) {
            ssize_t w = write(client, buf + sent, n - sent);
            if (w > 0) sent += (size_t)w;
        }
        CHECK(sl_loop_run_once(l, 1) >= 0);
    }
    REQUIRE(col.n == 1);
    CHECK_EQ_U(col.f[0].len, SL_FRAME_DEFAULT_MAX_PAYLOAD);
    CHECK_EQ_U(col.f[0].flags, 9);
    CHECK_EQ_U(tu_mismatch(col.f[0].payload, col.f[0].len, 0, 42), col.f[0].len);
    CHECK_EQ_U(rec_count(&r, SL_EV_CLOSED), 0);
    close(client);
    free(buf);
    collector_free(&col);
    rec_free(&r);
}

TEST(frame_conn_a_turn_hands_over_at_most_a_batch_and_the_rest_next_turn) {
    enum { FRAMES = 3000 };
    recorder r;
    collector col;
    int client;
    frames_pair(&r, &col, 0, &client);
    sl_loop *l = r.loop;
    char *buf = malloc(FRAMES * SL_FRAME_HEADER);
    for (int i = 0; i < FRAMES; i++)
        sl_frame_encode_header(buf + i * SL_FRAME_HEADER, SL_FRAME_APP_MIN, 0, 0);
    REQUIRE(tu_write_all(client, buf, FRAMES * SL_FRAME_HEADER, 2000) == FRAMES * SL_FRAME_HEADER);
    RUN_UNTIL(l, col.n == FRAMES, 5000);
    CHECK_EQ_U(col.n, FRAMES);
    CHECK(col.most <= SL_FRAME_MAX_BATCH);
    CHECK(col.events >= (FRAMES + SL_FRAME_MAX_BATCH - 1) / SL_FRAME_MAX_BATCH);
    CHECK_EQ_U(col.bytes, (size_t)FRAMES * SL_FRAME_HEADER);
    close(client);
    free(buf);
    collector_free(&col);
    rec_free(&r);
}

TEST(frame_conn_max_frame_is_clamped_and_the_input_sized_for_it) {
    recorder r;
    sl_loop *l = rec_loop(&r);
    sl_conn_config cfg = frames_cfg(UINT32_MAX);
    int client;
    sl_conn *c = tu_adopt_pair(l, &cfg, &client);
    CHECK_EQ_U(c->frame_max, SL_FRAME_MAX_PAYLOAD_LIMIT);
    CHECK_EQ_U(c->in.max, (size_t)SL_FRAME_MAX_PAYLOAD_LIMIT + SL_FRAME_HEADER);
    cfg = frames_cfg(1000);
    cfg.max_input = 4096;
    int client2;
    sl_conn *c2 = tu_adopt_pair(l, &cfg, &client2);
    CHECK_EQ_U(c2->frame_max, 1000);
    CHECK_EQ_U(c2->in.max, 4096); /* already holds the largest frame */
    int client3;
    sl_conn *raw = tu_adopt_pair(l, NULL, &client3);
    CHECK_EQ_U(raw->frame_max, 0); /* not a frame connection */
    close(client);
    close(client2);
    close(client3);
    rec_free(&r);
}
