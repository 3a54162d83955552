// The request every connection sends, rendered once before the run.
// Thread rules: built before the workers start, then only read.
#pragma once

#include <string>

#include "options.h"

namespace sluice::bench {

// One request: request line, Host, User-Agent, Connection (when needed), the
// -H headers (a -H header replaces a default of the same name),
// Content-Length for a body, then the body.
std::string render_request(const Options& options);

}  // namespace sluice::bench
