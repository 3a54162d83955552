/*
 * harness.h - a tiny unit-test harness for Sluice's C core.
 *
 * A test is a function registered with TEST(name) { ... }. The runner
 * (runner.c) runs each one in its own forked child with a timeout, so a
 * crash, a sanitizer report or a hang fails that test alone. CHECK records a
 * failure (file:line and message) and the test goes on; REQUIRE records it
 * and ends the test at once (for a NULL that would crash the rest).
 */
#ifndef SLUICE_TEST_HARNESS_H
#define SLUICE_TEST_HARNESS_H

#include <stdint.h>

typedef void (*test_fn)(void);

void harness_register(const char *name, test_fn fn);
void harness_fail(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* End the running test now: a failure if one was recorded, else a pass. */
_Noreturn void harness_end_test(void);
/* End the running test as skipped (it could not run here, e.g. rlimits). */
_Noreturn void harness_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int harness_failures(void);

/* Registration runs before main (a constructor), in definition order. */
#define TEST(name)                                                                                           \
    static void name(void);                                                                                  \
    __attribute__((constructor)) static void harness_register_##name(void) {                                 \
        harness_register(#name, name);                                                                       \
    }                                                                                                        \
    static void name(void)

#define CHECK(cond) ((cond) ? (void)0 : harness_fail(__FILE__, __LINE__, "CHECK(%s)", #cond))
#define CHECKF(cond, ...) ((cond) ? (void)0 : harness_fail(__FILE__, __LINE__, __VA_ARGS__))
#define REQUIRE(cond)                                                                                        \
    do {                                                                                                     \
        if (!(cond)) {                                                                                       \
            harness_fail(__FILE__, __LINE__, "REQUIRE(%s)", #cond);                                          \
            harness_end_test();                                                                              \
        }                                                                                                    \
    } while (0)

/* Equality with both values in the message; integers of any width. */
#define CHECK_EQ_U(a, b)                                                                                     \
    do {                                                                                                     \
        uintmax_t a_ = (uintmax_t)(a), b_ = (uintmax_t)(b);                                                  \
        CHECKF(a_ == b_, "%s == %s: %ju != %ju", #a, #b, a_, b_);                                            \
    } while (0)
#define CHECK_EQ_I(a, b)                                                                                     \
    do {                                                                                                     \
        intmax_t a_ = (intmax_t)(a), b_ = (intmax_t)(b);                                                     \
        CHECKF(a_ == b_, "%s == %s: %jd != %jd", #a, #b, a_, b_);                                            \
    } while (0)

#endif
