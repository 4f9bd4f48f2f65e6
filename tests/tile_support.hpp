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

}  // namespace satunet::test
