#include "stitch/stitcher.hpp"

#include <algorithm>
#include <cctype>
#include <memory>
#include <optional>
#include <sstream>
#include <thread>

#include "common/bounded_queue.hpp"
#include "common/error.hpp"
#include "common/files.hpp"
#include "common/log.hpp"
#include "common/progress.hpp"
#include "common/text.hpp"
#include "common/timer.hpp"
#include "geo/gdal.hpp"
#include "geo/srs.hpp"
#include "geo/window_grid.hpp"
#include "shards/prediction.hpp"
#include "stitch/blender.hpp"

namespace satunet::stitch {
namespace {

// Where each window of the grid is stored: shard and row. Every window must be there once.
struct WindowLocation {
  int shard = -1;
  std::int64_t row = 0;
};

class Prediction {
 public:
  explicit Prediction(const std::string& dir) : dir_(dir) {
    for (const shards::PredictionShardEntry& entry : shards::PredictionIndex::load(dir).shards) {
      const std::string path = dir + "/" + entry.path;
      if (!file_exists(path))
        throw Error(path + ": missing prediction shard (listed in " + dir + "/" +
                    shards::kPredictionIndexName + ")");
      readers_.emplace_back(path);
      check_header(readers_.back(), entry);
    }
    if (readers_.empty())
      throw Error(dir + ": the prediction lists no shards");
    const shards::PredictionHeader& header = readers_.front().header();
    grid_.emplace(header.scene_width, header.scene_height, header.tile_size, header.overlap);
    locate_windows();
  }

  const shards::PredictionHeader& header() const { return readers_.front().header(); }
  const geo::WindowGrid& grid() const { return *grid_; }
  const std::string& dir() const { return dir_; }

  // Window `index` as stored (see PredictionReader::read_stored).
  void read(std::int64_t index, void* probabilities, std::uint8_t* valid) const {
    const WindowLocation& where = locations_[static_cast<std::size_t>(index)];
    readers_[static_cast<std::size_t>(where.shard)].read_stored(where.row, probabilities, valid);
  }

 private:
  void check_header(const shards::PredictionReader& reader,
                    const shards::PredictionShardEntry& entry) {
    const shards::PredictionHeader& header = reader.header();
    if (reader.windows() != entry.windows)
      throw Error(reader.path() + ": holds " + std::to_string(reader.windows()) +
                  " windows, the prediction index says " + std::to_string(entry.windows));
    if (readers_.size() == 1)
      return;
    const shards::PredictionHeader& first = readers_.front().header();
    std::vector<std::string> differences;
    auto compare = [&](bool same, const char* what) {
      if (!same)
        differences.push_back(what);
    };
    compare(header.tile_size == first.tile_size && header.overlap == first.overlap, "window grid");
    compare(header.windows_total == first.windows_total, "window count");
    compare(header.scene_width == first.scene_width && header.scene_height == first.scene_height,
            "scene size");
    compare(header.class_names == first.class_names, "classes");
    compare(header.geotransform == first.geotransform, "geotransform");
    compare(header.checkpoint == first.checkpoint, "checkpoint");
    compare(header.tta == first.tta, "TTA");
    compare(header.blend == first.blend, "blend");
    compare(header.encoding == first.encoding, "probability encoding");
    compare(header.ranks == first.ranks, "rank count");
    // The same CRS may be written out in different WKT (GDAL's GeoTIFF key and PROJ database
    // paths differ); compare what it means.
    compare(
        geo::SpatialRef::from_wkt(header.crs_wkt).same_as(geo::SpatialRef::from_wkt(first.crs_wkt)),
        "CRS");
    if (!differences.empty())
      throw Error(reader.path() + ": from another prediction than " + readers_.front().path() +
                  " (" + text::join(differences, ", ") + " differ)");
  }

  void locate_windows() {
    const std::int64_t total = grid_->count();
    if (header().windows_total != total)
      throw Error(readers_.front().path() + ": says " + std::to_string(header().windows_total) +
                  " windows, the scene's grid has " + std::to_string(total));
    locations_.assign(static_cast<std::size_t>(total), WindowLocation{});
    for (std::size_t shard = 0; shard < readers_.size(); ++shard) {
      const shards::PredictionReader& reader = readers_[shard];
      const std::vector<std::int64_t> indices = reader.indices();
      const std::vector<shards::TileWindow> windows = reader.window_rows();
      for (std::size_t row = 0; row < indices.size(); ++row) {
        const std::int64_t index = indices[row];
        if (index < 0 || index >= total)
          throw Error(reader.path() + ": window index " + std::to_string(index) +
                      " outside the grid of " + std::to_string(total));
        WindowLocation& location = locations_[static_cast<std::size_t>(index)];
        if (location.shard >= 0)
          throw Error(reader.path() + ": " + grid_->describe(index) + " is also in " +
                      readers_[static_cast<std::size_t>(location.shard)].path());
        const geo::Window expected = grid_->inside(index);
        const shards::TileWindow& stored = windows[row];
        if (stored.x_off != expected.x_off || stored.y_off != expected.y_off ||
            stored.width != expected.width || stored.height != expected.height)
          throw Error(reader.path() + ": " + grid_->describe(index) +
                      " does not lie where the grid puts it");
        location = {static_cast<int>(shard), static_cast<std::int64_t>(row)};
      }
    }
    for (std::int64_t index = 0; index < total; ++index)
      if (locations_[static_cast<std::size_t>(index)].shard < 0)
        throw Error(dir_ + ": " + grid_->describe(index) +
                    " is missing from the prediction (no shard holds it)");
  }

  std::string dir_;
  std::vector<shards::PredictionReader> readers_;
  std::optional<geo::WindowGrid> grid_;
  std::vector<WindowLocation> locations_;
};

// A window as read from the shards.
struct StoredWindow {
  std::int64_t index = 0;
  std::vector<std::uint8_t> probabilities;  // as stored
  std::vector<std::uint8_t> valid;
};

// Windows in grid order, read and decompressed on a thread of their own while this one blends
// those before them: rows above a window row's top are final once it starts, and the sums are
// added in the same order whatever the number of ranks that predicted them.
void blend_windows(const Prediction& prediction, MaskBlender& blender) {
  constexpr std::size_t kWindowsAhead = 8;
  const shards::PredictionHeader& header = prediction.header();
  const geo::WindowGrid& grid = prediction.grid();
  const auto plane =
      static_cast<std::size_t>(header.tile_size) * static_cast<std::size_t>(header.tile_size);
  const std::size_t value_bytes = header.encoding == shards::ProbabilityEncoding::uint8 ? 1 : 2;
  BoundedQueue<std::unique_ptr<StoredWindow>> free(kWindowsAhead), read(kWindowsAhead);
  for (std::size_t i = 0; i < kWindowsAhead; ++i) {
    auto window = std::make_unique<StoredWindow>();
    window->probabilities.resize(static_cast<std::size_t>(header.classes()) * plane * value_bytes);
    window->valid.resize(plane);
    free.push(std::move(window));
  }
  std::thread reading([&] {
    try {
      for (std::int64_t index = 0; index < grid.count(); ++index) {
        std::optional<std::unique_ptr<StoredWindow>> window = free.pop();
        if (!window)
          return;
        (*window)->index = index;
        try {
          prediction.read(index, (*window)->probabilities.data(), (*window)->valid.data());
        } catch (const Error& error) {
          throw Error(prediction.dir() + ", " + grid.describe(index) + ": " + error.what());
        }
        if (!read.push(std::move(*window)))
          return;
      }
      read.close();
    } catch (...) {
      read.close(std::current_exception());
    }
  });
  try {
    Progress progress("stitch", grid.count(), "windows");
    while (std::optional<std::unique_ptr<StoredWindow>> window = read.pop()) {
      blender.add((*window)->index, (*window)->probabilities.data(), (*window)->valid.data());
      progress.advance();
      free.push(std::move(*window));
    }
    progress.finish();
  } catch (...) {
    free.cancel();
    read.cancel();
    reading.join();
    throw;
  }
  reading.join();
}

}  // namespace

void validate(const StitchOptions& options) {
  stitch_option_table().check(options);
  validate_outputs(options.out, options.outputs);
}

StitchResult stitch(const StitchOptions& options) {
  validate(options);
  Stopwatch clock;
  const Prediction prediction(options.prediction);
  const shards::PredictionHeader& header = prediction.header();
  // The prediction is an input too: no output goes inside it.
  check_outputs(options.out, options.outputs, options.overwrite,
                {header.scene, options.prediction});
  MaskBlender blender(options.out, options.outputs, options.overwrite, header,
                      options.blend.value_or(header.blend),
                      static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  log::info("stitch: ", prediction.grid().count(), " windows of ", header.tile_size, " px into ",
            header.scene_width, " x ", header.scene_height, " px (", options.out, ")");
  geo::set_gdal_cache_megabytes(std::clamp<std::int64_t>(blender.cache_bytes() >> 20, 8, 1024));
  blend_windows(prediction, blender);
  StitchResult result = blender.finish();
  result.seconds = clock.seconds();
  return result;
}

const options::Table<RoadCleanupOptions>& road_cleanup_option_table() {
  using O = RoadCleanupOptions;
  static const auto table =
      options::Table<O>()
          .value("clean-roads", &O::road_class,
                 "draw this road class again along its cleaned centre lines: spurs pruned, "
                 "short pieces dropped, gaps closed, each road as wide as predicted (holds the "
                 "class map in memory, a byte per pixel)",
                 "CLASS")
          .value("road-spur", &O::spur_m,
                 "with --clean-roads: prune dead ends shorter than this, in metres")
          .at_least(0)
          .value("road-gap", &O::gap_m,
                 "with --clean-roads: close breaks up to this long, in metres, where a dead end "
                 "points at another road")
          .at_least(0)
          .value("road-min-length", &O::min_length_m,
                 "with --clean-roads: drop road pieces shorter than this in all, in metres")
          .at_least(0)
          .value("road-lines", &O::lines,
                 "with --clean-roads: also write the cleaned centre lines (.gpkg or .geojson, the "
                 "scene's CRS, fields length_m, from_node, to_node)",
                 "LINES.gpkg");
  return table;
}

const options::Table<StitchOutputs>& stitch_output_option_table() {
  using O = StitchOutputs;
  static const auto table =
      options::Table<O>()
          .value("probabilities", &O::probabilities,
                 "also write per-class probabilities (uint8, p x 255; 0 in every band where "
                 "nodata)",
                 "PROBS.tif")
          .value(
              "polygons", &O::polygons,
              "also write polygons of the classes (.geojson or .gpkg, in the scene's CRS, fields "
              "class, class_id, area_m2)",
              "OUT.geojson")
          .value("polygon-classes", &O::polygon_classes,
                 "classes to polygonize (default: every class but the first)", "a,b")
          .value("simplify", &O::simplify_m, "simplify polygons to this tolerance in metres")
          .at_least(0)
          .value("min-area", &O::min_area_m2, "drop polygons smaller than this, in square metres")
          .at_least(0)
          .value("format", &O::format,
                 "GTiff (tiled) or COG (Cloud Optimized GeoTIFF with overviews)")
          .value("map-compress", &O::compression,
                 "compression of the class map and the probabilities: deflate (read by every "
                 "TIFF reader), zstd (faster to write and smaller; read by GDAL 2.3 or later "
                 "built with zstd, as QGIS and rasterio are), lzw or none",
                 "CODEC")
          .include(road_cleanup_option_table(),
                   [](O& o) -> RoadCleanupOptions& { return o.roads; });
  return table;
}

const options::Table<StitchOptions>& stitch_option_table() {
  using O = StitchOptions;
  static const auto table =
      options::Table<O>()
          .value("pred", &O::prediction, "prediction directory from satunet predict", "PRED")
          .required()
          .value("out", &O::out,
                 "class map: uint8, colour table and class names, 255 = nodata, the scene's grid",
                 "MASK.tif")
          .required()
          .value("blend", &O::blend, "override the prediction's blend: gaussian, cosine or uniform",
                 "KIND")
          .flag("overwrite", &O::overwrite, "replace existing output files")
          .include(stitch_output_option_table(), [](O& o) -> StitchOutputs& { return o.outputs; });
  return table;
}

std::string gdal_compression(MapCompression compression) {
  std::string name = options::enum_name(compression);
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return name;
}

std::string describe(const StitchOptions& options, const StitchResult& result) {
  std::ostringstream out;
  out << "mask: " << options.out << " (" << result.windows << " windows blended in "
      << result.seconds << " s)\n";
  if (!options.outputs.probabilities.empty())
    out << "probabilities: " << options.outputs.probabilities << "\n";
  if (!options.outputs.polygons.empty())
    out << "polygons: " << options.outputs.polygons << " (" << result.polygons << ")\n";
  const RoadCleanupOptions& roads = options.outputs.roads;
  if (!roads.road_class.empty())
    out << "roads: " << roads.road_class << " drawn along cleaned centre lines ("
        << result.road_gaps_closed << " gaps closed, " << result.road_pixels_removed
        << " pixels taken away, " << result.road_pixels_added << " added)\n";
  if (!roads.lines.empty())
    out << "road lines: " << roads.lines << " (" << result.road_lines << ")\n";
  return out.str();
}

}  // namespace satunet::stitch
