/*
 * test_io_buf.c - one block: clear, pop, adjust, copy (the seed's semantics).
 *
 * The blocks here are plain arrays wrapped in an io_buf: io_buf.c never
 * touches the pool.
 */
#include <string.h>

#include "util.h"

typedef struct block {
    io_buf b;
    char mem[64];
} block;

/* A 64-byte block holding text at offset head. */
static void make(block *k, size_t capacity, size_t head, const char *text) {
    memset(k, 0, sizeof *k);
    memset(k->mem, '.', sizeof k->mem);
    k->b.capacity = capacity;
    k->b.data = k->mem;
    k->b.head = head;
    k->b.length = strlen(text);
    memcpy(k->mem + head, text, k->b.length);
}

static int holds(io_buf *b, const char *text) {
    return b->length == strlen(text) && memcmp(io_buf_begin(b), text, b->length) == 0;
}

TEST(io_buf_clear_empties) {
    block k;
    make(&k, 64, 5, "hello");
    io_buf_clear(&k.b);
    CHECK_EQ_U(k.b.head, 0);
    CHECK_EQ_U(k.b.length, 0);
    CHECK_EQ_U(io_buf_room(&k.b), 64);
}

TEST(io_buf_pop_partial_moves_head) {
    block k;
    make(&k, 64, 3, "hello world");
    io_buf_pop(&k.b, 6);
    CHECK_EQ_U(k.b.head, 9);
    CHECK(holds(&k.b, "world"));
    CHECK_EQ_U(io_buf_room(&k.b), 64 - 9 - 5);
}

TEST(io_buf_pop_exact_length_empties) {
    block k;
    make(&k, 64, 3, "hello");
    io_buf_pop(&k.b, 5);
    CHECK_EQ_U(k.b.length, 0);
    CHECK_EQ_U(k.b.head, 0); /* an empty block starts over at the front */
}

TEST(io_buf_pop_over_length_empties) {
    block k;
    make(&k, 64, 3, "hello");
    io_buf_pop(&k.b, 1000);
    CHECK_EQ_U(k.b.length, 0);
    CHECK_EQ_U(k.b.head, 0);
}

TEST(io_buf_pop_zero_changes_nothing) {
    block k;
    make(&k, 64, 3, "hello");
    io_buf_pop(&k.b, 0);
    CHECK_EQ_U(k.b.head, 3);
    CHECK(holds(&k.b, "hello"));
}

TEST(io_buf_adjust_moves_bytes_to_front) {
    block k;
    make(&k, 64, 40, "overlapping move");
    io_buf_adjust(&k.b);
    CHECK_EQ_U(k.b.head, 0);
    CHECK(holds(&k.b, "overlapping move"));
    CHECK(memcmp(k.mem, "overlapping move", 16) == 0);
    CHECK_EQ_U(io_buf_room(&k.b), 64 - 16);
    /* Source and destination overlap when head < length. */
    make(&k, 64, 4, "0123456789abcdef");
    io_buf_adjust(&k.b);
    CHECK(holds(&k.b, "0123456789abcdef"));
}

TEST(io_buf_adjust_empty_resets_head) {
    block k;
    make(&k, 64, 10, "");
    io_buf_adjust(&k.b);
    CHECK_EQ_U(k.b.head, 0);
    CHECK_EQ_U(k.b.length, 0);
}

/* copy replaces what the target held (it does not append) and starts at 0. */
TEST(io_buf_copy_replaces_contents) {
    block dst, src;
    make(&dst, 64, 7, "old contents");
    make(&src, 64, 20, "new");
    CHECK_EQ_I(io_buf_copy(&dst.b, &src.b), 0);
    CHECK_EQ_U(dst.b.head, 0);
    CHECK(holds(&dst.b, "new"));
    CHECK(holds(&src.b, "new")); /* the source is left as it was */
    CHECK_EQ_U(src.b.head, 20);
}

TEST(io_buf_copy_exactly_capacity_fits) {
    block dst, src;
    make(&dst, 8, 0, "");
    make(&src, 64, 30, "12345678");
    CHECK_EQ_I(io_buf_copy(&dst.b, &src.b), 0);
    CHECK(holds(&dst.b, "12345678"));
}

/* What does not fit is refused and the target keeps its bytes. */
TEST(io_buf_copy_refuses_what_does_not_fit) {
    block dst, src;
    make(&dst, 8, 2, "keep");
    make(&src, 64, 0, "123456789");
    CHECK_EQ_I(io_buf_copy(&dst.b, &src.b), -1);
    CHECK_EQ_U(dst.b.head, 2);
    CHECK(holds(&dst.b, "keep"));
    CHECK(dst.mem[6] == '.'); /* nothing written past the old bytes either */
}

TEST(io_buf_copy_of_empty_empties) {
    block dst, src;
    make(&dst, 64, 5, "something");
    make(&src, 64, 9, "");
    CHECK_EQ_I(io_buf_copy(&dst.b, &src.b), 0);
    CHECK_EQ_U(dst.b.head, 0);
    CHECK_EQ_U(dst.b.length, 0);
}
