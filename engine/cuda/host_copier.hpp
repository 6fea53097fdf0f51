// HostCopier: the host-memory stand-in for the CUDA copier (copier.hpp). A worker thread
// runs the enqueued copies in order with memcpy, each after an optional delay, so that a
// pipeline that reuses a staging buffer too early is caught:
//   - every copy's source bytes are checksummed when enqueued and again when the copy
//     runs; a difference (the buffer was overwritten before its copy ran) is counted in
//     source_changed();
//   - to_device sources and to_host destinations must lie in pinned memory
//     (unpinned_copies() counts those that did not);
//   - fail_copy(k) makes the k-th copy (0-based) fail: like a CUDA stream error it is
//     sticky, every marker recorded after it reports it.
// "Device" pointers are plain host pointers. Used by the tests and by the CPU fallback
// nowhere else.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "cuda/copier.hpp"

namespace stsw::device {

class HostCopier final : public Copier {
 public:
  explicit HostCopier(std::size_t slots, std::chrono::microseconds delay = {});
  ~HostCopier() override;
  HostCopier(const HostCopier&) = delete;
  HostCopier& operator=(const HostCopier&) = delete;

  void fail_copy(std::uint64_t index, std::string message = "injected copy failure");

  void pin(std::span<std::byte> memory) override;
  void unpin(std::span<std::byte> memory) noexcept override;
  void to_device(void* dst, const std::byte* src, std::size_t n) override;
  void to_host(std::byte* dst, const void* src, std::size_t n) override;
  [[nodiscard]] std::size_t slots() const noexcept override { return marks_.size(); }
  void record(std::size_t slot) override;
  [[nodiscard]] bool done(std::size_t slot) override;
  void wait(std::size_t slot) override;

  // Observations for the tests (safe to call at any time).
  [[nodiscard]] std::uint64_t copies_done() const;
  [[nodiscard]] std::uint64_t copies_pending() const;  // enqueued, not yet run
  [[nodiscard]] std::uint64_t source_changed() const;
  [[nodiscard]] std::uint64_t unpinned_copies() const;
  [[nodiscard]] std::size_t pinned_regions() const;  // pinned now
  [[nodiscard]] std::uint64_t bytes_copied() const;

 private:
  struct Op {
    std::byte* dst;
    const std::byte* src;
    std::size_t n;
    std::uint32_t crc;
    std::uint64_t index;
  };
  void run();
  bool pinned_locked(const void* p, std::size_t n) const;
  void check_slot(std::size_t slot);

  const std::chrono::microseconds delay_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Op> queue_;
  std::vector<std::uint64_t> marks_;  // per slot: copies that must be done (0: none)
  std::vector<std::span<std::byte>> pinned_;
  std::uint64_t enqueued_ = 0;
  std::uint64_t done_ = 0;
  std::uint64_t source_changed_ = 0;
  std::uint64_t unpinned_ = 0;
  std::uint64_t bytes_ = 0;
  std::optional<std::uint64_t> fail_index_;
  std::string fail_message_;
  std::optional<std::uint64_t> failed_at_;  // the index of the failed copy
  bool stop_ = false;
  std::thread worker_;
};

}  // namespace stsw::device
