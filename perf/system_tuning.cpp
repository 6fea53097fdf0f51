#include "system_tuning.hpp"

#include <sched.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>

namespace stsw::bench {
namespace {

constexpr const char* kNrHugepages = "/proc/sys/vm/nr_hugepages";

std::uint64_t meminfo(const char* key) {
  std::ifstream f("/proc/meminfo");
  std::string line;
  const std::size_t n = std::strlen(key);
  while (std::getline(f, line)) {
    if (line.compare(0, n, key) == 0) return std::strtoull(line.c_str() + n, nullptr, 10);
  }
  return 0;
}

bool read_u64(const char* path, std::uint64_t& v) {
  std::ifstream f(path);
  return static_cast<bool>(f >> v);
}

bool write_u64(const char* path, std::uint64_t v) {
  std::ofstream f(path);
  f << v << '\n';
  f.flush();
  return static_cast<bool>(f);
}

}  // namespace

std::uint64_t fio_hugepages_needed(std::uint64_t block_size, unsigned iodepth) noexcept {
  const std::uint64_t huge = std::uint64_t{2} << 20;
  return (block_size * iodepth + huge - 1) / huge + 4;
}

HugetlbReservation::HugetlbReservation(std::uint64_t pages) {
  const std::uint64_t free_pages = meminfo("HugePages_Free:");
  if (free_pages >= pages) {
    ok_ = true;
    return;
  }
  if (!read_u64(kNrHugepages, original_)) {
    note_ = std::string("cannot read ") + kNrHugepages;
    return;
  }
  const std::uint64_t want = original_ + (pages - free_pages);
  if (!write_u64(kNrHugepages, want)) {
    note_ = std::string("cannot raise ") + kNrHugepages + " (not root?)";
    return;
  }
  changed_ = true;
  if (meminfo("HugePages_Free:") < pages) {
    note_ = "the kernel could not find " + std::to_string(pages) + " free huge pages";
    return;
  }
  ok_ = true;
}

HugetlbReservation::~HugetlbReservation() {
  if (changed_) (void)write_u64(kNrHugepages, original_);
}

RealtimeScope::RealtimeScope(bool enable, int priority) {
  if (!enable) return;
  old_policy_ = sched_getscheduler(0);
  sched_param old{};
  sched_getparam(0, &old);
  old_priority_ = old.sched_priority;
  sched_param p{};
  p.sched_priority = priority;
  if (sched_setscheduler(0, SCHED_FIFO, &p) != 0) {
    note_ = std::string("SCHED_FIFO refused: ") + std::strerror(errno);
    return;
  }
  active_ = true;
}

RealtimeScope::~RealtimeScope() {
  if (!active_) return;
  sched_param p{};
  p.sched_priority = old_priority_;
  (void)sched_setscheduler(0, old_policy_, &p);
}

}  // namespace stsw::bench
