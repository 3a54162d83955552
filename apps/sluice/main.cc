// sluice: a small static HTTP server with nginx's process model.
// Usage: see kUsage below and docs/operations.md.
#include <cstdio>
#include <cstring>
#include <string>

#include "config.h"
#include "program.h"
#include "sluice/base/log.h"
#include "sluice/loop/event_loop.h"
#include "sluice/proc/master.h"

#ifndef SLUICE_VERSION
#define SLUICE_VERSION "0.1.0"
#endif

namespace {

constexpr const char* kUsage =
    "usage: sluice [options]\n"
    "\n"
    "With no options, serves the bundled site on 127.0.0.1:8080.\n"
    "\n"
    "  -c, --config FILE       read the configuration from FILE (TOML)\n"
    "      --root DIR          serve files from DIR (overrides the file)\n"
    "      --listen ADDR:PORT  listen there; repeatable; IPv6 as [::1]:8080\n"
    "      --workers N|auto    worker processes (auto: one per CPU)\n"
    "      --pid-file FILE     write the master's pid there (needed by -s)\n"
    "  -t, --test              check the configuration and exit (0: ok, 1: not)\n"
    "  -s SIGNAL               send stop|quit|reload|reopen to the running master\n"
    "  -v, --version           print the version\n"
    "  -h, --help              print this help\n"
    "\n"
    "Command-line options override the configuration file, also on reload.\n";

}  // namespace

int main(int argc, char** argv) {
  using namespace sluice;
  std::string config_path;
  app::Overrides overrides;
  std::string command;
  bool test_only = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    std::string value;
    bool has_inline = false;
    if (arg.starts_with("--") && arg.find('=') != std::string::npos) {
      value = arg.substr(arg.find('=') + 1);
      arg = arg.substr(0, arg.find('='));
      has_inline = true;
    }
    auto need = [&](const char* name) -> bool {
      if (has_inline) return true;
      if (i + 1 >= argc) {
        std::fprintf(stderr, "sluice: %s needs a value\n%s", name, kUsage);
        return false;
      }
      value = argv[++i];
      return true;
    };
    if (arg == "-h" || arg == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (arg == "-v" || arg == "--version") {
      std::printf("sluice %s\n", SLUICE_VERSION);
      return 0;
    } else if (arg == "-t" || arg == "--test") {
      test_only = true;
    } else if (arg == "-c" || arg == "--config") {
      if (!need("--config")) return 2;
      config_path = value;
    } else if (arg == "--root") {
      if (!need("--root")) return 2;
      overrides.root = value;
    } else if (arg == "--listen") {
      if (!need("--listen")) return 2;
      overrides.listen.push_back(value);
    } else if (arg == "--workers") {
      if (!need("--workers")) return 2;
      overrides.workers = value;
    } else if (arg == "--pid-file") {
      if (!need("--pid-file")) return 2;
      overrides.pid_file = value;
    } else if (arg == "-s" || arg == "--signal") {
      if (!need("-s")) return 2;
      command = value;
    } else {
      std::fprintf(stderr, "sluice: unknown option '%s'\n%s", arg.c_str(), kUsage);
      return 2;
    }
  }

  app::SluiceProgram program(config_path, overrides);
  std::optional<std::string> error = program.stage();

  if (!command.empty()) {
    // The pid file comes from the flag, else from the configuration.
    std::string pid_file = overrides.pid_file.value_or(error ? "" : program.staged().pid_file);
    if (pid_file.empty()) {
      if (error) std::fprintf(stderr, "sluice: %s\n", error->c_str());
      std::fprintf(stderr, "sluice: -s needs --pid-file or a pid_file in the configuration\n");
      return 1;
    }
    return proc::signal_master(pid_file, command);
  }
  if (error) {
    std::fprintf(stderr, "sluice: %s\n", error->c_str());
    if (test_only) std::fprintf(stderr, "sluice: configuration test failed\n");
    return 1;
  }
  if (test_only) {
    std::printf("sluice: configuration %s is ok\n",
                config_path.empty() ? "(built-in defaults)" : config_path.c_str());
    return 0;
  }
  (void)ignore_sigpipe();
  const app::Config& c = program.staged();
  std::string addresses;
  for (const net::InetAddress& a : c.plan.listen) addresses += " " + a.to_string();
  SLUICE_LOG(kInfo, "sluice %s: serving %s on%s with %d worker(s)", SLUICE_VERSION, c.root.c_str(),
             addresses.c_str(), c.plan.workers);
  proc::MasterOptions options;
  options.pid_file = c.pid_file;
  proc::Master master(program, options);
  return master.run();
}
