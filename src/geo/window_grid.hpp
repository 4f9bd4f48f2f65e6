#pragma once
// The windows a scene is predicted in: the grid `predict` cuts and `stitch` puts together.
#include <cstdint>
#include <string>
#include <vector>

#include "geo/georef.hpp"

namespace satunet::geo {

// Offsets of windows of `tile` pixels along an axis of `size` pixels, neighbours overlapping
// by at least `overlap`: spread evenly from 0 to size - tile (as nnU-Net does), so that no
// window reaches past the scene unless the scene is smaller than one tile ({0} then).
std::vector<std::int64_t> window_offsets(std::int64_t size, int tile, int overlap);

// Neighbouring windows (or tiles) `tile` pixels wide overlap by 0 to tile - 1 pixels: a
// UsageError naming --overlap otherwise (`satunet tile`'s and `predict`'s rule).
void check_overlap(int tile, int overlap);

// Windows in row-major order; window i covers [x, x + tile) x [y, y + tile) of the scene, of
// which `inside(i)` is the part within the scene (the rest is padded by reflection).
class WindowGrid {
 public:
  WindowGrid(std::int64_t width, std::int64_t height, int tile, int overlap);

  std::int64_t count() const { return static_cast<std::int64_t>(columns_.size() * rows_.size()); }
  std::int64_t columns() const { return static_cast<std::int64_t>(columns_.size()); }
  std::int64_t rows() const { return static_cast<std::int64_t>(rows_.size()); }
  int tile() const { return tile_; }
  Window inside(std::int64_t index) const;
  // "window 7 (x 96, y 32)" for messages.
  std::string describe(std::int64_t index) const;

 private:
  std::int64_t width_, height_;
  int tile_;
  std::vector<std::int64_t> columns_, rows_;
};

// Index into [0, size) of position `i` of the reflection of an axis about its edge pixels
// (numpy's and PyTorch's "reflect": ... 2 1 | 0 1 2 ... n-1 | n-2 n-3 ...).
std::int64_t reflect_index(std::int64_t i, std::int64_t size);

}  // namespace satunet::geo
