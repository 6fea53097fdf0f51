#include "io/buffer_pool.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstdint>

#include "io/logging.hpp"
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
      index_(std::exchange(other.index_, -1)) {}

StagingBuffer& StagingBuffer::operator=(StagingBuffer&& other) noexcept {
  if (this != &other) {
    reset();
    pool_ = std::exchange(other.pool_, nullptr);
    ptr_ = std::exchange(other.ptr_, nullptr);
    size_ = std::exchange(other.size_, 0);
    index_ = std::exchange(other.index_, -1);
  }
  return *this;
}

StagingBuffer::~StagingBuffer() { reset(); }

void StagingBuffer::reset() noexcept {
  if (pool_ != nullptr) std::exchange(pool_, nullptr)->release(index_);
  ptr_ = nullptr;
  size_ = 0;
  index_ = -1;
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
};
}  // namespace

BufferPool::BufferPool(std::size_t buffer_size, unsigned count)
    : size_(buffer_size), count_(count) {
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
  ASAN_POISON_MEMORY_REGION(base_, total);
}

BufferPool::~BufferPool() {
  ASAN_UNPOISON_MEMORY_REGION(base_, size_ * count_);
  ::munmap(map_, map_size_);
}

unsigned BufferPool::free_count() const noexcept {
  std::lock_guard lock(mu_);
  return static_cast<unsigned>(free_.size());
}

StagingBuffer BufferPool::lease(int index) noexcept {
  StagingBuffer b;
  b.pool_ = this;
  b.ptr_ = base_ + static_cast<std::size_t>(index) * size_;
  b.size_ = size_;
  b.index_ = index;
  ASAN_UNPOISON_MEMORY_REGION(b.ptr_, size_);
  return b;
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
  if (!w.got) throw Error(Errc::Cancelled, "staging buffer pool closed (engine shut down)");
  return std::move(w.got);
}

std::optional<StagingBuffer> BufferPool::try_acquire() {
  int index = -1;
  {
    std::lock_guard lock(mu_);
    if (closed_ || free_.empty()) return std::nullopt;
    index = free_.back();
    free_.pop_back();
  }
  return lease(index);
}

BufferPool::Wait BufferPool::acquire_or_wait(BufferWaiter* waiter, StagingBuffer& out) {
  int index = -1;
  {
    std::lock_guard lock(mu_);
    if (closed_) return Wait::Closed;
    // Queued waiters go first, so that a stream of try-first callers cannot starve them.
    if (free_.empty() || !waiters_.empty()) {
      waiters_.push_back(waiter);
      return Wait::Queued;
    }
    index = free_.back();
    free_.pop_back();
  }
  out = lease(index);
  return Wait::Got;
}

bool BufferPool::cancel_wait(BufferWaiter* waiter) noexcept {
  std::lock_guard lock(mu_);
  auto it = std::find(waiters_.begin(), waiters_.end(), waiter);
  if (it == waiters_.end()) return false;
  waiters_.erase(it);
  return true;
}

void BufferPool::close() noexcept {
  std::deque<BufferWaiter*> waiters;
  {
    std::lock_guard lock(mu_);
    closed_ = true;
    waiters.swap(waiters_);
  }
  for (BufferWaiter* w : waiters) w->on_buffer(StagingBuffer{});
}

int BufferPool::index_of(const void* p, std::size_t len) const noexcept {
  const auto* b = static_cast<const std::byte*>(p);
  if (b < base_ || b >= base_ + size_ * count_) return -1;
  const auto index = static_cast<std::size_t>(b - base_) / size_;
  if (b + len > base_ + (index + 1) * size_) return -1;
  return static_cast<int>(index);
}

void BufferPool::release(int index) noexcept {
  BufferWaiter* next = nullptr;
  {
    std::lock_guard lock(mu_);
    if (!closed_ && !waiters_.empty()) {
      next = waiters_.front();
      waiters_.pop_front();
    } else {
      ASAN_POISON_MEMORY_REGION(base_ + static_cast<std::size_t>(index) * size_, size_);
      free_.push_back(index);
    }
  }
  if (next != nullptr) next->on_buffer(lease(index));
}

}  // namespace detail
}  // namespace stsw
