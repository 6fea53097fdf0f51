#include "core/log_sink.hpp"

#include <spdlog/details/log_msg.h>
#include <spdlog/pattern_formatter.h>

#include <cstdio>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <utility>

#include "core/logging.hpp"
#include "stsw/log.hpp"

namespace stsw {

namespace {

LogLevel from_spdlog(spdlog::level::level_enum level) noexcept {
  switch (level) {
    case spdlog::level::trace: return LogLevel::trace;
    case spdlog::level::debug: return LogLevel::debug;
    case spdlog::level::info: return LogLevel::info;
    case spdlog::level::warn: return LogLevel::warn;
    case spdlog::level::err: return LogLevel::error;
    case spdlog::level::critical: return LogLevel::critical;
    default: return LogLevel::off;
  }
}

spdlog::level::level_enum to_spdlog(LogLevel level) noexcept {
  switch (level) {
    case LogLevel::trace: return spdlog::level::trace;
    case LogLevel::debug: return spdlog::level::debug;
    case LogLevel::info: return spdlog::level::info;
    case LogLevel::warn: return spdlog::level::warn;
    case LogLevel::error: return spdlog::level::err;
    case LogLevel::critical: return spdlog::level::critical;
    case LogLevel::off: break;
  }
  return spdlog::level::off;
}

class RoutingSink final : public spdlog::sinks::sink {
 public:
  void log(const spdlog::details::log_msg& msg) override {
    {
      // Shared: sinks run concurrently; set() waits for them (its exclusive lock).
      std::shared_lock lock(sink_mutex_);
      if (sink_) {
        try {
          sink_(from_spdlog(msg.level), std::string_view(msg.payload.data(), msg.payload.size()));
        } catch (...) {
          // A log record is not worth an exception escaping into an engine thread.
        }
        return;
      }
    }
    std::lock_guard lock(stderr_mutex_);  // the formatter caches state: one at a time
    spdlog::memory_buf_t line;
    formatter_->format(msg, line);
    std::fwrite(line.data(), 1, line.size(), stderr);
  }

  void flush() override {
    std::lock_guard lock(stderr_mutex_);
    std::fflush(stderr);
  }

  void set_pattern(const std::string& pattern) override {
    set_formatter(std::make_unique<spdlog::pattern_formatter>(pattern));
  }

  void set_formatter(std::unique_ptr<spdlog::formatter> formatter) override {
    std::lock_guard lock(stderr_mutex_);
    formatter_ = std::move(formatter);
  }

  void set(LogSink sink) {
    {
      std::unique_lock lock(sink_mutex_);
      std::swap(sink_, sink);
    }
    // The previous sink is destroyed here, after no call into it can be running.
  }

 private:
  std::shared_mutex sink_mutex_;
  LogSink sink_;
  std::mutex stderr_mutex_;
  std::unique_ptr<spdlog::formatter> formatter_ = std::make_unique<spdlog::pattern_formatter>();
};

std::shared_ptr<RoutingSink>& the_sink() {
  // Never destroyed, like the logger that holds it.
  static auto* const instance = new std::shared_ptr<RoutingSink>(std::make_shared<RoutingSink>());
  return *instance;
}

}  // namespace

namespace detail {

std::shared_ptr<spdlog::sinks::sink> routing_sink() { return the_sink(); }

}  // namespace detail

void set_log_sink(LogSink sink) {
  (void)detail::logger();  // the logger exists (and holds the sink) from now on
  the_sink()->set(std::move(sink));
}

void set_log_level(LogLevel level) { detail::logger().set_level(to_spdlog(level)); }

LogLevel log_level() { return from_spdlog(detail::logger().level()); }

std::optional<LogLevel> parse_log_level(std::string_view name) noexcept {
  for (LogLevel level : {LogLevel::trace, LogLevel::debug, LogLevel::info, LogLevel::warn,
                         LogLevel::error, LogLevel::critical, LogLevel::off}) {
    if (name == to_string(level)) return level;
  }
  if (name == "warning") return LogLevel::warn;
  return std::nullopt;
}

std::string_view to_string(LogLevel level) noexcept {
  switch (level) {
    case LogLevel::trace: return "trace";
    case LogLevel::debug: return "debug";
    case LogLevel::info: return "info";
    case LogLevel::warn: return "warn";
    case LogLevel::error: return "error";
    case LogLevel::critical: return "critical";
    case LogLevel::off: return "off";
  }
  return "off";
}

}  // namespace stsw
