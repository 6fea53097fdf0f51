#include "results.hpp"

namespace stsw::bench {
namespace {

// GB/s per repetition; 0 where the repetition failed (skipped by paired_ratios / filters).
std::vector<double> gbps_by_rep(const Row& row) {
  std::vector<double> v(row.samples.size(), 0.0);
  for (std::size_t i = 0; i < row.samples.size(); ++i) {
    if (row.ok[i]) v[i] = row.samples[i].gbps();
  }
  return v;
}

std::vector<double> positive(const std::vector<double>& v) {
  std::vector<double> out;
  for (double x : v)
    if (x > 0) out.push_back(x);
  return out;
}

Summary ratio_summary(const Row& a, const Row& b) {
  auto ga = gbps_by_rep(a);
  auto gb = gbps_by_rep(b);
  for (std::size_t i = 0; i < ga.size() && i < gb.size(); ++i) {
    if (ga[i] <= 0) gb[i] = 0;  // drop the pair
  }
  return summarize(paired_ratios(ga, gb));
}

}  // namespace

RowSummary summarize_row(const BenchReport& report, const Row& row) {
  RowSummary s;
  std::vector<double> secs;
  std::vector<double> cpu;
  std::vector<double> rss;
  std::vector<double> own;
  std::vector<double> wall;
  std::vector<double> p50;
  std::vector<double> p99;
  std::vector<double> iops;
  for (std::size_t i = 0; i < row.samples.size(); ++i) {
    if (!row.ok[i]) continue;
    const Sample& x = row.samples[i];
    secs.push_back(x.seconds);
    cpu.push_back(x.cpu_per_gb());
    rss.push_back(static_cast<double>(x.peak_rss_growth));
    own.push_back(static_cast<double>(x.peak_rss_own));
    if (x.wall_seconds > 0) wall.push_back(static_cast<double>(x.bytes) / x.wall_seconds / 1e9);
    if (x.requests > 0) {
      p50.push_back(x.lat_p50_us);
      p99.push_back(x.lat_p99_us);
      iops.push_back(x.iops);
    }
    if (!x.cold) s.all_cold = false;
    s.bytes = x.bytes;
  }
  s.gbps = summarize(positive(gbps_by_rep(row)));
  s.seconds = summarize(secs);
  s.wall_gbps = summarize(wall);
  s.lat_p50_us = summarize(p50);
  s.lat_p99_us = summarize(p99);
  s.iops = summarize(iops);
  s.cpu_per_gb = summarize(cpu);
  s.peak_rss_growth = summarize(rss);
  s.peak_rss_own = summarize(own);
  for (const Row& other : report.rows) {
    if (other.group != row.group || &other == &row) continue;
    if (row.reference.empty() ? other.impl == "fio" : other.id == row.reference) {
      Summary r = ratio_summary(row, other);
      if (r.count > 0) s.vs_fio = r;
    }
    if (other.is_baseline() && !row.is_baseline()) {
      Summary r = ratio_summary(row, other);
      if (r.count > 0) s.vs_baseline[other.id] = r;
    }
  }
  return s;
}

}  // namespace stsw::bench
