/*
 * http1_head.c - response heads: the status line, Date, Server, the length
 * header and Connection, then the caller's own lines (see http1.h).
 *
 * Python formats the headers only it knows about; the ones every response
 * carries are written here, in one pass into the caller's buffer.
 */
#include <string.h>
#include <time.h>

#include "http1.h"

/* RFC 9110 §15, with 103 (RFC 8297), 428 429 431 511 (RFC 6585) and 451 (RFC 7725). */
static const struct reason {
    uint16_t status;
    const char *text;
} reasons[] = {
    {100, "Continue"},
    {101, "Switching Protocols"},
    {103, "Early Hints"},
    {200, "OK"},
    {201, "Created"},
    {202, "Accepted"},
    {203, "Non-Authoritative Information"},
    {204, "No Content"},
    {205, "Reset Content"},
    {206, "Partial Content"},
    {300, "Multiple Choices"},
    {301, "Moved Permanently"},
    {302, "Found"},
    {303, "See Other"},
    {304, "Not Modified"},
    {305, "Use Proxy"},
    {307, "Temporary Redirect"},
    {308, "Permanent Redirect"},
    {400, "Bad Request"},
    {401, "Unauthorized"},
    {402, "Payment Required"},
    {403, "Forbidden"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {406, "Not Acceptable"},
    {407, "Proxy Authentication Required"},
    {408, "Request Timeout"},
    {409, "Conflict"},
    {410, "Gone"},
    {411, "Length Required"},
    {412, "Precondition Failed"},
    {413, "Content Too Large"},
    {414, "URI Too Long"},
    {415, "Unsupported Media Type"},
    {416, "Range Not Satisfiable"},
    {417, "Expectation Failed"},
    {421, "Misdirected Request"},
    {422, "Unprocessable Content"},
    {426, "Upgrade Required"},
    {428, "Precondition Required"},
    {429, "Too Many Requests"},
    {431, "Request Header Fields Too Large"},
    {451, "Unavailable For Legal Reasons"},
    {500, "Internal Server Error"},
    {501, "Not Implemented"},
    {502, "Bad Gateway"},
    {503, "Service Unavailable"},
    {504, "Gateway Timeout"},
    {505, "HTTP Version Not Supported"},
    {511, "Network Authentication Required"},
};

const char *sl_http_reason(unsigned status) { /* a binary search: the table is sorted */
    size_t lo = 0, hi = sizeof reasons / sizeof reasons[0];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (reasons[mid].status == status) return reasons[mid].text;
        if (reasons[mid].status < status)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* ---- Date -------------------------------------------------------------- */

#define DATE_LEN 29           /* "Sun, 06 Nov 1994 08:49:37 GMT" */
#define DATE_MAX 253402300799 /* 9999-12-31 23:59:59: IMF-fixdate has four year digits */

/* Per thread: a worker may run loops on several threads. */
static _Thread_local struct {
    int valid;
    int64_t second;
    char text[DATE_LEN + 1];
} date_cache;

static void put2(char *p, unsigned v) {
    p[0] = (char)('0' + v / 10);
    p[1] = (char)('0' + v % 10);
}

/* Days since 1970-01-01 to y-m-d, the proleptic Gregorian calendar (days >=
 * 0 here, so no era below zero): H. Hinnant's civil_from_days. */
static void civil_from_days(int64_t days, unsigned *y, unsigned *m, unsigned *d) {
    days += 719468; /* from 0000-03-01 */
    int64_t era = days / 146097;
    unsigned doe = (unsigned)(days - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (unsigned)(yoe + era * 400) + (*m <= 2);
}

static void format_date(char *out, int64_t t) {
    static const char wdays[] = "SunMonTueWedThuFriSat";
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    int64_t days = t / 86400;
    unsigned secs = (unsigned)(t % 86400), y, m, d;
    civil_from_days(days, &y, &m, &d);
    memcpy(out, wdays + 3 * ((days + 4) % 7), 3); /* 1970-01-01 was a Thursday */
    memcpy(out + 3, ", ", 2);
    put2(out + 5, d);
    out[7] = ' ';
    memcpy(out + 8, months + 3 * (m - 1), 3);
    out[11] = ' ';
    put2(out + 12, y / 100);
    put2(out + 14, y % 100);
    out[16] = ' ';
    put2(out + 17, secs / 3600);
    out[19] = ':';
    put2(out + 20, secs / 60 % 60);
    out[22] = ':';
    put2(out + 23, secs % 60);
    memcpy(out + 25, " GMT", 5); /* with the NUL */
}

const char *sl_http_date(int64_t unix_seconds, size_t *len) {
    int64_t t = unix_seconds < 0 ? 0 : unix_seconds > DATE_MAX ? DATE_MAX : unix_seconds;
    if (!date_cache.valid || date_cache.second != t) {
        format_date(date_cache.text, t);
        date_cache.second = t;
        date_cache.valid = 1;
    }
    if (len) *len = DATE_LEN;
    return date_cache.text;
}

/* ---- the head ------------------------------------------------------------ */

/* A bounded writer: once something does not fit, nothing more is written. */
typedef struct writer {
    char *p, *end;
    int full;
} writer;

static void put(writer *w, const char *s, size_t n) {
    if (!n) return; /* extra may be NULL with no bytes */
    if (w->full || (size_t)(w->end - w->p) < n) {
        w->full = 1;
        return;
    }
    memcpy(w->p, s, n);
    w->p += n;
}

#define PUT_LIT(w, lit) put((w), (lit), sizeof(lit) - 1)

static void put_u64(writer *w, uint64_t v) {
    char tmp[20], *q = tmp + sizeof tmp;
    do *--q = (char)('0' + v % 10);
    while (v /= 10);
    put(w, q, (size_t)(tmp + sizeof tmp - q));
}

/* A reason phrase or a Server value: HTAB, SP, VCHAR, obs-text (no CR/LF). */
static int text_ok(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 ? c != '\t' : c == 0x7f) return 0;
    }
    return 1;
}

/* Whether the extra header lines ("Name: value\r\n"...) have a field of
 * this name (lower case given; matched whatever the case): the caller's own
 * Date or Server replaces the one rendered here (no field twice). */
static int has_field(const char *extra, size_t n, const char *name, size_t len) {
    const char *p = extra, *end = extra + n;
    while ((size_t)(end - p) > len) {
        if ((p[0] | 0x20) == name[0] && p[len] == ':') {
            size_t i = 1;
            while (i < len && (p[i] | 0x20) == name[i]) i++;
            if (i == len) return 1;
        }
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl) break;
        p = nl + 1;
    }
    return 0;
}

size_t sl_http_render_head(char *out, size_t cap, unsigned status, const char *reason, size_t reason_len,
                           const char *extra, size_t extra_len, int64_t content_length, int version_minor,
                           int keep_alive, const char *server, size_t server_len) {
    /* A final answer: 1xx are interim (the client would wait on for the
     * answer), and there is no class past 5xx (RFC 9110 §15). */
    if (status < 200 || status > 599 || (version_minor != 0 && version_minor != 1)) return 0;
    if (content_length < -2 || (content_length == -1 && version_minor == 0)) return 0;
    if (!reason_len) {
        reason = sl_http_reason(status);
        if (!reason) reason = "Unknown";
        reason_len = strlen(reason);
    }
    if (!text_ok(reason, reason_len) || !text_ok(server, server_len)) return 0;

    writer w = {out, out ? out + cap : out, 0};
    char line[] = "HTTP/1.x SSS ";
    line[7] = (char)('0' + version_minor);
    line[9] = (char)('0' + status / 100);
    put2(line + 10, status % 100);
    put(&w, line, sizeof line - 1);
    put(&w, reason, reason_len);
    PUT_LIT(&w, "\r\n");
    if (!extra_len || !has_field(extra, extra_len, "date", 4)) {
        size_t date_len;
        const char *date = sl_http_date((int64_t)time(NULL), &date_len);
        PUT_LIT(&w, "Date: ");
        put(&w, date, date_len);
        PUT_LIT(&w, "\r\n");
    }
    if (server_len && (!extra_len || !has_field(extra, extra_len, "server", 6))) {
        PUT_LIT(&w, "Server: ");
        put(&w, server, server_len);
        PUT_LIT(&w, "\r\n");
    }
    if (content_length >= 0) {
        PUT_LIT(&w, "Content-Length: ");
        put_u64(&w, (uint64_t)content_length);
        PUT_LIT(&w, "\r\n");
    } else if (content_length == -1) {
        PUT_LIT(&w, "Transfer-Encoding: chunked\r\n");
    }
    if (!keep_alive)
        PUT_LIT(&w, "Connection: close\r\n");
    else if (version_minor == 0)
        PUT_LIT(&w, "Connection: keep-alive\r\n");
    put(&w, extra, extra_len);
    PUT_LIT(&w, "\r\n");
    return w.full ? 0 : (size_t)(w.p - out);
}
