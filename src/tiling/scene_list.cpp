#include "tiling/scene_list.hpp"

#include "common/csv_table.hpp"
#include "common/error.hpp"
#include "common/text.hpp"

namespace satunet::tiling {
std::vector<SceneInput> read_scene_list(const std::string& csv_path) {
  const CsvTable table = CsvTable::read(csv_path, {"image", "mask", "labels"}, {"image"});
  std::vector<SceneInput> scenes;
  for (const CsvRow& row : table.rows()) {
    SceneInput scene;
    scene.image = table.resolve(row.cell("image"));
    scene.mask = table.resolve(row.cell("mask"));
    scene.labels = parse_label_files(row.cell("labels"), row.where);
    for (LabelFile& label : scene.labels)
      label.path = table.resolve(label.path);
    scenes.push_back(scene);
  }
  return scenes;
}

}  // namespace satunet::tiling
