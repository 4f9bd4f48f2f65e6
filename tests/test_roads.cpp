// Road graphs from masks (thinning, tracing, spur pruning) and the APLS and topology scores,
// on shapes small enough that every expected value is known by hand, and APLS on a scene's
// graphs (tests/apls/) against the values of CosmiQ's apls.py.
#include <gdal_priv.h>
#include <gtest/gtest.h>
#include <ogrsf_frmts.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "geo/gdal.hpp"
#include "geo/metric_plane.hpp"
#include "geo/raster.hpp"
#include "geo/srs.hpp"
#include "scoring/apls.hpp"
#include "scoring/road_graph.hpp"
#include "scoring/roads.hpp"
#include "test_support.hpp"

namespace satunet {
namespace {

using geo::Point;
using scoring::AplsOptions;
using scoring::RoadGraph;

// A width x height mask with `inside(col, row)` set.
struct Mask {
  std::int64_t width, height;
  std::vector<std::uint8_t> pixels;
  Mask(std::int64_t w, std::int64_t h,
       const std::function<bool(std::int64_t, std::int64_t)>& inside)
      : width(w), height(h), pixels(static_cast<std::size_t>(w * h)) {
    for (std::int64_t row = 0; row < h; ++row)
      for (std::int64_t col = 0; col < w; ++col)
        pixels[static_cast<std::size_t>(row * w + col)] = inside(col, row);
  }
  bool at(std::int64_t col, std::int64_t row) const {
    return pixels[static_cast<std::size_t>(row * width + col)] != 0;
  }
};

bool in(std::int64_t value, std::int64_t first, std::int64_t end) {
  return value >= first && value < end;
}

Point pixel_units(double col, double row) {
  return {col, row};
}

// The thinned mask traced with one unit per pixel.
RoadGraph skeleton_graph(Mask mask) {
  scoring::thin(mask.pixels, mask.width, mask.height);
  return scoring::graph_from_skeleton(
      scoring::skeleton_pixels(mask.pixels, mask.width, mask.height), pixel_units);
}

std::vector<int> degrees(const RoadGraph& graph) {
  std::vector<int> found;
  for (int n = 0; n < static_cast<int>(graph.nodes.size()); ++n)
    found.push_back(graph.degree(n));
  return found;
}

int count(const std::vector<int>& values, int value) {
  return static_cast<int>(std::count(values.begin(), values.end(), value));
}

// A polyline of nodes joined in order by straight edges.
RoadGraph path_graph(const std::vector<Point>& points) {
  RoadGraph graph;
  for (const Point& point : points)
    graph.add_node(point);
  for (int n = 1; n < static_cast<int>(points.size()); ++n)
    graph.add_edge(n - 1, n);
  return graph;
}

// A(0, 0) - J(50, 0) - B(100, 0) with the branch J - C(50, 50), shifted by (dx, dy).
RoadGraph t_graph(double dx = 0, double dy = 0) {
  RoadGraph graph = path_graph({{dx, dy}, {50 + dx, dy}, {100 + dx, dy}});
  graph.add_edge(1, graph.add_node({50 + dx, 50 + dy}));
  return graph;
}

// ---- thinning and tracing ----

TEST(RoadGraph, WideBarThinsToItsCentreLine) {
  // Rows 5..13 (9 wide), columns 5..44 (40 long).
  Mask bar(50, 19,
           [](std::int64_t col, std::int64_t row) { return in(col, 5, 45) && in(row, 5, 14); });
  scoring::thin(bar.pixels, bar.width, bar.height);
  // One line on the centre row, shorter than the bar by about its width (the medial axis of a
  // rectangle stops half a width from each end) and never thicker than one pixel.
  std::int64_t on_centre_row = 0, elsewhere = 0;
  for (std::int64_t row = 0; row < bar.height; ++row)
    for (std::int64_t col = 0; col < bar.width; ++col)
      if (bar.at(col, row))
        ++(row == 9 ? on_centre_row : elsewhere);
  EXPECT_EQ(elsewhere, 0);
  EXPECT_GE(on_centre_row, 40 - 9);
  EXPECT_LE(on_centre_row, 40);

  const RoadGraph graph =
      scoring::graph_from_skeleton(scoring::skeleton_pixels(bar.pixels, 50, 19), pixel_units);
  ASSERT_EQ(graph.nodes.size(), 2u);
  ASSERT_EQ(graph.edges.size(), 1u);
  // A straight run of n pixels is n - 1 pixel steps long.
  EXPECT_DOUBLE_EQ(graph.total_length_m(), static_cast<double>(on_centre_row - 1));
}

TEST(RoadGraph, PlusSignHasOneJunctionOfDegreeFour) {
  // Arms 5 wide crossing at the centre pixel (20, 20).
  const RoadGraph graph = skeleton_graph(Mask(41, 41, [](std::int64_t col, std::int64_t row) {
    return (in(col, 18, 23) && in(row, 3, 38)) || (in(row, 18, 23) && in(col, 3, 38));
  }));
  const auto degree = degrees(graph);
  ASSERT_EQ(graph.nodes.size(), 5u);
  EXPECT_EQ(graph.edges.size(), 4u);
  EXPECT_EQ(count(degree, 4), 1);
  EXPECT_EQ(count(degree, 1), 4);
  // The junction pixels around the crossing collapse onto their mean: the centre pixel.
  const int junction =
      static_cast<int>(std::find(degree.begin(), degree.end(), 4) - degree.begin());
  EXPECT_DOUBLE_EQ(graph.nodes[junction].at.x, 20.5);
  EXPECT_DOUBLE_EQ(graph.nodes[junction].at.y, 20.5);
}

TEST(RoadGraph, LShapeIsOneEdgeAndTShapeHasOneJunction) {
  const RoadGraph l = skeleton_graph(Mask(40, 40, [](std::int64_t col, std::int64_t row) {
    return (in(col, 5, 10) && in(row, 5, 35)) || (in(row, 30, 35) && in(col, 5, 35));
  }));
  // The corner is no junction: two ends and one bent edge, longer than either leg (> 20 px).
  ASSERT_EQ(l.nodes.size(), 2u);
  ASSERT_EQ(l.edges.size(), 1u);
  EXPECT_EQ(degrees(l), (std::vector<int>{1, 1}));
  EXPECT_GT(l.edges[0].length_m, 40);

  const RoadGraph t = skeleton_graph(Mask(41, 40, [](std::int64_t col, std::int64_t row) {
    return (in(row, 5, 10) && in(col, 3, 38)) || (in(col, 18, 23) && in(row, 5, 37));
  }));
  const auto degree = degrees(t);
  ASSERT_EQ(t.nodes.size(), 4u);
  EXPECT_EQ(t.edges.size(), 3u);
  EXPECT_EQ(count(degree, 3), 1);
  EXPECT_EQ(count(degree, 1), 3);
}

TEST(RoadGraph, RingIsOneLoopWithOneNode) {
  const RoadGraph graph = skeleton_graph(Mask(40, 40, [](std::int64_t col, std::int64_t row) {
    const double radius =
        std::hypot(static_cast<double>(col) - 19.5, static_cast<double>(row) - 19.5);
    return radius >= 9 && radius <= 14;
  }));
  ASSERT_EQ(graph.nodes.size(), 1u);
  ASSERT_EQ(graph.edges.size(), 1u);
  EXPECT_EQ(graph.edges[0].from, 0);
  EXPECT_EQ(graph.edges[0].to, 0);
  EXPECT_EQ(graph.degree(0), 2);
  // The skeleton runs between the ring's edges (radius 9 to 14): a circumference between
  // 2 pi 9 and 2 pi 14.
  const double pi = std::acos(-1.0);
  EXPECT_GT(graph.edges[0].length_m, 2 * pi * 9);
  EXPECT_LT(graph.edges[0].length_m, 2 * pi * 14);
}

TEST(RoadGraph, LengthsAreInMetresAndDiagonalStepsCountRootTwo) {
  // Five pixels along row 0, then three diagonal steps down to (7, 3); 0.5 m pixels.
  const std::vector<scoring::PixelIndex> pixels = {{7, 3}, {0, 0}, {1, 0}, {2, 0},
                                                   {3, 0}, {4, 0}, {5, 1}, {6, 2}};
  const RoadGraph graph = scoring::graph_from_skeleton(pixels, [](double col, double row) {
    return Point{0.5 * col, 100 - 0.5 * row};
  });
  ASSERT_EQ(graph.nodes.size(), 2u);
  ASSERT_EQ(graph.edges.size(), 1u);
  EXPECT_NEAR(graph.edges[0].length_m, 0.5 * (4 + 3 * std::sqrt(2.0)), 1e-12);
  EXPECT_EQ(graph.edges[0].path.size(), 8u);
  // Nodes at pixel centres: (0.5, 0.5) and (7.5, 3.5) in pixels.
  const Point a = graph.nodes[graph.edges[0].from].at, b = graph.nodes[graph.edges[0].to].at;
  EXPECT_DOUBLE_EQ(std::min(a.x, b.x), 0.25);
  EXPECT_DOUBLE_EQ(std::max(a.x, b.x), 3.75);
  EXPECT_DOUBLE_EQ(std::max(a.y, b.y), 99.75);
  EXPECT_DOUBLE_EQ(std::min(a.y, b.y), 98.25);
}

TEST(RoadGraph, BadInputIsRefused) {
  std::vector<std::uint8_t> image(10, 1);
  EXPECT_THROW(scoring::thin(image, 3, 3), Error);
  EXPECT_THROW(scoring::graph_from_skeleton({{1, 1}, {2, 1}, {1, 1}}, pixel_units), Error);
  RoadGraph graph;
  graph.add_node({0, 0});
  EXPECT_THROW(graph.add_edge(0, 1), Error);
}

// ---- pruning ----

TEST(RoadGraph, ShortSpurIsRemovedAndTheRoadMerged) {
  // A(0, 0) - J(10, 0) - B(25, 0) and the 3 m spur J - S(10, 3).
  RoadGraph graph = path_graph({{0, 0}, {10, 0}, {25, 0}});
  graph.add_edge(1, graph.add_node({10, 3}));
  RoadGraph kept = graph;
  scoring::prune_spurs(kept, 2);  // the spur is longer: nothing changes
  EXPECT_EQ(kept.nodes.size(), 4u);
  EXPECT_EQ(kept.edges.size(), 3u);

  scoring::prune_spurs(graph, 5);
  // J is left with degree 2 and merged away: one edge A - B of 25 m through J.
  ASSERT_EQ(graph.nodes.size(), 2u);
  ASSERT_EQ(graph.edges.size(), 1u);
  const RoadGraph::Edge& road = graph.edges[0];
  EXPECT_DOUBLE_EQ(road.length_m, 25);
  ASSERT_EQ(road.path.size(), 3u);
  EXPECT_DOUBLE_EQ(road.path[1].x, 10);
  EXPECT_DOUBLE_EQ(graph.nodes[road.from].at.x + graph.nodes[road.to].at.x, 25);
}

TEST(RoadGraph, SpursArePrunedOnceOnly) {
  // A(0, 0) - J(20, 0) - B(40, 0); J - K(20, 4); at K two spurs of sqrt(8) m to (18, 6) and
  // (22, 6). With 5 m both spurs go; J - K (4 m) only becomes a dead end after that and stays.
  RoadGraph graph = path_graph({{0, 0}, {20, 0}, {40, 0}});
  const int k = graph.add_node({20, 4});
  graph.add_edge(1, k);
  graph.add_edge(k, graph.add_node({18, 6}));
  graph.add_edge(k, graph.add_node({22, 6}));
  scoring::prune_spurs(graph, 5);
  EXPECT_EQ(graph.nodes.size(), 4u);
  EXPECT_EQ(graph.edges.size(), 3u);
  EXPECT_DOUBLE_EQ(graph.total_length_m(), 44);
}

TEST(RoadGraph, WhiskerOfAThinnedBumpIsPruned) {
  // The bar of WideBarThinsToItsCentreLine with a 5 x 5 bump under its middle: thinning grows a
  // whisker into the bump (a junction and a third end) that pruning takes off again.
  const Mask mask(50, 22, [](std::int64_t col, std::int64_t row) {
    return (in(col, 5, 45) && in(row, 5, 14)) || (in(col, 23, 28) && in(row, 14, 19));
  });
  RoadGraph graph = skeleton_graph(mask);
  EXPECT_EQ(count(degrees(graph), 3), 1);
  scoring::prune_spurs(graph, 8);
  ASSERT_EQ(graph.nodes.size(), 2u);
  ASSERT_EQ(graph.edges.size(), 1u);
  EXPECT_EQ(degrees(graph), (std::vector<int>{1, 1}));
  // End to end as without the bump (30 px), plus the small detour through the junction.
  EXPECT_GE(graph.edges[0].length_m, 30);
  EXPECT_LT(graph.edges[0].length_m, 31);
}

TEST(RoadGraph, ShortPiecesAreDroppedLongOnesKept) {
  // A 100 m road, a 30 m piece of two edges and a lone 5 m stroke.
  RoadGraph graph = path_graph({{0, 0}, {100, 0}});
  const int a = graph.add_node({0, 50});
  const int b = graph.add_node({15, 50});
  graph.add_edge(a, b);
  graph.add_edge(b, graph.add_node({30, 50}));
  graph.add_edge(graph.add_node({0, 90}), graph.add_node({5, 90}));
  RoadGraph kept = graph;
  scoring::drop_short_pieces(kept, 30);  // the 30 m piece is not shorter: it stays
  EXPECT_DOUBLE_EQ(kept.total_length_m(), 130);
  scoring::drop_short_pieces(graph, 31);
  ASSERT_EQ(graph.edges.size(), 1u);
  EXPECT_EQ(graph.nodes.size(), 2u);
  EXPECT_DOUBLE_EQ(graph.total_length_m(), 100);
}

TEST(RoadGraph, GapsAreClosedAlongTheRoadWithinTheirLength) {
  // A(0, 0) - B(40, 0), a break of 8 m, then C(48, 0) - D(100, 0): B and C face each other and
  // are joined once.
  RoadGraph broken = path_graph({{0, 0}, {40, 0}});
  broken.add_edge(broken.add_node({48, 0}), broken.add_node({100, 0}));
  RoadGraph too_far = broken;
  EXPECT_TRUE(scoring::close_gaps(too_far, 7).empty()) << "the break is longer than 7 m";
  const std::vector<int> gaps = scoring::close_gaps(broken, 10);
  ASSERT_EQ(gaps.size(), 1u);
  EXPECT_DOUBLE_EQ(broken.edges[static_cast<std::size_t>(gaps[0])].length_m, 8);
  EXPECT_EQ(count(degrees(broken), 1), 2) << "one road with two ends";

  // A dead end 6 m short of a crossing road joins it where it points, splitting it: a T.
  RoadGraph t = path_graph({{0, 0}, {100, 0}});
  t.add_edge(t.add_node({50, 50}), t.add_node({50, 6}));
  ASSERT_EQ(scoring::close_gaps(t, 10).size(), 1u);
  EXPECT_EQ(count(degrees(t), 3), 1);
  EXPECT_DOUBLE_EQ(t.total_length_m(), 150);

  // A road ending beside another, pointing along it, is left alone (paths with a point every
  // metre, as traced from a mask: the nearest points ahead are 45 degrees off).
  RoadGraph parallel;
  auto add_line = [&parallel](Point from, Point to) {
    std::vector<Point> path;
    const double length = std::hypot(to.x - from.x, to.y - from.y);
    for (double t = 0; t <= length; ++t)
      path.push_back(
          {from.x + (to.x - from.x) * t / length, from.y + (to.y - from.y) * t / length});
    parallel.add_edge(parallel.add_node(from), parallel.add_node(to), path);
  };
  add_line({0, 0}, {100, 0});
  add_line({0, 6}, {60, 6});
  EXPECT_TRUE(scoring::close_gaps(parallel, 10).empty());
}

// ---- APLS ----

TEST(Apls, IdenticalGraphsScoreOne) {
  const RoadGraph graph = t_graph();
  // Each 50 m edge gets one control point in its middle: 4 nodes + 3 = 7 points, 21 pairs.
  const auto score = scoring::apls(graph, graph, {25, 4});
  EXPECT_EQ(score.apls, 1.0);
  EXPECT_EQ(score.truth_to_proposal, 1.0);
  EXPECT_EQ(score.proposal_to_truth, 1.0);
  EXPECT_EQ(score.truth_control_points, 7);
  EXPECT_EQ(score.proposal_control_points, 7);
  EXPECT_EQ(score.truth_paths, 21);
  EXPECT_EQ(score.proposal_paths, 21);
}

TEST(Apls, ShiftWithinSnapScoresOneAndBeyondItZero) {
  // A straight 100 m road: nodes at 0 and 100, one control point at 50.
  const RoadGraph truth = path_graph({{0, 0}, {100, 0}});
  // 3 m sideways: every point snaps straight across, all path lengths stay the same.
  const auto near = scoring::apls(truth, path_graph({{0, 3}, {100, 3}}), AplsOptions{});
  EXPECT_NEAR(near.apls, 1, 1e-12);
  EXPECT_EQ(near.truth_paths, 3);
  // 5 m sideways, beyond the 4 m snap: every point is missing, every pair costs 1.
  const auto far = scoring::apls(truth, path_graph({{0, 5}, {100, 5}}), AplsOptions{});
  EXPECT_EQ(far.truth_to_proposal, 0);
  EXPECT_EQ(far.proposal_to_truth, 0);
  EXPECT_EQ(far.apls, 0);
}

TEST(Apls, RoadCutInTheMiddle) {
  // Truth: A(0) - B(10) - C(20) along the x axis. Proposal: the same road cut between x = 8
  // and x = 11: (0) - (8) and (11) - (20). Step 10 m puts one control point in the middle of
  // every edge of 7.5 to 10 m, and (ceil(L / 10) - 1) inside longer ones.
  const RoadGraph truth = path_graph({{0, 0}, {10, 0}, {20, 0}});
  RoadGraph proposal = path_graph({{0, 0}, {8, 0}});
  proposal.add_edge(proposal.add_node({11, 0}), proposal.add_node({20, 0}));
  const auto score = scoring::apls(truth, proposal, {10, 4});

  // Truth -> proposal: points 0, 5, 10, 15, 20 (10 pairs). 10 snaps to 11 (1 m, nearer than 8),
  // so the left side is {0, 5} and the right {11, 15, 20}. Costs: (0,5): 0; (10,15): |5-4|/5 =
  // 0.2; (10,20): |10-9|/10 = 0.1; (15,20): 0; the 6 pairs across the cut: 1 each.
  // C = 1 - 6.3 / 10 = 0.37.
  EXPECT_EQ(score.truth_control_points, 5);
  EXPECT_EQ(score.truth_paths, 10);
  EXPECT_NEAR(score.truth_to_proposal, 0.37, 1e-12);
  // Proposal -> truth: points 0, 4, 8 and 11, 15.5, 20 all lie on the truth; only the 3 + 3
  // pairs joined in the proposal count, and each has the same length in the truth: C = 1.
  EXPECT_EQ(score.proposal_control_points, 6);
  EXPECT_EQ(score.proposal_paths, 6);
  EXPECT_NEAR(score.proposal_to_truth, 1, 1e-12);
  // Harmonic mean: 2 * 0.37 * 1 / 1.37.
  EXPECT_NEAR(score.apls, 0.74 / 1.37, 1e-12);
}

TEST(Apls, MissingBranchOfAT) {
  // Truth: the T of t_graph (A, J, B, C); proposal: A - J - B only. Step 100 m injects nothing
  // (each 50 m edge is shorter than 0.75 step).
  const RoadGraph proposal = path_graph({{0, 0}, {50, 0}, {100, 0}});
  const auto score = scoring::apls(t_graph(), proposal, {100, 4});
  // Truth -> proposal: C is 50 m from the proposal, missing. Of the 6 pairs, the three with C
  // cost 1 and (A,J), (A,B), (J,B) cost 0: C = 1 - 3/6 = 0.5.
  EXPECT_EQ(score.truth_paths, 6);
  EXPECT_DOUBLE_EQ(score.truth_to_proposal, 0.5);
  // Proposal -> truth: all 3 pairs exact: 1. APLS = 2 * 0.5 * 1 / 1.5 = 2/3.
  EXPECT_EQ(score.proposal_paths, 3);
  EXPECT_DOUBLE_EQ(score.proposal_to_truth, 1);
  EXPECT_DOUBLE_EQ(score.apls, 2.0 / 3.0);
}

TEST(Apls, EmptyGraphs) {
  const RoadGraph empty;
  // Every truth pair loses its points (0); the empty proposal has nothing to get wrong (1).
  const auto missed = scoring::apls(t_graph(), empty, AplsOptions{});
  EXPECT_EQ(missed.truth_to_proposal, 0);
  EXPECT_EQ(missed.proposal_to_truth, 1);
  EXPECT_EQ(missed.apls, 0);
  EXPECT_EQ(scoring::apls(empty, t_graph(), AplsOptions{}).apls, 0);
  EXPECT_EQ(scoring::apls(empty, empty, AplsOptions{}).apls, 1);
}

TEST(Apls, BadOptionsAreRefused) {
  EXPECT_THROW(scoring::apls(t_graph(), t_graph(), {0, 4}), Error);
  EXPECT_THROW(scoring::apls(t_graph(), t_graph(), {50, -1}), Error);
  RoadGraph broken = t_graph();
  broken.edges[0].to = 9;
  EXPECT_THROW(scoring::apls(broken, t_graph(), AplsOptions{}), Error);
}

// Both graphs of a file `satunet evaluate --road-graph` wrote (any GDAL path: /vsigzip/ for
// the gzipped ones of tests/apls/), as they were scored: nodes by from_node/to_node, edges
// with their lines (in the file's CRS, projected: metres) and length_m.
struct WrittenGraphs {
  RoadGraph truth, proposal;
  std::vector<std::int64_t> truth_ids, proposal_ids;  // node ids as written, in node order
};

WrittenGraphs read_road_graphs(const std::string& path) {
  geo::init_gdal();
  GDALDatasetUniquePtr file(GDALDataset::Open(path.c_str(), GDAL_OF_VECTOR));
  if (!file)
    throw Error("cannot open " + path);
  WrittenGraphs graphs;
  std::map<std::int64_t, int> truth_nodes, proposal_nodes;
  for (auto& feature : *file->GetLayer(0)) {
    const bool truth = std::string(feature->GetFieldAsString("graph")) == "truth";
    RoadGraph& graph = truth ? graphs.truth : graphs.proposal;
    auto& nodes = truth ? truth_nodes : proposal_nodes;
    auto& ids = truth ? graphs.truth_ids : graphs.proposal_ids;
    const auto* line = feature->GetGeometryRef()->toLineString();
    RoadGraph::Edge edge;
    for (int i = 0; i < line->getNumPoints(); ++i)
      edge.path.push_back({line->getX(i), line->getY(i)});
    const auto node = [&](const char* field, Point at) {
      const std::int64_t id = feature->GetFieldAsInteger64(field);
      const auto [found, added] = nodes.try_emplace(id, 0);
      if (added) {
        found->second = graph.add_node(at);
        ids.push_back(id);
      }
      return found->second;
    };
    edge.from = node("from_node", edge.path.front());
    edge.to = node("to_node", edge.path.back());
    edge.length_m = feature->GetFieldAsDouble("length_m");
    graph.edges.push_back(edge);
  }
  return graphs;
}

TEST(Apls, WrittenGraphsKeepTheirNodesApart) {
  // The road cut of RoadCutInTheMiddle, written as evaluate --road-graph writes it (UTM 33N,
  // 0.5 m pixels): truth nodes are 0, 1, ..., prediction nodes 1e9 and up, so the file can
  // be handed to CosmiQ's apls.py as it is (which takes a truth control point named like a
  // proposal node for that node). Read back, the graphs score as before.
  RoadGraph truth = path_graph({{0, 0}, {10, 0}, {20, 0}});
  RoadGraph proposal = path_graph({{0, 0}, {8, 0}});
  proposal.add_edge(proposal.add_node({11, 0}), proposal.add_node({20, 0}));
  geo::RasterInfo raster;
  raster.width = raster.height = 100;
  raster.crs_wkt = geo::SpatialRef::from_epsg(32633).wkt();
  raster.has_geotransform = true;
  raster.transform = geo::GeoTransform::north_up(500000, 4650000, 0.5, 0.5);
  const std::string path = test::fresh_directory("written_graphs") + "/graph.geojson";
  scoring::write_road_graphs(path, truth, proposal, geo::MetricPlane(raster));

  WrittenGraphs written = read_road_graphs(path);
  std::sort(written.truth_ids.begin(), written.truth_ids.end());
  std::sort(written.proposal_ids.begin(), written.proposal_ids.end());
  EXPECT_EQ(written.truth_ids, (std::vector<std::int64_t>{0, 1, 2}));
  EXPECT_EQ(written.proposal_ids,
            (std::vector<std::int64_t>{
                scoring::kFirstPredictionNode, scoring::kFirstPredictionNode + 1,
                scoring::kFirstPredictionNode + 2, scoring::kFirstPredictionNode + 3}));
  const auto before = scoring::apls(truth, proposal, {10, 4});
  const auto after = scoring::apls(written.truth, written.proposal, {10, 4});
  EXPECT_NEAR(after.apls, before.apls, 1e-9);
  EXPECT_EQ(after.truth_paths, before.truth_paths);
  EXPECT_EQ(after.proposal_paths, before.proposal_paths);
}

TEST(Apls, EqualsCosmiqAplsPyOnDamagedNetworks) {
  // satunet's own graphs of the synthetic scene (synth --size 2048 --seed 1, 0.5 m pixels,
  // 74 truth nodes, about 9 km of road) against damaged copies of its road mask, and the
  // APLS that CosmiQ's apls.py (make_graphs and compute_apls_metric, its command line's
  // defaults) gives the same graphs: tests/apls/apls_reference.py, see tests/apls/README.md.
  // apls.py counts every ordered pair, snaps by inserting nodes and renames a node a point
  // falls on; the scores agree to 1e-5, and must within 0.02.
  struct Case {
    const char* file;
    double apls, truth_to_proposal, proposal_to_truth;  // apls.py's
  };
  const Case cases[] = {
      // Three 10 m gaps cut across three roads.
      {"three_gaps.geojson.gz", 0.87536, 0.84515, 0.907808},
      // Three of the 13 roads left out.
      {"three_roads_removed.geojson.gz", 0.90108, 0.822251, 0.996626},
      // Three 8 m wide bridges between two parallel roads 220 m apart.
      {"three_bridges.geojson.gz", 0.936421, 0.995176, 0.884218},
      // The whole mask 2 m (4 px) to the east.
      {"shifted_2m.geojson.gz", 0.987627, 0.987619, 0.987635},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.file);
    const WrittenGraphs graphs =
        read_road_graphs("/vsigzip/" SATUNET_SOURCE_DIR "/tests/apls/" + std::string(c.file));
    ASSERT_EQ(graphs.truth.nodes.size(), 74u);
    const auto score = scoring::apls(graphs.truth, graphs.proposal, AplsOptions{});
    EXPECT_NEAR(score.apls, c.apls, 0.02);
    EXPECT_NEAR(score.truth_to_proposal, c.truth_to_proposal, 0.02);
    EXPECT_NEAR(score.proposal_to_truth, c.proposal_to_truth, 0.02);
  }
}

// ---- topology ----

TEST(Apls, TopologyOfIdenticalGraphsIsPerfect) {
  const auto score = scoring::topology(t_graph(), t_graph(), 4);
  EXPECT_EQ(score.truth_junctions, 1);
  EXPECT_EQ(score.matched_junctions, 1);
  EXPECT_EQ(score.junction_precision, 1);
  EXPECT_EQ(score.junction_recall, 1);
  EXPECT_DOUBLE_EQ(score.truth_length_m, 150);
  EXPECT_NEAR(score.correct_length_m, 150, 1e-9);
  EXPECT_NEAR(score.correctness, 1, 1e-12);
  EXPECT_NEAR(score.completeness, 1, 1e-12);
}

TEST(Apls, TopologyOfAMissingBranch) {
  // Truth: A(0,0) - J(10,0) - B(20,0) and J - C(10,10); proposal: A - B straight.
  RoadGraph truth = path_graph({{0, 0}, {10, 0}, {20, 0}});
  truth.add_edge(1, truth.add_node({10, 10}));
  const auto score = scoring::topology(truth, path_graph({{0, 0}, {20, 0}}), 4);
  // The junction is not found; the proposal claims none.
  EXPECT_EQ(score.truth_junctions, 1);
  EXPECT_EQ(score.proposal_junctions, 0);
  EXPECT_EQ(score.junction_recall, 0);
  EXPECT_EQ(score.junction_precision, 1);
  // All 20 m of the proposal lie on the truth. Of the truth's 30 m, the branch's 10 m share is
  // missed but for its first 4 m, within the snap distance of the proposal: 24 m, 0.8.
  EXPECT_NEAR(score.correctness, 1, 1e-12);
  EXPECT_NEAR(score.matched_truth_length_m, 24, 1e-9);
  EXPECT_NEAR(score.completeness, 0.8, 1e-12);
}

TEST(Apls, TopologyMatchesJunctionsOneToOneNearestFirst) {
  // Truth junctions at x = 0 and 6, proposal junctions at x = 1 and 3. Nearest first takes
  // (0, 1) at 1 m, which leaves (6, 3) at 3 m: two matches. Taking (0, 3), also within 4 m,
  // first would have left 6 without a partner.
  const auto star = [](Point at) {
    RoadGraph graph;
    const int centre = graph.add_node(at);
    for (const Point arm : {Point{at.x - 1, at.y}, Point{at.x + 1, at.y}, Point{at.x, at.y + 1}})
      graph.add_edge(centre, graph.add_node(arm));
    return graph;
  };
  const auto join = [](RoadGraph a, const RoadGraph& b) {
    const int offset = static_cast<int>(a.nodes.size());
    a.nodes.insert(a.nodes.end(), b.nodes.begin(), b.nodes.end());
    for (RoadGraph::Edge edge : b.edges) {
      edge.from += offset;
      edge.to += offset;
      a.edges.push_back(edge);
    }
    return a;
  };
  const RoadGraph truth = join(star({0, 0}), star({6, 0}));
  const RoadGraph proposal = join(star({1, 0}), star({3, 0}));
  const auto score = scoring::topology(truth, proposal, 4);
  EXPECT_EQ(score.truth_junctions, 2);
  EXPECT_EQ(score.proposal_junctions, 2);
  EXPECT_EQ(score.matched_junctions, 2);
}

}  // namespace
}  // namespace satunet
