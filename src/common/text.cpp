#include "common/text.hpp"

#include <cctype>

#include <cerrno>
#include <cstdlib>

#include "common/error.hpp"

namespace satunet::text {

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  std::string::size_type begin = 0;
  while (true) {
    const auto end = text.find(separator, begin);
    parts.push_back(trim(text.substr(begin, end - begin)));
    if (end == std::string::npos)
      break;
    begin = end + 1;
  }
  return parts;
}

std::string trim(const std::string& text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos)
    return {};
  const auto last = text.find_last_not_of(" \t\r\n");
  return text.substr(first, last - first + 1);
}

std::string lower(std::string text) {
  for (char& c : text)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

std::string band_key(const std::string& name) {
  std::string key;
  bool in_number = false;  // a digit other than a leading zero has been kept
  for (std::size_t i = 0; i < name.size(); ++i) {
    const auto is_digit = [&](std::size_t at) {
      return at < name.size() && std::isdigit(static_cast<unsigned char>(name[at]));
    };
    if (!is_digit(i))
      in_number = false;
    else if (!in_number && name[i] == '0' && is_digit(i + 1))
      continue;  // a leading zero
    else
      in_number = true;
    key += static_cast<char>(std::tolower(static_cast<unsigned char>(name[i])));
  }
  return key;
}

std::string join(const std::vector<std::string>& parts, const std::string& separator) {
  std::string joined;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i)
      joined += separator;
    joined += parts[i];
  }
  return joined;
}

std::pair<std::string, std::string> split_key_value(const std::string& text,
                                                    const std::string& what) {
  const auto equals = text.find('=');
  if (equals == std::string::npos || equals == 0 || equals + 1 == text.size())
    throw UsageError(what + ": expected KEY=VALUE, got '" + text + "'");
  return {trim(text.substr(0, equals)), trim(text.substr(equals + 1))};
}

std::int64_t parse_int(const std::string& text, const std::string& what) {
  const std::string value = trim(text);
  char* end = nullptr;
  errno = 0;
  const long long parsed = std::strtoll(value.c_str(), &end, 10);
  if (value.empty() || *end != '\0' || errno == ERANGE)
    throw UsageError(what + ": expected an integer, got '" + text + "'");
  return parsed;
}

double parse_double(const std::string& text, const std::string& what) {
  const std::string value = trim(text);
  char* end = nullptr;
  errno = 0;
  const double parsed = std::strtod(value.c_str(), &end);
  if (value.empty() || *end != '\0' || errno == ERANGE)
    throw UsageError(what + ": expected a number, got '" + text + "'");
  return parsed;
}

}  // namespace satunet::text
