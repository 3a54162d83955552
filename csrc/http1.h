/*
 * http1.h - HTTP/1.1 requests in, response heads out: pure functions over
 * buffers, no sockets (http1_parse.c, http1_head.c).
 *
 * The parser is incremental and never copies: the caller owns the bytes of
 * one request from its first byte, appends what arrives and calls
 * sl_http_parse() again with the longer length. Between calls it may move
 * the whole buffer (realloc, io_buf_adjust): the result and the resumption
 * state are offsets, never pointers. Each call scans only the bytes it has
 * not seen, so a head fed one byte at a time costs O(n) in all.
 *
 * What it enforces is RFC 9112/9110 as a strict origin server reads them;
 * every failure is a return value with the status to answer (never an
 * assert), and nothing past len is read. After SL_HTTP_ERROR the caller
 * answers r->status and closes the connection: the parser does not know
 * where the next request would start.
 *
 * Everything between the CDEF markers is what cffi sees (build.py).
 */
#ifndef SLUICE_HTTP1_H
#define SLUICE_HTTP1_H

#include <stddef.h>
#include <stdint.h>

/* CDEF-BEGIN */

/* ---- the request parser (http1_parse.c) ------------------------------- */

/* sl_http_parse's answers. */
#define SL_HTTP_NEED_MORE 0 /* append bytes and call again */
#define SL_HTTP_HEAD_DONE 1 /* head complete, its body not yet: answer 100 or refuse now */
#define SL_HTTP_DONE 2      /* the whole request is complete (returned again if called again) */
#define SL_HTTP_ERROR -1    /* r->status and r->error say why (returned again if called again) */

/* sl_http_request.method: the methods of RFC 9110 (+ PATCH), case-sensitive. */
#define SL_HTTP_OTHER 0 /* any other token: read it at method_off */
#define SL_HTTP_GET 1
#define SL_HTTP_HEAD 2
#define SL_HTTP_POST 3
#define SL_HTTP_PUT 4
#define SL_HTTP_DELETE 5
#define SL_HTTP_OPTIONS 6
#define SL_HTTP_PATCH 7
#define SL_HTTP_TRACE 8
#define SL_HTTP_CONNECT 9

/* sl_http_request.target_form (RFC 9112 §3.2). */
#define SL_HTTP_FORM_ORIGIN 1    /* "/path?query" */
#define SL_HTTP_FORM_ABSOLUTE 2  /* "http://authority/path?query" (http or https only) */
#define SL_HTTP_FORM_ASTERISK 3  /* "*", OPTIONS only */
#define SL_HTTP_FORM_AUTHORITY 4 /* "host:port", CONNECT only */

/* sl_http_request.flags, valid from SL_HTTP_HEAD_DONE / SL_HTTP_DONE on. */
#define SL_HTTP_F_KEEP_ALIVE 1      /* 1.1 without "close"; 1.0 with "keep-alive" */
#define SL_HTTP_F_CHUNKED 2         /* Transfer-Encoding: chunked */
#define SL_HTTP_F_HAS_BODY 4        /* chunked, or Content-Length > 0 */
#define SL_HTTP_F_EXPECT_CONTINUE 8 /* Expect: 100-continue on HTTP/1.1 */
#define SL_HTTP_F_UPGRADE 16        /* an Upgrade header and "upgrade" in Connection */
#define SL_HTTP_F_HAS_HOST 32       /* a Host header (exactly one) */
#define SL_HTTP_F_HTTPS 64          /* absolute-form with the https scheme */

/* The defaults sl_http_limits_default() fills in. */
#define SL_HTTP_DEFAULT_MAX_REQUEST_LINE 8190
#define SL_HTTP_DEFAULT_MAX_HEADER_LINE 8190
#define SL_HTTP_DEFAULT_MAX_HEAD 65536
#define SL_HTTP_DEFAULT_MAX_HEADERS 100
#define SL_HTTP_DEFAULT_MAX_BODY 1048576 /* = the connection's default input limit */
/* Fixed bounds: empty lines skipped before a request line (more: 400), and
 * the length of a chunk-size line with its extensions (longer: 400). */
#define SL_HTTP_MAX_LEADING_EMPTY_LINES 16
#define SL_HTTP_MAX_CHUNK_LINE 4096

typedef struct sl_http_limits {
    uint32_t max_request_line; /* bytes of the request line, CRLF excluded; more: 414 */
    uint32_t max_header_line;  /* bytes of one header (or trailer) line, CRLF excluded; more: 431 */
    uint32_t max_head;         /* all header lines, CRLFs included (and again all trailers); more: 431 */
    uint32_t max_headers;      /* header lines; more (or more than headers_cap): 431 */
    uint64_t max_body; /* body bytes: the declared Content-Length, or the de-chunked body; more: 413 */
} sl_http_limits;

/* One header line. Offsets count from the request's first byte; the value
 * has its leading and trailing whitespace (SP, HTAB) trimmed. */
typedef struct sl_http_header {
    uint32_t name_off, name_len;
    uint32_t value_off, value_len;
} sl_http_header;

/* Private: where a parse resumes. Callers only zero it (reset). */
typedef struct sl_http_state {
    uint64_t pos;        /* the next byte to scan */
    uint64_t line;       /* where the line being read starts */
    uint64_t mark;       /* first byte of the headers (then of the trailers) */
    uint64_t chunk_left; /* data bytes of the current chunk still to come */
    uint64_t work;       /* bytes examined so far: the tests check it stays O(n) */
    uint32_t phase;
    uint32_t seen; /* header facts gathered on the way */
    uint32_t empty_lines;
    uint32_t reported; /* SL_HTTP_HEAD_DONE was returned once */
} sl_http_state;

typedef struct sl_http_request {
    /* The request line: offsets from the request's first byte. */
    uint32_t method_off, method_len;
    uint32_t target_off, target_len;
    /* The target split: path is the origin-form target, absolute-form's part
     * after the authority (may be empty), "*" for asterisk-form, empty for
     * authority-form. authority is absolute- or authority-form's authority,
     * else the Host header's value (0, 0 without one). */
    uint32_t path_off, path_len;
    uint32_t authority_off, authority_len;
    uint8_t version_minor; /* HTTP/1.0 or HTTP/1.1 */
    uint8_t method;        /* SL_HTTP_GET ... or SL_HTTP_OTHER */
    uint8_t target_form;   /* SL_HTTP_FORM_* */
    uint8_t reserved;
    uint32_t flags;          /* SL_HTTP_F_* */
    uint32_t n_headers;      /* entries filled in the caller's headers array */
    uint32_t head_len;       /* bytes up to and including the blank line */
    uint32_t body_off;       /* = head_len */
    uint32_t status;         /* SL_HTTP_ERROR: 400 413 414 417 431 501 505 (500: len shrank) */
    uint64_t content_length; /* declared by Content-Length (0 without one, or when chunked) */
    uint64_t body_len;       /* body bytes so far, de-chunked, contiguous at body_off; all of it at DONE */
    uint64_t consumed;       /* SL_HTTP_DONE: raw bytes the request took; the next one starts there */
    const char *error;       /* SL_HTTP_ERROR: a short static reason, for the log; else NULL */
    sl_http_state st;
} sl_http_request;

/* Fill in the SL_HTTP_DEFAULT_* limits. */
void sl_http_limits_default(sl_http_limits *lim);
/* Make r ready for a new request (all zero). */
void sl_http_request_reset(sl_http_request *r);
/* Parse on from where the last call stopped. buf holds the request's bytes
 * from its first (buf[0 .. len)); len never shrinks between calls. A body
 * that is all there already gives SL_HTTP_DONE at once; SL_HTTP_HEAD_DONE
 * comes at most once, then SL_HTTP_NEED_MORE until the body is in. A chunked
 * body is decoded in place: the bytes in [body_off + body_len, consumed) are
 * overwritten garbage afterwards, and nothing at or past consumed is written.
 * headers: the caller's array, the same one (contents kept) on every call of
 * one request. lim: NULL for the defaults. */
int sl_http_parse(sl_http_request *r, char *buf, size_t len, sl_http_header *headers, uint32_t headers_cap,
                  const sl_http_limits *lim);

/* ---- response heads (http1_head.c) ------------------------------------ */

/* The reason phrase of status (RFC 9110 §15, with 103, 428, 429, 431, 451
 * and 511), or NULL for one it does not name. */
const char *sl_http_reason(unsigned status);
/* The IMF-fixdate of unix_seconds ("Sun, 06 Nov 1994 08:49:37 GMT", 29
 * bytes, NUL-terminated), clamped to years 1970..9999. A per-thread cache,
 * formatted anew only when the second changes; the text stays valid on this
 * thread until a call with another second. len may be NULL. */
const char *sl_http_date(int64_t unix_seconds, size_t *len);
/* Write a response head into out[0 .. cap):
 *   HTTP/1.<version_minor> <status> <reason>\r\n
 *   Date: <now>\r\n
 *   Server: <server>\r\n                     (when server_len > 0)
 *   Content-Length: <n>\r\n                  (content_length >= 0)
 *   Transfer-Encoding: chunked\r\n           (content_length == -1; HTTP/1.1 only)
 *                                            (content_length == -2: no length header: 1xx, 204, 304;
 *                                             the caller picks it, the status is not checked)
 *   Connection: close\r\n                    (keep_alive == 0)
 *   Connection: keep-alive\r\n               (keep_alive on HTTP/1.0; omitted on HTTP/1.1)
 *   <extra, verbatim: "Name: value\r\n" lines>
 *   \r\n
 * reason_len 0: the standard reason, "Unknown" if none. Returns the bytes
 * written, or 0 (nothing usable written, never past cap) when cap is too
 * small or an argument is invalid: status outside 100..999, version_minor
 * not 0 or 1, content_length below -2 or -1 on HTTP/1.0, or a control byte
 * (CR, LF...) in reason or server. */
size_t sl_http_render_head(char *out, size_t cap, unsigned status, const char *reason, size_t reason_len,
                           const char *extra, size_t extra_len, int64_t content_length, int version_minor,
                           int keep_alive, const char *server, size_t server_len);

/* CDEF-END */

#endif
