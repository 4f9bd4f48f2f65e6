#pragma once
// The tiles of one split of a dataset directory, addressed 0..size()-1 across its shards,
// read as float and normalised with the manifest's band statistics.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "data/normalise.hpp"
#include "shards/manifest.hpp"
#include "shards/shard.hpp"

namespace satunet::data {

class ShardDataset {
 public:
  // Throws "<dir>: ..." when the manifest is missing or has no tiles of `split`, and names the
  // shard when one is missing or of another schema.
  ShardDataset(const std::string& dir, const std::string& split);

  std::int64_t size() const { return offsets_.back(); }
  int tile_size() const { return manifest_.tile_size; }
  int bands() const { return static_cast<int>(manifest_.bands.size()); }
  int classes() const { return static_cast<int>(manifest_.classes.size()); }
  const shards::Manifest& manifest() const { return manifest_; }
  const std::string& split() const { return split_; }

  // Tile `index` into bands*T*T normalised floats and T*T labels (255 = ignore).
  void read(std::int64_t index, float* image, std::uint8_t* labels) const;
  shards::TileWindow window(std::int64_t index) const;
  int scene(std::int64_t index) const;

 private:
  std::pair<const shards::ShardReader*, std::int64_t> locate(std::int64_t index) const;

  std::string dir_;
  std::string split_;
  shards::Manifest manifest_;
  std::vector<std::unique_ptr<shards::ShardReader>> readers_;
  std::vector<std::int64_t> offsets_{0};  // first index of each shard, then the total
  BandNormaliser normaliser_;
};

}  // namespace satunet::data
