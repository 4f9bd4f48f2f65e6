#include <gtest/gtest.h>
#include <hdf5.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <vector>

#include "common/error.hpp"
#include "geo/srs.hpp"
#include "shards/chunk_codecs.hpp"
#include "shards/hdf5_attributes.hpp"
#include "shards/hdf5_handle.hpp"
#include "shards/hdf5_rows.hpp"
#include "shards/manifest.hpp"
#include "shards/prediction.hpp"
#include "shards/shard.hpp"
#include "test_support.hpp"

namespace satunet::shards {
namespace {
namespace fs = std::filesystem;

constexpr int kTile = 16;
constexpr int kBands = 3;
constexpr std::size_t kImageValues = kBands * kTile * kTile;
constexpr std::size_t kLabelValues = kTile * kTile;

ShardHeader make_header(PixelType dtype) {
  ShardHeader header;
  header.tile_size = kTile;
  header.bands = kBands;
  header.dtype = dtype;
  header.split = "val";
  header.class_names = {"background", "road", "building"};
  header.band_names = {"red", "green", "blue"};
  return header;
}

// Values spread over T's whole range (extremes included), different in every tile.
template <typename T>
std::vector<T> tile_image(int tile) {
  std::vector<T> values(kImageValues);
  for (std::size_t i = 0; i < values.size(); ++i) {
    if constexpr (std::is_floating_point_v<T>)
      values[i] = static_cast<T>((static_cast<double>(i) - 300.0) * 0.37 + tile * 1000.5);
    else
      values[i] = static_cast<T>(i * 2654435761u + static_cast<unsigned>(tile) * 977u);
  }
  values[0] = std::numeric_limits<T>::lowest();
  values[1] = std::numeric_limits<T>::max();
  return values;
}

std::vector<std::uint8_t> tile_labels(int tile) {
  std::vector<std::uint8_t> labels(kLabelValues);
  for (std::size_t i = 0; i < labels.size(); ++i)
    labels[i] = static_cast<std::uint8_t>((i + tile) % 3);
  labels[5] = 255;  // ignore
  return labels;
}

TileWindow tile_window(int tile) {
  return {tile * 12, 5'000'000'000LL + tile, kTile, kTile};
}

int tile_scene(int tile) {
  return 7 * tile + 1;
}

// Tiles go through HDF5's filters, or are encoded beforehand (`pre_encoded`, as the tiler's
// encoder threads do).
template <typename T>
std::string write_shard(const std::string& path, PixelType dtype, int tiles,
                        Compression compression = Compression::deflate(6),
                        bool pre_encoded = false) {
  ShardWriter writer(path, make_header(dtype), compression);
  for (int tile = 0; tile < tiles; ++tile) {
    const std::vector<T> image = tile_image<T>(tile);
    const std::vector<std::uint8_t> labels = tile_labels(tile);
    if (pre_encoded)
      writer.append(
          ShardWriter::encode(make_header(dtype), compression, image.data(), labels.data()),
          tile_window(tile), tile_scene(tile));
    else
      writer.append(image.data(), labels.data(), tile_window(tile), tile_scene(tile));
  }
  EXPECT_EQ(writer.tiles(), tiles);
  writer.commit();
  return path;
}

void expect_same_window(const TileWindow& actual, const TileWindow& expected) {
  EXPECT_EQ(actual.x_off, expected.x_off);
  EXPECT_EQ(actual.y_off, expected.y_off);
  EXPECT_EQ(actual.width, expected.width);
  EXPECT_EQ(actual.height, expected.height);
}

void expect_same_header(const ShardHeader& actual, const ShardHeader& expected) {
  EXPECT_EQ(actual.schema_version, kShardSchemaVersion);
  EXPECT_EQ(actual.tile_size, expected.tile_size);
  EXPECT_EQ(actual.bands, expected.bands);
  EXPECT_EQ(actual.dtype, expected.dtype);
  EXPECT_EQ(actual.split, expected.split);
  EXPECT_EQ(actual.class_names, expected.class_names);
  EXPECT_EQ(actual.band_names, expected.band_names);
}

template <typename T>
void expect_round_trip(PixelType dtype, Compression compression) {
  const std::string dir = test::fresh_directory("shards");
  const int tiles = 3;
  const std::string path = write_shard<T>(dir + "/0-1.h5", dtype, tiles, compression);

  const ShardReader reader(path);
  EXPECT_EQ(reader.path(), path);
  expect_same_header(reader.header(), make_header(dtype));
  ASSERT_EQ(reader.tiles(), tiles);
  std::vector<T> image(kImageValues);
  std::vector<float> as_float(kImageValues);
  std::vector<std::uint8_t> labels(kLabelValues);
  // Backwards, so that nothing depends on reading in write order.
  for (int tile = tiles - 1; tile >= 0; --tile) {
    SCOPED_TRACE("tile " + std::to_string(tile));
    const std::vector<T> expected = tile_image<T>(tile);
    reader.read_image(tile, image.data());
    EXPECT_EQ(image, expected);
    reader.read_image_as_float(tile, as_float.data());
    for (std::size_t i = 0; i < kImageValues; ++i)
      ASSERT_EQ(as_float[i], static_cast<float>(expected[i])) << "value " << i;
    reader.read_labels(tile, labels.data());
    EXPECT_EQ(labels, tile_labels(tile));
    expect_same_window(reader.window(tile), tile_window(tile));
    EXPECT_EQ(reader.scene(tile), tile_scene(tile));
  }
  const std::vector<TileWindow> windows = reader.windows();
  ASSERT_EQ(windows.size(), static_cast<std::size_t>(tiles));
  for (int tile = 0; tile < tiles; ++tile)
    expect_same_window(windows[tile], tile_window(tile));
  EXPECT_EQ(reader.scenes(), (std::vector<int>{tile_scene(0), tile_scene(1), tile_scene(2)}));
}

using test::expect_error;

std::vector<std::string> directory_entries(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir))
    names.push_back(entry.path().filename().string());
  return names;
}

// Direct HDF5 access, for the properties the shard API does not expose and for files it
// would refuse to write.
Hdf5Handle open_file(const std::string& path, unsigned flags = H5F_ACC_RDONLY) {
  return Hdf5Handle(H5Fopen(path.c_str(), flags, H5P_DEFAULT), path, "test: open");
}

std::vector<hsize_t> chunk_dims(const std::string& path, const char* dataset_name) {
  const Hdf5Handle file = open_file(path);
  const Hdf5Handle dataset(H5Dopen2(file.get(), dataset_name, H5P_DEFAULT), path, "test: dataset");
  const Hdf5Handle creation(H5Dget_create_plist(dataset.get()), path, "test: plist");
  EXPECT_EQ(H5Pget_layout(creation.get()), H5D_CHUNKED);
  std::vector<hsize_t> dims(8);
  const int rank = H5Pget_chunk(creation.get(), static_cast<int>(dims.size()), dims.data());
  dims.resize(rank > 0 ? static_cast<std::size_t>(rank) : 0);
  return dims;
}

int filter_count(const std::string& path, const char* dataset_name) {
  const Hdf5Handle file = open_file(path);
  const Hdf5Handle dataset(H5Dopen2(file.get(), dataset_name, H5P_DEFAULT), path, "test: dataset");
  const Hdf5Handle creation(H5Dget_create_plist(dataset.get()), path, "test: plist");
  return H5Pget_nfilters(creation.get());
}

void replace_int_attribute(const std::string& path, const char* name, int value) {
  const Hdf5Handle file = open_file(path, H5F_ACC_RDWR);
  if (H5Aexists(file.get(), name) > 0) {
    ASSERT_GE(H5Adelete(file.get(), name), 0);
  }
  const Hdf5Handle space(H5Screate(H5S_SCALAR), path, "test: space");
  const Hdf5Handle attribute(
      H5Acreate2(file.get(), name, H5T_STD_I32LE, space.get(), H5P_DEFAULT, H5P_DEFAULT), path,
      "test: attribute");
  ASSERT_GE(H5Awrite(attribute.get(), H5T_NATIVE_INT, &value), 0);
}

// As h5py writes a Python str: a variable-length string.
void replace_with_variable_length_string(const std::string& path, const char* name,
                                         const char* value) {
  const Hdf5Handle file = open_file(path, H5F_ACC_RDWR);
  ASSERT_GE(H5Adelete(file.get(), name), 0);
  const Hdf5Handle type(H5Tcopy(H5T_C_S1), path, "test: type");
  ASSERT_GE(H5Tset_size(type.get(), H5T_VARIABLE), 0);
  const Hdf5Handle space(H5Screate(H5S_SCALAR), path, "test: space");
  const Hdf5Handle attribute(
      H5Acreate2(file.get(), name, type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), path,
      "test: attribute");
  ASSERT_GE(H5Awrite(attribute.get(), type.get(), &value), 0);
}

TEST(Shards, PixelTypeNamesAndSizes) {
  auto parse = [](const std::string& name) {
    return options::parse_enum<PixelType>(name, "dtype");
  };
  EXPECT_EQ(parse("uint8"), PixelType::uint8);
  EXPECT_EQ(parse("float64"), PixelType::float64);
  EXPECT_EQ(options::enum_name(PixelType::int16), "int16");
  EXPECT_EQ(pixel_type_bytes(PixelType::uint8), 1);
  EXPECT_EQ(pixel_type_bytes(PixelType::uint16), 2);
  EXPECT_EQ(pixel_type_bytes(PixelType::int32), 4);
  EXPECT_EQ(pixel_type_bytes(PixelType::float32), 4);
  EXPECT_EQ(pixel_type_bytes(PixelType::float64), 8);
  for (PixelType type : {PixelType::uint8, PixelType::uint16, PixelType::int16, PixelType::uint32,
                         PixelType::int32, PixelType::float32, PixelType::float64})
    EXPECT_EQ(parse(options::enum_name(type)), type);
  EXPECT_THROW(parse("complex64"), UsageError);
}

TEST(Shards, RoundTripUint8) {
  expect_round_trip<std::uint8_t>(PixelType::uint8, Compression::deflate(6));
}

TEST(Shards, RoundTripUint16) {
  expect_round_trip<std::uint16_t>(PixelType::uint16, Compression::deflate(6));
}

TEST(Shards, RoundTripUint16Lz4) {
  expect_round_trip<std::uint16_t>(PixelType::uint16, Compression::lz4());
}

TEST(Shards, RoundTripFloat64Lz4) {
  expect_round_trip<double>(PixelType::float64, Compression::lz4());
}

TEST(Shards, RoundTripFloat32) {
  expect_round_trip<float>(PixelType::float32, Compression::deflate(6));
}

TEST(Shards, RoundTripInt16Uncompressed) {
  expect_round_trip<std::int16_t>(PixelType::int16, Compression::none());
}

TEST(Shards, EmptyShardRoundTrips) {
  const std::string path = test::fresh_directory("shards") + "/empty.h5";
  write_shard<std::uint8_t>(path, PixelType::uint8, 0);
  const ShardReader reader(path);
  EXPECT_EQ(reader.tiles(), 0);
  EXPECT_TRUE(reader.windows().empty());
  EXPECT_TRUE(reader.scenes().empty());
  expect_same_header(reader.header(), make_header(PixelType::uint8));
}

TEST(Shards, EmptyNameListsRoundTrip) {
  const std::string path = test::fresh_directory("shards") + "/0-1.h5";
  ShardHeader header = make_header(PixelType::uint8);
  header.class_names.clear();
  header.band_names.clear();
  ShardWriter writer(path, header, Compression::none());
  writer.commit();
  expect_same_header(ShardReader(path).header(), header);
}

TEST(Shards, CompressionShrinksCompressibleDataAndKeepsValues) {
  const std::string dir = test::fresh_directory("shards");
  std::vector<std::uint16_t> image(kImageValues);
  for (std::size_t i = 0; i < image.size(); ++i)
    image[i] = static_cast<std::uint16_t>(1000 + i / 64);  // smooth, like real imagery
  const std::vector<std::uint8_t> labels(kLabelValues, 1);
  std::vector<std::uintmax_t> sizes;
  for (Compression compression :
       {Compression::none(), Compression::deflate(6), Compression::lz4()}) {
    const std::string path = dir + "/level-" + show(compression) + ".h5";
    ShardWriter writer(path, make_header(PixelType::uint16), compression);
    for (int tile = 0; tile < 8; ++tile)
      writer.append(image.data(), labels.data(), tile_window(tile), 0);
    writer.commit();
    const ShardReader reader(path);
    ASSERT_EQ(reader.tiles(), 8);
    std::vector<std::uint16_t> read(kImageValues);
    reader.read_image(7, read.data());
    EXPECT_EQ(read, image);
    // A checksum always; shuffle and the codec when compressed.
    EXPECT_EQ(filter_count(path, "images"), compression.compresses() ? 3 : 1);
    sizes.push_back(fs::file_size(path));
  }
  EXPECT_LT(sizes[1], sizes[0] / 2) << "uncompressed " << sizes[0] << " B, level 6 " << sizes[1];
  EXPECT_LT(sizes[2], sizes[0] / 2) << "uncompressed " << sizes[0] << " B, lz4 " << sizes[2];
}

TEST(Shards, OneChunkPerTile) {
  const std::string path = test::fresh_directory("shards") + "/0-1.h5";
  write_shard<std::uint16_t>(path, PixelType::uint16, 2);
  using Dims = std::vector<hsize_t>;
  EXPECT_EQ(chunk_dims(path, "images"), (Dims{1, kBands, kTile, kTile}));
  EXPECT_EQ(chunk_dims(path, "labels"), (Dims{1, kTile, kTile}));
  EXPECT_EQ(chunk_dims(path, "windows"), (Dims{256, 4}));
  EXPECT_EQ(chunk_dims(path, "scene"), (Dims{256}));
}

TEST(Shards, FileAppearsOnlyAtCommit) {
  const std::string dir = test::fresh_directory("shards");
  const std::string path = dir + "/0-1.h5";
  ShardWriter writer(path, make_header(PixelType::uint8), Compression::deflate(6));
  const std::vector<std::uint8_t> image = tile_image<std::uint8_t>(0);
  const std::vector<std::uint8_t> labels = tile_labels(0);
  writer.append(image.data(), labels.data(), tile_window(0), 0);
  EXPECT_FALSE(fs::exists(path));
  writer.commit();
  EXPECT_TRUE(fs::exists(path));
  EXPECT_EQ(directory_entries(dir), std::vector<std::string>{"0-1.h5"});
  expect_error([&] { writer.append(image.data(), labels.data(), tile_window(1), 0); },
               {path, "committed"});
}

TEST(Shards, WriterDestroyedWithoutCommitLeavesNothing) {
  const std::string dir = test::fresh_directory("shards");
  const std::string path = dir + "/0-1.h5";
  {
    ShardWriter writer(path, make_header(PixelType::uint8), Compression::deflate(6));
    const std::vector<std::uint8_t> image = tile_image<std::uint8_t>(0);
    const std::vector<std::uint8_t> labels = tile_labels(0);
    writer.append(image.data(), labels.data(), tile_window(0), 0);
    EXPECT_FALSE(directory_entries(dir).empty()) << "the temporary file should exist meanwhile";
  }
  EXPECT_FALSE(fs::exists(path));
  EXPECT_TRUE(directory_entries(dir).empty());
}

TEST(Shards, WriterRejectsInvalidHeaders) {
  const std::string path = test::fresh_directory("shards") + "/0-1.h5";
  ShardHeader header = make_header(PixelType::uint8);
  header.tile_size = 0;
  expect_error([&] { ShardWriter(path, header, Compression::deflate(6)); }, {path, "tile size"});
  header = make_header(PixelType::uint8);
  header.class_names = {"road,paved"};
  expect_error([&] { ShardWriter(path, header, Compression::deflate(6)); },
               {path, "road,paved", "comma"});
  expect_error(
      [&] {
        ShardWriter(path, make_header(PixelType::uint8), {Compression::Codec::deflate, 10});
      },
      {path, "deflate compression level must be 1 to 9, got 10"});
  EXPECT_FALSE(fs::exists(path));
}

TEST(Shards, ReaderRejectsOutOfRangeTiles) {
  const std::string path = test::fresh_directory("shards") + "/0-1.h5";
  write_shard<std::uint8_t>(path, PixelType::uint8, 2);
  const ShardReader reader(path);
  std::vector<std::uint8_t> labels(kLabelValues);
  expect_error([&] { reader.read_labels(2, labels.data()); }, {path, "tile 2 out of range"});
  expect_error([&] { reader.window(-1); }, {path, "out of range"});
}

TEST(Shards, ReaderRejectsMissingFile) {
  const std::string path = test::fresh_directory("shards") + "/missing.h5";
  expect_error([&] { ShardReader reader(path); }, {path, "cannot open shard"});
}

TEST(Shards, ReaderRejectsNonHdf5File) {
  const std::string path = test::fresh_directory("shards") + "/text.h5";
  write_file(path, "this is not HDF5\n");
  expect_error([&] { ShardReader reader(path); }, {path, "cannot open shard"});
}

TEST(Shards, ReaderRejectsOtherSchemaVersion) {
  const std::string path = test::fresh_directory("shards") + "/future.h5";
  {
    const Hdf5Handle file(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), path,
                          "test: create");
  }
  expect_error([&] { ShardReader reader(path); },
               {path, "not a satunet shard (no schema_version attribute)"});
  replace_int_attribute(path, "schema_version", 99);
  expect_error([&] { ShardReader reader(path); }, {path, "shard schema version 99, expected 1"});
}

TEST(Shards, ReaderRejectsShapesInconsistentWithHeader) {
  const std::string path = test::fresh_directory("shards") + "/0-1.h5";
  write_shard<std::uint8_t>(path, PixelType::uint8, 2);
  replace_int_attribute(path, "bands", 4);
  expect_error([&] { ShardReader reader(path); },
               {path, "/images has shape [2, 3, 16, 16], expected [N, 4, 16, 16]"});
}

// The stored (filtered) bytes of chunk `row` of `dataset` in `path`.
std::string stored_chunk(const std::string& path, const std::string& dataset, hsize_t row) {
  const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  const hid_t data = H5Dopen2(file, dataset.c_str(), H5P_DEFAULT);
  const hid_t space = H5Dget_space(data);
  std::vector<hsize_t> offset(static_cast<std::size_t>(H5Sget_simple_extent_ndims(space)), 0);
  offset[0] = row;
  hsize_t bytes = 0;
  EXPECT_GE(H5Dget_chunk_storage_size(data, offset.data(), &bytes), 0);
  std::string chunk(bytes, '\0');
  std::uint32_t filters = 0;
  EXPECT_GE(H5Dread_chunk(data, H5P_DEFAULT, offset.data(), &filters, chunk.data()), 0);
  H5Sclose(space);
  H5Dclose(data);
  H5Fclose(file);
  return chunk;
}

// Every value of `dataset` as HDF5 itself reads it, through its own filters.
template <typename T>
std::vector<T> read_through_hdf5(const std::string& path, const std::string& dataset,
                                 hid_t memory_type) {
  const Hdf5Handle file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), path, "test: open");
  const Hdf5Handle data(H5Dopen2(file.get(), dataset.c_str(), H5P_DEFAULT), path, "test: open");
  const Hdf5Handle space(H5Dget_space(data.get()), path, "test: space");
  std::vector<T> values(static_cast<std::size_t>(H5Sget_simple_extent_npoints(space.get())));
  EXPECT_GE(H5Dread(data.get(), memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()), 0);
  return values;
}

TEST(Shards, TilesEncodedAwayFromHdf5ReadBackThroughHdf5sOwnFilters) {
  // Shuffle, deflate (libdeflate, in zlib's format) and HDF5's Fletcher-32 done by satunet on
  // the tiler's threads: HDF5's own pipeline (h5py's, every reader's) must read them back, no
  // larger than HDF5's zlib would have stored them; without compression, HDF5's very bytes.
  const std::string dir = test::fresh_directory("encoded");
  auto same = [&](auto value, PixelType dtype, hid_t type, Compression compression) {
    using T = decltype(value);
    SCOPED_TRACE("dtype " + std::to_string(static_cast<int>(dtype)) + ", compression " +
                 show(compression));
    const std::string name =
        dir + "/" + std::to_string(static_cast<int>(dtype)) + "-" + show(compression);
    const std::string filtered = write_shard<T>(name + "-hdf5.h5", dtype, 3, compression);
    const std::string encoded = write_shard<T>(name + "-encoded.h5", dtype, 3, compression, true);
    EXPECT_EQ(read_through_hdf5<T>(encoded, "/images", type),
              read_through_hdf5<T>(filtered, "/images", type));
    EXPECT_EQ(read_through_hdf5<std::uint8_t>(encoded, "/labels", H5T_NATIVE_UINT8),
              read_through_hdf5<std::uint8_t>(filtered, "/labels", H5T_NATIVE_UINT8));
    for (const char* dataset : {"/images", "/labels"})
      for (hsize_t row = 0; row < 3; ++row) {
        const std::string ours = stored_chunk(encoded, dataset, row);
        const std::string hdf5s = stored_chunk(filtered, dataset, row);
        if (compression.codec != Compression::Codec::deflate)  // no other deflate than ours
          EXPECT_TRUE(ours == hdf5s) << dataset << " row " << row;
        else
          EXPECT_LE(static_cast<double>(ours.size()), 1.02 * static_cast<double>(hdf5s.size()))
              << dataset << " row " << row;
      }
    const ShardReader reader(encoded);
    std::vector<T> image(kImageValues);
    reader.read_image(2, image.data());
    EXPECT_EQ(image, tile_image<T>(2));
  };
  for (Compression compression : {Compression::none(), Compression::deflate(1),
                                  Compression::deflate(6), Compression::lz4()}) {
    same(std::uint8_t{}, PixelType::uint8, H5T_NATIVE_UINT8, compression);
    same(std::uint16_t{}, PixelType::uint16, H5T_NATIVE_UINT16, compression);
    same(float{}, PixelType::float32, H5T_NATIVE_FLOAT, compression);
    same(double{}, PixelType::float64, H5T_NATIVE_DOUBLE, compression);
  }
}

TEST(Shards, Lz4ShardsReadBackThroughTheHdfGroupsPlugin) {
  // --compress lz4 stores HDF5's registered filter 32004 in the layout of the HDF Group's plugin
  // (Debian's hdf5-filter-plugin, h5py's hdf5plugin): a program that has only the plugin reads
  // every dataset back, rows filtered by HDF5 and rows encoded by satunet alike, compressible
  // tiles (LZ4 blocks) and incompressible ones (blocks stored as they are).
  const std::string dir = test::fresh_directory("lz4");
  const ShardHeader header = make_header(PixelType::uint16);
  std::vector<std::vector<std::uint16_t>> images;
  for (int tile = 0; tile < 3; ++tile) {
    images.push_back(tile_image<std::uint16_t>(tile));
    if (tile != 1)  // smooth, like imagery
      for (std::size_t i = 0; i < kImageValues; ++i)
        images.back()[i] = static_cast<std::uint16_t>(1000 + tile + i / 64);
  }
  std::vector<std::string> paths;
  for (bool pre_encoded : {false, true}) {
    paths.push_back(dir + (pre_encoded ? "/encoded.h5" : "/filtered.h5"));
    ShardWriter writer(paths.back(), header, Compression::lz4());
    for (int tile = 0; tile < 3; ++tile) {
      const std::vector<std::uint8_t> labels = tile_labels(tile);
      if (pre_encoded)
        writer.append(
            ShardWriter::encode(header, Compression::lz4(), images[tile].data(), labels.data()),
            tile_window(tile), tile_scene(tile));
      else
        writer.append(images[tile].data(), labels.data(), tile_window(tile), tile_scene(tile));
    }
    writer.commit();
  }
  ASSERT_GE(H5Zunregister(32004), 0);  // satunet's own LZ4 filter: HDF5 must find the plugin
  ASSERT_GT(H5Zfilter_avail(32004), 0)
      << "HDF5 finds no LZ4 plugin: apt-get install hdf5-filter-plugin";
  for (const std::string& path : paths) {
    SCOPED_TRACE(path);
    const std::vector<std::uint16_t> stored =
        read_through_hdf5<std::uint16_t>(path, "/images", H5T_NATIVE_UINT16);
    const std::vector<std::uint8_t> labels =
        read_through_hdf5<std::uint8_t>(path, "/labels", H5T_NATIVE_UINT8);
    const std::vector<std::int64_t> windows =
        read_through_hdf5<std::int64_t>(path, "/windows", H5T_NATIVE_INT64);
    const std::vector<std::int32_t> scenes =
        read_through_hdf5<std::int32_t>(path, "/scene", H5T_NATIVE_INT32);
    ASSERT_EQ(stored.size(), 3 * kImageValues);
    ASSERT_EQ(labels.size(), 3 * kLabelValues);
    ASSERT_EQ(windows.size(), 12u);
    ASSERT_EQ(scenes.size(), 3u);
    for (int tile = 0; tile < 3; ++tile) {
      EXPECT_TRUE(std::equal(images[tile].begin(), images[tile].end(),
                             stored.begin() + tile * kImageValues))
          << "tile " << tile;
      const std::vector<std::uint8_t> expected_labels = tile_labels(tile);
      EXPECT_TRUE(std::equal(expected_labels.begin(), expected_labels.end(),
                             labels.begin() + tile * kLabelValues))
          << "tile " << tile;
      EXPECT_EQ(windows[4 * tile + 1], tile_window(tile).y_off);
      EXPECT_EQ(scenes[tile], tile_scene(tile));
    }
  }
  // satunet's reader puts its own filter back and reads the same values.
  const ShardReader reader(paths[1]);
  std::vector<std::uint16_t> image(kImageValues);
  reader.read_image(2, image.data());
  EXPECT_EQ(image, images[2]);
}

TEST(Shards, ReaderRefusesHeadersBeyondItsLimitsBeforeAllocating) {
  const std::string path = test::fresh_directory("shards") + "/0-1.h5";
  write_shard<std::uint8_t>(path, PixelType::uint8, 2);
  replace_int_attribute(path, "tile_size", 60000);
  expect_error([&] { ShardReader reader(path); },
               {path, "invalid tile_size 60000 or bands 3 (at most 4096 px and 1024 bands)"});
}

TEST(Shards, AFlippedBitInATileFailsItsChecksum) {
  const std::string path = test::fresh_directory("shards") + "/0-1.h5";
  write_shard<float>(path, PixelType::float32, 4, Compression::none());
  haddr_t address = 0;
  hsize_t size = 0;
  {
    const Hdf5Handle file = open_file(path);
    const Hdf5Handle images(H5Dopen2(file.get(), "images", H5P_DEFAULT), path, "test: dataset");
    const Hdf5Handle space(H5Dget_space(images.get()), path, "test: space");
    std::vector<hsize_t> offset(4);
    unsigned filters = 0;
    ASSERT_GE(
        H5Dget_chunk_info(images.get(), space.get(), 2, offset.data(), &filters, &address, &size),
        0);
  }
  std::string bytes = test::file_bytes(path);
  bytes[address + size / 2] ^= 0x01;
  std::ofstream(path, std::ios::binary) << bytes;
  const ShardReader reader(path);
  std::vector<float> image(kImageValues);
  reader.read_image(1, image.data());  // another tile reads as it was
  EXPECT_EQ(image, tile_image<float>(1));
  expect_error([&] { reader.read_image(2, image.data()); },
               {path, "data error detected by Fletcher32 checksum"});
}

TEST(Shards, AChunkStoredInMoreBytesThanItsValuesIsRefusedBeforeReading) {
  // Found by fuzzing: a damaged chunk index made HDF5 allocate 1.8 GB to read a window.
  const std::string path = SATUNET_SOURCE_DIR "/tests/fuzz/regressions/shard/huge-chunk.h5";
  expect_error([&] { PredictionReader reader(path); },
               {path, "is stored in", "bytes, more than its values take (damaged?)"});
}

TEST(Shards, AChunkThatSkipsItsDatasetsFiltersIsRefusedBeforeReading) {
  // Found by fuzzing: a chunk marked as stored raw, in fewer bytes than its values, made
  // HDF5 1.10 copy a window's probabilities from past the end of its own buffer.
  const std::string path = SATUNET_SOURCE_DIR "/tests/fuzz/regressions/shard/skipped-filters.h5";
  expect_error([&] { PredictionReader reader(path); },
               {path, "/probabilities chunk 0 skips filters of its dataset (damaged?)"});
}

// Rewrites tile 1's images chunk with `chunk` as stored bytes, the dataset's filters claimed
// as applied.
void replace_image_chunk(const std::string& path, const std::vector<std::uint8_t>& chunk) {
  const Hdf5Handle file = open_file(path, H5F_ACC_RDWR);
  const Hdf5Handle images(H5Dopen2(file.get(), "images", H5P_DEFAULT), path, "test: dataset");
  const std::vector<hsize_t> offset = {1, 0, 0, 0};
  ASSERT_GE(H5Dwrite_chunk(images.get(), H5P_DEFAULT, 0, offset.data(), chunk.size(), chunk.data()),
            0);
}

TEST(Shards, ChunksThatDoNotDecodeToTheirRowAreRefused) {
  // HDF5 1.10 itself copies such a row from past the end of its buffer (see the fuzz finding
  // above): the reader decodes chunks itself and checks every size.
  const std::string directory = test::fresh_directory("shards");
  const std::vector<std::uint8_t> too_few(100, 7);
  // LZ4 chunks of HDF5's filter 32004 layout that claim a row's 768 bytes: a block that is not
  // LZ4 and one longer than the chunk. encode_chunk without compression adds the checksum.
  auto lz4_chunk = [](std::uint32_t block_size, std::vector<std::uint8_t> block) {
    std::vector<std::uint8_t> bytes = {0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 3, 0};
    for (int shift = 24; shift >= 0; shift -= 8)
      bytes.push_back(static_cast<std::uint8_t>(block_size >> shift));
    bytes.insert(bytes.end(), block.begin(), block.end());
    return encode_chunk(bytes.data(), bytes.size(), 1, Compression::none());
  };
  const struct {
    Compression compression;
    std::vector<std::uint8_t> chunk;
    std::string says;
  } cases[] = {
      // Well-formed chunks, checksum and all, of fewer values than a row.
      {Compression::none(), encode_chunk(too_few.data(), too_few.size(), 1, Compression::none()),
       "holds 100 bytes, not the 768 of its values (damaged?)"},
      {Compression::deflate(1),
       encode_chunk(too_few.data(), too_few.size(), 1, Compression::deflate(1)),
       "does not inflate to its 768 bytes (damaged?)"},
      {Compression::deflate(1), too_few, "data error detected by Fletcher32 checksum"},
      {Compression::lz4(), encode_chunk(too_few.data(), too_few.size(), 1, Compression::lz4()),
       "claims 100 bytes, not the 768 of its values (damaged?)"},
      {Compression::lz4(), lz4_chunk(50, std::vector<std::uint8_t>(50, 0xff)),
       "does not decompress to its 768 bytes (damaged?)"},
      {Compression::lz4(), lz4_chunk(5000, std::vector<std::uint8_t>(10, 0)),
       "has an LZ4 block longer than the chunk (damaged?)"},
  };
  int case_index = 0;
  for (const auto& [compression, chunk, says] : cases) {
    const std::string path = directory + "/" + std::to_string(case_index++) + ".h5";
    write_shard<std::uint8_t>(path, PixelType::uint8, 2, compression);
    replace_image_chunk(path, chunk);
    const ShardReader reader(path);
    std::vector<std::uint8_t> image(kImageValues);
    reader.read_image(0, image.data());  // the other tile reads as it was
    EXPECT_EQ(image, tile_image<std::uint8_t>(0));
    expect_error([&] { reader.read_image(1, image.data()); },
                 {path, "the chunk at row 1 of /images", says});
  }
}

TEST(Shards, ManifestCountsThatDoNotFitItsClassesAreRefused) {
  Manifest manifest;
  manifest.tile_size = 64;
  manifest.classes = {"background", "building", "road"};
  manifest.bands.push_back({"red", 1, "uint8", 100, 10, 1000});
  manifest.class_pixels["train"] = {10, 20};
  try {
    Manifest::from_json(manifest.to_json(), "m.json");
    ADD_FAILURE() << "accepted";
  } catch (const Error& error) {
    EXPECT_STREQ(error.what(),
                 "m.json: not a valid satunet manifest: class_pixels of split 'train' has 2 "
                 "counts for 3 classes");
  }
}

TEST(Shards, ReaderAcceptsVariableLengthStrings) {
  const std::string path = test::fresh_directory("shards") + "/0-1.h5";
  write_shard<std::uint8_t>(path, PixelType::uint8, 1);
  replace_with_variable_length_string(path, "class_names", "water,forest");
  const ShardReader reader(path);
  EXPECT_EQ(reader.header().class_names, (std::vector<std::string>{"water", "forest"}));
}

TEST(Shards, ReaderIsMovable) {
  const std::string path = test::fresh_directory("shards") + "/0-1.h5";
  write_shard<std::uint8_t>(path, PixelType::uint8, 2);
  ShardReader first(path);
  ShardReader second = std::move(first);
  EXPECT_EQ(second.tiles(), 2);
  EXPECT_EQ(second.scene(1), tile_scene(1));
}

}  // namespace
TEST(PredictionShard, HalfPrecisionRoundsToNearestEven) {
  EXPECT_EQ(float_to_half(0.0f), 0x0000);
  EXPECT_EQ(float_to_half(-0.0f), 0x8000);
  EXPECT_EQ(float_to_half(1.0f), 0x3c00);
  EXPECT_EQ(float_to_half(0.5f), 0x3800);
  EXPECT_EQ(float_to_half(65504.0f), 0x7bff);
  EXPECT_EQ(float_to_half(65520.0f), 0x7c00);            // rounds past the largest half: infinity
  EXPECT_EQ(float_to_half(1.0f + 1.0f / 2048), 0x3c00);  // a tie goes to the even mantissa
  EXPECT_EQ(float_to_half(1.0f + 3.0f / 2048), 0x3c02);
  EXPECT_EQ(float_to_half(5.9604645e-8f), 0x0001);  // the smallest subnormal
  EXPECT_EQ(float_to_half(1e-8f), 0x0000);
  // Every finite half survives half -> float -> half.
  for (std::uint32_t bits = 0; bits < 0x10000; ++bits) {
    const auto half = static_cast<std::uint16_t>(bits);
    if ((half & 0x7c00) == 0x7c00)
      continue;
    ASSERT_EQ(float_to_half(half_to_float(half)), half) << std::hex << bits;
  }
}

TEST(PredictionShard, WritesAndReadsBothEncodings) {
  const std::string dir = test::fresh_directory("prediction-shard");
  for (const auto encoding : {ProbabilityEncoding::uint8, ProbabilityEncoding::float16}) {
    PredictionHeader header;
    header.tile_size = 8;
    header.overlap = 2;
    header.windows_total = 4;
    header.encoding = encoding;
    header.blend = Blend::cosine;
    header.class_names = {"a", "b"};
    header.scene = "scene.tif";
    header.scene_width = 14;
    header.scene_height = 8;
    header.crs_wkt = geo::SpatialRef::from_epsg(32633).wkt();
    header.geotransform = {500000, 0.5, 0, 4650000, 0, -0.5};
    const std::string path = dir + "/" + options::enum_name(encoding) + ".h5";
    std::vector<std::uint8_t> bytes(2 * 64);
    std::vector<std::uint16_t> halves(2 * 64);
    for (std::size_t i = 0; i < bytes.size(); ++i) {
      bytes[i] = static_cast<std::uint8_t>(i * 2);
      halves[i] = float_to_half(static_cast<float>(i) / 128.0f);
    }
    std::vector<std::uint8_t> valid(64, 1);
    valid[5] = 0;
    {
      PredictionWriter writer(path, header, Compression::deflate(1));
      const void* data = encoding == ProbabilityEncoding::uint8
                             ? static_cast<const void*>(bytes.data())
                             : static_cast<const void*>(halves.data());
      writer.append(3, {6, 0, 8, 8}, data, valid.data());
      EXPECT_FALSE(fs::exists(path)) << "visible before commit";
      writer.commit();
    }
    const PredictionReader reader(path);
    EXPECT_EQ(reader.windows(), 1);
    EXPECT_EQ(reader.header().class_names, header.class_names);
    EXPECT_EQ(reader.header().geotransform, header.geotransform);
    EXPECT_EQ(reader.header().crs_wkt, header.crs_wkt);
    EXPECT_EQ(reader.header().blend, Blend::cosine);
    EXPECT_EQ(reader.indices(), std::vector<std::int64_t>{3});
    EXPECT_EQ(reader.window_rows()[0].x_off, 6);
    std::vector<float> probabilities(2 * 64);
    std::vector<std::uint8_t> read_valid(64);
    reader.read(0, probabilities.data(), read_valid.data());
    EXPECT_EQ(read_valid, valid);
    for (std::size_t i = 0; i < probabilities.size(); ++i) {
      const float expected = encoding == ProbabilityEncoding::uint8
                                 ? static_cast<float>(bytes[i]) / 255.0f
                                 : static_cast<float>(i) / 128.0f;
      ASSERT_NEAR(probabilities[i], expected, 1e-6) << i;
    }
  }
  // A training shard is not a prediction shard.
  ShardHeader training;
  training.tile_size = 8;
  training.bands = 1;
  training.split = "train";
  ShardWriter writer(dir + "/tiles.h5", training, Compression::none());
  writer.commit();
  try {
    PredictionReader reader(dir + "/tiles.h5");
    FAIL() << "a training shard was read as a prediction";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("tiles.h5: not a satunet prediction shard"),
              std::string::npos)
        << error.what();
  }
}

}  // namespace satunet::shards
