#include "fio_best.hpp"

#include <exception>

namespace stsw::bench {

FioSweep run_fio_sweep(const std::string& fio, const FioJob& base, std::uint64_t sweep_size,
                       const std::function<void(const FioJob&)>& prepare) {
  FioSweep sweep;
  sweep.write = base.write;
  for (FioJob& job : fio_sweep_jobs(base, sweep_size)) {
    FioTrial t;
    t.job = std::move(job);
    try {
      if (prepare) prepare(t.job);
      FioStats st;
      (void)run_fio(fio, t.job, &st, true);
      t.stats = st;
    } catch (const std::exception& e) {
      t.error = e.what();
    }
    sweep.trials.push_back(std::move(t));
  }
  sweep.best = pick_fio_best(sweep.trials);
  return sweep;
}

std::optional<FioJob> best_job(const FioSweep& sweep, const std::string& filename,
                               std::uint64_t size) {
  if (!sweep.best) return std::nullopt;
  FioJob j = sweep.trials[*sweep.best].job;
  j.filename = filename;
  j.size = size;
  return j;
}

}  // namespace stsw::bench
