#include "common/options.hpp"

#include <algorithm>
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

// ---- limits ----

bool Limit::accepts(double value) const {
  if (special && value == *special)
    return true;
  if (!choices.empty())
    return std::find(choices.begin(), choices.end(), value) != choices.end();
  if (low && (low_open ? !(value > *low) : !(value >= *low)))
    return false;
  if (high && (high_open ? !(value < *high) : !(value <= *high)))
    return false;
  return !multiple || std::fmod(value, *multiple) == 0;
}

namespace {

// The rule as "be ..." or "not be ...", and whether it printed `special` as its low bound.
std::string rule(const Limit& limit, bool name_special, bool& special_shown) {
  special_shown = false;
  if (!limit.choices.empty()) {
    std::vector<std::string> names;
    for (double choice : limit.choices)
      names.push_back(show(choice));
    return "be " + alternatives(names);
  }
  std::string low = limit.low ? show(*limit.low) : std::string();
  const bool low_named =
      name_special && limit.special && limit.low && !limit.low_open && *limit.special == *limit.low;
  const std::string high = limit.high ? show(*limit.high) : std::string();
  const std::string multiple =
      limit.multiple ? "a multiple of " + show(*limit.multiple) : std::string();
  std::string range;
  if (limit.low && limit.high) {
    if (limit.integral && !limit.low_open && !limit.high_open) {
      special_shown = low_named;
      range = (multiple.empty() ? "" : "from ") + low +
              (low_named ? " (" + limit.special_meaning + ")" : "") + " to " + high;
    } else {
      range = std::string("in ") + (limit.low_open ? "(" : "[") + low + ", " + high +
              (limit.high_open ? ")" : "]");
    }
  } else if (limit.low && *limit.low == 0 && multiple.empty()) {
    return limit.low_open ? "be positive" : "not be negative";
  } else if (limit.low) {
    special_shown = low_named && !limit.low_open;
    range = (limit.low_open ? "above " : "at least ") + low +
            (special_shown ? " (" + limit.special_meaning + ")" : "");
  } else if (limit.high) {
    range = (limit.high_open ? "below " : "at most ") + high;
  }
  if (multiple.empty())
    return "be " + range;
  return "be " + multiple + (range.empty() ? "" : " " + range);
}

}  // namespace

std::string Limit::message(const std::string& option, const std::string& got) const {
  bool special_shown = false;
  std::string text = option + " must " + rule(*this, true, special_shown);
  if (special && !special_shown) {
    Limit without = *this;
    without.special.reset();
    text += std::string(" (") + (without.accepts(*special) ? "" : "or ") + show(*special) + ": " +
            special_meaning + ")";
  }
  if (!note.empty())
    text += " (" + note + ")";
  return text + ", got " + got;
}

std::string Limit::describe() const {
  if (empty())
    return {};
  bool special_shown = false;
  std::string text = rule(*this, false, special_shown);
  if (text == "not be negative")
    text = "not negative";
  else if (text.rfind("be ", 0) == 0)
    text = text.substr(3);  // "at least 1", "0 to 1024", "in [0, 1)"
  if (special) {
    Limit without = *this;
    without.special.reset();
    if (!without.accepts(*special))
      text += ", or " + show(*special);
  }
  return text;
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
