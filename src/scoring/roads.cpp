#include "scoring/roads.hpp"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <tuple>

#include "common/labels.hpp"
#include "geo/vector.hpp"
#include "scoring/confusion_matrix.hpp"

namespace satunet::scoring {
namespace {

// Thinning removes at most one pixel layer from each side per pass, so a strip thins as the
// whole would where no road is wider than twice this (about 38 m at 0.3 m pixels); wider
// blobs are not roads.
constexpr std::int64_t kThinningHalo = 64;
constexpr std::int64_t kStripRows = 256;

// One class map's skeleton, strip by strip: each strip thinned with its halo, its core kept.
class Skeleton {
 public:
  Skeleton(int road_class, std::int64_t width) : road_class_(road_class), width_(width) {}

  void add_strip(const std::vector<std::uint8_t>& classes, std::int64_t first, std::int64_t rows,
                 std::int64_t core_first, std::int64_t core_rows) {
    road_.resize(classes.size());
    std::transform(classes.begin(), classes.end(), road_.begin(),
                   [this](std::uint8_t c) { return std::uint8_t(c == road_class_); });
    thin(road_, width_, rows);
    for (std::int64_t y = core_first; y < core_first + core_rows; ++y)
      for (std::int64_t x = 0; x < width_; ++x)
        if (road_[static_cast<std::size_t>((y - first) * width_ + x)])
          pixels_.push_back({x, y});
  }

  RoadGraph graph(const geo::MetricPlane& plane, double spur_m) const {
    RoadGraph graph = graph_from_skeleton(
        pixels_, [&plane](double col, double row) { return plane.to_metres(col, row); });
    prune_spurs(graph, spur_m);
    return graph;
  }

 private:
  int road_class_;
  std::int64_t width_;
  std::vector<std::uint8_t> road_;
  std::vector<PixelIndex> pixels_;
};

}  // namespace

RoadGraphs road_graphs_of(const PairedClassRows& rows, int road_class, std::int64_t width,
                          std::int64_t height, const geo::MetricPlane& plane, double spur_m) {
  Skeleton truth(road_class, width), proposal(road_class, width);
  std::vector<std::uint8_t> truth_rows, predicted_rows;
  for (std::int64_t row = 0; row < height; row += kStripRows) {
    const std::int64_t core = std::min(kStripRows, height - row);
    const std::int64_t first = std::max<std::int64_t>(0, row - kThinningHalo);
    const std::int64_t last = std::min(height, row + core + kThinningHalo);
    rows(first, last - first, truth_rows, predicted_rows);
    truth.add_strip(truth_rows, first, last - first, row, core);
    proposal.add_strip(predicted_rows, first, last - first, row, core);
  }
  return {truth.graph(plane, spur_m), proposal.graph(plane, spur_m)};
}

RoadScore score_roads(const RoadGraph& truth, const RoadGraph& proposal,
                      const RoadOptions& options) {
  return {apls(truth, proposal, options.apls), topology(truth, proposal, options.apls.snap_m)};
}

nlohmann::json RoadScore::to_json() const {
  const TopologyScore& t = topology;
  return {{"apls", number_or_null(apls.apls)},
          {"apls_truth_to_prediction", number_or_null(apls.truth_to_proposal)},
          {"apls_prediction_to_truth", number_or_null(apls.proposal_to_truth)},
          {"truth_control_points", apls.truth_control_points},
          {"prediction_control_points", apls.proposal_control_points},
          {"truth_paths", apls.truth_paths},
          {"prediction_paths", apls.proposal_paths},
          {"truth_junctions", t.truth_junctions},
          {"prediction_junctions", t.proposal_junctions},
          {"matched_junctions", t.matched_junctions},
          {"junction_precision", number_or_null(t.junction_precision)},
          {"junction_recall", number_or_null(t.junction_recall)},
          {"truth_length_m", t.truth_length_m},
          {"prediction_length_m", t.proposal_length_m},
          {"correct_length_m", t.correct_length_m},
          {"matched_truth_length_m", t.matched_truth_length_m},
          {"correctness", number_or_null(t.correctness)},
          {"completeness", number_or_null(t.completeness)}};
}

RoadScore RoadScore::from_json(const nlohmann::json& json) {
  RoadScore score;
  score.apls.apls = number_or_nan(json.at("apls"));
  score.apls.truth_to_proposal = number_or_nan(json.at("apls_truth_to_prediction"));
  score.apls.proposal_to_truth = number_or_nan(json.at("apls_prediction_to_truth"));
  score.apls.truth_control_points = json.at("truth_control_points").get<std::int64_t>();
  score.apls.proposal_control_points = json.at("prediction_control_points").get<std::int64_t>();
  score.apls.truth_paths = json.at("truth_paths").get<std::int64_t>();
  score.apls.proposal_paths = json.at("prediction_paths").get<std::int64_t>();
  TopologyScore& t = score.topology;
  t.truth_junctions = json.at("truth_junctions").get<std::int64_t>();
  t.proposal_junctions = json.at("prediction_junctions").get<std::int64_t>();
  t.matched_junctions = json.at("matched_junctions").get<std::int64_t>();
  t.junction_precision = number_or_nan(json.at("junction_precision"));
  t.junction_recall = number_or_nan(json.at("junction_recall"));
  t.truth_length_m = json.at("truth_length_m").get<double>();
  t.proposal_length_m = json.at("prediction_length_m").get<double>();
  t.correct_length_m = json.at("correct_length_m").get<double>();
  t.matched_truth_length_m = json.at("matched_truth_length_m").get<double>();
  t.correctness = number_or_nan(json.at("correctness"));
  t.completeness = number_or_nan(json.at("completeness"));
  return score;
}

void write_road_graphs(const std::string& path, const RoadGraph& truth, const RoadGraph& proposal,
                       const geo::MetricPlane& plane) {
  geo::VectorWriter writer(path, "road_graph", wkbLineString, plane.srs(), plane.srs(),
                           {{"graph", geo::FieldType::text},
                            {"length_m", geo::FieldType::real},
                            {"from_node", geo::FieldType::integer},
                            {"to_node", geo::FieldType::integer}});
  for (const auto& [name, graph, first_node] :
       {std::tuple{"truth", &truth, std::int64_t{0}},
        std::tuple{"prediction", &proposal, kFirstPredictionNode}})
    for (const RoadGraph::Edge& edge : graph->edges) {
      std::vector<geo::Point> line;
      for (const geo::Point& metres : edge.path)
        line.push_back(plane.to_world(metres));
      writer.add_line(
          line, {std::string(name), edge.length_m, first_node + edge.from, first_node + edge.to});
    }
  writer.commit();
}

}  // namespace satunet::scoring
