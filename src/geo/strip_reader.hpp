#pragma once
// Reads horizontal strips of a raster one block row at a time, aligned to the file's blocks:
// every block is decoded once even when consecutive strips overlap (tile overlap), partial
// edge blocks are clipped explicitly, and memory holds only the block rows of the strip.
#include <cstdint>
#include <deque>
#include <vector>

#include "geo/raster.hpp"

namespace satunet::geo {

// Throws Error naming the file when a strip of `rows` full-width rows of `bands` values of
// `value_bytes` each exceeds what satunet reads at once (4 GiB): a raster that claims an
// enormous width fails here, before anything is allocated for it.
void check_strip_size(const RasterInfo& info, std::int64_t rows, std::size_t bands,
                      int value_bytes);

class StripReader {
 public:
  // `bands` are 1-based; values are converted to `type`.
  StripReader(const Raster& raster, std::vector<int> bands, GDALDataType type);

  // Rows [first_row, first_row + rows) of all bands, full width, band-sequential
  // ([band][row][column]) into `out`, which is resized to fit.
  void read(std::int64_t first_row, std::int64_t rows, std::vector<std::uint8_t>& out);

  std::int64_t block_height() const { return block_height_; }
  // Block rows held now: those of the last strip read.
  std::size_t cached_block_rows() const { return cache_.size(); }

 private:
  struct BlockRow {
    std::int64_t index = 0;
    std::int64_t first_row = 0;
    std::int64_t rows = 0;
    std::vector<std::uint8_t> pixels;  // [band][row][column]
  };
  const BlockRow& block_row(std::int64_t index);

  const Raster& raster_;
  std::vector<int> bands_;
  GDALDataType type_;
  int value_bytes_;
  std::int64_t width_;
  std::int64_t height_;
  std::int64_t block_height_;
  std::deque<BlockRow> cache_;  // ascending block rows, the oldest dropped first
};

}  // namespace satunet::geo
