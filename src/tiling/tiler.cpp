#include "tiling/tiler.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <exception>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>
#include <type_traits>

#include "common/files.hpp"
#include "common/hash.hpp"
#include "common/log.hpp"
#include "common/progress.hpp"
#include "common/text.hpp"
#include "geo/gdal.hpp"
#include "geo/labels.hpp"
#include "geo/raster.hpp"
#include "geo/strip_reader.hpp"
#include "shards/shard.hpp"
#include "tiling/grid.hpp"

namespace satunet::tiling {
namespace fs = std::filesystem;
namespace {

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

int class_index(const std::vector<std::string>& classes, const std::string& name,
                const std::string& where) {
  const auto found = std::find(classes.begin(), classes.end(), name);
  if (found == classes.end())
    throw UsageError(where + ": class '" + name + "' is not in --classes (" +
                     text::join(classes, ",") + ")");
  return static_cast<int>(found - classes.begin());
}

// A scene opened and checked, with its bands chosen and its labels described.
struct Scene {
  int index = 0;
  SceneInput input;
  std::unique_ptr<geo::Raster> raster;
  geo::InputBands bands;
  GDALDataType type = GDT_Unknown;
  std::vector<std::int64_t> columns, rows;  // tile offsets
  const geo::RasterInfo& info() const { return raster->info(); }
};

Scene open_scene(const TileOptions& options, int index) {
  Scene scene;
  scene.index = index;
  scene.input = options.scenes[index];
  const std::string& path = scene.input.image;
  if (!file_exists(path))
    throw Error(path + ": no such file");
  scene.raster = std::make_unique<geo::Raster>(geo::Raster::open(path));
  const geo::RasterInfo& info = scene.info();
  if (!info.has_geotransform || info.crs_wkt.empty()) {
    const std::string missing = !info.has_geotransform ? "no geotransform" : "no CRS";
    if (!options.allow_ungeoreferenced)
      throw Error(path + ": raster has no georeferencing (" + missing +
                  "); --allow-ungeoreferenced tiles it with a --mask raster");
    if (scene.input.mask.empty() || !scene.input.labels.empty())
      throw Error(path +
                  ": a raster without georeferencing can only be tiled with a --mask "
                  "raster (vector labels need a CRS)");
  }
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
  if (!scene.input.mask.empty() && !scene.input.labels.empty())
    throw UsageError(path + ": give either vector --labels or a --mask raster, not both");
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

// Labels of one scene, row strips on demand.
class SceneLabels {
 public:
  SceneLabels(const TileOptions& options, const Scene& scene) : scene_(scene) {
    if (!scene.input.mask.empty()) {
      if (!file_exists(scene.input.mask))
        throw Error(scene.input.mask + ": no such file");
      mask_.emplace(scene.input.mask, scene.info(), options.classes);
      return;
    }
    std::vector<geo::VectorLabelSource> sources;
    for (const LabelFile& file : scene.input.labels) {
      if (!file_exists(file.path))
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
    geo::LineWidths widths;
    widths.width_field = options.width_field;
    for (const auto& [name, metres] : options.line_width_m)
      widths.metres_by_class[class_index(options.classes, name, "--line-width")] = metres;
    vectors_.emplace(sources, scene.info(), options.classes, widths, options.all_touched);
  }

  void read(std::int64_t first_row, std::int64_t rows, std::vector<std::uint8_t>& labels) {
    if (mask_)
      return mask_->read(first_row, rows, labels);
    const std::int64_t width = scene_.info().width;
    labels.resize(static_cast<std::size_t>(width * rows));
    vectors_->rasterize({0, first_row, width, rows}, labels.data());
  }

 private:
  const Scene& scene_;
  std::optional<geo::MaskLabels> mask_;
  std::optional<geo::VectorLabels> vectors_;
};

// What one rank produced, merged into the manifest on rank 0.
struct RankResult {
  std::vector<shards::ShardEntry> shards;
  std::map<std::string, std::int64_t> tiles;
  std::map<std::string, std::vector<std::int64_t>> class_pixels;
  std::map<std::string, std::int64_t> dropped;
  std::vector<RunningStats> stats;
  std::vector<std::int64_t> scene_tiles;

  nlohmann::json to_json() const {
    nlohmann::json shards_json = nlohmann::json::array();
    for (const auto& shard : shards)
      shards_json.push_back({shard.path, shard.tiles, shard.split, shard.rank});
    nlohmann::json stats_json = nlohmann::json::array();
    for (const auto& s : stats)
      stats_json.push_back({s.count, s.mean, s.m2});
    return {{"shards", shards_json}, {"tiles", tiles},      {"class_pixels", class_pixels},
            {"dropped", dropped},    {"stats", stats_json}, {"scene_tiles", scene_tiles}};
  }
  static RankResult from_json(const nlohmann::json& json) {
    RankResult result;
    for (const auto& shard : json.at("shards"))
      result.shards.push_back({shard[0], shard[1], shard[2], shard[3]});
    result.tiles = json.at("tiles").get<std::map<std::string, std::int64_t>>();
    result.class_pixels =
        json.at("class_pixels").get<std::map<std::string, std::vector<std::int64_t>>>();
    result.dropped = json.at("dropped").get<std::map<std::string, std::int64_t>>();
    for (const auto& s : json.at("stats"))
      result.stats.push_back({s[0].get<std::int64_t>(), s[1].get<double>(), s[2].get<double>()});
    result.scene_tiles = json.at("scene_tiles").get<std::vector<std::int64_t>>();
    return result;
  }
};

// The shards of one split on one rank: a new file every --shard-tiles tiles.
class SplitShards {
 public:
  SplitShards(const TileOptions& options, const shards::ShardHeader& header, int rank)
      : options_(options), header_(header), rank_(rank) {}

  void append(const void* image, const std::uint8_t* labels, const shards::TileWindow& window,
              int scene, std::vector<shards::ShardEntry>& done) {
    if (!writer_) {
      char name[96];
      std::snprintf(name, sizeof name, "shards/%s-r%03d-%04d.h5", header_.split.c_str(), rank_,
                    next_index_++);
      relative_ = name;
      writer_ = std::make_unique<shards::ShardWriter>(options_.out_dir + "/" + relative_, header_,
                                                      options_.compress);
    }
    writer_->append(image, labels, window, scene);
    if (writer_->tiles() >= options_.shard_tiles)
      finish(done);
  }

  void finish(std::vector<shards::ShardEntry>& done) {
    if (!writer_)
      return;
    const std::int64_t tiles = writer_->tiles();
    writer_->commit();
    writer_.reset();
    done.push_back({relative_, tiles, header_.split, rank_});
  }

 private:
  const TileOptions& options_;
  shards::ShardHeader header_;
  int rank_;
  int next_index_ = 0;
  std::string relative_;
  std::unique_ptr<shards::ShardWriter> writer_;
};

// Writes tiles on a background thread, so that deflate and HDF5 overlap with reading and
// cutting the next ones. A failure there comes back to the caller at its next push or finish.
class ShardSink {
 public:
  struct Tile {
    shards::ShardHeader header;
    std::vector<std::uint8_t> image;
    std::vector<std::uint8_t> labels;
    shards::TileWindow window;
    int scene = 0;
  };

  ShardSink(const TileOptions& options, int rank)
      : options_(options), rank_(rank), worker_([this] { write_loop(); }) {}

  ~ShardSink() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      closing_ = true;
    }
    changed_.notify_all();
    if (worker_.joinable())
      worker_.join();
  }

  void push(Tile tile) {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [&] { return queue_.size() < kQueueTiles || failure_; });
    if (failure_)
      std::rethrow_exception(failure_);
    queue_.push_back(std::move(tile));
    changed_.notify_all();
  }

  // Writes what is queued, commits every open shard and returns all shards written.
  std::vector<shards::ShardEntry> finish() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      closing_ = true;
    }
    changed_.notify_all();
    worker_.join();
    if (failure_)
      std::rethrow_exception(failure_);
    for (auto& [split, shards] : writers_)
      shards.finish(done_);
    return done_;
  }

 private:
  static constexpr std::size_t kQueueTiles = 8;

  void write_loop() {
    try {
      while (true) {
        Tile tile;
        {
          std::unique_lock<std::mutex> lock(mutex_);
          changed_.wait(lock, [&] { return !queue_.empty() || closing_; });
          if (queue_.empty())
            return;
          tile = std::move(queue_.front());
          queue_.pop_front();
        }
        changed_.notify_all();
        auto found = writers_.find(tile.header.split);
        if (found == writers_.end())
          found =
              writers_.emplace(tile.header.split, SplitShards(options_, tile.header, rank_)).first;
        found->second.append(tile.image.data(), tile.labels.data(), tile.window, tile.scene, done_);
      }
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      failure_ = std::current_exception();
      changed_.notify_all();
    }
  }

  const TileOptions& options_;
  int rank_;
  std::map<std::string, SplitShards> writers_;  // used by the worker only
  std::vector<shards::ShardEntry> done_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Tile> queue_;
  bool closing_ = false;
  std::exception_ptr failure_;
  std::thread worker_;  // last: starts when everything above exists
};

class RankTiler {
 public:
  RankTiler(const TileOptions& options, dist::Communicator& comm, std::vector<Scene>& scenes,
            const SplitPlan& plan)
      : options_(options), comm_(comm), scenes_(scenes), plan_(plan), sink_(options, comm.rank()) {
    result_.stats.resize(scenes.front().bands.inputs.size());
    result_.scene_tiles.assign(scenes.size(), 0);
    for (const char* split : {"train", "val"}) {
      result_.tiles[split] = 0;
      result_.class_pixels[split].assign(options.classes.size(), 0);
    }
    for (const char* reason : {"nodata", "empty", "guard"})
      result_.dropped[reason] = 0;
  }

  RankResult run() {
    const auto work = my_rows();
    Progress progress("tile", static_cast<std::int64_t>(work.size()), "tile rows");
    std::unique_ptr<geo::StripReader> reader;
    std::unique_ptr<SceneLabels> labels;
    int current = -1;
    for (const auto& [scene_index, row_index] : work) {
      Scene& scene = scenes_[scene_index];
      if (scene_index != current) {
        current = scene_index;
        std::vector<int> read_bands = scene.bands.inputs;
        if (scene.bands.alpha)
          read_bands.push_back(scene.bands.alpha);
        reader = std::make_unique<geo::StripReader>(*scene.raster, read_bands, scene.type);
        labels = std::make_unique<SceneLabels>(options_, scene);
      }
      with_value_type(scene.type, [&](auto zero) {
        cut_row<decltype(zero)>(scene, row_index, *reader, *labels);
      });
      progress.advance();
    }
    progress.finish();
    result_.shards = sink_.finish();
    return result_;
  }

 private:
  // Contiguous runs of (scene, tile row), so each rank reads its strips top to bottom.
  std::vector<std::pair<int, std::int64_t>> my_rows() const {
    std::vector<std::pair<int, std::int64_t>> all;
    for (const Scene& scene : scenes_)
      for (std::int64_t row = 0; row < static_cast<std::int64_t>(scene.rows.size()); ++row)
        all.emplace_back(scene.index, row);
    const auto total = static_cast<std::int64_t>(all.size());
    const std::int64_t begin = total * comm_.rank() / comm_.size();
    const std::int64_t end = total * (comm_.rank() + 1) / comm_.size();
    return {all.begin() + begin, all.begin() + end};
  }

  const shards::ShardHeader& header_for(Split split, const Scene& scene) {
    const std::string name = split_name(split);
    auto found = headers_.find(name);
    if (found == headers_.end()) {
      shards::ShardHeader header;
      header.tile_size = options_.tile;
      header.bands = static_cast<int>(scene.bands.inputs.size());
      header.dtype = pixel_type_of(scene.type, scene.input.image);
      header.split = name;
      header.class_names = options_.classes;
      for (int band : scene.bands.inputs)
        header.band_names.push_back(geo::band_name(scene.info().bands[band - 1]));
      found = headers_.emplace(name, header).first;
    }
    return found->second;
  }

  template <typename T>
  void cut_row(const Scene& scene, std::int64_t row_index, geo::StripReader& reader,
               SceneLabels& labels) {
    const std::int64_t width = scene.info().width;
    const std::int64_t first_row = scene.rows[row_index];
    const std::int64_t rows =
        std::min<std::int64_t>(options_.tile, scene.info().height - first_row);
    reader.read(first_row, rows, strip_);
    labels.read(first_row, rows, label_strip_);
    const T* pixels = reinterpret_cast<const T*>(strip_.data());
    valid_.assign(static_cast<std::size_t>(width * rows), 1);
    const auto band_stride = static_cast<std::size_t>(width * rows);
    for (std::size_t i = 0; i < band_stride; ++i) {
      if (!scene.bands.has_data(pixels, band_stride, i)) {
        valid_[i] = 0;
        label_strip_[i] = geo::kIgnoreLabel;
      }
    }
    for (std::int64_t column = 0; column < static_cast<std::int64_t>(scene.columns.size());
         ++column)
      cut_tile<T>(scene, row_index, column, rows, pixels);
  }

  template <typename T>
  void cut_tile(const Scene& scene, std::int64_t row_index, std::int64_t column_index,
                std::int64_t rows, const T* pixels) {
    const Split split = plan_.split_of(scene.index, column_index, row_index);
    if (split == Split::guard) {
      ++result_.dropped["guard"];
      return;
    }
    const int tile = options_.tile;
    const std::int64_t width = scene.info().width;
    const std::int64_t x0 = scene.columns[column_index];
    const std::int64_t y0 = scene.rows[row_index];
    const std::int64_t columns = std::min<std::int64_t>(tile, width - x0);
    const auto bands = static_cast<std::int64_t>(scene.bands.inputs.size());
    tile_labels_.assign(static_cast<std::size_t>(tile * tile), geo::kIgnoreLabel);
    tile_valid_.assign(static_cast<std::size_t>(tile * tile), 0);
    for (std::int64_t y = 0; y < rows; ++y) {
      const std::size_t source = static_cast<std::size_t>(y * width + x0);
      const std::size_t target = static_cast<std::size_t>(y * tile);
      std::memcpy(&tile_valid_[target], &valid_[source], static_cast<std::size_t>(columns));
      std::memcpy(&tile_labels_[target], &label_strip_[source], static_cast<std::size_t>(columns));
    }
    const std::int64_t valid = std::count(tile_valid_.begin(), tile_valid_.end(), 1);
    if (static_cast<double>(rows * columns - valid) >
        options_.max_nodata * static_cast<double>(rows * columns)) {
      ++result_.dropped["nodata"];
      return;
    }
    std::array<std::int64_t, 256> histogram{};
    for (std::uint8_t label : tile_labels_)
      ++histogram[label];
    const auto classes = static_cast<int>(options_.classes.size());
    const bool foreground = std::any_of(histogram.begin() + 1, histogram.begin() + classes,
                                        [](std::int64_t count) { return count > 0; });
    const double draw = unit(hash(options_.seed, static_cast<std::uint64_t>(scene.index),
                                  static_cast<std::uint64_t>(x0), static_cast<std::uint64_t>(y0)));
    if (!foreground && draw >= options_.keep_empty) {
      ++result_.dropped["empty"];
      return;
    }
    ShardSink::Tile out;
    out.image.resize(static_cast<std::size_t>(bands * tile * tile) * sizeof(T));
    T* image = reinterpret_cast<T*>(out.image.data());
    if (rows < tile || columns < tile)
      std::fill(image, image + bands * tile * tile, T{0});
    for (std::int64_t b = 0; b < bands; ++b) {
      for (std::int64_t y = 0; y < rows; ++y) {
        const T* source = pixels + (b * rows + y) * width + x0;
        std::copy(source, source + columns, image + (b * tile + y) * tile);
      }
      accumulate_stats(image + b * tile * tile, result_.stats[b]);
    }
    auto& class_pixels = result_.class_pixels[split_name(split)];
    for (int c = 0; c < classes; ++c)
      class_pixels[static_cast<std::size_t>(c)] += histogram[c];
    out.header = header_for(split, scene);
    out.labels = tile_labels_;
    out.window = {x0, y0, tile, tile};
    out.scene = scene.index;
    sink_.push(std::move(out));
    ++result_.tiles[split_name(split)];
    ++result_.scene_tiles[static_cast<std::size_t>(scene.index)];
  }

  // The tile's statistics over its valid pixels, merged into the running total. Small
  // integers are summed exactly in one pass; other types take two passes in double.
  template <typename T>
  void accumulate_stats(const T* band, RunningStats& total) const {
    RunningStats tile_stats;
    const std::size_t pixels = tile_valid_.size();
    if constexpr (std::is_integral_v<T> && sizeof(T) <= 2) {
      std::int64_t count = 0, sum = 0;
      std::uint64_t squares = 0;
      for (std::size_t i = 0; i < pixels; ++i) {
        const std::int64_t valid = tile_valid_[i];
        const std::int64_t value = band[i];
        count += valid;
        sum += valid * value;
        squares += static_cast<std::uint64_t>(valid * value * value);
      }
      if (count == 0)
        return;
      const __int128 spread =
          static_cast<__int128>(count) * squares - static_cast<__int128>(sum) * sum;
      tile_stats = {count, static_cast<double>(sum) / static_cast<double>(count),
                    static_cast<double>(spread) / static_cast<double>(count)};
    } else {
      double sum = 0;
      for (std::size_t i = 0; i < pixels; ++i) {
        if (!tile_valid_[i])
          continue;
        sum += static_cast<double>(band[i]);
        ++tile_stats.count;
      }
      if (tile_stats.count == 0)
        return;
      tile_stats.mean = sum / static_cast<double>(tile_stats.count);
      for (std::size_t i = 0; i < pixels; ++i) {
        if (!tile_valid_[i])
          continue;
        const double deviation = static_cast<double>(band[i]) - tile_stats.mean;
        tile_stats.m2 += deviation * deviation;
      }
    }
    total.merge(tile_stats);
  }

  const TileOptions& options_;
  dist::Communicator& comm_;
  std::vector<Scene>& scenes_;
  const SplitPlan& plan_;
  RankResult result_;
  std::map<std::string, shards::ShardHeader> headers_;
  std::vector<std::uint8_t> strip_, label_strip_, valid_, tile_labels_, tile_valid_;
  ShardSink sink_;  // last: its thread stops before the buffers above go
};

}  // namespace

void validate(const TileOptions& options) {
  if (options.out_dir.empty())
    throw UsageError("--out is required");
  if (options.scenes.empty())
    throw UsageError("no scenes: give --image FILE or --scenes FILE.csv");
  if (options.tile < 16 || options.tile > 4096 || options.tile % 16 != 0)
    throw UsageError("--tile must be a multiple of 16 between 16 and 4096 (got " +
                     std::to_string(options.tile) + ")");
  if (options.overlap < 0 || options.overlap >= options.tile)
    throw UsageError("--overlap must be in [0, tile) (got " + std::to_string(options.overlap) +
                     ")");
  if (options.classes.size() < 2 || options.classes.size() > 255)
    throw UsageError("--classes needs 2 to 255 names, background first");
  if (!(options.max_nodata >= 0 && options.max_nodata <= 1))
    throw UsageError("--max-nodata must be in [0, 1]");
  if (!(options.keep_empty >= 0 && options.keep_empty <= 1))
    throw UsageError("--keep-empty must be in [0, 1]");
  if (!(options.val_fraction >= 0 && options.val_fraction < 1))
    throw UsageError("--val-fraction must be in [0, 1)");
  if (options.split_block < 1)
    throw UsageError("--split-block must be at least 1");
  if (options.shard_tiles < 1)
    throw UsageError("--shard-tiles must be at least 1");
  if (options.compress < 0 || options.compress > 9)
    throw UsageError("--compress must be 0..9");
  if (options.threads < 0)
    throw UsageError("--threads must be 0 (automatic) or more");
  for (const auto& [name, metres] : options.line_width_m) {
    class_index(options.classes, name, "--line-width");
    if (!(metres > 0))
      throw UsageError("--line-width " + name + ": the width must be positive");
  }
  for (const auto& [value, name] : options.class_map)
    class_index(options.classes, name, "--class-map");
}

// Removes a previous dataset (manifest first, so it is visibly incomplete) or refuses to.
void prepare_output(const TileOptions& options) {
  const std::string manifest = options.out_dir + "/" + shards::kManifestName;
  const std::string shard_dir = options.out_dir + "/shards";
  const bool has_shards = fs::is_directory(shard_dir) && !fs::is_empty(shard_dir);
  if ((file_exists(manifest) || has_shards) && !options.overwrite)
    throw Error(options.out_dir + ": a dataset is already there; --overwrite replaces it");
  std::error_code ignored;
  fs::remove(manifest, ignored);
  fs::remove_all(shard_dir, ignored);
  ensure_directory(shard_dir);
}

shards::Manifest tile_dataset(const TileOptions& options, dist::Communicator& comm) {
  validate(options);
  geo::init_gdal();
  // Strips are cached block row by block row here: GDAL's own cache only needs the blocks
  // of one read in flight.
  geo::set_gdal_cache_megabytes(64);
  geo::set_gdal_threads(dist::threads_per_rank(options.threads, comm));
  std::vector<Scene> scenes;
  for (int i = 0; i < static_cast<int>(options.scenes.size()); ++i) {
    scenes.push_back(open_scene(options, i));
    check_same_bands(scenes.front(), scenes.back());
  }
  if (comm.rank() == 0)
    prepare_output(options);
  comm.barrier();

  std::vector<SplitPlan::SceneGrid> grids;
  for (const Scene& scene : scenes)
    grids.push_back({static_cast<std::int64_t>(scene.columns.size()),
                     static_cast<std::int64_t>(scene.rows.size())});
  const SplitPlan plan(grids, options.tile, options.tile - options.overlap, options.split_block,
                       options.val_fraction, options.seed);
  RankTiler tiler(options, comm, scenes, plan);
  const RankResult mine = tiler.run();
  const auto gathered = comm.allgather_strings(mine.to_json().dump());

  shards::Manifest manifest;
  manifest.created_by = std::string("satunet ") + SATUNET_VERSION;
  manifest.command_line = options.command_line;
  manifest.tile_size = options.tile;
  manifest.overlap = options.overlap;
  manifest.dtype = geo::data_type_name(scenes.front().type);
  manifest.classes = options.classes;
  std::vector<RunningStats> stats(scenes.front().bands.inputs.size());
  std::vector<std::int64_t> scene_tiles(scenes.size(), 0);
  for (const std::string& text : gathered) {
    const RankResult result = RankResult::from_json(nlohmann::json::parse(text));
    manifest.shards.insert(manifest.shards.end(), result.shards.begin(), result.shards.end());
    for (const auto& [split, tiles] : result.tiles)
      manifest.tiles_per_split[split] += tiles;
    for (const auto& [reason, tiles] : result.dropped)
      manifest.dropped[reason] += tiles;
    for (const auto& [split, counts] : result.class_pixels) {
      auto& total = manifest.class_pixels[split];
      total.resize(counts.size(), 0);
      for (std::size_t c = 0; c < counts.size(); ++c)
        total[c] += counts[c];
    }
    for (std::size_t b = 0; b < stats.size(); ++b)
      stats[b].merge(result.stats[b]);
    for (std::size_t s = 0; s < scene_tiles.size(); ++s)
      scene_tiles[s] += result.scene_tiles[s];
  }
  const Scene& first = scenes.front();
  for (std::size_t b = 0; b < stats.size(); ++b) {
    const geo::BandInfo& band = first.info().bands[first.bands.inputs[b] - 1];
    manifest.bands.push_back({geo::band_name(band), first.bands.inputs[b],
                              geo::data_type_name(first.type), stats[b].mean,
                              std::sqrt(stats[b].variance()), stats[b].count});
  }
  for (const Scene& scene : scenes) {
    shards::SceneEntry entry;
    entry.path = fs::absolute(scene.input.image).lexically_normal().string();
    entry.width = scene.info().width;
    entry.height = scene.info().height;
    entry.crs_wkt = scene.info().crs_wkt;
    entry.geotransform = scene.info().transform.coefficients();
    entry.georeferenced = scene.info().georeferenced();
    entry.nodata = scene.bands.nodata.front();
    entry.labels = describe_labels(scene.input);
    entry.tiles = scene_tiles[static_cast<std::size_t>(scene.index)];
    manifest.scenes.push_back(entry);
  }
  std::sort(manifest.shards.begin(), manifest.shards.end(),
            [](const auto& a, const auto& b) { return a.path < b.path; });
  manifest.tiling = {{"tile", options.tile},
                     {"overlap", options.overlap},
                     {"bands", first.bands.inputs},
                     {"alpha_as_mask", first.bands.alpha != 0},
                     {"max_nodata", options.max_nodata},
                     {"keep_empty", options.keep_empty},
                     {"val_fraction", options.val_fraction},
                     {"split_block", options.split_block},
                     {"val_blocks", plan.val_blocks()},
                     {"seed", options.seed},
                     {"shard_tiles", options.shard_tiles},
                     {"compress", options.compress},
                     {"all_touched", options.all_touched},
                     {"line_width_m", options.line_width_m},
                     {"width_field", options.width_field},
                     {"class_field", options.class_field},
                     {"class_map", options.class_map},
                     {"burn_order", "ascending class id: a later class in --classes wins"}};
  if (comm.rank() == 0)
    manifest.save(options.out_dir);
  comm.barrier();
  return manifest;
}

std::string describe_dataset(const shards::Manifest& manifest, const std::string& dir) {
  std::ostringstream out;
  out.precision(6);
  out << "dataset:    " << dir << " (" << manifest.created_by << ", schema "
      << manifest.schema_version << ")\n";
  out << "tiles:      " << manifest.total_tiles() << " of " << manifest.tile_size << " x "
      << manifest.tile_size << " px, overlap " << manifest.overlap << ", " << manifest.dtype;
  for (const auto& [split, tiles] : manifest.tiles_per_split)
    out << ", " << split << " " << tiles;
  out << "\n";
  out << "dropped:   ";
  for (const auto& [reason, tiles] : manifest.dropped)
    out << " " << reason << " " << tiles;
  out << "\n";
  out << "shards:     " << manifest.shards.size() << "\n";
  out << "classes:\n";
  for (std::size_t c = 0; c < manifest.classes.size(); ++c) {
    out << "  " << c << " " << manifest.classes[c];
    for (const auto& [split, counts] : manifest.class_pixels) {
      std::int64_t total = 0;
      for (std::int64_t count : counts)
        total += count;
      const double share =
          total ? 100.0 * static_cast<double>(counts[c]) / static_cast<double>(total) : 0;
      out << "  " << split << " " << counts[c] << " px (" << share << "%)";
    }
    out << "\n";
  }
  out << "bands:\n";
  for (const shards::BandStats& band : manifest.bands)
    out << "  " << band.source_band << " " << band.name << " (" << band.dtype << "): mean "
        << band.mean << ", std " << band.std << " over " << band.count << " px\n";
  out << "scenes:\n";
  for (const shards::SceneEntry& scene : manifest.scenes)
    out << "  " << scene.path << ": " << scene.width << " x " << scene.height << ", " << scene.tiles
        << " tiles, labels from " << scene.labels << "\n";
  return out.str();
}

}  // namespace satunet::tiling
