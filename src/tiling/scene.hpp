#pragma once
// A scene to tile: opened and checked, its input bands chosen, its tile grid laid out, and its
// labels read strip by strip (vector files rasterized, or a mask raster).
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "geo/gdal.hpp"
#include "geo/labels.hpp"
#include "geo/raster.hpp"
#include "shards/shard.hpp"
#include "tiling/tile_options.hpp"

namespace satunet::tiling {

struct Scene {
  int index = 0;
  SceneInput input;
  std::unique_ptr<geo::Raster> raster;
  geo::InputBands bands;
  GDALDataType type = GDT_Unknown;
  std::vector<std::int64_t> columns, rows;  // tile offsets
  const geo::RasterInfo& info() const { return raster->info(); }
};

// Opens scene `index` of `inputs` and checks it can be tiled with `options`.
Scene open_scene(const TileOptions& options, const SceneInput& input, int index);
// All scenes of a dataset need the same input bands and data type.
void check_same_bands(const Scene& first, const Scene& other);
// "mask FILE" or "vectors CLASS=FILE;...", for the manifest.
std::string describe_labels(const SceneInput& input);

// The shard element type of a GDAL data type (Error naming `path` for types shards lack).
shards::PixelType pixel_type_of(GDALDataType type, const std::string& path);

// Calls `body(T{})` with T the C++ type of a GDAL data type.
template <typename Body>
void with_value_type(GDALDataType type, Body body) {
  switch (type) {
    case GDT_Byte:
      return body(std::uint8_t{});
    case GDT_UInt16:
      return body(std::uint16_t{});
    case GDT_Int16:
      return body(std::int16_t{});
    case GDT_UInt32:
      return body(std::uint32_t{});
    case GDT_Int32:
      return body(std::int32_t{});
    case GDT_Float32:
      return body(float{});
    case GDT_Float64:
      return body(double{});
    default:
      throw Error("unsupported data type " + geo::data_type_name(type));
  }
}

// The labels of one scene as row strips: its mask, or its vector files as the options class
// them.
std::unique_ptr<geo::SceneLabels> scene_labels(const TileOptions& options, const Scene& scene);

}  // namespace satunet::tiling
