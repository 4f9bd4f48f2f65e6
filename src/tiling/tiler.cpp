#include "tiling/tiler.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <optional>

#include "common/error.hpp"
#include "common/files.hpp"
#include "common/log.hpp"
#include "common/output_directory.hpp"
#include "common/stop_signals.hpp"
#include "common/text.hpp"
#include "geo/gdal.hpp"
#include "geo/metric_plane.hpp"
#include "geo/srs.hpp"
#include "tiling/grid.hpp"
#include "tiling/rank_tiler.hpp"
#include "tiling/scene.hpp"

namespace satunet::tiling {
namespace fs = std::filesystem;
namespace {

// Rank 0 holds the dataset directory while the dataset is written; an earlier dataset goes
// only once the scenes have opened.
void prepare_output(const TileOptions& options, const std::vector<Scene>& scenes,
                    std::optional<OutputDirectory>& out) {
  std::vector<std::string> inputs;
  for (const Scene& scene : scenes) {
    inputs.push_back(scene.input.image);
    inputs.push_back(scene.input.mask);
    for (const LabelFile& labels : scene.input.labels)
      inputs.push_back(labels.path);
  }
  out.emplace(options.out_dir, shards::dataset_product(),
              options.overwrite ? Earlier::replace : Earlier::refuse, inputs);
  out->clear();
  ensure_directory(options.out_dir + "/" + shards::kDatasetShardDir);
}

std::vector<Scene> open_scenes(const TileOptions& options) {
  const std::vector<SceneInput> inputs = scene_inputs(options);
  std::vector<Scene> scenes;
  for (int i = 0; i < static_cast<int>(inputs.size()); ++i) {
    scenes.push_back(open_scene(options, inputs[static_cast<std::size_t>(i)], i));
    check_same_bands(scenes.front(), scenes.back());
    for (int earlier = 0; earlier < i; ++earlier)
      if (same_file(scenes[earlier].input.image, scenes.back().input.image))
        throw UsageError(scenes.back().input.image + ": listed twice (scenes " +
                         std::to_string(earlier + 1) + " and " + std::to_string(i + 1) +
                         "): its pixels would be in the dataset twice");
  }
  return scenes;
}

// Each tile's ground in lon/lat (its corners and the middles of its sides), for scenes that
// may overlap another: empty for a scene alone or without georeferencing.
std::vector<geo::Extent> tile_footprints(const TileOptions& options, const Scene& scene) {
  const geo::RasterInfo& info = scene.info();
  if (!info.georeferenced())
    return {};
  const geo::CoordinateTransform to_lon_lat(info.srs(), geo::SpatialRef::wgs84());
  std::vector<geo::Extent> footprints;
  for (const std::int64_t y0 : scene.rows)
    for (const std::int64_t x0 : scene.columns) {
      const double x1 = static_cast<double>(std::min<std::int64_t>(x0 + options.tile, info.width));
      const double y1 = static_cast<double>(std::min<std::int64_t>(y0 + options.tile, info.height));
      const auto left = static_cast<double>(x0), top = static_cast<double>(y0);
      std::vector<geo::Point> points;
      for (const double x : {left, (left + x1) / 2, x1})
        for (const double y : {top, (top + y1) / 2, y1})
          points.push_back(info.transform.pixel_to_world(x, y));
      to_lon_lat.apply(points);
      geo::Extent box{INFINITY, INFINITY, -INFINITY, -INFINITY};
      for (const geo::Point& p : points)
        box = {std::min(box.min_x, p.x), std::min(box.min_y, p.y), std::max(box.max_x, p.x),
               std::max(box.max_y, p.y)};
      footprints.push_back(box);
    }
  return footprints;
}

SplitPlan plan_split(const TileOptions& options, const std::vector<Scene>& scenes, bool report) {
  const bool may_overlap = scenes.size() > 1 && options.val_fraction > 0;
  std::vector<SplitPlan::SceneGrid> grids;
  for (const Scene& scene : scenes) {
    grids.push_back({static_cast<std::int64_t>(scene.columns.size()),
                     static_cast<std::int64_t>(scene.rows.size()),
                     may_overlap ? tile_footprints(options, scene) : std::vector<geo::Extent>{}});
    if (report && may_overlap && grids.back().footprints.empty())
      log::warn("tile: ", scene.input.image,
                " has no georeferencing: whether it covers the ground of another scene, and "
                "so lets validation share pixels with training, cannot be told");
  }
  return SplitPlan(grids, options.tile, options.tile - options.overlap, options.split_block,
                   options.val_fraction, options.seed);
}

// Every rank's result added up.
RankResult merge(const std::vector<std::string>& gathered, std::size_t bands, std::size_t scenes) {
  RankResult total;
  total.stats.resize(bands);
  total.scene_tiles.assign(scenes, 0);
  for (const std::string& text : gathered) {
    const RankResult result = RankResult::from_json(nlohmann::json::parse(text));
    total.shards.insert(total.shards.end(), result.shards.begin(), result.shards.end());
    for (const auto& [split, tiles] : result.tiles)
      total.tiles[split] += tiles;
    for (const auto& [reason, tiles] : result.dropped)
      total.dropped[reason] += tiles;
    for (const auto& [split, counts] : result.class_pixels) {
      auto& sum = total.class_pixels[split];
      sum.resize(counts.size(), 0);
      for (std::size_t c = 0; c < counts.size(); ++c)
        sum[c] += counts[c];
    }
    for (std::size_t b = 0; b < bands; ++b)
      total.stats[b].merge(result.stats[b]);
    for (std::size_t s = 0; s < scenes; ++s)
      total.scene_tiles[s] += result.scene_tiles[s];
  }
  std::sort(total.shards.begin(), total.shards.end(),
            [](const auto& a, const auto& b) { return a.path < b.path; });
  return total;
}

// Statistics over all ranks stay finite where each rank's did, but for values near the limit of
// float64 that only their sum takes past it.
void check_finite_statistics(const RankResult& total, const std::vector<Scene>& scenes) {
  for (std::size_t b = 0; b < total.stats.size(); ++b) {
    if (total.stats[b].finite())
      continue;
    std::vector<std::string> paths;
    for (const Scene& scene : scenes)
      paths.push_back(scene.input.image);
    throw Error(text::join(paths, ", ") + ": band " +
                std::to_string(scenes.front().bands.inputs[b]) +
                ": values too large for band statistics over all scenes (the squares of their "
                "deviations overflow float64); rescale the scenes");
  }
}

// This rank's shards, committed or not, once the job has failed: a dataset without its
// manifest is unfinished, and nothing of it is left to look otherwise.
void remove_rank_shards(const TileOptions& options, int rank) {
  for (const char* split : {"train", "val"}) {
    for (int index = 0;; ++index) {
      const std::string path =
          options.out_dir + "/" + shards::dataset_shard_name(split, rank, index);
      std::error_code ignored;
      if (!fs::remove(path, ignored))
        break;
    }
  }
}

shards::SceneEntry scene_entry(const Scene& scene, std::int64_t tiles) {
  shards::SceneEntry entry;
  entry.path = geo::is_virtual_path(scene.input.image)
                   ? scene.input.image
                   : fs::absolute(scene.input.image).lexically_normal().string();
  entry.width = scene.info().width;
  entry.height = scene.info().height;
  entry.crs_wkt = scene.info().crs_wkt;
  entry.geotransform = scene.info().transform.coefficients();
  entry.georeferenced = scene.info().georeferenced();
  entry.nodata = scene.bands.nodata.front();
  entry.pixel_size_m = geo::ground_pixel_size_m(scene.info());
  entry.labels = describe_labels(scene.input);
  entry.tiles = tiles;
  return entry;
}

// Every tiling parameter, as given, for the manifest.
nlohmann::json tiling_record(const TileOptions& options, const Scene& first,
                             const SplitPlan& plan) {
  return {{"tile", options.tile},
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
          {"compress", shards::show(options.compress)},
          {"all_touched", options.all_touched},
          {"line_width_m", options.line_widths.line_width_m},
          {"width_field", options.line_widths.width_field},
          {"class_field", options.class_field},
          {"class_map", options.class_map},
          {"burn_order", "ascending class id: a later class in --classes wins"}};
}

shards::Manifest make_manifest(const TileOptions& options, const std::vector<Scene>& scenes,
                               const SplitPlan& plan, const RankResult& total) {
  shards::Manifest manifest;
  manifest.created_by = std::string("satunet ") + SATUNET_VERSION;
  manifest.command_line = options.command_line;
  manifest.tile_size = options.tile;
  manifest.overlap = options.overlap;
  manifest.dtype = geo::data_type_name(scenes.front().type);
  manifest.classes = options.classes;
  manifest.shards = total.shards;
  manifest.tiles_per_split = total.tiles;
  manifest.dropped = total.dropped;
  manifest.class_pixels = total.class_pixels;
  const Scene& first = scenes.front();
  for (std::size_t b = 0; b < total.stats.size(); ++b) {
    const geo::BandInfo& band = first.info().bands[first.bands.inputs[b] - 1];
    manifest.bands.push_back({geo::band_name(band), first.bands.inputs[b],
                              geo::data_type_name(first.type), total.stats[b].mean,
                              std::sqrt(total.stats[b].variance()), total.stats[b].count});
  }
  for (const Scene& scene : scenes)
    manifest.scenes.push_back(
        scene_entry(scene, total.scene_tiles[static_cast<std::size_t>(scene.index)]));
  manifest.tiling = tiling_record(options, first, plan);
  return manifest;
}

// A dataset with an empty split is valid (a val fraction of 0 asks for one), yet where a split
// was asked for, its emptiness is worth saying before anyone trains on it.
void warn_of_empty_splits(const TileOptions& options, const shards::Manifest& manifest) {
  std::vector<std::string> asked = {"train"};
  if (options.val_fraction > 0)
    asked.push_back("val");
  for (const std::string& split : asked) {
    const auto found = manifest.tiles_per_split.find(split);
    if (found == manifest.tiles_per_split.end() || found->second == 0)
      log::warn("tile: the ", split, " split has no tile (", manifest.total_tiles(),
                " tiles in all): a smaller --tile, another --val-fraction or --split-block, or "
                "more scenes");
  }
}

}  // namespace

shards::Manifest tile_dataset(const TileOptions& options, comm::Communicator& comm) {
  install_stop_signals();  // a stop is then an error that removes the unfinished shards
  validate(options);
  geo::init_gdal();
  // Strips are cached block row by block row here: GDAL's own cache only needs the blocks
  // of one read in flight.
  geo::set_gdal_cache_megabytes(64);
  geo::set_gdal_threads(comm::threads_per_rank(options.threads, comm));
  std::vector<Scene> scenes = open_scenes(options);
  std::optional<OutputDirectory> out;
  comm::prepare_on_root(comm, [&] { prepare_output(options, scenes, out); });

  const SplitPlan plan = plan_split(options, scenes, comm.rank() == 0);
  std::optional<shards::Manifest> manifest;
  try {
    const RankResult mine = tile_rank_rows(options, comm, scenes, plan);
    const RankResult total = merge(comm.allgather_strings(mine.to_json().dump()),
                                   scenes.front().bands.inputs.size(), scenes.size());
    check_finite_statistics(total, scenes);
    manifest = make_manifest(options, scenes, plan, total);
    if (comm.rank() == 0) {
      warn_of_empty_splits(options, *manifest);
      manifest->save(options.out_dir);
    }
  } catch (...) {
    remove_rank_shards(options, comm.rank());
    throw;
  }
  comm.barrier();
  return *manifest;
}

}  // namespace satunet::tiling
