// Capturing the library's log records in tests (stsw/log.hpp): a Collector to install as
// the sink, and a LogCapture that installs one for a scope and restores stderr and the
// previous level afterwards (also when an assertion throws).
#pragma once

#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "stsw/log.hpp"

namespace stsw::test {

struct LogRecord {
  LogLevel level;
  std::string message;
};

// Collects records; the sink may be called from several threads. The collector must
// outlive the sink it hands out (reset the sink first).
class Collector {
 public:
  LogSink sink() {
    return [this](LogLevel level, std::string_view message) {
      const std::lock_guard lock(mutex_);
      records_.push_back({level, std::string(message)});
    };
  }
  std::vector<LogRecord> records() {
    const std::lock_guard lock(mutex_);
    return records_;
  }
  bool saw(std::string_view needle) {
    for (const LogRecord& r : records()) {
      if (r.message.find(needle) != std::string::npos) return true;
    }
    return false;
  }
  void clear() {
    const std::lock_guard lock(mutex_);
    records_.clear();
  }

 private:
  std::mutex mutex_;
  std::vector<LogRecord> records_;
};

// Sends records at `level` and above to its Collector while it lives.
class LogCapture : public Collector {
 public:
  explicit LogCapture(LogLevel level) : previous_(log_level()) {
    set_log_level(level);
    set_log_sink(sink());
  }
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;
  LogCapture(LogCapture&&) = delete;
  LogCapture& operator=(LogCapture&&) = delete;
  ~LogCapture() {
    set_log_sink({});  // waits for calls in progress: the records outlive every call
    set_log_level(previous_);
  }

 private:
  LogLevel previous_;
};

}  // namespace stsw::test
