#include "shards/shard.hpp"

#include <hdf5.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

#include "common/text.hpp"
#include "shards/hdf5_attributes.hpp"
#include "shards/hdf5_rows.hpp"

namespace satunet::shards {
namespace {

hid_t native_type(PixelType type) {
  switch (type) {
    case PixelType::uint8:
      return H5T_NATIVE_UINT8;
    case PixelType::uint16:
      return H5T_NATIVE_UINT16;
    case PixelType::int16:
      return H5T_NATIVE_INT16;
    case PixelType::uint32:
      return H5T_NATIVE_UINT32;
    case PixelType::int32:
      return H5T_NATIVE_INT32;
    case PixelType::float32:
      return H5T_NATIVE_FLOAT;
    case PixelType::float64:
      return H5T_NATIVE_DOUBLE;
  }
  SATUNET_FAIL_IN("shards", "unhandled pixel type ", static_cast<int>(type));
}

}  // namespace

// ---- pixel types ----

// Without HDF5, so that encoder threads may ask while the writer's thread is in HDF5.
int pixel_type_bytes(PixelType type) {
  switch (type) {
    case PixelType::uint8:
      return 1;
    case PixelType::uint16:
    case PixelType::int16:
      return 2;
    case PixelType::uint32:
    case PixelType::int32:
    case PixelType::float32:
      return 4;
    case PixelType::float64:
      return 8;
  }
  return 0;
}

// ---- writer ----

struct ShardWriter::Impl {
  // Declaration order matters: members are destroyed in reverse, so the datasets close
  // before the file, and the file before PendingFile removes an uncommitted temporary.
  std::string path;
  ShardHeader header;
  PendingFile pending;
  Hdf5Handle file;
  RowDataset images, labels, windows, scene;
  std::int64_t tiles = 0;
  bool committed = false;

  Impl(const std::string& final_path, const ShardHeader& shard_header, Compression compression)
      : path(final_path), header(shard_header), pending(final_path) {
    silence_hdf5_error_printing();
    validate(compression);
    file = create_checksummed_file(pending.temp_path(), path, "cannot create shard");
    write_attributes();
    const hsize_t tile = to_hsize(header.tile_size);
    images = create_rows(file.get(), "images", native_type(header.dtype),
                         {to_hsize(header.bands), tile, tile}, 1, compression, path);
    labels =
        create_rows(file.get(), "labels", H5T_NATIVE_UINT8, {tile, tile}, 1, compression, path);
    windows = create_window_rows(file.get(), compression, path);
    scene = create_rows(file.get(), "scene", H5T_NATIVE_INT32, {}, kSmallRowsPerChunk, compression,
                        path);
  }

  void validate(Compression compression) const {
    SHARDS_CHECK(header.schema_version == kShardSchemaVersion, path,
                 ": cannot write shard schema version ", header.schema_version, ", only ",
                 kShardSchemaVersion);
    SHARDS_CHECK(header.tile_size > 0, path, ": tile size must be positive, got ",
                 header.tile_size);
    SHARDS_CHECK(header.bands > 0, path, ": band count must be positive, got ", header.bands);
    SHARDS_CHECK(header.split == "train" || header.split == "val", path,
                 ": split must be 'train' or 'val', got '", header.split, "'");
    SHARDS_CHECK(header.band_names.empty() ||
                     header.band_names.size() == static_cast<std::size_t>(header.bands),
                 path, ": ", header.band_names.size(), " band names for ", header.bands, " bands");
    check_compression(compression, path);
  }

  void write_attributes() {
    const hid_t root = file.get();
    write_int_attribute(root, "schema_version", kShardSchemaVersion, path);
    write_int_attribute(root, "tile_size", header.tile_size, path);
    write_int_attribute(root, "bands", header.bands, path);
    write_string_attribute(root, "dtype", options::enum_name(header.dtype), path);
    write_string_attribute(root, "split", header.split, path);
    write_string_attribute(root, "class_names", join_names(header.class_names, "class name", path),
                           path);
    write_string_attribute(root, "band_names", join_names(header.band_names, "band name", path),
                           path);
  }
};

ShardWriter::ShardWriter(const std::string& path, const ShardHeader& header,
                         Compression compression)
    : impl_(std::make_unique<Impl>(path, header, compression)) {}

ShardWriter::~ShardWriter() = default;

void ShardWriter::append(const void* image, const std::uint8_t* labels, const TileWindow& window,
                         int scene_index) {
  SHARDS_CHECK(image && labels, impl_->path, ": append needs image and label buffers");
  append_row(window, scene_index, [&](Impl& shard, hsize_t row) {
    shard.images.append(row, native_type(shard.header.dtype), image, shard.path);
    shard.labels.append(row, H5T_NATIVE_UINT8, labels, shard.path);
  });
}

EncodedTile ShardWriter::encode(const ShardHeader& header, Compression compression,
                                const void* image, const std::uint8_t* labels) {
  const auto tile = static_cast<std::size_t>(header.tile_size);
  const auto value_bytes = static_cast<std::size_t>(pixel_type_bytes(header.dtype));
  return {encode_chunk(image, static_cast<std::size_t>(header.bands) * tile * tile * value_bytes,
                       value_bytes, compression),
          encode_chunk(labels, tile * tile, 1, compression)};
}

void ShardWriter::append(const EncodedTile& tile, const TileWindow& window, int scene_index) {
  append_row(window, scene_index, [&](Impl& shard, hsize_t row) {
    shard.images.append_encoded(row, tile.image, shard.path);
    shard.labels.append_encoded(row, tile.labels, shard.path);
  });
}

template <typename WriteTile>
void ShardWriter::append_row(const TileWindow& window, int scene_index, WriteTile write_tile) {
  Impl& shard = *impl_;
  SHARDS_CHECK(!shard.committed, shard.path, ": cannot append to a committed shard");
  SHARDS_CHECK(scene_index >= 0, shard.path, ": negative scene index ", scene_index);
  silence_hdf5_error_printing();
  const auto row = static_cast<hsize_t>(shard.tiles);
  const std::int32_t scene_row = scene_index;
  // A failure part-way leaves some datasets one row longer; commit() trims them to `tiles`.
  write_tile(shard, row);
  append_window(shard.windows, row, window, shard.path);
  shard.scene.append(row, H5T_NATIVE_INT32, &scene_row, shard.path);
  ++shard.tiles;
}

std::int64_t ShardWriter::tiles() const {
  return impl_->tiles;
}

const std::string& ShardWriter::path() const {
  return impl_->path;
}

void ShardWriter::commit() {
  Impl& shard = *impl_;
  SHARDS_CHECK(!shard.committed, shard.path, ": shard already committed");
  silence_hdf5_error_printing();
  const auto tiles = static_cast<hsize_t>(shard.tiles);
  for (RowDataset* dataset : {&shard.images, &shard.labels, &shard.windows, &shard.scene}) {
    dataset->resize(tiles, shard.path);
    dataset->handle.close(shard.path, "cannot close " + dataset->name);
  }
  // The rename must see a complete file: nothing of it may still be open in HDF5.
  const ssize_t open_objects = H5Fget_obj_count(shard.file.get(), H5F_OBJ_ALL | H5F_OBJ_LOCAL);
  SHARDS_CHECK(open_objects == 1, shard.path, ": ", open_objects - 1,
               " HDF5 objects still open at commit");
  shard.file.close(shard.path, "cannot close shard");
  shard.pending.commit();
  shard.committed = true;
}

// ---- reader ----

struct ShardReader::Impl {
  std::string path;
  Hdf5Handle file;  // declared before the datasets, so it is closed after them
  ShardHeader header;
  RowDataset images, labels, windows, scene;
  Hdf5Handle float_transfer;  // conversion buffer sized for one whole tile
  std::int64_t tiles = 0;

  explicit Impl(const std::string& shard_path) : path(shard_path) {
    silence_hdf5_error_printing();
    // HDF5's own message for this case is a paragraph of flags; say it plainly.
    SHARDS_CHECK(file_exists(path), path, ": cannot open shard: no such file");
    file =
        Hdf5Handle(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), path, "cannot open shard");
    read_header();
    open_datasets();
    float_transfer = make_float_transfer();
  }

  // HDF5 converts types through a 1 MiB buffer by default, in several passes for bigger
  // tiles; a buffer of one whole tile converts it in one.
  Hdf5Handle make_float_transfer() const {
    Hdf5Handle transfer(H5Pcreate(H5P_DATASET_XFER), path, "cannot create a transfer list");
    const auto value_bytes = static_cast<std::size_t>(
        std::max(static_cast<int>(sizeof(float)), pixel_type_bytes(header.dtype)));
    check_hdf5(H5Pset_buffer(transfer.get(), image_values() * value_bytes, nullptr, nullptr), path,
               "cannot size the conversion buffer");
    return transfer;
  }

  void read_header() {
    const hid_t root = file.get();
    const int has_version = check_hdf5(H5Aexists(root, "schema_version"), path,
                                       "cannot look for attribute schema_version");
    SHARDS_CHECK(has_version > 0, path, ": not a satunet shard (no schema_version attribute)");
    header.schema_version = read_int_attribute(root, "schema_version", path);
    SHARDS_CHECK(header.schema_version == kShardSchemaVersion, path, ": shard schema version ",
                 header.schema_version, ", expected ", kShardSchemaVersion);
    header.tile_size = read_int_attribute(root, "tile_size", path);
    header.bands = read_int_attribute(root, "bands", path);
    SHARDS_CHECK(header.tile_size > 0 && header.tile_size <= kMaxTileSize && header.bands > 0 &&
                     header.bands <= kMaxBands,
                 path, ": invalid tile_size ", header.tile_size, " or bands ", header.bands,
                 " (at most ", kMaxTileSize, " px and ", kMaxBands, " bands)");
    SHARDS_CHECK(std::int64_t{header.tile_size} * header.tile_size * header.bands <= kMaxTileValues,
                 path, ": tiles of ", header.tile_size, " px in ", header.bands,
                 " bands hold more than the ", kMaxTileValues, " values a tile may hold");
    const std::string dtype = read_string_attribute(root, "dtype", path);
    try {
      header.dtype = options::parse_enum<PixelType>(dtype, "dtype");
    } catch (const UsageError& error) {
      throw Error(path + ": attribute " + error.what());
    }
    header.split = read_string_attribute(root, "split", path);
    header.class_names = split_names(read_string_attribute(root, "class_names", path));
    header.band_names = split_names(read_string_attribute(root, "band_names", path));
  }

  void open_datasets() {
    const hid_t root = file.get();
    const hsize_t tile = to_hsize(header.tile_size);
    images = open_rows(root, "images", native_type(header.dtype), options::enum_name(header.dtype),
                       {to_hsize(header.bands), tile, tile}, path);
    labels = open_rows(root, "labels", H5T_NATIVE_UINT8, "uint8", {tile, tile}, path);
    windows = open_window_rows(root, path);
    scene = open_rows(root, "scene", H5T_NATIVE_INT32, "int32", {}, path);
    const hsize_t rows = checked_rows(images, path);
    for (const RowDataset* dataset : {&labels, &windows, &scene}) {
      const hsize_t dataset_rows = checked_rows(*dataset, path);
      SHARDS_CHECK(dataset_rows == rows, path, ": ", dataset->name, " has ", dataset_rows,
                   " tiles but /images has ", rows);
    }
    tiles = static_cast<std::int64_t>(rows);
  }

  std::size_t image_values() const {
    const auto tile = static_cast<std::size_t>(header.tile_size);
    return static_cast<std::size_t>(header.bands) * tile * tile;
  }

  hsize_t checked_index(std::int64_t index) const {
    SHARDS_CHECK(index >= 0 && index < tiles, path, ": tile ", index, " out of range (", tiles,
                 " tiles)");
    return static_cast<hsize_t>(index);
  }
};

ShardReader::ShardReader(const std::string& path) : impl_(std::make_unique<Impl>(path)) {}
ShardReader::~ShardReader() = default;
ShardReader::ShardReader(ShardReader&& other) noexcept = default;
ShardReader& ShardReader::operator=(ShardReader&& other) noexcept = default;

const ShardHeader& ShardReader::header() const {
  return impl_->header;
}

std::int64_t ShardReader::tiles() const {
  return impl_->tiles;
}

const std::string& ShardReader::path() const {
  return impl_->path;
}

void ShardReader::read_image(std::int64_t index, void* image) const {
  silence_hdf5_error_printing();
  impl_->images.read(impl_->checked_index(index), 1, native_type(impl_->header.dtype), image,
                     impl_->path);
}

void ShardReader::read_labels(std::int64_t index, std::uint8_t* labels) const {
  silence_hdf5_error_printing();
  impl_->labels.read(impl_->checked_index(index), 1, H5T_NATIVE_UINT8, labels, impl_->path);
}

void ShardReader::read_image_as_float(std::int64_t index, float* image) const {
  silence_hdf5_error_printing();
  impl_->images.read(impl_->checked_index(index), 1, H5T_NATIVE_FLOAT, image, impl_->path,
                     impl_->float_transfer.get());
}

TileWindow ShardReader::window(std::int64_t index) const {
  silence_hdf5_error_printing();
  return read_windows(impl_->windows, impl_->checked_index(index), 1, impl_->path).front();
}

int ShardReader::scene(std::int64_t index) const {
  silence_hdf5_error_printing();
  std::int32_t value = 0;
  impl_->scene.read(impl_->checked_index(index), 1, H5T_NATIVE_INT32, &value, impl_->path);
  return value;
}

std::vector<TileWindow> ShardReader::windows() const {
  silence_hdf5_error_printing();
  return read_windows(impl_->windows, 0, static_cast<hsize_t>(impl_->tiles), impl_->path);
}

std::vector<int> ShardReader::scenes() const {
  silence_hdf5_error_printing();
  const auto count = static_cast<std::size_t>(impl_->tiles);
  std::vector<std::int32_t> values(count);
  if (count > 0)
    impl_->scene.read(0, count, H5T_NATIVE_INT32, values.data(), impl_->path);
  return {values.begin(), values.end()};
}

}  // namespace satunet::shards
