#include "tiling/tile_options.hpp"

#include <algorithm>
#include <set>

#include "comm/placement.hpp"
#include "common/labels.hpp"
#include "common/text.hpp"
#include "geo/window_grid.hpp"
#include "shards/shard.hpp"

namespace satunet::tiling {

const options::Table<TileOptions>& tile_option_table() {
  using O = TileOptions;
  static const auto table =
      options::Table<O>()
          .value("out", &O::out_dir, "dataset directory: manifest.json + shards/*.h5", "DIR")
          .required()
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
          .in_range(16, shards::kMaxTileSize)
          .multiple_of(16)
          .value("overlap", &O::overlap,
                 "overlap of neighbouring tiles in pixels (stride = tile - overlap)")
          .at_least(0)
          .value("bands", &O::bands,
                 "input bands: 1-based numbers or names (a band's description, as B04 of a STAC "
                 "item, or colour: red, nir); default every band but alpha, which marks valid "
                 "pixels",
                 "1,2,3|B04,B03,B02")
          .value("max-nodata", &O::max_nodata,
                 "drop tiles with a larger fraction of nodata pixels (padding not counted)")
          .in_range(0, 1)
          .value("keep-empty", &O::keep_empty,
                 "seeded fraction of tiles without foreground to keep")
          .in_range(0, 1)
          .value("val-fraction", &O::val_fraction,
                 "fraction of spatial blocks for validation; train tiles overlapping them are "
                 "dropped")
          .at_least(0)
          .below(1)
          .value("split-block", &O::split_block, "tiles per side of a split block")
          .at_least(1)
          .value("seed", &O::seed, "seed of the split and of --keep-empty")
          .value("shard-tiles", &O::shard_tiles, "tiles per shard file at most")
          .at_least(1)
          .value("compress", &O::compress, shards::kCompressHelp)
          .include(comm::threads_option_table(), [](O& o) -> int& { return o.threads; })
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
  tile_option_table().check(options);
  // The rules between options.
  check_scene_arguments(options);
  geo::check_overlap(options.tile, options.overlap);
  check_class_names(options.classes, "--classes");
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
