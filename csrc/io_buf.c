/*
 * io_buf.c - one block of the pool: data[head .. head+length) is valid.
 */
#include <string.h>

#include "core.h"

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
