// The pool of staging buffers: buffer_count page-aligned buffers of chunk_size bytes in one
// huge-page-backed mapping (the registered set), handed out as StagingBuffer leases, plus
// up to max_count - buffer_count extra buffers mapped on demand when the registered set is
// exhausted (never registered with the ring: fixed-buffer opcodes only see the first set)
// and unmapped again when they come back with nobody waiting.
//
// Growth is for holders, not for transfers. A transfer (an asynchronous waiter) only maps
// an extra buffer when no buffer is leased to a transfer: a transfer's lease always comes
// back on its own (after its I/O and worker stage), so it waits for one rather than growing
// the pool. Growing for every transfer in flight cost a fresh, unpopulated buffer per piece
// (8 MiB of page faults, ~25 ms here, unmapped again on return) and up to 1 GiB of peak RSS
// when a loader requested every tensor at once; blocking callers (StreamWriters holding a
// buffer each) still grow it, even past transfers queued that way, and when the last
// transfer lease goes to a blocking caller a queued transfer grows the pool after all: a
// transfer never waits on a buffer that only a holder returns.
//
// Waiting. Waiters are served in FIFO order, blocking callers (acquire) and asynchronous
// ones (transfers waiting for a buffer) alike; a waiter only queues when every buffer up to
// the cap is out. A blocking acquire() at the cap waits only while engine operations are
// in flight (the `busy` probe: their completions return buffers); when nothing is in
// flight, or the last operation ends with blocking callers still queued, those callers
// fail at once with Errc::NoSpace ("staging pool exhausted") instead of waiting for a
// buffer that only another caller's next call could return. Under ASan, buffers in the
// pool are poisoned. All members are thread-safe.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <span>
#include <vector>

#include "stsw/engine.hpp"

namespace stsw::detail {

class BufferWaiter {
 public:
  // Called exactly once per queued wait, outside the pool's lock, on the thread that
  // released the buffer: with a buffer, or with an empty one when the pool closed (or,
  // for blocking waiters, when the pool is exhausted with nothing in flight).
  virtual void on_buffer(StagingBuffer buffer) noexcept = 0;
  // Blocking waiters (acquire) fail instead of waiting when nothing is in flight.
  [[nodiscard]] virtual bool blocking() const noexcept { return false; }

 protected:
  BufferWaiter() = default;
  ~BufferWaiter() = default;
};

class BufferPool {
 public:
  // `count` registered buffers, growing on demand to `max_count` (>= count) buffers in
  // all. `busy` says whether engine operations are in flight (may be empty: never busy).
  // Throws Error(Io/NoSpace) when the registered set cannot be mapped.
  BufferPool(std::size_t buffer_size, unsigned count, unsigned max_count = 0,
             std::function<bool()> busy = {});
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;
  ~BufferPool();

  // The registered set (what the ring registers).
  [[nodiscard]] std::span<const iovec> iovecs() const noexcept { return iov_; }
  [[nodiscard]] std::size_t buffer_size() const noexcept { return size_; }
  [[nodiscard]] unsigned total() const noexcept;  // registered + extra buffers mapped now
  [[nodiscard]] unsigned max_total() const noexcept { return max_count_; }
  [[nodiscard]] unsigned free_count() const noexcept;  // free registered buffers

  // Blocks until a buffer is free; throws Error(Cancelled) once the pool is closed and
  // Error(NoSpace) when the cap is reached with nothing in flight.
  [[nodiscard]] StagingBuffer acquire();
  [[nodiscard]] std::optional<StagingBuffer> try_acquire();

  enum class Wait { Got, Queued, Closed };
  // Takes a free buffer into `out` (Got) or queues `waiter` (Queued; on_buffer follows).
  [[nodiscard]] Wait acquire_or_wait(BufferWaiter* waiter, StagingBuffer& out);
  // Removes a queued waiter; false when it is not queued (its on_buffer is under way).
  bool cancel_wait(BufferWaiter* waiter) noexcept;
  // Fails every queued and future wait.
  void close() noexcept;
  // The engine went idle: fails the blocking waiters when no buffer can come back.
  void on_idle() noexcept;

  // The index of the registered buffer holding [p, p + len), or -1 when it is not
  // registered pool memory.
  [[nodiscard]] int index_of(const void* p, std::size_t len) const noexcept;

  // Returns a buffer by its slot (StagingBuffer::reset calls this).
  void release(int slot) noexcept;

 private:
  [[nodiscard]] StagingBuffer lease(int slot) noexcept;
  // Removes a queued waiter (mu_ held), keeping blocking_waiters_.
  BufferWaiter* pop_waiter_locked(std::deque<BufferWaiter*>::iterator it) noexcept;
  // Records that `slot` goes to an asynchronous waiter (mu_ held).
  void mark_transfer_locked(int slot) noexcept;
  [[nodiscard]] std::byte* address(int slot) const noexcept;
  // Takes a free registered slot, else maps a new extra one (mu_ held: mmap without
  // populating is cheap); -1 when at the cap or when the mapping failed.
  [[nodiscard]] int take_locked() noexcept;
  // Removes the blocking waiters when nothing is in flight (mu_ held).
  [[nodiscard]] std::deque<BufferWaiter*> starving_locked();

  std::byte* map_ = nullptr;
  std::size_t map_size_ = 0;
  std::byte* base_ = nullptr;
  std::size_t size_ = 0;
  unsigned count_ = 0;
  unsigned max_count_ = 0;
  std::function<bool()> busy_;
  std::vector<iovec> iov_;

  mutable std::mutex mu_;
  std::vector<int> free_;
  std::vector<std::byte*> extra_;  // slot count_ + k; nullptr when not mapped
  unsigned extra_live_ = 0;        // extra buffers mapped now
  std::deque<BufferWaiter*> waiters_;
  bool closed_ = false;
  std::vector<bool> transfer_lease_;  // by slot: leased to an asynchronous waiter
  unsigned transfer_leases_ = 0;      // how many are
  unsigned blocking_waiters_ = 0;     // blocking callers in waiters_
};

}  // namespace stsw::detail
