#include "tiling/grid.hpp"

#include <algorithm>
#include <cmath>
#include <tuple>
#include <unordered_map>

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
  mark_ground_shared_with_val();
}

bool SplitPlan::is_val_block(int scene, std::int64_t block_column, std::int64_t block_row) const {
  const std::int64_t across = (scenes_[scene].columns + block_ - 1) / block_;
  return val_[scene][static_cast<std::size_t>(block_row * across + block_column)] != 0;
}

bool SplitPlan::is_val_tile(int scene, std::int64_t index) const {
  const std::int64_t columns = scenes_[scene].columns;
  return is_val_block(scene, index % columns / block_, index / columns / block_);
}

namespace {

// Footprints in cells of a uniform grid over the ground, to find those that may overlap a
// tile without comparing it with every other.
class FootprintIndex {
 public:
  explicit FootprintIndex(double cell) : cell_(cell) {}
  void add(const geo::Extent& extent, int scene) {
    footprints_.push_back({extent, scene});
    for_cells(extent, [&](std::int64_t key) { cells_[key].push_back(footprints_.size() - 1); });
  }
  // Whether a footprint of a scene other than `scene` overlaps `extent` by more than a sliver.
  bool overlaps_other(const geo::Extent& extent, int scene) const {
    const geo::Extent inner = shrunk(extent);
    bool found = false;
    for_cells(inner, [&](std::int64_t key) {
      const auto cell = cells_.find(key);
      if (found || cell == cells_.end())
        return;
      for (std::size_t i : cell->second)
        if (footprints_[i].second != scene && shrunk(footprints_[i].first).intersects(inner))
          found = true;
    });
    return found;
  }

 private:
  // Tiles that only share an edge do not share a pixel, whatever a reprojection's rounding
  // says: a ten-thousandth of a side in from each edge.
  static geo::Extent shrunk(const geo::Extent& e) {
    const double dx = (e.max_x - e.min_x) * 1e-4, dy = (e.max_y - e.min_y) * 1e-4;
    return {e.min_x + dx, e.min_y + dy, e.max_x - dx, e.max_y - dy};
  }
  template <typename Visit>
  void for_cells(const geo::Extent& e, Visit visit) const {
    const auto first_x = static_cast<std::int64_t>(std::floor(e.min_x / cell_));
    const auto last_x = static_cast<std::int64_t>(std::floor(e.max_x / cell_));
    const auto first_y = static_cast<std::int64_t>(std::floor(e.min_y / cell_));
    const auto last_y = static_cast<std::int64_t>(std::floor(e.max_y / cell_));
    for (std::int64_t y = first_y; y <= last_y; ++y)
      for (std::int64_t x = first_x; x <= last_x; ++x)
        visit(x * 1000003 + y);  // distinct cells may share a key: they are only compared more
  }

  double cell_;
  std::vector<std::pair<geo::Extent, int>> footprints_;
  std::unordered_map<std::int64_t, std::vector<std::size_t>> cells_;
};

}  // namespace

void SplitPlan::mark_ground_shared_with_val() {
  double cell = 0;
  std::vector<std::pair<int, std::int64_t>> val_tiles;
  for (int scene = 0; scene < static_cast<int>(scenes_.size()); ++scene) {
    const std::vector<geo::Extent>& footprints = scenes_[scene].footprints;
    for (std::int64_t i = 0; i < static_cast<std::int64_t>(footprints.size()); ++i)
      if (is_val_tile(scene, i)) {
        const geo::Extent& e = footprints[static_cast<std::size_t>(i)];
        cell = std::max({cell, e.max_x - e.min_x, e.max_y - e.min_y});
        val_tiles.emplace_back(scene, i);
      }
  }
  if (val_tiles.empty() || !(cell > 0))
    return;
  FootprintIndex index(cell);
  for (const auto& [scene, i] : val_tiles)
    index.add(scenes_[scene].footprints[static_cast<std::size_t>(i)], scene);
  shares_val_ground_.resize(scenes_.size());
  for (int scene = 0; scene < static_cast<int>(scenes_.size()); ++scene) {
    const std::vector<geo::Extent>& footprints = scenes_[scene].footprints;
    shares_val_ground_[scene].assign(footprints.size(), 0);
    for (std::size_t i = 0; i < footprints.size(); ++i)
      shares_val_ground_[scene][i] = !is_val_tile(scene, static_cast<std::int64_t>(i)) &&
                                     index.overlaps_other(footprints[i], scene);
  }
}

Split SplitPlan::split_of(int scene, std::int64_t column, std::int64_t row) const {
  if (is_val_block(scene, column / block_, row / block_))
    return Split::val;
  const SceneGrid& grid = scenes_[scene];
  if (!shares_val_ground_.empty() && !shares_val_ground_[scene].empty() &&
      shares_val_ground_[scene][static_cast<std::size_t>(row * grid.columns + column)])
    return Split::guard;
  for (std::int64_t r = std::max<std::int64_t>(0, row - reach_);
       r <= std::min(grid.rows - 1, row + reach_); ++r)
    for (std::int64_t c = std::max<std::int64_t>(0, column - reach_);
         c <= std::min(grid.columns - 1, column + reach_); ++c)
      if (is_val_block(scene, c / block_, r / block_))
        return Split::guard;
  return Split::train;
}

}  // namespace satunet::tiling
