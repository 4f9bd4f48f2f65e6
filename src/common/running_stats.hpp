#pragma once
// Mean and variance merged as Chan et al. do, so that tiles, threads and ranks can be combined
// in any grouping and give the same statistics.
#include <cstdint>

namespace satunet {

struct RunningStats {
  std::int64_t count = 0;
  double mean = 0;
  double m2 = 0;  // sum of squared deviations from the mean
  void merge(const RunningStats& other);
  double variance() const { return count > 1 ? m2 / static_cast<double>(count) : 0; }
  // Whether mean and m2 are finite numbers (values whose squares overflow a double are not).
  bool finite() const;
};

}  // namespace satunet
