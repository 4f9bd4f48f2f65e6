#pragma once
// Road networks as graphs, made from road masks: thin the mask to a one-pixel skeleton, trace
// the skeleton into nodes (ends and junctions) joined by polyline edges, and prune the short
// spurs that thinning leaves on wide roads. Coordinates are metres in a local plane, so lengths
// and the APLS score (apls.hpp) need no map projection here. Free of GDAL and LibTorch.
#include <cstdint>
#include <functional>
#include <vector>

#include "geo/georef.hpp"

namespace satunet::scoring {

// Zhang–Suen thinning in place: `image` is width*height bytes, nonzero = road; afterwards 1 on
// the one-pixel-wide, 8-connected skeleton, 0 elsewhere. Rows/cols outside count as 0.
// Zhang–Suen alone leaves 4-connected staircases (two pixels where a diagonal step would do);
// a last pass removes those, so every skeleton pixel inside a line has exactly two neighbours.
// As in every Zhang–Suen, a lone 2 x 2 block vanishes.
void thin(std::vector<std::uint8_t>& image, std::int64_t width, std::int64_t height);

struct PixelIndex {
  std::int64_t col = 0;
  std::int64_t row = 0;
};

struct RoadGraph {
  struct Node {
    geo::Point at;  // metres in a local plane
  };
  struct Edge {
    int from = 0;
    int to = 0;
    std::vector<geo::Point> path;  // from's point ... to's point, at least those two
    double length_m = 0;
  };
  std::vector<Node> nodes;
  std::vector<Edge> edges;

  int add_node(geo::Point at);
  // A straight edge when `path` is empty, else `path` (which should start at `from` and end at
  // `to`); its length is that of the polyline.
  int add_edge(int from, int to, std::vector<geo::Point> path = {});

  double total_length_m() const;
  // Edge ends at `node`: a loop counts twice.
  int degree(int node) const;
};

// Nodes at skeleton pixels with 1 or >= 3 neighbours (8-connectivity; adjacent junction pixels
// collapse into one node at their mean position), edges traced through the degree-2 pixels;
// a closed loop without any node gets one node. `to_metres(col, row)` maps a pixel centre
// (col + 0.5, row + 0.5 is passed) to metres in the plane; lengths are sums of the segment
// lengths there. `pixels` is the sparse skeleton (any order, no duplicates), so memory follows
// road length, not scene area. A pixel without neighbours is no road and gives no node.
RoadGraph graph_from_skeleton(const std::vector<PixelIndex>& pixels,
                              const std::function<geo::Point(double col, double row)>& to_metres);

// The nonzero pixels of a width*height mask, row by row: the input of graph_from_skeleton.
std::vector<PixelIndex> skeleton_pixels(const std::vector<std::uint8_t>& image, std::int64_t width,
                                        std::int64_t height);

// Removes dead-end edges (an end of degree 1; a short isolated piece counts) shorter than
// `min_length_m`, once, then merges the degree-2 nodes that are left so every edge runs
// junction/end to junction/end; drops isolated nodes. Degree-2 nodes are merged before too,
// so a dead end given as a chain of edges is judged by its whole length.
void prune_spurs(RoadGraph& graph, double min_length_m);

// Merges the two edges at each node of degree 2 into one, so every edge runs junction/end to
// junction/end.
void merge_chains(RoadGraph& graph);

// Removes every connected piece whose edges add up to less than `min_length_m` (fragments
// that a road map has no use for), and the nodes left without edges.
void drop_short_pieces(RoadGraph& graph, double min_length_m);

// Joins each dead end (a node of degree 1) to the nearest point of another edge at most
// `max_gap_m` away in the direction its road runs (within about 30 degrees), with a straight
// edge; the edge reached is split there when the point is inside it. A dead end may reach
// `allowance_m[node]` further (a centre line stops short of its stroke's end: about half
// the road's width on each side of a break). Two dead ends facing each other are joined
// once. Returns the edges added across gaps.
std::vector<int> close_gaps(RoadGraph& graph, double max_gap_m,
                            const std::vector<double>& allowance_m = {});

}  // namespace satunet::scoring
