// The master's pid file, and sending a signal to the master it names.
#pragma once

#include <sys/types.h>

#include <string>

#include "sluice/base/error.h"

namespace sluice::proc {

// Writes getpid() to `path` (atomically: a temporary file renamed).
Status write_pid_file(const std::string& path);
// The pid in `path`, or an error (missing file, garbage, no such process).
Result<pid_t> read_pid_file(const std::string& path);
// Removes `path` if it still names this process.
void remove_pid_file(const std::string& path) noexcept;

// Maps "stop", "quit", "reload", "reopen" to TERM, QUIT, HUP, USR1; 0 if none.
int signal_for_command(const std::string& command) noexcept;

}  // namespace sluice::proc
