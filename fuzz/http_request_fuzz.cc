// libFuzzer target for the HTTP/1.1 request parser and body decoder.
//
// Input: byte 0 picks a split point, byte 1 a set of limits, the rest is the
// connection's bytes. The request is parsed whole, split in two at the chosen
// point, fed one byte at a time (short inputs), and with the other scanner;
// every run must give the same outcome, or the fuzzer aborts.
//
// Standalone build (until http/ is part of the sluice library):
//   clang++ -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -Isrc \
//     fuzz/http_request_fuzz.cc src/sluice/http/{request_parser,body_decoder,line_scan}.cc \
//     -o build/http_request_fuzz
//   build/http_request_fuzz -max_total_time=60 fuzz/corpus/http_request_fuzz
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string_view>

#include "../tests/http/http_driver.h"
#include "sluice/http/line_scan.h"

namespace {

using sluice::http::ParserLimits;
using sluice::http::ScanImpl;
using sluice::http::testing::Outcome;

ParserLimits limits_for(std::uint8_t selector) {
  ParserLimits l;
  if (selector & 1) {
    l.max_request_line = 32;
    l.max_header_line = 24;
    l.max_header_bytes = 64;
    l.max_headers = 4;
  }
  if (selector & 2) {
    l.max_body_size = 16;
    l.max_chunk_count = 3;
    l.max_chunk_line = 12;
    l.max_trailer_bytes = 16;
  }
  if (selector & 4) l.max_leading_empty_lines = 1;
  return l;
}

void check(const Outcome& a, const Outcome& b, const char* what) {
  if (a == b) return;
  std::cerr << "mismatch (" << what << ")\n  " << a << "\n  " << b << "\n";
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data + 2), size - 2);
  const ParserLimits limits = limits_for(data[1]);
  const std::size_t cut = input.size() * data[0] / 255;

  sluice::http::set_scan_impl(ScanImpl::kScalar);
  const Outcome whole = sluice::http::testing::run_whole(input, limits);
  if (whole.consumed > input.size()) std::abort();
  check(whole, sluice::http::testing::run_split_at(input, cut, limits), "split");
  if (input.size() <= 512) {
    check(whole, sluice::http::testing::run_bytewise(input, limits), "byte at a time");
  }
  if (sluice::http::set_scan_impl(ScanImpl::kAvx2) == ScanImpl::kAvx2) {
    check(whole, sluice::http::testing::run_split_at(input, cut, limits), "avx2");
  }
  return 0;
}
