#pragma once
// Reading a whole dataset back, for tests that compare it with its sources.
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "shards/manifest.hpp"
#include "shards/shard.hpp"

namespace satunet::test {

struct StoredTile {
  std::string split;
  std::vector<double> image;  // [band][T][T]
  std::vector<std::uint8_t> labels;
  shards::TileWindow window;
};
using TileKey = std::tuple<int, std::int64_t, std::int64_t>;  // scene, x_off, y_off

std::map<TileKey, StoredTile> read_tiles(const std::string& dataset_dir);

// A generated scene (seed 3) in DIR/scene, cut into 64 px tiles without overlap, buildings
// and roads from its GeoJSON, in DIR/dataset; returns DIR/dataset. One rank makes it.
std::string make_synthetic_dataset(const std::string& dir, std::int64_t size, double val_fraction,
                                   int split_block);

}  // namespace satunet::test
