#include "logging.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "stsw/log.hpp"

namespace stsw::cli {

void setup_logging(const std::string& level) {
  auto logger = spdlog::get("stsw-cli");
  if (!logger) {
    logger = spdlog::stderr_color_mt("stsw-cli");
    logger->set_pattern("stsw: [%l] %v");
    spdlog::set_default_logger(logger);
  }
  spdlog::set_level(spdlog::level::from_str(level));
  // The library's logger is its own (stsw/log.hpp), not in spdlog's registry.
  if (auto lib_level = stsw::parse_log_level(level)) stsw::set_log_level(*lib_level);
}

}  // namespace stsw::cli
