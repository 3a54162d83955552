#include "sluice/proc/pid_file.h"

#include <signal.h>
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace sluice::proc {

Status write_pid_file(const std::string& path) {
  std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "we");
  if (!f) return errno_code();
  std::fprintf(f, "%d\n", static_cast<int>(::getpid()));
  if (std::fclose(f) != 0) return errno_code();
  if (std::rename(tmp.c_str(), path.c_str()) != 0) return errno_code();
  return {};
}

Result<pid_t> read_pid_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return errno_code(ENOENT);
  std::string text;
  std::getline(in, text);
  int pid = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), pid);
  if (ec != std::errc() || pid <= 1 || end != text.data() + text.size())
    return Errc::kInvalidArgument;
  if (::kill(pid, 0) != 0 && errno == ESRCH) return errno_code(ESRCH);
  return static_cast<pid_t>(pid);
}

void remove_pid_file(const std::string& path) noexcept {
  if (path.empty()) return;
  auto pid = read_pid_file(path);
  if (pid && *pid == ::getpid()) ::unlink(path.c_str());
}

int signal_for_command(const std::string& command) noexcept {
  if (command == "stop") return SIGTERM;
  if (command == "quit") return SIGQUIT;
  if (command == "reload") return SIGHUP;
  if (command == "reopen") return SIGUSR1;
  return 0;
}

}  // namespace sluice::proc
