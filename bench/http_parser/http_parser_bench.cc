// Parse throughput on a realistic ~700-byte browser request with 9 headers.
//   BM_Sluice/scalar, BM_Sluice/avx2: RequestParser, parse + reset per request
//   BM_SluiceByteAtATime: the same request fed one byte at a time
//   BM_HttpParser: libhttp-parser's http_parser_execute with callbacks that
//     record the header spans, as a caller needing the views would.
// Run pinned: taskset -c 1 build/bench/bin/bench_http_parser
#include <benchmark/benchmark.h>

#include <string>
#include <string_view>

#include "sluice/http/line_scan.h"
#include "sluice/http/request_parser.h"

#ifdef SLUICE_BENCH_HAVE_HTTP_PARSER
#include <http_parser.h>
#endif

namespace {

const std::string& request() {
  static const std::string r =
      "GET /static/js/app.bundle.min.js?v=20240101&lang=en-US HTTP/1.1\r\n"
      "Host: www.example-shop.com\r\n"
      "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/120.0.0.0 Safari/537.36\r\n"
      "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
      "*/*;q=0.8\r\n"
      "Accept-Language: en-US,en;q=0.9,de;q=0.8\r\n"
      "Accept-Encoding: gzip, deflate, br\r\n"
      "Referer: https://www.example-shop.com/products/category/shoes?page=2&sort=price\r\n"
      "Cookie: session_id=6f1c2a9e8b7d4c3f2e1d0c9b8a7f6e5d; theme=dark; "
      "_ga=GA1.2.1234567890.1700000000; cart=3f9a8b7c; consent=accepted-2024; "
      "ab_test=checkout_v2_variant_b; tz=Europe%2FBerlin\r\n"
      "Connection: keep-alive\r\n"
      "Cache-Control: max-age=0\r\n"
      "\r\n";
  return r;
}

void BM_Sluice(benchmark::State& state, sluice::http::ScanImpl impl) {
  if (sluice::http::set_scan_impl(impl) != impl) {
    state.SkipWithError("scanner not supported on this CPU");
    return;
  }
  const std::string& req = request();
  sluice::http::RequestParser parser;
  for (auto _ : state) {
    parser.reset();
    const sluice::http::ParseResult r = parser.parse(req);
    benchmark::DoNotOptimize(r);
    benchmark::DoNotOptimize(parser.request().headers.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(req.size()));
  state.counters["headers"] = static_cast<double>(parser.request().headers.size());
  state.counters["request_bytes"] = static_cast<double>(req.size());
}
BENCHMARK_CAPTURE(BM_Sluice, scalar, sluice::http::ScanImpl::kScalar);
BENCHMARK_CAPTURE(BM_Sluice, avx2, sluice::http::ScanImpl::kAvx2);

void BM_SluiceByteAtATime(benchmark::State& state) {
  sluice::http::set_scan_impl(sluice::http::avx2_supported() ? sluice::http::ScanImpl::kAvx2
                                                             : sluice::http::ScanImpl::kScalar);
  const std::string& req = request();
  sluice::http::RequestParser parser;
  for (auto _ : state) {
    parser.reset();
    for (std::size_t n = 1; n <= req.size(); ++n) {
      benchmark::DoNotOptimize(parser.parse(std::string_view(req.data(), n)));
    }
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(req.size()));
}
BENCHMARK(BM_SluiceByteAtATime);

#ifdef SLUICE_BENCH_HAVE_HTTP_PARSER

struct Spans {
  struct Span {
    const char* at;
    std::size_t len;
  };
  Span url{};
  Span names[32]{};
  Span values[32]{};
  int count = 0;
};

int on_url(http_parser* p, const char* at, std::size_t len) {
  static_cast<Spans*>(p->data)->url = {at, len};
  return 0;
}
int on_field(http_parser* p, const char* at, std::size_t len) {
  auto* s = static_cast<Spans*>(p->data);
  if (s->count < 32) s->names[s->count] = {at, len};
  return 0;
}
int on_value(http_parser* p, const char* at, std::size_t len) {
  auto* s = static_cast<Spans*>(p->data);
  if (s->count < 32) s->values[s->count++] = {at, len};
  return 0;
}

void BM_HttpParser(benchmark::State& state) {
  const std::string& req = request();
  http_parser_settings settings;
  http_parser_settings_init(&settings);
  settings.on_url = on_url;
  settings.on_header_field = on_field;
  settings.on_header_value = on_value;
  http_parser parser;
  Spans spans;
  for (auto _ : state) {
    http_parser_init(&parser, HTTP_REQUEST);
    spans.count = 0;
    parser.data = &spans;
    benchmark::DoNotOptimize(http_parser_execute(&parser, &settings, req.data(), req.size()));
    benchmark::DoNotOptimize(spans);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(req.size()));
  state.counters["headers"] = spans.count;
}
BENCHMARK(BM_HttpParser);

#endif

}  // namespace

BENCHMARK_MAIN();
