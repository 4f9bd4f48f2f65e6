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

StripReader::~StripReader() = default;

std::shared_ptr<StripReader::BlockRow> StripReader::allocate(std::int64_t index) {
  std::shared_ptr<BlockRow> row;
  if (spare_.empty()) {
    row = std::make_shared<BlockRow>();
  } else {  // pixels that are all overwritten: no fresh pages, nothing zeroed
    row = std::move(spare_.back());
    spare_.pop_back();
  }
  row->first_row = index * block_height_;
  row->rows = std::min(block_height_, height_ - row->first_row);  // the last one may be partial
  row->pixels.resize(static_cast<std::size_t>(bands_.size() * row->rows * width_ * value_bytes_));
  return row;
}

void StripReader::recycle(std::shared_ptr<BlockRow> row) {
  // Only a row nobody else holds (no view of it, its decoding job gone); two spares are what
  // a reader going down a raster with one block row read ahead takes again.
  if (row.use_count() == 1 && spare_.size() < 2)
    spare_.push_back(std::move(row));
}

void StripReader::decode(BlockRow& row) const {
  raster_.read({0, row.first_row, width_, row.rows}, bands_, type_, row.pixels.data());
}

void StripReader::finish(Cached& cached) {
  if (!cached.decoding)
    return;
  const std::shared_ptr<JobHandle> decoding = std::move(cached.decoding);
  decoding->wait();  // rethrows the reading thread's failure
}

std::shared_ptr<const StripReader::BlockRow> StripReader::block_row(std::int64_t index) {
  for (Cached& cached : cache_)
    if (cached.index == index) {
      finish(cached);
      return cached.row;
    }
  // The raster is read on one thread at a time: the reading thread's row first.
  for (Cached& cached : cache_)
    finish(cached);
  std::shared_ptr<BlockRow> row = allocate(index);
  decode(*row);
  cache_.push_back({index, std::move(row), nullptr});
  return cache_.back().row;
}

void StripReader::read_ahead() {
  const std::int64_t next = last_block_ + 1;
  if (last_block_ < 0 || next * block_height_ >= height_ || block_height_ > kMaxCachedBlockRows)
    return;
  for (const Cached& cached : cache_)
    if (cached.index == next)
      return;
  if (!reading_)
    reading_ = std::make_unique<SerialWorker>();
  std::shared_ptr<BlockRow> row = allocate(next);
  std::shared_ptr<JobHandle> decoding = reading_->submit([this, row] { decode(*row); });
  cache_.push_back({next, std::move(row), std::move(decoding)});
}

void StripReader::check_strip(std::int64_t first_row, std::int64_t rows) const {
  GEO_CHECK(first_row >= 0 && rows > 0 && first_row + rows <= height_, raster_.info().path,
            ": strip of rows [", first_row, ", ", first_row + rows, ") outside the raster");
  check_strip_size(raster_.info(), rows, bands_.size(), value_bytes_);
}

StripReader::View StripReader::view(std::int64_t first_row, std::int64_t rows) {
  check_strip(first_row, rows);
  View view;
  view.first_row_ = first_row;
  view.row_bytes_ = width_ * value_bytes_;
  if (block_height_ > kMaxCachedBlockRows) {
    // Read as a window of its own, cached nowhere.
    auto window = std::make_shared<BlockRow>();
    window->first_row = first_row;
    window->rows = rows;
    window->pixels.resize(static_cast<std::size_t>(bands_.size() * rows * view.row_bytes_));
    raster_.read({0, first_row, width_, rows}, bands_, type_, window->pixels.data());
    view.blocks_.push_back(std::move(window));
    return view;
  }
  // Only the block rows of this strip (and one being read ahead below it) stay: strips go
  // downwards, and a reader that starts over from the top (a second pass) must not keep the
  // whole raster.
  const std::int64_t first_block = first_row / block_height_;
  const std::int64_t last_block = (first_row + rows - 1) / block_height_;
  for (auto cached = cache_.begin(); cached != cache_.end();) {
    const std::int64_t index = cached->index;
    const bool read_ahead_for_this = index == last_block + 1 && cached->decoding;
    if ((index >= first_block && index <= last_block) || read_ahead_for_this) {
      ++cached;
      continue;
    }
    finish(*cached);
    recycle(std::move(cached->row));
    cached = cache_.erase(cached);
  }
  for (std::int64_t index = first_block; index <= last_block; ++index)
    view.blocks_.push_back(block_row(index));
  last_block_ = last_block;
  return view;
}

const std::uint8_t* StripReader::View::row(std::size_t band, std::int64_t y) const {
  const std::int64_t at = first_row_ + y;
  for (const auto& block : blocks_)
    if (at < block->first_row + block->rows)
      return block->pixels.data() +
             ((static_cast<std::int64_t>(band) * block->rows) + (at - block->first_row)) *
                 row_bytes_;
  return nullptr;  // past the strip: not asked for by its users
}

void StripReader::read(std::int64_t first_row, std::int64_t rows, std::vector<std::uint8_t>& out) {
  check_strip(first_row, rows);
  const auto band_count = static_cast<std::int64_t>(bands_.size());
  const std::int64_t row_bytes = width_ * value_bytes_;
  out.resize(static_cast<std::size_t>(band_count * rows * row_bytes));
  if (block_height_ > kMaxCachedBlockRows) {
    raster_.read({0, first_row, width_, rows}, bands_, type_, out.data());
    return;
  }
  const View strip = view(first_row, rows);
  for (std::int64_t band = 0; band < band_count; ++band)
    for (std::int64_t y = 0; y < rows; ++y)
      std::memcpy(out.data() + ((band * rows) + y) * row_bytes,
                  strip.row(static_cast<std::size_t>(band), y),
                  static_cast<std::size_t>(row_bytes));
}

}  // namespace satunet::geo
