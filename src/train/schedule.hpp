#pragma once
// Learning-rate schedules: linear warm-up, then cosine, polynomial (power 0.9) or constant.
#include <cstdint>
#include <string>

namespace satunet::train {

enum class Schedule { cosine, poly, constant };
Schedule parse_schedule(const std::string& text);  // throws UsageError
std::string to_string(Schedule schedule);

// The learning rate of optimizer step `step` (0-based) of `total_steps`.
double learning_rate(Schedule schedule, double base, std::int64_t step, std::int64_t total_steps,
                     std::int64_t warmup_steps);

}  // namespace satunet::train
