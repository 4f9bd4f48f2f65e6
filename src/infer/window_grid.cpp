#include "infer/window_grid.hpp"

#include <algorithm>
#include <cmath>

#include "common/error.hpp"

namespace satunet::infer {

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

WindowGrid::WindowGrid(std::int64_t width, std::int64_t height, int tile, int overlap)
    : width_(width), height_(height), tile_(tile) {
  if (tile <= 0)
    throw UsageError("--tile must be positive, got " + std::to_string(tile));
  if (overlap < 0 || overlap >= tile)
    throw UsageError("--overlap must be in [0, tile), got " + std::to_string(overlap) +
                     " for tile " + std::to_string(tile));
  columns_ = window_offsets(width, tile, overlap);
  rows_ = window_offsets(height, tile, overlap);
}

geo::Window WindowGrid::inside(std::int64_t index) const {
  const auto row = static_cast<std::size_t>(index / columns());
  const auto column = static_cast<std::size_t>(index % columns());
  const std::int64_t x = columns_[column];
  const std::int64_t y = rows_[row];
  return {x, y, std::min<std::int64_t>(tile_, width_ - x),
          std::min<std::int64_t>(tile_, height_ - y)};
}

std::string WindowGrid::describe(std::int64_t index) const {
  const geo::Window window = inside(index);
  return "window " + std::to_string(index) + " (x " + std::to_string(window.x_off) + ", y " +
         std::to_string(window.y_off) + ")";
}

Blend parse_blend(const std::string& name) {
  if (name == "gaussian")
    return Blend::gaussian;
  if (name == "cosine")
    return Blend::cosine;
  if (name == "uniform")
    return Blend::uniform;
  throw UsageError("--blend must be gaussian, cosine or uniform, got '" + name + "'");
}

std::string blend_name(Blend blend) {
  switch (blend) {
    case Blend::gaussian:
      return "gaussian";
    case Blend::cosine:
      return "cosine";
    case Blend::uniform:
      return "uniform";
  }
  return "?";
}

std::vector<float> blend_weights(Blend blend, int tile) {
  std::vector<double> axis(static_cast<std::size_t>(tile), 1.0);
  const double centre = tile / 2.0;
  for (int i = 0; i < tile; ++i) {
    const double position = i + 0.5;
    if (blend == Blend::gaussian) {
      const double sigma = tile / 8.0;
      const double distance = (position - centre) / sigma;
      axis[static_cast<std::size_t>(i)] = std::exp(-0.5 * distance * distance);
    } else if (blend == Blend::cosine) {
      const double s = std::sin(M_PI * position / tile);
      axis[static_cast<std::size_t>(i)] = s * s;
    }
  }
  std::vector<float> weights(static_cast<std::size_t>(tile) * static_cast<std::size_t>(tile));
  // The Gaussian's corners underflow towards 0 in float: keep them at a small positive floor,
  // as nnU-Net does, so a pixel seen by one window's corner alone still gets its prediction.
  const double floor = 1e-4;
  for (int y = 0; y < tile; ++y)
    for (int x = 0; x < tile; ++x)
      weights[static_cast<std::size_t>(y) * static_cast<std::size_t>(tile) +
              static_cast<std::size_t>(x)] =
          static_cast<float>(std::max(
              floor, axis[static_cast<std::size_t>(y)] * axis[static_cast<std::size_t>(x)]));
  return weights;
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

}  // namespace satunet::infer
