#include "tiling/scene.hpp"

#include "common/files.hpp"
#include "common/text.hpp"
#include "geo/gdal.hpp"
#include "geo/strip_reader.hpp"
#include "tiling/grid.hpp"

namespace satunet::tiling {

shards::PixelType pixel_type_of(GDALDataType type, const std::string& path) {
  switch (type) {
    case GDT_Byte:
      return shards::PixelType::uint8;
    case GDT_UInt16:
      return shards::PixelType::uint16;
    case GDT_Int16:
      return shards::PixelType::int16;
    case GDT_UInt32:
      return shards::PixelType::uint32;
    case GDT_Int32:
      return shards::PixelType::int32;
    case GDT_Float32:
      return shards::PixelType::float32;
    case GDT_Float64:
      return shards::PixelType::float64;
    default:
      throw Error(path + ": data type " + geo::data_type_name(type) + " cannot be tiled");
  }
}

namespace {

void check_georeferencing(const TileOptions& options, const Scene& scene) {
  const geo::RasterInfo& info = scene.info();
  if (info.has_geotransform && !info.crs_wkt.empty())
    return;
  const std::string& path = scene.input.image;
  const std::string missing = !info.has_geotransform ? "no geotransform" : "no CRS";
  if (!options.allow_ungeoreferenced)
    throw Error(path + ": raster has no georeferencing (" + missing +
                "); --allow-ungeoreferenced tiles it with a --mask raster");
  if (scene.input.mask.empty() || !scene.input.labels.empty())
    throw Error(path +
                ": a raster without georeferencing can only be tiled with a --mask "
                "raster (vector labels need a CRS)");
}

}  // namespace

Scene open_scene(const TileOptions& options, const SceneInput& input, int index) {
  Scene scene;
  scene.index = index;
  scene.input = input;
  const std::string& path = scene.input.image;
  if (!geo::exists(path))
    throw Error(path + ": no such file");
  scene.raster = std::make_unique<geo::Raster>(geo::Raster::open(path));
  const geo::RasterInfo& info = scene.info();
  check_georeferencing(options, scene);
  scene.bands = geo::choose_input_bands(info, options.bands);
  scene.type = info.bands[scene.bands.inputs.front() - 1].type;
  for (int band : scene.bands.inputs) {
    if (info.bands[band - 1].type != scene.type)
      throw Error(path + ": bands of different data types (" + geo::data_type_name(scene.type) +
                  " and " + geo::data_type_name(info.bands[band - 1].type) + ")");
  }
  pixel_type_of(scene.type, path);
  if (scene.input.mask.empty() && scene.input.labels.empty())
    throw UsageError(path + ": no labels: give --labels CLASS=FILE or --mask FILE");
  // On every rank, before any tile is cut: a class known to some ranks only would end the
  // job on the ranks that meet it.
  for (const LabelFile& file : scene.input.labels)
    if (!file.class_name.empty())
      class_index(options.classes, file.class_name, "--labels " + file.path);
  if (!scene.input.mask.empty() && !scene.input.labels.empty())
    throw UsageError(path + ": give either vector --labels or a --mask raster, not both");
  geo::check_strip_size(info, options.tile, scene.bands.inputs.size(),
                        geo::data_type_bytes(scene.type));
  const int stride = options.tile - options.overlap;
  scene.columns = tile_offsets(info.width, options.tile, stride);
  scene.rows = tile_offsets(info.height, options.tile, stride);
  return scene;
}

std::string describe_labels(const SceneInput& input) {
  if (!input.mask.empty())
    return "mask " + input.mask;
  std::vector<std::string> files;
  for (const LabelFile& file : input.labels)
    files.push_back((file.class_name.empty() ? "" : file.class_name + "=") + file.path);
  return "vectors " + text::join(files, ";");
}

void check_same_bands(const Scene& first, const Scene& other) {
  if (other.bands.inputs.size() != first.bands.inputs.size() || other.type != first.type)
    throw Error(other.input.image + ": has " + std::to_string(other.bands.inputs.size()) +
                " input bands (" + geo::data_type_name(other.type) + ") but " + first.input.image +
                " has " + std::to_string(first.bands.inputs.size()) + " (" +
                geo::data_type_name(first.type) +
                "): all scenes of a dataset need the same bands and data type");
}

std::unique_ptr<geo::SceneLabels> scene_labels(const TileOptions& options, const Scene& scene) {
  if (!scene.input.mask.empty()) {
    if (!geo::exists(scene.input.mask))
      throw Error(scene.input.mask + ": no such file");
    return std::make_unique<geo::SceneLabels>(scene.input.mask, scene.info(), options.classes,
                                              "the scene");
  }
  std::vector<geo::VectorLabelSource> sources;
  for (const LabelFile& file : scene.input.labels) {
    if (!geo::exists(file.path))
      throw Error(file.path + ": no such file");
    geo::VectorLabelSource source;
    source.path = file.path;
    if (!file.class_name.empty()) {
      source.class_id = class_index(options.classes, file.class_name, "--labels " + file.path);
    } else {
      if (options.class_field.empty())
        throw UsageError("--labels " + file.path +
                         ": give its class (CLASS=FILE) or --class-field and --class-map");
      source.class_field = options.class_field;
      for (const auto& [value, name] : options.class_map)
        source.class_by_value[value] = class_index(options.classes, name, "--class-map");
    }
    sources.push_back(source);
  }
  return std::make_unique<geo::SceneLabels>(
      geo::VectorLabels(sources, scene.info(), options.classes,
                        options.line_widths.by_class(options.classes), options.all_touched),
      scene.info());
}

}  // namespace satunet::tiling
