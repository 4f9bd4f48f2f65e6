#pragma once
// `satunet evaluate`: predicted class maps against the truth, as mapping teams judge them:
// pixels (confusion matrix: IoU, F1, precision, recall per class), building footprints as
// objects (SpaceNet F1, objects.hpp), roads as a graph (APLS and topology, roads.hpp), and a
// map of the errors. The truth is a class raster on the prediction's grid or vector labels
// rasterized onto it; everything streams strip by strip. A whole test set (--scenes) is
// spread over the ranks and its counts added up.
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "common/options.hpp"
#include "geo/labels.hpp"
#include "scoring/confusion_matrix.hpp"
#include "scoring/objects.hpp"
#include "scoring/roads.hpp"

namespace satunet::comm {
class Communicator;
}

namespace satunet::scoring {

// What one scene is scored from, and what is written for it.
struct SceneToScore {
  std::string prediction;  // class raster (uint8), 255 = nodata
  std::string truth;       // class raster on the same grid, or
  std::vector<std::pair<std::string, std::string>> truth_labels;  // CLASS=FILE vectors
  std::string predicted_objects;  // footprints as polygons instead of the mask's components
  std::string errors;             // error map to write (.tif), or empty
  std::string road_graph;         // road graphs to write (.gpkg/.geojson), or empty
};

struct EvaluateOptions {
  // One scene (as SceneToScore has them), or
  std::string prediction;
  std::string truth;
  std::vector<std::pair<std::string, std::string>> truth_labels;
  std::string predicted_objects;
  std::string errors;
  std::string road_graph;
  std::string scenes;  // a CSV listing scenes: columns pred, truth, labels, pred_objects, ...
  std::vector<std::string> classes;   // names; default: the prediction's categories
  geo::LineWidthOptions line_widths;  // for vector truth
  std::string objects = "auto";       // class scored as objects: a name, auto (building) or none
  ObjectOptions object_options;
  std::string roads = "auto";  // class scored as a road graph: a name, auto (road) or none
  RoadOptions road_options;
  std::string json;  // also write the scores here
  bool overwrite = false;
  std::int64_t strip_rows = 256;
};

struct SceneScores {
  std::string prediction;
  ConfusionMatrix matrix;
  std::optional<ObjectScore> objects;
  std::optional<RoadScore> roads;

  nlohmann::json to_json(const std::vector<std::string>& classes) const;
  static SceneScores from_json(const nlohmann::json& json);
};

struct Evaluation {
  std::vector<std::string> classes;
  std::string object_class, road_class;  // empty when not scored
  double match_iou = 0.5;
  std::vector<SceneScores> scenes;
  // The test set: pixel and object counts added up; APLS the mean over scenes (SpaceNet's
  // way), road lengths and junctions added up.
  ConfusionMatrix matrix;
  std::optional<ObjectScore> objects;
  std::optional<RoadScore> roads;

  std::string table() const;
  nlohmann::json to_json() const;
};

const options::Table<EvaluateOptions>& evaluate_option_table();
void validate(const EvaluateOptions& options);  // throws UsageError
// Every scene on one process, or spread over the ranks of `world`, every rank returning the
// whole evaluation.
Evaluation evaluate(const EvaluateOptions& options, comm::Communicator& world);

}  // namespace satunet::scoring
