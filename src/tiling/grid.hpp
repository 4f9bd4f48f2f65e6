#pragma once
// Where tiles go: the tile grid over a scene and the seeded spatial train/val split. Pure
// functions of their inputs, so every rank agrees without talking.
#include <cstdint>
#include <string>
#include <vector>

#include "geo/georef.hpp"

namespace satunet::tiling {

// Offsets 0, stride, 2*stride, ... until the tiles cover [0, extent); the last tile may reach
// past the edge (it is padded).
std::vector<std::int64_t> tile_offsets(std::int64_t extent, int tile, int stride);

enum class Split { train, val, guard };
std::string split_name(Split split);

// Blocks of block x block tiles are train or val; a fixed, seeded fraction of all blocks (of
// all scenes) is val. A train tile that overlaps a val tile becomes a guard tile and is
// dropped, so no pixel is in both splits: within a scene by the tile grid, across scenes that
// cover the same ground (overlapping footprints, one scene listed twice) by the tiles'
// footprints.
class SplitPlan {
 public:
  struct SceneGrid {
    std::int64_t columns = 0;  // tiles across
    std::int64_t rows = 0;     // tiles down
    // The ground of each tile (row-major), in one CRS for every scene; empty for a scene
    // without georeferencing.
    std::vector<geo::Extent> footprints;
  };
  SplitPlan(std::vector<SceneGrid> scenes, int tile, int stride, int block, double val_fraction,
            std::uint64_t seed);
  Split split_of(int scene, std::int64_t column, std::int64_t row) const;
  std::int64_t val_blocks() const { return val_blocks_; }

 private:
  bool is_val_block(int scene, std::int64_t block_column, std::int64_t block_row) const;
  bool is_val_tile(int scene, std::int64_t index) const;
  // Marks the tiles whose ground a val tile of another scene covers too.
  void mark_ground_shared_with_val();

  std::vector<SceneGrid> scenes_;
  int block_;
  int reach_;                                         // how many tiles away a tile still overlaps
  std::vector<std::vector<char>> val_;                // per scene, per block (row-major)
  std::vector<std::vector<char>> shares_val_ground_;  // per scene, per tile; empty: none
  std::int64_t val_blocks_ = 0;
};

}  // namespace satunet::tiling
