// sluice-bench: the command-line front end of the load generator.
// Exit status: 0 after a run (whatever the errors it counted), 1 when the run
// could not start, 2 for a command-line error.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <string>
#include <vector>

#include "options.h"
#include "report.h"
#include "runner.h"
#include "sluice/loop/event_loop.h"
#include "webbench_mode.h"

namespace {

std::atomic<bool> g_interrupted{false};

extern "C" void on_interrupt(int) { g_interrupted.store(true); }

bool write_file(const std::string& path, const std::string& text) {
  std::FILE* f = std::fopen(path.c_str(), "we");
  if (f == nullptr) return false;
  const bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  return std::fclose(f) == 0 && ok;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace sluice::bench;
  std::vector<std::string> args(argv + 1, argv + argc);
  Options options;
  const ParseOutcome parsed = parse_options(args, options);
  const bool webbench = options.format == OutputFormat::kWebbench;
  switch (parsed.kind) {
    case ParseOutcome::Kind::kHelp:
      std::fputs(webbench ? webbench_usage_text().c_str() : usage_text().c_str(), stdout);
      return 0;
    case ParseOutcome::Kind::kVersion: std::printf("%s\n", kVersion); return 0;
    case ParseOutcome::Kind::kError:
      std::fprintf(stderr, "sluice-bench: %s\n", parsed.error.c_str());
      std::fputs(webbench ? webbench_usage_text().c_str() : usage_text().c_str(), stderr);
      return 2;
    case ParseOutcome::Kind::kRun: break;
  }

  (void)sluice::ignore_sigpipe();
  struct sigaction sa {};
  sa.sa_handler = on_interrupt;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);

  if (webbench) {
    std::fputs(webbench_banner(options).c_str(), stdout);
    std::fflush(stdout);
  }
  RunControl control;
  control.interrupt = &g_interrupted;
  if (options.progress && ::isatty(STDERR_FILENO) == 1) control.progress = stderr;
  std::string error;
  const auto results = run(options, control, error);
  if (!results) {
    std::fprintf(stderr, "sluice-bench: %s\n", error.c_str());
    return 1;
  }
  std::string report;
  switch (options.format) {
    case OutputFormat::kText: report = format_text(options, *results); break;
    case OutputFormat::kJson: report = format_json(options, *results); break;
    case OutputFormat::kWebbench: report = format_webbench(options, *results); break;
  }
  std::fputs(report.c_str(), stdout);
  if (!options.json_out.empty() && !write_file(options.json_out, format_json(options, *results))) {
    std::fprintf(stderr, "sluice-bench: cannot write '%s'\n", options.json_out.c_str());
    return 1;
  }
  return 0;
}
