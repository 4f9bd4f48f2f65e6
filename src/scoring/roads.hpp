#pragma once
// A road class of a class map as a graph, and the two graphs compared: the mask is thinned
// strip by strip (each with a halo wide enough that it thins as the whole scene would), the
// skeleton kept as a sparse pixel list (memory follows road length, not scene area), traced
// into a graph with lengths on the ground and its short spurs pruned.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "geo/metric_plane.hpp"
#include "scoring/apls.hpp"
#include "scoring/road_graph.hpp"

namespace satunet::scoring {

// Rows [row, row + rows) of the truth's and the prediction's class maps, full width, as
// class ids (kIgnoreLabel: not judged).
using PairedClassRows =
    std::function<void(std::int64_t row, std::int64_t rows, std::vector<std::uint8_t>& truth,
                       std::vector<std::uint8_t>& predicted)>;

struct RoadOptions {
  double spur_m = 10;  // dead ends shorter than this are pruned (skeleton whiskers)
  AplsOptions apls;
};

struct RoadGraphs {
  RoadGraph truth;
  RoadGraph proposal;
};

// The graphs of class `road_class` of both width x height class maps, read once through
// `rows`.
RoadGraphs road_graphs_of(const PairedClassRows& rows, int road_class, std::int64_t width,
                          std::int64_t height, const geo::MetricPlane& plane, double spur_m);

struct RoadScore {
  AplsScore apls;
  TopologyScore topology;
  nlohmann::json to_json() const;
  static RoadScore from_json(const nlohmann::json& json);
};

RoadScore score_roads(const RoadGraph& truth, const RoadGraph& proposal,
                      const RoadOptions& options);

// The id of the prediction's first node in write_road_graphs: truth nodes are 0, 1, ... and
// prediction nodes this and up, so the two graphs never share a node id. CosmiQ's apls.py
// tells the truth's control points from the proposal's nodes by id alone (an id present in
// both is taken for the same node); it numbers the truth's injected control points on from
// the truth's largest id, which stays far below this.
constexpr std::int64_t kFirstPredictionNode = 1'000'000'000;

// Both graphs as lines in the raster's CRS, with fields graph ("truth" or "prediction"),
// length_m and the ids of the edge's end nodes, from_node and to_node (the nodes of the first
// and last point); .gpkg or .geojson, written atomically.
void write_road_graphs(const std::string& path, const RoadGraph& truth, const RoadGraph& proposal,
                       const geo::MetricPlane& plane);

}  // namespace satunet::scoring
