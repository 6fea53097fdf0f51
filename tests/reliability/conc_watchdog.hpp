// Hang detection for the reliability tests: a hang must fail with a message naming what
// hung, never run into the CTest timeout silently.
//
//   Watchdog dog("16 readers + verify", std::chrono::seconds(60));  // whole test body
//   wait_or_die(future, "read_into of 'w3'");                        // one operation
//
// Both end the process (std::abort, after printing to stderr) on a hang: the engine still
// references the test's memory, so the test cannot continue safely.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <mutex>
#include <string>
#include <thread>

namespace stsw::reliability {

// Generous: the tests take well under a second per operation even under TSan on 2 cores.
inline constexpr std::chrono::seconds kOperationLimit{60};

[[noreturn]] inline void die_of_hang(const std::string& what, std::chrono::seconds limit) {
  std::fprintf(stderr, "HANG: %s did not complete within %lld s\n", what.c_str(),
               static_cast<long long>(limit.count()));
  std::fflush(stderr);
  std::abort();
}

// Waits for `f` at most `limit`, then returns f.get() (rethrowing what it carries).
template <class T>
T wait_or_die(std::future<T>& f, const std::string& what,
              std::chrono::seconds limit = kOperationLimit) {
  if (f.wait_for(limit) != std::future_status::ready) die_of_hang(what, limit);
  return f.get();
}
template <class T>
T wait_or_die(std::future<T>&& f, const std::string& what,
              std::chrono::seconds limit = kOperationLimit) {
  return wait_or_die(f, what, limit);
}

// Aborts the process with a message unless destroyed within `limit` of its creation.
class Watchdog {
 public:
  Watchdog(std::string what, std::chrono::seconds limit)
      : what_(std::move(what)), limit_(limit), thread_([this] { watch(); }) {}
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;
  ~Watchdog() {
    {
      std::lock_guard lock(mutex_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  void watch() {
    std::unique_lock lock(mutex_);
    if (!cv_.wait_for(lock, limit_, [this] { return done_; })) die_of_hang(what_, limit_);
  }

  std::string what_;
  std::chrono::seconds limit_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;  // last: starts after the members it reads
};

}  // namespace stsw::reliability
