#include "geo/strip_reader.hpp"

#include <algorithm>
#include <cstring>

#include "geo/gdal.hpp"

namespace satunet::geo {
namespace {
// Files whose blocks are taller than this (untiled single-strip TIFFs, PNG, ...) are read
// window by window instead: caching their block rows would hold the whole image.
constexpr std::int64_t kMaxCachedBlockRows = 1024;
// The most one strip may hold: checked before allocating, so that a header claiming an
// enormous width fails with a message rather than a failed allocation.
constexpr std::int64_t kMaxStripBytes = std::int64_t{4} << 30;

}  // namespace

void check_strip_size(const RasterInfo& info, std::int64_t rows, std::size_t bands,
                      int value_bytes) {
  const double size = static_cast<double>(info.width) * static_cast<double>(rows) *
                      static_cast<double>(bands) * value_bytes;
  if (size > static_cast<double>(kMaxStripBytes))
    throw Error(info.path + ": a strip of " + std::to_string(rows) + " rows of " +
                std::to_string(info.width) + " pixels in " + std::to_string(bands) + " bands is " +
                std::to_string(static_cast<std::int64_t>(size / (1 << 20))) +
                " MiB, more than the " + std::to_string(kMaxStripBytes >> 20) +
                " MiB satunet reads at once");
}

StripReader::StripReader(const Raster& raster, std::vector<int> bands, GDALDataType type)
    : raster_(raster),
      bands_(std::move(bands)),
      type_(type),
      value_bytes_(data_type_bytes(type)),
      width_(raster.info().width),
      height_(raster.info().height),
      block_height_(std::max(1, raster.info().bands.front().block_height)) {
  check_strip_size(raster.info(), std::min<std::int64_t>(block_height_, kMaxCachedBlockRows),
                   bands_.size(), value_bytes_);
}

const StripReader::BlockRow& StripReader::block_row(std::int64_t index) {
  for (const BlockRow& cached : cache_)
    if (cached.index == index)
      return cached;
  BlockRow row;
  row.index = index;
  row.first_row = index * block_height_;
  row.rows = std::min(block_height_, height_ - row.first_row);  // the last one may be partial
  row.pixels.resize(static_cast<std::size_t>(bands_.size() * row.rows * width_ * value_bytes_));
  raster_.read({0, row.first_row, width_, row.rows}, bands_, type_, row.pixels.data());
  cache_.push_back(std::move(row));
  return cache_.back();
}

void StripReader::read(std::int64_t first_row, std::int64_t rows, std::vector<std::uint8_t>& out) {
  GEO_CHECK(first_row >= 0 && rows > 0 && first_row + rows <= height_, raster_.info().path,
            ": strip of rows [", first_row, ", ", first_row + rows, ") outside the raster");
  check_strip_size(raster_.info(), rows, bands_.size(), value_bytes_);
  const auto band_count = static_cast<std::int64_t>(bands_.size());
  const std::int64_t row_bytes = width_ * value_bytes_;
  out.resize(static_cast<std::size_t>(band_count * rows * row_bytes));
  if (block_height_ > kMaxCachedBlockRows) {
    raster_.read({0, first_row, width_, rows}, bands_, type_, out.data());
    return;
  }
  // Only the block rows of this strip stay: strips go downwards, and a reader that starts
  // over from the top (a second pass) must not keep the whole raster.
  const std::int64_t first_block = first_row / block_height_;
  const std::int64_t last_block = (first_row + rows - 1) / block_height_;
  cache_.erase(std::remove_if(cache_.begin(), cache_.end(),
                              [&](const BlockRow& cached) {
                                return cached.index < first_block || cached.index > last_block;
                              }),
               cache_.end());
  for (std::int64_t index = first_block; index <= last_block; ++index) {
    const BlockRow& block = block_row(index);
    const std::int64_t copy_first = std::max(first_row, block.first_row);
    const std::int64_t copy_end = std::min(first_row + rows, block.first_row + block.rows);
    for (std::int64_t band = 0; band < band_count; ++band) {
      const std::uint8_t* source =
          block.pixels.data() + ((band * block.rows) + (copy_first - block.first_row)) * row_bytes;
      std::uint8_t* target = out.data() + ((band * rows) + (copy_first - first_row)) * row_bytes;
      std::memcpy(target, source, static_cast<std::size_t>((copy_end - copy_first) * row_bytes));
    }
  }
}

}  // namespace satunet::geo
