#pragma once
// Road masks made into road maps. A segmentation model draws roads as strokes with ragged
// edges, whiskers, stray fragments and small breaks (under a tree, a shadow); a mapping team
// needs connected centre lines. The road class of a finished class map is thinned to its
// centre lines, traced into a graph and cleaned as road maps are — spurs pruned, short
// fragments dropped, small gaps closed along the road's own direction — then drawn again
// along the cleaned graph, each road as wide as the model drew it (the median over its
// centre line). Before polygons and road graphs are made from the class map. The cleanup
// needs the class map whole, and works on copies of it: about 4 bytes per pixel.
#include <cstdint>
#include <string>
#include <vector>

#include "geo/raster.hpp"
#include "scoring/road_graph.hpp"
#include "stitch/stitcher.hpp"

namespace satunet::stitch {

struct RoadCleanupResult {
  int gaps_closed = 0;
  std::int64_t pixels_removed = 0;  // road before, the first class (background) now
  std::int64_t pixels_added = 0;    // road now (gaps, smoothed edges)
  scoring::RoadGraph graph;         // in metres of the raster's local plane
};

// Cleans class `road` of `classes` (width x height ids, row by row; kIgnoreLabel is nodata and
// stays so) in place. `raster` gives the grid (width, height, transform, CRS): lengths are
// metres on the ground in any CRS.
RoadCleanupResult clean_roads(std::vector<std::uint8_t>& classes, std::uint8_t road,
                              const geo::RasterInfo& raster, const RoadCleanupOptions& options);

// The cleaned graph's centre lines in the raster's CRS (fields length_m, from_node, to_node),
// written atomically.
void write_road_centre_lines(const std::string& path, const scoring::RoadGraph& graph,
                             const geo::RasterInfo& raster);

}  // namespace satunet::stitch
