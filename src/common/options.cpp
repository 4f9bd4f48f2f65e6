#include "common/options.hpp"

#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>

#include "common/text.hpp"

namespace satunet::options {

Declaration declared(const std::string& name, std::string help, Arity arity,
                     std::string value_name) {
  static std::atomic<int> next_id{1};
  Declaration declaration;
  declaration.id = next_id++;
  declaration.name = name;
  declaration.help = std::move(help);
  declaration.arity = arity;
  declaration.value_name = std::move(value_name);
  return declaration;
}

std::string flag_text(const std::string& name) {
  return "--" + name;
}

void invalid_value(const std::string& option, const std::string& text) {
  throw UsageError("the argument ('" + text + "') for option '" + option + "' is invalid");
}

std::string alternatives(const std::vector<std::string>& names) {
  std::string joined;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0)
      joined += i + 1 == names.size() ? " or " : ", ";
    joined += names[i];
  }
  return joined;
}

namespace {

long long parse_integer(const std::string& text, const std::string& option) {
  const std::string value = text::trim(text);
  char* end = nullptr;
  errno = 0;
  const long long parsed = std::strtoll(value.c_str(), &end, 10);
  if (value.empty() || *end != '\0' || errno == ERANGE)
    invalid_value(option, text);
  return parsed;
}

}  // namespace

void parse(const std::string& text, const std::string& option, int& value) {
  const long long parsed = parse_integer(text, option);
  if (parsed < std::numeric_limits<int>::min() || parsed > std::numeric_limits<int>::max())
    invalid_value(option, text);
  value = static_cast<int>(parsed);
}

void parse(const std::string& text, const std::string& option, std::int64_t& value) {
  value = parse_integer(text, option);
}

void parse(const std::string& text, const std::string& option, std::uint64_t& value) {
  const std::string trimmed = text::trim(text);
  char* end = nullptr;
  errno = 0;
  const unsigned long long parsed = std::strtoull(trimmed.c_str(), &end, 10);
  // strtoull accepts "-1" as 2^64 - 1: a seed of -1 is a mistake, not a wish.
  if (trimmed.empty() || trimmed.front() == '-' || *end != '\0' || errno == ERANGE)
    invalid_value(option, text);
  value = parsed;
}

void parse(const std::string& text, const std::string& option, double& value) {
  const std::string trimmed = text::trim(text);
  char* end = nullptr;
  errno = 0;
  const double parsed = std::strtod(trimmed.c_str(), &end);
  if (trimmed.empty() || *end != '\0' || errno == ERANGE || !std::isfinite(parsed))
    invalid_value(option, text);
  value = parsed;
}

void parse(const std::string& text, const std::string&, std::string& value) {
  value = text;
}

std::string show(int value) {
  return std::to_string(value);
}
std::string show(std::int64_t value) {
  return std::to_string(value);
}
std::string show(std::uint64_t value) {
  return std::to_string(value);
}
std::string show(double value) {
  char text[32];
  // Whole numbers as people write them ("10", not the shorter "1e+01").
  if (std::abs(value) < 1e15 && value == std::floor(value)) {
    std::snprintf(text, sizeof text, "%.0f", value);
    return text;
  }
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(text, sizeof text, "%.*g", precision, value);
    if (std::strtod(text, nullptr) == value)
      break;
  }
  return text;
}
std::string show(const std::string& value) {
  return value;
}

std::pair<std::string, std::string> split_pair(const std::string& text, const std::string& option) {
  return text::split_key_value(text, option);
}

std::vector<std::string> split_list(const std::string& text) {
  // Empty items are kept ("a,,b" has three), for the stage to refuse where they matter.
  if (text::trim(text).empty())
    return {};
  return text::split(text, ',');
}

std::string join_list(const std::vector<std::string>& items) {
  return text::join(items, ",");
}

}  // namespace satunet::options
