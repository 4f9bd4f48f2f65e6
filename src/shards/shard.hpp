#pragma once
// HDF5 shards of tiles: the file boundary between `satunet tile` and `satunet train`.
//
// Layout of one shard file (schema version kShardSchemaVersion):
//   /images   [N, C, T, T]  the scene's own data type (uint8, uint16, int16, uint32, int32,
//                           float32 or float64), one chunk per tile, shuffle + deflate or lz4
//   /labels   [N, T, T]     uint8 class ids, 255 = ignore (nodata or padding), one chunk per tile
//   /windows  [N, 4]        int64 x_off, y_off, width, height in scene pixels (width/height are
//                           the full tile size; the part past the scene edge is padding)
//   /scene    [N]           int32 index into the manifest's scenes
//   attributes on the root group:
//     schema_version (int32), tile_size (int32), bands (int32), dtype (string),
//     split (string: "train" or "val"), class_names (string, comma-separated),
//     band_names (string, comma-separated)
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "common/files.hpp"
#include "common/options.hpp"
#include "shards/compression.hpp"

#define SHARDS_CHECK(cond, ...) SATUNET_CHECK_IN("shards", cond, __VA_ARGS__)

namespace satunet::shards {

constexpr int kShardSchemaVersion = 1;
// The largest tile (and prediction window) side, and the most bands, a shard may hold: checked
// before anything is allocated for a file's header.
constexpr int kMaxTileSize = 4096;
constexpr int kMaxBands = 1024;
// And the most values one tile or window may hold (bands, or classes, x side x side): 1 GiB of
// float32, so that no header can make a reader's buffer larger.
constexpr std::int64_t kMaxTileValues = std::int64_t{1} << 28;

// Element type of /images, named as on the command line ("uint8", "uint16", ...).
enum class PixelType { uint8, uint16, int16, uint32, int32, float32, float64 };
inline const options::EnumNames<PixelType>& enum_names(PixelType) {
  static const options::EnumNames<PixelType> names{
      {PixelType::uint8, "uint8"},    {PixelType::uint16, "uint16"},
      {PixelType::int16, "int16"},    {PixelType::uint32, "uint32"},
      {PixelType::int32, "int32"},    {PixelType::float32, "float32"},
      {PixelType::float64, "float64"}};
  return names;
}
int pixel_type_bytes(PixelType type);

struct ShardHeader {
  int schema_version = kShardSchemaVersion;
  int tile_size = 0;
  int bands = 0;
  PixelType dtype = PixelType::uint8;
  std::string split;  // "train" or "val"
  std::vector<std::string> class_names;
  std::vector<std::string> band_names;
};

struct TileWindow {
  std::int64_t x_off = 0, y_off = 0, width = 0, height = 0;
};

// A tile's image and labels as the shard stores them (filtered, checksummed): made by
// ShardWriter::encode on any thread, appended by the writer's.
struct EncodedTile {
  std::vector<std::uint8_t> image;
  std::vector<std::uint8_t> labels;
};

// Appends tiles one at a time (memory does not grow with the shard), under a temporary name;
// commit() closes the file and renames it into place. Destroyed without commit(): the
// temporary file is removed.
class ShardWriter {
 public:
  ShardWriter(const std::string& path, const ShardHeader& header, Compression compression);
  ~ShardWriter();
  ShardWriter(const ShardWriter&) = delete;
  ShardWriter& operator=(const ShardWriter&) = delete;

  // image: C*T*T values of header.dtype (band-sequential); labels: T*T bytes.
  void append(const void* image, const std::uint8_t* labels, const TileWindow& window,
              int scene_index);
  // The same tile, encoded beforehand (the result is the same file, byte for byte).
  static EncodedTile encode(const ShardHeader& header, Compression compression, const void* image,
                            const std::uint8_t* labels);
  void append(const EncodedTile& tile, const TileWindow& window, int scene_index);
  std::int64_t tiles() const;
  const std::string& path() const;
  void commit();

 private:
  struct Impl;
  template <typename WriteTile>
  void append_row(const TileWindow& window, int scene_index, WriteTile write_tile);
  std::unique_ptr<Impl> impl_;
};

// Reads a shard written by ShardWriter; refuses other schemas with a clear message naming
// the file. Safe to use from one thread at a time.
class ShardReader {
 public:
  explicit ShardReader(const std::string& path);
  ~ShardReader();
  ShardReader(const ShardReader&) = delete;
  ShardReader& operator=(const ShardReader&) = delete;
  ShardReader(ShardReader&& other) noexcept;
  ShardReader& operator=(ShardReader&& other) noexcept;

  const ShardHeader& header() const;
  std::int64_t tiles() const;
  const std::string& path() const;

  // Tile `index` into caller buffers of C*T*T values of header().dtype and T*T bytes.
  void read_image(std::int64_t index, void* image) const;
  void read_labels(std::int64_t index, std::uint8_t* labels) const;
  // The same image converted to float (for the training loader).
  void read_image_as_float(std::int64_t index, float* image) const;
  TileWindow window(std::int64_t index) const;
  int scene(std::int64_t index) const;
  // All windows and scene indices at once (small: 40 bytes a tile).
  std::vector<TileWindow> windows() const;
  std::vector<int> scenes() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace satunet::shards
