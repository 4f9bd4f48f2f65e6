#pragma once
// The scenes a dataset is cut from and the labels of each.
#include <string>
#include <vector>

namespace satunet::tiling {

// One label file as given: "CLASS=FILE" (every feature of FILE is CLASS) or "FILE" (the
// class comes from --class-field and --class-map).
struct LabelFile {
  std::string class_name;  // empty: by attribute
  std::string path;
};

struct SceneInput {
  std::string image;
  std::string mask;               // a class-mask raster on the image's grid, or empty
  std::vector<LabelFile> labels;  // vector label files, or empty
};

// "CLASS=FILE" or "FILE"; `what` names the option or column in errors.
LabelFile parse_label_file(const std::string& text, const std::string& what);
// The same, for the option parser.
void parse(const std::string& text, const std::string& option, LabelFile& value);

// A CSV with a header naming its columns: `image` (required), `mask` and `labels` (optional;
// several label files separated by ';'). Relative paths are relative to the CSV file.
std::vector<SceneInput> read_scene_list(const std::string& csv_path);

}  // namespace satunet::tiling
