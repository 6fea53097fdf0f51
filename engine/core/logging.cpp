#include "core/logging.hpp"

#include <cstdlib>
#include <memory>
#include <string>

#include "core/log_sink.hpp"

namespace stsw::detail {

namespace {

std::shared_ptr<spdlog::logger> make_logger() {
  // stderr, or the program's sink once stsw::set_log_sink installed one.
  auto log = std::make_shared<spdlog::logger>("stsw", routing_sink());
  log->set_pattern("[%Y-%m-%d %H:%M:%S.%e] [stsw] [%l] %v");
  log->set_level(spdlog::level::warn);
  const char* env = std::getenv("STSW_LOG_LEVEL");
  if (env != nullptr && *env != '\0') {
    std::string name(env);
    if (name == "warning") name = "warn";
    if (name == "error") name = "err";
    auto level = spdlog::level::from_str(name);
    // from_str maps unknown names to off; only "off" itself may switch logging off.
    if (level != spdlog::level::off || name == "off") {
      log->set_level(level);
    } else {
      log->warn(
          "STSW_LOG_LEVEL='{}' is not a level (trace, debug, info, warn, error, "
          "critical, off); keeping warn",
          env);
    }
  }
  return log;
}

}  // namespace

spdlog::logger& logger() {
  // Never destroyed: engine threads (a shutdown helper, a worker finishing a callback)
  // may still log while exit handlers destroy the other statics.
  static const auto* const instance = new std::shared_ptr<spdlog::logger>(make_logger());
  return **instance;
}

}  // namespace stsw::detail
