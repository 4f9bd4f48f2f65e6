#pragma once
// The scenes a dataset is cut from and the labels of each.
#include <string>
#include <vector>

#include "common/labels.hpp"

namespace satunet::tiling {

struct SceneInput {
  std::string image;
  std::string mask;               // a class-mask raster on the image's grid, or empty
  std::vector<LabelFile> labels;  // vector label files, or empty
};

// A CSV with a header naming its columns: `image` (required), `mask` and `labels` (optional;
// several label files separated by ';'). Relative paths are relative to the CSV file.
std::vector<SceneInput> read_scene_list(const std::string& csv_path);

}  // namespace satunet::tiling
