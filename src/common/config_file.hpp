#pragma once
// INI config files (--config FILE.ini): `key = value` lines, `[section]` headers, `#` comments,
// in the syntax of Boost.Program_options' config files (read here, with line numbers in the
// errors; Boost's own reader can loop forever formatting the error of a damaged line).
#include <istream>
#include <string>
#include <vector>

namespace satunet {

struct ConfigEntry {
  std::string section;  // "" before the first [section]
  std::string key;
  std::string value;
};

// The entries of the file at `path`, in order; UsageError naming it when it cannot be read
// (a directory, a missing file) or parsed.
std::vector<ConfigEntry> read_config_file(const std::string& path);
// The same from a stream; `path` names it in errors.
std::vector<ConfigEntry> parse_config(std::istream& in, const std::string& path);

}  // namespace satunet
