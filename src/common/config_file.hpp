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
  std::string where;          // "PATH:LINE", for errors
  std::string section_where;  // the same for the section's header
};

// The entries of the file at `path`, in order; UsageError naming it when it cannot be read
// (a directory, a missing file) or parsed. A UTF-8 byte-order mark (Windows editors write one)
// is skipped.
std::vector<ConfigEntry> read_config_file(const std::string& path);
// The same from a stream; `path` names it in errors.
std::vector<ConfigEntry> parse_config(std::istream& in, const std::string& path);
// A flag's value: true, yes, on or 1 and false, no, off or 0, in any case; UsageError naming
// `where` otherwise.
bool parse_config_flag(const ConfigEntry& entry);

}  // namespace satunet
