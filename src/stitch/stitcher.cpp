#include "stitch/stitcher.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <memory>
#include <optional>
#include <sstream>

#include "common/error.hpp"
#include "common/files.hpp"
#include "common/labels.hpp"
#include "common/log.hpp"
#include "common/progress.hpp"
#include "common/text.hpp"
#include "common/timer.hpp"
#include "geo/gdal.hpp"
#include "geo/geotiff.hpp"
#include "geo/polygonize.hpp"
#include "geo/raster.hpp"
#include "geo/vector.hpp"
#include "geo/window_grid.hpp"
#include "shards/prediction.hpp"
#include "stitch/blend.hpp"

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

  void read(std::int64_t index, float* probabilities, std::uint8_t* valid) const {
    const WindowLocation& where = locations_[static_cast<std::size_t>(index)];
    readers_[static_cast<std::size_t>(where.shard)].read(where.row, probabilities, valid);
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

// Weighted sums of class probabilities, and of the weights, for a band of scene rows.
// Row layout: [class 0 ... class C-1, weight] x width.
class RowAccumulator {
 public:
  RowAccumulator(std::int64_t width, int classes) : width_(width), classes_(classes) {}

  std::int64_t top() const { return top_; }
  std::int64_t bottom() const { return top_ + static_cast<std::int64_t>(rows_.size()); }
  float* row(std::int64_t y) { return rows_[static_cast<std::size_t>(y - top_)].data(); }

  void extend_to(std::int64_t end) {
    const auto values = static_cast<std::size_t>(width_) * static_cast<std::size_t>(classes_ + 1);
    while (bottom() < end) {
      std::vector<float> fresh;
      if (!spare_.empty()) {
        fresh = std::move(spare_.back());
        spare_.pop_back();
      }
      fresh.assign(values, 0.0f);
      rows_.push_back(std::move(fresh));
    }
  }

  void drop_front() {
    spare_.push_back(std::move(rows_.front()));
    rows_.pop_front();
    ++top_;
  }

  void add(const geo::Window& window, int tile, const float* probabilities,
           const std::uint8_t* valid, const std::vector<float>& weights) {
    const auto plane = static_cast<std::size_t>(tile) * static_cast<std::size_t>(tile);
    const auto width = static_cast<std::size_t>(width_);
    for (std::int64_t ty = 0; ty < window.height; ++ty) {
      float* sums = row(window.y_off + ty) + window.x_off;
      const std::size_t offset = static_cast<std::size_t>(ty) * static_cast<std::size_t>(tile);
      for (std::int64_t tx = 0; tx < window.width; ++tx) {
        const std::size_t at = offset + static_cast<std::size_t>(tx);
        // Nodata pixels get no weight, so they stay nodata however many windows cover them.
        const float weight = valid[at] ? weights[at] : 0.0f;
        for (int c = 0; c < classes_; ++c)
          sums[static_cast<std::size_t>(c) * width + static_cast<std::size_t>(tx)] +=
              weight * probabilities[static_cast<std::size_t>(c) * plane + at];
        sums[static_cast<std::size_t>(classes_) * width + static_cast<std::size_t>(tx)] += weight;
      }
    }
  }

 private:
  std::int64_t width_;
  int classes_;
  std::int64_t top_ = 0;
  std::deque<std::vector<float>> rows_;
  std::vector<std::vector<float>> spare_;
};

// Finished rows, gathered into strips of whole output blocks before they go to GDAL.
class MaskOutputs {
 public:
  MaskOutputs(const StitchOptions& options, const shards::PredictionHeader& header,
              const std::vector<bool>& polygon_class)
      : width_(header.scene_width),
        classes_(header.classes()),
        polygon_class_(polygon_class),
        polygon_source_(options.outputs.polygons.empty() ? ""
                                                         : options.out + ".polygon-source.tif") {
    const geo::GeoTransform transform(header.geotransform);
    const geo::SpatialRef srs = geo::SpatialRef::from_wkt(header.crs_wkt);
    geo::GeoTiffOptions tiff;
    tiff.block_size = kBlock;
    tiff.cog = options.outputs.format == Format::cog;
    tiff.overview_resampling = "NEAREST";
    mask_ = std::make_unique<geo::GeoTiffWriter>(
        options.out, header.scene_width, header.scene_height, 1, GDT_Byte, transform, srs, tiff);
    mask_->set_nodata(kIgnoreLabel);
    mask_->set_classes(header.class_names, geo::class_colours(header.class_names));
    if (!options.outputs.probabilities.empty()) {
      tiff.overview_resampling = "AVERAGE";
      probabilities_ = std::make_unique<geo::GeoTiffWriter>(
          options.outputs.probabilities, header.scene_width, header.scene_height, classes_,
          GDT_Byte, transform, srs, tiff);
      for (int c = 0; c < classes_; ++c)
        probabilities_->set_band(c + 1, header.class_names[static_cast<std::size_t>(c)],
                                 GCI_Undefined);
    }
    if (!polygon_source_.empty()) {
      geo::GeoTiffOptions scratch;
      scratch.compress = "NONE";
      polygons_ = std::make_unique<geo::GeoTiffWriter>(polygon_source_, header.scene_width,
                                                       header.scene_height, 1, GDT_Byte, transform,
                                                       srs, scratch);
      polygons_->set_nodata(kIgnoreLabel);
    }
  }

  // Finishes scene row `y` from its sums.
  void add_row(std::int64_t y, const float* sums) {
    if (strip_rows_ == 0)
      strip_top_ = y;
    const auto width = static_cast<std::size_t>(width_);
    const std::size_t at = static_cast<std::size_t>(strip_rows_) * width;
    mask_strip_.resize(at + width);
    const float* weight = sums + static_cast<std::size_t>(classes_) * width;
    for (std::size_t x = 0; x < width; ++x) {
      std::uint8_t best = kIgnoreLabel;
      if (weight[x] > 0) {
        float best_sum = -1;
        for (int c = 0; c < classes_; ++c) {
          const float sum = sums[static_cast<std::size_t>(c) * width + x];
          if (sum > best_sum) {  // ties go to the lower class id
            best_sum = sum;
            best = static_cast<std::uint8_t>(c);
          }
        }
      }
      mask_strip_[at + x] = best;
    }
    if (probabilities_)
      add_probabilities(sums, weight);
    ++strip_rows_;
    if ((y + 1) % kBlock == 0)
      flush();
  }

  void commit() {
    flush();
    mask_->commit();
    if (probabilities_)
      probabilities_->commit();
    if (polygons_)
      polygons_->commit();
  }

  const std::string& polygon_source() const { return polygon_source_; }

 private:
  static constexpr int kBlock = 256;

  void add_probabilities(const float* sums, const float* weight) {
    const auto width = static_cast<std::size_t>(width_);
    // Band-sequential over the strip: [class][row][column]; rearranged at flush.
    const std::size_t row_values = static_cast<std::size_t>(classes_) * width;
    const std::size_t at = static_cast<std::size_t>(strip_rows_) * row_values;
    probability_rows_.resize(at + row_values);
    for (int c = 0; c < classes_; ++c)
      for (std::size_t x = 0; x < width; ++x) {
        const float p =
            weight[x] > 0 ? sums[static_cast<std::size_t>(c) * width + x] / weight[x] : 0.0f;
        probability_rows_[at + static_cast<std::size_t>(c) * width + x] =
            static_cast<std::uint8_t>(std::lround(std::clamp(p, 0.0f, 1.0f) * 255.0f));
      }
  }

  void flush() {
    if (strip_rows_ == 0)
      return;
    const geo::Window window{0, strip_top_, width_, strip_rows_};
    mask_->write(window, GDT_Byte, mask_strip_.data());
    if (probabilities_) {
      const auto width = static_cast<std::size_t>(width_);
      const auto rows = static_cast<std::size_t>(strip_rows_);
      band_sequential_.resize(probability_rows_.size());
      for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t c = 0; c < static_cast<std::size_t>(classes_); ++c)
          std::copy_n(&probability_rows_[(r * static_cast<std::size_t>(classes_) + c) * width],
                      width, &band_sequential_[(c * rows + r) * width]);
      probabilities_->write(window, GDT_Byte, band_sequential_.data());
    }
    if (polygons_) {
      // Only the classes to polygonize; the rest become nodata, which GDALPolygonize skips.
      for (std::uint8_t& value : mask_strip_)
        if (value != kIgnoreLabel && !polygon_class_[value])
          value = kIgnoreLabel;
      polygons_->write(window, GDT_Byte, mask_strip_.data());
    }
    strip_rows_ = 0;
    mask_strip_.clear();
    probability_rows_.clear();
  }

  std::int64_t width_;
  int classes_;
  std::vector<bool> polygon_class_;
  std::string polygon_source_;
  std::unique_ptr<geo::GeoTiffWriter> mask_, probabilities_, polygons_;
  std::int64_t strip_top_ = 0;
  std::int64_t strip_rows_ = 0;
  std::vector<std::uint8_t> mask_strip_, probability_rows_, band_sequential_;
};

std::vector<bool> polygon_classes(const StitchOptions& options,
                                  const std::vector<std::string>& classes) {
  std::vector<bool> chosen(classes.size(), false);
  if (options.outputs.polygons.empty())
    return chosen;
  if (options.outputs.polygon_classes.empty()) {
    std::fill(chosen.begin() + (chosen.size() > 1 ? 1 : 0), chosen.end(), true);
    return chosen;
  }
  for (const std::string& name : options.outputs.polygon_classes) {
    const auto found = std::find(classes.begin(), classes.end(), name);
    if (found == classes.end())
      throw UsageError("--polygon-classes: '" + name + "' is not a class of the prediction (" +
                       text::join(classes, ", ") + ")");
    chosen[static_cast<std::size_t>(found - classes.begin())] = true;
  }
  return chosen;
}

// Whether two paths name one file (the second need not exist).
// Outputs never replace the scene or anything else without --overwrite.
void check_outputs(const StitchOptions& options, const shards::PredictionHeader& header) {
  for (const std::string& path :
       {options.out, options.outputs.probabilities, options.outputs.polygons}) {
    if (path.empty())
      continue;
    check_output_path(path, options.overwrite, {header.scene});
  }
}

}  // namespace

void validate(const StitchOptions& options) {
  if (options.prediction.empty())
    throw UsageError("--pred is required");
  if (options.out.empty())
    throw UsageError("--out is required");
  const StitchOutputs& outputs = options.outputs;
  if (outputs.simplify_m < 0 || outputs.min_area_m2 < 0)
    throw UsageError("--simplify and --min-area must not be negative");
  if (!outputs.polygons.empty())
    geo::vector_driver_for(outputs.polygons);
  std::vector<std::string> written = {options.out};
  for (const std::string& path : {outputs.probabilities, outputs.polygons}) {
    if (path.empty())
      continue;
    for (const std::string& other : written)
      if (same_file(path, other))
        throw UsageError(path + " is named for two outputs");
    written.push_back(path);
  }
}

StitchResult stitch(const StitchOptions& options) {
  validate(options);
  Stopwatch clock;
  const Prediction prediction(options.prediction);
  const shards::PredictionHeader& header = prediction.header();
  check_outputs(options, header);
  const geo::WindowGrid& grid = prediction.grid();
  const std::vector<bool> polygon_class = polygon_classes(options, header.class_names);
  const int tile = header.tile_size;
  const std::vector<float> weights = blend_weights(options.blend.value_or(header.blend), tile);
  log::info("stitch: ", grid.count(), " windows of ", tile, " px into ", header.scene_width, " x ",
            header.scene_height, " px (", options.out, ")");

  // Written blocks wait in GDAL's cache until it is full, so with its default size the whole
  // mask of a small scene would stay in memory: a few block rows of every output are enough.
  const std::int64_t output_bands = 1 +
                                    (options.outputs.probabilities.empty() ? 0 : header.classes()) +
                                    (options.outputs.polygons.empty() ? 0 : 1);
  geo::set_gdal_cache_megabytes(
      std::clamp<std::int64_t>((4 * 256 * header.scene_width * output_bands) >> 20, 8, 1024));
  MaskOutputs outputs(options, header, polygon_class);
  RowAccumulator sums(header.scene_width, header.classes());
  const auto plane = static_cast<std::size_t>(tile) * static_cast<std::size_t>(tile);
  std::vector<float> probabilities(static_cast<std::size_t>(header.classes()) * plane);
  std::vector<std::uint8_t> valid(plane);
  auto finish_rows_before = [&](std::int64_t end) {
    sums.extend_to(end);
    for (; sums.top() < end; sums.drop_front())
      outputs.add_row(sums.top(), sums.row(sums.top()));
  };
  Progress progress("stitch", grid.count(), "windows");
  // Windows in grid order: rows above a window row's top are final once it starts, and the
  // sums are added in the same order whatever the number of ranks that predicted them.
  for (std::int64_t index = 0; index < grid.count(); ++index) {
    const geo::Window window = grid.inside(index);
    if (index % grid.columns() == 0) {
      finish_rows_before(window.y_off);
      sums.extend_to(window.y_off + window.height);
    }
    try {
      prediction.read(index, probabilities.data(), valid.data());
    } catch (const Error& error) {
      throw Error(prediction.dir() + ", " + grid.describe(index) + ": " + error.what());
    }
    sums.add(window, tile, probabilities.data(), valid.data(), weights);
    progress.advance();
  }
  finish_rows_before(header.scene_height);
  progress.finish();
  outputs.commit();

  StitchResult result;
  result.windows = grid.count();
  if (!options.outputs.polygons.empty()) {
    geo::PolygonOptions polygon_options;
    polygon_options.class_names = header.class_names;
    polygon_options.simplify_m = options.outputs.simplify_m;
    polygon_options.min_area_m2 = options.outputs.min_area_m2;
    auto remove_source = [&] {
      std::remove(outputs.polygon_source().c_str());
      std::remove((outputs.polygon_source() + ".aux.xml").c_str());
    };
    try {
      result.polygons = geo::polygonize_classes(outputs.polygon_source(), options.outputs.polygons,
                                                polygon_options)
                            .polygons;
    } catch (...) {
      remove_source();
      throw;
    }
    remove_source();
  }
  result.seconds = clock.seconds();
  return result;
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
          .value("min-area", &O::min_area_m2, "drop polygons smaller than this, in square metres")
          .value("format", &O::format,
                 "GTiff (tiled, DEFLATE) or COG (Cloud Optimized GeoTIFF with overviews)");
  return table;
}

const options::Table<StitchOptions>& stitch_option_table() {
  using O = StitchOptions;
  static const auto table =
      options::Table<O>()
          .value("pred", &O::prediction, "prediction directory from satunet predict", "PRED")
          .value("out", &O::out,
                 "class map: uint8, colour table and class names, 255 = nodata, the scene's grid",
                 "MASK.tif")
          .value("blend", &O::blend, "override the prediction's blend: gaussian, cosine or uniform",
                 "KIND")
          .flag("overwrite", &O::overwrite, "replace existing output files")
          .include(stitch_output_option_table(), [](O& o) -> StitchOutputs& { return o.outputs; });
  return table;
}

std::string describe(const StitchOptions& options, const StitchResult& result) {
  std::ostringstream out;
  out << "mask: " << options.out << " (" << result.windows << " windows blended in "
      << result.seconds << " s)\n";
  if (!options.outputs.probabilities.empty())
    out << "probabilities: " << options.outputs.probabilities << "\n";
  if (!options.outputs.polygons.empty())
    out << "polygons: " << options.outputs.polygons << " (" << result.polygons << ")\n";
  return out.str();
}

}  // namespace satunet::stitch
