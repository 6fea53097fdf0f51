// Helpers of the reliability suite (crash loops, path security, full file systems): scratch
// directories, deterministic data, forked children killed at chosen moments, syscall-exact
// kill points (seccomp), and strict checks of what a crash left on disk.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "stsw/engine.hpp"

namespace stsw::reliability {

// A fresh directory under $STSW_TEST_TMPDIR (default /var/tmp, a disk file system with
// O_TMPFILE and O_DIRECT), removed with its contents on destruction.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& tag = "rel");
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  ~ScratchDir();
  [[nodiscard]] const std::string& path() const noexcept { return path_; }
  [[nodiscard]] std::string file(const std::string& name) const { return path_ + "/" + name; }
  // Names in the directory (hidden ones included), sorted.
  [[nodiscard]] std::vector<std::string> entries() const;

 private:
  std::string path_;
};

// Deterministic bytes, different for each seed.
[[nodiscard]] std::vector<std::byte> seeded_bytes(std::size_t n, std::uint32_t seed);
[[nodiscard]] std::vector<std::byte> slurp(const std::string& path);
// An unsigned environment variable, or `fallback` when unset or empty.
[[nodiscard]] std::uint64_t env_count(const char* name, std::uint64_t fallback);
[[nodiscard]] double seconds_now();
// Threads of this process (/proc/self/status); fork() is safe to use freely only at 1.
[[nodiscard]] int thread_count();
// Every thread of this process as "tid name" (/proc/self/task/*/comm), comma-separated;
// engine threads are named stsw-uring, stsw-io, stsw-worker, stsw-blocking and stsw-shutdown.
[[nodiscard]] std::string thread_names();

// True when `name` is a writer's hidden temporary name for `base`: ".<base>.stsw-" and 12
// lowercase hex digits (engine/writer/target_file.cpp).
[[nodiscard]] bool is_hidden_temp_of(const std::string& name, const std::string& base);

// Syscalls a child can be killed at, exactly: before or after the n-th call (counted over
// all threads) of fsync, fdatasync, linkat, renameat(2), unlink(at), ftruncate, fallocate
// and pwrite64. Implemented with a seccomp filter that traps those calls to a SIGSYS
// handler which counts, performs the call itself and sends SIGKILL to the process at the
// chosen count. Available on x86-64 only.
struct StepKill {
  std::uint64_t before = 0;  // kill before the n-th trapped call (1-based; 0: never)
  std::uint64_t after = 0;   // kill right after the n-th trapped call returns (0: never)
  // Make open(O_TMPFILE) fail with EOPNOTSUPP, as on file systems without it, so the writer
  // takes its hidden-name fallback.
  bool deny_tmpfile = false;
};
[[nodiscard]] bool step_kill_supported();
// Installs the filter in the calling (single-threaded, forked) process; threads created
// later inherit it. Before killing, the handler writes "K<c><nr>;" to `report_fd` (when
// >= 0): c is '<' (before) or '>' (after), nr the syscall number. Returns false when
// seccomp is refused.
bool install_step_kill(const StepKill& at, int report_fd = -1);
// Trapped calls counted so far (in the child that installed the filter).
[[nodiscard]] std::uint64_t trapped_calls();
// The name of the trapped call at 1-based position n of the last install (for reports),
// "" beyond what was recorded (the first 4096 calls are recorded).
[[nodiscard]] std::string trapped_call_name(std::uint64_t n);
// "fsync", "linkat", ... for a syscall number.
[[nodiscard]] std::string syscall_label(long nr);

// A forked child. `body` runs in the child, which then _exits with 0, or with 3 after
// printing an exception. The child gets a pipe's write end as `marker_fd` to signal the
// parent (e.g. "close() starts now"), and dies with the parent (PR_SET_PDEATHSIG).
struct Child {
  pid_t pid = -1;
  int marker_fd = -1;  // read end in the parent
  double started = 0;  // seconds_now() just before fork
};
// Waits for released engines first (Engine::wait_for_released_engines) and throws
// std::runtime_error naming every thread if the parent still has more than one.
[[nodiscard]] Child fork_child(const std::function<void(int marker_fd)>& body);
// Waits for the child; returns the raw wait status and closes the marker pipe.
int reap(Child& child);
// Blocks until the child writes to its marker pipe or exits; returns the time of the marker
// (seconds_now()), or a negative value when the child exited first. Reads up to `buf_len`
// bytes into `buf` when given.
double wait_marker(const Child& child, char* buf = nullptr, std::size_t buf_len = 0);
// Sleeps until the absolute time `t` (seconds_now() clock).
void sleep_until(double t);

// A small private engine for the parent's checks (destroyed after each check, so the parent
// has no threads when it forks the next child).
[[nodiscard]] std::shared_ptr<Engine> check_engine();

// Strict check of one safetensors file: opened with the official loader's rules, every
// tensor has a crc32 and verify() finds all of them correct. Returns "" when complete and
// valid, else a description of what is wrong. Null `engine`: a fresh check_engine().
[[nodiscard]] std::string verify_file(const std::string& path,
                                      std::shared_ptr<Engine> engine = nullptr);

}  // namespace stsw::reliability
