#pragma once
// Scores of a proposed road graph against a true one: SpaceNet's APLS (Average Path Length
// Similarity, Van Etten et al. 2018; reference code CosmiQ/apls, apls/apls.py) and simpler
// topology scores (junctions matched, length within reach of the other graph).
//
// APLS as implemented here, for one direction G -> P (truth onto proposal, and then the other
// way round with the roles swapped):
//  1. Control points of G: its nodes, plus points injected along each edge as the reference's
//     create_graph_midpoints does: none on an edge shorter than 0.75 step_m, its midpoint on one
//     up to step_m, else ceil(L / step_m) - 1 points evenly spaced (spacing <= step_m).
//  2. Each control point snaps to the nearest point on P's edges (P as given, without its own
//     control points) if that lies within snap_m; otherwise it is missing.
//  3. For every unordered pair (a, b) of control points joined by a path in G with
//     L_G(a, b) > 0: cost = min(1, |L_G(a, b) - L_P(a', b')| / L_G(a, b)), where a', b' are the
//     snapped points and L are shortest path lengths along the edges (Dijkstra by length_m);
//     cost 1 when a or b is missing or P has no path between a' and b'.
//  4. C(G -> P) = 1 - mean cost. APLS = harmonic mean of C(G -> P) and C(P -> G), 0 if either
//     is 0.
// Where this departs from the reference:
//  - Points are injected on every edge (the reference's CLI default, is_curved_eps = -1) and
//    never sampled: the reference gives up midpoints and scores a random sample of max_nodes
//    nodes once the truth has 500 nodes or more; this scores every pair, whatever the size.
//  - Pairs count once (the reference counts (a, b) and (b, a); costs are symmetric, so the
//    mean is the same), and only pairs with L_G = 0 are skipped (reference: shorter than
//    min_path_length, 0.001 m on its command line).
//  - P's edges are not split at snapped points (the lengths to a point on an edge are the same
//    either way). Several points may snap to the same place and each keeps it; the reference
//    renames an existing node that a point snaps onto, so a later point snapping onto the same
//    node takes it from the earlier one, which then counts as missing.
//  - A direction without any pair scores 1 (nothing to get wrong): so an empty truth and an
//    empty proposal score 1 and either one alone empty scores 0 (the other direction's points
//    all missing). The reference returns 0 whenever either graph is empty.
// Edge lengths are length_m; a point's place along an edge is measured along its path and
// scaled to length_m (the two agree for graphs from road_graph.hpp).
#include <cstdint>

#include "scoring/road_graph.hpp"

namespace satunet::scoring {

// SpaceNet's defaults (apls.py: linestring_delta = 50, max_snap_dist = 4).
struct AplsOptions {
  double step_m = 50;  // control points along edges at most this far apart
  double snap_m = 4;   // control points further than this from the other graph are missing
};

struct AplsScore {
  double apls = 0;               // harmonic mean of the two directions
  double truth_to_proposal = 0;  // C(G -> P)
  double proposal_to_truth = 0;  // C(P -> G)
  std::int64_t truth_control_points = 0, proposal_control_points = 0;
  std::int64_t truth_paths = 0, proposal_paths = 0;  // pairs scored in each direction
};

AplsScore apls(const RoadGraph& truth, const RoadGraph& proposal, const AplsOptions& options);

// Ratios with a zero denominator are 1: nothing there to get wrong.
struct TopologyScore {
  // Degree >= 3, matched one to one within snap_m, nearest pairs first.
  std::int64_t truth_junctions = 0, proposal_junctions = 0, matched_junctions = 0;
  double junction_precision = 0, junction_recall = 0;
  double truth_length_m = 0, proposal_length_m = 0;
  double correct_length_m = 0;        // proposal length lying within snap_m of the truth graph
  double matched_truth_length_m = 0;  // truth length lying within snap_m of the proposal
  double correctness = 0, completeness = 0;  // correct/proposal, matched_truth/truth
};

TopologyScore topology(const RoadGraph& truth, const RoadGraph& proposal, double snap_m);

}  // namespace satunet::scoring
