/*
 * http1_parse.c - the incremental HTTP/1.1 request parser (see http1.h).
 *
 * Line by line: memchr finds the end of the line from the first byte not
 * yet scanned, and a complete line is checked once, by tight loops over a
 * byte-class table. An incomplete line only advances the scan position and
 * has its length checked, so limits are decided before the line ends and no
 * byte is looked at more than twice however the request is split. The body
 * phases (Content-Length, chunked) resume the same way; chunk data is moved
 * down over the chunk framing so the body ends up contiguous.
 */
#include <string.h>

#include "http1.h"

/* st.phase */
enum { PH_START, PH_HEAD, PH_BODY, PH_CHUNK_SIZE, PH_CHUNK_DATA, PH_CHUNK_END, PH_TRAILER, PH_DONE, PH_FAIL };

/* st.seen: what the headers said, settled when the head ends. */
enum {
    SEEN_CL = 1 << 0,
    SEEN_TE = 1 << 1,
    TE_UNSUPPORTED = 1 << 2,
    CONN_CLOSE = 1 << 3,
    CONN_KEEP_ALIVE = 1 << 4,
    CONN_UPGRADE = 1 << 5,
    SEEN_UPGRADE = 1 << 6,
    EXPECT_100 = 1 << 7,
    EXPECT_OTHER = 1 << 8,
    TE_NOT_LAST = 1 << 9, /* the last coding seen so far is not chunked */
    TE_CHUNKED = 1 << 10, /* chunked is among the codings */
};

/* tchar (RFC 9110 §5.6.2): ALPHA DIGIT and !#$%&'*+-.^_`|~ */
static const uint8_t tchar[256] = {
    // clang-format off
    0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
    0,1,0,1,1,1,1,1,0,0,1,1,0,1,1,0, 1,1,1,1,1,1,1,1,1,1,0,0,0,0,0,0,
    0,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1, 1,1,1,1,1,1,1,1,1,1,1,0,0,0,1,1,
    1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1, 1,1,1,1,1,1,1,1,1,1,1,0,1,0,1,0,
    // clang-format on
};

/* A field value byte: HTAB, SP, VCHAR or obs-text; no other CTL, no DEL. */
static inline int value_byte(unsigned char c) { return c >= 0x20 ? c != 0x7f : c == '\t'; }
/* A request-target byte: no CTL, no SP, no DEL (obs-text is let through). */
static inline int target_byte(unsigned char c) { return c > 0x20 && c != 0x7f; }
static inline int ows(unsigned char c) { return c == ' ' || c == '\t'; }
static inline int digit(unsigned char c) { return (unsigned)(c - '0') < 10u; }

/* p[0 .. n) equals the lower-case literal lit, ignoring ASCII case. c | 0x20
 * folds only letters here: the bytes compared were checked as tchar or
 * value bytes, and no other such byte folds onto a letter, '-' or a digit. */
static int ieq(const unsigned char *p, size_t n, const char *lit) {
    size_t i = 0;
    for (; i < n && lit[i]; i++)
        if ((p[i] | 0x20) != (unsigned char)lit[i]) return 0;
    return i == n && !lit[i];
}

static int fail(sl_http_request *r, unsigned status, const char *why) {
    r->status = status;
    r->error = why;
    r->st.phase = PH_FAIL;
    return SL_HTTP_ERROR;
}

void sl_http_limits_default(sl_http_limits *lim) {
    lim->max_request_line = SL_HTTP_DEFAULT_MAX_REQUEST_LINE;
    lim->max_header_line = SL_HTTP_DEFAULT_MAX_HEADER_LINE;
    lim->max_head = SL_HTTP_DEFAULT_MAX_HEAD;
    lim->max_headers = SL_HTTP_DEFAULT_MAX_HEADERS;
    lim->max_body = SL_HTTP_DEFAULT_MAX_BODY;
    lim->max_stream_body = SL_HTTP_DEFAULT_MAX_STREAM_BODY;
}

void sl_http_request_reset(sl_http_request *r) { memset(r, 0, sizeof *r); }

/* The line from st.line: 1 with its content end (before CR LF or a bare LF)
 * and the start of the next line, or 0 when its LF has not arrived (the
 * scan position is then at len: those bytes are not searched again). */
static int find_line(sl_http_state *st, const char *buf, size_t len, size_t *end, size_t *next) {
    const char *lf = memchr(buf + st->pos, '\n', len - st->pos);
    if (!lf) {
        st->work += len - st->pos;
        st->pos = len;
        return 0;
    }
    size_t e = (size_t)(lf - buf);
    st->work += e + 1 - st->pos;
    *next = e + 1;
    if (e > st->line && buf[e - 1] == '\r') e--;
    *end = e;
    return 1;
}

/* Bytes of an unfinished line that are surely its content (a last CR may
 * still turn out to be its end). The line's length is at least this. */
static size_t seen_of_line(const sl_http_state *st, const char *buf, size_t len) {
    size_t n = len - st->line;
    return n && buf[len - 1] == '\r' ? n - 1 : n;
}

/* Next element of a comma-separated list in [*p, e), OWS trimmed, empty
 * elements skipped (RFC 9110 §5.6.1). 0 at the end of the list. */
static int list_next(const unsigned char **p, const unsigned char *e, const unsigned char **s, size_t *n) {
    for (;;) {
        const unsigned char *q = *p;
        while (q < e && ows(*q)) q++;
        if (q == e) return 0;
        const unsigned char *start = q;
        while (q < e && *q != ',') q++;
        const unsigned char *end = q;
        while (end > start && ows(end[-1])) end--;
        *p = q < e ? q + 1 : q;
        if (end > start) {
            *s = start;
            *n = (size_t)(end - start);
            return 1;
        }
    }
}

static unsigned method_id(const char *m, size_t n) {
    switch (n) {
    case 3:
        if (!memcmp(m, "GET", 3)) return SL_HTTP_GET;
        if (!memcmp(m, "PUT", 3)) return SL_HTTP_PUT;
        break;
    case 4:
        if (!memcmp(m, "HEAD", 4)) return SL_HTTP_HEAD;
        if (!memcmp(m, "POST", 4)) return SL_HTTP_POST;
        break;
    case 5:
        if (!memcmp(m, "PATCH", 5)) return SL_HTTP_PATCH;
        if (!memcmp(m, "TRACE", 5)) return SL_HTTP_TRACE;
        break;
    case 6:
        if (!memcmp(m, "DELETE", 6)) return SL_HTTP_DELETE;
        break;
    case 7:
        if (!memcmp(m, "OPTIONS", 7)) return SL_HTTP_OPTIONS;
        if (!memcmp(m, "CONNECT", 7)) return SL_HTTP_CONNECT;
        break;
    }
    return SL_HTTP_OTHER;
}

/* The four target forms of RFC 9112 §3.2, each allowed with its methods. */
static int parse_target(sl_http_request *r, const unsigned char *buf) {
    const unsigned char *t = buf + r->target_off, *e = t + r->target_len;
    int connect = r->method == SL_HTTP_CONNECT;
    if (*t == '/' && !connect) {
        r->target_form = SL_HTTP_FORM_ORIGIN;
        r->path_off = r->target_off;
        r->path_len = r->target_len;
        return 0;
    }
    if (*t == '*') {
        if (r->target_len != 1 || r->method != SL_HTTP_OPTIONS)
            return fail(r, 400, "asterisk-form not with OPTIONS");
        r->target_form = SL_HTTP_FORM_ASTERISK;
        r->path_off = r->target_off;
        r->path_len = 1;
        return 0;
    }
    /* scheme "://" authority [path]: http and https only, a non-empty authority */
    const unsigned char *p = t;
    while (p < e && *p != ':' && *p != '/') p++;
    size_t scheme = (size_t)(p - t);
    if (!connect && e - p >= 3 && !memcmp(p, "://", 3) &&
        (ieq(t, scheme, "http") || ieq(t, scheme, "https"))) {
        const unsigned char *a = p + 3, *q = a;
        while (q < e && *q != '/' && *q != '?' && *q != '#') q++;
        if (q == a) return fail(r, 400, "absolute-form without authority");
        r->target_form = SL_HTTP_FORM_ABSOLUTE;
        if (scheme == 5) r->flags |= SL_HTTP_F_HTTPS;
        r->authority_off = (uint32_t)(a - buf);
        r->authority_len = (uint32_t)(q - a);
        r->path_off = (uint32_t)(q - buf);
        r->path_len = (uint32_t)(e - q);
        return 0;
    }
    if (!connect) return fail(r, 400, "bad request target");
    /* authority-form: host ":" port, nothing else (RFC 9112 §3.2.3) */
    const unsigned char *colon = NULL;
    for (p = t; p < e; p++) {
        if (*p == '/' || *p == '?' || *p == '#' || *p == '@') return fail(r, 400, "bad authority-form");
        if (*p == ':') colon = p;
    }
    if (!colon || colon == t || colon + 1 == e) return fail(r, 400, "bad authority-form");
    for (p = colon + 1; p < e; p++)
        if (!digit(*p)) return fail(r, 400, "bad authority-form port");
    r->target_form = SL_HTTP_FORM_AUTHORITY;
    r->authority_off = r->target_off;
    r->authority_len = r->target_len;
    r->path_off = r->target_off + r->target_len;
    return 0;
}

/* method SP request-target SP HTTP-version, over [ls, end). */
static int request_line(sl_http_request *r, const unsigned char *buf, size_t ls, size_t end) {
    const unsigned char *p = buf + ls, *e = buf + end;
    while (p < e && tchar[*p]) p++;
    if (p == buf + ls || p == e || *p != ' ') return fail(r, 400, "bad method");
    r->method_off = (uint32_t)ls;
    r->method_len = (uint32_t)(p - (buf + ls));
    const unsigned char *t = ++p;
    while (p < e && target_byte(*p)) p++;
    if (p == t || p == e || *p != ' ') return fail(r, 400, "bad request target");
    r->target_off = (uint32_t)(t - buf);
    r->target_len = (uint32_t)(p - t);
    p++;
    if (e - p != 8 || memcmp(p, "HTTP/", 5) || !digit(p[5]) || p[6] != '.' || !digit(p[7]))
        return fail(r, 400, "bad HTTP version");
    if (p[5] != '1' || p[7] > '1') return fail(r, 505, "HTTP version not supported");
    r->version_minor = (uint8_t)(p[7] - '0');
    r->method = (uint8_t)method_id((const char *)buf + ls, r->method_len);
    return parse_target(r, buf);
}

/* field-name ":" OWS field-value OWS over [ls, end): NULL or why not. */
static const char *field_line(const unsigned char *buf, size_t ls, size_t end, size_t *name_len,
                              const unsigned char **vs, const unsigned char **ve) {
    const unsigned char *p = buf + ls, *e = buf + end;
    if (ows(*p)) return "obs-fold line";
    while (p < e && tchar[*p]) p++;
    if (p == buf + ls || p == e || *p != ':') return "bad header name";
    *name_len = (size_t)(p - (buf + ls));
    p++;
    while (p < e && ows(*p)) p++;
    const unsigned char *v = p;
    while (p < e && value_byte(*p)) p++;
    if (p != e) return "bad header value";
    while (e > v && ows(e[-1])) e--;
    *vs = v;
    *ve = e;
    return NULL;
}

/* A Host value (RFC 9110 §7.2: uri-host [":" port]): reg-name, IPv4 or an
 * IP-literal in brackets, so unreserved, sub-delims, '%', ':', '[' and ']'
 * only. Empty is allowed (a target without authority). */
static int valid_host(const unsigned char *v, const unsigned char *ve) {
    for (; v < ve; v++) {
        unsigned char c = *v;
        if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') continue;
        if (c >= '0' && c <= '9') continue;
        if (!memchr("-._~!$&'()*+,;=%:[]", c, 19)) return 0;
    }
    return 1;
}

/* The headers the parser itself acts on. */
static int header_semantics(sl_http_request *r, const unsigned char *name, size_t nlen,
                            const unsigned char *v, const unsigned char *ve, const unsigned char *buf) {
    sl_http_state *st = &r->st;
    const unsigned char *s, *p = v;
    size_t n;
    switch (nlen) {
    case 4:
        if (!ieq(name, 4, "host")) break;
        if (r->flags & SL_HTTP_F_HAS_HOST) return fail(r, 400, "more than one Host");
        if (!valid_host(v, ve)) return fail(r, 400, "invalid Host"); /* RFC 9112 §3.2: a MUST */
        r->flags |= SL_HTTP_F_HAS_HOST;
        if (r->target_form == SL_HTTP_FORM_ORIGIN || r->target_form == SL_HTTP_FORM_ASTERISK) {
            r->authority_off = (uint32_t)(v - buf);
            r->authority_len = (uint32_t)(ve - v);
        }
        break;
    case 6:
        if (!ieq(name, 6, "expect")) break;
        st->seen |= ieq(v, (size_t)(ve - v), "100-continue") ? EXPECT_100 : EXPECT_OTHER;
        break;
    case 7:
        if (ieq(name, 7, "upgrade")) st->seen |= SEEN_UPGRADE;
        break;
    case 10:
        if (!ieq(name, 10, "connection")) break;
        while (list_next(&p, ve, &s, &n)) {
            if (ieq(s, n, "close"))
                st->seen |= CONN_CLOSE;
            else if (ieq(s, n, "keep-alive"))
                st->seen |= CONN_KEEP_ALIVE;
            else if (ieq(s, n, "upgrade"))
                st->seen |= CONN_UPGRADE;
        }
        break;
    case 14: {
        if (!ieq(name, 14, "content-length")) break;
        int any = 0;
        while (list_next(&p, ve, &s, &n)) {
            uint64_t x = 0;
            for (size_t i = 0; i < n; i++) {
                if (!digit(s[i])) return fail(r, 400, "bad Content-Length");
                unsigned d = s[i] - '0';
                if (x > (UINT64_MAX - d) / 10) return fail(r, 400, "Content-Length overflows");
                x = x * 10 + d;
            }
            if ((st->seen & SEEN_CL) && x != r->content_length)
                return fail(r, 400, "differing Content-Lengths");
            st->seen |= SEEN_CL;
            r->content_length = x;
            any = 1;
        }
        if (!any) return fail(r, 400, "empty Content-Length");
        break;
    }
    case 17: {
        if (!ieq(name, 17, "transfer-encoding")) break;
        /* only a lone "chunked" is supported: a list, a second header or
         * another coding is 501, and chunked followed by another coding 400
         * (RFC 9112 §6.3: chunked not the final coding, the body's length
         * cannot be known); decided when the head ends */
        int count = 0;
        while (list_next(&p, ve, &s, &n)) {
            if (ieq(s, n, "chunked")) {
                st->seen = (st->seen & ~(uint32_t)TE_NOT_LAST) | TE_CHUNKED;
            } else {
                st->seen |= TE_UNSUPPORTED | TE_NOT_LAST;
            }
            count++;
        }
        if (!count) return fail(r, 400, "empty Transfer-Encoding");
        if (count > 1 || (st->seen & SEEN_TE)) st->seen |= TE_UNSUPPORTED;
        st->seen |= SEEN_TE;
        break;
    }
    }
    return 0;
}

/* The blank line arrived: settle what the headers said, in the order of the
 * checks' importance (framing first: a request smuggled past us is worse
 * than a wrong status). */
static int finish_head(sl_http_request *r, const sl_http_limits *lim) {
    sl_http_state *st = &r->st;
    uint32_t seen = st->seen;
    if (st->pos > UINT32_MAX) return fail(r, 431, "head too large");
    r->head_len = r->body_off = (uint32_t)st->pos;
    if (r->version_minor == 1 && !(r->flags & SL_HTTP_F_HAS_HOST)) return fail(r, 400, "no Host on HTTP/1.1");
    if (seen & SEEN_TE) {
        if (r->version_minor == 0) return fail(r, 400, "Transfer-Encoding on HTTP/1.0");
        if (seen & SEEN_CL) return fail(r, 400, "both Content-Length and Transfer-Encoding");
        if ((seen & TE_CHUNKED) && (seen & TE_NOT_LAST))
            return fail(r, 400, "chunked is not the final Transfer-Encoding");
        if (seen & TE_UNSUPPORTED) return fail(r, 501, "unsupported Transfer-Encoding");
        r->flags |= SL_HTTP_F_CHUNKED | SL_HTTP_F_HAS_BODY;
    } else if (r->content_length > 0) {
        if (r->content_length > lim->max_body) return fail(r, 413, "Content-Length over the limit");
        r->flags |= SL_HTTP_F_HAS_BODY;
    }
    if (seen & EXPECT_OTHER) return fail(r, 417, "unsupported expectation");
    /* RFC 9110 §10.1.1: a 100-continue on HTTP/1.0 is ignored */
    if ((seen & EXPECT_100) && r->version_minor == 1) r->flags |= SL_HTTP_F_EXPECT_CONTINUE;
    if (!(seen & CONN_CLOSE) && (r->version_minor == 1 || (seen & CONN_KEEP_ALIVE)))
        r->flags |= SL_HTTP_F_KEEP_ALIVE;
    if ((seen & CONN_UPGRADE) && (seen & SEEN_UPGRADE)) r->flags |= SL_HTTP_F_UPGRADE;
    st->phase = (r->flags & SL_HTTP_F_CHUNKED) ? PH_CHUNK_SIZE : PH_BODY;
    st->line = st->pos;
    return 0;
}

/* Request line and headers; 1 when the head is complete. */
static int parse_head(sl_http_request *r, const unsigned char *buf, size_t len, sl_http_header *hdrs,
                      uint32_t cap, const sl_http_limits *lim) {
    sl_http_state *st = &r->st;
    for (;;) {
        size_t end, next;
        if (!find_line(st, (const char *)buf, len, &end, &next)) {
            /* the limits that need not wait for the line to end */
            size_t seen = seen_of_line(st, (const char *)buf, len);
            if (st->phase == PH_START) {
                if (seen > lim->max_request_line) return fail(r, 414, "request line too long");
            } else {
                if (seen > lim->max_header_line) return fail(r, 431, "header line too long");
                if (seen && st->line - st->mark + seen + 1 > lim->max_head)
                    return fail(r, 431, "headers too large");
            }
            return SL_HTTP_NEED_MORE;
        }
        size_t ls = st->line;
        st->line = st->pos = next;
        if (st->phase == PH_START) {
            if (end == ls) { /* RFC 9112 §2.2: empty lines before a request line */
                if (++st->empty_lines > SL_HTTP_MAX_LEADING_EMPTY_LINES) return fail(r, 400, "empty lines");
                continue;
            }
            if (end - ls > lim->max_request_line || end > UINT32_MAX)
                return fail(r, 414, "request line too long");
            st->work += end - ls;
            if (request_line(r, buf, ls, end)) return SL_HTTP_ERROR;
            st->phase = PH_HEAD;
            st->mark = next;
            continue;
        }
        if (end == ls) return finish_head(r, lim) ? SL_HTTP_ERROR : 1;
        if (end - ls > lim->max_header_line) return fail(r, 431, "header line too long");
        if (next - st->mark > lim->max_head || next > UINT32_MAX) return fail(r, 431, "headers too large");
        st->work += end - ls;
        size_t nlen;
        const unsigned char *vs, *ve;
        const char *why = field_line(buf, ls, end, &nlen, &vs, &ve);
        if (why) return fail(r, 400, why);
        if (r->n_headers >= lim->max_headers || r->n_headers >= cap) return fail(r, 431, "too many headers");
        hdrs[r->n_headers++] =
            (sl_http_header){(uint32_t)ls, (uint32_t)nlen, (uint32_t)(vs - buf), (uint32_t)(ve - vs)};
        if (header_semantics(r, buf + ls, nlen, vs, ve, buf)) return SL_HTTP_ERROR;
    }
}

/* chunk-size [ chunk-ext ] over [ls, end): the size, or why not. */
static const char *chunk_size(const unsigned char *p, const unsigned char *e, uint64_t *size) {
    uint64_t x = 0;
    const unsigned char *start = p;
    for (; p < e; p++) {
        unsigned c = *p, d;
        if (digit(c))
            d = c - '0';
        else if ((c | 0x20) - 'a' < 6u)
            d = (c | 0x20) - 'a' + 10;
        else
            break;
        if (x > (UINT64_MAX >> 4)) return "chunk size overflows";
        x = x << 4 | d;
    }
    if (p == start) return "bad chunk size";
    if (p < e) { /* BWS ";" chunk-ext: accepted, bounded by the line, ignored */
        while (p < e && ows(*p)) p++;
        if (p == e || *p != ';') return "bad chunk size";
        while (p < e && value_byte(*p)) p++;
        if (p != e) return "bad chunk extension";
    }
    *size = x;
    return NULL;
}

/* The chunked body, from the chunk-size line on, to the end of trailers. */
static int parse_chunked(sl_http_request *r, unsigned char *buf, size_t len, const sl_http_limits *lim) {
    sl_http_state *st = &r->st;
    size_t end, next;
    for (;;) {
        switch (st->phase) {
        case PH_CHUNK_SIZE: {
            if (!find_line(st, (const char *)buf, len, &end, &next)) {
                if (seen_of_line(st, (const char *)buf, len) > SL_HTTP_MAX_CHUNK_LINE)
                    return fail(r, 400, "chunk-size line too long");
                return SL_HTTP_NEED_MORE;
            }
            if (end - st->line > SL_HTTP_MAX_CHUNK_LINE) return fail(r, 400, "chunk-size line too long");
            uint64_t size;
            st->work += end - st->line;
            const char *why = chunk_size(buf + st->line, buf + end, &size);
            if (why) return fail(r, 400, why);
            if (size > lim->max_body - st->taken - r->body_len)
                return fail(r, 413, "chunked body over the limit");
            st->line = st->pos = next;
            st->chunk_left = size;
            st->mark = next;
            st->phase = size ? PH_CHUNK_DATA : PH_TRAILER;
            break;
        }
        case PH_CHUNK_DATA: {
            size_t n = len - st->pos;
            if (n > st->chunk_left) n = (size_t)st->chunk_left;
            memmove(buf + r->body_off + r->body_len, buf + st->pos, n);
            st->pos += n;
            r->body_len += n;
            st->chunk_left -= n;
            if (st->chunk_left) return SL_HTTP_NEED_MORE;
            st->phase = PH_CHUNK_END;
            break;
        }
        case PH_CHUNK_END:
            if (st->pos == len) return SL_HTTP_NEED_MORE;
            if (buf[st->pos] == '\r') {
                if (st->pos + 1 == len) return SL_HTTP_NEED_MORE;
                if (buf[st->pos + 1] != '\n') return fail(r, 400, "no CRLF after chunk data");
                st->pos++;
            } else if (buf[st->pos] != '\n') {
                return fail(r, 400, "no CRLF after chunk data");
            }
            st->line = ++st->pos;
            st->phase = PH_CHUNK_SIZE;
            break;
        case PH_TRAILER: { /* checked like headers, then dropped */
            if (!find_line(st, (const char *)buf, len, &end, &next)) {
                size_t seen = seen_of_line(st, (const char *)buf, len);
                if (seen > lim->max_header_line) return fail(r, 431, "trailer line too long");
                if (seen && st->line - st->mark + seen + 1 > lim->max_head)
                    return fail(r, 431, "trailers too large");
                return SL_HTTP_NEED_MORE;
            }
            size_t ls = st->line, nlen;
            st->line = st->pos = next;
            if (end == ls) {
                r->consumed = next;
                st->phase = PH_DONE;
                return SL_HTTP_DONE;
            }
            if (end - ls > lim->max_header_line) return fail(r, 431, "trailer line too long");
            if (next - st->mark > lim->max_head) return fail(r, 431, "trailers too large");
            st->work += end - ls;
            const unsigned char *vs, *ve;
            const char *why = field_line(buf, ls, end, &nlen, &vs, &ve);
            if (why) return fail(r, 400, why);
            break;
        }
        default:
            return fail(r, 500, "parser state lost");
        }
    }
}

int sl_http_parse(sl_http_request *r, char *buf, size_t len, sl_http_header *headers, uint32_t headers_cap,
                  const sl_http_limits *lim) {
    sl_http_state *st = &r->st;
    sl_http_limits defaults;
    if (st->phase == PH_DONE) return SL_HTTP_DONE;
    if (st->phase == PH_FAIL) return SL_HTTP_ERROR;
    if (len < st->pos) return fail(r, 500, "buffer shorter than before");
    if (!lim) {
        sl_http_limits_default(&defaults);
        lim = &defaults;
    }
    unsigned char *b = (unsigned char *)buf;
    if (st->phase < PH_BODY) {
        int rc = parse_head(r, b, len, headers, headers_cap, lim);
        if (rc != 1) return rc;
    }
    int rc;
    if (st->phase == PH_BODY) {
        uint64_t have = len - r->body_off, left = r->content_length - st->taken;
        r->body_len = have < left ? have : left;
        st->pos = r->body_off + r->body_len;
        if (r->body_len == left) {
            r->consumed = st->pos;
            st->phase = PH_DONE;
            return SL_HTTP_DONE;
        }
        rc = SL_HTTP_NEED_MORE;
    } else {
        rc = parse_chunked(r, b, len, lim);
    }
    if (rc == SL_HTTP_NEED_MORE && !st->reported) {
        st->reported = 1;
        return SL_HTTP_HEAD_DONE;
    }
    return rc;
}

size_t sl_http_take_body(sl_http_request *r) {
    sl_http_state *st = &r->st;
    if (st->phase < PH_BODY || st->phase == PH_FAIL) return 0;
    /* the first byte still needed: the trailers' (their limit counts them
     * whole), the chunk-size line's being read, the next unscanned one; all
     * at or past the decoded body's end, so the framing read is dropped too */
    size_t drop = st->phase == PH_DONE         ? (size_t)r->consumed
                  : st->phase == PH_TRAILER    ? (size_t)st->mark
                  : st->phase == PH_CHUNK_SIZE ? (size_t)st->line
                                               : (size_t)st->pos;
    st->pos -= drop;
    st->line = st->line >= drop ? st->line - drop : 0;
    st->mark = st->mark >= drop ? st->mark - drop : 0;
    if (st->phase == PH_DONE) r->consumed -= drop;
    st->taken += r->body_len;
    r->body_off = 0;
    r->body_len = 0;
    return drop;
}
