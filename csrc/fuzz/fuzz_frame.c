/*
 * fuzz_frame.c - a libFuzzer target for sl_frame_scan (frame.c).
 *
 * Built and run, bounded, by tests/test_fuzz.py:
 *   clang -fsanitize=fuzzer,address,undefined -g -O1 -Icsrc csrc/fuzz/fuzz_frame.c csrc/frame.c
 *   ./a.out -runs=100000 csrc/fuzz/corpus_frame
 *
 * Each input is a stream of bytes, scanned three ways: whole (one call with
 * room for every frame), and as a caller reads it: split in two at a point
 * taken from the first byte, then one byte at a time, keeping the bytes not
 * consumed in a buffer of exactly their size, with a small out array (1..4
 * frames, also from the first byte) so the "out is full, call again" path
 * runs. The three must find the same frames and the same error at the same
 * place. Every frame handed back must lie inside the bytes given, re-encode
 * to its own header, and an unfinished frame must be one sl_frame_need says
 * is still arriving. The last byte picks max_payload. The target traps only
 * on a broken invariant, never on an error the codec reports.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"

#define MAXF 512 /* more than the frames MAX_INPUT bytes can hold (12 bytes each at least) */
#define MAX_INPUT ((MAXF - 1) * SL_FRAME_HEADER)

#define CHECK(cond)                                                                                          \
    do {                                                                                                     \
        if (!(cond)) __builtin_trap();                                                                       \
    } while (0)

/* What a scan of the whole stream found, offsets from the stream's start. */
typedef struct found {
    sl_frame f[MAXF];
    size_t n;
    size_t consumed;  /* where the frames end (and a bad frame starts) */
    size_t proved_at; /* with an error: the stream length that proves it */
    int rc;
} found;

static uint32_t pick_max(uint8_t b) {
    static const uint32_t maxes[4] = {0, 16, 300, 1};
    return maxes[b & 3];
}

static uint32_t be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int valid_rc(int rc) { return rc <= 0 && rc >= SL_FRAME_BIG_HEARTBEAT; }

/* frame.h's rule, written out again: the header's bytes in offset order,
 * the first bad one decides, and a length is too big as soon as the length
 * bytes present (the missing ones taken as zero) exceed the limit. Returns
 * the error of the have bytes at h (0: none yet) and, with one, how many
 * bytes it took to prove it. */
static int first_bad_byte(const unsigned char *h, size_t have, uint32_t limit, size_t *proved_by) {
    uint64_t least = 0;
    for (size_t j = 0; j < have && j < SL_FRAME_HEADER; j++) {
        int rc = 0;
        unsigned char c = h[j];
        if (j < 2)
            rc = c != "SL"[j] ? SL_FRAME_BAD_MAGIC : 0;
        else if (j == 2)
            rc = c != SL_FRAME_VERSION ? SL_FRAME_BAD_VERSION : 0;
        else if (j == 3)
            rc = c == 0 || (c > SL_FRAME_PONG && c < SL_FRAME_APP_MIN) ? SL_FRAME_BAD_TYPE : 0;
        else if (j == 6 || j == 7)
            rc = c ? SL_FRAME_BAD_RESERVED : 0;
        else if (j >= 8) {
            least |= (uint64_t)c << (8 * (SL_FRAME_HEADER - 1 - j));
            if ((h[3] == SL_FRAME_PING || h[3] == SL_FRAME_PONG) && SL_FRAME_HEARTBEAT_MAX < limit)
                rc = least > SL_FRAME_HEARTBEAT_MAX ? SL_FRAME_BIG_HEARTBEAT : 0;
            else
                rc = least > limit ? SL_FRAME_TOO_BIG : 0;
        }
        if (rc) {
            *proved_by = j + 1;
            return rc;
        }
    }
    return 0;
}

/* The frames of one scan of buf[0 .. len): inside it, back to back from 0,
 * each re-encoding to its own header. */
static void check_frames(const unsigned char *buf, size_t len, uint32_t max, const sl_frame *f, size_t n,
                         size_t consumed) {
    uint32_t limit = max ? max : SL_FRAME_DEFAULT_MAX_PAYLOAD;
    size_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        CHECK(f[i].off == pos + SL_FRAME_HEADER);
        CHECK(f[i].off <= len && f[i].len <= len - f[i].off);
        CHECK(f[i].len <= limit && f[i].pad == 0);
        CHECK(f[i].type != 0 && (f[i].type <= SL_FRAME_PONG || f[i].type >= SL_FRAME_APP_MIN));
        CHECK(f[i].type >= SL_FRAME_APP_MIN || f[i].len <= SL_FRAME_HEARTBEAT_MAX);
        const unsigned char *h = buf + pos;
        CHECK(be32(h + 8) == f[i].len && h[3] == f[i].type && (unsigned)(h[4] << 8 | h[5]) == f[i].flags);
        char again[SL_FRAME_HEADER];
        CHECK(sl_frame_encode_header(again, f[i].type, f[i].flags, f[i].len) == SL_FRAME_HEADER);
        CHECK(!memcmp(again, h, SL_FRAME_HEADER));
        CHECK(sl_frame_need((const char *)h, len - pos) == SL_FRAME_HEADER + (size_t)f[i].len);
        pos = f[i].off + f[i].len;
    }
    CHECK(consumed == pos && consumed <= len);
}

static unsigned char *alloc_n(size_t n) {
    unsigned char *b = malloc(n ? n : 1);
    if (!b) abort();
    return b;
}

static void scan_whole(found *w, const uint8_t *data, size_t size, uint32_t max) {
    unsigned char *buf = alloc_n(size);
    memcpy(buf, data, size);
    w->rc = sl_frame_scan((const char *)buf, size, max, w->f, MAXF, &w->n, &w->consumed);
    CHECK(valid_rc(w->rc) && w->n < MAXF);
    check_frames(buf, size, max, w->f, w->n, w->consumed);
    size_t rest = size - w->consumed, proved_by = 0;
    CHECK(first_bad_byte(buf + w->consumed, rest, max ? max : SL_FRAME_DEFAULT_MAX_PAYLOAD, &proved_by) ==
          w->rc);
    w->proved_at = w->consumed + proved_by;
    if (w->rc == 0) {
        /* what is left is a frame still arriving: its header is fine so far */
        size_t need = sl_frame_need((const char *)buf + w->consumed, rest);
        CHECK(need > rest);
        if (rest >= SL_FRAME_HEADER) CHECK(need == SL_FRAME_HEADER + (size_t)be32(buf + w->consumed + 8));
    } else {
        /* the bad frame alone gives the same error, with nothing before it */
        sl_frame one;
        size_t n = 1, consumed = 1;
        CHECK(rest > 0);
        int rc = sl_frame_scan((const char *)buf + w->consumed, rest, max, &one, 1, &n, &consumed);
        CHECK(rc == w->rc && n == 0 && consumed == 0);
    }
    /* a scan that stops when out is full finds the first of the same frames */
    if (w->n > 0) {
        sl_frame one;
        size_t n = 0, consumed = 0;
        int rc = sl_frame_scan((const char *)buf, size, max, &one, 1, &n, &consumed);
        CHECK(rc == 0 && n == 1 && !memcmp(&one, &w->f[0], sizeof one));
        CHECK(consumed == w->f[0].off + w->f[0].len);
    }
    free(buf);
}

/* A caller reading the stream: what is not consumed stays, in a buffer of
 * exactly its size, moved whenever bytes are appended. */
typedef struct reader {
    unsigned char *pending;
    size_t n_pending;
    size_t base; /* the stream offset of pending[0] */
    size_t cap;  /* frames per scan call */
    uint32_t max;
    sl_frame f[MAXF];
    size_t n;
    int rc;
} reader;

static void reader_init(reader *rd, size_t cap, uint32_t max) {
    memset(rd, 0, sizeof *rd);
    rd->cap = cap;
    rd->max = max;
}

/* Append bytes and take every complete frame; returns the frames taken. */
static size_t reader_feed(reader *rd, const uint8_t *bytes, size_t n) {
    if (rd->rc) return 0; /* the stream lost its framing: nothing after counts */
    unsigned char *b = alloc_n(rd->n_pending + n);
    if (rd->n_pending) memcpy(b, rd->pending, rd->n_pending);
    memcpy(b + rd->n_pending, bytes, n);
    free(rd->pending);
    rd->pending = b;
    rd->n_pending += n;
    size_t taken = 0;
    for (;;) {
        sl_frame out[4];
        size_t got = 99, consumed = 99;
        int rc =
            sl_frame_scan((const char *)rd->pending, rd->n_pending, rd->max, out, rd->cap, &got, &consumed);
        CHECK(valid_rc(rc) && got <= rd->cap);
        check_frames(rd->pending, rd->n_pending, rd->max, out, got, consumed);
        for (size_t i = 0; i < got; i++) {
            CHECK(rd->n < MAXF);
            rd->f[rd->n] = out[i];
            rd->f[rd->n].off = (uint32_t)(out[i].off + rd->base);
            rd->n++;
        }
        taken += got;
        size_t left = rd->n_pending - consumed;
        memmove(rd->pending, rd->pending + consumed, left);
        rd->n_pending = left;
        rd->base += consumed;
        if (rc) {
            rd->rc = rc;
            return taken;
        }
        if (got < rd->cap) {
            CHECK(sl_frame_need((const char *)rd->pending, left) > left);
            return taken;
        }
    }
}

static void check_same(const found *w, const reader *rd) {
    CHECK(rd->rc == w->rc && rd->n == w->n);
    CHECK(!memcmp(rd->f, w->f, w->n * sizeof w->f[0]));
    if (w->rc) CHECK(rd->base == w->consumed); /* the bad frame starts at the same place */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > MAX_INPUT) return 0;
    uint32_t max = pick_max(size ? data[size - 1] : 0);
    size_t k = size ? (size_t)data[0] * size / 255 : 0;
    size_t cap = size ? 1 + (data[0] & 3) : 1;
    static found w;
    static reader rd;

    scan_whole(&w, data, size, max);

    reader_init(&rd, cap, max);
    reader_feed(&rd, data, k);
    reader_feed(&rd, data + k, size - k);
    check_same(&w, &rd);
    free(rd.pending);

    reader_init(&rd, cap, max);
    for (size_t i = 0; i < size; i++) {
        size_t before = rd.n;
        int rc = rd.rc;
        size_t taken = reader_feed(&rd, data + i, 1);
        /* an error is said as soon as the byte that proves it arrives */
        if (rd.rc && !rc) CHECK(i + 1 == w.proved_at);
        if (taken) {
            /* a frame is complete exactly when its last byte arrives */
            CHECK(rd.n == before + 1 && rd.f[before].off + rd.f[before].len == i + 1);
        }
    }
    check_same(&w, &rd);
    free(rd.pending);
    return 0;
}
