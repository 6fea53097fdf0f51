// Runs the real `stsw` binary (STSW_BIN_DIR/stsw) as a child process and captures its exit
// status, stdout and stderr, with a deadline so that a hang fails the test instead of
// stalling it. stdout can be a pipe (the default) or a pseudo-terminal.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace stsw::test {

struct RunResult {
  int exit_code = -1;   // -1 when killed by a signal
  int term_signal = 0;  // the signal that ended it, 0 when it exited
  bool timed_out = false;
  std::string out;  // stdout (with a pty: what the terminal received)
  std::string err;  // stderr
};

struct RunOptions {
  std::vector<std::pair<std::string, std::string>> env = {};  // added to the inherited env
  std::vector<std::string> unset_env = {};                    // removed from it
  std::string cwd = {};                                       // empty: the test's cwd
  bool pty = false;                                           // stdout is a terminal
  bool stderr_pty = false;  // stderr is a terminal (where progress bars are drawn)
  double timeout_s = 60;
  // Sends SIGINT once stdout contains this text (empty: never).
  std::string interrupt_when = {};
};

[[nodiscard]] std::string stsw_binary();
[[nodiscard]] RunResult run_stsw(const std::vector<std::string>& args,
                                 const RunOptions& options = {});

// The number of lines of `s` ("a\nb\n" is 2; a last line without '\n' counts).
[[nodiscard]] std::size_t line_count(const std::string& s);

}  // namespace stsw::test
