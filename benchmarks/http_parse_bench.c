/*
 * http_parse_bench.c - ns per sl_http_parse of a whole request.
 *
 *   cc -O2 -Icsrc benchmarks/http_parse_bench.c csrc/http1_parse.c -o http_parse_bench
 *   ./http_parse_bench [ITERATIONS]
 *
 * Two requests, each arriving whole: a typical browser-ish GET (about 200
 * bytes, 6 headers) and a POST with a 1 KiB Content-Length body. Each
 * figure is the best of 5 rounds of ITERATIONS parses (reset + parse),
 * wall time on CLOCK_MONOTONIC; one line per request.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http1.h"

static const char get_req[] = "GET /index.html?page=2&sort=asc HTTP/1.1\r\n"
                              "Host: www.example.com\r\n"
                              "User-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\n"
                              "Accept: text/html,application/xhtml+xml\r\n"
                              "Accept-Encoding: gzip, deflate\r\n"
                              "Connection: keep-alive\r\n"
                              "Cookie: session=0123456789abcdef\r\n"
                              "\r\n";

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static double bench(char *buf, size_t len, long iterations) {
    sl_http_header headers[16];
    sl_http_limits lim;
    sl_http_limits_default(&lim);
    double best = 1e300;
    volatile uint64_t sink = 0;
    for (int round = 0; round < 5; round++) {
        double t0 = now_ns();
        for (long i = 0; i < iterations; i++) {
            sl_http_request r;
            sl_http_request_reset(&r);
            if (sl_http_parse(&r, buf, len, headers, 16, &lim) != SL_HTTP_DONE) {
                fprintf(stderr, "parse failed: %s\n", r.error ? r.error : "incomplete");
                exit(1);
            }
            sink += r.consumed + headers[r.n_headers - 1].value_len;
        }
        double ns = (now_ns() - t0) / (double)iterations;
        if (ns < best) best = ns;
    }
    (void)sink;
    return best;
}

int main(int argc, char **argv) {
    long iterations = argc > 1 ? atol(argv[1]) : 200000;
    if (iterations <= 0) iterations = 200000;

    char *get = malloc(sizeof get_req);
    memcpy(get, get_req, sizeof get_req);
    size_t get_len = sizeof get_req - 1;

    char body[1024];
    memset(body, 'x', sizeof body);
    char *post = malloc(2048);
    int head = snprintf(post, 2048,
                        "POST /api/items HTTP/1.1\r\nHost: www.example.com\r\n"
                        "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                        sizeof body);
    memcpy(post + head, body, sizeof body);
    size_t post_len = (size_t)head + sizeof body;

    printf("GET  %zu bytes, 6 headers: %.1f ns/parse\n", get_len, bench(get, get_len, iterations));
    printf("POST %zu bytes (1 KiB body): %.1f ns/parse\n", post_len, bench(post, post_len, iterations));
    free(get);
    free(post);
    return 0;
}
