/*
 * frame.h - the frame codec of Sluice's message protocol (frame.c).
 *
 * A frame is a 12-byte header and a payload (docs/protocol.md has the byte
 * diagram, the type registry and the rules). The decoder never allocates and
 * never copies: it hands back offsets into the caller's buffer, and it reads
 * no byte at or past the length it is given. It keeps no state between calls:
 * the caller keeps the unconsumed bytes and calls again once more arrive.
 */
#ifndef SLUICE_FRAME_H
#define SLUICE_FRAME_H

#include <stddef.h>
#include <stdint.h>
#include "sluice.h"

/* CDEF-BEGIN */

/* ---- frame: the message protocol's frames (frame.c) ------------------- */

#define SL_FRAME_HEADER 12
#define SL_FRAME_VERSION 1
#define SL_FRAME_DEFAULT_MAX_PAYLOAD 1048576 /* 1 MiB, the decoder's default */

/* Frame types: 1 and 2 are the heartbeat; 16..255 are the application's;
 * 0 and 3..15 are reserved (a frame of a reserved type is an error). */
#define SL_FRAME_PING 1
#define SL_FRAME_PONG 2
#define SL_FRAME_APP_MIN 16

/* sl_frame_scan's errors, in header order: the first bad byte decides. */
#define SL_FRAME_BAD_MAGIC -1     /* bytes 0-1 are not 'S' 'L' */
#define SL_FRAME_BAD_VERSION -2   /* byte 2 is not SL_FRAME_VERSION */
#define SL_FRAME_BAD_TYPE -3      /* byte 3 is a reserved type */
#define SL_FRAME_BAD_RESERVED -4  /* bytes 6-7 are not zero */
#define SL_FRAME_TOO_BIG -5       /* the payload length is over the maximum */
#define SL_FRAME_BIG_HEARTBEAT -6 /* a PING or PONG of more than SL_FRAME_HEARTBEAT_MAX bytes */
#define SL_FRAME_HEARTBEAT_MAX 64 /* a heartbeat's payload, at most */

/* One decoded frame: its payload is buf[off .. off + len) of the buffer that
 * was scanned (off counts from that buffer's start). 12 bytes. */
typedef struct sl_frame {
    uint32_t off;
    uint32_t len;
    uint16_t flags; /* the application's; the codec only carries them */
    uint8_t type;
    uint8_t pad;
} sl_frame;

/* Write the 12 header bytes of a frame to out. Returns SL_FRAME_HEADER, or 0
 * (nothing written) for a reserved type, a type above 255 or flags above
 * 0xFFFF. */
size_t sl_frame_encode_header(char *out, unsigned type, unsigned flags, uint32_t len);

/* Find the complete frames at the start of buf[0 .. len): up to cap of them
 * go to out[0 ..), *n_out says how many and *consumed how many bytes they
 * take. What follows them is a frame still arriving: the caller keeps those
 * bytes, appends what comes next and calls again from buf + *consumed. With
 * *n_out == cap there may be more complete frames after *consumed; the scan
 * looks no further (an error past them shows in the next call).
 * max_payload: the largest payload accepted; 0 means the default (1 MiB).
 * Returns 0, or a negative SL_FRAME_* error as soon as the bytes that prove
 * it are present (bad magic after one byte, too big after the first length
 * byte that proves it). On error *n_out and *consumed still report the frames
 * before the bad one (buf + *consumed is where the bad frame starts), so they
 * can be delivered before the connection closes. Nothing after an error can
 * be trusted: the stream has lost its framing. */
int sl_frame_scan(const char *buf, size_t len, uint32_t max_payload, sl_frame *out, size_t cap, size_t *n_out,
                  size_t *consumed);

/* Bytes the first frame of buf[0 .. len) takes in all (header and payload)
 * once its header is there; SL_FRAME_HEADER while fewer than 12 bytes are.
 * Lets an input buffer size itself for the frame still arriving. It reads
 * the length field only: call it on what sl_frame_scan left unconsumed when
 * it returned 0 with *n_out < cap, whose header it checked (length included). */
size_t sl_frame_need(const char *buf, size_t len);

/* A short text for a scan result ("bad magic", ...; "ok" for 0), for close
 * reasons and logs. Never NULL. */
const char *sl_frame_error_name(int code);

/* ---- frame connections (frame_conn.c) --------------------------------- */

/* A connection made with sl_conn_config.protocol = SL_PROTO_FRAMES hands its
 * complete frames over as one SL_EV_FRAMES a turn: data/len are the frames'
 * bytes (as SL_EV_DATA's, copied to the turn's data when arg & 1), arg >> 2
 * is the number of records, arg & 2 says a partial frame waits in the input,
 * err is the index of the first record in sl_frame_turn_records(). A
 * record's off counts from the event's first byte. A frame the decoder
 * refuses ends the connection's records with one of type 0 whose len is the
 * error (-SL_FRAME_*): the frames before it are delivered, everything after
 * it is read and dropped, and the owner closes the connection. A partial
 * frame stays in the input (max_input is raised to hold the largest one). */
#define SL_FRAME_MAX_BATCH 1024            /* records one connection hands over per turn; more wait */
#define SL_FRAME_MAX_PAYLOAD_LIMIT 8388596 /* 8 MiB (the largest block) less the header */
/* The turn's frame records (valid during on_events). */
const sl_frame *sl_frame_turn_records(sl_loop *loop, size_t *n);

/* CDEF-END */

#endif
