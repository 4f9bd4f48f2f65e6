#include "tiling/rank_tiler.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <memory>
#include <sstream>
#include <type_traits>

#include "common/hash.hpp"
#include "common/labels.hpp"
#include "common/progress.hpp"
#include "common/stop_signals.hpp"
#include "geo/strip_reader.hpp"
#include "tiling/shard_sink.hpp"

namespace satunet::tiling {
namespace {

class RankTiler {
 public:
  RankTiler(const TileOptions& options, comm::Communicator& comm, std::vector<Scene>& scenes,
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
    std::unique_ptr<geo::SceneLabels> labels;
    int current = -1;
    for (const auto& [scene_index, row_index] : work) {
      throw_if_stopped(options_.out_dir);
      Scene& scene = scenes_[scene_index];
      if (scene_index != current) {
        current = scene_index;
        std::vector<int> read_bands = scene.bands.inputs;
        if (scene.bands.alpha)
          read_bands.push_back(scene.bands.alpha);
        reader = std::make_unique<geo::StripReader>(*scene.raster, read_bands, scene.type);
        labels = scene_labels(options_, scene);
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
               geo::SceneLabels& labels) {
    const std::int64_t width = scene.info().width;
    const std::int64_t first_row = scene.rows[row_index];
    const std::int64_t rows =
        std::min<std::int64_t>(options_.tile, scene.info().height - first_row);
    // The strip where its block rows lie; the next block row decodes meanwhile, on the
    // reader's thread, while this strip's labels are burnt and its tiles cut.
    const geo::StripReader::View strip = reader.view(first_row, rows);
    reader.read_ahead();
    labels.read(first_row, rows, label_strip_);
    valid_.assign(static_cast<std::size_t>(width * rows), 1);
    std::vector<const T*> band_rows(scene.bands.inputs.size() + (scene.bands.alpha ? 1 : 0));
    for (std::int64_t y = 0; y < rows; ++y) {
      for (std::size_t b = 0; b < band_rows.size(); ++b)
        band_rows[b] = reinterpret_cast<const T*>(strip.row(b, y));
      for (std::int64_t x = 0; x < width; ++x) {
        if (scene.bands.has_data_of<T>([&](std::size_t b) { return band_rows[b][x]; }))
          continue;
        valid_[static_cast<std::size_t>(y * width + x)] = 0;
        label_strip_[static_cast<std::size_t>(y * width + x)] = kIgnoreLabel;
      }
    }
    for (std::int64_t column = 0; column < static_cast<std::int64_t>(scene.columns.size());
         ++column)
      cut_tile<T>(scene, row_index, column, rows, strip);
  }

  template <typename T>
  void cut_tile(const Scene& scene, std::int64_t row_index, std::int64_t column_index,
                std::int64_t rows, const geo::StripReader::View& strip) {
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
    tile_labels_.assign(static_cast<std::size_t>(tile * tile), kIgnoreLabel);
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
        const T* source =
            reinterpret_cast<const T*>(strip.row(static_cast<std::size_t>(b), y)) + x0;
        std::copy(source, source + columns, image + (b * tile + y) * tile);
      }
      accumulate_stats(image + b * tile * tile, result_.stats[static_cast<std::size_t>(b)], [&] {
        return scene.input.image + ": band " +
               std::to_string(scene.bands.inputs[static_cast<std::size_t>(b)]) +
               " of the tile at pixel (" + std::to_string(x0) + ", " + std::to_string(y0) + ")";
      });
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

  // The tile's statistics over its valid pixels (finite values: geo::InputBands::has_data),
  // merged into the running total. Small integers are summed exactly in one pass; other types
  // take two passes in double. Float64 values so large that their squares overflow would make
  // the statistics infinite: refused, naming `where()` (the scene, band and tile).
  template <typename T, typename Where>
  void accumulate_stats(const T* band, RunningStats& total, const Where& where) const {
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
    RunningStats merged = total;
    merged.merge(tile_stats);
    if (!merged.finite()) {
      double largest = 0;
      for (std::size_t i = 0; i < pixels; ++i)
        if (tile_valid_[i])
          largest = std::max(largest, std::abs(static_cast<double>(band[i])));
      std::ostringstream magnitude;
      magnitude << largest;
      throw Error(where() + ": values up to " + magnitude.str() +
                  " in magnitude, too large for band statistics (the squares of their "
                  "deviations overflow float64); rescale the scene");
    }
    total = merged;
  }

  const TileOptions& options_;
  comm::Communicator& comm_;
  std::vector<Scene>& scenes_;
  const SplitPlan& plan_;
  RankResult result_;
  std::map<std::string, shards::ShardHeader> headers_;
  std::vector<std::uint8_t> label_strip_, valid_, tile_labels_, tile_valid_;
  ShardSink sink_;  // last: its thread stops before the buffers above go
};

}  // namespace

RankResult tile_rank_rows(const TileOptions& options, comm::Communicator& comm,
                          std::vector<Scene>& scenes, const SplitPlan& plan) {
  RankTiler tiler(options, comm, scenes, plan);
  return tiler.run();
}

}  // namespace satunet::tiling
