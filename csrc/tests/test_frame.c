/*
 * test_frame.c - the frame codec: header bytes, round trips, streams cut
 * anywhere, every error as soon as its byte is there, limits, and a mutation
 * loop that the decoder must survive with defined answers.
 *
 * Every scan reads a heap copy of exactly the bytes it is given, so reading
 * one byte too far is an ASan report, not a silent pass.
 */
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "util.h"

static uint32_t rng_state;
static uint32_t rng(void) { /* xorshift32: fixed seeds, same runs everywhere */
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

typedef struct scan_result {
    int rc;
    size_t n, consumed;
    sl_frame f[64];
} scan_result;

/* Scan a heap copy of p[0..len) (cap <= 64). */
static scan_result scan_copy(const char *p, size_t len, uint32_t max, size_t cap) {
    scan_result r;
    memset(&r, 0, sizeof r);
    char *copy = malloc(len ? len : 1);
    if (len) memcpy(copy, p, len);
    r.rc = sl_frame_scan(copy, len, max, r.f, cap, &r.n, &r.consumed);
    free(copy);
    return r;
}

/* A stream of frames with pseudo-random types, flags, lengths and payloads. */
typedef struct stream {
    char *bytes;
    size_t len;
    size_t nframes;
    sl_frame *want; /* off counts from the stream's start */
} stream;

static uint8_t random_type(void) {
    uint32_t r = rng() % 4;
    return r == 0 ? SL_FRAME_PING : r == 1 ? SL_FRAME_PONG : (uint8_t)(SL_FRAME_APP_MIN + rng() % 240);
}

static stream make_stream(size_t nframes, uint32_t max_len, uint32_t seed) {
    stream s = {malloc(nframes * (SL_FRAME_HEADER + max_len)), 0, nframes,
                malloc(nframes * sizeof(sl_frame))};
    rng_state = seed;
    for (size_t i = 0; i < nframes; i++) {
        sl_frame *w = &s.want[i];
        w->type = random_type();
        w->flags = (uint16_t)rng();
        w->len = rng() % (max_len + 1);
        if (w->type < SL_FRAME_APP_MIN && w->len > SL_FRAME_HEARTBEAT_MAX)
            w->len %= SL_FRAME_HEARTBEAT_MAX + 1;
        w->pad = 0;
        s.len += sl_frame_encode_header(s.bytes + s.len, w->type, w->flags, w->len);
        w->off = (uint32_t)s.len;
        for (uint32_t j = 0; j < w->len; j++) s.bytes[s.len++] = (char)rng();
    }
    return s;
}

static void free_stream(stream *s) {
    free(s->bytes);
    free(s->want);
}

/* A receiver: bytes arrive up to an end; it scans what it holds unconsumed
 * (cap frames at a time) and checks each frame against the stream's next. */
typedef struct receiver {
    const stream *s;
    size_t start; /* first unconsumed byte of the stream */
    size_t next;  /* index of the next frame expected */
    int bad;
} receiver;

static void arrive(receiver *rx, size_t end, size_t cap) {
    size_t len = end - rx->start, done = 0;
    char *copy = malloc(len ? len : 1);
    if (len) memcpy(copy, rx->s->bytes + rx->start, len);
    for (;;) {
        const char *p = copy + done;
        size_t left = len - done, n = 0, consumed = 0;
        sl_frame f[64];
        CHECK_EQ_I(sl_frame_scan(p, left, 0, f, cap, &n, &consumed), 0);
        for (size_t i = 0; i < n && !rx->bad; i++, rx->next++) {
            const sl_frame *w = &rx->s->want[rx->next];
            int same = rx->next < rx->s->nframes && f[i].type == w->type && f[i].flags == w->flags &&
                       f[i].len == w->len && rx->start + done + f[i].off == w->off &&
                       memcmp(p + f[i].off, rx->s->bytes + w->off, w->len) == 0;
            CHECKF(same, "frame %zu differs (bytes up to %zu)", rx->next, end);
            if (!same) rx->bad = 1;
        }
        /* what is left is a frame still arriving: need() says its size */
        if (n < cap && consumed < left && !rx->bad) {
            size_t tail = left - consumed;
            size_t whole = SL_FRAME_HEADER + rx->s->want[rx->next].len;
            CHECK_EQ_U(sl_frame_need(p + consumed, tail), tail < SL_FRAME_HEADER ? SL_FRAME_HEADER : whole);
        }
        done += consumed;
        if (n < cap || rx->bad) break;
    }
    rx->start += done;
    free(copy);
}

/* Append a frame at buf + *len. */
static void put(char *buf, size_t *len, unsigned type, unsigned flags, const char *payload, uint32_t n) {
    *len += sl_frame_encode_header(buf + *len, type, flags, n);
    memcpy(buf + *len, payload, n);
    *len += n;
}

TEST(frame_header_is_magic_version_type_flags_reserved_length_big_endian) {
    char h[SL_FRAME_HEADER];
    CHECK_EQ_U(sl_frame_encode_header(h, 0x42, 0xA1B2, 0x01020304), SL_FRAME_HEADER);
    CHECK(memcmp(h, "SL\x01\x42\xA1\xB2\x00\x00\x01\x02\x03\x04", SL_FRAME_HEADER) == 0);
    CHECK_EQ_U(sl_frame_encode_header(h, SL_FRAME_PING, 0, 0), SL_FRAME_HEADER);
    CHECK(memcmp(h, "SL\x01\x01\0\0\0\0\0\0\0\0", SL_FRAME_HEADER) == 0);
}

TEST(frame_encode_refuses_reserved_types_and_wide_fields) {
    char h[SL_FRAME_HEADER + 1];
    memset(h, '.', sizeof h);
    unsigned refused[] = {0, 3, 9, 15, 256, 0x1FF};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
        CHECKF(sl_frame_encode_header(h, refused[i], 0, 0) == 0, "type %u", refused[i]);
    CHECK_EQ_U(sl_frame_encode_header(h, 16, 0x10000, 0), 0);
    CHECK(h[0] == '.'); /* nothing written */
    CHECK_EQ_U(sl_frame_encode_header(h, 255, 0xFFFF, UINT32_MAX), SL_FRAME_HEADER);
    CHECK(h[SL_FRAME_HEADER] == '.');
}

TEST(frame_round_trips_every_length_up_to_the_maximum) {
    enum { MAX = 2048 };
    char *buf = malloc(SL_FRAME_HEADER + MAX);
    for (uint32_t len = 0; len <= MAX; len++) {
        sl_frame_encode_header(buf, 0x10 + len % 200, len, len);
        for (uint32_t j = 0; j < len; j++) buf[SL_FRAME_HEADER + j] = (char)(j * 7 + len);
        scan_result r = scan_copy(buf, SL_FRAME_HEADER + len, MAX, 4);
        int ok = r.rc == 0 && r.n == 1 && r.consumed == SL_FRAME_HEADER + len &&
                 r.f[0].off == SL_FRAME_HEADER && r.f[0].len == len && r.f[0].type == 0x10 + len % 200 &&
                 r.f[0].flags == len;
        CHECKF(ok, "length %u: rc %d n %zu consumed %zu", len, r.rc, r.n, r.consumed);
        /* one byte short: nothing yet, and need() names the whole frame */
        r = scan_copy(buf, SL_FRAME_HEADER + len - 1, MAX, 4);
        CHECKF(r.rc == 0 && r.n == 0 && r.consumed == 0, "length %u minus one byte", len);
        CHECK_EQ_U(sl_frame_need(buf, SL_FRAME_HEADER + len - 1),
                   len ? SL_FRAME_HEADER + len : SL_FRAME_HEADER);
    }
    free(buf);
}

TEST(frame_round_trips_the_default_maximum_of_1_MiB) {
    size_t len = SL_FRAME_DEFAULT_MAX_PAYLOAD;
    char *buf = calloc(1, SL_FRAME_HEADER + len + 1);
    sl_frame_encode_header(buf, 0x20, 0, (uint32_t)len);
    scan_result r = scan_copy(buf, SL_FRAME_HEADER + len, 0, 4);
    CHECK_EQ_I(r.rc, 0);
    CHECK_EQ_U(r.n, 1);
    CHECK_EQ_U(r.f[0].len, len);
    sl_frame_encode_header(buf, 0x20, 0, (uint32_t)len + 1);
    r = scan_copy(buf, SL_FRAME_HEADER, 0, 4);
    CHECK_EQ_I(r.rc, SL_FRAME_TOO_BIG);
    free(buf);
}

TEST(frame_scan_finds_several_frames_in_one_buffer) {
    char buf[256];
    size_t len = 0;
    put(buf, &len, SL_FRAME_PING, 0, "abc", 3);
    put(buf, &len, 0x10, 7, "", 0);
    put(buf, &len, 0xFF, 0xFFFF, "hello", 5);
    put(buf, &len, SL_FRAME_PONG, 1, "abcd", 4);
    len -= 2; /* the last frame is still arriving */
    scan_result r = scan_copy(buf, len, 0, 64);
    CHECK_EQ_I(r.rc, 0);
    REQUIRE(r.n == 3);
    CHECK_EQ_U(r.consumed, 3 * SL_FRAME_HEADER + 8);
    CHECK(r.f[0].type == SL_FRAME_PING && r.f[0].len == 3 && memcmp(buf + r.f[0].off, "abc", 3) == 0);
    CHECK(r.f[1].type == 0x10 && r.f[1].flags == 7 && r.f[1].len == 0 &&
          r.f[1].off == 2 * SL_FRAME_HEADER + 3);
    CHECK(r.f[2].type == 0xFF && r.f[2].flags == 0xFFFF && memcmp(buf + r.f[2].off, "hello", 5) == 0);
    CHECK_EQ_U(sl_frame_need(buf + r.consumed, len - r.consumed), SL_FRAME_HEADER + 4);
}

TEST(frame_scan_stops_at_cap_and_the_rest_follows_in_the_next_call) {
    stream s = make_stream(10, 20, 7);
    scan_result r = scan_copy(s.bytes, s.len, 0, 3);
    CHECK_EQ_I(r.rc, 0);
    CHECK_EQ_U(r.n, 3);
    CHECK_EQ_U(r.consumed, s.want[3].off - SL_FRAME_HEADER);
    sl_frame f[4]; /* nothing is written past out[cap - 1] */
    memset(f, 0xAB, sizeof f);
    size_t n, consumed;
    CHECK_EQ_I(sl_frame_scan(s.bytes, s.len, 0, f, 3, &n, &consumed), 0);
    CHECK(n == 3 && f[3].off == 0xABABABABu && f[3].type == 0xAB);
    receiver rx = {&s, 0, 0, 0};
    arrive(&rx, s.len, 3);
    CHECK_EQ_U(rx.next, 10);
    CHECK_EQ_U(rx.start, s.len);
    /* cap 0 finds nothing, not even an error */
    r = scan_copy("XX", 2, 0, 0);
    CHECK(r.rc == 0 && r.n == 0 && r.consumed == 0);
    free_stream(&s);
}

TEST(frame_stream_cut_at_every_byte_of_a_prefix_decodes_the_same) {
    stream s = make_stream(1000, 300, 12345);
    size_t prefix = s.want[20].off; /* 20 frames and a header: a few KiB */
    for (size_t cut = 0; cut <= prefix; cut++) {
        receiver rx = {&s, 0, 0, 0};
        arrive(&rx, cut, 64);
        arrive(&rx, s.len, 64);
        CHECKF(rx.next == 1000 && rx.start == s.len && !rx.bad, "cut at %zu: %zu frames", cut, rx.next);
        if (rx.bad) break;
    }
    free_stream(&s);
}

TEST(frame_stream_fed_one_byte_at_a_time_decodes_the_same) {
    stream s = make_stream(1000, 300, 777);
    receiver rx = {&s, 0, 0, 0};
    for (size_t end = 0; end <= s.len && !rx.bad; end++) arrive(&rx, end, 64);
    CHECK_EQ_U(rx.next, 1000);
    CHECK_EQ_U(rx.start, s.len);
    free_stream(&s);
}

TEST(frame_stream_in_random_reads_with_small_caps_decodes_the_same) {
    stream s = make_stream(1000, 5000, 99);
    rng_state = 4242;
    receiver rx = {&s, 0, 0, 0};
    for (size_t end = 0; end < s.len && !rx.bad;) {
        end += 1 + rng() % 9000;
        arrive(&rx, end < s.len ? end : s.len, 1 + rng() % 4);
    }
    CHECK_EQ_U(rx.next, 1000);
    free_stream(&s);
}

/* Each error shows as soon as its byte is present, and not before. */
TEST(frame_scan_reports_each_error_at_its_first_bad_byte) {
    static const struct {
        unsigned at, value;
        int rc;
    } cases[] = {
        {0, 'X', SL_FRAME_BAD_MAGIC},    {0, 'L', SL_FRAME_BAD_MAGIC},  {1, 'S', SL_FRAME_BAD_MAGIC},
        {1, 0x4D, SL_FRAME_BAD_MAGIC},   {2, 0, SL_FRAME_BAD_VERSION},  {2, 2, SL_FRAME_BAD_VERSION},
        {2, 0xFF, SL_FRAME_BAD_VERSION}, {3, 0, SL_FRAME_BAD_TYPE},     {3, 3, SL_FRAME_BAD_TYPE},
        {3, 0x0F, SL_FRAME_BAD_TYPE},    {6, 1, SL_FRAME_BAD_RESERVED}, {7, 0x80, SL_FRAME_BAD_RESERVED},
        {8, 1, SL_FRAME_TOO_BIG},        {9, 0x11, SL_FRAME_TOO_BIG}, /* 1 MiB + 64 KiB from byte 9 */
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char h[SL_FRAME_HEADER];
        sl_frame_encode_header(h, 0x30, 0xFFFF, 0);
        h[cases[c].at] = (char)cases[c].value;
        for (size_t have = 1; have <= SL_FRAME_HEADER; have++) {
            scan_result r = scan_copy(h, have, 0, 4);
            int want = have > cases[c].at ? cases[c].rc : 0;
            CHECKF(r.rc == want && r.n == 0 && r.consumed == 0, "case %zu, %zu bytes: rc %d, want %d", c,
                   have, r.rc, want);
        }
    }
    /* the length is over the maximum only once its last byte says so */
    char h[SL_FRAME_HEADER];
    sl_frame_encode_header(h, 0x30, 0, SL_FRAME_DEFAULT_MAX_PAYLOAD + 1);
    CHECK_EQ_I(scan_copy(h, SL_FRAME_HEADER - 1, 0, 4).rc, 0);
    CHECK_EQ_I(scan_copy(h, SL_FRAME_HEADER, 0, 4).rc, SL_FRAME_TOO_BIG);
}

TEST(frame_every_valid_header_prefix_waits_for_more) {
    char h[SL_FRAME_HEADER];
    sl_frame_encode_header(h, 0xFF, 0x1234, SL_FRAME_DEFAULT_MAX_PAYLOAD);
    for (size_t have = 0; have <= SL_FRAME_HEADER; have++) {
        scan_result r = scan_copy(h, have, 0, 4);
        CHECKF(r.rc == 0 && r.n == 0 && r.consumed == 0, "%zu bytes", have);
        CHECK_EQ_U(sl_frame_need(h, have),
                   have < SL_FRAME_HEADER ? SL_FRAME_HEADER : SL_FRAME_HEADER + SL_FRAME_DEFAULT_MAX_PAYLOAD);
    }
    sl_frame f[1];
    size_t n = 1, consumed = 1;
    CHECK_EQ_I(sl_frame_scan(NULL, 0, 0, f, 1, &n, &consumed), 0); /* nothing at all is read */
    CHECK(n == 0 && consumed == 0);
}

TEST(frame_errors_still_report_the_frames_before_the_bad_one) {
    char buf[128];
    size_t len = 0;
    put(buf, &len, 0x10, 1, "hi", 2);
    put(buf, &len, SL_FRAME_PING, 0, "", 0);
    size_t good = len;
    put(buf, &len, 0x10, 0, "", 0);
    buf[good + 2] = 9; /* the third frame's version */
    scan_result r = scan_copy(buf, len, 0, 64);
    CHECK_EQ_I(r.rc, SL_FRAME_BAD_VERSION);
    CHECK_EQ_U(r.n, 2);
    CHECK_EQ_U(r.consumed, good);
    CHECK(r.f[0].len == 2 && memcmp(buf + r.f[0].off, "hi", 2) == 0 && r.f[1].type == SL_FRAME_PING);
    /* the same with the bad frame's first byte only */
    buf[good] = 0;
    r = scan_copy(buf, good + 1, 0, 64);
    CHECK(r.rc == SL_FRAME_BAD_MAGIC && r.n == 2 && r.consumed == good);
}

TEST(frame_max_payload_is_accepted_and_one_more_is_too_big) {
    char buf[SL_FRAME_HEADER + 101];
    memset(buf, 'x', sizeof buf);
    sl_frame_encode_header(buf, 0x10, 0, 100);
    scan_result r = scan_copy(buf, SL_FRAME_HEADER + 100, 100, 4);
    CHECK(r.rc == 0 && r.n == 1 && r.f[0].len == 100);
    r = scan_copy(buf, SL_FRAME_HEADER, 99, 4); /* too big before the payload arrives */
    CHECK(r.rc == SL_FRAME_TOO_BIG && r.n == 0 && r.consumed == 0);
    sl_frame_encode_header(buf, 0x10, 0, 101);
    CHECK_EQ_I(scan_copy(buf, SL_FRAME_HEADER + 101, 100, 4).rc, SL_FRAME_TOO_BIG);
    /* the largest maximum there is: nothing is too big */
    sl_frame_encode_header(buf, 0x10, 0, UINT32_MAX);
    r = scan_copy(buf, SL_FRAME_HEADER + 101, UINT32_MAX, 4);
    CHECK(r.rc == 0 && r.n == 0 && r.consumed == 0);
    CHECK_EQ_U(sl_frame_need(buf, SL_FRAME_HEADER), (size_t)UINT32_MAX + SL_FRAME_HEADER);
}

/* A PING or PONG over SL_FRAME_HEARTBEAT_MAX is refused on its header: the
 * payload is never waited for (nor held). */
TEST(frame_a_big_heartbeat_is_refused_on_its_header) {
    char h[SL_FRAME_HEADER + SL_FRAME_HEARTBEAT_MAX];
    memset(h, 'p', sizeof h);
    for (unsigned type = SL_FRAME_PING; type <= SL_FRAME_PONG; type++) {
        sl_frame_encode_header(h, type, 0, SL_FRAME_HEARTBEAT_MAX + 1);
        scan_result r = scan_copy(h, SL_FRAME_HEADER, 0, 4);
        CHECK(r.rc == SL_FRAME_BIG_HEARTBEAT && r.n == 0 && r.consumed == 0);
        r = scan_copy(h, 10, 0, 4); /* bytes 8-9 are 0 here: 65 shows at byte 11 */
        CHECK_EQ_I(r.rc, 0);
        sl_frame_encode_header(h, type, 0, 1u << 16); /* proved by byte 9, under the 1 MiB maximum */
        CHECK_EQ_I(scan_copy(h, 10, 0, 4).rc, SL_FRAME_BIG_HEARTBEAT);
        sl_frame_encode_header(h, type, 0, SL_FRAME_HEARTBEAT_MAX); /* at the limit: a frame */
        r = scan_copy(h, sizeof h, 0, 4);
        CHECK(r.rc == 0 && r.n == 1 && r.consumed == sizeof h);
    }
    sl_frame_encode_header(h, SL_FRAME_APP_MIN, 0,
                           SL_FRAME_HEARTBEAT_MAX + 1); /* an app frame may be bigger */
    CHECK_EQ_I(scan_copy(h, SL_FRAME_HEADER, 0, 4).rc, 0);
}

TEST(frame_error_names_are_distinct_and_never_null) {
    int codes[] = {0,
                   SL_FRAME_BAD_MAGIC,
                   SL_FRAME_BAD_VERSION,
                   SL_FRAME_BAD_TYPE,
                   SL_FRAME_BAD_RESERVED,
                   SL_FRAME_TOO_BIG,
                   SL_FRAME_BIG_HEARTBEAT,
                   -99};
    size_t n = sizeof codes / sizeof codes[0];
    for (size_t i = 0; i < n; i++) {
        REQUIRE(sl_frame_error_name(codes[i]) != NULL);
        for (size_t j = 0; j < i; j++)
            CHECK(strcmp(sl_frame_error_name(codes[i]), sl_frame_error_name(codes[j])));
    }
    CHECK(strcmp(sl_frame_error_name(SL_FRAME_BAD_MAGIC), "bad magic") == 0);
    CHECK(strcmp(sl_frame_error_name(12345), sl_frame_error_name(-99)) == 0);
}

/* Valid streams with random bytes changed, cut short or replaced: every
 * answer is a defined code, the frames lie inside the buffer one after the
 * other, and a prefix never disagrees with the whole. */
TEST(frame_mutated_input_gives_defined_answers) {
    char buf[512];
    for (uint32_t round = 0; round < 20000; round++) {
        rng_state = round * 2654435761u + 1;
        size_t len = 0;
        while (len < 400) {
            uint32_t plen = rng() % 40;
            len += sl_frame_encode_header(buf + len, random_type(), rng() & 0xFFFF, plen);
            for (uint32_t j = 0; j < plen; j++) buf[len++] = (char)rng();
        }
        uint32_t how = rng() % 4;
        if (how == 3)
            for (size_t i = 0; i < len; i++) buf[i] = (char)rng();
        else
            for (uint32_t m = rng() % 4; m > 0; m--) buf[rng() % len] = (char)rng();
        len = rng() % (len + 1);
        uint32_t max = rng() % 3 ? 64 : 0;
        size_t cap = 1 + rng() % 64;
        scan_result r = scan_copy(buf, len, max, cap);
        int defined = r.rc <= 0 && r.rc >= SL_FRAME_BIG_HEARTBEAT && r.n <= cap && r.consumed <= len;
        CHECKF(defined, "round %u: rc %d n %zu consumed %zu", round, r.rc, r.n, r.consumed);
        size_t end = 0;
        for (size_t i = 0; i < r.n && defined; i++) {
            int inside = r.f[i].off == end + SL_FRAME_HEADER && (size_t)r.f[i].off + r.f[i].len <= len &&
                         r.f[i].len <= (max ? max : SL_FRAME_DEFAULT_MAX_PAYLOAD);
            CHECKF(inside, "round %u frame %zu: off %u len %u", round, i, r.f[i].off, r.f[i].len);
            end = (size_t)r.f[i].off + r.f[i].len;
        }
        CHECKF(end == r.consumed, "round %u: frames end at %zu, consumed %zu", round, end, r.consumed);
        scan_result part = scan_copy(buf, rng() % (len + 1), max, cap);
        int agrees = part.n <= r.n && (part.rc == 0 || (part.rc == r.rc && part.consumed == r.consumed));
        CHECKF(agrees, "round %u: prefix says %d, whole %d", round, part.rc, r.rc);
        if (!defined || !agrees) break;
    }
}
