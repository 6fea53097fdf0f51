// The bounded pool of staging buffers: buffer_count page-aligned buffers of chunk_size
// bytes in one huge-page-backed mapping, handed out as StagingBuffer leases. Waiters are
// served in FIFO order, blocking callers (acquire) and asynchronous ones (transfers
// waiting for a buffer) alike. Under ASan, buffers in the pool are poisoned.
// All members are thread-safe.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <span>
#include <vector>

#include "stsw/engine.hpp"

namespace stsw::detail {

class BufferWaiter {
 public:
  // Called exactly once per queued wait, outside the pool's lock, on the thread that
  // released the buffer: with a buffer, or with an empty one when the pool closed.
  virtual void on_buffer(StagingBuffer buffer) noexcept = 0;

 protected:
  BufferWaiter() = default;
  ~BufferWaiter() = default;
};

class BufferPool {
 public:
  // Throws Error(Io/NoSpace) when the memory cannot be mapped.
  BufferPool(std::size_t buffer_size, unsigned count);
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;
  ~BufferPool();

  [[nodiscard]] std::span<const iovec> iovecs() const noexcept { return iov_; }
  [[nodiscard]] std::size_t buffer_size() const noexcept { return size_; }
  [[nodiscard]] unsigned total() const noexcept { return count_; }
  [[nodiscard]] unsigned free_count() const noexcept;

  // Blocks until a buffer is free; throws Error(Cancelled) once the pool is closed.
  [[nodiscard]] StagingBuffer acquire();
  [[nodiscard]] std::optional<StagingBuffer> try_acquire();

  enum class Wait { Got, Queued, Closed };
  // Takes a free buffer into `out` (Got) or queues `waiter` (Queued; on_buffer follows).
  [[nodiscard]] Wait acquire_or_wait(BufferWaiter* waiter, StagingBuffer& out);
  // Removes a queued waiter; false when it is not queued (its on_buffer is under way).
  bool cancel_wait(BufferWaiter* waiter) noexcept;
  // Fails every queued and future wait.
  void close() noexcept;

  // The index of the buffer holding [p, p + len), or -1 when it is not pool memory.
  [[nodiscard]] int index_of(const void* p, std::size_t len) const noexcept;

  // Returns a buffer (StagingBuffer::reset calls this).
  void release(int index) noexcept;

 private:
  [[nodiscard]] StagingBuffer lease(int index) noexcept;

  std::byte* map_ = nullptr;
  std::size_t map_size_ = 0;
  std::byte* base_ = nullptr;
  std::size_t size_ = 0;
  unsigned count_ = 0;
  std::vector<iovec> iov_;

  mutable std::mutex mu_;
  std::vector<int> free_;
  std::deque<BufferWaiter*> waiters_;
  bool closed_ = false;
};

}  // namespace stsw::detail
