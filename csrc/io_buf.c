/*
 * io_buf.c - one block of the pool: data[head .. head+length) is valid.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"

_Static_assert(sizeof(io_buf) == 64, "an io_buf header is one cache line");

io_buf *io_buf_headers_new(size_t n) {
    if (n == 0 || n > SIZE_MAX / sizeof(io_buf)) return NULL;
    io_buf *h = aligned_alloc(_Alignof(io_buf), n * sizeof(io_buf));
    if (h) memset(h, 0, n * sizeof(io_buf));
    return h;
}

void io_buf_clear(io_buf *b) { b->head = b->length = 0; }

void io_buf_pop(io_buf *b, size_t len) {
    if (len >= b->length) {
        io_buf_clear(b);
        return;
    }
    b->head += len;
    b->length -= len;
}

void io_buf_adjust(io_buf *b) {
    if (b->head == 0) return;
    if (b->length) memmove(b->data, b->data + b->head, b->length);
    b->head = 0;
}

int io_buf_copy(io_buf *b, const io_buf *other) {
    if (other->length > b->capacity) return -1;
    if (other->length) memmove(b->data, other->data + other->head, other->length);
    b->head = 0;
    b->length = other->length;
    return 0;
}
