#pragma once
// Class ids are bytes. One value among them means "no label here": nodata in a scene, padding
// past its edge, a pixel the truth does not judge. Tiles, losses, metrics, class maps and
// their nodata all use this one value.
#include <cstdint>
#include <string>
#include <vector>

namespace satunet {

constexpr std::uint8_t kIgnoreLabel = 255;
// Class ids 0..kMaxClasses-1 leave kIgnoreLabel free.
constexpr int kMaxClasses = 255;

// Class names as an option gives them (`option`, e.g. "--classes"): 2 to kMaxClasses, none
// empty, none twice; a UsageError otherwise.
void check_class_names(const std::vector<std::string>& names, const std::string& option);

// The id of class `name`; a UsageError naming `where` (an option) when it is not among them.
int class_index(const std::vector<std::string>& classes, const std::string& name,
                const std::string& where);

// One label file as given: "CLASS=FILE" (every feature of FILE is CLASS) or "FILE" (the
// class comes from --class-field and --class-map).
struct LabelFile {
  std::string class_name;  // empty: by attribute
  std::string path;
};

// "CLASS=FILE" or "FILE"; `what` names the option or column in errors.
LabelFile parse_label_file(const std::string& text, const std::string& what);
// "CLASS=FILE;CLASS=FILE": the labels cell of a scene list.
std::vector<LabelFile> parse_label_files(const std::string& text, const std::string& what);
// The same, for the option parser.
void parse(const std::string& text, const std::string& option, LabelFile& value);

}  // namespace satunet
