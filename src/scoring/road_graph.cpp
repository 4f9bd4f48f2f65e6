#include "scoring/road_graph.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <optional>
#include <tuple>
#include <unordered_map>
#include <utility>

#include "common/error.hpp"

namespace satunet::scoring {
namespace {

double distance(geo::Point a, geo::Point b) {
  return std::hypot(b.x - a.x, b.y - a.y);
}

double polyline_length(const std::vector<geo::Point>& path) {
  double length = 0;
  for (std::size_t i = 1; i < path.size(); ++i)
    length += distance(path[i - 1], path[i]);
  return length;
}

// --- Thinning ---------------------------------------------------------------------------------

// The eight neighbours in Zhang and Suen's order P2..P9 (N, NE, E, SE, S, SW, W, NW); bit k of
// a ring mask is neighbour k. The 4-neighbours are the even bits.
constexpr std::array<int, 8> kRingCol = {0, 1, 1, 1, 0, -1, -1, -1};
constexpr std::array<int, 8> kRingRow = {-1, -1, 0, 1, 1, 1, 0, -1};
constexpr int kN = 1 << 0, kE = 1 << 2, kS = 1 << 4, kW = 1 << 6;

bool has(int mask, int bits) {
  return (mask & bits) == bits;
}

int neighbour_count(int mask) {
  int count = 0;
  for (int k = 0; k < 8; ++k)
    count += (mask >> k) & 1;
  return count;
}

// Zhang–Suen's A(P1): the 0 -> 1 steps going once round the ring.
int ring_transitions(int mask) {
  int steps = 0;
  for (int k = 0; k < 8; ++k)
    steps += !((mask >> k) & 1) && ((mask >> ((k + 1) % 8)) & 1);
  return steps;
}

bool zhang_suen_deletes(int mask, bool first_pass) {
  const int count = neighbour_count(mask);
  if (count < 2 || count > 6 || ring_transitions(mask) != 1)
    return false;
  if (first_pass)
    return !has(mask, kN | kE | kS) && !has(mask, kE | kS | kW);
  return !has(mask, kN | kE | kW) && !has(mask, kN | kS | kW);
}

// Yokoi's 8-connectivity number: 1 when removing the pixel changes no connectivity of the
// road or of the background around it.
int connectivity_number(int mask) {
  const auto off = [mask](int k) { return ((mask >> (k % 8)) & 1) ? 0 : 1; };
  int number = 0;
  for (int k = 0; k < 8; k += 2)
    number += off(k) - off(k) * off(k + 1) * off(k + 2);
  return number;
}

// A pixel that a line does not need: its neighbours stay connected without it and it is no
// end. These are the corners of the staircases Zhang–Suen leaves on diagonals.
bool redundant(int mask) {
  return neighbour_count(mask) >= 2 && connectivity_number(mask) == 1;
}

using RingTable = std::array<bool, 256>;

RingTable ring_table(bool (*rule)(int)) {
  RingTable table{};
  for (int mask = 0; mask < 256; ++mask)
    table[mask] = rule(mask);
  return table;
}

// The image inside a one-pixel frame of zeros, so that neighbours never need a bounds check.
// Bit 0 of a byte is road; bit 1 marks a pixel already in the list of candidates.
class FramedImage {
 public:
  FramedImage(const std::vector<std::uint8_t>& image, std::int64_t width, std::int64_t height)
      : width_(width), height_(height), stride_(width + 2) {
    bytes_.assign(static_cast<std::size_t>(stride_ * (height + 2)), 0);
    for (std::int64_t row = 0; row < height; ++row)
      for (std::int64_t col = 0; col < width; ++col)
        bytes_[at(col, row)] = image[static_cast<std::size_t>(row * width + col)] != 0;
    for (int k = 0; k < 8; ++k)
      offsets_[k] = kRingRow[k] * stride_ + kRingCol[k];
  }

  std::size_t at(std::int64_t col, std::int64_t row) const {
    return static_cast<std::size_t>((row + 1) * stride_ + col + 1);
  }
  bool road(std::size_t i) const { return bytes_[i] & 1; }
  void clear(std::size_t i) { bytes_[i] &= ~1; }
  std::size_t neighbour(std::size_t i, int k) const {
    return static_cast<std::size_t>(static_cast<std::int64_t>(i) + offsets_[k]);
  }
  int ring(std::size_t i) const {
    int mask = 0;
    for (int k = 0; k < 8; ++k)
      mask |= road(neighbour(i, k)) << k;
    return mask;
  }
  // Adds road pixel `i` to `list` unless it is there already.
  void enlist(std::size_t i, std::vector<std::size_t>& list) {
    if (road(i) && !(bytes_[i] & 2)) {
      bytes_[i] |= 2;
      list.push_back(i);
    }
  }

  void copy_to(std::vector<std::uint8_t>& image) const {
    for (std::int64_t row = 0; row < height_; ++row)
      for (std::int64_t col = 0; col < width_; ++col)
        image[static_cast<std::size_t>(row * width_ + col)] = road(at(col, row));
  }

 private:
  std::int64_t width_, height_, stride_;
  std::array<std::int64_t, 8> offsets_{};
  std::vector<std::uint8_t> bytes_;
};

// Only border pixels can be deleted (Zhang–Suen needs two background neighbours), so each
// pass looks at the border alone, and a pixel joins it when a neighbour goes: the work follows
// the road area, not the image area times the road width.
std::vector<std::size_t> border_pixels(FramedImage& image, std::int64_t width,
                                       std::int64_t height) {
  std::vector<std::size_t> border;
  for (std::int64_t row = 0; row < height; ++row)
    for (std::int64_t col = 0; col < width; ++col) {
      const std::size_t i = image.at(col, row);
      if (image.road(i) && image.ring(i) != 0xff)
        image.enlist(i, border);
    }
  return border;
}

bool zhang_suen_pass(FramedImage& image, std::vector<std::size_t>& border,
                     const RingTable& deletes) {
  std::vector<std::size_t> doomed;
  for (const std::size_t i : border)
    if (deletes[image.ring(i)])
      doomed.push_back(i);
  for (const std::size_t i : doomed)
    image.clear(i);
  for (const std::size_t i : doomed)
    for (int k = 0; k < 8; ++k)
      image.enlist(image.neighbour(i, k), border);
  border.erase(std::remove_if(border.begin(), border.end(),
                              [&image](std::size_t i) { return !image.road(i); }),
               border.end());
  return !doomed.empty();
}

std::vector<std::size_t> road_pixels(const FramedImage& image, std::int64_t width,
                                     std::int64_t height) {
  std::vector<std::size_t> pixels;
  for (std::int64_t row = 0; row < height; ++row)
    for (std::int64_t col = 0; col < width; ++col)
      if (image.road(image.at(col, row)))
        pixels.push_back(image.at(col, row));
  return pixels;
}

// Unlike Zhang–Suen's passes this one is sequential: each removal is judged on the image
// as it is after the previous ones, which is what keeps the line connected.
bool remove_redundant(FramedImage& image, const std::vector<std::size_t>& skeleton,
                      const RingTable& is_redundant) {
  bool removed = false;
  for (const std::size_t i : skeleton)
    if (image.road(i) && is_redundant[image.ring(i)]) {
      image.clear(i);
      removed = true;
    }
  return removed;
}

// --- Tracing ----------------------------------------------------------------------------------

// The skeleton's pixels, sorted so that node and edge numbers do not depend on the input
// order, with their 8-neighbours.
class Skeleton {
 public:
  explicit Skeleton(std::vector<PixelIndex> pixels) : pixels_(std::move(pixels)) {
    std::sort(pixels_.begin(), pixels_.end(), [](const PixelIndex& a, const PixelIndex& b) {
      return a.row != b.row ? a.row < b.row : a.col < b.col;
    });
    std::unordered_map<std::uint64_t, int> index;
    index.reserve(pixels_.size());
    for (std::size_t i = 0; i < pixels_.size(); ++i)
      if (!index.emplace(key(pixels_[i].col, pixels_[i].row), static_cast<int>(i)).second)
        throw Error("graph_from_skeleton: pixel (" + std::to_string(pixels_[i].col) + ", " +
                    std::to_string(pixels_[i].row) + ") is listed twice");
    neighbours_.resize(pixels_.size());
    for (std::size_t i = 0; i < pixels_.size(); ++i)
      for (int k = 0; k < 8; ++k) {
        const auto found =
            index.find(key(pixels_[i].col + kRingCol[k], pixels_[i].row + kRingRow[k]));
        if (found != index.end())
          neighbours_[i].push_back(found->second);
      }
  }

  int size() const { return static_cast<int>(pixels_.size()); }
  const PixelIndex& pixel(int i) const { return pixels_[i]; }
  const std::vector<int>& neighbours(int i) const { return neighbours_[i]; }
  int degree(int i) const { return static_cast<int>(neighbours_[i].size()); }

 private:
  static std::uint64_t key(std::int64_t col, std::int64_t row) {
    return (static_cast<std::uint64_t>(col) << 32) ^ static_cast<std::uint32_t>(row);
  }
  std::vector<PixelIndex> pixels_;
  std::vector<std::vector<int>> neighbours_;
};

class Tracer {
 public:
  Tracer(const Skeleton& skeleton,
         const std::function<geo::Point(double col, double row)>& to_metres)
      : skeleton_(skeleton),
        to_metres_(to_metres),
        node_of_(skeleton.size(), -1),
        traced_(skeleton.size(), false) {}

  RoadGraph trace() {
    make_nodes();
    for (int node = 0; node < static_cast<int>(members_.size()); ++node)
      trace_edges_from(node);
    trace_loops();
    return std::move(graph_);
  }

 private:
  bool is_junction(int pixel) const { return skeleton_.degree(pixel) >= 3; }
  bool is_end(int pixel) const { return skeleton_.degree(pixel) == 1; }
  geo::Point centre(int pixel) const {
    const PixelIndex& p = skeleton_.pixel(pixel);
    return to_metres_(static_cast<double>(p.col) + 0.5, static_cast<double>(p.row) + 0.5);
  }

  void make_nodes() {
    for (int pixel = 0; pixel < skeleton_.size(); ++pixel) {
      if (node_of_[pixel] >= 0 || !(is_junction(pixel) || is_end(pixel)))
        continue;
      std::vector<int> cluster =
          is_junction(pixel) ? junction_cluster(pixel) : std::vector<int>{pixel};
      double col = 0, row = 0;
      for (const int member : cluster) {
        node_of_[member] = static_cast<int>(members_.size());
        col += static_cast<double>(skeleton_.pixel(member).col);
        row += static_cast<double>(skeleton_.pixel(member).row);
      }
      const auto n = static_cast<double>(cluster.size());
      graph_.add_node(to_metres_(col / n + 0.5, row / n + 0.5));
      members_.push_back(std::move(cluster));
    }
  }

  // The junction pixels 8-connected to `seed` through junction pixels: one crossing.
  std::vector<int> junction_cluster(int seed) {
    std::vector<int> cluster{seed};
    node_of_[seed] = static_cast<int>(members_.size());
    for (std::size_t i = 0; i < cluster.size(); ++i)
      for (const int next : skeleton_.neighbours(cluster[i]))
        if (node_of_[next] < 0 && is_junction(next)) {
          node_of_[next] = node_of_[seed];
          cluster.push_back(next);
        }
    return cluster;
  }

  void trace_edges_from(int node) {
    for (const int pixel : members_[node])
      for (const int next : skeleton_.neighbours(pixel)) {
        const int other = node_of_[next];
        if (other == node)
          continue;
        // Two node pixels side by side: seen from both nodes, so added from the lower.
        if (other >= 0) {
          if (node < other)
            graph_.add_edge(node, other);
        } else if (!traced_[next]) {
          trace_edge(node, pixel, next);
        }
      }
  }

  // Walks from `node` through `first` and the degree-2 pixels after it to the next node.
  void trace_edge(int node, int pixel, int first) {
    std::vector<geo::Point> path{graph_.nodes[node].at};
    int previous = pixel, current = first;
    while (node_of_[current] < 0) {
      traced_[current] = true;
      path.push_back(centre(current));
      const auto& two = skeleton_.neighbours(current);
      const int next = two[0] == previous ? two[1] : two[0];
      previous = std::exchange(current, next);
    }
    const int end = node_of_[current];
    // A pixel touching two pixels of one crossing belongs to it rather than a loop road.
    if (end == node && path.size() == 2)
      return;
    path.push_back(graph_.nodes[end].at);
    graph_.add_edge(node, end, std::move(path));
  }

  // What is left untraced are rings of degree-2 pixels: each gets a node at its first pixel.
  void trace_loops() {
    for (int start = 0; start < skeleton_.size(); ++start) {
      if (traced_[start] || skeleton_.degree(start) != 2)
        continue;
      traced_[start] = true;
      const int node = graph_.add_node(centre(start));
      std::vector<geo::Point> path{graph_.nodes[node].at};
      int previous = start, current = skeleton_.neighbours(start)[0];
      while (current != start) {
        traced_[current] = true;
        path.push_back(centre(current));
        const auto& two = skeleton_.neighbours(current);
        const int next = two[0] == previous ? two[1] : two[0];
        previous = std::exchange(current, next);
      }
      path.push_back(graph_.nodes[node].at);
      graph_.add_edge(node, node, std::move(path));
    }
  }

  const Skeleton& skeleton_;
  const std::function<geo::Point(double, double)>& to_metres_;
  std::vector<int> node_of_;               // per pixel, -1 for degree-2 pixels
  std::vector<bool> traced_;               // degree-2 pixels already on an edge
  std::vector<std::vector<int>> members_;  // per node, its pixels
  RoadGraph graph_;
};

// --- Pruning ----------------------------------------------------------------------------------

// The graph with, per node, the edges ending there (a loop twice), kept in step with edits;
// removed edges stay in place, marked, until compact().
class GraphEditor {
 public:
  explicit GraphEditor(RoadGraph& graph)
      : graph_(graph), ends_(graph.nodes.size()), removed_(graph.edges.size(), false) {
    for (int e = 0; e < static_cast<int>(graph.edges.size()); ++e) {
      ends_[graph.edges[e].from].push_back(e);
      ends_[graph.edges[e].to].push_back(e);
    }
  }

  int degree(int node) const { return static_cast<int>(ends_[node].size()); }

  void merge_degree_two() {
    for (int node = 0; node < static_cast<int>(ends_.size()); ++node)
      if (degree(node) == 2 && ends_[node][0] != ends_[node][1])
        merge_at(node);
  }

  // Every edge with an end of degree 1 shorter than `min_length_m`, by the degrees before any
  // removal: pruning again would eat a tree of short roads from its leaves inwards, so a spur
  // that only appears once another is gone stays.
  void remove_spurs(double min_length_m) {
    std::vector<int> spurs;
    for (int e = 0; e < static_cast<int>(graph_.edges.size()); ++e) {
      const RoadGraph::Edge& edge = graph_.edges[e];
      if (!removed_[e] && edge.length_m < min_length_m &&
          (degree(edge.from) == 1 || degree(edge.to) == 1))
        spurs.push_back(e);
    }
    for (const int e : spurs)
      remove(e);
  }

  // Every connected piece whose edges add up to less than `min_length_m`.
  void remove_short_pieces(double min_length_m) {
    std::vector<int> piece(graph_.nodes.size(), -1);
    std::vector<double> length;
    for (int start = 0; start < static_cast<int>(graph_.nodes.size()); ++start) {
      if (piece[start] >= 0 || ends_[start].empty())
        continue;
      const int id = static_cast<int>(length.size());
      length.push_back(0);
      std::vector<int> pending{start};
      piece[start] = id;
      while (!pending.empty()) {
        const int node = pending.back();
        pending.pop_back();
        for (const int e : ends_[node]) {
          const RoadGraph::Edge& edge = graph_.edges[e];
          const int other = edge.from == node ? edge.to : edge.from;
          if (other != node || edge.from == edge.to)
            length[id] += edge.length_m / 2;  // each edge is met from both of its ends
          if (piece[other] < 0) {
            piece[other] = id;
            pending.push_back(other);
          }
        }
      }
    }
    for (int e = 0; e < static_cast<int>(graph_.edges.size()); ++e)
      if (!removed_[e] && length[piece[graph_.edges[e].from]] < min_length_m)
        remove(e);
  }

  // Drops removed edges and nodes without edges, renumbering the rest in order.
  void compact() {
    std::vector<int> new_id(graph_.nodes.size(), -1);
    std::vector<RoadGraph::Node> nodes;
    for (std::size_t n = 0; n < graph_.nodes.size(); ++n)
      if (!ends_[n].empty()) {
        new_id[n] = static_cast<int>(nodes.size());
        nodes.push_back(graph_.nodes[n]);
      }
    std::vector<RoadGraph::Edge> edges;
    for (std::size_t e = 0; e < graph_.edges.size(); ++e)
      if (!removed_[e]) {
        RoadGraph::Edge edge = std::move(graph_.edges[e]);
        edge.from = new_id[edge.from];
        edge.to = new_id[edge.to];
        edges.push_back(std::move(edge));
      }
    graph_.nodes = std::move(nodes);
    graph_.edges = std::move(edges);
  }

 private:
  static void reverse(RoadGraph::Edge& edge) {
    std::swap(edge.from, edge.to);
    std::reverse(edge.path.begin(), edge.path.end());
  }

  // Joins the two edges at `node` into one, kept in the first one's place.
  void merge_at(int node) {
    const int first = ends_[node][0], second = ends_[node][1];
    RoadGraph::Edge& into = graph_.edges[first];
    RoadGraph::Edge& from = graph_.edges[second];
    if (into.to != node)
      reverse(into);
    if (from.from != node)
      reverse(from);
    into.path.insert(into.path.end(), from.path.begin() + 1, from.path.end());
    into.length_m += from.length_m;
    into.to = from.to;
    std::replace(ends_[into.to].begin(), ends_[into.to].end(), second, first);
    ends_[node].clear();
    removed_[second] = true;
  }

  void remove(int e) {
    for (const int node : {graph_.edges[e].from, graph_.edges[e].to}) {
      auto& list = ends_[node];
      const auto found = std::find(list.begin(), list.end(), e);
      if (found != list.end())
        list.erase(found);
    }
    removed_[e] = true;
  }

  RoadGraph& graph_;
  std::vector<std::vector<int>> ends_;
  std::vector<bool> removed_;
};

}  // namespace

void thin(std::vector<std::uint8_t>& image, std::int64_t width, std::int64_t height) {
  if (width < 0 || height < 0 || image.size() != static_cast<std::size_t>(width * height))
    throw Error("thin: " + std::to_string(image.size()) + " bytes for a " + std::to_string(width) +
                " x " + std::to_string(height) + " image");
  static const RingTable first_pass = ring_table([](int m) { return zhang_suen_deletes(m, true); });
  static const RingTable second_pass =
      ring_table([](int m) { return zhang_suen_deletes(m, false); });
  static const RingTable is_redundant = ring_table(redundant);

  FramedImage framed(image, width, height);
  std::vector<std::size_t> border = border_pixels(framed, width, height);
  bool changed = true;
  while (changed) {
    changed = zhang_suen_pass(framed, border, first_pass);
    changed = zhang_suen_pass(framed, border, second_pass) || changed;
  }
  const std::vector<std::size_t> skeleton = road_pixels(framed, width, height);
  while (remove_redundant(framed, skeleton, is_redundant)) {
  }
  framed.copy_to(image);
}

int RoadGraph::add_node(geo::Point at) {
  nodes.push_back({at});
  return static_cast<int>(nodes.size()) - 1;
}

int RoadGraph::add_edge(int from, int to, std::vector<geo::Point> path) {
  const int count = static_cast<int>(nodes.size());
  if (from < 0 || from >= count || to < 0 || to >= count)
    throw Error("RoadGraph::add_edge: node " + std::to_string(from) + " or " + std::to_string(to) +
                " is not among the " + std::to_string(count) + " nodes");
  if (path.empty())
    path = {nodes[from].at, nodes[to].at};
  if (path.size() < 2)
    throw Error("RoadGraph::add_edge: a path needs two points at least");
  const double length = polyline_length(path);
  edges.push_back({from, to, std::move(path), length});
  return static_cast<int>(edges.size()) - 1;
}

double RoadGraph::total_length_m() const {
  double total = 0;
  for (const Edge& edge : edges)
    total += edge.length_m;
  return total;
}

int RoadGraph::degree(int node) const {
  int ends = 0;
  for (const Edge& edge : edges)
    ends += (edge.from == node) + (edge.to == node);
  return ends;
}

RoadGraph graph_from_skeleton(const std::vector<PixelIndex>& pixels,
                              const std::function<geo::Point(double col, double row)>& to_metres) {
  const Skeleton skeleton(pixels);
  return Tracer(skeleton, to_metres).trace();
}

std::vector<PixelIndex> skeleton_pixels(const std::vector<std::uint8_t>& image, std::int64_t width,
                                        std::int64_t height) {
  if (width < 0 || height < 0 || image.size() != static_cast<std::size_t>(width * height))
    throw Error("skeleton_pixels: " + std::to_string(image.size()) + " bytes for a " +
                std::to_string(width) + " x " + std::to_string(height) + " image");
  std::vector<PixelIndex> pixels;
  for (std::int64_t row = 0; row < height; ++row)
    for (std::int64_t col = 0; col < width; ++col)
      if (image[static_cast<std::size_t>(row * width + col)])
        pixels.push_back({col, row});
  return pixels;
}

void prune_spurs(RoadGraph& graph, double min_length_m) {
  GraphEditor editor(graph);
  editor.merge_degree_two();
  editor.remove_spurs(min_length_m);
  editor.merge_degree_two();
  editor.compact();
}

void merge_chains(RoadGraph& graph) {
  GraphEditor editor(graph);
  editor.merge_degree_two();
  editor.compact();
}

void drop_short_pieces(RoadGraph& graph, double min_length_m) {
  GraphEditor editor(graph);
  editor.remove_short_pieces(min_length_m);
  editor.compact();
}

namespace {

// Where a gap from a dead end lands: a point on segment `segment` (path[segment] to
// path[segment + 1]) of edge `edge`, `along` of the way.
struct PathPoint {
  int edge = 0;
  std::size_t segment = 0;
  double along = 0;
  geo::Point at;
};

// The direction a dead end points to: from a point about `reach` metres back along its edge
// to the end (a unit vector; zero for an edge without length).
geo::Point dead_end_direction(const RoadGraph::Edge& edge, int node, double reach) {
  std::vector<geo::Point> path = edge.path;
  if (edge.from == node)
    std::reverse(path.begin(), path.end());  // ends at the dead end
  const geo::Point end = path.back();
  geo::Point back = path.front();
  for (std::size_t i = path.size(); i-- > 0;)
    if (distance(path[i], end) >= reach) {
      back = path[i];
      break;
    }
  const double length = distance(back, end);
  if (length == 0)
    return {0, 0};
  return {(end.x - back.x) / length, (end.y - back.y) / length};
}

// The segments of every edge's path in square cells of `cell` metres (each in every cell its
// bounding box touches), to find those near a point.
class SegmentIndex {
 public:
  SegmentIndex(const RoadGraph& graph, double cell) : graph_(graph), cell_(cell) {
    for (int e = 0; e < static_cast<int>(graph.edges.size()); ++e) {
      const std::vector<geo::Point>& path = graph.edges[e].path;
      for (std::size_t i = 0; i + 1 < path.size(); ++i) {
        const auto [col0, row0] =
            cell_of({std::min(path[i].x, path[i + 1].x), std::min(path[i].y, path[i + 1].y)});
        const auto [col1, row1] =
            cell_of({std::max(path[i].x, path[i + 1].x), std::max(path[i].y, path[i + 1].y)});
        for (std::int64_t row = row0; row <= row1; ++row)
          for (std::int64_t col = col0; col <= col1; ++col)
            cells_[pack(col, row)].push_back({e, i});
      }
    }
  }

  // The nearest point of each segment near `at` (within a cell of it).
  template <typename Visit>
  void near(geo::Point at, Visit visit) const {
    const auto [col, row] = cell_of(at);
    for (std::int64_t dy = -1; dy <= 1; ++dy)
      for (std::int64_t dx = -1; dx <= 1; ++dx) {
        const auto found = cells_.find(pack(col + dx, row + dy));
        if (found == cells_.end())
          continue;
        for (const auto& [edge, segment] : found->second)
          visit(nearest_on(edge, segment, at));
      }
  }

 private:
  PathPoint nearest_on(int edge, std::size_t segment, geo::Point at) const {
    const geo::Point a = graph_.edges[edge].path[segment];
    const geo::Point b = graph_.edges[edge].path[segment + 1];
    const double dx = b.x - a.x, dy = b.y - a.y;
    const double squared = dx * dx + dy * dy;
    const double along =
        squared > 0 ? std::clamp(((at.x - a.x) * dx + (at.y - a.y) * dy) / squared, 0.0, 1.0) : 0.0;
    return {edge, segment, along, {a.x + along * dx, a.y + along * dy}};
  }
  std::pair<std::int64_t, std::int64_t> cell_of(geo::Point at) const {
    return {static_cast<std::int64_t>(std::floor(at.x / cell_)),
            static_cast<std::int64_t>(std::floor(at.y / cell_))};
  }
  static std::int64_t pack(std::int64_t col, std::int64_t row) {
    return (row << 32) ^ (col & 0xffffffff);
  }

  const RoadGraph& graph_;
  double cell_;
  std::unordered_map<std::int64_t, std::vector<std::pair<int, std::size_t>>> cells_;
};

// A gap found from a dead end to a point of another edge, `length` metres long.
struct Gap {
  int from_node = 0;
  PathPoint to;
  double length = 0;
};

// The node at a path point: an end of its edge, or a new node that splits the edge there (the
// second part becomes a new edge; the edge keeps its first part).
int node_at(RoadGraph& graph, const PathPoint& point) {
  RoadGraph::Edge& edge = graph.edges[static_cast<std::size_t>(point.edge)];
  const std::size_t vertex = point.along == 0 ? point.segment : point.segment + 1;
  const geo::Point next = edge.path[vertex];
  const bool inside = point.along > 0 && point.along < 1;
  if (inside && (point.at.x != next.x || point.at.y != next.y))  // not split there already
    edge.path.insert(edge.path.begin() + static_cast<std::ptrdiff_t>(vertex), point.at);
  if (vertex == 0)
    return edge.from;
  if (vertex == edge.path.size() - 1)
    return edge.to;
  const int middle = graph.add_node(edge.path[vertex]);
  std::vector<geo::Point> second(edge.path.begin() + static_cast<std::ptrdiff_t>(vertex),
                                 edge.path.end());
  const int to = edge.to;
  edge.path.resize(vertex + 1);
  edge.length_m = polyline_length(edge.path);
  edge.to = middle;
  graph.add_edge(middle, to, std::move(second));  // may move the edges: `edge` not used after
  return middle;
}

}  // namespace

std::vector<int> close_gaps(RoadGraph& graph, double max_gap_m,
                            const std::vector<double>& allowance_m) {
  if (max_gap_m <= 0)
    return {};
  // The cosine of the widest angle between a dead end's direction and its gap.
  constexpr double kMinAlignment = 0.85;  // about 32 degrees
  std::vector<int> degree(graph.nodes.size(), 0);
  for (const RoadGraph::Edge& edge : graph.edges) {
    ++degree[static_cast<std::size_t>(edge.from)];
    ++degree[static_cast<std::size_t>(edge.to)];
  }
  std::vector<int> dead_end_edge(graph.nodes.size(), -1);
  double longest = max_gap_m;
  for (int e = 0; e < static_cast<int>(graph.edges.size()); ++e)
    for (const int node : {graph.edges[e].from, graph.edges[e].to})
      if (degree[static_cast<std::size_t>(node)] == 1) {
        dead_end_edge[static_cast<std::size_t>(node)] = e;
        if (static_cast<std::size_t>(node) < allowance_m.size())
          longest = std::max(longest, max_gap_m + allowance_m[static_cast<std::size_t>(node)]);
      }
  const SegmentIndex index(graph, longest);
  std::vector<Gap> gaps;
  for (int node = 0; node < static_cast<int>(graph.nodes.size()); ++node) {
    const int own = dead_end_edge[static_cast<std::size_t>(node)];
    if (own < 0)
      continue;
    const double reach = max_gap_m + (static_cast<std::size_t>(node) < allowance_m.size()
                                          ? allowance_m[static_cast<std::size_t>(node)]
                                          : 0.0);
    const geo::Point at = graph.nodes[static_cast<std::size_t>(node)].at;
    const geo::Point direction = dead_end_direction(graph.edges[own], node, max_gap_m);
    std::optional<Gap> best;
    index.near(at, [&](const PathPoint& point) {
      if (point.edge == own)
        return;  // its own road: a gap to it would be a loop back
      const double length = distance(at, point.at);
      if (length == 0 || length > reach || (best && length >= best->length))
        return;
      const double alignment =
          ((point.at.x - at.x) * direction.x + (point.at.y - at.y) * direction.y) / length;
      if (alignment >= kMinAlignment)
        best = Gap{node, point, length};
    });
    if (best)
      gaps.push_back(*best);
  }
  // An edge reached inside is split there; splitting at the furthest points first keeps the
  // places of the nearer ones valid, as the edge keeps its first part.
  std::sort(gaps.begin(), gaps.end(), [](const Gap& a, const Gap& b) {
    if (a.to.edge != b.to.edge)
      return a.to.edge < b.to.edge;
    return std::tie(a.to.segment, a.to.along) > std::tie(b.to.segment, b.to.along);
  });
  // Two dead ends facing each other find each other: one gap is enough.
  std::vector<bool> joined(graph.nodes.size(), false);
  std::vector<int> closed;
  for (const Gap& gap : gaps) {
    const int to = node_at(graph, gap.to);
    const bool was_dead_end =
        to < static_cast<int>(joined.size()) && dead_end_edge[static_cast<std::size_t>(to)] >= 0;
    if (was_dead_end && joined[static_cast<std::size_t>(to)])
      continue;
    joined[static_cast<std::size_t>(gap.from_node)] = true;
    closed.push_back(graph.add_edge(gap.from_node, to));
  }
  return closed;
}

}  // namespace satunet::scoring
