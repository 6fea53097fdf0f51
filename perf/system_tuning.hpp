// Opt-in system settings for a run, each restored when its scope ends:
// - HugetlbReservation: raises /proc/sys/vm/nr_hugepages so fio can use huge-page
//   buffers (--iomem=shmhuge). On these VMs fio's default 4 KiB-page buffers cap its
//   O_DIRECT reads at 0.6-0.9 GB/s where huge-page buffers reach 3.2 GB/s (measured), so
//   the default job understates what the disk can do.
// - RealtimeScope: SCHED_FIFO for this process (threads created later and child
//   processes inherit it), so that a machine saturated by other work (load 20-30 on two
//   cores) measures the I/O paths, not the scheduler's wake-up latency.
#pragma once

#include <cstdint>
#include <string>

namespace stsw::bench {

class HugetlbReservation {
 public:
  HugetlbReservation() = default;
  // Makes at least `pages` 2 MiB huge pages free, raising nr_hugepages when needed.
  // Never throws: ok() says whether it worked, note() why not.
  explicit HugetlbReservation(std::uint64_t pages);
  HugetlbReservation(const HugetlbReservation&) = delete;
  HugetlbReservation& operator=(const HugetlbReservation&) = delete;
  ~HugetlbReservation();  // restores the original nr_hugepages

  [[nodiscard]] bool ok() const noexcept { return ok_; }
  [[nodiscard]] const std::string& note() const noexcept { return note_; }

 private:
  bool ok_ = false;
  bool changed_ = false;
  std::uint64_t original_ = 0;
  std::string note_;
};

class RealtimeScope {
 public:
  RealtimeScope() = default;
  // Switches the calling thread to SCHED_FIFO `priority` when `enable`; never throws.
  RealtimeScope(bool enable, int priority = 10);
  RealtimeScope(const RealtimeScope&) = delete;
  RealtimeScope& operator=(const RealtimeScope&) = delete;
  ~RealtimeScope();  // back to the original policy

  [[nodiscard]] bool active() const noexcept { return active_; }
  [[nodiscard]] const std::string& note() const noexcept { return note_; }

 private:
  bool active_ = false;
  int old_policy_ = 0;
  int old_priority_ = 0;
  std::string note_;
};

// Huge pages fio needs for iodepth x block_size buffers (plus slack).
[[nodiscard]] std::uint64_t fio_hugepages_needed(std::uint64_t block_size,
                                                 unsigned iodepth) noexcept;

}  // namespace stsw::bench
