#include "train/schedule.hpp"

#include <algorithm>
#include <cmath>

#include "common/error.hpp"

namespace satunet::train {

double learning_rate(Schedule schedule, double base, std::int64_t step, std::int64_t total_steps,
                     std::int64_t warmup_steps) {
  if (step < warmup_steps)
    return base * static_cast<double>(step + 1) / warmup_steps;
  const double span = static_cast<double>(std::max<std::int64_t>(1, total_steps - warmup_steps));
  const double progress = std::clamp(static_cast<double>(step - warmup_steps) / span, 0.0, 1.0);
  constexpr double kPi = 3.14159265358979323846;
  switch (schedule) {
    case Schedule::cosine:
      return base * 0.5 * (1 + std::cos(kPi * progress));
    case Schedule::poly:
      return base * std::pow(1 - progress, 0.9);
    case Schedule::constant:
      return base;
  }
  return base;
}

}  // namespace satunet::train
