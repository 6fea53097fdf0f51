#include "measure.hpp"

#include <sys/resource.h>

#include <chrono>

#include "memory.hpp"

namespace stsw::bench {
namespace {

double cpu_of(const rusage& ru) noexcept {
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

}  // namespace

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
  const double t0 = now_seconds();
  s.bytes = body();
  const double t1 = now_seconds();
  ::getrusage(RUSAGE_SELF, &ru1);
  const RssSample after = read_rss();
  s.seconds = t1 - t0;
  s.cpu_seconds = cpu_of(ru1) - cpu_of(ru0);
  s.peak_rss = after.hwm;
  s.peak_rss_growth = after.hwm > before.rss ? after.hwm - before.rss : 0;
  const std::uint64_t caller = caller_buffer_bytes();
  s.peak_rss_own = after.hwm > caller ? after.hwm - caller : 0;
  if (!reset) s.note = "peak RSS since process start (clear_refs refused)";
  return s;
}

}  // namespace stsw::bench
