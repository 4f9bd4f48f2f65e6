#include "stitch/blender.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <optional>
#include <type_traits>
#include <utility>

#include "common/error.hpp"
#include "common/files.hpp"
#include "common/huge_pages.hpp"
#include "common/labels.hpp"
#include "common/parallel_for.hpp"
#include "common/serial_worker.hpp"
#include "common/text.hpp"
#include "geo/geotiff.hpp"
#include "geo/polygonize.hpp"
#include "geo/vector.hpp"
#include "stitch/blend.hpp"
#include "stitch/road_cleanup.hpp"

namespace satunet::stitch {
namespace {

// The build targets any x86-64 (SSE2); the blend's hot loops get a second copy for AVX2 (twice
// the floats per instruction), chosen at run time where the CPU has it.
// The loops they call are inlined into both copies (INLINED): a loop left out of line would
// be built for SSE2 only.
#if defined(__x86_64__) && defined(__GNUC__)
#define ALSO_FOR_AVX2 __attribute__((target_clones("avx2", "default")))
#define INLINED inline __attribute__((always_inline))
#else
#define ALSO_FOR_AVX2
#define INLINED inline
#endif

// Output blocks are square; finished rows are gathered into strips of whole block rows.
constexpr int kBlock = 256;

// The loops of the blend, apart so that their pointers can be declared unaliased (stored
// bytes could alias anything) and they vectorise.
void mask_weights(float* __restrict masked, const float* __restrict weights,
                  const std::uint8_t* __restrict valid, std::size_t count) {
  for (std::size_t i = 0; i < count; ++i) {
    const float weight = weights[i];  // loaded whatever `valid` says, or GCC will not vectorise
    masked[i] = valid[i] ? weight : 0.0f;
  }
}

// A pixel's first window stores its term (`kFirst`), later ones add theirs: the same sums to
// the bit as adding to zeros (0 + x is x), without zeroing the sums first or reading them back.
template <bool kFirst, typename Stored, typename Decode>
INLINED void accumulate(float* __restrict sums, const float* __restrict weights,
                        const Stored* __restrict stored, Decode decode, std::size_t count) {
  for (std::size_t i = 0; i < count; ++i) {
    const float term = weights[i] * decode(stored[i]);
    sums[i] = kFirst ? term : sums[i] + term;
  }
}

template <bool kFirst>
INLINED void add_weights(float* __restrict sums, const float* __restrict weights,
                         std::size_t count) {
  for (std::size_t i = 0; i < count; ++i)
    sums[i] = kFirst ? weights[i] : sums[i] + weights[i];
}

// One row of a window into its scene row's sums ([class 0 .. class C-1, weight], `stride`
// floats apart): `stored` the window's probabilities as stored (class planes `plane` apart),
// `decode(value)` their float in [0, 1], `weighed` the blend's weights (0 where nodata); the
// columns from `first_from` on get their first window here. Class by class along the row, so
// that the loops vectorise; each sum gets `weight * p` once.
template <typename Stored, typename Decode>
INLINED void add_weighted_row(float* sums, std::size_t stride, const Stored* stored,
                              std::size_t plane, const float* weighed, int classes,
                              std::size_t count, std::size_t first_from, Decode decode) {
  const std::size_t fresh = count - first_from;
  for (std::size_t c = 0; c < static_cast<std::size_t>(classes); ++c) {
    float* row = sums + c * stride;
    const Stored* values = stored + c * plane;
    accumulate<false>(row, weighed, values, decode, first_from);
    accumulate<true>(row + first_from, weighed + first_from, values + first_from, decode, fresh);
  }
  float* weight_sums = sums + static_cast<std::size_t>(classes) * stride;
  add_weights<false>(weight_sums, weighed, first_from);
  add_weights<true>(weight_sums + first_from, weighed + first_from, fresh);
}

// The same for probabilities stored as uint8 (the default), where nearly all of the blend's
// time goes. Also built for AVX2 (ALSO_FOR_AVX2), without FMA: multiplications and additions
// are rounded apart, as in the SSE2 copy, so sums are the same to the bit on either.
ALSO_FOR_AVX2 void add_byte_window_row(float* sums, std::size_t stride, const std::uint8_t* stored,
                                       std::size_t plane, const float* weighed, int classes,
                                       std::size_t count, std::size_t first_from) {
  add_weighted_row(sums, stride, stored, plane, weighed, classes, count, first_from,
                   [](std::uint8_t value) { return shards::uint8_probability(value); });
}

// The argmax of a row, one class at a time: the label where the class's sum is larger, then
// the larger sum (two loops: GCC vectorises each, not both in one).
INLINED void take_larger(float* __restrict best_sums, std::uint8_t* __restrict best,
                         const float* __restrict sums, std::uint8_t label, std::size_t count) {
  for (std::size_t i = 0; i < count; ++i)
    best[i] = sums[i] > best_sums[i] ? label : best[i];
  for (std::size_t i = 0; i < count; ++i)
    best_sums[i] = std::max(best_sums[i], sums[i]);
}

// Pixels no window weighed (nodata) are nodata in the class map.
INLINED void unless_weighed(std::uint8_t* __restrict labels, const float* __restrict weights,
                            std::size_t count) {
  for (std::size_t i = 0; i < count; ++i)
    labels[i] = weights[i] > 0 ? labels[i] : kIgnoreLabel;
}

// The class ids of a row from its sums ([class 0 .. class C-1, weight] x width): the class
// with the largest sum, ties to the lower id. For the usual few classes, one pass over the
// pixels (the class count known when compiled, so the pass vectorises); for more, class by
// class over the row. Both take classes in order from a best sum of -1, so they agree.
template <int kClasses>
INLINED void label_pixels(std::uint8_t* __restrict labels, const float* __restrict sums,
                          std::size_t width) {
  const float* __restrict weights = sums + kClasses * width;
  for (std::size_t x = 0; x < width; ++x) {
    float best_sum = -1.0f;
    std::uint32_t best = kIgnoreLabel;
    for (int c = 0; c < kClasses; ++c) {
      const float sum = sums[static_cast<std::size_t>(c) * width + x];
      best = sum > best_sum ? static_cast<std::uint32_t>(c) : best;
      best_sum = std::max(best_sum, sum);
    }
    labels[x] = static_cast<std::uint8_t>(weights[x] > 0 ? best : kIgnoreLabel);
  }
}

// `best_sums` holds `width` floats of the caller's.
ALSO_FOR_AVX2 void label_row(std::uint8_t* labels, float* best_sums, const float* sums, int classes,
                             std::size_t width) {
  switch (classes) {
    case 2:
      return label_pixels<2>(labels, sums, width);
    case 3:
      return label_pixels<3>(labels, sums, width);
    case 4:
      return label_pixels<4>(labels, sums, width);
    default:
      break;
  }
  std::fill_n(best_sums, width, -1.0f);
  std::fill_n(labels, width, kIgnoreLabel);
  for (int c = 0; c < classes; ++c)
    take_larger(best_sums, labels, sums + static_cast<std::size_t>(c) * width,
                static_cast<std::uint8_t>(c), width);
  unless_weighed(labels, sums + static_cast<std::size_t>(classes) * width, width);
}

// Weighted sums of class probabilities, and of the weights, for a band of at most `capacity`
// scene rows, in a ring allocated once. Row layout: [class 0 ... class C-1, weight] x width.
// Rows are not zeroed when they enter the band: each pixel's first window stores its terms
// (the grid covers every pixel, and says which window is first: FirstTouch).
class RowAccumulator {
 public:
  RowAccumulator(std::int64_t width, int classes, std::int64_t capacity)
      : width_(width),
        classes_(classes),
        capacity_(capacity),
        row_values_(static_cast<std::size_t>(width) * static_cast<std::size_t>(classes + 1)),
        storage_(
            huge_page_memory(static_cast<std::size_t>(capacity) * row_values_ * sizeof(float))) {}

  std::int64_t top() const { return top_; }
  std::int64_t bottom() const { return bottom_; }
  float* row(std::int64_t y) {
    return static_cast<float*>(storage_.get()) +
           static_cast<std::size_t>(y % capacity_) * row_values_;
  }

  void extend_to(std::int64_t end) {
    for (; bottom_ < end; ++bottom_) {
      if (bottom_ - top_ >= capacity_)
        throw Error("blend: more than " + std::to_string(capacity_) +
                    " rows of windows pending (a window grid with gaps?)");
    }
  }

  void drop_front() { ++top_; }

  // Row `ty` of a window into its scene row (add_weighted_row): `stored` is the window's
  // C*T*T probabilities as stored, `decode(value)` their float in [0, 1], `first_from` the
  // first of its columns no earlier window covered. Rows may be added on several threads at
  // once, each its own; `masked` holds T floats of the caller's.
  template <typename Stored, typename Decode>
  void add_window_row(const geo::Window& window, std::int64_t ty, int tile, const Stored* stored,
                      Decode decode, const std::uint8_t* valid, const float* weights,
                      std::size_t first_from, float* masked) {
    const auto plane = static_cast<std::size_t>(tile) * static_cast<std::size_t>(tile);
    const auto width = static_cast<std::size_t>(width_);
    const auto columns = static_cast<std::size_t>(window.width);
    float* sums = row(window.y_off + ty) + window.x_off;
    const std::size_t offset = static_cast<std::size_t>(ty) * static_cast<std::size_t>(tile);
    // Nodata pixels get no weight, so they stay nodata however many windows cover them; where
    // every pixel has data (nearly everywhere), the weights are taken as they are.
    const float* weighed = weights + offset;
    if (std::memchr(valid + offset, 0, columns) != nullptr) {
      mask_weights(masked, weighed, valid + offset, columns);
      weighed = masked;
    }
    if constexpr (std::is_same_v<Stored, std::uint8_t>)
      add_byte_window_row(sums, width, stored + offset, plane, weighed, classes_, columns,
                          first_from);
    else
      add_weighted_row(sums, width, stored + offset, plane, weighed, classes_, columns, first_from,
                       decode);
  }

 private:
  std::int64_t width_;
  int classes_;
  std::int64_t capacity_;
  std::size_t row_values_;
  std::shared_ptr<void> storage_;
  std::int64_t top_ = 0;
  std::int64_t bottom_ = 0;
};

// Where a window of the grid is the first to cover pixels: in its rows from `row` on (those
// below the row of windows above), its columns from `column` on (those right of the window
// before it). Windows come in grid order and their offsets grow, so nothing else is first.
struct FirstTouch {
  std::int64_t row = 0;
  std::int64_t column = 0;

  FirstTouch(const geo::WindowGrid& grid, std::int64_t index) {
    const geo::Window window = grid.inside(index);
    if (index >= grid.columns()) {
      const geo::Window above = grid.inside(index - grid.columns());
      row = above.y_off + above.height - window.y_off;
    }
    if (index % grid.columns() != 0) {
      const geo::Window left = grid.inside(index - 1);
      column = left.x_off + left.width - window.x_off;
    }
  }

  // The first of row `ty`'s columns that gets its first window.
  std::size_t in_row(std::int64_t ty, std::int64_t width) const {
    return static_cast<std::size_t>(ty >= row ? column : width);
  }
};

std::vector<bool> polygon_classes(const StitchOutputs& outputs,
                                  const std::vector<std::string>& classes) {
  std::vector<bool> chosen(classes.size(), false);
  if (outputs.polygons.empty())
    return chosen;
  if (outputs.polygon_classes.empty()) {
    std::fill(chosen.begin() + (chosen.size() > 1 ? 1 : 0), chosen.end(), true);
    return chosen;
  }
  for (const std::string& name : outputs.polygon_classes) {
    const auto found = std::find(classes.begin(), classes.end(), name);
    if (found == classes.end())
      throw UsageError("--polygon-classes: '" + name + "' is not a class of the prediction (" +
                       text::join(classes, ", ") + ")");
    chosen[static_cast<std::size_t>(found - classes.begin())] = true;
  }
  return chosen;
}

// Finished rows, gathered into strips of whole output blocks before they go to GDAL.
class MaskOutputs {
 public:
  MaskOutputs(const std::string& mask, const StitchOutputs& outputs,
              const shards::PredictionMeta& meta)
      : width_(meta.scene_width),
        classes_(meta.classes()),
        polygon_class_(polygon_classes(outputs, meta.class_names)),
        polygon_source_(outputs.polygons.empty() ? "" : mask + ".polygon-source.tif"),
        roads_(outputs.roads),
        road_class_(road_class(outputs.roads, meta.class_names)),
        grid_(grid_of(mask, meta)) {
    const geo::GeoTransform transform(meta.geotransform);
    const geo::SpatialRef srs = geo::SpatialRef::from_wkt(meta.crs_wkt);
    geo::GeoTiffOptions tiff;
    tiff.block_size = kBlock;
    // Level 1 (DEFLATE, ZSTD): class maps come out 13-20 % larger than at DEFLATE's level 6
    // but compress 1.3x (smooth maps) to 3.5x (noisy ones) faster, written as fast as windows
    // are predicted.
    tiff.compress = gdal_compression(outputs.compression);
    tiff.level = 1;
    tiff.predictor = false;  // class ids
    tiff.cog = outputs.format == Format::cog;
    tiff.overview_resampling = "NEAREST";
    mask_ = std::make_unique<geo::GeoTiffWriter>(mask, meta.scene_width, meta.scene_height, 1,
                                                 GDT_Byte, transform, srs, tiff);
    mask_->set_nodata(kIgnoreLabel);
    mask_->set_classes(meta.class_names, geo::class_colours(meta.class_names));
    if (road_class_)
      whole_.reserve(static_cast<std::size_t>(meta.scene_width * meta.scene_height));
    if (!outputs.probabilities.empty()) {
      tiff.overview_resampling = "AVERAGE";
      tiff.predictor = true;
      probabilities_ = std::make_unique<geo::GeoTiffWriter>(outputs.probabilities, meta.scene_width,
                                                            meta.scene_height, classes_, GDT_Byte,
                                                            transform, srs, tiff);
      for (int c = 0; c < classes_; ++c)
        probabilities_->set_band(c + 1, meta.class_names[static_cast<std::size_t>(c)],
                                 GCI_Undefined);
    }
    if (!polygon_source_.empty()) {
      geo::GeoTiffOptions scratch;
      scratch.compress = "NONE";
      polygons_ =
          std::make_unique<geo::GeoTiffWriter>(polygon_source_, meta.scene_width, meta.scene_height,
                                               1, GDT_Byte, transform, srs, scratch);
      polygons_->set_nodata(kIgnoreLabel);
    }
  }

  // Output bands written (mask, probabilities, polygon source), for the cache they need.
  int bands() const { return 1 + (probabilities_ ? classes_ : 0) + (polygons_ ? 1 : 0); }

  // Finishes scene row `y` from its sums.
  void add_row(std::int64_t y, const float* sums) {
    if (strip_rows_ == 0)
      strip_top_ = y;
    const auto width = static_cast<std::size_t>(width_);
    const std::size_t at = static_cast<std::size_t>(strip_rows_) * width;
    mask_strip_.resize(at + width);
    best_sums_.resize(width);
    label_row(mask_strip_.data() + at, best_sums_.data(), sums, classes_, width);
    if (probabilities_)
      add_probabilities(sums, sums + static_cast<std::size_t>(classes_) * width);
    ++strip_rows_;
    if ((y + 1) % kBlock == 0)
      flush();
  }

  void commit() {
    flush();
    wait_for_writing();
    if (road_class_)
      write_cleaned_roads();
    mask_->commit();
    if (probabilities_)
      probabilities_->commit();
    if (polygons_)
      polygons_->commit();
  }

  const std::string& polygon_source() const { return polygon_source_; }
  const RoadCleanupResult& roads() const { return cleaned_; }

 private:
  static std::optional<std::uint8_t> road_class(const RoadCleanupOptions& roads,
                                                const std::vector<std::string>& classes) {
    if (roads.road_class.empty())
      return std::nullopt;
    const auto found = std::find(classes.begin(), classes.end(), roads.road_class);
    if (found == classes.end())
      throw UsageError("--clean-roads: '" + roads.road_class +
                       "' is not a class of the prediction (" + text::join(classes, ", ") + ")");
    return static_cast<std::uint8_t>(found - classes.begin());
  }

  static geo::RasterInfo grid_of(const std::string& mask, const shards::PredictionMeta& meta) {
    geo::RasterInfo grid;
    grid.path = mask;
    grid.width = meta.scene_width;
    grid.height = meta.scene_height;
    grid.crs_wkt = meta.crs_wkt;
    grid.has_geotransform = true;
    grid.transform = geo::GeoTransform(meta.geotransform);
    return grid;
  }

  // The whole class map, held until now, with its road class cleaned; then written in strips.
  void write_cleaned_roads() {
    cleaned_ = clean_roads(whole_, *road_class_, grid_, roads_);
    const auto width = static_cast<std::size_t>(width_);
    for (std::int64_t top = 0; top < grid_.height; top += kBlock) {
      const std::int64_t rows = std::min<std::int64_t>(kBlock, grid_.height - top);
      write_classes({0, top, width_, rows}, whole_.data() + static_cast<std::size_t>(top) * width);
    }
    whole_ = {};
    if (!roads_.lines.empty())
      write_road_centre_lines(roads_.lines, cleaned_.graph, grid_);
  }

  // Class ids of a strip of rows; the polygon source gets the classes to polygonize only (the
  // rest become nodata, which GDALPolygonize skips).
  void write_classes(const geo::Window& window, std::uint8_t* labels) {
    mask_->write(window, GDT_Byte, labels);
    if (!polygons_)
      return;
    const std::size_t count =
        static_cast<std::size_t>(window.width) * static_cast<std::size_t>(window.height);
    for (std::size_t i = 0; i < count; ++i)
      if (labels[i] != kIgnoreLabel && !polygon_class_[labels[i]])
        labels[i] = kIgnoreLabel;
    polygons_->write(window, GDT_Byte, labels);
  }

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

  // The strip gathered so far goes to the outputs on the writing thread, while the next one
  // is blended: GDAL's write waits whenever its compression threads are behind, and the blend
  // would wait with it.
  void flush() {
    if (strip_rows_ == 0)
      return;
    wait_for_writing();  // the strip before is written: its buffers are free
    const geo::Window window{0, strip_top_, width_, strip_rows_};
    const bool classes_now = !road_class_;
    if (road_class_)  // written once its roads are cleaned, at commit
      whole_.insert(whole_.end(), mask_strip_.begin(), mask_strip_.end());
    else
      std::swap(mask_strip_, writing_strip_);
    if (probabilities_) {
      const auto width = static_cast<std::size_t>(width_);
      const auto rows = static_cast<std::size_t>(strip_rows_);
      band_sequential_.resize(probability_rows_.size());
      for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t c = 0; c < static_cast<std::size_t>(classes_); ++c)
          std::copy_n(&probability_rows_[(r * static_cast<std::size_t>(classes_) + c) * width],
                      width, &band_sequential_[(c * rows + r) * width]);
    }
    writing_ = writer_.submit([this, window, classes_now] {
      if (classes_now)
        write_classes(window, writing_strip_.data());
      if (probabilities_)
        probabilities_->write(window, GDT_Byte, band_sequential_.data());
      // Compressed now, beside the blend of the next strip, not in a heap at commit.
      for (geo::GeoTiffWriter* output : {mask_.get(), probabilities_.get(), polygons_.get()})
        if (output)
          output->flush();
    });
    strip_rows_ = 0;
    mask_strip_.clear();
    probability_rows_.clear();
  }

  // Rethrows what the last strip's writing threw.
  void wait_for_writing() {
    if (const std::shared_ptr<JobHandle> writing = std::exchange(writing_, nullptr))
      writing->wait();
  }

  std::int64_t width_;
  int classes_;
  std::vector<bool> polygon_class_;
  std::string polygon_source_;
  std::unique_ptr<geo::GeoTiffWriter> mask_, probabilities_, polygons_;
  std::int64_t strip_top_ = 0;
  std::int64_t strip_rows_ = 0;
  std::vector<std::uint8_t> mask_strip_, probability_rows_, band_sequential_;
  std::vector<float> best_sums_;  // of one row
  RoadCleanupOptions roads_;
  std::optional<std::uint8_t> road_class_;  // a road cleanup asked for
  geo::RasterInfo grid_;                    // the class map's
  std::vector<std::uint8_t> whole_;         // with a road cleanup: every row until commit
  RoadCleanupResult cleaned_;
  std::vector<std::uint8_t> writing_strip_;  // the class ids being written
  std::shared_ptr<JobHandle> writing_;
  SerialWorker writer_;  // last: stopped first, when what it writes from still exists
};

}  // namespace

struct MaskBlender::Impl {
  std::string mask;
  StitchOutputs options;
  shards::PredictionMeta meta;
  geo::WindowGrid grid;
  std::vector<float> weights;
  int threads;
  MaskOutputs outputs;
  RowAccumulator sums;
  // Windows given one at a time (add), copied until their row of the grid is complete.
  std::vector<std::uint8_t> row_probabilities, row_valid;
  std::int64_t next = 0;  // the window expected next
  bool finished = false;

  Impl(const std::string& mask_path, const StitchOutputs& outputs_asked,
       const shards::PredictionMeta& prediction, shards::Blend blend, int blend_threads)
      : mask(mask_path),
        options(outputs_asked),
        meta(prediction),
        grid(meta.scene_width, meta.scene_height, meta.tile_size, meta.overlap),
        weights(blend_weights(blend, meta.tile_size)),
        threads(blend_threads),
        outputs(mask, options, meta),
        // A row of windows reaches at most a window's height below the rows it finishes.
        sums(meta.scene_width, meta.classes(), meta.tile_size) {}

  std::size_t plane() const {
    return static_cast<std::size_t>(meta.tile_size) * static_cast<std::size_t>(meta.tile_size);
  }
  std::size_t window_bytes() const {
    const std::size_t value_bytes = meta.encoding == shards::ProbabilityEncoding::uint8 ? 1 : 2;
    return static_cast<std::size_t>(meta.classes()) * plane() * value_bytes;
  }

  void finish_rows_before(std::int64_t end) {
    sums.extend_to(end);
    for (; sums.top() < end; sums.drop_front())
      outputs.add_row(sums.top(), sums.row(sums.top()));
  }

  void expect(std::int64_t index) const {
    if (finished || index != next)
      throw Error(mask + ": " + grid.describe(index) + " given to the blend where " +
                  (finished ? std::string("it was finished") : grid.describe(next)) +
                  " was due: windows are blended in grid order");
  }

  void add(std::int64_t index, const void* probabilities, const std::uint8_t* valid) {
    expect(index);
    const std::int64_t column = index % grid.columns();
    row_probabilities.resize(static_cast<std::size_t>(grid.columns()) * window_bytes());
    row_valid.resize(static_cast<std::size_t>(grid.columns()) * plane());
    const auto* stored = static_cast<const std::uint8_t*>(probabilities);
    std::copy_n(stored, window_bytes(),
                row_probabilities.data() + static_cast<std::size_t>(column) * window_bytes());
    std::copy_n(valid, plane(), row_valid.data() + static_cast<std::size_t>(column) * plane());
    ++next;
    if (column == grid.columns() - 1)
      blend_run(index - column, grid.columns(), row_probabilities.data(), row_valid.data());
  }

  void add_windows(std::int64_t first, std::int64_t count, const void* probabilities,
                   const std::uint8_t* valid) {
    expect(first);
    if (first % grid.columns() != 0 && !row_probabilities.empty())
      throw Error(mask + ": " + grid.describe(first) +
                  " given in place after windows of its row were given to copy");
    const auto* stored = static_cast<const std::uint8_t*>(probabilities);
    while (count > 0) {
      const std::int64_t run = std::min(count, grid.columns() - first % grid.columns());
      blend_run(first, run, stored, valid);
      stored += static_cast<std::size_t>(run) * window_bytes();
      valid += static_cast<std::size_t>(run) * plane();
      first += run;
      count -= run;
      next = first;
    }
  }

  // Windows first .. first + count - 1 of one row of the grid (consecutive in memory). When
  // a row of windows starts, the rows above its top are final (no later window reaches them).
  // Its windows are added scene row by scene row, each scene row's sums staying in the cache
  // while every window adds to it, rows spread over the threads. Each sum gets its windows in
  // grid order whoever predicted them and however they were batched, so masks are identical.
  void blend_run(std::int64_t first, std::int64_t count, const std::uint8_t* probabilities,
                 const std::uint8_t* valid) {
    const geo::Window top = grid.inside(first);
    if (first % grid.columns() == 0) {
      finish_rows_before(top.y_off);
      sums.extend_to(top.y_off + top.height);
    }
    if (meta.encoding == shards::ProbabilityEncoding::uint8)
      blend_run_as<std::uint8_t>(
          first, count, top.height, probabilities, valid,
          [](std::uint8_t stored) { return shards::uint8_probability(stored); });
    else
      blend_run_as<std::uint16_t>(
          first, count, top.height, probabilities, valid,
          [](std::uint16_t stored) { return shards::half_to_float(stored); });
  }

  // Lambdas, not function pointers, for `decode`: inlined, so that the loops vectorise.
  template <typename Stored, typename Decode>
  void blend_run_as(std::int64_t first, std::int64_t count, std::int64_t height,
                    const std::uint8_t* probabilities, const std::uint8_t* valid, Decode decode) {
    std::vector<geo::Window> windows;
    std::vector<FirstTouch> firsts;
    for (std::int64_t i = 0; i < count; ++i) {
      windows.push_back(grid.inside(first + i));
      firsts.emplace_back(grid, first + i);
    }
    parallel_for(height, threads, [&](std::int64_t ty) {
      std::vector<float> masked(static_cast<std::size_t>(meta.tile_size));
      for (std::size_t i = 0; i < windows.size(); ++i)
        sums.add_window_row(windows[i], ty, meta.tile_size,
                            reinterpret_cast<const Stored*>(probabilities + i * window_bytes()),
                            decode, valid + i * plane(), weights.data(),
                            firsts[i].in_row(ty, windows[i].width), masked.data());
    });
  }

  std::int64_t polygonize() const {
    geo::PolygonOptions polygon_options;
    polygon_options.class_names = meta.class_names;
    polygon_options.simplify_m = options.simplify_m;
    polygon_options.min_area_m2 = options.min_area_m2;
    auto remove_source = [&] {
      std::remove(outputs.polygon_source().c_str());
      std::remove((outputs.polygon_source() + ".aux.xml").c_str());
    };
    try {
      const std::int64_t polygons =
          geo::polygonize_classes(outputs.polygon_source(), options.polygons, polygon_options)
              .polygons;
      remove_source();
      return polygons;
    } catch (...) {
      remove_source();
      throw;
    }
  }
};

MaskBlender::MaskBlender(const std::string& mask, const StitchOutputs& outputs, bool overwrite,
                         const shards::PredictionMeta& meta, shards::Blend blend, int threads) {
  validate_outputs(mask, outputs);
  check_outputs(mask, outputs, overwrite, {meta.scene});
  impl_ = std::make_unique<Impl>(mask, outputs, meta, blend, threads);
}

MaskBlender::~MaskBlender() = default;

const geo::WindowGrid& MaskBlender::grid() const {
  return impl_->grid;
}

std::int64_t MaskBlender::cache_bytes() const {
  // Written blocks wait in GDAL's cache until it is full, so with its default size the whole
  // mask of a small scene would stay in memory: a few block rows of every output are enough.
  return 4 * std::int64_t{kBlock} * impl_->meta.scene_width * impl_->outputs.bands();
}

void MaskBlender::add(std::int64_t index, const void* probabilities, const std::uint8_t* valid) {
  impl_->add(index, probabilities, valid);
}

void MaskBlender::add_windows(std::int64_t first, std::int64_t count, const void* probabilities,
                              const std::uint8_t* valid) {
  impl_->add_windows(first, count, probabilities, valid);
}

StitchResult MaskBlender::finish() {
  Impl& blend = *impl_;
  if (blend.next != blend.grid.count())
    throw Error(blend.mask + ": " + blend.grid.describe(blend.next) +
                " never came to the blend (a window missing from the prediction)");
  blend.finished = true;
  blend.finish_rows_before(blend.meta.scene_height);
  blend.outputs.commit();
  StitchResult result;
  result.windows = blend.grid.count();
  const RoadCleanupResult& roads = blend.outputs.roads();
  result.road_gaps_closed = roads.gaps_closed;
  result.road_pixels_removed = roads.pixels_removed;
  result.road_pixels_added = roads.pixels_added;
  result.road_lines = static_cast<std::int64_t>(roads.graph.edges.size());
  if (!blend.options.polygons.empty())
    result.polygons = blend.polygonize();
  return result;
}

void validate_outputs(const std::string& mask, const StitchOutputs& outputs) {
  stitch_output_option_table().check(outputs);
  if (!geo::geotiff_can_compress(gdal_compression(outputs.compression)))
    throw UsageError("--map-compress " + options::enum_name(outputs.compression) +
                     ": this GDAL cannot write " + gdal_compression(outputs.compression) +
                     "-compressed GeoTIFFs (its libtiff lacks the codec); use deflate");
  if (!outputs.polygons.empty())
    geo::vector_driver_for(outputs.polygons);
  if (!outputs.roads.lines.empty()) {
    if (outputs.roads.road_class.empty())
      throw UsageError("--road-lines " + outputs.roads.lines +
                       ": the centre lines come from a road cleanup; give --clean-roads CLASS");
    geo::vector_driver_for(outputs.roads.lines);
  }
  check_distinct_outputs({mask, outputs.probabilities, outputs.polygons, outputs.roads.lines});
}

void check_outputs(const std::string& mask, const StitchOutputs& outputs, bool overwrite,
                   const std::vector<std::string>& inputs) {
  for (const std::string& path :
       {mask, outputs.probabilities, outputs.polygons, outputs.roads.lines})
    if (!path.empty())
      check_output_path(path, overwrite, inputs);
}

}  // namespace satunet::stitch
