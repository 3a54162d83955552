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
#include "sluice.h"

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
#define SL_HTTP_F_ANNOUNCED 128     /* a record of the head only: sl_http_body_mode decides the body */
#define SL_HTTP_F_BODY_END 256      /* a SL_HTTP_BODY_PIECE record: the body's last piece */

/* The defaults sl_http_limits_default() fills in. */
#define SL_HTTP_DEFAULT_MAX_REQUEST_LINE 8190
#define SL_HTTP_DEFAULT_MAX_HEADER_LINE 8190
#define SL_HTTP_DEFAULT_MAX_HEAD 65536
#define SL_HTTP_DEFAULT_MAX_HEADERS 100
#define SL_HTTP_DEFAULT_MAX_BODY 1048576  /* = the connection's default input limit */
#define SL_HTTP_DEFAULT_MAX_STREAM_BODY 0 /* streaming off; Python's streaming routes: 1 GiB */
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
    /* A streamed body's bytes (sl_http_body_mode); 0: nothing is streamed.
     * The parser itself reads only max_body. */
    uint64_t max_stream_body;
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
    uint64_t taken;      /* body bytes sl_http_take_body handed over before */
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

/* A body read as it arrives: the caller has taken the body bytes so far,
 * [body_off, body_off + body_len), and drops the request's first N bytes,
 * N returned: the head (on the first call), those body bytes and the chunk
 * framing read (at SL_HTTP_DONE: all consumed bytes). The state moves with
 * them: the next call's buf starts N bytes later, body_off and body_len
 * become 0 (the limits still count the whole body), consumed is counted
 * from the new start (0 at SL_HTTP_DONE); the head's offsets are stale.
 * 0 before the head is complete or after an error. */
size_t sl_http_take_body(sl_http_request *r);

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
 *                                            (content_length == -2: no length header: 204, 304;
 *                                             the caller picks it, the status is not checked)
 *   Connection: close\r\n                    (keep_alive == 0)
 *   Connection: keep-alive\r\n               (keep_alive on HTTP/1.0; omitted on HTTP/1.1)
 *   <extra, verbatim: "Name: value\r\n" lines>
 *   \r\n
 * reason_len 0: the standard reason, "Unknown" if none. Returns the bytes
 * written, or 0 (nothing usable written, never past cap) when cap is too
 * small or an argument is invalid: status outside 200..599 (a final answer), version_minor
 * not 0 or 1, content_length below -2 or -1 on HTTP/1.0, or a control byte
 * (CR, LF...) in reason or server. */
size_t sl_http_render_head(char *out, size_t cap, unsigned status, const char *reason, size_t reason_len,
                           const char *extra, size_t extra_len, int64_t content_length, int version_minor,
                           int keep_alive, const char *server, size_t server_len);

/* ---- HTTP connections (http1_conn.c) ---------------------------------- */

/* A connection made with sl_conn_config.protocol = SL_PROTO_HTTP1 hands its
 * complete requests over as one SL_EV_REQUESTS a turn: data/len are the
 * requests' bytes (as SL_EV_DATA's, copied to the turn's data when arg & 1),
 * arg >> 1 is the number of records, err the index of the first one's word
 * in sl_http_turn_records(). A record is SL_HTTP_REC_WORDS words, then four
 * per header (name_off, name_len, value_off, value_len); offsets count from
 * the request's first byte, and the next request starts CONSUMED bytes on. */
#define SL_HTTP_REC_WORDS 16
#define SL_HTTP_R_METHOD 0 /* SL_HTTP_GET..., or SL_HTTP_REFUSED */
#define SL_HTTP_R_FLAGS 1  /* SL_HTTP_F_* */
#define SL_HTTP_R_VERSION 2
#define SL_HTTP_R_STATUS 3 /* SL_HTTP_REFUSED: the status it was answered with here */
#define SL_HTTP_R_ROUTE 3  /* a request: the exact route its path matched (sl_http_set_routes), or 0 */
#define SL_HTTP_R_METHOD_OFF 4
#define SL_HTTP_R_METHOD_LEN 5
#define SL_HTTP_R_PATH_OFF 6
#define SL_HTTP_R_PATH_LEN 7
#define SL_HTTP_R_TARGET_OFF 8
#define SL_HTTP_R_TARGET_LEN 9
#define SL_HTTP_R_AUTHORITY_OFF 10
#define SL_HTTP_R_AUTHORITY_LEN 11
#define SL_HTTP_R_BODY_OFF 12
#define SL_HTTP_R_BODY_LEN 13
#define SL_HTTP_R_CONSUMED 14
#define SL_HTTP_R_HEADERS 15
/* A request the parser refused: answered (400, 413, 414, 431, 501, 505...)
 * and the connection lingers; the record is there for the log. */
#define SL_HTTP_REFUSED 65535
/* A streamed body's bytes that came this turn, at BODY_OFF, BODY_LEN long
 * (flags: SL_HTTP_F_BODY_END on the last); CONSUMED as for a request. */
#define SL_HTTP_BODY_PIECE 65534
/* Requests one connection hands over per turn; more wait for the next turn
 * (so a turn's records stay bounded however much a client pipelines). */
#define SL_HTTP_MAX_BATCH 256
/* Bytes a lingering connection may still send before it is closed. */
#define SL_HTTP_LINGER_MAX 65536
/* sl_http_respond's content_length: the body's length. */
#define SL_HTTP_LENGTH_OF_BODY -3

/* Streaming (lim.max_stream_body > 0): a request whose body has not all
 * come with its head (or is over max_body) is first handed over as a record
 * of its head with SL_HTTP_F_ANNOUNCED, and the caller decides, in the same
 * turn, with sl_http_body_mode: 0 buffers the body as for any request (the
 * whole request comes again as a record once complete; over max_body: 413
 * here, returned), 1 streams it: its bytes come as SL_HTTP_BODY_PIECE
 * records as they arrive, up to max_stream_body. 100 Continue is sent once
 * decided. 0, 413, or -EINVAL when no request waits for a decision. */
int sl_http_body_mode(sl_conn *c, int stream);

/* The loop's HTTP settings: limits (NULL: the defaults) and the Server
 * header's value (server_len 0: none; at most 63 bytes). */
int sl_http_configure(sl_loop *loop, const sl_http_limits *lim, const char *server, size_t server_len);
/* The exact paths the server routes, NUL-separated, each starting with '/':
 * the Nth (from 1) is SL_HTTP_R_ROUTE N in the record of a request whose
 * path up to '?' is that path byte for byte, without '%'. len 0: none.
 * 0, -EINVAL (an empty or over-long path, one not starting with '/'), -E2BIG
 * (more than SL_HTTP_MAX_ROUTES), -ENOMEM. */
#define SL_HTTP_MAX_ROUTES 4096
#define SL_HTTP_MAX_ROUTE_LEN 1024
int sl_http_set_routes(sl_loop *loop, const char *paths, size_t len);
/* The turn's request records (valid during on_events). */
const uint32_t *sl_http_turn_records(sl_loop *loop, size_t *n_words);
/* Answer the connection's oldest unanswered request: the head rendered here
 * (status, Date, Server, Content-Length or chunked, Connection, extra),
 * then body unless head_only. content_length: >= 0, -1 chunked, -2 none,
 * SL_HTTP_LENGTH_OF_BODY. keep_alive 0: the connection lingers, then closes.
 * Returns the bytes waiting, -EPIPE once closing, -EINVAL for a head that
 * cannot be rendered, -ENOBUFS if the pool refused. */
ssize_t sl_http_respond(sl_conn *c, unsigned status, const char *extra, size_t extra_len, const char *body,
                        size_t body_len, int64_t content_length, int version_minor, int keep_alive,
                        int head_only);
/* sl_http_respond(c, 200, "Content-Type: text/plain; charset=utf-8\r\n",
 * ..., body, body_len, SL_HTTP_LENGTH_OF_BODY, ...): a handler's text
 * answer, with fewer arguments to cross. */
ssize_t sl_http_respond_text(sl_conn *c, const char *body, size_t body_len, int version_minor, int keep_alive,
                             int head_only);
/* sl_http_respond's head_only for the head of a body that follows by
 * sl_conn_write (framed by the caller: chunks, or content_length bytes):
 * nothing lingers yet; sl_http_finish(c, keep_alive) after the last byte. */
#define SL_HTTP_STREAM_HEAD 2
int sl_http_finish(sl_conn *c, int keep_alive);
/* A refused record (SL_HTTP_REFUSED) ended the batch: its answer (the
 * record's status, a text body), sent once the requests before it are
 * answered; the connection then lingers. Returns the status, -EINVAL when
 * no refusal waits, -EPIPE once closing. */
int sl_http_refuse(sl_conn *c);
/* As sl_http_respond, the body len bytes of file_fd from offset, sent with
 * sendfile once the head has left (the connection dups file_fd). */
ssize_t sl_http_respond_file(sl_conn *c, unsigned status, const char *extra, size_t extra_len, int file_fd,
                             uint64_t offset, size_t len, int version_minor, int keep_alive, int head_only);
/* When the connection's current wait ends (loop ms): a head in progress,
 * header_ms from its first byte; a body, header_ms from its last byte; idle
 * between requests, keepalive_ms; lingering, linger_ms; a refusal waiting
 * for the answers before it, header_ms from the refused bytes; while an
 * answer is still leaving, keepalive_ms from the last write the client
 * took. */
uint64_t sl_http_deadline(sl_conn *c, uint32_t header_ms, uint32_t keepalive_ms, uint32_t linger_ms);
/* The deadline passed: a request in progress is answered 408 and lingers;
 * a waiting refusal is sent now and lingers; an idle or lingering
 * connection is closed. Returns 408, the refusal's status, or 0. */
int sl_http_expire(sl_conn *c);

/* CDEF-END */

#endif
