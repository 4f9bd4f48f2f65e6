#include "tiling/grid.hpp"

#include <algorithm>
#include <cmath>
#include <tuple>

#include "common/error.hpp"
#include "common/hash.hpp"

namespace satunet::tiling {
std::vector<std::int64_t> tile_offsets(std::int64_t extent, int tile, int stride) {
  std::vector<std::int64_t> offsets{0};
  while (offsets.back() + tile < extent)
    offsets.push_back(offsets.back() + stride);
  return offsets;
}

std::string split_name(Split split) {
  switch (split) {
    case Split::train:
      return "train";
    case Split::val:
      return "val";
    case Split::guard:
      return "guard";
  }
  return "?";
}

SplitPlan::SplitPlan(std::vector<SceneGrid> scenes, int tile, int stride, int block,
                     double val_fraction, std::uint64_t seed)
    : scenes_(std::move(scenes)), block_(block), reach_((tile - 1) / stride) {
  // Rank every block of every scene by a seeded hash; the lowest ranks are val.
  std::vector<std::tuple<std::uint64_t, int, std::int64_t>> ranked;
  for (int scene = 0; scene < static_cast<int>(scenes_.size()); ++scene) {
    const std::int64_t across = (scenes_[scene].columns + block - 1) / block;
    const std::int64_t down = (scenes_[scene].rows + block - 1) / block;
    val_.emplace_back(static_cast<std::size_t>(across * down), 0);
    for (std::int64_t index = 0; index < across * down; ++index)
      ranked.emplace_back(
          hash(seed, static_cast<std::uint64_t>(scene), static_cast<std::uint64_t>(index)), scene,
          index);
  }
  std::sort(ranked.begin(), ranked.end());
  const auto total = static_cast<std::int64_t>(ranked.size());
  val_blocks_ = static_cast<std::int64_t>(std::llround(val_fraction * static_cast<double>(total)));
  if (val_fraction > 0 && total > 1)
    val_blocks_ = std::max<std::int64_t>(val_blocks_, 1);
  val_blocks_ = std::min(val_blocks_, total);
  for (std::int64_t i = 0; i < val_blocks_; ++i) {
    const auto& [hash, scene, index] = ranked[static_cast<std::size_t>(i)];
    val_[scene][static_cast<std::size_t>(index)] = 1;
  }
}

bool SplitPlan::is_val_block(int scene, std::int64_t block_column, std::int64_t block_row) const {
  const std::int64_t across = (scenes_[scene].columns + block_ - 1) / block_;
  return val_[scene][static_cast<std::size_t>(block_row * across + block_column)] != 0;
}

Split SplitPlan::split_of(int scene, std::int64_t column, std::int64_t row) const {
  if (is_val_block(scene, column / block_, row / block_))
    return Split::val;
  const SceneGrid& grid = scenes_[scene];
  for (std::int64_t r = std::max<std::int64_t>(0, row - reach_);
       r <= std::min(grid.rows - 1, row + reach_); ++r)
    for (std::int64_t c = std::max<std::int64_t>(0, column - reach_);
         c <= std::min(grid.columns - 1, column + reach_); ++c)
      if (is_val_block(scene, c / block_, r / block_))
        return Split::guard;
  return Split::train;
}

}  // namespace satunet::tiling
