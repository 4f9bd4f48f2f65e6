#include "shards/hdf5_rows.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>

#include "shards/shard.hpp"

namespace satunet::shards {

std::string shape_text(const std::vector<hsize_t>& dims, const char* first) {
  std::string text = "[";
  for (std::size_t i = 0; i < dims.size(); ++i) {
    if (i)
      text += ", ";
    text += (i == 0 && first) ? std::string(first) : std::to_string(dims[i]);
  }
  return text + "]";
}

// ---- datasets of rows ----

namespace {

// A chunk of `chunk_bytes` values is stored in at most this many bytes: compression may add a
// little (deflate's worst case is 0.03% and a few bytes, LZ4 stores a block that would grow
// as it is, behind 16 bytes of header), the checksum 4.
double most_stored_bytes(double chunk_bytes) {
  return chunk_bytes * 1.01 + 1024;
}

}  // namespace

std::size_t RowDataset::row_bytes() const {
  std::size_t bytes = H5Tget_size(stored_type.get());
  for (hsize_t dim : row_dims)
    bytes *= static_cast<std::size_t>(dim);
  return bytes;
}

std::vector<hsize_t> RowDataset::shape(hsize_t rows) const {
  std::vector<hsize_t> dims{rows};
  dims.insert(dims.end(), row_dims.begin(), row_dims.end());
  return dims;
}

std::vector<hsize_t> RowDataset::stored_shape(const std::string& path) const {
  const Hdf5Handle space(H5Dget_space(handle.get()), path, "cannot inspect " + name);
  const int rank =
      check_hdf5(H5Sget_simple_extent_ndims(space.get()), path, "cannot inspect " + name);
  std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
  check_hdf5(H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr), path,
             "cannot inspect " + name);
  return dims;
}

void RowDataset::resize(hsize_t rows, const std::string& path) {
  const std::vector<hsize_t> dims = shape(rows);
  check_hdf5(H5Dset_extent(handle.get(), dims.data()), path,
             "cannot resize " + name + " to " + shape_text(dims));
}

void RowDataset::append(hsize_t row, hid_t memory_type, const void* data, const std::string& path) {
  resize(row + 1, path);
  const auto [memory_space, file_space] = select_rows(row, 1, path);
  check_hdf5(
      H5Dwrite(handle.get(), memory_type, memory_space.get(), file_space.get(), H5P_DEFAULT, data),
      path, "cannot write tile " + std::to_string(row) + " of " + name);
}

void RowDataset::append_encoded(hsize_t row, const std::vector<std::uint8_t>& chunk,
                                const std::string& path) {
  resize(row + 1, path);
  std::vector<hsize_t> offset(row_dims.size() + 1, 0);
  offset[0] = row;
  check_hdf5(
      H5Dwrite_chunk(handle.get(), H5P_DEFAULT, 0, offset.data(), chunk.size(), chunk.data()), path,
      "cannot write tile " + std::to_string(row) + " of " + name);
}

void RowDataset::read(hsize_t first, hsize_t count, hid_t memory_type, void* data,
                      const std::string& path, hid_t transfer) const {
  if (decodes_rows) {
    read_decoded(first, count, memory_type, data, path);
    return;
  }
  const auto [memory_space, file_space] = select_rows(first, count, path);
  check_hdf5(
      H5Dread(handle.get(), memory_type, memory_space.get(), file_space.get(), transfer, data),
      path,
      "cannot read tiles " + std::to_string(first) + ".." + std::to_string(first + count - 1) +
          " of " + name);
}

std::pair<Hdf5Handle, Hdf5Handle> RowDataset::select_rows(hsize_t first, hsize_t count,
                                                          const std::string& path) const {
  const std::vector<hsize_t> counts = shape(count);
  std::vector<hsize_t> start(counts.size(), 0);
  start[0] = first;
  Hdf5Handle file_space(H5Dget_space(handle.get()), path, "cannot inspect " + name);
  check_hdf5(H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start.data(), nullptr,
                                 counts.data(), nullptr),
             path, "cannot select tiles in " + name);
  Hdf5Handle memory_space(H5Screate_simple(static_cast<int>(counts.size()), counts.data(), nullptr),
                          path, "cannot create a dataspace for " + name);
  return {std::move(memory_space), std::move(file_space)};
}

namespace {

std::string chunk_name(const RowDataset& dataset, hsize_t first_row) {
  return "the chunk at row " + std::to_string(first_row) + " of " + dataset.name;
}

}  // namespace

std::vector<std::uint8_t> RowDataset::decoded_chunk(hsize_t first_row, std::size_t bytes,
                                                    const std::string& path) const {
  const std::string chunk = chunk_name(*this, first_row);
  std::vector<hsize_t> offset(row_dims.size() + 1, 0);
  offset[0] = first_row;
  hsize_t stored = 0;
  check_hdf5(H5Dget_chunk_storage_size(handle.get(), offset.data(), &stored), path,
             "cannot locate " + chunk);
  SHARDS_CHECK(stored > 0 && static_cast<double>(stored) <= most_stored_bytes(bytes), path, ": ",
               chunk, " is stored in ", stored, " bytes, for ", bytes,
               " bytes of values (damaged?)");
  std::vector<std::uint8_t> data(stored);
  std::uint32_t skipped_filters = 0;
  check_hdf5(H5Dread_chunk(handle.get(), H5P_DEFAULT, offset.data(), &skipped_filters, data.data()),
             path, "cannot read " + chunk);
  SHARDS_CHECK(skipped_filters == 0, path, ": ", chunk, " skips filters of its dataset (damaged?)");
  return decode_chunk(std::move(data), filters, bytes, chunk, path);
}

void RowDataset::read_decoded(hsize_t first, hsize_t count, hid_t memory_type, void* data,
                              const std::string& path) const {
  const std::size_t stored_row = row_bytes();
  const std::size_t values = stored_row / H5Tget_size(stored_type.get());
  const std::size_t memory_row = values * H5Tget_size(memory_type);
  const bool same_type = check_hdf5(H5Tequal(stored_type.get(), memory_type), path,
                                    "cannot compare the types of " + name) > 0;
  auto* out = static_cast<std::uint8_t*>(data);
  for (hsize_t row = first; row < first + count; ++row, out += memory_row) {
    std::vector<std::uint8_t> values_bytes = decoded_chunk(row, stored_row, path);
    if (!same_type) {
      values_bytes.resize(std::max(stored_row, memory_row));
      check_hdf5(H5Tconvert(stored_type.get(), memory_type, values, values_bytes.data(), nullptr,
                            H5P_DEFAULT),
                 path, "cannot convert the values of " + chunk_name(*this, row));
    }
    std::memcpy(out, values_bytes.data(), memory_row);
  }
}

Hdf5Handle create_checksummed_file(const std::string& temp_path, const std::string& path,
                                   const std::string& operation) {
  // HDF5 1.8's formats and later: the superblock and object headers carry checksums too.
  const Hdf5Handle access(H5Pcreate(H5P_FILE_ACCESS), path, operation);
  check_hdf5(H5Pset_libver_bounds(access.get(), H5F_LIBVER_V18, H5F_LIBVER_LATEST), path,
             operation);
  return Hdf5Handle(H5Fcreate(temp_path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, access.get()), path,
                    operation + " (temporary file " + temp_path + ")");
}

RowDataset create_rows(hid_t file, const std::string& name, hid_t type,
                       std::vector<hsize_t> row_dims, hsize_t rows_per_chunk,
                       Compression compression, const std::string& path) {
  RowDataset dataset;
  dataset.name = "/" + name;
  dataset.row_dims = std::move(row_dims);
  const std::vector<hsize_t> empty = dataset.shape(0);
  std::vector<hsize_t> unlimited = empty;
  unlimited[0] = H5S_UNLIMITED;
  std::vector<hsize_t> chunk = empty;
  chunk[0] = rows_per_chunk;
  const int rank = static_cast<int>(empty.size());
  const std::string operation = "cannot create " + dataset.name;

  const Hdf5Handle space(H5Screate_simple(rank, empty.data(), unlimited.data()), path, operation);
  const Hdf5Handle creation(H5Pcreate(H5P_DATASET_CREATE), path, operation);
  check_hdf5(H5Pset_chunk(creation.get(), rank, chunk.data()), path, operation);
  if (compression.compresses())
    // Shuffle first: grouping the bytes of each value makes the codecs far more effective.
    check_hdf5(H5Pset_shuffle(creation.get()), path, operation);
  if (compression.codec == Compression::Codec::deflate)
    check_hdf5(H5Pset_deflate(creation.get(), static_cast<unsigned>(compression.level)), path,
               operation);
  if (compression.codec == Compression::Codec::lz4) {
    register_lz4_filter(path);
    check_hdf5(H5Pset_filter(creation.get(), kLz4Filter, H5Z_FLAG_MANDATORY, 0, nullptr), path,
               operation);
  }
  // A checksum per chunk, of the bytes stored (so that damage is found before inflating): a
  // flipped bit or a torn copy fails the read, naming the file, rather than training or
  // stitching on damaged pixels. encode_chunk follows this order.
  check_hdf5(H5Pset_fletcher32(creation.get()), path, operation);
  dataset.handle = Hdf5Handle(
      H5Dcreate2(file, name.c_str(), type, space.get(), H5P_DEFAULT, creation.get(), H5P_DEFAULT),
      path, operation);
  return dataset;
}

namespace {

bool same_element_kind(hid_t stored, hid_t expected) {
  const H5T_class_t type_class = H5Tget_class(stored);
  if (type_class != H5Tget_class(expected) || H5Tget_size(stored) != H5Tget_size(expected))
    return false;
  return type_class != H5T_INTEGER || H5Tget_sign(stored) == H5Tget_sign(expected);
}

// The filters satunet writes (create_rows) and h5py's gzip shards use; a chunk through any
// other could not be decoded by read_decoded.
std::vector<ChunkFilter> readable_filters(hid_t creation, const RowDataset& dataset,
                                          const std::string& path) {
  std::vector<ChunkFilter> filters;
  const int count = check_hdf5(H5Pget_nfilters(creation), path, "cannot inspect " + dataset.name);
  for (int i = 0; i < count; ++i) {
    unsigned flags = 0, filter_config = 0;
    std::size_t values = 1;
    unsigned first_value = 0;
    const H5Z_filter_t id = H5Pget_filter2(creation, static_cast<unsigned>(i), &flags, &values,
                                           &first_value, 0, nullptr, &filter_config);
    SHARDS_CHECK(id == H5Z_FILTER_SHUFFLE || id == H5Z_FILTER_DEFLATE || id == kLz4Filter ||
                     id == H5Z_FILTER_FLETCHER32,
                 path, ": ", dataset.name, " is stored through HDF5 filter ", id,
                 ", which satunet does not read (shuffle, deflate, lz4 and fletcher32 only)");
    filters.push_back({id, id == H5Z_FILTER_SHUFFLE && values > 0 ? first_value : 0u});
  }
  return filters;
}

// Refuses chunk shapes and stored sizes that would make a read allocate what a damaged chunk
// index claims; returns the rows per chunk.
hsize_t check_chunks(const RowDataset& dataset, hid_t creation, hid_t type,
                     const std::string& path) {
  const hid_t handle = dataset.handle.get();
  std::vector<hsize_t> chunk(dataset.row_dims.size() + 1);
  SHARDS_CHECK(H5Pget_chunk(creation, static_cast<int>(chunk.size()), chunk.data()) ==
                   static_cast<int>(chunk.size()),
               path, ": ", dataset.name, " has chunks of another rank than its rows");
  const double value_bytes = static_cast<double>(H5Tget_size(type));
  double chunk_bytes = value_bytes, row_bytes = value_bytes;
  for (std::size_t i = 0; i < chunk.size(); ++i)
    chunk_bytes *= static_cast<double>(chunk[i]);
  for (hsize_t dim : dataset.row_dims)
    row_bytes *= static_cast<double>(dim);
  constexpr double kMaxChunkBytes = 64.0 * (1 << 20);
  SHARDS_CHECK(chunk_bytes <= std::max(row_bytes, kMaxChunkBytes), path, ": ", dataset.name,
               " has chunks of ", shape_text(chunk), ", larger than a row and than 64 MiB");
  const Hdf5Handle space(H5Dget_space(handle), path, "cannot inspect " + dataset.name);
  hsize_t chunks = 0;
  check_hdf5(H5Dget_num_chunks(handle, space.get(), &chunks), path,
             "cannot count the chunks of " + dataset.name);
  std::vector<hsize_t> offset(chunk.size());
  for (hsize_t i = 0; i < chunks; ++i) {
    unsigned filters = 0;
    haddr_t address = 0;
    hsize_t stored = 0;
    check_hdf5(
        H5Dget_chunk_info(handle, space.get(), i, offset.data(), &filters, &address, &stored), path,
        "cannot locate a chunk of " + dataset.name);
    SHARDS_CHECK(static_cast<double>(stored) <= most_stored_bytes(chunk_bytes), path, ": ",
                 dataset.name, " chunk ", i, " is stored in ", stored,
                 " bytes, more than its values take (damaged?)");
    SHARDS_CHECK(filters == 0, path, ": ", dataset.name, " chunk ", i,
                 " skips filters of its dataset (damaged?)");
  }
  return chunk[0];
}

// Decodes every chunk once: datasets of many rows per chunk are small, and are then read by
// HDF5 itself.
void check_chunks_decode(const RowDataset& dataset, hsize_t rows_per_chunk,
                         const std::string& path) {
  const std::size_t chunk_bytes = dataset.row_bytes() * rows_per_chunk;
  const hsize_t rows = dataset.stored_shape(path)[0];
  for (hsize_t first = 0; first < rows; first += rows_per_chunk)
    (void)dataset.decoded_chunk(first, chunk_bytes, path);
}

}  // namespace

RowDataset open_rows(hid_t file, const std::string& name, hid_t expected_type,
                     const std::string& expected_type_name, std::vector<hsize_t> row_dims,
                     const std::string& path) {
  RowDataset dataset;
  dataset.handle =
      Hdf5Handle(H5Dopen2(file, name.c_str(), H5P_DEFAULT), path, "cannot open dataset /" + name);
  dataset.name = "/" + name;
  dataset.row_dims = std::move(row_dims);
  dataset.stored_type =
      Hdf5Handle(H5Dget_type(dataset.handle.get()), path, "cannot inspect /" + name);
  SHARDS_CHECK(same_element_kind(dataset.stored_type.get(), expected_type), path, ": /", name,
               " does not hold ", expected_type_name, " values");
  const Hdf5Handle creation(H5Dget_create_plist(dataset.handle.get()), path,
                            "cannot inspect /" + name);
  if (H5Pget_layout(creation.get()) != H5D_CHUNKED)
    return dataset;  // contiguous (h5py's default): HDF5 reads it from the file as it is
  dataset.filters = readable_filters(creation.get(), dataset, path);
  if (std::any_of(dataset.filters.begin(), dataset.filters.end(),
                  [](const ChunkFilter& filter) { return filter.id == kLz4Filter; }))
    register_lz4_filter(path);  // ours, before HDF5 would look for a plugin
  const hsize_t rows_per_chunk =
      check_chunks(dataset, creation.get(), dataset.stored_type.get(), path);
  if (rows_per_chunk == 1)
    dataset.decodes_rows = true;
  else
    check_chunks_decode(dataset, rows_per_chunk, path);
  return dataset;
}

// The number of rows, after checking that every row has the shape the header implies.
hsize_t checked_rows(const RowDataset& dataset, const std::string& path) {
  const std::vector<hsize_t> stored = dataset.stored_shape(path);
  const std::vector<hsize_t> expected = dataset.shape(0);
  const bool consistent = stored.size() == expected.size() &&
                          std::equal(stored.begin() + 1, stored.end(), expected.begin() + 1);
  SHARDS_CHECK(consistent, path, ": ", dataset.name, " has shape ", shape_text(stored),
               ", expected ", shape_text(expected, "N"),
               " (from the bands and tile_size attributes)");
  return stored[0];
}

namespace {

constexpr int kWindowFields = 4;
using WindowRow = std::array<std::int64_t, kWindowFields>;
// Rows are read into a vector<WindowRow> as one contiguous block of int64.
static_assert(sizeof(WindowRow) == kWindowFields * sizeof(std::int64_t));

}  // namespace

RowDataset create_window_rows(hid_t file, Compression compression, const std::string& path) {
  return create_rows(file, "windows", H5T_NATIVE_INT64, {kWindowFields}, kSmallRowsPerChunk,
                     compression, path);
}

RowDataset open_window_rows(hid_t file, const std::string& path) {
  return open_rows(file, "windows", H5T_NATIVE_INT64, "int64", {kWindowFields}, path);
}

void append_window(RowDataset& windows, hsize_t row, const TileWindow& window,
                   const std::string& path) {
  const WindowRow values = {window.x_off, window.y_off, window.width, window.height};
  windows.append(row, H5T_NATIVE_INT64, values.data(), path);
}

std::vector<TileWindow> read_windows(const RowDataset& windows, hsize_t first, hsize_t count,
                                     const std::string& path) {
  std::vector<WindowRow> rows(count);
  if (count > 0)
    windows.read(first, count, H5T_NATIVE_INT64, rows.data(), path);
  std::vector<TileWindow> result;
  result.reserve(rows.size());
  for (const WindowRow& row : rows)
    result.push_back({row[0], row[1], row[2], row[3]});
  return result;
}

}  // namespace satunet::shards
