// Removes a scratch directory when the process is interrupted (SIGINT, SIGTERM, SIGHUP), so
// that a self-test stopped with Ctrl-C does not leave gigabytes behind, then lets the signal
// end the process as it would have. The handler uses only async-signal-safe system calls.
//
// One instance at a time per process; it restores the previous handlers when destroyed.
#pragma once

#include <string>

namespace stsw::cli {

class CleanupOnSignal {
 public:
  // `dir` must hold only plain files (no subdirectories).
  explicit CleanupOnSignal(const std::string& dir);
  CleanupOnSignal(const CleanupOnSignal&) = delete;
  CleanupOnSignal& operator=(const CleanupOnSignal&) = delete;
  ~CleanupOnSignal();
};

}  // namespace stsw::cli
