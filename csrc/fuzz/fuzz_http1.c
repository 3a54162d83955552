/*
 * fuzz_http1.c - a libFuzzer target for sl_http_parse (http1_parse.c).
 *
 * Built and run, bounded, by tests/test_fuzz.py:
 *   clang -fsanitize=fuzzer,address,undefined -g -O1 -Icsrc csrc/fuzz/fuzz_http1.c csrc/http1_parse.c
 *   ./a.out -runs=100000 csrc/fuzz/corpus_http
 *
 * Each input is one request's bytes, parsed four ways: whole, split in two
 * at a point taken from the first byte (the bytes moved to a new buffer in
 * between, as a caller may), one byte at a time, and streamed: a few bytes
 * per call with the body taken as it comes (sl_http_take_body) and the
 * taken bytes dropped from the buffer, which must give the same answer and,
 * joined, the same body. The last byte picks the
 * limits, so the 413/414/431 paths are reached by short inputs too. The
 * three must give the same answer and the same fields; everything handed
 * back must lie inside the bytes given, and nothing past len may be read
 * (exact-size buffers, and ASan poisoning for the byte-at-a-time feed).
 * Any answer is fine as long as it is one of the defined ones: the target
 * traps only on a broken invariant.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sanitizer/asan_interface.h>

#include "http1.h"

#define CAP 128 /* the headers array; some limit sets use less of it */

#define CHECK(cond)                                                                                          \
    do {                                                                                                     \
        if (!(cond)) __builtin_trap();                                                                       \
    } while (0)

typedef struct run {
    int rc;        /* the answer at the full length */
    int head_done; /* SL_HTTP_HEAD_DONE was returned (at most once) */
    sl_http_request r;
    sl_http_header h[CAP];
    unsigned char *buf; /* the bytes as the parser left them */
    size_t len;
} run;

typedef struct setting {
    int use_defaults; /* pass NULL */
    sl_http_limits lim;
    uint32_t cap;
} setting;

/* Four limit sets: the defaults, tiny ones, small ones with a headers array
 * shorter than max_headers, and the smallest that still let a request by. */
static setting pick_setting(uint8_t b) {
    setting s;
    memset(&s, 0, sizeof s);
    sl_http_limits_default(&s.lim);
    s.cap = CAP;
    switch (b & 3) {
    case 0:
        s.use_defaults = 1;
        break;
    case 1:
        s.lim = (sl_http_limits){40, 40, 120, 4, 32, 0};
        break;
    case 2:
        s.lim = (sl_http_limits){200, 100, 400, 10, 300, 0};
        s.cap = 6;
        break;
    default:
        s.lim = (sl_http_limits){16, 8, 16, 1, 0, 0};
        s.cap = 1;
        break;
    }
    return s;
}

static const sl_http_limits *limits_of(const setting *s) { return s->use_defaults ? NULL : &s->lim; }

static unsigned char *alloc_n(size_t n) {
    unsigned char *b = malloc(n ? n : 1);
    if (!b) abort();
    return b;
}

static int valid_status(uint32_t s) {
    return s == 400 || s == 413 || s == 414 || s == 417 || s == 431 || s == 501 || s == 505;
}

static int ows(unsigned char c) { return c == ' ' || c == '\t'; }

static int tchar(unsigned char c) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return 1;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static const char *const METHODS[] = {NULL,     "GET",     "HEAD",  "POST",  "PUT",
                                      "DELETE", "OPTIONS", "PATCH", "TRACE", "CONNECT"};

static int within(uint64_t off, uint64_t n, uint64_t len) { return off <= len && n <= len - off; }

/* The invariants of one answer, on the bytes as the parser left them. */
static void check_answer(const run *p, const uint8_t *data, const setting *s) {
    const sl_http_request *r = &p->r;
    size_t len = p->len;
    const sl_http_limits *lim = &s->lim;
    CHECK(p->rc >= SL_HTTP_ERROR && p->rc <= SL_HTTP_DONE);
    if (p->rc == SL_HTTP_ERROR) {
        CHECK(valid_status(r->status));
        CHECK(r->error != NULL);
        return;
    }
    CHECK(r->error == NULL && r->status == 0);
    CHECK(r->n_headers <= s->cap && r->n_headers <= lim->max_headers);
    for (uint32_t i = 0; i < r->n_headers; i++) {
        const sl_http_header *h = &p->h[i];
        CHECK(within(h->name_off, h->name_len, len) && within(h->value_off, h->value_len, len));
        CHECK(h->name_len > 0 && h->value_off >= h->name_off + h->name_len + 1);
        /* the head's bytes are the caller's, untouched */
        CHECK(!memcmp(p->buf + h->name_off, data + h->name_off, h->value_off + h->value_len - h->name_off));
        for (uint32_t j = 0; j < h->name_len; j++) CHECK(tchar(p->buf[h->name_off + j]));
        CHECK(p->buf[h->name_off + h->name_len] == ':');
        const unsigned char *v = p->buf + h->value_off;
        if (h->value_len) CHECK(!ows(v[0]) && !ows(v[h->value_len - 1]));
        for (uint32_t j = 0; j < h->value_len; j++) CHECK(v[j] != '\r' && v[j] != '\n' && v[j] != 0);
        CHECK(h->value_off + h->value_len - h->name_off <= lim->max_header_line);
        if (i) CHECK(h->name_off > p->h[i - 1].value_off + p->h[i - 1].value_len);
    }
    if (p->rc == SL_HTTP_NEED_MORE) return;

    /* the head is complete */
    CHECK(r->head_len <= len && r->body_off == r->head_len);
    CHECK(!memcmp(p->buf, data, r->head_len));
    CHECK(r->method_len > 0 && within(r->method_off, r->method_len, r->head_len));
    CHECK(r->target_len > 0 && within(r->target_off, r->target_len, r->head_len));
    CHECK(r->target_off == r->method_off + r->method_len + 1);
    uint64_t line_end = (uint64_t)r->target_off + r->target_len + 9; /* " HTTP/1.x" */
    CHECK(line_end - r->method_off <= lim->max_request_line);
    CHECK(r->method_off <= 2 * SL_HTTP_MAX_LEADING_EMPTY_LINES);
    CHECK(line_end + 2 <= r->head_len && r->head_len - line_end <= (uint64_t)lim->max_head + 4);
    CHECK(!memcmp(p->buf + r->target_off + r->target_len, " HTTP/1.", 8));
    CHECK(r->version_minor <= 1 && p->buf[line_end - 1] == '0' + r->version_minor);
    CHECK(r->method <= SL_HTTP_CONNECT);
    if (r->method != SL_HTTP_OTHER) {
        const char *m = METHODS[r->method];
        CHECK(r->method_len == strlen(m) && !memcmp(p->buf + r->method_off, m, r->method_len));
    }
    CHECK(within(r->path_off, r->path_len, r->head_len));
    CHECK(within(r->authority_off, r->authority_len, r->head_len));
    switch (r->target_form) {
    case SL_HTTP_FORM_ORIGIN:
        CHECK(r->path_off == r->target_off && r->path_len == r->target_len && p->buf[r->path_off] == '/');
        break;
    case SL_HTTP_FORM_ABSOLUTE:
        CHECK(r->authority_len > 0 && r->path_off + r->path_len == r->target_off + r->target_len);
        break;
    case SL_HTTP_FORM_ASTERISK:
        CHECK(r->method == SL_HTTP_OPTIONS && r->target_len == 1 && p->buf[r->target_off] == '*');
        break;
    case SL_HTTP_FORM_AUTHORITY:
        CHECK(r->method == SL_HTTP_CONNECT && r->path_len == 0);
        break;
    default:
        CHECK(0);
    }
    if (r->version_minor == 1) CHECK(r->flags & SL_HTTP_F_HAS_HOST);
    if (r->flags & SL_HTTP_F_CHUNKED) {
        CHECK(r->version_minor == 1 && r->content_length == 0 && (r->flags & SL_HTTP_F_HAS_BODY));
        CHECK(r->body_len <= lim->max_body);
    } else {
        CHECK(!!(r->flags & SL_HTTP_F_HAS_BODY) == (r->content_length > 0));
        CHECK(r->content_length <= lim->max_body && r->body_len <= r->content_length);
    }
    CHECK(within(r->body_off, r->body_len, len));
    if (p->rc == SL_HTTP_HEAD_DONE) {
        if (!(r->flags & SL_HTTP_F_CHUNKED)) CHECK(r->body_len < r->content_length);
        return;
    }

    /* SL_HTTP_DONE */
    CHECK(r->body_off + r->body_len <= r->consumed && r->consumed <= len);
    if (!(r->flags & SL_HTTP_F_CHUNKED))
        CHECK(r->body_len == r->content_length && r->consumed == r->head_len + r->content_length);
    /* nothing at or past consumed is written */
    CHECK(!memcmp(p->buf + r->consumed, data + r->consumed, len - r->consumed));
}

/* The same answer and the same fields, however the bytes came. */
static void check_same(const run *a, const run *b) {
    int ca = a->rc == SL_HTTP_HEAD_DONE ? SL_HTTP_NEED_MORE : a->rc;
    int cb = b->rc == SL_HTTP_HEAD_DONE ? SL_HTTP_NEED_MORE : b->rc;
    CHECK(ca == cb);
    if (a->rc == SL_HTTP_ERROR) {
        CHECK(a->r.status == b->r.status);
        return;
    }
    /* the head ended in both or in neither */
    CHECK((a->head_done || a->rc == SL_HTTP_DONE) == (b->head_done || b->rc == SL_HTTP_DONE));
    const sl_http_request *x = &a->r, *y = &b->r;
    CHECK(x->n_headers == y->n_headers);
    CHECK(!memcmp(a->h, b->h, x->n_headers * sizeof a->h[0]));
    if (!a->head_done && a->rc != SL_HTTP_DONE) return; /* the head is not complete */
    CHECK(x->method_off == y->method_off && x->method_len == y->method_len);
    CHECK(x->target_off == y->target_off && x->target_len == y->target_len);
    CHECK(x->path_off == y->path_off && x->path_len == y->path_len);
    CHECK(x->authority_off == y->authority_off && x->authority_len == y->authority_len);
    CHECK(x->version_minor == y->version_minor && x->method == y->method && x->target_form == y->target_form);
    CHECK(x->flags == y->flags && x->head_len == y->head_len && x->body_off == y->body_off);
    CHECK(x->content_length == y->content_length && x->body_len == y->body_len);
    CHECK(!memcmp(a->buf + x->body_off, b->buf + y->body_off, x->body_len));
    if (a->rc == SL_HTTP_DONE) CHECK(x->consumed == y->consumed);
}

/* One call, and the rules of the sequence of answers. */
static int feed(run *p, unsigned char *buf, size_t len, const setting *s) {
    int before = p->rc;
    int rc = sl_http_parse(&p->r, (char *)buf, len, p->h, s->cap, limits_of(s));
    if (before == SL_HTTP_DONE || before == SL_HTTP_ERROR) CHECK(rc == before); /* sticky */
    if (rc == SL_HTTP_HEAD_DONE) {
        CHECK(!p->head_done && before != SL_HTTP_DONE);
        p->head_done = 1;
    }
    CHECK(p->r.st.pos <= len);
    p->rc = rc;
    return rc;
}

static void run_init(run *p) {
    memset(p, 0, sizeof *p);
    sl_http_request_reset(&p->r);
    p->rc = SL_HTTP_NEED_MORE;
}

static void whole(run *p, const uint8_t *data, size_t n, const setting *s) {
    run_init(p);
    p->buf = alloc_n(n);
    memcpy(p->buf, data, n);
    p->len = n;
    feed(p, p->buf, n, s);
    /* called again with nothing new: the same answer (HEAD_DONE only once) */
    sl_http_request again = p->r;
    int rc = p->rc;
    feed(p, p->buf, n, s);
    CHECK(p->rc == (rc == SL_HTTP_HEAD_DONE ? SL_HTTP_NEED_MORE : rc));
    CHECK(again.body_len == p->r.body_len && again.n_headers == p->r.n_headers);
    p->rc = rc;
}

/* data[0 .. k), then all n bytes from a new buffer. */
static void split(run *p, const uint8_t *data, size_t n, size_t k, const setting *s) {
    run_init(p);
    unsigned char *first = alloc_n(k);
    memcpy(first, data, k);
    feed(p, first, k, s);
    p->buf = alloc_n(n);
    memcpy(p->buf, first, k); /* as the parser left them */
    memcpy(p->buf + k, data + k, n - k);
    free(first);
    p->len = n;
    feed(p, p->buf, n, s);
}

/* One byte more per call; the bytes not yet given are poisoned. */
static void bytewise(run *p, const uint8_t *data, size_t n, const setting *s) {
    run_init(p);
    p->buf = alloc_n(n);
    p->len = n;
    ASAN_POISON_MEMORY_REGION(p->buf, n);
    for (size_t i = 1; i <= n; i++) {
        ASAN_UNPOISON_MEMORY_REGION(p->buf, i);
        p->buf[i - 1] = data[i - 1];
        int before = p->rc;
        int rc = feed(p, p->buf, i, s);
        /* the request is complete exactly when its last byte arrives */
        if (rc == SL_HTTP_DONE && before != SL_HTTP_DONE) CHECK(p->r.consumed == i);
    }
    ASAN_UNPOISON_MEMORY_REGION(p->buf, n ? n : 1);
}

/* The body taken as it comes, step bytes more per call, into a buffer that
 * drops what sl_http_take_body says was taken (a new exact-size one each
 * call): the same answer as the whole parse, the pieces joined its body. */
static void streamed(const run *a, const uint8_t *data, size_t n, size_t step, const setting *s) {
    static sl_http_request r;
    static sl_http_header h[CAP];
    sl_http_request_reset(&r);
    unsigned char *buf = NULL, *body = alloc_n(n);
    size_t base = 0, have = 0, got = 0;
    int rc;
    for (;;) {
        size_t k = n - base - have < step ? n - base - have : step;
        unsigned char *next = alloc_n(have + k);
        if (have) memcpy(next, buf, have); /* as the parser left them */
        memcpy(next + have, data + base + have, k);
        free(buf);
        buf = next;
        have += k;
        rc = sl_http_parse(&r, (char *)buf, have, h, s->cap, limits_of(s));
        if (rc == SL_HTTP_ERROR) break;
        CHECK(within(r.body_off, r.body_len, have) && got + r.body_len <= n);
        memcpy(body + got, buf + r.body_off, r.body_len);
        got += r.body_len;
        size_t drop = sl_http_take_body(&r);
        CHECK(drop <= have);
        if (rc == SL_HTTP_DONE) {
            CHECK(r.consumed == 0 && base + drop == a->r.consumed);
            break;
        }
        memmove(buf, buf + drop, have - drop);
        have -= drop;
        base += drop;
        if (base + have == n) break; /* all given */
    }
    int ca = a->rc == SL_HTTP_HEAD_DONE ? SL_HTTP_NEED_MORE : a->rc;
    CHECK(ca == (rc == SL_HTTP_HEAD_DONE ? SL_HTTP_NEED_MORE : rc));
    if (rc == SL_HTTP_ERROR)
        CHECK(r.status == a->r.status);
    else
        CHECK(got == a->r.body_len && !memcmp(body, a->buf + a->r.body_off, got));
    free(buf);
    free(body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > (1u << 16)) return 0; /* -max_len keeps them short; this bounds the byte-at-a-time feed */
    setting s = pick_setting(size ? data[size - 1] : 0);
    size_t k = size ? (size_t)data[0] * size / 255 : 0;
    static run a, b, c; /* 3 x ~2 KiB: kept off the stack */

    whole(&a, data, size, &s);
    check_answer(&a, data, &s);
    /* bytes examined: O(n), with a constant of 2 (each byte, then its line) */
    CHECK(a.r.st.work <= 2 * (uint64_t)size);

    split(&b, data, size, k, &s);
    check_answer(&b, data, &s);
    check_same(&a, &b);

    bytewise(&c, data, size, &s);
    check_answer(&c, data, &s);
    check_same(&a, &c);
    CHECK(c.r.st.work <= 2 * (uint64_t)size);

    streamed(&a, data, size, size ? (data[0] & 63) + 1 : 1, &s);

    free(a.buf);
    free(b.buf);
    free(c.buf);
    return 0;
}
