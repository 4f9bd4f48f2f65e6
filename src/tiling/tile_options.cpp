#include "tiling/tile_options.hpp"

#include <algorithm>
#include <set>

#include "comm/communicator.hpp"
#include "common/labels.hpp"
#include "common/text.hpp"
#include "shards/shard.hpp"

namespace satunet::tiling {

const options::Table<TileOptions>& tile_option_table() {
  using O = TileOptions;
  static const auto table =
      options::Table<O>()
          .value("out", &O::out_dir, "dataset directory: manifest.json + shards/*.h5", "DIR")
          .repeated("image", &O::images,
                    "a scene (GeoTIFF or any GDAL raster); repeat for several scenes sharing "
                    "--labels",
                    "FILE")
          .value("scenes", &O::scene_list,
                 "CSV listing scenes: columns image, mask and/or labels (CLASS=FILE;CLASS=FILE)",
                 "FILE.csv")
          .repeated("labels", &O::labels,
                    "vector labels (any OGR format, any CRS); repeat per class; FILE alone with "
                    "--class-field and --class-map",
                    "CLASS=FILE")
          .value("mask", &O::mask,
                 "labels as a raster of class ids on the scene's grid (its nodata becomes 255)",
                 "FILE")
          .value("classes", &O::classes,
                 "class names in id order, background first; where vector classes overlap, the "
                 "later class wins")
          .value("class-field", &O::class_field, "attribute giving each feature's class", "FIELD")
          .value("class-map", &O::class_map,
                 "attribute values to class names (other values are not labels)", "V=CLASS,...")
          .include(geo::line_width_option_table(),
                   [](O& o) -> geo::LineWidthOptions& { return o.line_widths; })
          .flag("all-touched", &O::all_touched,
                "burn every pixel a feature touches, not only centres")
          .value("tile", &O::tile, "tile size in pixels")
          .value("overlap", &O::overlap,
                 "overlap of neighbouring tiles in pixels (stride = tile - overlap)")
          .value("bands", &O::bands,
                 "input bands (1-based); default every band but alpha, which marks valid pixels",
                 "1,2,3")
          .value("max-nodata", &O::max_nodata,
                 "drop tiles with a larger fraction of nodata pixels (padding not counted)")
          .value("keep-empty", &O::keep_empty,
                 "seeded fraction of tiles without foreground to keep")
          .value("val-fraction", &O::val_fraction,
                 "fraction of spatial blocks for validation; train tiles overlapping them are "
                 "dropped")
          .value("split-block", &O::split_block, "tiles per side of a split block")
          .value("seed", &O::seed, "seed of the split and of --keep-empty")
          .value("shard-tiles", &O::shard_tiles, "tiles per shard file at most")
          .value("compress", &O::compress, shards::kCompressHelp)
          .value("threads", &O::threads,
                 "threads per rank for decoding blocks; 0: cores per node / ranks per node")
          .flag("overwrite", &O::overwrite, "replace an existing dataset in --out")
          .flag("allow-ungeoreferenced", &O::allow_ungeoreferenced,
                "accept scenes without CRS or geotransform (with a --mask only)");
  return table;
}

namespace {

void check_scene_arguments(const TileOptions& options) {
  const bool listed = !options.scene_list.empty();
  if (listed && !options.images.empty())
    throw UsageError("give --image or --scenes, not both");
  if (!listed && options.images.empty())
    throw UsageError("no scenes: give --image FILE or --scenes FILE.csv");
  if (listed && (!options.mask.empty() || !options.labels.empty()))
    throw UsageError("with --scenes, labels and masks come from the CSV's columns");
  if (!options.mask.empty() && options.images.size() > 1)
    throw UsageError("--mask belongs to one --image; list several scenes with --scenes FILE.csv");
}

}  // namespace

void validate(const TileOptions& options) {
  if (options.out_dir.empty())
    throw UsageError("--out is required");
  check_scene_arguments(options);
  if (options.tile < 16 || options.tile > shards::kMaxTileSize || options.tile % 16 != 0)
    throw UsageError("--tile must be a multiple of 16 between 16 and " +
                     std::to_string(shards::kMaxTileSize) + " (got " +
                     std::to_string(options.tile) + ")");
  if (options.overlap < 0 || options.overlap >= options.tile)
    throw UsageError("--overlap must be in [0, tile) (got " + std::to_string(options.overlap) +
                     ")");
  check_class_names(options.classes, "--classes");
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
  if (options.threads < 0 || options.threads > comm::kMaxThreadsPerRank)
    throw UsageError("--threads must be 0 (automatic) to " +
                     std::to_string(comm::kMaxThreadsPerRank));
  options.line_widths.by_class(options.classes);
  for (const auto& [value, name] : options.class_map)
    class_index(options.classes, name, "--class-map");
  for (const LabelFile& file : options.labels)
    if (!file.class_name.empty())
      class_index(options.classes, file.class_name, "--labels " + file.path);
}

std::vector<SceneInput> scene_inputs(const TileOptions& options) {
  check_scene_arguments(options);
  if (!options.scene_list.empty())
    return read_scene_list(options.scene_list);
  std::vector<SceneInput> scenes;
  for (const std::string& image : options.images)
    scenes.push_back({image, options.mask, options.labels});
  return scenes;
}

}  // namespace satunet::tiling
