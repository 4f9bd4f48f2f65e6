#include "common/config_file.hpp"

#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "common/error.hpp"
#include "common/text.hpp"

namespace satunet {
namespace {

// A line as an error quotes it: at most 80 characters, bytes that would disturb a terminal
// escaped.
std::string quoted(const std::string& line) {
  std::string shown;
  for (const char c : line.substr(0, 80)) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && byte < 0x7f) {
      shown += c;
    } else {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\x%02x", byte);
      shown += escaped;
    }
  }
  return "'" + shown + (line.size() > 80 ? "...'" : "'");
}

}  // namespace

std::vector<ConfigEntry> read_config_file(const std::string& path) {
  if (std::filesystem::is_directory(path))
    throw UsageError(path + ": cannot read config file: a directory");
  std::ifstream file(path);
  if (!file)
    throw UsageError(path + ": cannot read config file");
  return parse_config(file, path);
}

// The syntax Boost.Program_options reads (parse_config_file): '#' starts a comment wherever it
// is, "[name]" opens a section, any other line is "key = value" (both trimmed).
std::vector<ConfigEntry> parse_config(std::istream& in, const std::string& path) {
  std::vector<ConfigEntry> entries;
  std::string section, section_where, line;
  for (int number = 1; std::getline(in, line); ++number) {
    const std::string where = path + ":" + std::to_string(number);
    if (number == 1 && line.rfind("\xef\xbb\xbf", 0) == 0)
      line.erase(0, 3);
    const std::string content = text::trim(line.substr(0, line.find('#')));
    if (content.empty())
      continue;
    if (content.front() == '[') {
      if (content.back() != ']' || content.size() < 3)
        throw UsageError(where + ": a section header is '[name]', not " + quoted(content));
      section = text::trim(content.substr(1, content.size() - 2));
      section_where = where;
      continue;
    }
    const auto equals = content.find('=');
    const std::string key =
        equals == std::string::npos ? "" : text::trim(content.substr(0, equals));
    if (key.empty())
      throw UsageError(where + ": expected 'key = value' or '[section]', not " + quoted(content));
    entries.push_back({section, key, text::trim(content.substr(equals + 1)), where, section_where});
  }
  return entries;
}

bool parse_config_flag(const ConfigEntry& entry) {
  const std::string value = text::lower(entry.value);
  if (value == "true" || value == "yes" || value == "on" || value == "1")
    return true;
  if (value == "false" || value == "no" || value == "off" || value == "0")
    return false;
  throw UsageError(entry.where + ": " + entry.key + " is a flag: true or false (yes/no, on/off, " +
                   "1/0), not " + quoted(entry.value));
}

}  // namespace satunet
