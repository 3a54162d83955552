/*
 * test_http1_parse.c - the HTTP/1.1 request parser: each rule of RFC
 * 9112/9110 it enforces, the same results however the bytes are split,
 * O(n) work when fed a byte at a time, and mutated input that only ever
 * gets one of the defined answers.
 *
 * Every parse reads from a malloc'd buffer of exactly len bytes, so a read
 * past len is an ASan report; a split feed moves the bytes to a new buffer
 * between the two calls, as a caller may.
 */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "harness.h"
#include "http1.h"

#define MAXH 128

typedef struct parsed {
    int rc;
    sl_http_request r;
    sl_http_header h[MAXH];
    char *buf; /* the bytes as the parser left them (chunked: decoded in place) */
    size_t len;
} parsed;

static void release(parsed *p) {
    free(p->buf);
    p->buf = NULL;
}

static char *dup_n(const char *s, size_t n) {
    char *b = malloc(n ? n : 1);
    if (!b) abort();
    memcpy(b, s, n);
    return b;
}

/* The whole request in one call. */
static int parse_lim(parsed *p, const char *req, size_t n, const sl_http_limits *lim) {
    memset(p, 0, sizeof *p);
    p->buf = dup_n(req, n);
    p->len = n;
    sl_http_request_reset(&p->r);
    return p->rc = sl_http_parse(&p->r, p->buf, n, p->h, MAXH, lim);
}

static int parse_str(parsed *p, const char *req) { return parse_lim(p, req, strlen(req), NULL); }

/* req[0 .. k), then all n bytes from a new buffer (the caller moved it). */
static int parse_split(parsed *p, const char *req, size_t n, size_t k, const sl_http_limits *lim) {
    memset(p, 0, sizeof *p);
    sl_http_request_reset(&p->r);
    char *first = dup_n(req, k);
    sl_http_parse(&p->r, first, k, p->h, MAXH, lim);
    p->buf = malloc(n ? n : 1);
    memcpy(p->buf, first, k); /* as the parser left them */
    memcpy(p->buf + k, req + k, n - k);
    free(first);
    p->len = n;
    return p->rc = sl_http_parse(&p->r, p->buf, n, p->h, MAXH, lim);
}

/* One byte more per call, each time from a new buffer of exactly that size. */
static int parse_bytewise(parsed *p, const char *req, size_t n, const sl_http_limits *lim) {
    memset(p, 0, sizeof *p);
    sl_http_request_reset(&p->r);
    for (size_t i = 1; i <= n; i++) {
        char *b = malloc(i);
        if (p->buf) memcpy(b, p->buf, i - 1);
        b[i - 1] = req[i - 1];
        free(p->buf);
        p->buf = b;
        p->rc = sl_http_parse(&p->r, b, i, p->h, MAXH, lim);
    }
    p->len = n;
    return p->rc;
}

/* HEAD_DONE is said once, by whichever call first sees the head end. */
static int norm(int rc) { return rc == SL_HTTP_HEAD_DONE ? SL_HTTP_NEED_MORE : rc; }

static int same(const parsed *a, const parsed *b) {
    if (norm(a->rc) != norm(b->rc)) return 0;
    if (a->rc == SL_HTTP_ERROR) return a->r.status == b->r.status;
    if (memcmp(&a->r, &b->r, offsetof(sl_http_request, error))) return 0;
    if (memcmp(a->h, b->h, a->r.n_headers * sizeof a->h[0])) return 0;
    return !a->r.body_len || !memcmp(a->buf + a->r.body_off, b->buf + b->r.body_off, a->r.body_len);
}

static int span_is(const parsed *p, uint64_t off, uint64_t len, const char *s) {
    return len == strlen(s) && off + len <= p->len && !memcmp(p->buf + off, s, len);
}

static int header_is(const parsed *p, uint32_t i, const char *name, const char *value) {
    return i < p->r.n_headers && span_is(p, p->h[i].name_off, p->h[i].name_len, name) &&
           span_is(p, p->h[i].value_off, p->h[i].value_len, value);
}

static int body_is(const parsed *p, const char *s) { return span_is(p, p->r.body_off, p->r.body_len, s); }

/* A request for a message: CR and LF shown, long ones cut. */
static const char *shown(const char *s) {
    static char out[200];
    size_t o = 0;
    for (; *s && o < sizeof out - 8; s++) {
        if (*s == '\r' || *s == '\n')
            o += (size_t)snprintf(out + o, 3, "\\%c", *s == '\r' ? 'r' : 'n');
        else if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
            o += (size_t)snprintf(out + o, 5, "\\x%02x", (unsigned char)*s);
        else
            out[o++] = *s;
    }
    out[o] = 0;
    return out;
}

/* The status a whole request gets: 0 for DONE, -1/-2 for NEED_MORE/HEAD_DONE. */
static int status_lim(const char *req, const sl_http_limits *lim) {
    parsed p;
    int rc = parse_lim(&p, req, strlen(req), lim);
    int st = rc == SL_HTTP_ERROR ? (int)p.r.status : rc == SL_HTTP_DONE ? 0 : -1 - rc;
    if (rc == SL_HTTP_ERROR && !p.r.error) st = 999;
    release(&p);
    return st;
}

#define CHECK_STATUS_LIM(req, want, lim)                                                                     \
    do {                                                                                                     \
        int got_ = status_lim((req), (lim));                                                                 \
        CHECKF(got_ == (want), "%s: got %d, want %d", shown(req), got_, (want));                             \
    } while (0)
#define CHECK_STATUS(req, want) CHECK_STATUS_LIM(req, want, NULL)

#define H11 " HTTP/1.1\r\nHost: h\r\n"

static const char typical_get[] = "GET /index.html?q=1 HTTP/1.1\r\n"
                                  "Host: example.com\r\n"
                                  "User-Agent: test/1.0\r\n"
                                  "Accept: */*\r\n"
                                  "Accept-Encoding: gzip, deflate\r\n"
                                  "Connection: keep-alive\r\n"
                                  "Cookie: a=1; b=2\r\n"
                                  "\r\n";

static const char post_cl[] = "POST /submit HTTP/1.1\r\n"
                              "Host: example.com\r\n"
                              "Content-Type: text/plain\r\n"
                              "Content-Length: 11\r\n"
                              "\r\n"
                              "hello world";

static const char chunked_ext_trailers[] = "POST /up HTTP/1.1\r\n"
                                           "Host: h\r\n"
                                           "Transfer-Encoding: chunked\r\n"
                                           "\r\n"
                                           "5;name=value;q=\"a b\"\r\n"
                                           "hello\r\n"
                                           "1 ; x\r\n"
                                           " \r\n"
                                           "A\n"
                                           "0123456789\n"
                                           "0;last\r\n"
                                           "X-Checksum: abc\r\n"
                                           "X-Other:\t1\r\n"
                                           "\r\n";

/* ---- the request line ---------------------------------------------------- */

TEST(http_parse_typical_get_fields) {
    parsed p;
    CHECK_EQ_I(parse_str(&p, typical_get), SL_HTTP_DONE);
    CHECK_EQ_U(p.r.method, SL_HTTP_GET);
    CHECK(span_is(&p, p.r.method_off, p.r.method_len, "GET"));
    CHECK(span_is(&p, p.r.target_off, p.r.target_len, "/index.html?q=1"));
    CHECK(span_is(&p, p.r.path_off, p.r.path_len, "/index.html?q=1"));
    CHECK(span_is(&p, p.r.authority_off, p.r.authority_len, "example.com"));
    CHECK_EQ_U(p.r.target_form, SL_HTTP_FORM_ORIGIN);
    CHECK_EQ_U(p.r.version_minor, 1);
    CHECK_EQ_U(p.r.n_headers, 6);
    CHECK(header_is(&p, 0, "Host", "example.com"));
    CHECK(header_is(&p, 3, "Accept-Encoding", "gzip, deflate"));
    CHECK(header_is(&p, 5, "Cookie", "a=1; b=2"));
    CHECK_EQ_U(p.r.flags, SL_HTTP_F_KEEP_ALIVE | SL_HTTP_F_HAS_HOST);
    CHECK_EQ_U(p.r.head_len, strlen(typical_get));
    CHECK_EQ_U(p.r.consumed, strlen(typical_get));
    CHECK_EQ_U(p.r.body_off, p.r.head_len);
    CHECK_EQ_U(p.r.body_len, 0);
    CHECK_EQ_U(p.r.status, 0);
    CHECK(p.r.error == NULL);
    release(&p);
}

TEST(http_parse_method_ids_are_case_sensitive) {
    static const struct {
        const char *name;
        unsigned id;
    } cases[] = {{"GET", SL_HTTP_GET},
                 {"HEAD", SL_HTTP_HEAD},
                 {"POST", SL_HTTP_POST},
                 {"PUT", SL_HTTP_PUT},
                 {"DELETE", SL_HTTP_DELETE},
                 {"OPTIONS", SL_HTTP_OPTIONS},
                 {"PATCH", SL_HTTP_PATCH},
                 {"TRACE", SL_HTTP_TRACE},
                 {"get", SL_HTTP_OTHER},
                 {"PROPFIND", SL_HTTP_OTHER},
                 {"M-SEARCH", SL_HTTP_OTHER},
                 {"GETS", SL_HTTP_OTHER},
                 {"X!#$%&'*+.^_`|~", SL_HTTP_OTHER}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char req[128];
        snprintf(req, sizeof req, "%s /" H11 "\r\n", cases[i].name);
        parsed p;
        CHECKF(parse_str(&p, req) == SL_HTTP_DONE, "%s", cases[i].name);
        CHECKF(p.r.method == cases[i].id, "%s: id %u", cases[i].name, p.r.method);
        CHECK(span_is(&p, p.r.method_off, p.r.method_len, cases[i].name));
        release(&p);
    }
    parsed p;
    CHECK_EQ_I(parse_str(&p, "CONNECT h:443" H11 "\r\n"), SL_HTTP_DONE);
    CHECK_EQ_U(p.r.method, SL_HTTP_CONNECT);
    release(&p);
}

TEST(http_parse_request_line_syntax_errors_are_400) {
    static const char *bad[] = {
        "GET  /" H11 "\r\n", /* two spaces */
        "GET /  HTTP/1.1\r\nHost: h\r\n\r\n",
        "GET\t/" H11 "\r\n",                  /* HTAB is not SP */
        "GET / HTTP/1.1 \r\nHost: h\r\n\r\n", /* trailing space */
        " GET /" H11 "\r\n",                  /* leading space */
        "GET /\r\nHost: h\r\n\r\n",           /* no version (HTTP/0.9) */
        "GET HTTP/1.1\r\nHost: h\r\n\r\n",    /* no target */
        "GE(T /" H11 "\r\n",                  /* not a token */
        "GET /a\x01" H11 "\r\n",              /* CTL in the target */
        "GET /a\x7f" H11 "\r\n",              /* DEL in the target */
        "GET / http/1.1\r\nHost: h\r\n\r\n",
        "GET / HTTP/1.1x\r\nHost: h\r\n\r\n",
        "GET / HTTP/1\r\nHost: h\r\n\r\n",
        "GET / HTTP/11.1\r\nHost: h\r\n\r\n",
        "GET / HTTP/1.a\r\nHost: h\r\n\r\n",
        "\x80GET /" H11 "\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) CHECK_STATUS(bad[i], 400);
}

TEST(http_parse_other_http_versions_are_505) {
    CHECK_STATUS("GET / HTTP/1.2\r\nHost: h\r\n\r\n", 505);
    CHECK_STATUS("GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505);
    CHECK_STATUS("GET / HTTP/0.9\r\n\r\n", 505);
    CHECK_STATUS("GET / HTTP/9.9\r\n\r\n", 505);
}

TEST(http_parse_http10_needs_no_host_and_closes) {
    parsed p;
    CHECK_EQ_I(parse_str(&p, "GET / HTTP/1.0\r\n\r\n"), SL_HTTP_DONE);
    CHECK_EQ_U(p.r.version_minor, 0);
    CHECK_EQ_U(p.r.flags, 0);
    CHECK_EQ_U(p.r.authority_len, 0);
    release(&p);
}

/* RFC 9112 §2.2: at least one empty line before the request line is ignored. */
TEST(http_parse_leading_empty_lines_skipped_bounded) {
    parsed p;
    CHECK_EQ_I(parse_str(&p, "\r\n\n\r\nGET /" H11 "\r\n"), SL_HTTP_DONE);
    CHECK_EQ_U(p.r.method_off, 5);
    CHECK(span_is(&p, p.r.target_off, p.r.target_len, "/"));
    release(&p);
    char req[256] = "";
    for (int i = 0; i < SL_HTTP_MAX_LEADING_EMPTY_LINES; i++) strcat(req, "\r\n");
    strcat(req, "GET /" H11 "\r\n");
    CHECK_STATUS(req, 0);
    char more[256] = "\r\n";
    strcat(more, req);
    CHECK_STATUS(more, 400);
}

TEST(http_parse_request_line_over_limit_is_414_before_its_end) {
    sl_http_limits lim;
    sl_http_limits_default(&lim);
    lim.max_request_line = 32;
    char line[64];
    memset(line, 'a', sizeof line);
    memcpy(line, "GET /", 5);
    parsed p;
    /* 32 bytes without a line end: still may end in time */
    CHECK_EQ_I(parse_lim(&p, line, 32, &lim), SL_HTTP_NEED_MORE);
    release(&p);
    /* ... and so may 32 + a CR */
    line[32] = '\r';
    CHECK_EQ_I(parse_lim(&p, line, 33, &lim), SL_HTTP_NEED_MORE);
    release(&p);
    /* 33 bytes of line: 414 now, no CRLF needed */
    line[32] = 'a';
    CHECK_EQ_I(parse_lim(&p, line, 33, &lim), SL_HTTP_ERROR);
    CHECK_EQ_U(p.r.status, 414);
    release(&p);
    /* exactly the limit, complete: fine */
    CHECK_STATUS_LIM("GET /aaaaaaaaaaaaaaaaaa HTTP/1.1\r\nHost: h\r\n\r\n", 0, &lim);
    CHECK_STATUS_LIM("GET /aaaaaaaaaaaaaaaaaaa HTTP/1.1\r\nHost: h\r\n\r\n", 414, &lim);
    /* the length is checked first: a long garbage line is 414, not 400 */
    CHECK_STATUS_LIM("G E T / aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n", 414, &lim);
}

TEST(http_parse_default_request_line_limit_is_8190) {
    static char req[8300];
    memset(req, 'a', sizeof req - 1);
    memcpy(req, "GET /", 5);
    strcpy(req + 8190 - 9, " HTTP/1.1\r\nHost: h\r\n\r\n");
    CHECK_STATUS(req, 0);
    memset(req, 'a', sizeof req - 1);
    memcpy(req, "GET /", 5);
    strcpy(req + 8191 - 9, " HTTP/1.1\r\nHost: h\r\n\r\n");
    CHECK_STATUS(req, 414);
}

/* ---- request-target forms (RFC 9112 §3.2) ---------------------------------- */

TEST(http_parse_absolute_form_scheme_and_authority) {
    parsed p;
    CHECK_EQ_I(parse_str(&p, "GET http://example.com:8080/a/b?c=d HTTP/1.1\r\nHost: other\r\n\r\n"),
               SL_HTTP_DONE);
    CHECK_EQ_U(p.r.target_form, SL_HTTP_FORM_ABSOLUTE);
    CHECK(span_is(&p, p.r.authority_off, p.r.authority_len, "example.com:8080")); /* not Host's */
    CHECK(span_is(&p, p.r.path_off, p.r.path_len, "/a/b?c=d"));
    CHECK(!(p.r.flags & SL_HTTP_F_HTTPS));
    release(&p);
    CHECK_EQ_I(parse_str(&p, "GET HTTPS://h?x HTTP/1.1\r\nHost: h\r\n\r\n"), SL_HTTP_DONE);
    CHECK(p.r.flags & SL_HTTP_F_HTTPS);
    CHECK(span_is(&p, p.r.authority_off, p.r.authority_len, "h"));
    CHECK(span_is(&p, p.r.path_off, p.r.path_len, "?x"));
    release(&p);
    CHECK_EQ_I(parse_str(&p, "OPTIONS http://h HTTP/1.1\r\nHost: h\r\n\r\n"), SL_HTTP_DONE);
    CHECK_EQ_U(p.r.path_len, 0);
    release(&p);
}

TEST(http_parse_absolute_form_other_scheme_or_no_authority_is_400) {
    CHECK_STATUS("GET ftp://h/x" H11 "\r\n", 400);
    CHECK_STATUS("GET http:///x" H11 "\r\n", 400);
    CHECK_STATUS("GET http:/x" H11 "\r\n", 400);
    CHECK_STATUS("GET http://" H11 "\r\n", 400);
    CHECK_STATUS("GET example.com/x" H11 "\r\n", 400);
    CHECK_STATUS("GET ?x" H11 "\r\n", 400);
}

TEST(http_parse_asterisk_form_only_with_options) {
    parsed p;
    CHECK_EQ_I(parse_str(&p, "OPTIONS *" H11 "\r\n"), SL_HTTP_DONE);
    CHECK_EQ_U(p.r.target_form, SL_HTTP_FORM_ASTERISK);
    CHECK(span_is(&p, p.r.path_off, p.r.path_len, "*"));
    CHECK(span_is(&p, p.r.authority_off, p.r.authority_len, "h"));
    release(&p);
    CHECK_STATUS("GET *" H11 "\r\n", 400);
    CHECK_STATUS("OPTIONS *x" H11 "\r\n", 400);
    CHECK_STATUS("OPTIONS /" H11 "\r\n", 0);
}

TEST(http_parse_authority_form_only_with_connect) {
    parsed p;
    CHECK_EQ_I(parse_str(&p, "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"),
               SL_HTTP_DONE);
    CHECK_EQ_U(p.r.target_form, SL_HTTP_FORM_AUTHORITY);
    CHECK(span_is(&p, p.r.authority_off, p.r.authority_len, "example.com:443"));
    CHECK_EQ_U(p.r.path_len, 0);
    release(&p);
    CHECK_STATUS("CONNECT [::1]:8080" H11 "\r\n", 0);
    CHECK_STATUS("CONNECT /x" H11 "\r\n", 400);
    CHECK_STATUS("CONNECT http://h:1/" H11 "\r\n", 400);
    CHECK_STATUS("CONNECT h" H11 "\r\n", 400);
    CHECK_STATUS("CONNECT h:" H11 "\r\n", 400);
    CHECK_STATUS("CONNECT :443" H11 "\r\n", 400);
    CHECK_STATUS("CONNECT h:44a" H11 "\r\n", 400);
    CHECK_STATUS("CONNECT u@h:443" H11 "\r\n", 400);
    CHECK_STATUS("GET h:443" H11 "\r\n", 400);
}

/* ---- line ends --------------------------------------------------------------- */

TEST(http_parse_bare_lf_ends_lines) {
    parsed p;
    CHECK_EQ_I(parse_str(&p, "GET /x HTTP/1.1\nHost: h\nA: b \n\n"), SL_HTTP_DONE);
    CHECK(header_is(&p, 1, "A", "b"));
    CHECK_EQ_U(p.r.head_len, 31);
    release(&p);
    CHECK_STATUS("GET / HTTP/1.1\r\nHost: h\n\r\n", 0);
}

TEST(http_parse_bare_cr_anywhere_is_400) {
    CHECK_STATUS("GET / HTTP/1.1\rHost: h\r\n\r\n", 400);
    CHECK_STATUS("GET /\r HTTP/1.1\r\nHost: h\r\n\r\n", 400);
    CHECK_STATUS("GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n", 400);
    CHECK_STATUS("GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n", 400);
    CHECK_STATUS("GET / HTTP/1.1\r\nHost: h\r\n\rX: y\r\n\r\n", 400);
    CHECK_STATUS("GET / HTTP/1.1\r\nHost: h\r\n\r\r\n", 400);
    CHECK_STATUS("GET / HTTP/1.1\r\r\nHost: h\r\n\r\n", 400);
    CHECK_STATUS("\rGET / HTTP/1.1\r\nHost: h\r\n\r\n", 400);
}

/* ---- header fields ------------------------------------------------------------- */

TEST(http_parse_header_value_ows_trimmed_obs_text_kept) {
    parsed p;
    CHECK_EQ_I(parse_str(&p, "GET /" H11 "A:  \t x y\t \r\nB:\r\nC:\xff\x80 z\r\nD: \t \r\n\r\n"),
               SL_HTTP_DONE);
    CHECK(header_is(&p, 1, "A", "x y"));
    CHECK(header_is(&p, 2, "B", ""));
    CHECK(header_is(&p, 3, "C", "\xff\x80 z"));
    CHECK(header_is(&p, 4, "D", ""));
    release(&p);
}

TEST(http_parse_header_name_rules_are_400) {
    CHECK_STATUS("GET /" H11 ": x\r\n\r\n", 400);      /* empty name */
    CHECK_STATUS("GET /" H11 "A : x\r\n\r\n", 400);    /* SP before the colon */
    CHECK_STATUS("GET /" H11 "A\t: x\r\n\r\n", 400);   /* HTAB before the colon */
    CHECK_STATUS("GET /" H11 "A(b: x\r\n\r\n", 400);   /* not a tchar */
    CHECK_STATUS("GET /" H11 "No colon\r\n\r\n", 400); /* no colon */
    CHECK_STATUS("GET /" H11 "Nocolon\r\n\r\n", 400);
    CHECK_STATUS("GET /" H11 "\x80: x\r\n\r\n", 400);
    CHECK_STATUS("GET /" H11 "!#$%&'*+-.^_`|~09az: x\r\n\r\n", 0);
}

TEST(http_parse_obs_fold_is_400) {
    CHECK_STATUS("GET /" H11 "A: b\r\n c\r\n\r\n", 400);
    CHECK_STATUS("GET /" H11 "A: b\r\n\tc\r\n\r\n", 400);
    CHECK_STATUS("GET / HTTP/1.1\r\n Host: h\r\n\r\n", 400);
}

TEST(http_parse_ctl_in_value_is_400_htab_allowed) {
    static const char ctl[] = {0x01, 0x08, 0x0b, 0x0c, 0x1b, 0x1f, 0x7f};
    for (size_t i = 0; i < sizeof ctl; i++) {
        char req[64];
        snprintf(req, sizeof req, "GET /" H11 "A: x%cy\r\n\r\n", ctl[i]);
        CHECK_STATUS(req, 400);
    }
    parsed p;
    static const char nul[] = "GET /" H11 "A: x\0y\r\n\r\n";
    CHECK_EQ_I(parse_lim(&p, nul, sizeof nul - 1, NULL), SL_HTTP_ERROR);
    CHECK_EQ_U(p.r.status, 400);
    release(&p);
    CHECK_STATUS("GET /" H11 "A: x\ty\r\n\r\n", 0);
}

TEST(http_parse_header_line_over_limit_is_431_before_its_end) {
    sl_http_limits lim;
    sl_http_limits_default(&lim);
    lim.max_header_line = 10;
    CHECK_STATUS_LIM("GET /" H11 "A: 3456789\r\n\r\n", 0, &lim);
    CHECK_STATUS_LIM("GET /" H11 "A: 34567890\r\n\r\n", 431, &lim);
    CHECK_STATUS_LIM("GET /" H11 "A: 34567890", 431, &lim); /* no line end yet */
    CHECK_STATUS_LIM("GET /" H11 "A: 3456789", -1, &lim);
    CHECK_STATUS_LIM("GET /" H11 "A: 3456789\r", -1, &lim);
    CHECK_STATUS_LIM("GET /" H11 "A :345678xxx\r\n\r\n", 431, &lim); /* the length first */
}

TEST(http_parse_head_over_max_head_is_431) {
    sl_http_limits lim;
    sl_http_limits_default(&lim);
    /* "Host: h\r\n" (9) + "A: 12345\r\n" (10) = 19 header bytes */
    const char *req = "GET / HTTP/1.1\r\nHost: h\r\nA: 12345\r\n\r\n";
    lim.max_head = 19;
    CHECK_STATUS_LIM(req, 0, &lim);
    lim.max_head = 18;
    CHECK_STATUS_LIM(req, 431, &lim);
    lim.max_head = 17; /* 9 + 8 + at least an LF: over before the line ends */
    CHECK_STATUS_LIM("GET / HTTP/1.1\r\nHost: h\r\nA: 12345", 431, &lim);
    lim.max_head = 18;
    CHECK_STATUS_LIM("GET / HTTP/1.1\r\nHost: h\r\nA: 12345", -1, &lim);
    lim.max_head = 19; /* a CR that may start the blank line counts for nothing yet */
    CHECK_STATUS_LIM("GET / HTTP/1.1\r\nHost: h\r\nA: 12345\r\n\r", -1, &lim);
}

TEST(http_parse_too_many_headers_is_431) {
    sl_http_limits lim;
    sl_http_limits_default(&lim);
    lim.max_headers = 3;
    CHECK_STATUS_LIM("GET /" H11 "A: 1\r\nB: 2\r\n\r\n", 0, &lim);
    CHECK_STATUS_LIM("GET /" H11 "A: 1\r\nB: 2\r\nC: 3\r\n\r\n", 431, &lim);
    /* the caller's array is a limit too */
    sl_http_header h[2];
    sl_http_request r;
    char req[] = "GET /" H11 "A: 1\r\nB: 2\r\n\r\n";
    sl_http_request_reset(&r);
    CHECK_EQ_I(sl_http_parse(&r, req, strlen(req), h, 2, NULL), SL_HTTP_ERROR);
    CHECK_EQ_U(r.status, 431);
    /* no array at all: fine while there is no header */
    char req10[] = "GET / HTTP/1.0\r\n\r\n";
    sl_http_request_reset(&r);
    CHECK_EQ_I(sl_http_parse(&r, req10, strlen(req10), NULL, 0, NULL), SL_HTTP_DONE);
}

TEST(http_parse_default_limit_of_100_headers) {
    static char req[4096];
    strcpy(req, "GET / HTTP/1.1\r\nHost: h\r\n");
    for (int i = 1; i < 100; i++) strcat(req, "X: y\r\n");
    strcat(req, "\r\n");
    CHECK_STATUS(req, 0);
    req[strlen(req) - 2] = 0;
    strcat(req, "X: y\r\n\r\n");
    CHECK_STATUS(req, 431);
}

TEST(http_parse_host_required_once_on_http11) {
    CHECK_STATUS("GET / HTTP/1.1\r\n\r\n", 400);
    CHECK_STATUS("GET / HTTP/1.1\r\nX-Host: h\r\n\r\n", 400);
    CHECK_STATUS("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400);
    CHECK_STATUS("GET / HTTP/1.1\r\nhOsT: a\r\nHOST: b\r\n\r\n", 400);
    CHECK_STATUS("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400);
    CHECK_STATUS("GET http://h/ HTTP/1.1\r\n\r\n", 400);
    parsed p;
    CHECK_EQ_I(parse_str(&p, "GET / HTTP/1.1\r\nHost:\r\n\r\n"), SL_HTTP_DONE); /* empty is allowed */
    CHECK(p.r.flags & SL_HTTP_F_HAS_HOST);
    CHECK_EQ_U(p.r.authority_len, 0);
    release(&p);
}

/* ---- Connection, Upgrade, Expect ------------------------------------------------ */

TEST(http_parse_connection_tokens_decide_keep_alive) {
    static const struct {
        const char *req;
        uint32_t keep;
    } cases[] = {
        {"GET /" H11 "\r\n", 1},
        {"GET /" H11 "Connection: close\r\n\r\n", 0},
        {"GET /" H11 "Connection: CLOSE\r\n\r\n", 0},
        {"GET /" H11 "Connection: keep-alive, Close\r\n\r\n", 0},
        {"GET /" H11 "Connection: foo\r\nConnection: ,close,\r\n\r\n", 0},
        {"GET /" H11 "Connection: closed\r\n\r\n", 1},
        {"GET / HTTP/1.0\r\n\r\n", 0},
        {"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", 1},
        {"GET / HTTP/1.0\r\nConnection: x, keep-alive \r\n\r\n", 1},
        {"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", 0},
        {"GET / HTTP/1.0\r\nKeep-Alive: 5\r\n\r\n", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        parsed p;
        CHECKF(parse_str(&p, cases[i].req) == SL_HTTP_DONE, "%s", shown(cases[i].req));
        CHECKF(!!(p.r.flags & SL_HTTP_F_KEEP_ALIVE) == cases[i].keep, "%s", shown(cases[i].req));
        release(&p);
    }
}

TEST(http_parse_upgrade_needs_header_and_connection_token) {
    parsed p;
    parse_str(&p, "GET /" H11 "Connection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n");
    CHECK(p.r.flags & SL_HTTP_F_UPGRADE);
    release(&p);
    parse_str(&p, "GET /" H11 "Upgrade: websocket\r\n\r\n");
    CHECK(!(p.r.flags & SL_HTTP_F_UPGRADE));
    release(&p);
    parse_str(&p, "GET /" H11 "Connection: upgrade\r\n\r\n");
    CHECK(!(p.r.flags & SL_HTTP_F_UPGRADE));
    release(&p);
}

TEST(http_parse_expect_100_continue_else_417) {
    parsed p;
    const char *req = "PUT /x" H11 "Expect: 100-Continue\r\nContent-Length: 3\r\n\r\n";
    CHECK_EQ_I(parse_str(&p, req), SL_HTTP_HEAD_DONE);
    CHECK(p.r.flags & SL_HTTP_F_EXPECT_CONTINUE);
    release(&p);
    /* RFC 9110 §10.1.1: ignored on HTTP/1.0 */
    CHECK_EQ_I(parse_str(&p, "PUT /x HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n"),
               SL_HTTP_HEAD_DONE);
    CHECK(!(p.r.flags & SL_HTTP_F_EXPECT_CONTINUE));
    release(&p);
    CHECK_STATUS("PUT /x" H11 "Expect: 200-ok\r\nContent-Length: 3\r\n\r\n", 417);
    CHECK_STATUS("GET /x" H11 "Expect: 100-continue, x\r\n\r\n", 417);
    CHECK_STATUS("GET /x" H11 "Expect:\r\n\r\n", 417);
}

/* ---- Content-Length --------------------------------------------------------------- */

TEST(http_parse_content_length_body) {
    parsed p;
    CHECK_EQ_I(parse_str(&p, post_cl), SL_HTTP_DONE);
    CHECK_EQ_U(p.r.content_length, 11);
    CHECK(p.r.flags & SL_HTTP_F_HAS_BODY);
    CHECK(body_is(&p, "hello world"));
    CHECK_EQ_U(p.r.consumed, strlen(post_cl));
    CHECK_EQ_U(p.r.body_off, strlen(post_cl) - 11);
    release(&p);
    CHECK_EQ_I(parse_str(&p, "POST /" H11 "Content-Length: 0\r\n\r\nGET"), SL_HTTP_DONE);
    CHECK(!(p.r.flags & SL_HTTP_F_HAS_BODY));
    CHECK_EQ_U(p.r.consumed, p.r.head_len);
    release(&p);
}

TEST(http_parse_head_done_then_body_arrives) {
    size_t n = strlen(post_cl);
    parsed p;
    memset(&p, 0, sizeof p);
    p.buf = dup_n(post_cl, n);
    sl_http_request_reset(&p.r);
    CHECK_EQ_I(sl_http_parse(&p.r, p.buf, n - 11, p.h, MAXH, NULL), SL_HTTP_HEAD_DONE);
    CHECK_EQ_U(p.r.body_len, 0);
    CHECK_EQ_I(sl_http_parse(&p.r, p.buf, n - 5, p.h, MAXH, NULL), SL_HTTP_NEED_MORE);
    CHECK_EQ_U(p.r.body_len, 6);
    CHECK_EQ_I(sl_http_parse(&p.r, p.buf, n, p.h, MAXH, NULL), SL_HTTP_DONE);
    CHECK_EQ_U(p.r.body_len, 11);
    release(&p);
}

TEST(http_parse_content_length_syntax_and_overflow_are_400) {
    CHECK_STATUS("POST /" H11 "Content-Length: abc\r\n\r\n", 400);
    CHECK_STATUS("POST /" H11 "Content-Length: -1\r\n\r\n", 400);
    CHECK_STATUS("POST /" H11 "Content-Length: +1\r\n\r\n", 400);
    CHECK_STATUS("POST /" H11 "Content-Length: 1 2\r\n\r\n", 400);
    CHECK_STATUS("POST /" H11 "Content-Length: 0x10\r\n\r\n", 400);
    CHECK_STATUS("POST /" H11 "Content-Length:\r\n\r\n", 400);
    CHECK_STATUS("POST /" H11 "Content-Length: ,\r\n\r\n", 400);
    CHECK_STATUS("POST /" H11 "Content-Length: 18446744073709551616\r\n\r\n", 400);
    CHECK_STATUS("POST /" H11 "Content-Length: 99999999999999999999999\r\n\r\n", 400);
    /* the largest that fits is a valid length, refused by the body limit */
    CHECK_STATUS("POST /" H11 "Content-Length: 18446744073709551615\r\n\r\n", 413);
    CHECK_STATUS("POST /" H11 "Content-Length: 00003\r\n\r\nabc", 0);
}

TEST(http_parse_content_length_duplicates_must_agree) {
    CHECK_STATUS("POST /" H11 "Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc", 0);
    CHECK_STATUS("POST /" H11 "Content-Length: 3, 3,3\r\n\r\nabc", 0);
    CHECK_STATUS("POST /" H11 "Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400);
    CHECK_STATUS("POST /" H11 "Content-Length: 3, 4\r\n\r\nabcd", 400);
    CHECK_STATUS("POST /" H11 "Content-Length: 3\r\nContent-Length: 03\r\n\r\nabc", 0);
}

TEST(http_parse_content_length_with_transfer_encoding_is_400) {
    CHECK_STATUS("POST /" H11 "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400);
    CHECK_STATUS("POST /" H11 "Transfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n", 400);
    CHECK_STATUS("POST /" H11 "Transfer-Encoding: gzip\r\nContent-Length: 3\r\n\r\n", 400);
}

TEST(http_parse_content_length_over_max_body_is_413_at_head) {
    sl_http_limits lim;
    sl_http_limits_default(&lim);
    lim.max_body = 10;
    CHECK_STATUS_LIM("POST /" H11 "Content-Length: 10\r\n\r\n", -2, &lim);
    CHECK_STATUS_LIM("POST /" H11 "Content-Length: 11\r\n\r\n", 413, &lim); /* no body byte sent */
    CHECK_STATUS("POST /" H11 "Content-Length: 1048577\r\n\r\n", 413);
    CHECK_STATUS("POST /" H11 "Content-Length: 1048576\r\n\r\n", -2);
}

/* ---- Transfer-Encoding and chunked ----------------------------------------------- */

TEST(http_parse_transfer_encoding_other_than_chunked_is_501) {
    static const char *codings[] = {"gzip",        "identity", "gzip, chunked", "chunked, chunked",
                                    "chunked;q=1", "x-chunked"};
    for (size_t i = 0; i < sizeof codings / sizeof codings[0]; i++) {
        char req[128];
        snprintf(req, sizeof req, "POST /" H11 "Transfer-Encoding: %s\r\n\r\n", codings[i]);
        CHECK_STATUS(req, 501);
    }
    CHECK_STATUS("POST /" H11 "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 501);
    CHECK_STATUS("POST /" H11 "Transfer-Encoding:\r\n\r\n", 400);
    CHECK_STATUS("POST /" H11 "Transfer-Encoding: CHUNKED\r\n\r\n0\r\n\r\n", 0);
    CHECK_STATUS("POST /" H11 "Transfer-Encoding: Chunked , \r\n\r\n0\r\n\r\n", 0);
}

/* RFC 9112 §3.2: a Host with an invalid value is 400 (a MUST) */
TEST(http_parse_an_invalid_host_is_400) {
    static const char *bad[] = {"a b", "a/b", "user@h", "h?x", "h#f", "h\\x", "h\"x", "h<x>"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char req[128];
        snprintf(req, sizeof req, "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", bad[i]);
        CHECK_STATUS(req, 400);
    }
    static const char *good[] = {"example.com",           "h:8080", "[::1]:80", "127.0.0.1",
                                 "xn--bcher-kva.example", ""};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        char req[128];
        snprintf(req, sizeof req, "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", good[i]);
        CHECK_STATUS(req, 0);
    }
}

/* RFC 9112 §6.3: chunked, then another coding: the length cannot be known */
TEST(http_parse_chunked_not_the_final_coding_is_400) {
    CHECK_STATUS("POST /" H11 "Transfer-Encoding: chunked, gzip\r\n\r\n", 400);
    CHECK_STATUS("POST /" H11 "Transfer-Encoding: gzip, chunked, identity\r\n\r\n", 400);
    CHECK_STATUS("POST /" H11 "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n", 400);
    CHECK_STATUS("POST /" H11 "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n", 501);
}

TEST(http_parse_transfer_encoding_on_http10_is_400) {
    CHECK_STATUS("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400);
    CHECK_STATUS("POST / HTTP/1.0\r\nTransfer-Encoding: gzip\r\n\r\n", 400);
}

TEST(http_parse_chunked_body_decoded_in_place) {
    parsed p;
    const char *req = "POST /" H11 "Transfer-Encoding: chunked\r\n\r\n"
                      "3\r\nabc\r\n10\r\n0123456789abcdef\r\n1\r\nZ\r\n0\r\n\r\nNEXT";
    CHECK_EQ_I(parse_str(&p, req), SL_HTTP_DONE);
    CHECK_EQ_U(p.r.flags & (SL_HTTP_F_CHUNKED | SL_HTTP_F_HAS_BODY), SL_HTTP_F_CHUNKED | SL_HTTP_F_HAS_BODY);
    CHECK(body_is(&p, "abc0123456789abcdefZ"));
    CHECK_EQ_U(p.r.body_off, p.r.head_len);
    CHECK_EQ_U(p.r.consumed, strlen(req) - 4);
    CHECK(!memcmp(p.buf + p.r.consumed, "NEXT", 4)); /* nothing past consumed is touched */
    CHECK_EQ_U(p.r.content_length, 0);
    release(&p);
}

TEST(http_parse_chunked_extensions_and_trailers_dropped) {
    parsed p;
    CHECK_EQ_I(parse_str(&p, chunked_ext_trailers), SL_HTTP_DONE);
    CHECK(body_is(&p, "hello 0123456789"));
    CHECK_EQ_U(p.r.consumed, strlen(chunked_ext_trailers));
    CHECK_EQ_U(p.r.n_headers, 2); /* the trailers are not headers */
    release(&p);
}

TEST(http_parse_chunked_bad_framing_is_400) {
    static const char *bodies[] = {
        "g\r\n",                          /* bad hex */
        "\r\n",                           /* no size */
        "-1\r\n",                         /* not hex */
        "3 \r\nabc\r\n0\r\n\r\n",         /* whitespace without an extension */
        "3x\r\nabc\r\n0\r\n\r\n",         /* junk after the size */
        "3;a\x01\r\nabc\r\n",             /* CTL in an extension */
        "3\r\nabcX\r\n",                  /* no CRLF after the data */
        "3\r\nabc\rX",                    /* CR, then not LF */
        "3\r\r\nabc\r\n",                 /* bare CR in the size line */
        "10000000000000000\r\n",          /* 2^64: overflows */
        "3\r\nabc\r\n0\r\nA : b\r\n\r\n", /* bad trailer */
        "3\r\nabc\r\n0\r\n x\r\n\r\n",    /* folded trailer */
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        char req[256];
        snprintf(req, sizeof req, "POST /" H11 "Transfer-Encoding: chunked\r\n\r\n%s", bodies[i]);
        CHECK_STATUS(req, 400);
    }
    CHECK_STATUS("POST /" H11 "Transfer-Encoding: chunked\r\n\r\n000000000000000000003\r\nabc\r\n0\r\n\r\n",
                 0);
}

TEST(http_parse_chunk_size_line_bounded) {
    static char req[SL_HTTP_MAX_CHUNK_LINE + 200];
    int n = snprintf(req, sizeof req, "POST /" H11 "Transfer-Encoding: chunked\r\n\r\n1;");
    memset(req + n, 'x', SL_HTTP_MAX_CHUNK_LINE - 2);
    strcpy(req + n + SL_HTTP_MAX_CHUNK_LINE - 2, "\r\na\r\n0\r\n\r\n");
    CHECK_STATUS(req, 0);
    req[n + SL_HTTP_MAX_CHUNK_LINE - 2] = 'x'; /* one byte more, and no line end yet */
    req[n + SL_HTTP_MAX_CHUNK_LINE - 1] = 0;
    CHECK_STATUS(req, 400);
}

TEST(http_parse_chunked_body_over_max_body_is_413) {
    sl_http_limits lim;
    sl_http_limits_default(&lim);
    lim.max_body = 5;
    CHECK_STATUS_LIM("POST /" H11 "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n", 0,
                     &lim);
    CHECK_STATUS_LIM("POST /" H11 "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n3\r\n", 413, &lim);
    CHECK_STATUS_LIM("POST /" H11 "Transfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n", 413, &lim);
}

TEST(http_parse_trailers_bounded_by_limits) {
    sl_http_limits lim;
    sl_http_limits_default(&lim);
    lim.max_header_line = 30; /* the head: 9 + 28 bytes, its longest line 26 */
    lim.max_head = 40;
    const char *head = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n";
    const char *x20 = "12345678901234567890", *x28 = "1234567890123456789012345678";
    char req[256];
    snprintf(req, sizeof req, "%sA: %s\r\nB: 1\r\n\r\n", head, x20);
    CHECK_STATUS_LIM(req, 0, &lim);
    snprintf(req, sizeof req, "%sA: %s\r\n\r\n", head, x28); /* one line of 31 */
    CHECK_STATUS_LIM(req, 431, &lim);
    snprintf(req, sizeof req, "%sA: %s", head, x28);
    CHECK_STATUS_LIM(req, 431, &lim);
    snprintf(req, sizeof req, "%sA: %s\r\nB: %s\r\n\r\n", head, x20, x20); /* 25 + 25 bytes */
    CHECK_STATUS_LIM(req, 431, &lim);
}

/* ---- resumption ---------------------------------------------------------------------- */

static void check_every_split(const char *req, const sl_http_limits *lim) {
    size_t n = strlen(req);
    parsed whole, part;
    parse_lim(&whole, req, n, lim);
    CHECKF(whole.rc == SL_HTTP_DONE, "%s: rc %d", shown(req), whole.rc);
    for (size_t k = 0; k <= n; k++) {
        parse_split(&part, req, n, k, lim);
        CHECKF(same(&whole, &part), "%s: split at %zu differs", shown(req), k);
        release(&part);
    }
    parse_bytewise(&part, req, n, lim);
    CHECKF(same(&whole, &part), "%s: byte by byte differs", shown(req));
    release(&part);
    release(&whole);
}

TEST(http_parse_split_at_every_byte_get) {
    check_every_split(typical_get, NULL);
    check_every_split("\r\n\nGET http://a.b/c HTTP/1.0\nConnection: keep-alive\nX:\t y \n\n", NULL);
}

TEST(http_parse_split_at_every_byte_content_length) { check_every_split(post_cl, NULL); }

TEST(http_parse_split_at_every_byte_chunked_ext_trailers) {
    check_every_split(chunked_ext_trailers, NULL);
    check_every_split("PUT / HTTP/1.1\nHost: h\nTransfer-Encoding: chunked\n\n1\na\n0\n\n", NULL);
}

/* A body taken as it arrives (sl_http_take_body): req fed step bytes at a
 * time into a buffer that drops what was taken; the body pieces, joined,
 * are the whole body, and consumed points just past the request. */
typedef struct streamed {
    int rc;
    char body[256];
    size_t body_len, consumed, max_have;
} streamed;

static streamed stream_feed(const char *req, size_t n, size_t step, const sl_http_limits *lim) {
    streamed out = {0};
    sl_http_request r;
    sl_http_header h[MAXH];
    sl_http_request_reset(&r);
    size_t base = 0, have = 0; /* buf[0] is req[base] */
    char *buf = NULL;
    for (;;) {
        size_t k = n - base - have < step ? n - base - have : step;
        char *next = dup_n(req + base, have + k); /* a new buffer each call, as a caller may */
        free(buf);
        buf = next;
        have += k;
        if (have > out.max_have) out.max_have = have;
        out.rc = sl_http_parse(&r, buf, have, h, MAXH, lim);
        if (out.rc == SL_HTTP_ERROR) break;
        if (r.body_len && out.body_len + r.body_len <= sizeof out.body) {
            memcpy(out.body + out.body_len, buf + r.body_off, r.body_len);
            out.body_len += r.body_len;
        }
        size_t drop = sl_http_take_body(&r);
        if (out.rc == SL_HTTP_DONE) {
            out.consumed = base + drop + r.consumed; /* r.consumed: 0 now */
            break;
        }
        memmove(buf, buf + drop, have - drop);
        have -= drop;
        base += drop;
        if (base + have == n) break; /* all fed, not done */
    }
    free(buf);
    return out;
}

TEST(http_parse_take_body_streams_any_split) {
    static const struct {
        const char *req, *body;
    } cases[] = {
        {post_cl, "hello world"},
        {chunked_ext_trailers, "hello 0123456789"},
        {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: "
         "chunked\r\n\r\n3\r\nabc\r\n10\r\n0123456789abcdef\r\n"
         "0\r\n\r\nGET / HTTP/1.1\r\n",
         "abc0123456789abcdef"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        size_t n = strlen(cases[c].req), end = strstr(cases[c].req, "GET") ? n - 16 : n;
        for (size_t step = 1; step <= n; step++) {
            streamed s = stream_feed(cases[c].req, n, step, NULL);
            CHECKF(s.rc == SL_HTTP_DONE, "case %zu step %zu: rc %d", c, step, s.rc);
            CHECKF(s.body_len == strlen(cases[c].body) && !memcmp(s.body, cases[c].body, s.body_len),
                   "case %zu step %zu: body %.*s", c, step, (int)s.body_len, s.body);
            CHECKF(s.consumed == end, "case %zu step %zu: consumed %zu of %zu", c, step, s.consumed, end);
        }
    }
}

TEST(http_parse_take_body_keeps_the_buffer_small_and_the_limit_whole) {
    char req[4096];
    int n = snprintf(req, sizeof req, "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (int i = 0; i < 100; i++) n += snprintf(req + n, sizeof req - (size_t)n, "2\r\nab\r\n");
    n += snprintf(req + n, sizeof req - (size_t)n, "0\r\n\r\n");
    streamed s = stream_feed(req, (size_t)n, 7, NULL);
    CHECK_EQ_I(s.rc, SL_HTTP_DONE);
    CHECK_EQ_U(s.consumed, (size_t)n);
    CHECK(s.max_have < 80); /* the head, then a few chunks at most: taken bytes are gone */
    sl_http_limits lim;
    sl_http_limits_default(&lim);
    lim.max_body = 199; /* the body is 200 bytes: the pieces taken still count */
    CHECK_EQ_I(stream_feed(req, (size_t)n, 7, &lim).rc, SL_HTTP_ERROR);
    lim.max_body = 200;
    CHECK_EQ_I(stream_feed(req, (size_t)n, 7, &lim).rc, SL_HTTP_DONE);
    /* a Content-Length body the same: done after exactly its length */
    const char *cl = "PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nabcdeGET";
    s = stream_feed(cl, strlen(cl), 2, NULL);
    CHECK_EQ_I(s.rc, SL_HTTP_DONE);
    CHECK_EQ_U(s.consumed, strlen(cl) - 3);
    CHECK_EQ_U(s.body_len, 5);
}

TEST(http_parse_take_body_is_nothing_before_the_head_or_after_an_error) {
    sl_http_request r;
    sl_http_header h[MAXH];
    sl_http_request_reset(&r);
    char *buf = dup_n("POST / HTTP/1.1\r\nHost", 21);
    CHECK_EQ_I(sl_http_parse(&r, buf, 21, h, MAXH, NULL), SL_HTTP_NEED_MORE);
    CHECK_EQ_U(sl_http_take_body(&r), 0);
    free(buf);
    sl_http_request_reset(&r);
    buf = dup_n("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: x\r\n\r\n", 48);
    CHECK_EQ_I(sl_http_parse(&r, buf, 48, h, MAXH, NULL), SL_HTTP_ERROR);
    CHECK_EQ_U(sl_http_take_body(&r), 0);
    free(buf);
}

/* Errors too: the same status whatever the split, limits decided early or not. */
TEST(http_parse_split_errors_agree) {
    sl_http_limits lim;
    sl_http_limits_default(&lim);
    lim.max_request_line = 20;
    lim.max_header_line = 30;
    lim.max_head = 40;
    const char *reqs[] = {
        "GET /aaaaaaaaaaaaaaaaaaaaaaaaa HTTP/1.1\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\nA: 1234567890123456789012345678\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\nA: 12345678901234567890\r\nB: 12345678901234567890\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\nA:\rx\r\n",
        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcd",
        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nA: "
        "1234567890123456789012345678\r\n",
    };
    for (size_t i = 0; i < sizeof reqs / sizeof reqs[0]; i++) {
        size_t n = strlen(reqs[i]);
        parsed whole, part;
        CHECK_EQ_I(parse_lim(&whole, reqs[i], n, &lim), SL_HTTP_ERROR);
        for (size_t k = 0; k <= n; k++) {
            parse_split(&part, reqs[i], n, k, &lim);
            CHECKF(same(&whole, &part), "%s: split at %zu: %u vs %u", shown(reqs[i]), k, whole.r.status,
                   part.r.status);
            release(&part);
        }
        release(&whole);
    }
}

/* A 60 KiB head fed one byte at a time: each call looks at the new byte
 * only (plus each line once when it ends), so the work is O(n). A parser
 * that re-scanned from the start (or from the line's start) would count
 * n^2/2 (or n * line) here; one that went back past the line it is on
 * would also fault: the pages before that line are made unreadable. */
TEST(http_parse_bytewise_feed_is_linear) {
    enum { NH = 1000 };
    sl_http_limits lim;
    sl_http_limits_default(&lim);
    lim.max_headers = NH + 1;
    lim.max_head = 1 << 20;
    size_t cap = 64 * 1024, page = (size_t)sysconf(_SC_PAGESIZE), fenced = 0;
    char *req = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    REQUIRE(req != MAP_FAILED);
    size_t n = (size_t)snprintf(req, cap, "GET / HTTP/1.1\r\nHost: h\r\n");
    for (int i = 0; i < NH; i++)
        n += (size_t)snprintf(req + n, cap - n, "X-Header-%04d: %045d\r\n", i, i); /* 62 bytes */
    n += (size_t)snprintf(req + n, cap - n, "\r\n");
    REQUIRE(n > 60 * 1024 && n < cap);
    sl_http_header *h = malloc((NH + 1) * sizeof *h);
    sl_http_request r;
    sl_http_request_reset(&r);
    int rc = SL_HTTP_NEED_MORE, moved_back = 0;
    uint64_t last_pos = 0;
    for (size_t i = 1; i <= n; i++) {
        rc = sl_http_parse(&r, req, i, h, NH + 1, &lim);
        if (i < n && rc != SL_HTTP_NEED_MORE) break;
        if (r.st.pos < last_pos) moved_back = 1;
        last_pos = r.st.pos;
        size_t below = (size_t)r.st.line / page * page;
        if (below > fenced) {
            CHECK(mprotect(req + fenced, below - fenced, PROT_NONE) == 0);
            fenced = below;
        }
    }
    CHECK(fenced > 14 * page);
    CHECK(mprotect(req, fenced, PROT_READ | PROT_WRITE) == 0);
    CHECK_EQ_I(rc, SL_HTTP_DONE);
    CHECK_EQ_U(r.n_headers, NH + 1);
    CHECK(!moved_back);
    CHECKF(r.st.work <= 2 * n, "work %ju for %zu bytes", (uintmax_t)r.st.work, n);
    /* and the same bytes whole do the same work */
    sl_http_request whole;
    sl_http_request_reset(&whole);
    CHECK_EQ_I(sl_http_parse(&whole, req, n, h, NH + 1, &lim), SL_HTTP_DONE);
    CHECK_EQ_U(whole.st.work, r.st.work);
    free(h);
    munmap(req, cap);
}

TEST(http_parse_pipelined_requests) {
    const char *stream =
        "GET /1 HTTP/1.1\r\nHost: h\r\n\r\n"
        "POST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nbody"
        "PUT /3 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"
        "\r\nGET /4 HTTP/1.0\r\n\r\n";
    static const char *targets[] = {"/1", "/2", "/3", "/4"};
    static const char *bodies[] = {"", "body", "ok", ""};
    size_t n = strlen(stream), off = 0;
    char *buf = dup_n(stream, n);
    sl_http_header h[8];
    for (int i = 0; i < 4; i++) {
        sl_http_request r;
        sl_http_request_reset(&r);
        char *b = buf + off;
        CHECK_EQ_I(sl_http_parse(&r, b, n - off, h, 8, NULL), SL_HTTP_DONE);
        CHECK(r.target_len == 2 && !memcmp(b + r.target_off, targets[i], 2));
        CHECK(r.body_len == strlen(bodies[i]) && !memcmp(b + r.body_off, bodies[i], r.body_len));
        off += r.consumed;
    }
    CHECK_EQ_U(off, n);
    free(buf);
}

TEST(http_parse_done_and_error_are_sticky) {
    char ok[] = "GET /" H11 "\r\nGET /";
    sl_http_request r;
    sl_http_header h[4];
    sl_http_request_reset(&r);
    CHECK_EQ_I(sl_http_parse(&r, ok, strlen(ok), h, 4, NULL), SL_HTTP_DONE);
    uint64_t consumed = r.consumed;
    CHECK_EQ_I(sl_http_parse(&r, ok, strlen(ok), h, 4, NULL), SL_HTTP_DONE);
    CHECK_EQ_U(r.consumed, consumed);
    char bad[] = "GET / HTTP/3.0\r\n\r\n";
    sl_http_request_reset(&r);
    CHECK_EQ_I(sl_http_parse(&r, bad, strlen(bad), h, 4, NULL), SL_HTTP_ERROR);
    CHECK_EQ_I(sl_http_parse(&r, bad, strlen(bad), h, 4, NULL), SL_HTTP_ERROR);
    CHECK_EQ_U(r.status, 505);
    CHECK(r.error != NULL);
}

TEST(http_parse_shrunk_buffer_is_an_error_not_a_read) {
    char req[] = "GET /abc HTTP/1.1\r\nHo";
    sl_http_request r;
    sl_http_header h[4];
    sl_http_request_reset(&r);
    CHECK_EQ_I(sl_http_parse(&r, req, strlen(req), h, 4, NULL), SL_HTTP_NEED_MORE);
    CHECK_EQ_I(sl_http_parse(&r, req, 5, h, 4, NULL), SL_HTTP_ERROR);
    CHECK_EQ_U(r.status, 500);
}

TEST(http_parse_limits_defaults) {
    sl_http_limits lim;
    sl_http_limits_default(&lim);
    CHECK_EQ_U(lim.max_request_line, 8190);
    CHECK_EQ_U(lim.max_header_line, 8190);
    CHECK_EQ_U(lim.max_head, 65536);
    CHECK_EQ_U(lim.max_headers, 100);
    CHECK_EQ_U(lim.max_body, 1 << 20);
}

/* ---- mutations ------------------------------------------------------------------------ */

static uint64_t rng_state = 0x9e3779b97f4a7c15u;
static uint64_t rnd(void) { /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1du;
}

static int valid_status(uint32_t s) {
    return s == 400 || s == 413 || s == 414 || s == 417 || s == 431 || s == 501 || s == 505;
}

/* Everything the parser handed back lies inside the bytes it was given. */
static int bounded(const parsed *p) {
    const sl_http_request *r = &p->r;
    size_t len = p->len;
    if (r->st.pos > len) return 0;
    if (p->rc == SL_HTTP_ERROR) return valid_status(r->status) && r->error;
    if (p->rc < SL_HTTP_NEED_MORE || p->rc > SL_HTTP_DONE) return 0;
    if ((uint64_t)r->method_off + r->method_len > len || (uint64_t)r->target_off + r->target_len > len ||
        (uint64_t)r->path_off + r->path_len > len || (uint64_t)r->authority_off + r->authority_len > len)
        return 0;
    for (uint32_t i = 0; i < r->n_headers; i++)
        if ((uint64_t)p->h[i].name_off + p->h[i].name_len > len ||
            (uint64_t)p->h[i].value_off + p->h[i].value_len > len)
            return 0;
    if (p->rc >= SL_HTTP_HEAD_DONE && (r->head_len > len || r->body_off + r->body_len > len)) return 0;
    if (p->rc == SL_HTTP_DONE && (r->consumed > len || r->body_off + r->body_len > r->consumed)) return 0;
    return 1;
}

TEST(http_parse_mutations_get_only_defined_answers) {
    static const char *seeds[] = {
        typical_get,
        post_cl,
        chunked_ext_trailers,
        "OPTIONS * HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nab",
        "CONNECT h:1 HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\nUpgrade: x\r\n\r\n",
        "\r\nGET http://h/x HTTP/1.0\nContent-Length: 1, 1\n\nz"};
    static const char specials[] = "\r\n\t :;,0fF\"\x00\x7f\x80\xff";
    sl_http_limits small;
    small.max_request_line = 24;
    small.max_header_line = 20;
    small.max_head = 64;
    small.max_headers = 4;
    small.max_body = 8;
    char m[1024];
    int answers[4] = {0};
    for (int iter = 0; iter < 20000; iter++) {
        const char *s = seeds[rnd() % (sizeof seeds / sizeof seeds[0])];
        size_t n = strlen(s);
        memcpy(m, s, n);
        for (int k = 1 + (int)(rnd() % 4); k > 0; k--) {
            size_t at = n ? rnd() % n : 0;
            char c = (rnd() & 1) ? specials[rnd() % (sizeof specials - 1)] : (char)rnd();
            switch (rnd() % 5) {
            case 0: /* replace */
                if (n) m[at] = c;
                break;
            case 1: /* insert */
                if (n < sizeof m - 1) {
                    memmove(m + at + 1, m + at, n - at);
                    m[at] = c;
                    n++;
                }
                break;
            case 2: /* delete */
                if (n) memmove(m + at, m + at + 1, n - at - 1), n--;
                break;
            case 3: { /* repeat a piece */
                size_t len = rnd() % 24;
                if (at + len <= n && n + len < sizeof m) {
                    memmove(m + at + len, m + at, n - at);
                    n += len;
                }
                break;
            }
            default: /* cut */
                n = at;
            }
        }
        const sl_http_limits *lim = (iter & 3) == 3 ? &small : NULL;
        parsed whole, part;
        parse_lim(&whole, m, n, lim);
        CHECKF(bounded(&whole), "iteration %d: rc %d out of bounds", iter, whole.rc);
        size_t k = n ? rnd() % (n + 1) : 0;
        parse_split(&part, m, n, k, lim);
        CHECKF(bounded(&part), "iteration %d: split rc %d out of bounds", iter, part.rc);
        CHECKF(same(&whole, &part), "iteration %d: split at %zu: rc %d/%d status %u/%u", iter, k, whole.rc,
               part.rc, whole.r.status, part.r.status);
        answers[whole.rc + 1]++;
        release(&whole);
        release(&part);
        if (harness_failures() > 5) break;
    }
    /* the mutations reach every answer, or the loop tests less than it says */
    CHECKF(answers[0] > 1000 && answers[1] > 100 && answers[3] > 1000, "error %d, more %d, head %d, done %d",
           answers[0], answers[1], answers[2], answers[3]);
}
