// SluiceProgram: the sluice HTTP server as a proc::Program. The master stages
// and commits configurations (reload = stage + commit); each worker runs an
// HttpServer on the listeners it inherited, serving the status endpoints and
// static files, with its access log and the worker side of the signals.
// Thread rules: as proc::Program.
#pragma once

#include <optional>
#include <string>

#include "config.h"
#include "sluice/base/unique_fd.h"
#include "sluice/proc/program.h"
#include "status.h"

namespace sluice::app {

class SluiceProgram final : public proc::Program {
 public:
  SluiceProgram(std::string config_path, Overrides overrides);
  ~SluiceProgram() override;
  SluiceProgram(const SluiceProgram&) = delete;
  SluiceProgram& operator=(const SluiceProgram&) = delete;

  std::optional<std::string> stage() override;
  const proc::Plan& staged_plan() const override { return staged_.plan; }
  void commit() override;
  const proc::Plan& plan() const override { return current_.plan; }
  int run_worker(proc::WorkerEnv& env) override;
  void reopen_logs() override;

  const Config& staged() const { return staged_; }

 private:
  // Points sluice::log at the configured error log (or stderr).
  void open_error_log(const Config& config);

  std::string config_path_;
  Overrides overrides_;
  Config staged_;
  Config current_;
  PoolBoard* board_ = nullptr;
  UniqueFd error_log_fd_;
};

}  // namespace sluice::app
