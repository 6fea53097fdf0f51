// Names of the engine's enums, as used by options, logs and the CLI.
#include "stsw/engine.hpp"

namespace stsw {

std::string_view to_string(IoMode mode) noexcept {
  switch (mode) {
    case IoMode::Auto: return "auto";
    case IoMode::Direct: return "direct";
    case IoMode::Buffered: return "buffered";
    case IoMode::DontCache: return "dontcache";
  }
  return "?";
}

std::string_view to_string(BackendKind kind) noexcept {
  switch (kind) {
    case BackendKind::Auto: return "auto";
    case BackendKind::Uring: return "io_uring";
    case BackendKind::Threads: return "threads";
  }
  return "?";
}

std::optional<IoMode> parse_io_mode(std::string_view s) noexcept {
  if (s == "auto") return IoMode::Auto;
  if (s == "direct") return IoMode::Direct;
  if (s == "buffered") return IoMode::Buffered;
  if (s == "dontcache") return IoMode::DontCache;
  return std::nullopt;
}

std::optional<BackendKind> parse_backend(std::string_view s) noexcept {
  if (s == "auto") return BackendKind::Auto;
  if (s == "uring" || s == "io_uring") return BackendKind::Uring;
  if (s == "threads") return BackendKind::Threads;
  return std::nullopt;
}

}  // namespace stsw
