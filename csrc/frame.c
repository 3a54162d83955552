/*
 * frame.c - encode a frame header; find the complete frames in a buffer.
 *
 * The header's bytes are checked one at a time in offset order, counting
 * only those present: the first bad byte decides the error, so the answer is
 * the same however the stream was cut into reads, and a peer talking another
 * protocol is refused after its first byte instead of being waited for.
 */
#include "frame.h"

static const unsigned char MAGIC[2] = {0x53, 0x4C}; /* 'S' 'L' */

static int type_reserved(unsigned type) {
    return type == 0 || (type > SL_FRAME_PONG && type < SL_FRAME_APP_MIN);
}

static uint32_t load_be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

size_t sl_frame_encode_header(char *out, unsigned type, unsigned flags, uint32_t len) {
    if (type > 0xFF || type_reserved(type) || flags > 0xFFFF) return 0;
    unsigned char *p = (unsigned char *)out;
    p[0] = MAGIC[0];
    p[1] = MAGIC[1];
    p[2] = SL_FRAME_VERSION;
    p[3] = (unsigned char)type;
    p[4] = (unsigned char)(flags >> 8);
    p[5] = (unsigned char)flags;
    p[6] = p[7] = 0;
    p[8] = (unsigned char)(len >> 24);
    p[9] = (unsigned char)(len >> 16);
    p[10] = (unsigned char)(len >> 8);
    p[11] = (unsigned char)len;
    return SL_FRAME_HEADER;
}

/* Check the have (<= 12) header bytes at p. On success *least is the payload
 * length, or while it is incomplete the least it can still turn out to be
 * (the missing low bytes taken as zero): over max already means too big. */
static int check_header(const unsigned char *p, size_t have, uint32_t max, uint64_t *least) {
    if ((have > 0 && p[0] != MAGIC[0]) || (have > 1 && p[1] != MAGIC[1])) return SL_FRAME_BAD_MAGIC;
    if (have > 2 && p[2] != SL_FRAME_VERSION) return SL_FRAME_BAD_VERSION;
    if (have > 3 && type_reserved(p[3])) return SL_FRAME_BAD_TYPE;
    /* bytes 4-5, the flags, may hold anything */
    if ((have > 6 && p[6] != 0) || (have > 7 && p[7] != 0)) return SL_FRAME_BAD_RESERVED;
    uint64_t n = 0;
    for (size_t i = 8; i < SL_FRAME_HEADER; i++) n = n << 8 | (i < have ? p[i] : 0);
    /* n is a lower bound until the header is whole: the first length byte
     * that lifts it over the limit decides. A heartbeat's limit is the
     * lower of its own and max (the same byte may prove both: the
     * heartbeat's is named). */
    if (have > 3 && (p[3] == SL_FRAME_PING || p[3] == SL_FRAME_PONG) && SL_FRAME_HEARTBEAT_MAX < max) {
        if (n > SL_FRAME_HEARTBEAT_MAX) return SL_FRAME_BIG_HEARTBEAT;
    } else if (n > max) {
        return SL_FRAME_TOO_BIG;
    }
    *least = n;
    return 0;
}

int sl_frame_scan(const char *buf, size_t len, uint32_t max_payload, sl_frame *out, size_t cap, size_t *n_out,
                  size_t *consumed) {
    const unsigned char *p = (const unsigned char *)buf;
    uint32_t max = max_payload ? max_payload : SL_FRAME_DEFAULT_MAX_PAYLOAD;
    size_t pos = 0, n = 0;
    int rc = 0;
    /* A payload offset must fit sl_frame.off: past 4 GiB - 12 the caller
     * consumes what was found and scans the rest from its new start. */
    while (n < cap && pos < len && pos <= UINT32_MAX - SL_FRAME_HEADER) {
        const unsigned char *h = p + pos;
        size_t have = len - pos;
        uint64_t payload;
        rc = check_header(h, have < SL_FRAME_HEADER ? have : SL_FRAME_HEADER, max, &payload);
        if (rc != 0 || have < SL_FRAME_HEADER || have - SL_FRAME_HEADER < payload) break;
        out[n].off = (uint32_t)(pos + SL_FRAME_HEADER);
        out[n].len = (uint32_t)payload;
        out[n].flags = (uint16_t)(h[4] << 8 | h[5]);
        out[n].type = h[3];
        out[n].pad = 0;
        n++;
        pos += SL_FRAME_HEADER + (size_t)payload;
    }
    *n_out = n;
    *consumed = pos;
    return rc;
}

size_t sl_frame_need(const char *buf, size_t len) {
    if (len < SL_FRAME_HEADER) return SL_FRAME_HEADER;
    size_t payload = load_be32((const unsigned char *)buf + 8);
    size_t total = payload + SL_FRAME_HEADER;
    return total < payload ? SIZE_MAX : total; /* a 32-bit size_t saturates */
}

const char *sl_frame_error_name(int code) {
    switch (code) {
    case 0:
        return "ok";
    case SL_FRAME_BAD_MAGIC:
        return "bad magic";
    case SL_FRAME_BAD_VERSION:
        return "bad version";
    case SL_FRAME_BAD_TYPE:
        return "reserved frame type";
    case SL_FRAME_BAD_RESERVED:
        return "reserved bytes not zero";
    case SL_FRAME_TOO_BIG:
        return "frame too big";
    case SL_FRAME_BIG_HEARTBEAT:
        return "heartbeat payload over 64 bytes";
    default:
        return "unknown frame error";
    }
}
