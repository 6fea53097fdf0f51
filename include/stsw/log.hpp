// Routing the library's log records. By default stsw logs to stderr at warn and above
// (STSW_LOG_LEVEL=trace|debug|info|warn|error|critical|off, read once at the first log
// record, chooses another level). A program with its own logging installs a sink to
// receive the records instead, and may change the level at run time.
//
//   stsw::set_log_sink([](stsw::LogLevel level, std::string_view message) {
//     my_server_log(to_my_level(level), "stsw: {}", message);
//   });
//   stsw::set_log_level(stsw::LogLevel::info);
//
// Conventions: the I/O backend choice and every fallback at info, per-request detail at
// trace, recoverable trouble at warn. Messages carry no trailing newline.
#pragma once

#include "stsw/export.hpp"

#include <functional>
#include <optional>
#include <string_view>

namespace STSW_API stsw {

enum class LogLevel { trace, debug, info, warn, error, critical, off };

// Receives one record. Called on the thread that logs (a caller's thread or one of the
// engine's), possibly from several threads at once: it must be thread-safe, should be
// quick, must not throw (exceptions are caught and dropped) and must not call back into
// stsw: not set_log_sink (it waits for calls in progress: a deadlock), nor anything that
// may log.
using LogSink = std::function<void(LogLevel level, std::string_view message)>;

// Sends every later record at or above the level to `sink` instead of stderr; an empty
// sink goes back to stderr. When set_log_sink returns, the previous sink is no longer
// running and is never called again: reset the sink before destroying what it uses.
// Records from threads the library still runs after main returns (an engine shutting
// down) go to whatever sink is set then. Thread-safe.
void set_log_sink(LogSink sink);

// Records below `level` are dropped (LogLevel::off drops all). Overrides STSW_LOG_LEVEL;
// takes effect at once on every thread. Thread-safe.
void set_log_level(LogLevel level);
[[nodiscard]] LogLevel log_level();

// "trace", "debug", "info", "warn" (or "warning"), "error", "critical", "off" -> the
// level; anything else -> nullopt. to_string is the inverse (the first spelling).
[[nodiscard]] std::optional<LogLevel> parse_log_level(std::string_view name) noexcept;
[[nodiscard]] std::string_view to_string(LogLevel level) noexcept;

}  // namespace stsw
