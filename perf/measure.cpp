#include "measure.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <mutex>

#include "memory.hpp"

namespace stsw::bench {
namespace {

double cpu_of(const rusage& ru) noexcept {
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// The measurement in progress (one at a time: the harness runs rows one after another).
struct Probe {
  std::mutex mu;
  double first_submit = 0;
  std::vector<double> latencies;
};
std::atomic<Probe*> g_probe{nullptr};

}  // namespace

void mark_first_submit() noexcept {
  Probe* p = g_probe.load();
  if (p == nullptr) return;
  const double t = now_seconds();
  std::lock_guard lock(p->mu);
  if (p->first_submit == 0) p->first_submit = t;
}

void record_request(double seconds) {
  Probe* p = g_probe.load();
  if (p == nullptr) return;
  std::lock_guard lock(p->mu);
  p->latencies.push_back(seconds);
}

double percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double rank = std::ceil(p / 100.0 * static_cast<double>(v.size()));
  const auto i = static_cast<std::size_t>(std::clamp(rank, 1.0, static_cast<double>(v.size())));
  return v[i - 1];
}

double now_seconds() noexcept {
  using Clock = std::chrono::steady_clock;
  return std::chrono::duration<double>(Clock::now().time_since_epoch()).count();
}

Sample measure_in_process(const std::function<std::uint64_t()>& body) {
  Sample s;
  const bool reset = reset_peak_rss();
  const RssSample before = read_rss();
  rusage ru0{};
  rusage ru1{};
  ::getrusage(RUSAGE_SELF, &ru0);
  Probe probe;
  struct Current {
    explicit Current(Probe* p) { g_probe.store(p); }
    ~Current() { g_probe.store(nullptr); }
    Current(const Current&) = delete;
    Current& operator=(const Current&) = delete;
  };
  const double t0 = now_seconds();
  {
    const Current current(&probe);
    s.bytes = body();
  }
  const double t1 = now_seconds();
  ::getrusage(RUSAGE_SELF, &ru1);
  const RssSample after = read_rss();
  s.seconds = t1 - t0;
  if (probe.first_submit > 0 && probe.first_submit <= t1) {
    s.seconds = t1 - probe.first_submit;
    s.wall_seconds = t1 - t0;
  }
  if (!probe.latencies.empty()) {
    s.requests = probe.latencies.size();
    s.iops = s.seconds > 0 ? static_cast<double>(s.requests) / s.seconds : 0;
    s.lat_p50_us = percentile(probe.latencies, 50) * 1e6;
    s.lat_p99_us = percentile(probe.latencies, 99) * 1e6;
  }
  s.cpu_seconds = cpu_of(ru1) - cpu_of(ru0);
  s.peak_rss = after.hwm;
  s.peak_rss_growth = after.hwm > before.rss ? after.hwm - before.rss : 0;
  const std::uint64_t caller = caller_buffer_bytes();
  s.peak_rss_own = after.hwm > caller ? after.hwm - caller : 0;
  if (!reset) s.note = "peak RSS since process start (clear_refs refused)";
  return s;
}

}  // namespace stsw::bench
