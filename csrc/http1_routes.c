/*
 * http1_routes.c - the exact paths a server routes, matched while a request
 * is framed, so Python finds a route's handler by its number in the record
 * (SL_HTTP_R_ROUTE) instead of decoding the path and looking it up itself.
 *
 * A path matches when the request's path up to its first '?' equals it byte
 * for byte and holds no '%' (a percent-encoded path is decoded by Python,
 * which routes it). Open addressing over FNV-1a hashes; at most
 * SL_HTTP_MAX_ROUTES paths of at most SL_HTTP_MAX_ROUTE_LEN bytes each.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "http1.h"

struct http_routes {
    char *text;     /* the paths, as given */
    uint32_t *slot; /* per slot: 0 empty, else route number; cap a power of two */
    uint32_t *off, *len;
    uint32_t cap, n;
};

static uint32_t fnv1a(const char *p, size_t n) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)p[i]) * 16777619u;
    return h;
}

void http_routes_free(struct http_routes *t) {
    if (!t) return;
    free(t->text);
    free(t->slot);
    free(t->off);
    free(t->len);
    free(t);
}

int http_routes_make(struct http_routes **out, const char *paths, size_t len) {
    uint32_t n = 0;
    for (size_t i = 0, s = 0; i <= len; i++) { /* count and check the NUL-separated paths */
        if (i < len && paths[i]) continue;
        if (i == s && i < len) return -EINVAL; /* an empty path */
        if (i - s > SL_HTTP_MAX_ROUTE_LEN || (i > s && paths[s] != '/')) return -EINVAL;
        if (i > s) n++;
        s = i + 1;
    }
    if (n > SL_HTTP_MAX_ROUTES) return -E2BIG;
    struct http_routes *t = calloc(1, sizeof *t);
    if (!t) return -ENOMEM;
    t->cap = 8;
    while (t->cap < 2 * n) t->cap *= 2;
    t->text = malloc(len ? len : 1);
    t->slot = calloc(t->cap, sizeof *t->slot);
    t->off = malloc((n + 1) * sizeof *t->off);
    t->len = malloc((n + 1) * sizeof *t->len);
    if (!t->text || !t->slot || !t->off || !t->len) {
        http_routes_free(t);
        return -ENOMEM;
    }
    memcpy(t->text, paths, len);
    for (size_t i = 0, s = 0; i <= len; i++) {
        if (i < len && paths[i]) continue;
        if (i > s) {
            uint32_t id = ++t->n, k = fnv1a(paths + s, i - s) & (t->cap - 1);
            t->off[id] = (uint32_t)s;
            t->len[id] = (uint32_t)(i - s);
            while (t->slot[k]) k = (k + 1) & (t->cap - 1);
            t->slot[k] = id;
        }
        s = i + 1;
    }
    *out = t;
    return 0;
}

uint32_t http_route_of(const struct http_routes *t, const char *path, size_t len) {
    if (!t || !t->n || !len) return 0;
    const char *q = memchr(path, '?', len);
    if (q) len = (size_t)(q - path);
    if (len > SL_HTTP_MAX_ROUTE_LEN || memchr(path, '%', len)) return 0;
    for (uint32_t k = fnv1a(path, len) & (t->cap - 1);; k = (k + 1) & (t->cap - 1)) {
        uint32_t id = t->slot[k];
        if (!id) return 0;
        if (t->len[id] == len && memcmp(t->text + t->off[id], path, len) == 0) return id;
    }
}
