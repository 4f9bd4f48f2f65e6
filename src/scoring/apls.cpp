#include "scoring/apls.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <optional>
#include <queue>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/error.hpp"

namespace satunet::scoring {
namespace {

constexpr double kUnreachable = std::numeric_limits<double>::infinity();

double distance(geo::Point a, geo::Point b) {
  return std::hypot(b.x - a.x, b.y - a.y);
}
double dot(geo::Point a, geo::Point b) {
  return a.x * b.x + a.y * b.y;
}
geo::Point minus(geo::Point a, geo::Point b) {
  return {a.x - b.x, a.y - b.y};
}
geo::Point lerp(geo::Point a, geo::Point b, double t) {
  return {a.x + t * (b.x - a.x), a.y + t * (b.y - a.y)};
}
double ratio(double part, double whole) {
  return whole > 0 ? part / whole : 1;
}

// Where a point lies on a graph: at a node, or `offset_m` along an edge from its `from` end
// (in the edge's length_m).
struct Place {
  int node = -1;
  int edge = -1;
  double offset_m = 0;
};

// An edge's path length in the plane and the factor that turns it into its length_m.
struct EdgeShape {
  double path_length = 0;
  double to_length_m = 0;
};

std::vector<EdgeShape> edge_shapes(const RoadGraph& graph) {
  std::vector<EdgeShape> shapes;
  shapes.reserve(graph.edges.size());
  for (const RoadGraph::Edge& edge : graph.edges) {
    EdgeShape shape;
    for (std::size_t i = 1; i < edge.path.size(); ++i)
      shape.path_length += distance(edge.path[i - 1], edge.path[i]);
    shape.to_length_m = shape.path_length > 0 ? edge.length_m / shape.path_length : 0;
    shapes.push_back(shape);
  }
  return shapes;
}

// A straight piece of an edge's path.
struct Segment {
  int edge;
  geo::Point a, b;
  double start;  // along the edge's path to `a`
};

std::vector<Segment> path_segments(const RoadGraph& graph) {
  std::vector<Segment> segments;
  for (int e = 0; e < static_cast<int>(graph.edges.size()); ++e) {
    const auto& path = graph.edges[e].path;
    double start = 0;
    for (std::size_t i = 1; i < path.size(); ++i) {
      segments.push_back({e, path[i - 1], path[i], start});
      start += distance(path[i - 1], path[i]);
    }
  }
  return segments;
}

// Shortest path lengths along a graph's edges between places on it.
class Network {
 public:
  explicit Network(const RoadGraph& graph) : graph_(graph), links_(graph.nodes.size()) {
    for (const RoadGraph::Edge& edge : graph.edges) {
      links_[edge.from].push_back({edge.to, edge.length_m});
      links_[edge.to].push_back({edge.from, edge.length_m});
    }
  }

  const RoadGraph& graph() const { return graph_; }

  // Dijkstra from `source` to every node; kUnreachable where there is no path.
  void distances_from(const Place& source, std::vector<double>& to_node) const {
    to_node.assign(graph_.nodes.size(), kUnreachable);
    queue_ = {};
    if (source.node >= 0) {
      relax(source.node, 0, to_node);
    } else {
      const RoadGraph::Edge& edge = graph_.edges[source.edge];
      relax(edge.from, source.offset_m, to_node);
      relax(edge.to, edge.length_m - source.offset_m, to_node);
    }
    while (!queue_.empty()) {
      const auto [length, node] = queue_.top();
      queue_.pop();
      if (length > to_node[node])
        continue;
      for (const Link& link : links_[node])
        relax(link.node, length + link.length_m, to_node);
    }
  }

  // The path length from `source` to `target`, given distances_from(source).
  double distance(const Place& source, const std::vector<double>& to_node,
                  const Place& target) const {
    if (target.node >= 0)
      return to_node[target.node];
    const RoadGraph::Edge& edge = graph_.edges[target.edge];
    double length = std::min(to_node[edge.from] + target.offset_m,
                             to_node[edge.to] + edge.length_m - target.offset_m);
    if (source.edge == target.edge)
      length = std::min(length, std::abs(source.offset_m - target.offset_m));
    return length;
  }

 private:
  struct Link {
    int node;
    double length_m;
  };
  using Item = std::pair<double, int>;

  void relax(int node, double length, std::vector<double>& to_node) const {
    if (length < to_node[node]) {
      to_node[node] = length;
      queue_.push({length, node});
    }
  }

  const RoadGraph& graph_;
  std::vector<std::vector<Link>> links_;
  // Kept between calls to spare an allocation per source.
  mutable std::priority_queue<Item, std::vector<Item>, std::greater<Item>> queue_;
};

// The straight pieces of a graph's edge paths in a grid of cells, each piece listed in every
// cell that holds a point within `reach_m` of it: a point then finds all pieces within reach
// in its own cell, whatever the size of the graph.
class SegmentIndex {
 public:
  SegmentIndex(const RoadGraph& graph, double reach_m)
      : reach_(reach_m),
        cell_(std::max(reach_m, 1.0)),
        shapes_(edge_shapes(graph)),
        segments_(path_segments(graph)) {
    for (int s = 0; s < static_cast<int>(segments_.size()); ++s)
      add(s);
  }

  const std::vector<Segment>& segments() const { return segments_; }

  // The nearest point of the graph's edges to `point` if it is within reach.
  std::optional<Place> snap(geo::Point point) const {
    const auto found = cells_.find(key(cell_of(point.x), cell_of(point.y)));
    if (found == cells_.end())
      return std::nullopt;
    double best = kUnreachable;
    Place place;
    for (const int s : found->second) {
      const Segment& segment = segments_[s];
      const double t = projection(point, segment.a, segment.b);
      const double away = distance(point, lerp(segment.a, segment.b, t));
      if (away < best) {
        best = away;
        const double along = segment.start + t * distance(segment.a, segment.b);
        place = {-1, segment.edge, along * shapes_[segment.edge].to_length_m};
      }
    }
    if (best > reach_)
      return std::nullopt;
    return place;
  }

  // The pieces that may lie within reach of some point of segment (a, b), each once.
  std::vector<int> near(geo::Point a, geo::Point b) const {
    std::vector<int> found;
    for_cells_along(a, b, 0, [&](std::uint64_t cell) {
      const auto listed = cells_.find(cell);
      if (listed != cells_.end())
        found.insert(found.end(), listed->second.begin(), listed->second.end());
    });
    std::sort(found.begin(), found.end());
    found.erase(std::unique(found.begin(), found.end()), found.end());
    return found;
  }

 private:
  // Where on segment (a, b) the point nearest to `p` lies, from 0 at a to 1 at b.
  static double projection(geo::Point p, geo::Point a, geo::Point b) {
    const geo::Point v = minus(b, a);
    const double squared = dot(v, v);
    if (squared == 0)
      return 0;
    return std::clamp(dot(minus(p, a), v) / squared, 0.0, 1.0);
  }

  std::int64_t cell_of(double coordinate) const {
    return static_cast<std::int64_t>(std::floor(coordinate / cell_));
  }
  static std::uint64_t key(std::int64_t col, std::int64_t row) {
    return (static_cast<std::uint64_t>(col) << 32) ^ static_cast<std::uint32_t>(row);
  }

  // Calls `visit` for the cells met by the bounding boxes, grown by `margin`, of pieces of
  // (a, b) no longer than a cell: a long diagonal thus visits a band of cells, not its box.
  template <typename Visit>
  void for_cells_along(geo::Point a, geo::Point b, double margin, Visit&& visit) const {
    const double length = distance(a, b);
    const int pieces = std::max(1, static_cast<int>(std::ceil(length / cell_)));
    for (int k = 0; k < pieces; ++k) {
      const geo::Point p = lerp(a, b, static_cast<double>(k) / pieces);
      const geo::Point q = lerp(a, b, static_cast<double>(k + 1) / pieces);
      const std::int64_t col0 = cell_of(std::min(p.x, q.x) - margin);
      const std::int64_t col1 = cell_of(std::max(p.x, q.x) + margin);
      const std::int64_t row0 = cell_of(std::min(p.y, q.y) - margin);
      const std::int64_t row1 = cell_of(std::max(p.y, q.y) + margin);
      for (std::int64_t row = row0; row <= row1; ++row)
        for (std::int64_t col = col0; col <= col1; ++col)
          visit(key(col, row));
    }
  }

  void add(int s) {
    const Segment& segment = segments_[s];
    for_cells_along(segment.a, segment.b, reach_, [&](std::uint64_t cell) {
      auto& listed = cells_[cell];
      // Pieces of one segment share cells; this segment is the last one listed if at all.
      if (listed.empty() || listed.back() != s)
        listed.push_back(s);
    });
  }

  double reach_;
  double cell_;
  std::vector<EdgeShape> shapes_;
  std::vector<Segment> segments_;
  std::unordered_map<std::uint64_t, std::vector<int>> cells_;
};

// --- APLS -------------------------------------------------------------------------------------

struct ControlPoint {
  geo::Point at;
  Place place;
};

// How many points the reference (create_graph_midpoints) puts inside an edge of `length_m`.
int injected_points(double length_m, double step_m) {
  if (!(step_m > 0) || length_m < 0.75 * step_m)
    return 0;
  if (length_m <= step_m)
    return 1;
  return static_cast<int>(std::ceil(length_m / step_m)) - 1;
}

// The points of `path` at the fractions (k + 1) / (count + 1) of its length, k < count.
std::vector<geo::Point> evenly_inside(const std::vector<geo::Point>& path, double path_length,
                                      int count) {
  std::vector<geo::Point> points;
  std::size_t i = 1;
  double walked = 0;  // along the path to path[i - 1]
  for (int k = 1; k <= count; ++k) {
    const double wanted = path_length * k / (count + 1);
    while (i + 1 < path.size() && walked + distance(path[i - 1], path[i]) < wanted) {
      walked += distance(path[i - 1], path[i]);
      ++i;
    }
    const double piece = distance(path[i - 1], path[i]);
    points.push_back(lerp(path[i - 1], path[i], piece > 0 ? (wanted - walked) / piece : 0));
  }
  return points;
}

std::vector<ControlPoint> control_points(const RoadGraph& graph, double step_m) {
  std::vector<ControlPoint> points;
  for (int n = 0; n < static_cast<int>(graph.nodes.size()); ++n)
    points.push_back({graph.nodes[n].at, {n, -1, 0}});
  const std::vector<EdgeShape> shapes = edge_shapes(graph);
  for (int e = 0; e < static_cast<int>(graph.edges.size()); ++e) {
    const RoadGraph::Edge& edge = graph.edges[e];
    const int count = injected_points(edge.length_m, step_m);
    const auto inside = evenly_inside(edge.path, shapes[e].path_length, count);
    for (int k = 0; k < count; ++k)
      points.push_back({inside[k], {-1, e, edge.length_m * (k + 1) / (count + 1)}});
  }
  return points;
}

double pair_cost(double length, double snapped_length) {
  if (snapped_length == kUnreachable)
    return 1;
  return std::min(1.0, std::abs(length - snapped_length) / length);
}

struct Direction {
  double score = 1;
  std::int64_t points = 0;
  std::int64_t pairs = 0;
};

// C(G -> P) for G = `from` and P = `onto`.
Direction score_onto(const Network& from, const Network& onto, const AplsOptions& options) {
  const std::vector<ControlPoint> points = control_points(from.graph(), options.step_m);
  const SegmentIndex index(onto.graph(), options.snap_m);
  std::vector<std::optional<Place>> snapped;
  snapped.reserve(points.size());
  for (const ControlPoint& point : points)
    snapped.push_back(index.snap(point.at));

  double cost = 0;
  std::int64_t pairs = 0;
  std::vector<double> in_from, in_onto;
  for (std::size_t a = 0; a < points.size(); ++a) {
    from.distances_from(points[a].place, in_from);
    if (snapped[a])
      onto.distances_from(*snapped[a], in_onto);
    for (std::size_t b = a + 1; b < points.size(); ++b) {
      const double length = from.distance(points[a].place, in_from, points[b].place);
      if (!(length > 0) || length == kUnreachable)
        continue;
      ++pairs;
      cost += pair_cost(length, snapped[a] && snapped[b]
                                    ? onto.distance(*snapped[a], in_onto, *snapped[b])
                                    : kUnreachable);
    }
  }
  return {pairs > 0 ? 1 - cost / static_cast<double>(pairs) : 1,
          static_cast<std::int64_t>(points.size()), pairs};
}

// --- Topology ---------------------------------------------------------------------------------

std::vector<geo::Point> junctions(const RoadGraph& graph) {
  std::vector<int> degree(graph.nodes.size(), 0);
  for (const RoadGraph::Edge& edge : graph.edges) {
    ++degree[edge.from];
    ++degree[edge.to];
  }
  std::vector<geo::Point> found;
  for (std::size_t n = 0; n < graph.nodes.size(); ++n)
    if (degree[n] >= 3)
      found.push_back(graph.nodes[n].at);
  return found;
}

std::int64_t match_junctions(const std::vector<geo::Point>& truth,
                             const std::vector<geo::Point>& proposal, double snap_m) {
  // Proposal junctions by cell; with cells no smaller than snap_m a match is in the 3 x 3
  // cells around a truth junction.
  const double cell = std::max(snap_m, 1.0);
  const auto cell_of = [cell](double v) { return static_cast<std::int64_t>(std::floor(v / cell)); };
  std::unordered_map<std::int64_t, std::unordered_map<std::int64_t, std::vector<int>>> grid;
  for (int p = 0; p < static_cast<int>(proposal.size()); ++p)
    grid[cell_of(proposal[p].x)][cell_of(proposal[p].y)].push_back(p);

  struct Candidate {
    double away;
    int truth, proposal;
  };
  std::vector<Candidate> candidates;
  for (int t = 0; t < static_cast<int>(truth.size()); ++t)
    for (std::int64_t col = cell_of(truth[t].x) - 1; col <= cell_of(truth[t].x) + 1; ++col)
      for (std::int64_t row = cell_of(truth[t].y) - 1; row <= cell_of(truth[t].y) + 1; ++row) {
        const auto column = grid.find(col);
        if (column == grid.end() || !column->second.count(row))
          continue;
        for (const int p : column->second.at(row))
          if (const double away = distance(truth[t], proposal[p]); away <= snap_m)
            candidates.push_back({away, t, p});
      }
  std::sort(candidates.begin(), candidates.end(), [](const Candidate& x, const Candidate& y) {
    return std::tie(x.away, x.truth, x.proposal) < std::tie(y.away, y.truth, y.proposal);
  });
  std::vector<bool> truth_used(truth.size(), false), proposal_used(proposal.size(), false);
  std::int64_t matched = 0;
  for (const Candidate& c : candidates)
    if (!truth_used[c.truth] && !proposal_used[c.proposal]) {
      truth_used[c.truth] = proposal_used[c.proposal] = true;
      ++matched;
    }
  return matched;
}

// The interval of u where a + u (b - a) lies within `reach` of segment (c, d), clipped to
// [0, 1]; empty (first > second) when there is none. The reach of a segment is convex (two
// discs and a rectangle), so the line meets it in one interval: the hull of the three.
std::pair<double, double> within_reach(geo::Point a, geo::Point b, geo::Point c, geo::Point d,
                                       double reach) {
  const geo::Point v = minus(b, a);
  const double vv = dot(v, v);
  double low = kUnreachable, high = -kUnreachable;
  const auto take = [&](double from, double to) {
    if (from <= to) {
      low = std::min(low, from);
      high = std::max(high, to);
    }
  };
  for (const geo::Point centre : {c, d}) {
    const geo::Point w = minus(a, centre);
    const double half_b = dot(w, v),
                 discriminant = half_b * half_b - vv * (dot(w, w) - reach * reach);
    if (discriminant >= 0)
      take((-half_b - std::sqrt(discriminant)) / vv, (-half_b + std::sqrt(discriminant)) / vv);
  }
  const double side = distance(c, d);
  if (side > 0) {
    const geo::Point along{(d.x - c.x) / side, (d.y - c.y) / side};
    const geo::Point across{-along.y, along.x};
    double from = -kUnreachable, to = kUnreachable;
    // Keeps the u where offset + u * rate lies in [min, max].
    const auto slab = [&](double offset, double rate, double min, double max) {
      if (rate == 0) {
        if (offset < min || offset > max)
          from = kUnreachable;
        return;
      }
      double enter = (min - offset) / rate, leave = (max - offset) / rate;
      if (enter > leave)
        std::swap(enter, leave);
      from = std::max(from, enter);
      to = std::min(to, leave);
    };
    const geo::Point w = minus(a, c);
    slab(dot(w, along), dot(v, along), 0, side);
    slab(dot(w, across), dot(v, across), -reach, reach);
    take(from, to);
  }
  return {std::max(low, 0.0), std::min(high, 1.0)};
}

// The length of `graph` (in length_m) lying within the reach of `other`'s edges.
double length_within(const RoadGraph& graph, const SegmentIndex& other, double reach) {
  const std::vector<EdgeShape> shapes = edge_shapes(graph);
  double total = 0;
  for (const Segment& segment : path_segments(graph)) {
    const double length = distance(segment.a, segment.b);
    if (length == 0)
      continue;
    std::vector<std::pair<double, double>> covered;
    for (const int s : other.near(segment.a, segment.b)) {
      const Segment& piece = other.segments()[s];
      const auto interval = within_reach(segment.a, segment.b, piece.a, piece.b, reach);
      if (interval.first < interval.second)
        covered.push_back(interval);
    }
    std::sort(covered.begin(), covered.end());
    double fraction = 0, reached = 0;
    for (const auto& [from, to] : covered) {
      fraction += std::max(0.0, to - std::max(from, reached));
      reached = std::max(reached, to);
    }
    total += fraction * length * shapes[segment.edge].to_length_m;
  }
  return total;
}

// Node numbers in range and paths of two points at least, which everything here relies on.
void check_graph(const RoadGraph& graph, const char* role) {
  const int nodes = static_cast<int>(graph.nodes.size());
  for (std::size_t e = 0; e < graph.edges.size(); ++e) {
    const RoadGraph::Edge& edge = graph.edges[e];
    if (edge.from < 0 || edge.from >= nodes || edge.to < 0 || edge.to >= nodes)
      throw Error(std::string(role) + " graph: edge " + std::to_string(e) + " joins nodes " +
                  std::to_string(edge.from) + " and " + std::to_string(edge.to) + " of " +
                  std::to_string(nodes));
    if (edge.path.size() < 2)
      throw Error(std::string(role) + " graph: edge " + std::to_string(e) + " has a path of " +
                  std::to_string(edge.path.size()) + " points");
  }
}

}  // namespace

AplsScore apls(const RoadGraph& truth, const RoadGraph& proposal, const AplsOptions& options) {
  if (!(options.step_m > 0) || !(options.snap_m >= 0) || !std::isfinite(options.snap_m))
    throw Error("apls: step_m must be above 0 and snap_m 0 or more, not " +
                std::to_string(options.step_m) + " and " + std::to_string(options.snap_m));
  check_graph(truth, "truth");
  check_graph(proposal, "proposal");
  const Network truth_network(truth), proposal_network(proposal);
  const Direction forward = score_onto(truth_network, proposal_network, options);
  const Direction backward = score_onto(proposal_network, truth_network, options);
  AplsScore score;
  score.truth_to_proposal = forward.score;
  score.proposal_to_truth = backward.score;
  if (forward.score > 0 && backward.score > 0)
    score.apls = 2 * forward.score * backward.score / (forward.score + backward.score);
  score.truth_control_points = forward.points;
  score.proposal_control_points = backward.points;
  score.truth_paths = forward.pairs;
  score.proposal_paths = backward.pairs;
  return score;
}

TopologyScore topology(const RoadGraph& truth, const RoadGraph& proposal, double snap_m) {
  if (!(snap_m >= 0) || !std::isfinite(snap_m))
    throw Error("topology: snap_m must be 0 or more, not " + std::to_string(snap_m));
  check_graph(truth, "truth");
  check_graph(proposal, "proposal");
  TopologyScore score;
  const std::vector<geo::Point> truth_junctions = junctions(truth);
  const std::vector<geo::Point> proposal_junctions = junctions(proposal);
  score.truth_junctions = static_cast<std::int64_t>(truth_junctions.size());
  score.proposal_junctions = static_cast<std::int64_t>(proposal_junctions.size());
  score.matched_junctions = match_junctions(truth_junctions, proposal_junctions, snap_m);
  const auto matched = static_cast<double>(score.matched_junctions);
  score.junction_precision = ratio(matched, static_cast<double>(score.proposal_junctions));
  score.junction_recall = ratio(matched, static_cast<double>(score.truth_junctions));

  score.truth_length_m = truth.total_length_m();
  score.proposal_length_m = proposal.total_length_m();
  score.correct_length_m = length_within(proposal, SegmentIndex(truth, snap_m), snap_m);
  score.matched_truth_length_m = length_within(truth, SegmentIndex(proposal, snap_m), snap_m);
  score.correctness = ratio(score.correct_length_m, score.proposal_length_m);
  score.completeness = ratio(score.matched_truth_length_m, score.truth_length_m);
  return score;
}

}  // namespace satunet::scoring
