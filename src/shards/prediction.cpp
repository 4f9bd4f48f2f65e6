#include "shards/prediction.hpp"

#include <hdf5.h>

#include <cstring>

#include "shards/hdf5_attributes.hpp"
#include "shards/hdf5_rows.hpp"

namespace satunet::shards {
namespace {

const char* const kPredictionKind = "satunet prediction";

// HDF5 1.10 has no predefined half type; this is the one h5py uses, so numpy reads it as f2.
Hdf5Handle half_type(const std::string& path) {
  Hdf5Handle type(H5Tcopy(H5T_IEEE_F32LE), path, "cannot create a float16 type");
  check_hdf5(H5Tset_fields(type.get(), 15, 10, 5, 0, 10), path, "cannot create a float16 type");
  check_hdf5(H5Tset_size(type.get(), 2), path, "cannot create a float16 type");
  check_hdf5(H5Tset_ebias(type.get(), 15), path, "cannot create a float16 type");
  return type;
}

std::vector<hsize_t> probability_row(const PredictionHeader& header) {
  const hsize_t tile = to_hsize(header.tile_size);
  return {to_hsize(header.classes()), tile, tile};
}

std::size_t probability_values(const PredictionHeader& header) {
  const auto tile = static_cast<std::size_t>(header.tile_size);
  return static_cast<std::size_t>(header.classes()) * tile * tile;
}

}  // namespace

std::uint16_t float_to_half(float value) {
  std::uint32_t bits = 0;
  std::memcpy(&bits, &value, sizeof bits);
  const auto sign = static_cast<std::uint16_t>((bits >> 16) & 0x8000u);
  const std::uint32_t magnitude = bits & 0x7fffffffu;
  if (magnitude >= 0x7f800000u)  // infinity or NaN
    return static_cast<std::uint16_t>(sign | 0x7c00u | (magnitude > 0x7f800000u ? 0x200u : 0u));
  if (magnitude >= 0x477ff000u)  // rounds past the largest half
    return static_cast<std::uint16_t>(sign | 0x7c00u);
  if (magnitude < 0x38800000u) {  // a subnormal half (or zero)
    float absolute = 0;
    std::memcpy(&absolute, &magnitude, sizeof absolute);
    // 2^-24 is the smallest subnormal; adding 0.5 lets the float unit round to nearest even.
    const float scaled = absolute * 16777216.0f + 8388608.0f;
    std::uint32_t scaled_bits = 0;
    std::memcpy(&scaled_bits, &scaled, sizeof scaled_bits);
    return static_cast<std::uint16_t>(sign | (scaled_bits - 0x4b000000u));
  }
  // Rebias the exponent and round the mantissa to nearest, ties to even.
  const std::uint32_t odd = (magnitude >> 13) & 1u;
  const std::uint32_t rounded = magnitude + 0xc8000fffu + odd;  // (-112 << 23) + 0xfff + odd
  return static_cast<std::uint16_t>(sign | (rounded >> 13));
}

float half_to_float(std::uint16_t half) {
  const std::uint32_t sign = static_cast<std::uint32_t>(half & 0x8000u) << 16;
  const std::uint32_t exponent = (half >> 10) & 0x1fu;
  const std::uint32_t mantissa = half & 0x3ffu;
  std::uint32_t bits = 0;
  if (exponent == 0) {
    const float value = static_cast<float>(mantissa) * 5.9604644775390625e-8f;  // 2^-24
    std::memcpy(&bits, &value, sizeof bits);
    bits |= sign;
  } else if (exponent == 31) {
    bits = sign | 0x7f800000u | (mantissa << 13);
  } else {
    bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
  }
  float result = 0;
  std::memcpy(&result, &bits, sizeof result);
  return result;
}

// ---- writer ----

struct PredictionWriter::Impl {
  // Declaration order: datasets close before the file, the file before PendingFile cleans up.
  std::string path;
  PredictionHeader header;
  Compression compression;
  PendingFile pending;
  Hdf5Handle file;
  Hdf5Handle probability_type;
  RowDataset probabilities, valid, windows, index;
  std::int64_t rows = 0;
  bool committed = false;

  Impl(const std::string& final_path, const PredictionHeader& prediction_header,
       Compression chunk_compression)
      : path(final_path),
        header(prediction_header),
        compression(chunk_compression),
        pending(final_path) {
    silence_hdf5_error_printing();
    SHARDS_CHECK(header.tile_size > 0 && header.classes() > 0, path,
                 ": a prediction needs a positive tile size and classes");
    check_compression(compression, path);
    file = create_checksummed_file(pending.temp_path(), path, "cannot create prediction shard");
    write_attributes();
    const hsize_t tile = to_hsize(header.tile_size);
    probability_type = header.encoding == ProbabilityEncoding::uint8
                           ? Hdf5Handle(H5Tcopy(H5T_NATIVE_UINT8), path, "cannot copy a type")
                           : half_type(path);
    probabilities = create_rows(file.get(), "probabilities", probability_type.get(),
                                probability_row(header), 1, compression, path);
    valid = create_rows(file.get(), "valid", H5T_NATIVE_UINT8, {tile, tile}, 1, compression, path);
    windows = create_window_rows(file.get(), compression, path);
    index = create_rows(file.get(), "index", H5T_NATIVE_INT64, {}, kSmallRowsPerChunk, compression,
                        path);
  }

  void write_attributes() {
    const hid_t root = file.get();
    write_string_attribute(root, "kind", kPredictionKind, path);
    write_int_attribute(root, "schema_version", kPredictionSchemaVersion, path);
    write_int_attribute(root, "tile_size", header.tile_size, path);
    write_int_attribute(root, "overlap", header.overlap, path);
    write_doubles_attribute(root, "windows_total", {static_cast<double>(header.windows_total)},
                            path);
    write_int_attribute(root, "rank", header.rank, path);
    write_int_attribute(root, "ranks", header.ranks, path);
    write_string_attribute(root, "encoding", options::enum_name(header.encoding), path);
    write_string_attribute(root, "blend", options::enum_name(header.blend), path);
    write_string_attribute(root, "tta", options::enum_name(header.tta), path);
    write_string_attribute(root, "class_names", join_names(header.class_names, "class name", path),
                           path);
    write_string_attribute(root, "scene", header.scene, path);
    write_doubles_attribute(
        root, "scene_size",
        {static_cast<double>(header.scene_width), static_cast<double>(header.scene_height)}, path);
    write_string_attribute(root, "crs_wkt", header.crs_wkt, path);
    write_doubles_attribute(root, "geotransform",
                            {header.geotransform.begin(), header.geotransform.end()}, path);
    write_string_attribute(root, "checkpoint", header.checkpoint, path);
  }
};

PredictionWriter::PredictionWriter(const std::string& path, const PredictionHeader& header,
                                   Compression compression)
    : impl_(std::make_unique<Impl>(path, header, compression)) {}

PredictionWriter::~PredictionWriter() = default;

void PredictionWriter::append(std::int64_t index, const TileWindow& window,
                              const void* probabilities, const std::uint8_t* valid) {
  append_row(index, window, [&](Impl& shard, hsize_t row) {
    shard.probabilities.append(row, shard.probability_type.get(), probabilities, shard.path);
    shard.valid.append(row, H5T_NATIVE_UINT8, valid, shard.path);
  });
}

EncodedWindow PredictionWriter::encode(const void* probabilities, const std::uint8_t* valid) const {
  const PredictionHeader& header = impl_->header;
  const auto plane =
      static_cast<std::size_t>(header.tile_size) * static_cast<std::size_t>(header.tile_size);
  const std::size_t value_bytes = header.encoding == ProbabilityEncoding::uint8 ? 1 : 2;
  return {encode_chunk(probabilities, probability_values(header) * value_bytes, value_bytes,
                       impl_->compression),
          encode_chunk(valid, plane, 1, impl_->compression)};
}

void PredictionWriter::append(std::int64_t index, const TileWindow& window,
                              const EncodedWindow& encoded) {
  append_row(index, window, [&](Impl& shard, hsize_t row) {
    shard.probabilities.append_encoded(row, encoded.probabilities, shard.path);
    shard.valid.append_encoded(row, encoded.valid, shard.path);
  });
}

template <typename WriteWindow>
void PredictionWriter::append_row(std::int64_t index, const TileWindow& window,
                                  WriteWindow write_window) {
  Impl& shard = *impl_;
  SHARDS_CHECK(!shard.committed, shard.path, ": cannot append to a committed shard");
  silence_hdf5_error_printing();
  const auto row = static_cast<hsize_t>(shard.rows);
  // A failure part-way leaves some datasets one row longer; commit() trims them to `rows`.
  write_window(shard, row);
  append_window(shard.windows, row, window, shard.path);
  shard.index.append(row, H5T_NATIVE_INT64, &index, shard.path);
  ++shard.rows;
}

std::int64_t PredictionWriter::windows() const {
  return impl_->rows;
}

void PredictionWriter::commit() {
  Impl& shard = *impl_;
  SHARDS_CHECK(!shard.committed, shard.path, ": shard already committed");
  silence_hdf5_error_printing();
  const auto rows = static_cast<hsize_t>(shard.rows);
  for (RowDataset* dataset : {&shard.probabilities, &shard.valid, &shard.windows, &shard.index}) {
    dataset->resize(rows, shard.path);  // a failed append may have left one row more
    dataset->close(shard.path);
  }
  shard.probability_type.close(shard.path, "cannot close the probability type");
  shard.file.close(shard.path, "cannot close prediction shard");
  shard.pending.commit();
  shard.committed = true;
}

// ---- reader ----

struct PredictionReader::Impl {
  std::string path;
  Hdf5Handle file;
  PredictionHeader header;
  Hdf5Handle probability_type;
  RowDataset probabilities, valid, windows, index;
  std::int64_t rows = 0;
  mutable std::vector<std::uint8_t> raw;  // one window as stored

  explicit Impl(const std::string& shard_path) : path(shard_path) {
    silence_hdf5_error_printing();
    SHARDS_CHECK(file_exists(path), path, ": cannot open prediction shard: no such file");
    file = Hdf5Handle(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), path,
                      "cannot open prediction shard");
    read_header();
    open_datasets();
  }

  void read_header() {
    const hid_t root = file.get();
    SHARDS_CHECK(has_attribute(root, "kind", path) &&
                     read_string_attribute(root, "kind", path) == kPredictionKind,
                 path, ": not a satunet prediction shard");
    header.schema_version = read_int_attribute(root, "schema_version", path);
    SHARDS_CHECK(header.schema_version == kPredictionSchemaVersion, path,
                 ": prediction schema version ", header.schema_version, ", expected ",
                 kPredictionSchemaVersion);
    header.tile_size = read_int_attribute(root, "tile_size", path);
    header.overlap = read_int_attribute(root, "overlap", path);
    header.windows_total =
        static_cast<std::int64_t>(read_doubles_attribute(root, "windows_total", path).at(0));
    header.rank = read_int_attribute(root, "rank", path);
    header.ranks = read_int_attribute(root, "ranks", path);
    header.encoding = read_enum_attribute<ProbabilityEncoding>(root, "encoding");
    header.blend = read_enum_attribute<Blend>(root, "blend");
    if (has_attribute(root, "tta", path))
      header.tta = read_enum_attribute<Tta>(root, "tta");
    header.class_names = split_names(read_string_attribute(root, "class_names", path));
    header.scene = read_string_attribute(root, "scene", path);
    const std::vector<double> size = read_doubles_attribute(root, "scene_size", path);
    SHARDS_CHECK(size.size() == 2, path, ": attribute scene_size holds ", size.size(),
                 " values, expected 2");
    header.scene_width = static_cast<std::int64_t>(size[0]);
    header.scene_height = static_cast<std::int64_t>(size[1]);
    header.crs_wkt = read_string_attribute(root, "crs_wkt", path);
    const std::vector<double> transform = read_doubles_attribute(root, "geotransform", path);
    SHARDS_CHECK(transform.size() == 6, path, ": attribute geotransform holds ", transform.size(),
                 " values, expected 6");
    std::copy(transform.begin(), transform.end(), header.geotransform.begin());
    header.checkpoint = read_string_attribute(root, "checkpoint", path);
    SHARDS_CHECK(header.tile_size > 0 && header.tile_size <= kMaxTileSize && header.classes() > 0 &&
                     header.classes() <= 255 && header.scene_width > 0 && header.scene_height > 0,
                 path, ": invalid tile size, classes or scene size (at most ", kMaxTileSize,
                 " px windows and 255 classes)");
    SHARDS_CHECK(
        std::int64_t{header.tile_size} * header.tile_size * header.classes() <= kMaxTileValues,
        path, ": windows of ", header.tile_size, " px of ", header.classes(),
        " classes hold more than the ", kMaxTileValues, " values a window may hold");
  }

  template <typename E>
  E read_enum_attribute(hid_t root, const char* name) const {
    try {
      return options::parse_enum<E>(read_string_attribute(root, name, path), name);
    } catch (const UsageError& error) {
      throw Error(path + ": attribute " + error.what());
    }
  }

  void open_datasets() {
    const hid_t root = file.get();
    const hsize_t tile = to_hsize(header.tile_size);
    const bool bytes = header.encoding == ProbabilityEncoding::uint8;
    probability_type =
        bytes ? Hdf5Handle(H5Tcopy(H5T_NATIVE_UINT8), path, "cannot copy a type") : half_type(path);
    probabilities = open_rows(root, "probabilities", probability_type.get(),
                              bytes ? "uint8" : "float16", probability_row(header), path);
    valid = open_rows(root, "valid", H5T_NATIVE_UINT8, "uint8", {tile, tile}, path);
    windows = open_window_rows(root, path);
    index = open_rows(root, "index", H5T_NATIVE_INT64, "int64", {}, path);
    const hsize_t count = checked_rows(probabilities, path);
    for (const RowDataset* dataset : {&valid, &windows, &index}) {
      const hsize_t dataset_rows = checked_rows(*dataset, path);
      SHARDS_CHECK(dataset_rows == count, path, ": ", dataset->name, " has ", dataset_rows,
                   " rows but /probabilities has ", count);
    }
    rows = static_cast<std::int64_t>(count);
  }
};

PredictionReader::PredictionReader(const std::string& path) : impl_(std::make_unique<Impl>(path)) {}
PredictionReader::~PredictionReader() = default;
PredictionReader::PredictionReader(PredictionReader&&) noexcept = default;
PredictionReader& PredictionReader::operator=(PredictionReader&&) noexcept = default;

const PredictionHeader& PredictionReader::header() const {
  return impl_->header;
}

const std::string& PredictionReader::path() const {
  return impl_->path;
}

std::int64_t PredictionReader::windows() const {
  return impl_->rows;
}

std::vector<TileWindow> PredictionReader::window_rows() const {
  silence_hdf5_error_printing();
  return read_windows(impl_->windows, 0, static_cast<hsize_t>(impl_->rows), impl_->path);
}

std::vector<std::int64_t> PredictionReader::indices() const {
  silence_hdf5_error_printing();
  std::vector<std::int64_t> values(static_cast<std::size_t>(impl_->rows));
  if (!values.empty())
    impl_->index.read(0, values.size(), H5T_NATIVE_INT64, values.data(), impl_->path);
  return values;
}

void PredictionReader::read(std::int64_t row, float* probabilities, std::uint8_t* valid) const {
  const Impl& shard = *impl_;
  const std::size_t values = probability_values(shard.header);
  const bool bytes = shard.header.encoding == ProbabilityEncoding::uint8;
  shard.raw.resize(values * (bytes ? 1 : 2));
  read_stored(row, shard.raw.data(), valid);
  if (bytes) {
    for (std::size_t i = 0; i < values; ++i)
      probabilities[i] = uint8_probability(shard.raw[i]);
  } else {
    const auto* halves = reinterpret_cast<const std::uint16_t*>(shard.raw.data());
    for (std::size_t i = 0; i < values; ++i)
      probabilities[i] = half_to_float(halves[i]);
  }
}

void PredictionReader::read_stored(std::int64_t row, void* probabilities,
                                   std::uint8_t* valid) const {
  const Impl& shard = *impl_;
  SHARDS_CHECK(row >= 0 && row < shard.rows, shard.path, ": window row ", row, " out of range (",
               shard.rows, ")");
  silence_hdf5_error_printing();
  const auto h5_row = static_cast<hsize_t>(row);
  shard.probabilities.read(h5_row, 1, shard.probability_type.get(), probabilities, shard.path);
  shard.valid.read(h5_row, 1, H5T_NATIVE_UINT8, valid, shard.path);
}

}  // namespace satunet::shards
