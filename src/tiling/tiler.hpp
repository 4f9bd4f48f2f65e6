#pragma once
// `satunet tile`: scenes and labels -> a dataset directory of HDF5 shards + manifest.json.
// Tile rows are spread over the ranks in contiguous runs; each rank writes its own shards and
// rank 0 merges counts and statistics into the manifest, written last.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "dist/communicator.hpp"
#include "shards/manifest.hpp"
#include "tiling/scene_list.hpp"

namespace satunet::tiling {

struct TileOptions {
  std::vector<SceneInput> scenes;
  std::vector<std::string> classes{"background", "building", "road"};
  std::string class_field;                       // one vector file, class from this attribute
  std::map<std::string, std::string> class_map;  // attribute value -> class name
  std::map<std::string, double> line_width_m;    // class name -> line width in metres
  std::string width_field;                       // per-feature line width in metres
  bool all_touched = false;
  int tile = 256;
  int overlap = 32;
  std::vector<int> bands;  // 1-based; empty: every band but alpha
  double max_nodata = 0.5;
  double keep_empty = 1.0;
  double val_fraction = 0.1;
  int split_block = 8;  // tiles per side of a split block
  std::uint64_t seed = 1;
  int shard_tiles = 1000;
  int compress = 0;
  int threads = 0;  // per rank, for decoding; 0: cores of the node / ranks on the node
  bool overwrite = false;
  bool allow_ungeoreferenced = false;
  std::string out_dir;
  std::string command_line;
};

// Checks option values that need no file (UsageError).
void validate(const TileOptions& options);

// Collective over `comm`: every rank calls it. Returns the manifest (complete on rank 0).
shards::Manifest tile_dataset(const TileOptions& options, dist::Communicator& comm);

// "manifest + shards" summary for `satunet info DATASET`.
std::string describe_dataset(const shards::Manifest& manifest, const std::string& dir);

}  // namespace satunet::tiling
