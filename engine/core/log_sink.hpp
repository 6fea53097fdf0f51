// The one sink of the library's logger (core/logging.hpp): writes records to stderr, or
// hands them to the program's LogSink once stsw::set_log_sink installed one
// (stsw/log.hpp has the public contract). Never destroyed, like the logger.
#pragma once

#include <spdlog/sinks/sink.h>

#include <memory>

namespace stsw::detail {

[[nodiscard]] std::shared_ptr<spdlog::sinks::sink> routing_sink();

}  // namespace stsw::detail
