// The library's one logger ("stsw", on stderr unless the program routes it elsewhere:
// stsw/log.hpp, core/log_sink.hpp). Its level comes from STSW_LOG_LEVEL
// (trace, debug, info, warn, error, critical, off; default warn), read once on first use.
// Conventions: backend choice and every fallback at info, per-request detail at trace.
// Thread-safe; usable from any part of the library (not from public headers).
#pragma once

#include <spdlog/logger.h>

namespace stsw::detail {

[[nodiscard]] spdlog::logger& logger();

}  // namespace stsw::detail
