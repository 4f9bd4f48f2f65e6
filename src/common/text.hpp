#pragma once
// Parsing of user-supplied text (option values, lists, key=value pairs). Every failure is a
// UsageError naming the option, so the CLI can answer with exit code 2.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace satunet::text {

std::vector<std::string> split(const std::string& text, char separator);
std::string trim(const std::string& text);
// ASCII letters lowered (names, extensions, flag values compared without case).
std::string lower(std::string text);
// A band's name as compared between files: lowered, and a number in it without leading zeros,
// so that Sentinel-2's B04 (STAC, GDAL) and B4 (TorchGeo, ESA) are one band; B8A stays B8A.
std::string band_key(const std::string& name);
std::string join(const std::vector<std::string>& parts, const std::string& separator);

// "key=value" -> {key, value}; `what` names the option in the error message.
std::pair<std::string, std::string> split_key_value(const std::string& text,
                                                    const std::string& what);

std::int64_t parse_int(const std::string& text, const std::string& what);
double parse_double(const std::string& text, const std::string& what);

}  // namespace satunet::text
