// The shared state of one engine: options, staging pool, backend, workers, the blocking-call
// thread, statistics and the count of operations still owed a callback (what shutdown waits for).
//
// Shutdown order (teardown): mark stopping (transfers stop issuing pieces and fail with
// Cancelled), close the pool (transfers waiting for a buffer fail), cancel queued worker
// (and blocking-call) items, wait until every operation has called back, then stop the backend (its
// requests are all complete by then) and join the workers. The pool's memory is unmapped
// last, after the ring that registered it is gone.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>

#include "io/backend.hpp"
#include "io/buffer_pool.hpp"
#include "io/worker_pool.hpp"
#include "stsw/engine.hpp"

namespace stsw::detail {

struct StatCounters {
  std::atomic<std::uint64_t> bytes_submitted{0};
  std::atomic<std::uint64_t> bytes_completed{0};
  std::atomic<std::uint64_t> requests_submitted{0};
  std::atomic<std::uint64_t> requests_completed{0};
  std::atomic<std::uint64_t> requests_retried{0};
  std::atomic<std::uint64_t> in_flight{0};
  std::atomic<std::uint64_t> crc_ns{0};
  std::atomic<std::uint64_t> callback_ns{0};
};

// EngineOptions::max_buffer_count with 0 resolved (the larger of buffer_count and
// 1 GiB / chunk_size).
[[nodiscard]] unsigned resolved_max_buffers(const EngineOptions& o) noexcept;

class Core {
 public:
  // Validated options; throws Error when the pool cannot be mapped.
  Core(const EngineOptions& options, const BackendFactory& factory);
  Core(const Core&) = delete;
  Core& operator=(const Core&) = delete;
  ~Core();

  [[nodiscard]] const EngineOptions& options() const noexcept { return options_; }
  [[nodiscard]] BufferPool& pool() noexcept { return *pool_; }
  [[nodiscard]] Backend& backend() noexcept { return *backend_; }
  [[nodiscard]] WorkerPool& workers() noexcept { return *workers_; }
  // One thread for file-system calls that may block for long (Engine::post_blocking).
  [[nodiscard]] WorkerPool& blocking() noexcept { return *blocking_; }
  [[nodiscard]] StatCounters& counters() noexcept { return counters_; }
  [[nodiscard]] OwnerTag tag() const noexcept { return this; }
  [[nodiscard]] bool stopping() const noexcept { return stopping_.load(std::memory_order_acquire); }
  [[nodiscard]] EngineStats stats() const;

  // Every asynchronous operation calls begin_op() before it starts and end_op() after
  // its callback returned. begin_op() fails (false) once shutdown started.
  [[nodiscard]] bool begin_op() noexcept;
  void end_op() noexcept;
  // True while some operation is in flight (its completion may return staging buffers).
  [[nodiscard]] bool busy() noexcept;

  // Completes or cancels everything and joins all threads. Idempotent. Must not run on
  // one of this engine's threads.
  void teardown() noexcept;

 private:
  EngineOptions options_;
  StatCounters counters_;
  std::unique_ptr<BufferPool> pool_;
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<WorkerPool> workers_;
  std::unique_ptr<WorkerPool> blocking_;

  std::atomic<bool> stopping_{false};
  std::mutex ops_mu_;
  std::condition_variable ops_cv_;
  std::uint64_t ops_ = 0;
  unsigned idle_calls_ = 0;  // end_op() calls still telling the pool the engine went idle
  bool torn_down_ = false;
};

}  // namespace stsw::detail
