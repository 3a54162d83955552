#include "sluice/http/line_scan.h"

#include <atomic>
#include <cstring>

#include "sluice/http/chars.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define SLUICE_HTTP_X86 1
#endif

namespace sluice::http {
namespace {

// -1: not yet decided; otherwise a ScanImpl. Constant-initialised, so a
// parser running in a static initialiser still sees a valid state.
std::atomic<int> g_impl{-1};

int detect() noexcept {
  return avx2_supported() ? static_cast<int>(ScanImpl::kAvx2) : static_cast<int>(ScanImpl::kScalar);
}

int current() noexcept {
  int v = g_impl.load(std::memory_order_relaxed);
  if (v < 0) {
    v = detect();
    g_impl.store(v, std::memory_order_relaxed);
  }
  return v;
}

}  // namespace

bool avx2_supported() noexcept {
#ifdef SLUICE_HTTP_X86
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") != 0;
#else
  return false;
#endif
}

ScanImpl set_scan_impl(ScanImpl impl) noexcept {
  if (impl == ScanImpl::kAvx2 && !avx2_supported()) impl = ScanImpl::kScalar;
  g_impl.store(static_cast<int>(impl), std::memory_order_relaxed);
  return impl;
}

ScanImpl scan_impl() noexcept { return static_cast<ScanImpl>(current()); }

namespace detail {

const char* find_line_stop_scalar(const char* p, const char* end) noexcept {
  // Four bytes per round keeps the loop branch off the critical path.
  while (end - p >= 4) {
    if (!chars::has(p[0], chars::kFieldChar)) return p;
    if (!chars::has(p[1], chars::kFieldChar)) return p + 1;
    if (!chars::has(p[2], chars::kFieldChar)) return p + 2;
    if (!chars::has(p[3], chars::kFieldChar)) return p + 3;
    p += 4;
  }
  while (p < end && chars::has(*p, chars::kFieldChar)) ++p;
  return p;
}

#ifdef SLUICE_HTTP_X86

// A byte stops the scan when it is a CTL other than HTAB (0x00-0x08,
// 0x0a-0x1f) or DEL (0x7f). Unsigned min tells "<= 0x1f" in one compare.
__attribute__((target("avx2"))) const char* find_line_stop_avx2(const char* p,
                                                                const char* end) noexcept {
  const __m256i ctl_max = _mm256_set1_epi8(0x1f);
  const __m256i tab = _mm256_set1_epi8('\t');
  const __m256i del = _mm256_set1_epi8(0x7f);
  while (end - p >= 32) {
    __m256i v;
    std::memcpy(&v, p, sizeof v);
    const __m256i ctl = _mm256_cmpeq_epi8(_mm256_min_epu8(v, ctl_max), v);
    const __m256i bad = _mm256_or_si256(_mm256_andnot_si256(_mm256_cmpeq_epi8(v, tab), ctl),
                                        _mm256_cmpeq_epi8(v, del));
    const auto mask = static_cast<unsigned>(_mm256_movemask_epi8(bad));
    if (mask != 0) return p + __builtin_ctz(mask);
    p += 32;
  }
  if (end - p >= 16) {
    const __m128i ctl_max16 = _mm_set1_epi8(0x1f);
    const __m128i tab16 = _mm_set1_epi8('\t');
    const __m128i del16 = _mm_set1_epi8(0x7f);
    __m128i v;
    std::memcpy(&v, p, sizeof v);
    const __m128i ctl = _mm_cmpeq_epi8(_mm_min_epu8(v, ctl_max16), v);
    const __m128i bad =
        _mm_or_si128(_mm_andnot_si128(_mm_cmpeq_epi8(v, tab16), ctl), _mm_cmpeq_epi8(v, del16));
    const auto mask = static_cast<unsigned>(_mm_movemask_epi8(bad));
    if (mask != 0) return p + __builtin_ctz(mask);
    p += 16;
  }
  return find_line_stop_scalar(p, end);
}

#else

const char* find_line_stop_avx2(const char* p, const char* end) noexcept {
  return find_line_stop_scalar(p, end);
}

#endif

const char* find_line_stop(const char* p, const char* end) noexcept {
  if (current() == static_cast<int>(ScanImpl::kAvx2)) return find_line_stop_avx2(p, end);
  return find_line_stop_scalar(p, end);
}

}  // namespace detail
}  // namespace sluice::http
