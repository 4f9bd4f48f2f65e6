#include "common/error.hpp"

#include <cstring>

namespace satunet::detail {

void throw_error(const char* library, const char* file, int line, const std::string& message) {
  const char* slash = std::strrchr(file, '/');
  throw Error(message, concat(library, ": ", slash ? slash + 1 : file, ":", line));
}

}  // namespace satunet::detail
