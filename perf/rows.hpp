// The rows of a harness run: for each workload group, the stsw implementations and the
// baselines, each as a function that prepares (untimed: delete the target, drop or warm
// the cache) and measures one repetition.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "bench_file.hpp"
#include "config.hpp"
#include "fio.hpp"
#include "measure.hpp"
#include "memory.hpp"
#include "stsw_workloads.hpp"

namespace stsw::bench {

struct RunContext {
  const BenchConfig* config = nullptr;
  const BenchFile* file = nullptr;
  const TensorSource* source = nullptr;  // always set
  HugeBuffer* dst = nullptr;             // set when a read workload runs
  StswSettings stsw;
  std::string fio;               // fio's path; empty: no fio rows
  std::string read_path;         // the stsw-written file the reads use
  std::string prefix;            // dir + "/stsw-bench-<pid>-"
  bool fio_direct_write = true;  // fio's direct flag matching the writer's mode
  bool fio_hugepages = false;    // also fio rows with iomem=shmhuge
  // The sweep's best jobs (fio_best.hpp): the "fio best" rows, the groups' reference. Unset:
  // no sweep (or every job failed); the fio default row is then the reference.
  std::optional<FioJob> fio_best_write;
  std::optional<FioJob> fio_best_read;
};

struct RowSpec {
  Workload group = Workload::Write;
  std::string id;
  std::string label;
  std::string impl;
  std::function<Sample()> run;  // one repetition; throws stsw::Error on failure
  std::string reference = {};   // Row::reference: empty, or the id of this row's "x fio" row
};

// The rows of `group` that the configuration asks for, in their table order.
[[nodiscard]] std::vector<RowSpec> make_rows(const RunContext& ctx, Workload group);

// Removes `path` (ENOENT ignored) and syncs its file system, so the freeing of the old
// blocks (synchronous discard on ext4) never lands in the next timed section.
void remove_and_sync(const std::string& path);

}  // namespace stsw::bench
