// HostCopier: see host_copier.hpp.
#include "cuda/host_copier.hpp"

#include <cstring>

#include "stsw/crc32.hpp"
#include "stsw/error.hpp"

namespace stsw::device {

HostCopier::HostCopier(std::size_t slots, std::chrono::microseconds delay)
    : delay_(delay), marks_(slots, 0), worker_([this] { run(); }) {}

HostCopier::~HostCopier() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  worker_.join();
}

void HostCopier::fail_copy(std::uint64_t index, std::string message) {
  std::lock_guard lock(mu_);
  fail_index_ = index;
  fail_message_ = std::move(message);
}

void HostCopier::pin(std::span<std::byte> memory) {
  std::lock_guard lock(mu_);
  pinned_.push_back(memory);
}

void HostCopier::unpin(std::span<std::byte> memory) noexcept {
  std::lock_guard lock(mu_);
  for (auto it = pinned_.begin(); it != pinned_.end(); ++it) {
    if (it->data() == memory.data() && it->size() == memory.size()) {
      pinned_.erase(it);
      return;
    }
  }
}

bool HostCopier::pinned_locked(const void* p, std::size_t n) const {
  const auto* b = static_cast<const std::byte*>(p);
  for (const auto& r : pinned_) {
    if (b >= r.data() && b + n <= r.data() + r.size()) return true;
  }
  return false;
}

void HostCopier::to_device(void* dst, const std::byte* src, std::size_t n) {
  std::lock_guard lock(mu_);
  if (!pinned_locked(src, n)) ++unpinned_;
  queue_.push_back({static_cast<std::byte*>(dst), src, n, crc32({src, n}), enqueued_++});
  cv_.notify_all();
}

void HostCopier::to_host(std::byte* dst, const void* src, std::size_t n) {
  std::lock_guard lock(mu_);
  if (!pinned_locked(dst, n)) ++unpinned_;
  const auto* s = static_cast<const std::byte*>(src);
  queue_.push_back({dst, s, n, crc32({s, n}), enqueued_++});
  cv_.notify_all();
}

void HostCopier::run() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stop_ and nothing left
    Op op = queue_.front();
    queue_.pop_front();
    const bool fail = (fail_index_ && *fail_index_ == op.index) || failed_at_.has_value();
    lock.unlock();
    if (delay_.count() > 0) std::this_thread::sleep_for(delay_);
    bool changed = false;
    if (!fail) {
      changed = crc32({op.src, op.n}) != op.crc;
      std::memcpy(op.dst, op.src, op.n);
    }
    lock.lock();
    if (changed) ++source_changed_;
    if (fail && !failed_at_) failed_at_ = op.index;
    if (!fail) bytes_ += op.n;
    ++done_;
    cv_.notify_all();
  }
}

void HostCopier::record(std::size_t slot) {
  std::lock_guard lock(mu_);
  marks_.at(slot) = enqueued_;
}

void HostCopier::check_slot(std::size_t slot) {
  if (failed_at_ && *failed_at_ < marks_[slot]) {
    throw Error(Errc::Io, "copy " + std::to_string(*failed_at_) + " failed: " + fail_message_);
  }
}

bool HostCopier::done(std::size_t slot) {
  std::lock_guard lock(mu_);
  if (done_ < marks_.at(slot)) return false;
  check_slot(slot);
  return true;
}

void HostCopier::wait(std::size_t slot) {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return done_ >= marks_.at(slot); });
  check_slot(slot);
}

std::uint64_t HostCopier::copies_done() const {
  std::lock_guard lock(mu_);
  return done_;
}
std::uint64_t HostCopier::copies_pending() const {
  std::lock_guard lock(mu_);
  return enqueued_ - done_;
}
std::uint64_t HostCopier::source_changed() const {
  std::lock_guard lock(mu_);
  return source_changed_;
}
std::uint64_t HostCopier::unpinned_copies() const {
  std::lock_guard lock(mu_);
  return unpinned_;
}
std::size_t HostCopier::pinned_regions() const {
  std::lock_guard lock(mu_);
  return pinned_.size();
}
std::uint64_t HostCopier::bytes_copied() const {
  std::lock_guard lock(mu_);
  return bytes_;
}

}  // namespace stsw::device
