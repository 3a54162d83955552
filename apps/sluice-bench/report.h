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

// The percentiles every report shows.
inline constexpr double kReportPercentiles[] = {50, 90, 99, 99.9, 99.99};

}  // namespace sluice::bench
