#pragma once
// The HDF5 building blocks of satunet's shard files (training tiles and predictions): scalar
// attributes on the root group, and datasets of rows (N along the first dimension, one chunk
// per tile, appended one row at a time). Internal to the shards library.
#include <hdf5.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/error.hpp"
#include "shards/compression.hpp"
#include "shards/hdf5_handle.hpp"
#include "shards/shard.hpp"

namespace satunet::shards {

std::string shape_text(const std::vector<hsize_t>& dims, const char* first = nullptr);

// ---- attributes (scalars on the root group, or small arrays of doubles) ----
void write_int_attribute(hid_t object, const std::string& name, int value, const std::string& path);
void write_string_attribute(hid_t object, const std::string& name, const std::string& value,
                            const std::string& path);
void write_doubles_attribute(hid_t object, const std::string& name,
                             const std::vector<double>& values, const std::string& path);
int read_int_attribute(hid_t object, const std::string& name, const std::string& path);
// Fixed-length (ours) and variable-length (h5py's) strings alike.
std::string read_string_attribute(hid_t object, const std::string& name, const std::string& path);
std::vector<double> read_doubles_attribute(hid_t object, const std::string& name,
                                           const std::string& path);
bool has_attribute(hid_t object, const std::string& name, const std::string& path);

// Names joined by commas in one attribute; a name holding a comma is refused.
std::string join_names(const std::vector<std::string>& names, const std::string& what,
                       const std::string& path);
std::vector<std::string> split_names(const std::string& joined);

// Rows of small datasets (windows, indices) per chunk: chunks of one row would cost more in
// metadata than data.
constexpr hsize_t kSmallRowsPerChunk = 256;

// One filter of a dataset's pipeline, as a reader decodes it.
struct ChunkFilter {
  H5Z_filter_t id = H5Z_FILTER_NONE;
  unsigned value_bytes = 0;  // the shuffle's; 0 for the others
};

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

// One chunk as create_rows' filters store it — shuffle (values of more than one byte) and the
// codec when `compression` compresses, then HDF5's Fletcher-32 checksum — computed without
// HDF5, so that many threads can encode while one writes. Deflate is libdeflate's, in the zlib
// format HDF5's filter reads: 2x zlib's speed at level 1, and smaller.
std::vector<std::uint8_t> encode_chunk(const void* data, std::size_t bytes, std::size_t value_bytes,
                                       Compression compression);

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
