// Runs an external program (fio) as a child process and measures it from the outside:
// wall time from spawn to exit, the child's CPU time and its peak RSS from wait4().
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace stsw::bench {

struct ChildRun {
  int exit_code = -1;         // exit status, or 128 + signal
  double seconds = 0;         // spawn to reap: the end-to-end wall time
  double cpu_seconds = 0;     // user + sys of the child
  std::uint64_t max_rss = 0;  // ru_maxrss of the child, bytes
  std::string out;            // everything written to stdout
  std::string err;            // everything written to stderr (truncated to 64 KiB)
};

// Runs argv[0] (looked up in PATH) with argv, stdin from /dev/null, in directory `cwd`
// (empty: this process's). Throws stsw::Error (Io) when the program cannot be started; a
// non-zero exit is reported in exit_code.
[[nodiscard]] ChildRun run_child(const std::vector<std::string>& argv, const std::string& cwd = {});

// The absolute path of `program` in PATH (or `program` itself when it contains a '/'
// and is executable); nullopt when not found.
[[nodiscard]] std::optional<std::string> find_program(const std::string& program);

}  // namespace stsw::bench
