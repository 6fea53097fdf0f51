#include "logging.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace stsw::cli {

void setup_logging(const std::string& level) {
  auto logger = spdlog::get("stsw-cli");
  if (!logger) {
    logger = spdlog::stderr_color_mt("stsw-cli");
    logger->set_pattern("stsw: [%l] %v");
    spdlog::set_default_logger(logger);
  }
  // set_level on the registry reaches every logger, including any the library created.
  spdlog::set_level(spdlog::level::from_str(level));
}

}  // namespace stsw::cli
