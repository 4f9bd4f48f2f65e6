#pragma once
// The options of `satunet tile`, declared once (see common/options.hpp).
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/options.hpp"
#include "geo/labels.hpp"
#include "shards/compression.hpp"
#include "tiling/scene_list.hpp"

namespace satunet::tiling {

struct TileOptions {
  // The scenes: each --image with the --labels or --mask given, or the rows of a --scenes CSV.
  std::vector<std::string> images;
  std::string scene_list;
  std::vector<LabelFile> labels;
  std::string mask;
  std::vector<std::string> classes{"background", "building", "road"};
  std::string class_field;                       // one vector file, class from this attribute
  std::map<std::string, std::string> class_map;  // attribute value -> class name
  geo::LineWidthOptions line_widths;
  bool all_touched = false;
  int tile = 256;
  int overlap = 32;
  std::vector<std::string> bands;  // 1-based numbers or band names; empty: every band but alpha
  double max_nodata = 0.5;
  double keep_empty = 1.0;
  double val_fraction = 0.1;
  int split_block = 8;  // tiles per side of a split block
  std::uint64_t seed = 1;
  int shard_tiles = 1000;
  shards::Compression compress;
  int threads = 0;  // per rank, for decoding; 0: cores of the node / ranks on the node
  bool overwrite = false;
  bool allow_ungeoreferenced = false;
  std::string out_dir;
  std::string command_line;  // recorded in the manifest
};

const options::Table<TileOptions>& tile_option_table();

// Checks option values that need no file (UsageError).
void validate(const TileOptions& options);

// The scenes and their labels: from --scenes (read now) or from --image and its labels.
std::vector<SceneInput> scene_inputs(const TileOptions& options);

}  // namespace satunet::tiling
