#include "scoring/evaluate.hpp"

#include <algorithm>
#include <cmath>
#include <memory>
#include <optional>

#include "common/error.hpp"
#include "common/files.hpp"
#include "common/labels.hpp"
#include "common/options.hpp"
#include "common/progress.hpp"
#include "geo/labels.hpp"
#include "geo/raster.hpp"
#include "geo/strip_reader.hpp"

namespace satunet::scoring {
namespace {

std::vector<std::string> class_names(const EvaluateOptions& options,
                                     const geo::RasterInfo& prediction) {
  if (!options.classes.empty())
    return options.classes;
  if (!prediction.bands.front().categories.empty())
    return prediction.bands.front().categories;
  throw UsageError(prediction.path + " has no class names: give --classes");
}

void check_same_grid(const geo::RasterInfo& truth, const geo::RasterInfo& prediction) {
  if (truth.width != prediction.width || truth.height != prediction.height)
    throw Error(truth.path + ": " + std::to_string(truth.width) + " x " +
                std::to_string(truth.height) + " pixels but the prediction " + prediction.path +
                " is " + std::to_string(prediction.width) + " x " +
                std::to_string(prediction.height));
  if (truth.has_geotransform && prediction.has_geotransform &&
      !truth.transform.same_grid(prediction.transform, 1e-3))
    throw Error(truth.path + ": on another grid than the prediction " + prediction.path +
                ": geotransform " + truth.transform.to_string() + " vs " +
                prediction.transform.to_string());
  if (!truth.crs_wkt.empty() && !prediction.crs_wkt.empty() &&
      !truth.srs().same_as(prediction.srs()))
    throw Error(truth.path + ": CRS " + truth.srs().label() + " differs from the prediction's " +
                prediction.srs().label());
}

// A class map read as it is stored (any integer or float type, never clamped to a byte): its
// nodata value and 255 become the ignore label, anything else that is not a class id is an
// error naming the file and the place.
class ClassMapReader {
 public:
  ClassMapReader(const geo::Raster& raster, int classes)
      : path_(raster.info().path),
        nodata_(raster.info().bands.front().nodata),
        width_(raster.info().width),
        classes_(classes),
        reader_(raster, {1}, GDT_Float64) {}

  void read(std::int64_t row, std::int64_t rows, std::vector<std::uint8_t>& out) {
    reader_.read(row, rows, bytes_);
    const auto* values = reinterpret_cast<const double*>(bytes_.data());
    out.resize(bytes_.size() / sizeof(double));
    for (std::size_t i = 0; i < out.size(); ++i)
      out[i] = class_id(values[i], row, i);
  }

 private:
  std::uint8_t class_id(double value, std::int64_t row, std::size_t i) const {
    if (geo::is_nodata(value, nodata_) || value == kIgnoreLabel)
      return kIgnoreLabel;
    if (value >= 0 && value < classes_ && value == std::floor(value))
      return static_cast<std::uint8_t>(value);
    const auto index = static_cast<std::int64_t>(i);
    throw Error(path_ + ": value " + options::show(value) + " at pixel (" +
                std::to_string(index % width_) + ", " + std::to_string(row + index / width_) +
                ") is neither a class id (0 to " + std::to_string(classes_ - 1) +
                "), 255 nor the nodata value");
  }
  std::string path_;
  std::optional<double> nodata_;
  std::int64_t width_;
  int classes_;
  geo::StripReader reader_;
  std::vector<std::uint8_t> bytes_;
};

}  // namespace

const options::Table<EvaluateOptions>& evaluate_option_table() {
  using O = EvaluateOptions;
  static const auto table =
      options::Table<O>()
          .value("pred", &O::prediction, "predicted class map (255 = nodata)", "MASK.tif")
          .value("truth", &O::truth, "true class map on the same grid", "TRUTH.tif")
          .repeated("truth-labels", &O::truth_labels,
                    "true labels as vectors (any OGR format and CRS), rasterized onto the "
                    "prediction's grid",
                    "CLASS=FILE")
          .value("classes", &O::classes,
                 "class names in id order (default: the prediction's category names)", "a,b,c")
          .repeated("line-width", &O::line_width_m,
                    "buffer vector truth lines of CLASS to this width in metres", "CLASS=METRES")
          .value("width-field", &O::width_field, "per-feature line width in metres", "FIELD")
          .value("json", &O::json, "also write the scores as JSON", "FILE");
  return table;
}

void validate(const EvaluateOptions& options) {
  if (options.prediction.empty())
    throw UsageError("--pred is required");
  if (options.truth.empty() == options.truth_labels.empty())
    throw UsageError("give the truth as --truth RASTER or as --truth-labels CLASS=FILE");
  if (!options.classes.empty())
    check_class_names(options.classes, "--classes");
}

Evaluation evaluate(const EvaluateOptions& options) {
  validate(options);
  if (!file_exists(options.prediction))
    throw Error(options.prediction + ": no such file");
  const geo::Raster prediction = geo::Raster::open(options.prediction);
  const geo::RasterInfo& info = prediction.info();
  Evaluation result{class_names(options, info), ConfusionMatrix()};
  result.matrix = ConfusionMatrix(static_cast<int>(result.classes.size()));

  std::optional<geo::Raster> truth_raster;
  std::unique_ptr<ClassMapReader> truth_reader;
  std::optional<geo::VectorLabels> truth_vectors;
  if (!options.truth.empty()) {
    if (!file_exists(options.truth))
      throw Error(options.truth + ": no such file");
    truth_raster.emplace(geo::Raster::open(options.truth));
    check_same_grid(truth_raster->info(), info);
    truth_reader = std::make_unique<ClassMapReader>(*truth_raster, result.matrix.classes());
  } else {
    if (!info.georeferenced())
      throw Error(options.prediction + ": vector truth needs a georeferenced prediction");
    std::vector<geo::VectorLabelSource> sources;
    for (const auto& [name, path] : options.truth_labels) {
      const auto found = std::find(result.classes.begin(), result.classes.end(), name);
      if (found == result.classes.end())
        throw UsageError("--truth-labels: class '" + name + "' is not among the classes");
      if (!file_exists(path))
        throw Error(path + ": no such file");
      geo::VectorLabelSource source;
      source.path = path;
      source.class_id = static_cast<int>(found - result.classes.begin());
      sources.push_back(source);
    }
    geo::LineWidths widths;
    widths.width_field = options.width_field;
    for (const auto& [name, metres] : options.line_width_m) {
      const auto found = std::find(result.classes.begin(), result.classes.end(), name);
      if (found == result.classes.end())
        throw UsageError("--line-width: class '" + name + "' is not among the classes");
      widths.metres_by_class[static_cast<int>(found - result.classes.begin())] = metres;
    }
    truth_vectors.emplace(sources, info, result.classes, widths, false);
  }

  ClassMapReader prediction_reader(prediction, result.matrix.classes());
  std::vector<std::uint8_t> predicted, truth;
  Progress progress("evaluate", info.height, "rows");
  for (std::int64_t row = 0; row < info.height; row += options.strip_rows) {
    const std::int64_t rows = std::min(options.strip_rows, info.height - row);
    prediction_reader.read(row, rows, predicted);
    if (truth_reader) {
      truth_reader->read(row, rows, truth);
    } else {
      truth.resize(predicted.size());
      truth_vectors->rasterize({0, row, info.width, rows}, truth.data());
    }
    // Nodata in the prediction (255) is not scored either.
    for (std::size_t i = 0; i < truth.size(); ++i)
      if (predicted[i] == kIgnoreLabel)
        truth[i] = kIgnoreLabel;
    result.matrix.add(truth.data(), predicted.data(), truth.size());
    progress.advance(rows);
  }
  progress.finish();
  if (!options.json.empty())
    write_file(options.json, result.matrix.json(result.classes) + "\n");
  return result;
}

}  // namespace satunet::scoring
