#pragma once
// Reads horizontal strips of a raster one block row at a time, aligned to the file's blocks:
// every block is decoded once even when consecutive strips overlap (tile overlap), partial
// edge blocks are clipped explicitly, and memory holds only the block rows of the strip (and
// the one read ahead).
#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include "common/serial_worker.hpp"
#include "geo/raster.hpp"

namespace satunet::geo {

// Throws Error naming the file when a strip of `rows` full-width rows of `bands` values of
// `value_bytes` each exceeds what satunet reads at once (4 GiB): a raster that claims an
// enormous width fails here, before anything is allocated for it.
void check_strip_size(const RasterInfo& info, std::int64_t rows, std::size_t bands,
                      int value_bytes);

class StripReader {
 public:
  struct BlockRow {
    std::int64_t first_row = 0;
    std::int64_t rows = 0;
    std::vector<std::uint8_t> pixels;  // [band][row][column]
  };

  // A strip's rows where they lie in the block rows it spans, without a copy; it keeps them
  // alive.
  class View {
   public:
    // Row `y` (from the strip's first) of the `band`-th band read: width values.
    const std::uint8_t* row(std::size_t band, std::int64_t y) const;

   private:
    friend class StripReader;
    std::vector<std::shared_ptr<const BlockRow>> blocks_;
    std::int64_t first_row_ = 0;
    std::int64_t row_bytes_ = 0;
  };

  // `bands` are 1-based; values are converted to `type`.
  StripReader(const Raster& raster, std::vector<int> bands, GDALDataType type);
  ~StripReader();

  // Rows [first_row, first_row + rows) of all bands, full width, band-sequential
  // ([band][row][column]) into `out`, which is resized to fit.
  void read(std::int64_t first_row, std::int64_t rows, std::vector<std::uint8_t>& out);
  // The same rows in place.
  View view(std::int64_t first_row, std::int64_t rows);
  // Starts decoding the block row below the last strip's on a thread of its own, for the next
  // strip down. The raster is then read on that thread only.
  void read_ahead();

  std::int64_t block_height() const { return block_height_; }
  // Block rows held now: those of the last strip read (and one read ahead).
  std::size_t cached_block_rows() const { return cache_.size(); }

 private:
  struct Cached {
    std::int64_t index = 0;
    std::shared_ptr<BlockRow> row;        // filled by the reading thread while `decoding`
    std::shared_ptr<JobHandle> decoding;  // set until its decoding was waited for
  };
  std::shared_ptr<const BlockRow> block_row(std::int64_t index);
  // A block row's place, allocated on the calling thread (big buffers stay in its heap), or
  // one dropped earlier taken again: in a VM a fresh page costs more than the pixels read
  // into it.
  std::shared_ptr<BlockRow> allocate(std::int64_t index);
  void recycle(std::shared_ptr<BlockRow> row);
  void decode(BlockRow& row) const;
  void finish(Cached& cached);
  // Refuses strips outside the raster or too large to read at once, naming the file.
  void check_strip(std::int64_t first_row, std::int64_t rows) const;

  const Raster& raster_;
  std::vector<int> bands_;
  GDALDataType type_;
  int value_bytes_;
  std::int64_t width_;
  std::int64_t height_;
  std::int64_t block_height_;
  std::int64_t last_block_ = -1;                  // of the last strip read
  std::deque<Cached> cache_;                      // ascending block rows, the oldest dropped first
  std::vector<std::shared_ptr<BlockRow>> spare_;  // dropped, for allocate to take again
  std::unique_ptr<SerialWorker> reading_;         // started by read_ahead; last: stops first
};

}  // namespace satunet::geo
