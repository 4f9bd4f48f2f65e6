#include "tiling/scene_list.hpp"

#include <filesystem>
#include <fstream>

#include "common/error.hpp"
#include "common/text.hpp"

namespace satunet::tiling {
namespace fs = std::filesystem;

LabelFile parse_label_file(const std::string& text, const std::string& what) {
  const auto equals = text.find('=');
  // A '=' after a path separator belongs to the file name, not to a CLASS= prefix.
  if (equals == std::string::npos || text.find('/') < equals)
    return {"", text};
  const auto [name, path] = text::split_key_value(text, what);
  return {name, path};
}

void parse(const std::string& text, const std::string& option, LabelFile& value) {
  value = parse_label_file(text, option);
}

std::vector<SceneInput> read_scene_list(const std::string& csv_path) {
  std::ifstream file(csv_path);
  if (!file)
    throw Error(csv_path + ": cannot read the scene list");
  const fs::path base = fs::path(csv_path).parent_path();
  auto resolve = [&](const std::string& path) {
    return (path.empty() || fs::path(path).is_absolute()) ? path : (base / path).string();
  };
  std::string line;
  if (!std::getline(file, line))
    throw Error(csv_path + ": empty scene list");
  const std::vector<std::string> header = text::split(line, ',');
  int image_column = -1, mask_column = -1, labels_column = -1;
  for (int i = 0; i < static_cast<int>(header.size()); ++i) {
    if (header[i] == "image")
      image_column = i;
    else if (header[i] == "mask")
      mask_column = i;
    else if (header[i] == "labels")
      labels_column = i;
    else
      throw Error(csv_path + ": unknown column '" + header[i] + "' (image, mask, labels)");
  }
  if (image_column < 0)
    throw Error(csv_path + ": the header has no 'image' column");
  std::vector<SceneInput> scenes;
  for (int number = 2; std::getline(file, line); ++number) {
    if (text::trim(line).empty() || text::trim(line)[0] == '#')
      continue;
    const std::vector<std::string> cells = text::split(line, ',');
    if (cells.size() != header.size())
      throw Error(csv_path + ":" + std::to_string(number) + ": " + std::to_string(cells.size()) +
                  " cells, the header has " + std::to_string(header.size()));
    SceneInput scene;
    scene.image = resolve(cells[image_column]);
    if (mask_column >= 0)
      scene.mask = resolve(cells[mask_column]);
    if (labels_column >= 0 && !cells[labels_column].empty()) {
      for (const std::string& part : text::split(cells[labels_column], ';')) {
        LabelFile label = parse_label_file(part, csv_path + ":" + std::to_string(number));
        label.path = resolve(label.path);
        scene.labels.push_back(label);
      }
    }
    scenes.push_back(scene);
  }
  if (scenes.empty())
    throw Error(csv_path + ": no scenes listed");
  return scenes;
}

}  // namespace satunet::tiling
