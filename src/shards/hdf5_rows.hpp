#pragma once
// The datasets of rows of satunet's shard files (training tiles and predictions): N along the
// first dimension, one chunk per tile, appended one row at a time. Internal to the shards
// library; attributes in hdf5_attributes.hpp, the chunk codecs in chunk_codecs.hpp.
#include <hdf5.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/error.hpp"
#include "shards/chunk_codecs.hpp"
#include "shards/compression.hpp"
#include "shards/hdf5_handle.hpp"
#include "shards/shard.hpp"

namespace satunet::shards {

std::string shape_text(const std::vector<hsize_t>& dims, const char* first = nullptr);

// Rows of small datasets (windows, indices) per chunk: chunks of one row would cost more in
// metadata than data.
constexpr hsize_t kSmallRowsPerChunk = 256;

// ---- datasets of rows: N along the first dimension, every row of shape row_dims ----
struct RowDataset {
  Hdf5Handle handle;
  std::string name;  // "/images", ...
  std::vector<hsize_t> row_dims;
  // Set by open_rows. For datasets of one row per chunk, read() decodes each chunk itself (the
  // inverse of encode_chunk): HDF5 1.10 trusts the size a damaged or forged chunk inflates to
  // and copies the row from past the end of its buffer.
  bool decodes_rows = false;
  std::vector<ChunkFilter> filters;  // in the order they were applied when writing
  Hdf5Handle stored_type;

  std::vector<hsize_t> shape(hsize_t rows) const;
  std::size_t row_bytes() const;  // of the stored type
  std::vector<hsize_t> stored_shape(const std::string& path) const;
  void resize(hsize_t rows, const std::string& path);
  void append(hsize_t row, hid_t memory_type, const void* data, const std::string& path);
  // The same for a dataset of one row per chunk, from the row already passed through the
  // dataset's filters (encode_chunk): HDF5 only stores the bytes.
  void append_encoded(hsize_t row, const std::vector<std::uint8_t>& chunk, const std::string& path);
  void read(hsize_t first, hsize_t count, hid_t memory_type, void* data, const std::string& path,
            hid_t transfer = H5P_DEFAULT) const;
  // The stored bytes of one chunk (offset in rows), passed back through `filters`: exactly
  // `bytes` long, or an error naming the chunk.
  std::vector<std::uint8_t> decoded_chunk(hsize_t first_row, std::size_t bytes,
                                          const std::string& path) const;
  void read_decoded(hsize_t first, hsize_t count, hid_t memory_type, void* data,
                    const std::string& path) const;
  // {memory space, file space} for rows [first, first + count).
  std::pair<Hdf5Handle, Hdf5Handle> select_rows(hsize_t first, hsize_t count,
                                                const std::string& path) const;
  void close(const std::string& path) { handle.close(path, "cannot close " + name); }
};

// A new HDF5 file at `temp_path` (to be renamed to `path`) whose metadata is checksummed.
Hdf5Handle create_checksummed_file(const std::string& temp_path, const std::string& path,
                                   const std::string& operation);

RowDataset create_rows(hid_t file, const std::string& name, hid_t type,
                       std::vector<hsize_t> row_dims, hsize_t rows_per_chunk,
                       Compression compression, const std::string& path);
// Opens /name and checks that it holds values of the kind of `expected_type`, in chunks no
// larger than a row (or 64 MiB) each stored in no more bytes than its values take: a damaged
// chunk index must not make HDF5 allocate what it claims.
RowDataset open_rows(hid_t file, const std::string& name, hid_t expected_type,
                     const std::string& expected_type_name, std::vector<hsize_t> row_dims,
                     const std::string& path);
// The number of rows, after checking that every row has the expected shape.
hsize_t checked_rows(const RowDataset& dataset, const std::string& path);

// /windows: one row of int64 x_off, y_off, width, height per tile, in training and prediction
// shards alike.
RowDataset create_window_rows(hid_t file, Compression compression, const std::string& path);
RowDataset open_window_rows(hid_t file, const std::string& path);
void append_window(RowDataset& windows, hsize_t row, const TileWindow& window,
                   const std::string& path);
std::vector<TileWindow> read_windows(const RowDataset& windows, hsize_t first, hsize_t count,
                                     const std::string& path);

inline hsize_t to_hsize(int value) {
  return static_cast<hsize_t>(value);
}

}  // namespace satunet::shards
