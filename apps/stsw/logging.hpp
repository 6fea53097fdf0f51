// Logging set-up for the tool: its own messages (spdlog's default logger) and the
// library's (stsw/log.hpp) go to stderr, so that stdout carries only tables and JSON.
#pragma once

#include <array>
#include <string>
#include <string_view>

namespace stsw::cli {

// Accepted by --log-level and STSW_LOG_LEVEL.
inline constexpr std::array<std::string_view, 7> kLogLevels = {"trace", "debug",    "info", "warn",
                                                               "error", "critical", "off"};
inline constexpr std::string_view kDefaultLogLevel = "warn";

// Installs the stderr logger at `level` (one of kLogLevels) and sets the library's level
// to it. Safe to call more than once.
void setup_logging(const std::string& level);

}  // namespace stsw::cli
