// Finds the end of an HTTP line: the first byte that may not appear inside a
// request line or field line (anything but VCHAR, obs-text, SP, HTAB). That
// byte is CR for a well-formed line; anything else is an error. An AVX2 path
// is chosen at run time when the CPU has it; tests and benchmarks may force
// the scalar path. Thread rules: the choice is a process-wide atomic.
#pragma once

namespace sluice::http {

enum class ScanImpl { kScalar, kAvx2 };

// Whether this CPU can run the AVX2 scanner.
bool avx2_supported() noexcept;
// Chooses the scanner; kAvx2 on a CPU without AVX2 falls back to kScalar.
// Returns the implementation actually in use.
ScanImpl set_scan_impl(ScanImpl impl) noexcept;
ScanImpl scan_impl() noexcept;

namespace detail {

const char* find_line_stop_scalar(const char* p, const char* end) noexcept;
const char* find_line_stop_avx2(const char* p, const char* end) noexcept;
// With the current implementation: the first byte in [p, end) outside the
// line character class, or end.
const char* find_line_stop(const char* p, const char* end) noexcept;

}  // namespace detail
}  // namespace sluice::http
