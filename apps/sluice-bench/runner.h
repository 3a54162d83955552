// The run: options in, results out. This is the core the tests call
// in-process; main() adds argument parsing and printing.
// Thread rules: run() blocks the calling thread until the workers are done;
// `interrupt` may be set from any thread or a signal handler.
#pragma once

#include <atomic>
#include <cstdio>
#include <optional>
#include <string>

#include "options.h"
#include "results.h"

namespace sluice::bench {

struct RunControl {
  const std::atomic<bool>* interrupt = nullptr;  // set: stop now, report what was done
  std::FILE* progress = nullptr;                 // a line per second here, or nothing
};

// Resolves the URL, raises RLIMIT_NOFILE, starts the workers and waits.
// Empty with `error` set when the run could not start.
std::optional<Results> run(const Options& options, const RunControl& control, std::string& error);

// CPUs this process may run on (its affinity mask).
unsigned usable_cpus() noexcept;

}  // namespace sluice::bench
