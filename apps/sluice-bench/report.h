// Reports of a finished run: text (for people), JSON (for scripts; the same
// figures as the text, rounded the same way) and webbench's lines.
// Thread rules: pure functions.
#pragma once

#include <string>

#include "options.h"
#include "results.h"

namespace sluice::bench {

std::string format_text(const Options& options, const Results& results);
std::string format_json(const Options& options, const Results& results);

// printf into the end of `out` (a line of a report; at most 511 bytes).
[[gnu::format(printf, 2, 3)]] void appendf(std::string& out, const char* fmt, ...);

// The percentiles every report shows.
inline constexpr double kReportPercentiles[] = {50, 90, 99, 99.9, 99.99};

}  // namespace sluice::bench
