#include "common/running_stats.hpp"

#include <cmath>

namespace satunet {

bool RunningStats::finite() const {
  return std::isfinite(mean) && std::isfinite(m2);
}

void RunningStats::merge(const RunningStats& other) {
  if (other.count == 0)
    return;
  if (count == 0) {
    *this = other;
    return;
  }
  const double total = static_cast<double>(count + other.count);
  const double delta = other.mean - mean;
  mean += delta * static_cast<double>(other.count) / total;
  m2 += other.m2 +
        delta * delta * static_cast<double>(count) * static_cast<double>(other.count) / total;
  count += other.count;
}

}  // namespace satunet
