#include "io/buffer_pool.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <string>

#include "core/logging.hpp"
#include "io/sys.hpp"
#include "stsw/error.hpp"

#if defined(__SANITIZE_ADDRESS__) || defined(STSW_ASAN)
#include <sanitizer/asan_interface.h>
#endif
#ifndef ASAN_POISON_MEMORY_REGION
#define ASAN_POISON_MEMORY_REGION(addr, size) ((void)(addr), (void)(size))
#define ASAN_UNPOISON_MEMORY_REGION(addr, size) ((void)(addr), (void)(size))
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

namespace stsw {

// ---- StagingBuffer ----------------------------------------------------------------

StagingBuffer::StagingBuffer(StagingBuffer&& other) noexcept
    : pool_(std::exchange(other.pool_, nullptr)),
      ptr_(std::exchange(other.ptr_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      index_(std::exchange(other.index_, -1)),
      slot_(std::exchange(other.slot_, -1)) {}

StagingBuffer& StagingBuffer::operator=(StagingBuffer&& other) noexcept {
  if (this != &other) {
    reset();
    pool_ = std::exchange(other.pool_, nullptr);
    ptr_ = std::exchange(other.ptr_, nullptr);
    size_ = std::exchange(other.size_, 0);
    index_ = std::exchange(other.index_, -1);
    slot_ = std::exchange(other.slot_, -1);
  }
  return *this;
}

StagingBuffer::~StagingBuffer() { reset(); }

void StagingBuffer::reset() noexcept {
  if (pool_ != nullptr) std::exchange(pool_, nullptr)->release(slot_);
  ptr_ = nullptr;
  size_ = 0;
  index_ = -1;
  slot_ = -1;
}

namespace detail {

namespace {
constexpr std::size_t kHugePage = std::size_t{2} << 20;

struct BlockingWaiter final : BufferWaiter {
  std::mutex mu;
  std::condition_variable cv;
  StagingBuffer got;
  bool done = false;
  void on_buffer(StagingBuffer buffer) noexcept override {
    std::lock_guard lock(mu);
    got = std::move(buffer);
    done = true;
    cv.notify_one();
  }
  [[nodiscard]] bool blocking() const noexcept override { return true; }
};

[[noreturn]] void throw_exhausted(unsigned max_count, std::size_t size) {
  throw Error(Errc::NoSpace,
              "staging pool exhausted: all " + std::to_string(max_count) + " buffers of " +
                  std::to_string(size >> 10) +
                  " KiB (EngineOptions::max_buffer_count) are held outside in-flight I/O "
                  "(for example by as many open StreamWriters); raise max_buffer_count or "
                  "close some");
}
}  // namespace

BufferPool::BufferPool(std::size_t buffer_size, unsigned count, unsigned max_count,
                       std::function<bool()> busy)
    : size_(buffer_size),
      count_(count),
      max_count_(std::max(count, max_count)),
      busy_(std::move(busy)) {
  const std::size_t total = buffer_size * count;
  map_size_ = total + kHugePage;
  void* p = ::mmap(nullptr, map_size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    throw errno_error(errno, "mmap of " + std::to_string(total) + " bytes of staging buffers");
  }
  map_ = static_cast<std::byte*>(p);
  base_ = map_ + (round_up(reinterpret_cast<std::uintptr_t>(map_), kHugePage) -
                  reinterpret_cast<std::uintptr_t>(map_));
  // Huge pages make the kernel's copies into the buffers several times faster; both
  // calls are hints, so failures only cost speed.
  (void)::madvise(base_, round_up(total, kHugePage), MADV_HUGEPAGE);
  (void)::madvise(base_, total, MADV_POPULATE_WRITE);
  iov_.resize(count);
  free_.reserve(count);
  for (unsigned i = 0; i < count; ++i) {
    iov_[i] = iovec{base_ + i * size_, size_};
    free_.push_back(static_cast<int>(count - 1 - i));  // hand out index 0 first
  }
  extra_.assign(max_count_ - count_, nullptr);
  transfer_lease_.assign(max_count_, false);
  ASAN_POISON_MEMORY_REGION(base_, total);
}

BufferPool::~BufferPool() {
  ASAN_UNPOISON_MEMORY_REGION(base_, size_ * count_);
  ::munmap(map_, map_size_);
  for (std::byte* e : extra_) {
    if (e != nullptr) ::munmap(e, size_);
  }
}

unsigned BufferPool::total() const noexcept {
  std::lock_guard lock(mu_);
  return count_ + extra_live_;
}

unsigned BufferPool::free_count() const noexcept {
  std::lock_guard lock(mu_);
  return static_cast<unsigned>(free_.size());
}

std::byte* BufferPool::address(int slot) const noexcept {
  const auto u = static_cast<unsigned>(slot);
  return u < count_ ? base_ + std::size_t{u} * size_ : extra_[u - count_];
}

void BufferPool::mark_transfer_locked(int slot) noexcept {
  transfer_lease_[static_cast<unsigned>(slot)] = true;
  ++transfer_leases_;
}

StagingBuffer BufferPool::lease(int slot) noexcept {
  StagingBuffer b;
  b.pool_ = this;
  b.ptr_ = address(slot);
  b.size_ = size_;
  b.index_ = static_cast<unsigned>(slot) < count_ ? slot : -1;
  b.slot_ = slot;
  ASAN_UNPOISON_MEMORY_REGION(b.ptr_, size_);
  return b;
}

int BufferPool::take_locked() noexcept {
  if (!free_.empty()) {
    const int slot = free_.back();
    free_.pop_back();
    return slot;
  }
  if (extra_live_ == extra_.size()) return -1;
  auto it = std::find(extra_.begin(), extra_.end(), nullptr);
  // Not populated: the first writer into it faults the pages in.
  void* p = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    logger().warn("staging pool: mmap of an extra {} KiB buffer failed: {}", size_ >> 10,
                  std::strerror(errno));
    return -1;
  }
  (void)::madvise(p, size_, MADV_HUGEPAGE);
  *it = static_cast<std::byte*>(p);
  ++extra_live_;
  if (extra_live_ == 1) {
    logger().info("staging pool: all {} registered buffers are out; growing (cap {} buffers)",
                  count_, max_count_);
  }
  return static_cast<int>(count_ + static_cast<unsigned>(it - extra_.begin()));
}

StagingBuffer BufferPool::acquire() {
  BlockingWaiter w;
  StagingBuffer out;
  switch (acquire_or_wait(&w, out)) {
    case Wait::Got: return out;
    case Wait::Closed:
      throw Error(Errc::Cancelled, "staging buffer pool closed (engine shut down)");
    case Wait::Queued: break;
  }
  std::unique_lock lock(w.mu);
  w.cv.wait(lock, [&] { return w.done; });
  if (!w.got) {
    bool closed = false;
    {
      std::lock_guard pool_lock(mu_);
      closed = closed_;
    }
    if (closed) throw Error(Errc::Cancelled, "staging buffer pool closed (engine shut down)");
    throw_exhausted(max_count_, size_);
  }
  return std::move(w.got);
}

std::optional<StagingBuffer> BufferPool::try_acquire() {
  int slot = -1;
  {
    std::lock_guard lock(mu_);
    if (closed_ || !waiters_.empty()) return std::nullopt;
    slot = take_locked();
    if (slot < 0) return std::nullopt;
  }
  return lease(slot);
}

BufferPool::Wait BufferPool::acquire_or_wait(BufferWaiter* waiter, StagingBuffer& out) {
  int slot = -1;
  {
    std::lock_guard lock(mu_);
    if (closed_) return Wait::Closed;
    // Queued waiters go first, so that a stream of try-first callers cannot starve them;
    // transfers that chose to wait rather than grow (see header) do not hold back a
    // blocking caller, which grows the pool as it did before they queued.
    if (waiter->blocking()) {
      if (blocking_waiters_ == 0) slot = take_locked();
    } else if (waiters_.empty() && (transfer_leases_ == 0 || !free_.empty())) {
      slot = take_locked();
    }
    if (slot < 0) {
      if (waiter->blocking() && !(busy_ && busy_())) {
        // At the cap with nothing in flight: no buffer will come back by itself.
        throw_exhausted(max_count_, size_);
      }
      waiters_.push_back(waiter);
      if (waiter->blocking()) ++blocking_waiters_;
      return Wait::Queued;
    }
    if (!waiter->blocking()) mark_transfer_locked(slot);
  }
  out = lease(slot);
  return Wait::Got;
}

BufferWaiter* BufferPool::pop_waiter_locked(std::deque<BufferWaiter*>::iterator it) noexcept {
  BufferWaiter* w = *it;
  waiters_.erase(it);
  if (w->blocking()) --blocking_waiters_;
  return w;
}

bool BufferPool::cancel_wait(BufferWaiter* waiter) noexcept {
  std::lock_guard lock(mu_);
  auto it = std::find(waiters_.begin(), waiters_.end(), waiter);
  if (it == waiters_.end()) return false;
  (void)pop_waiter_locked(it);
  return true;
}

void BufferPool::close() noexcept {
  std::deque<BufferWaiter*> waiters;
  {
    std::lock_guard lock(mu_);
    closed_ = true;
    waiters.swap(waiters_);
    blocking_waiters_ = 0;
  }
  for (BufferWaiter* w : waiters) w->on_buffer(StagingBuffer{});
}

std::deque<BufferWaiter*> BufferPool::starving_locked() {
  std::deque<BufferWaiter*> out;
  if (busy_ && busy_()) return out;
  for (auto it = waiters_.begin(); it != waiters_.end();) {
    if ((*it)->blocking()) {
      out.push_back(*it);
      it = waiters_.erase(it);
      --blocking_waiters_;
    } else {
      ++it;
    }
  }
  return out;
}

void BufferPool::on_idle() noexcept {
  std::deque<BufferWaiter*> starving;
  {
    std::lock_guard lock(mu_);
    if (closed_ || waiters_.empty()) return;
    try {
      starving = starving_locked();
    } catch (...) {
      return;
    }
  }
  for (BufferWaiter* w : starving) w->on_buffer(StagingBuffer{});
}

int BufferPool::index_of(const void* p, std::size_t len) const noexcept {
  const auto* b = static_cast<const std::byte*>(p);
  if (b < base_ || b >= base_ + size_ * count_) return -1;
  const auto index = static_cast<std::size_t>(b - base_) / size_;
  if (b + len > base_ + (index + 1) * size_) return -1;
  return static_cast<int>(index);
}

void BufferPool::release(int slot) noexcept {
  // At most two: the released buffer's next owner and one transfer the pool grows for
  // (after which a transfer lease is out again).
  std::array<std::pair<BufferWaiter*, int>, 2> serve{};
  std::size_t served = 0;
  std::byte* unmap = nullptr;
  {
    std::lock_guard lock(mu_);
    if (transfer_lease_[static_cast<unsigned>(slot)]) {
      transfer_lease_[static_cast<unsigned>(slot)] = false;
      --transfer_leases_;
    }
    if (!closed_ && !waiters_.empty()) {
      BufferWaiter* next = pop_waiter_locked(waiters_.begin());
      if (!next->blocking()) mark_transfer_locked(slot);
      serve[served++] = {next, slot};
    } else if (static_cast<unsigned>(slot) < count_) {
      ASAN_POISON_MEMORY_REGION(base_ + static_cast<std::size_t>(slot) * size_, size_);
      free_.push_back(slot);
    } else {
      // An extra buffer nobody waits for: give its memory back.
      unmap = std::exchange(extra_[static_cast<unsigned>(slot) - count_], nullptr);
      --extra_live_;
    }
    // The buffer went to a blocking caller and no transfer lease is left to come back: a
    // transfer that chose to wait would wait on holders only, so it grows the pool now.
    if (!closed_ && transfer_leases_ == 0) {
      auto it = std::find_if(waiters_.begin(), waiters_.end(),
                             [](BufferWaiter* w) { return !w->blocking(); });
      const int grown = it == waiters_.end() ? -1 : take_locked();
      if (grown >= 0) {
        BufferWaiter* w = pop_waiter_locked(it);
        mark_transfer_locked(grown);
        serve[served++] = {w, grown};
      }
    }
  }
  for (std::size_t i = 0; i < served; ++i) serve[i].first->on_buffer(lease(serve[i].second));
  if (unmap != nullptr) ::munmap(unmap, size_);
}

}  // namespace detail
}  // namespace stsw
