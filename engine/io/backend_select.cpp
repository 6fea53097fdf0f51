// Backend selection: options, then STSW_IO_BACKEND, then what the kernel allows.
#include <cstdlib>
#include <string>

#include "core/logging.hpp"
#include "io/backend.hpp"

namespace stsw::detail {

namespace {

BackendKind requested_kind(const EngineOptions& options) {
  if (options.backend != BackendKind::Auto) return options.backend;
  const char* env = std::getenv("STSW_IO_BACKEND");
  if (env == nullptr || *env == '\0') return BackendKind::Auto;
  auto kind = parse_backend(env);
  if (!kind) {
    logger().warn("STSW_IO_BACKEND='{}' is not uring, threads or auto; ignoring it", env);
    return BackendKind::Auto;
  }
  logger().info("STSW_IO_BACKEND={} selects the {} backend", env, to_string(*kind));
  return *kind;
}

}  // namespace

std::unique_ptr<Backend> make_backend(const EngineOptions& options, std::span<const iovec> buffers,
                                      OwnerTag owner) {
  const BackendKind kind = requested_kind(options);
  if (kind != BackendKind::Threads) {
    std::string why;
    if (auto b = try_make_uring_backend(options, buffers, owner, why)) return b;
    logger().info("io_uring is not usable ({}); using the threads backend", why);
  }
  return make_thread_backend(options.io_threads, owner);
}

}  // namespace stsw::detail
