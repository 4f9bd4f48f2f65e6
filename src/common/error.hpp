#pragma once
// Exceptions carry the context a user needs (file, window, rank) in their message and the
// source location separately, so the CLI can print one clean line.
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace satunet {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message, std::string where = {})
      : std::runtime_error(message), where_(std::move(where)) {}
  // "library: file:line" of the check that failed; empty when thrown directly.
  const std::string& where() const { return where_; }

 private:
  std::string where_;
};

// A bad option value or a bad combination of options: the CLI exits with code 2.
class UsageError : public Error {
 public:
  using Error::Error;
};

// A failure every rank of a job raises at the same point (after agreeing on it): the CLI lets
// rank 0 say it and ends every rank normally, where another error aborts the whole job.
class JobError : public Error {
 public:
  using Error::Error;
};

namespace detail {
template <typename... Parts>
std::string concat(Parts&&... parts) {
  std::ostringstream out;
  (out << ... << std::forward<Parts>(parts));
  return out.str();
}
[[noreturn]] void throw_error(const char* library, const char* file, int line,
                              const std::string& message);
}  // namespace detail

}  // namespace satunet

// Each library defines its own checking macro on top of this one, naming itself, e.g.
//   #define GEO_CHECK(cond, ...) SATUNET_CHECK_IN("geo", cond, __VA_ARGS__)
#define SATUNET_CHECK_IN(library, cond, ...)                                  \
  do {                                                                        \
    if (!(cond))                                                              \
      ::satunet::detail::throw_error(library, __FILE__, __LINE__,             \
                                     ::satunet::detail::concat(__VA_ARGS__)); \
  } while (false)

#define SATUNET_FAIL_IN(library, ...)                         \
  ::satunet::detail::throw_error(library, __FILE__, __LINE__, \
                                 ::satunet::detail::concat(__VA_ARGS__))

#define COMMON_CHECK(cond, ...) SATUNET_CHECK_IN("common", cond, __VA_ARGS__)
