// The result of `satunet evaluate`: per-scene scores as JSON, and the whole as a table and JSON.
#include "scoring/evaluate.hpp"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/text.hpp"

namespace satunet::scoring {
namespace {

std::string objects_line(const ObjectScore& s, const std::string& name, double match_iou) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(4) << name
      << " as objects (matched at IoU >= " << std::setprecision(2) << match_iou
      << std::setprecision(4) << "): " << s.true_positives << " matched, " << s.false_positives
      << " false positives, " << s.false_negatives << " missed; precision " << s.precision()
      << ", recall " << s.recall() << ", F1 " << s.f1() << ", mean IoU of matches "
      << s.mean_match_iou() << "\n";
  return out.str();
}

std::string roads_line(const RoadScore& s, const std::string& name) {
  const TopologyScore& t = s.topology;
  std::ostringstream out;
  out << std::fixed << std::setprecision(4) << name << " as a graph: APLS " << s.apls.apls
      << " (truth to prediction " << s.apls.truth_to_proposal << ", prediction to truth "
      << s.apls.proposal_to_truth << "); junctions precision " << t.junction_precision
      << ", recall " << t.junction_recall << "; length correct " << t.correctness << ", complete "
      << t.completeness << std::setprecision(2) << " (" << t.truth_length_m / 1000
      << " km of truth, " << t.proposal_length_m / 1000 << " km predicted)\n";
  return out.str();
}

}  // namespace

nlohmann::json SceneScores::to_json(const std::vector<std::string>& classes) const {
  nlohmann::json json = nlohmann::json::parse(matrix.json(classes));
  json["prediction"] = prediction;
  if (objects)
    json["objects"] = objects->to_json();
  if (roads)
    json["roads"] = roads->to_json();
  return json;
}

SceneScores SceneScores::from_json(const nlohmann::json& json) {
  SceneScores scores;
  scores.prediction = json.at("prediction").get<std::string>();
  const auto counts = json.at("confusion").get<std::vector<std::int64_t>>();
  const auto classes = static_cast<int>(std::lround(std::sqrt(static_cast<double>(counts.size()))));
  scores.matrix = ConfusionMatrix(classes);
  scores.matrix.counts() = counts;
  if (json.contains("objects"))
    scores.objects = ObjectScore::from_json(json.at("objects"));
  if (json.contains("roads"))
    scores.roads = RoadScore::from_json(json.at("roads"));
  return scores;
}

std::string Evaluation::table() const {
  std::ostringstream out;
  if (scenes.size() > 1) {
    out << std::fixed << std::setprecision(4) << std::left << std::setw(40) << "scene" << std::right
        << std::setw(12) << "mean IoU";
    if (objects)
      out << std::setw(12) << (object_class + " F1");
    if (roads)
      out << std::setw(12) << "APLS";
    out << "\n";
    for (const SceneScores& scene : scenes) {
      std::string name = scene.prediction;
      if (name.size() > 38)
        name = "..." + name.substr(name.size() - 35);
      out << std::left << std::setw(40) << name << std::right << std::setw(12)
          << scene.matrix.mean_foreground_iou();
      if (scene.objects)
        out << std::setw(12) << scene.objects->f1();
      if (scene.roads)
        out << std::setw(12) << scene.roads->apls.apls;
      out << "\n";
    }
    out << "\nall " << scenes.size() << " scenes:\n";
  }
  out << matrix.table(classes);
  if (objects)
    out << objects_line(*objects, object_class, match_iou);
  if (roads)
    out << roads_line(*roads, road_class);
  return out.str();
}

nlohmann::json Evaluation::to_json() const {
  nlohmann::json json = nlohmann::json::parse(matrix.json(classes));
  if (objects) {
    json["objects"] = objects->to_json();
    json["objects"]["class"] = object_class;
    json["objects"]["match_iou"] = match_iou;
  }
  if (roads) {
    json["roads"] = roads->to_json();
    json["roads"]["class"] = road_class;
  }
  json["scenes"] = nlohmann::json::array();
  for (const SceneScores& scene : scenes)
    json["scenes"].push_back(scene.to_json(classes));
  return json;
}

}  // namespace satunet::scoring
