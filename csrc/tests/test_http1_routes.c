/*
 * test_http1_routes.c - the exact-route table matched while framing.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core.h"
#include "harness.h"
#include "http1.h"

#define PATHS(s) s, sizeof s - 1

static uint32_t route(const struct http_routes *t, const char *path) {
    return http_route_of(t, path, strlen(path));
}

TEST(http_routes_numbered_in_order_and_matched_exactly) {
    struct http_routes *t = NULL;
    REQUIRE(http_routes_make(&t, PATHS("/\0/users\0/a/b/c")) == 0);
    CHECK(route(t, "/") == 1);
    CHECK(route(t, "/users") == 2);
    CHECK(route(t, "/a/b/c") == 3);
    CHECK(route(t, "/users/") == 0); /* byte for byte: no trailing-slash folding */
    CHECK(route(t, "/Users") == 0);
    CHECK(route(t, "/a/b") == 0);
    CHECK(route(t, "") == 0);
    CHECK(route(t, "*") == 0);
    http_routes_free(t);
}

TEST(http_routes_query_cut_and_percent_left_to_python) {
    struct http_routes *t = NULL;
    REQUIRE(http_routes_make(&t, PATHS("/users\0/a%20b")) == 0);
    CHECK(route(t, "/users?x=1") == 1);
    CHECK(route(t, "/users?") == 1);
    CHECK(route(t, "/users?%41") == 1); /* a '%' in the query does not matter */
    CHECK(route(t, "/user%73") == 0);   /* decoded it is /users: Python decides */
    CHECK(route(t, "/a%20b") == 0);
    CHECK(route(t, "?/users") == 0);
    /* the path's length bounds the match: bytes after it are not looked at */
    CHECK(http_route_of(t, "/usersXYZ", 6) == 1);
    http_routes_free(t);
}

TEST(http_routes_bad_tables_refused) {
    struct http_routes *t = NULL;
    CHECK(http_routes_make(&t, PATHS("users")) == -EINVAL);
    CHECK(http_routes_make(&t, PATHS("/a\0\0/b")) == -EINVAL); /* an empty path between */
    char *longp = malloc(SL_HTTP_MAX_ROUTE_LEN + 2);
    REQUIRE(longp);
    memset(longp, 'x', SL_HTTP_MAX_ROUTE_LEN + 1);
    longp[0] = '/';
    CHECK(http_routes_make(&t, longp, SL_HTTP_MAX_ROUTE_LEN + 1) == -EINVAL);
    CHECK(http_routes_make(&t, longp, SL_HTTP_MAX_ROUTE_LEN) == 0);
    CHECK(http_route_of(t, longp, SL_HTTP_MAX_ROUTE_LEN) == 1);
    CHECK(http_route_of(t, longp, SL_HTTP_MAX_ROUTE_LEN + 1) == 0);
    http_routes_free(t);
    free(longp);
    CHECK(t != NULL);
}

TEST(http_routes_many_all_found) {
    size_t cap = (size_t)SL_HTTP_MAX_ROUTES * 16 + 16, len = 0;
    char *buf = malloc(cap);
    REQUIRE(buf);
    for (int i = 0; i < SL_HTTP_MAX_ROUTES; i++) len += (size_t)sprintf(buf + len, "/r/%d", i) + 1;
    struct http_routes *t = NULL;
    REQUIRE(http_routes_make(&t, buf, len - 1) == 0); /* a trailing NUL is optional */
    int wrong = 0;
    char p[32];
    for (int i = 0; i < SL_HTTP_MAX_ROUTES; i++) {
        snprintf(p, sizeof p, "/r/%d", i);
        wrong += route(t, p) != (uint32_t)i + 1;
    }
    CHECKF(wrong == 0, "%d of %d routes not found as their number", wrong, SL_HTTP_MAX_ROUTES);
    CHECK(route(t, "/r/-1") == 0);
    http_routes_free(t);
    len += (size_t)sprintf(buf + len, "/one-more");
    CHECK(http_routes_make(&t, buf, len) == -E2BIG);
    free(buf);
}

TEST(http_routes_empty_table_matches_nothing) {
    CHECK(http_route_of(NULL, "/", 1) == 0);
    struct http_routes *t = NULL;
    REQUIRE(http_routes_make(&t, "", 0) == 0);
    CHECK(route(t, "/") == 0);
    http_routes_free(t);
}
