/*
 * test_http1_head.c - response heads, reason phrases and the cached Date.
 *
 * The Date in a rendered head is the clock's, so the heads are compared
 * with their Date value cut out, and the value is checked to be the date of
 * a second during the call.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"
#include "http1.h"

static int date_matches_gmtime(int64_t t) {
    char want[64];
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(want, sizeof want, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    size_t len = 0;
    const char *got = sl_http_date(t, &len);
    int ok = len == 29 && strlen(want) == 29 && !memcmp(got, want, 29) && got[29] == 0;
    if (!ok) harness_fail(__FILE__, __LINE__, "%jd: got %.29s, want %s", (intmax_t)t, got, want);
    return ok;
}

TEST(http_date_matches_gmtime_at_fixed_points) {
    static const int64_t points[] = {
        0,            /* Thu, 01 Jan 1970 */
        784111777,    /* Sun, 06 Nov 1994 08:49:37 GMT: RFC 9110's example */
        946684799,    /* the last second of 1999 */
        946684800,    /* Sat, 01 Jan 2000 */
        951782400,    /* Tue, 29 Feb 2000: a leap day of a 400-year */
        951868799,    /* its last second */
        951868800,    /* Wed, 01 Mar 2000 */
        1078012800,   /* Sun, 29 Feb 2004 */
        1709164800,   /* Thu, 29 Feb 2024 */
        1735689599,   /* Tue, 31 Dec 2024 23:59:59 */
        1735689600,   /* Wed, 01 Jan 2025 */
        2147483647,   /* Tue, 19 Jan 2038 03:14:07: past 32-bit time_t */
        2147483648,   /* ... and one more */
        4107542399,   /* Sun, 28 Feb 2100 23:59:59: 2100 is no leap year */
        4107542400,   /* Mon, 01 Mar 2100 */
        253402300799, /* Fri, 31 Dec 9999 23:59:59 */
    };
    CHECK(!strcmp(sl_http_date(784111777, NULL), "Sun, 06 Nov 1994 08:49:37 GMT"));
    for (size_t i = 0; i < sizeof points / sizeof points[0]; i++) date_matches_gmtime(points[i]);
}

TEST(http_date_matches_gmtime_from_1970_to_2200) {
    /* a prime step, so every weekday, hour, minute and second comes round */
    for (int64_t t = 0; t < 4102444800 + 86400 * 366 * 100LL; t += 86400 * 3 + 3607)
        if (!date_matches_gmtime(t)) break;
}

TEST(http_date_clamps_to_four_digit_years) {
    CHECK(!strcmp(sl_http_date(-1, NULL), "Thu, 01 Jan 1970 00:00:00 GMT"));
    CHECK(!strcmp(sl_http_date(INT64_MIN, NULL), "Thu, 01 Jan 1970 00:00:00 GMT"));
    CHECK(!strcmp(sl_http_date(253402300800, NULL), "Fri, 31 Dec 9999 23:59:59 GMT"));
    CHECK(!strcmp(sl_http_date(INT64_MAX, NULL), "Fri, 31 Dec 9999 23:59:59 GMT"));
}

/* The cached text is formatted once per second: a mark written into it
 * survives a call for the same second and is gone after another second. */
TEST(http_date_cache_formats_only_when_the_second_changes) {
    const char *a = sl_http_date(1000000000, NULL);
    CHECK(!strcmp(a, "Sun, 09 Sep 2001 01:46:40 GMT"));
    ((char *)a)[0] = '#'; /* the cache is ours to scribble on in a test */
    const char *b = sl_http_date(1000000000, NULL);
    CHECK(b == a && b[0] == '#');
    const char *c = sl_http_date(1000000001, NULL);
    CHECK(!strcmp(c, "Sun, 09 Sep 2001 01:46:41 GMT"));
    CHECK(!strcmp(sl_http_date(1000000000, NULL), "Sun, 09 Sep 2001 01:46:40 GMT"));
}

static void *other_thread_date(void *arg) {
    const char *d = sl_http_date(0, NULL);
    *(int *)arg = !strcmp(d, "Thu, 01 Jan 1970 00:00:00 GMT");
    return (void *)d;
}

TEST(http_date_cache_is_per_thread) {
    const char *mine = sl_http_date(784111777, NULL);
    pthread_t t;
    int ok = 0;
    void *theirs = NULL;
    REQUIRE(pthread_create(&t, NULL, other_thread_date, &ok) == 0);
    pthread_join(t, &theirs);
    CHECK(ok);
    CHECK(theirs != (void *)mine);
    CHECK(!strcmp(mine, "Sun, 06 Nov 1994 08:49:37 GMT")); /* untouched by the other thread */
}

TEST(http_reason_phrases_of_rfc9110) {
    CHECK(!strcmp(sl_http_reason(100), "Continue"));
    CHECK(!strcmp(sl_http_reason(200), "OK"));
    CHECK(!strcmp(sl_http_reason(204), "No Content"));
    CHECK(!strcmp(sl_http_reason(308), "Permanent Redirect"));
    CHECK(!strcmp(sl_http_reason(404), "Not Found"));
    CHECK(!strcmp(sl_http_reason(413), "Content Too Large"));
    CHECK(!strcmp(sl_http_reason(414), "URI Too Long"));
    CHECK(!strcmp(sl_http_reason(417), "Expectation Failed"));
    CHECK(!strcmp(sl_http_reason(422), "Unprocessable Content"));
    CHECK(!strcmp(sl_http_reason(431), "Request Header Fields Too Large"));
    CHECK(!strcmp(sl_http_reason(501), "Not Implemented"));
    CHECK(!strcmp(sl_http_reason(505), "HTTP Version Not Supported"));
    CHECK(!strcmp(sl_http_reason(511), "Network Authentication Required"));
    CHECK(sl_http_reason(0) == NULL && sl_http_reason(299) == NULL && sl_http_reason(418) == NULL);
    CHECK(sl_http_reason(1000) == NULL && sl_http_reason(99) == NULL);
    /* every status the parser answers with has its phrase */
    static const unsigned parser_statuses[] = {400, 413, 414, 417, 431, 500, 501, 505};
    for (size_t i = 0; i < sizeof parser_statuses / sizeof parser_statuses[0]; i++)
        CHECK(sl_http_reason(parser_statuses[i]) != NULL);
    unsigned named = 0;
    for (unsigned s = 0; s < 1000; s++) named += sl_http_reason(s) != NULL;
    CHECK_EQ_U(named, 50);
}

/* Render into an exact-size heap buffer (ASan sees a write past cap) and
 * compare with want, where "<date>" stands for the Date value. */
static int renders(const char *want, unsigned status, const char *reason, const char *extra, int64_t cl,
                   int minor, int keep_alive, const char *server) {
    char out[1024];
    time_t before = time(NULL);
    size_t n = sl_http_render_head(out, sizeof out, status, reason, reason ? strlen(reason) : 0, extra,
                                   extra ? strlen(extra) : 0, cl, minor, keep_alive, server,
                                   server ? strlen(server) : 0);
    time_t after = time(NULL);
    const char *d = strstr(out, "\r\nDate: ");
    if (!n || !d || (size_t)(d - out) + 8 + 29 > n) {
        harness_fail(__FILE__, __LINE__, "rendered %zu bytes, no Date", n);
        return 0;
    }
    d += 8;
    int date_ok = 0;
    for (time_t t = before; t <= after; t++) date_ok |= !memcmp(d, sl_http_date(t, NULL), 29);
    char got[1100];
    snprintf(got, sizeof got, "%.*s<date>%.*s", (int)(d - out), out, (int)(n - (size_t)(d - out) - 29),
             d + 29);
    int ok = date_ok && !strcmp(got, want);
    if (!ok) harness_fail(__FILE__, __LINE__, "got [%s] want [%s] (date ok: %d)", got, want, date_ok);
    return ok;
}

TEST(http_head_http11_keep_alive_omits_connection) {
    CHECK(renders("HTTP/1.1 200 OK\r\nDate: <date>\r\nContent-Length: 5\r\n\r\n", 200, NULL, NULL, 5, 1, 1,
                  NULL));
}

TEST(http_head_close_and_http10_keep_alive_say_so) {
    CHECK(renders("HTTP/1.1 404 Not Found\r\nDate: <date>\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                  404, NULL, NULL, 0, 1, 0, NULL));
    CHECK(renders("HTTP/1.0 200 OK\r\nDate: <date>\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n",
                  200, NULL, NULL, 2, 0, 1, NULL));
    CHECK(renders("HTTP/1.0 200 OK\r\nDate: <date>\r\nContent-Length: 2\r\nConnection: close\r\n\r\n", 200,
                  NULL, NULL, 2, 0, 0, NULL));
}

TEST(http_head_chunked_or_no_length) {
    CHECK(renders("HTTP/1.1 200 OK\r\nDate: <date>\r\nTransfer-Encoding: chunked\r\n\r\n", 200, NULL, NULL,
                  -1, 1, 1, NULL));
    CHECK(renders("HTTP/1.1 204 No Content\r\nDate: <date>\r\n\r\n", 204, NULL, NULL, -2, 1, 1, NULL));
    CHECK(renders("HTTP/1.1 200 OK\r\nDate: <date>\r\nContent-Length: 9223372036854775807\r\n\r\n", 200, NULL,
                  NULL, INT64_MAX, 1, 1, NULL));
    char out[256];
    /* HTTP/1.0 has no chunked coding; below -2 means nothing */
    CHECK_EQ_U(sl_http_render_head(out, sizeof out, 200, NULL, 0, NULL, 0, -1, 0, 0, NULL, 0), 0);
    CHECK_EQ_U(sl_http_render_head(out, sizeof out, 200, NULL, 0, NULL, 0, -3, 1, 1, NULL, 0), 0);
}

TEST(http_head_server_and_extra_lines_verbatim) {
    CHECK(renders("HTTP/1.1 201 Created\r\nDate: <date>\r\nServer: sluice/0.1\r\nContent-Length: 3\r\n"
                  "Content-Type: text/plain\r\nX-A: b\r\n\r\n",
                  201, NULL, "Content-Type: text/plain\r\nX-A: b\r\n", 3, 1, 1, "sluice/0.1"));
}

/* A Date or Server of the caller's (any case) is the only one: none is added. */
TEST(http_head_callers_date_or_server_is_not_doubled) {
    char out[512];
    const char *extra = "X-A: date: no\r\nDATE: Mon, 01 Jan 2024 00:00:00 GMT\r\nserver: mine\r\n";
    size_t n = sl_http_render_head(out, sizeof out, 200, NULL, 0, extra, strlen(extra), 0, 1, 1, "sluice", 6);
    REQUIRE(n > 0 && n < sizeof out);
    out[n] = 0;
    const char *want =
        "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-A: date: no\r\nDATE: Mon, 01 Jan 2024 00:00:00 "
        "GMT\r\nserver: mine\r\n\r\n";
    CHECKF(!strcmp(out, want), "got [%s]", out);
    /* a name that only starts alike, or a value that says Date, keeps ours */
    CHECK(renders("HTTP/1.1 200 OK\r\nDate: <date>\r\nServer: s\r\nContent-Length: 0\r\nDater: x\r\n"
                  "X-Server: y\r\n\r\n",
                  200, NULL, "Dater: x\r\nX-Server: y\r\n", 0, 1, 1, "s"));
    CHECK(renders("HTTP/1.1 200 OK\r\nDate: <date>\r\nContent-Length: 0\r\nX: Date:\r\n\r\n", 200, NULL,
                  "X: Date:\r\n", 0, 1, 1, NULL));
}

TEST(http_head_reason_given_standard_or_unknown) {
    CHECK(renders("HTTP/1.1 200 Fine Thanks\r\nDate: <date>\r\nContent-Length: 0\r\n\r\n", 200, "Fine Thanks",
                  NULL, 0, 1, 1, NULL));
    CHECK(renders("HTTP/1.1 299 Unknown\r\nDate: <date>\r\nContent-Length: 0\r\n\r\n", 299, NULL, NULL, 0, 1,
                  1, NULL));
    CHECK(renders("HTTP/1.1 599 Unknown\r\nDate: <date>\r\nContent-Length: 0\r\n\r\n", 599, NULL, NULL, 0, 1,
                  1, NULL));
}

TEST(http_head_invalid_arguments_return_0) {
    char out[256];
    CHECK_EQ_U(sl_http_render_head(out, sizeof out, 99, NULL, 0, NULL, 0, 0, 1, 1, NULL, 0), 0);
    CHECK_EQ_U(sl_http_render_head(out, sizeof out, 1000, NULL, 0, NULL, 0, 0, 1, 1, NULL, 0), 0);
    /* not a final answer: an interim status, or past the fifth class */
    CHECK_EQ_U(sl_http_render_head(out, sizeof out, 100, NULL, 0, NULL, 0, -2, 1, 1, NULL, 0), 0);
    CHECK_EQ_U(sl_http_render_head(out, sizeof out, 199, NULL, 0, NULL, 0, 0, 1, 1, NULL, 0), 0);
    CHECK_EQ_U(sl_http_render_head(out, sizeof out, 600, NULL, 0, NULL, 0, 0, 1, 1, NULL, 0), 0);
    CHECK_EQ_U(sl_http_render_head(out, sizeof out, 999, NULL, 0, NULL, 0, 0, 1, 1, NULL, 0), 0);
    CHECK_EQ_U(sl_http_render_head(out, sizeof out, 0, NULL, 0, NULL, 0, 0, 1, 1, NULL, 0), 0);
    CHECK_EQ_U(sl_http_render_head(out, sizeof out, 200, NULL, 0, NULL, 0, 0, 2, 1, NULL, 0), 0);
    CHECK_EQ_U(sl_http_render_head(out, sizeof out, 200, NULL, 0, NULL, 0, 0, -1, 1, NULL, 0), 0);
    /* no header injection through the reason or the Server value */
    CHECK_EQ_U(sl_http_render_head(out, sizeof out, 200, "OK\r\nX: y", 9, NULL, 0, 0, 1, 1, NULL, 0), 0);
    CHECK_EQ_U(sl_http_render_head(out, sizeof out, 200, NULL, 0, NULL, 0, 0, 1, 1, "s\n", 2), 0);
    CHECK_EQ_U(sl_http_render_head(out, sizeof out, 200, "a\x7f", 2, NULL, 0, 0, 1, 1, NULL, 0), 0);
    CHECK(sl_http_render_head(out, sizeof out, 200, "a\tb \x80", 5, NULL, 0, 0, 1, 1, NULL, 0) > 0);
}

/* Every capacity short of the head's size gives 0 and writes nothing past
 * it; the exact size is enough. */
TEST(http_head_small_capacity_returns_0_never_writes_past) {
    const char *extra = "X-Long: 0123456789012345678901234567890123456789\r\n";
    char ref[512];
    size_t need =
        sl_http_render_head(ref, sizeof ref, 503, NULL, 0, extra, strlen(extra), 123456, 1, 0, "srv", 3);
    REQUIRE(need > 100);
    for (size_t cap = 0; cap <= need; cap++) {
        char *out = malloc(cap + 16);
        memset(out, '~', cap + 16);
        size_t n = sl_http_render_head(out, cap, 503, NULL, 0, extra, strlen(extra), 123456, 1, 0, "srv", 3);
        CHECKF(n == (cap == need ? need : 0), "cap %zu: %zu", cap, n);
        for (size_t i = cap; i < cap + 16; i++) CHECKF(out[i] == '~', "cap %zu: byte %zu written", cap, i);
        free(out);
    }
    CHECK_EQ_U(sl_http_render_head(NULL, 0, 200, NULL, 0, NULL, 0, 0, 1, 1, NULL, 0), 0);
}
