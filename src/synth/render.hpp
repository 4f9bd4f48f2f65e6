#pragma once
// Draws strips of rows of a laid-out scene: reflectance per band, the class label and the
// validity of each pixel. Each pixel depends only on the layout and the seed, so strips can be
// drawn in any order and rows in parallel.
#include <cstdint>
#include <vector>

#include "common/labels.hpp"
#include "synth/layout.hpp"

namespace satunet::synth {

constexpr std::uint8_t kBackground = 0;
constexpr std::uint8_t kBuilding = 1;
constexpr std::uint8_t kRoad = 2;

struct Strip {
  std::int64_t first_row = 0;
  std::int64_t rows = 0;
  std::int64_t width = 0;
  std::vector<float> reflectance;   // band-sequential: [band][row][column]
  std::vector<std::uint8_t> label;  // [row][column]; kIgnoreLabel where there is no data
};

class Renderer {
 public:
  Renderer(const Layout& layout, int bands, std::int64_t strip_rows);
  // Draws rows [first_row, first_row + rows); `rows` may be short at the bottom edge.
  void render(std::int64_t first_row, std::int64_t rows, Strip& strip) const;

 private:
  struct RowContext;
  void draw_row(std::int64_t row, Strip& strip, const RowContext& context) const;
  void bucket(std::vector<std::vector<int>>& buckets, int index, double min_y, double max_y);

  const Layout& layout_;
  int bands_;
  std::int64_t strip_rows_;
  std::vector<std::vector<int>> segments_by_strip_;
  std::vector<std::vector<int>> buildings_by_strip_;  // footprint or shadow in the strip
  std::vector<std::vector<int>> trees_by_strip_;
};

}  // namespace satunet::synth
