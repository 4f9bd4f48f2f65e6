#pragma once
// Rank-aware logging: info goes out on rank 0 only, warnings on every rank with its number.
#include <string>

#include "common/error.hpp"

namespace satunet::log {

enum class Level { quiet = 0, info = 1, debug = 2 };

void set_level(Level level);
Level level();
// Until the MPI runtime sets the real rank, it is read from the launcher's environment.
void set_rank(int rank, int world_size);
int rank();
int world_size();

void write_info(const std::string& line);
void write_debug(const std::string& line);
void write_warning(const std::string& line);

template <typename... Parts>
void info(Parts&&... parts) {
  if (level() >= Level::info && rank() == 0)
    write_info(detail::concat(std::forward<Parts>(parts)...));
}
template <typename... Parts>
void debug(Parts&&... parts) {
  if (level() >= Level::debug)
    write_debug(detail::concat(std::forward<Parts>(parts)...));
}
template <typename... Parts>
void warn(Parts&&... parts) {
  write_warning(detail::concat(std::forward<Parts>(parts)...));
}

}  // namespace satunet::log
