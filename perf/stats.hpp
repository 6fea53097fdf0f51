// Order statistics over benchmark repetitions. The machines are noisy (3-5x between runs
// minutes apart), so the harness reports the median and the full min-max range, never
// a mean.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

namespace stsw::bench {

struct Summary {
  double median = 0;
  double min = 0;
  double max = 0;
  std::size_t count = 0;  // 0: no values (the other fields are then 0)
};

// Median (mean of the two middle values for an even count), min and max of `values`.
[[nodiscard]] Summary summarize(std::span<const double> values);

// Element-wise a[i] / b[i] over the common prefix, skipping pairs with b[i] <= 0: used
// for ratios of interleaved repetitions (repetition i of A against repetition i of B),
// which cancels the drift that hits both in the same repetition.
[[nodiscard]] std::vector<double> paired_ratios(std::span<const double> a,
                                                std::span<const double> b);

}  // namespace stsw::bench
