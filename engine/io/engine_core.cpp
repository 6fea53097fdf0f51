#include "io/engine_core.hpp"

#include <algorithm>

#include "core/logging.hpp"

namespace stsw::detail {

Core::Core(const EngineOptions& options, const BackendFactory& factory) : options_(options) {
  pool_ = std::make_unique<BufferPool>(options.chunk_size, options.buffer_count,
                                       resolved_max_buffers(options), [this] { return busy(); });
  backend_ = factory(options_, pool_->iovecs(), tag());
  workers_ = std::make_unique<WorkerPool>(options.worker_threads, tag());
  blocking_ = std::make_unique<WorkerPool>(1, tag(), "stsw-blocking");
  options_.backend = backend_->kind();
  logger().info(
      "engine: backend {}, {} x {} KiB staging buffers ({}), queue depth {}, {} worker "
      "thread(s){}",
      to_string(backend_->kind()), options.buffer_count, options.chunk_size >> 10,
      backend_->buffers_registered() ? "registered" : "not registered", options.queue_depth,
      options.worker_threads,
      backend_->kind() == BackendKind::Threads
          ? ", " + std::to_string(options.io_threads) + " I/O threads"
          : std::string());
}

Core::~Core() { teardown(); }

bool Core::begin_op() noexcept {
  std::lock_guard lock(ops_mu_);
  if (stopping()) return false;
  ++ops_;
  return true;
}

void Core::end_op() noexcept {
  {
    std::lock_guard lock(ops_mu_);
    if (--ops_ != 0) return;
    if (stopping()) {
      ops_cv_.notify_all();
      return;
    }
    ++idle_calls_;  // teardown waits for it: the pool must outlive the call below
  }
  // Blocking acquirers at the pool's cap fail once nothing in flight can return a buffer.
  pool_->on_idle();
  std::lock_guard lock(ops_mu_);
  --idle_calls_;
  ops_cv_.notify_all();
}

bool Core::busy() noexcept {
  std::lock_guard lock(ops_mu_);
  return ops_ != 0;
}

unsigned resolved_max_buffers(const EngineOptions& o) noexcept {
  if (o.max_buffer_count != 0) return std::max(o.max_buffer_count, o.buffer_count);
  const auto by_memory =
      static_cast<unsigned>(std::min<std::size_t>((std::size_t{1} << 30) / o.chunk_size, 65536));
  return std::max(o.buffer_count, by_memory);
}

void Core::teardown() noexcept {
  {
    std::lock_guard lock(ops_mu_);
    if (torn_down_) return;
    torn_down_ = true;
    stopping_.store(true, std::memory_order_release);
  }
  workers_->begin_cancel();
  blocking_->begin_cancel();
  pool_->close();
  {
    std::unique_lock lock(ops_mu_);
    ops_cv_.wait(lock, [this] { return ops_ == 0 && idle_calls_ == 0; });
  }
  backend_->shutdown();
  workers_->shutdown();
  blocking_->shutdown();
}

EngineStats Core::stats() const {
  EngineStats s;
  s.backend = backend_->kind();
  s.buffers_registered = backend_->buffers_registered();
  s.files_registered = backend_->files_registered();
  s.bytes_submitted = counters_.bytes_submitted.load(std::memory_order_relaxed);
  s.bytes_completed = counters_.bytes_completed.load(std::memory_order_relaxed);
  s.requests_submitted = counters_.requests_submitted.load(std::memory_order_relaxed);
  s.requests_completed = counters_.requests_completed.load(std::memory_order_relaxed);
  s.requests_retried = counters_.requests_retried.load(std::memory_order_relaxed);
  s.in_flight = counters_.in_flight.load(std::memory_order_relaxed);
  s.crc_seconds = static_cast<double>(counters_.crc_ns.load(std::memory_order_relaxed)) * 1e-9;
  s.callback_seconds =
      static_cast<double>(counters_.callback_ns.load(std::memory_order_relaxed)) * 1e-9;
  s.buffers_total = pool_->total();
  s.buffers_free = pool_->free_count();
  s.buffers_max = pool_->max_total();
  return s;
}

}  // namespace stsw::detail
