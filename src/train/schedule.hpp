#pragma once
// Learning-rate schedules: linear warm-up, then cosine, polynomial (power 0.9) or constant.
#include <cstdint>
#include <string>

#include "common/options.hpp"

namespace satunet::train {

enum class Schedule { cosine, poly, constant };
inline const options::EnumNames<Schedule>& enum_names(Schedule) {
  static const options::EnumNames<Schedule> names{
      {Schedule::cosine, "cosine"}, {Schedule::poly, "poly"}, {Schedule::constant, "constant"}};
  return names;
}

// The learning rate of optimizer step `step` (0-based) of `total_steps`.
double learning_rate(Schedule schedule, double base, std::int64_t step, std::int64_t total_steps,
                     std::int64_t warmup_steps);

}  // namespace satunet::train
