// webbench mode: `sluice-bench --webbench -c N -t SECONDS [-f] [-r] [-1|-2|-9] URL`.
//
// webbench's flags map onto Options: a new connection per request (as
// webbench did), HTTP/1.0 unless -2, -f = success once the request is
// written, -r = Pragma: no-cache. -9 (HTTP/0.9) is not supported: replies
// without a status line cannot be checked, so the banner says so and the
// request goes out as HTTP/1.0.
// The report keeps webbench's two lines ("Speed=... pages/min, ... bytes/sec."
// and "Requests: ... susceed, ... failed.", webbench's spelling) but counts
// only complete responses as successes; non-2xx responses and the errors by
// kind follow on lines of their own.
// Thread rules: pure functions.
#pragma once

#include <string>
#include <vector>

#include "options.h"
#include "results.h"

namespace sluice::bench {

ParseOutcome parse_webbench_options(const std::vector<std::string>& args, Options& out);
std::string webbench_usage_text();
std::string webbench_banner(const Options& options);
std::string format_webbench(const Options& options, const Results& results);

}  // namespace sluice::bench
