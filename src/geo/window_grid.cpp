#include "geo/window_grid.hpp"

#include <algorithm>
#include <cmath>

#include "common/error.hpp"

namespace satunet::geo {

std::vector<std::int64_t> window_offsets(std::int64_t size, int tile, int overlap) {
  if (size <= tile)
    return {0};
  const std::int64_t stride = tile - overlap;
  const std::int64_t span = size - tile;
  const std::int64_t steps = (span + stride - 1) / stride;  // windows after the first
  std::vector<std::int64_t> offsets;
  offsets.reserve(static_cast<std::size_t>(steps + 1));
  // Integer arithmetic so that every rank and every run computes identical offsets.
  for (std::int64_t i = 0; i <= steps; ++i)
    offsets.push_back((span * i + steps / 2) / steps);
  return offsets;
}

void check_overlap(int tile, int overlap) {
  if (overlap < 0 || overlap >= tile)
    throw UsageError("--overlap must be in [0, tile), got " + std::to_string(overlap) +
                     " for tile " + std::to_string(tile));
}

WindowGrid::WindowGrid(std::int64_t width, std::int64_t height, int tile, int overlap)
    : width_(width), height_(height), tile_(tile) {
  if (tile <= 0)
    throw UsageError("--tile must be positive, got " + std::to_string(tile));
  check_overlap(tile, overlap);
  columns_ = window_offsets(width, tile, overlap);
  rows_ = window_offsets(height, tile, overlap);
}

Window WindowGrid::inside(std::int64_t index) const {
  const auto row = static_cast<std::size_t>(index / columns());
  const auto column = static_cast<std::size_t>(index % columns());
  const std::int64_t x = columns_[column];
  const std::int64_t y = rows_[row];
  return {x, y, std::min<std::int64_t>(tile_, width_ - x),
          std::min<std::int64_t>(tile_, height_ - y)};
}

std::string WindowGrid::describe(std::int64_t index) const {
  const Window window = inside(index);
  return "window " + std::to_string(index) + " (x " + std::to_string(window.x_off) + ", y " +
         std::to_string(window.y_off) + ")";
}

std::int64_t reflect_index(std::int64_t i, std::int64_t size) {
  if (size == 1)
    return 0;
  const std::int64_t period = 2 * (size - 1);
  std::int64_t folded = i % period;
  if (folded < 0)
    folded += period;
  return folded < size ? folded : period - folded;
}

}  // namespace satunet::geo
