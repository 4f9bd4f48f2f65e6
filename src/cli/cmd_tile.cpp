#include <iostream>

#include "cli/command.hpp"
#include "common/log.hpp"
#include "common/text.hpp"
#include "dist/mpi_communicator.hpp"
#include "tiling/tiler.hpp"

namespace satunet::cli {
namespace {

std::vector<tiling::SceneInput> scenes_from(const po::variables_map& values) {
  const auto images = list_option(values, "image");
  const bool listed = values.count("scenes") > 0;
  if (listed && !images.empty())
    throw UsageError("give --image or --scenes, not both");
  if (listed) {
    if (values.count("mask") || values.count("labels"))
      throw UsageError("with --scenes, labels and masks come from the CSV's columns");
    return tiling::read_scene_list(values["scenes"].as<std::string>());
  }
  const std::string mask = string_option(values, "mask");
  if (!mask.empty() && images.size() > 1)
    throw UsageError("--mask belongs to one --image; list several scenes with --scenes FILE.csv");
  std::vector<tiling::LabelFile> labels;
  for (const std::string& text : list_option(values, "labels"))
    labels.push_back(tiling::parse_label_file(text));
  std::vector<tiling::SceneInput> scenes;
  for (const std::string& image : images)
    scenes.push_back({image, mask, labels});
  return scenes;
}

tiling::TileOptions tile_options(const po::variables_map& values) {
  tiling::TileOptions options;
  options.scenes = scenes_from(values);
  options.classes = text::split(values["classes"].as<std::string>(), ',');
  options.class_field = string_option(values, "class-field");
  if (values.count("class-map")) {
    for (const std::string& pair : text::split(values["class-map"].as<std::string>(), ','))
      options.class_map.insert(text::split_key_value(pair, "--class-map"));
  }
  options.line_width_m = line_widths(values);
  options.width_field = string_option(values, "width-field");
  options.all_touched = values["all-touched"].as<bool>();
  options.tile = values["tile"].as<int>();
  options.overlap = values["overlap"].as<int>();
  if (values.count("bands")) {
    for (const std::string& band : text::split(values["bands"].as<std::string>(), ','))
      options.bands.push_back(static_cast<int>(text::parse_int(band, "--bands")));
  }
  options.max_nodata = values["max-nodata"].as<double>();
  options.keep_empty = values["keep-empty"].as<double>();
  options.val_fraction = values["val-fraction"].as<double>();
  options.split_block = values["split-block"].as<int>();
  options.seed = values["seed"].as<std::uint64_t>();
  options.shard_tiles = values["shard-tiles"].as<int>();
  options.compress = values["compress"].as<int>();
  options.threads = values["threads"].as<int>();
  options.overwrite = values["overwrite"].as<bool>();
  options.allow_ungeoreferenced = values["allow-ungeoreferenced"].as<bool>();
  options.out_dir = string_option(values, "out");
  options.command_line = invocation();
  return options;
}

}  // namespace

Command tile_command() {
  Command command;
  command.name = "tile";
  command.summary = "cut scenes and their labels into HDF5 shards of tiles (MPI-parallel)";
  command.usage = "--out DATASET (--image SCENE.tif ... | --scenes FILE.csv) [labels] [options]";
  command.needs_mpi = true;
  command.declare = [](po::options_description& options, po::positional_options_description&) {
    const tiling::TileOptions defaults;
    // clang-format off
    options.add_options()
        ("out", po::value<std::string>()->value_name("DIR"),
         "dataset directory: manifest.json + shards/*.h5")
        ("image", po::value<std::vector<std::string>>()->value_name("FILE")->composing(),
         "a scene (GeoTIFF or any GDAL raster); repeat for several scenes sharing --labels")
        ("scenes", po::value<std::string>()->value_name("FILE.csv"),
         "CSV listing scenes: columns image, mask and/or labels (CLASS=FILE;CLASS=FILE)")
        ("labels", po::value<std::vector<std::string>>()->value_name("CLASS=FILE")->composing(),
         "vector labels (any OGR format, any CRS); repeat per class; FILE alone with "
         "--class-field and --class-map")
        ("mask", po::value<std::string>()->value_name("FILE"),
         "labels as a raster of class ids on the scene's grid (its nodata becomes 255)")
        ("classes", po::value<std::string>()->default_value("background,building,road"),
         "class names in id order, background first; where vector classes overlap, the later "
         "class wins")
        ("class-field", po::value<std::string>()->value_name("FIELD"),
         "attribute giving each feature's class")
        ("class-map", po::value<std::string>()->value_name("V=CLASS,..."),
         "attribute values to class names (other values are not labels)")
        ("line-width", po::value<std::vector<std::string>>()->value_name("CLASS=METRES")->composing(),
         "buffer line features of CLASS to this width, in metres (any CRS, degrees included)")
        ("width-field", po::value<std::string>()->value_name("FIELD"),
         "attribute holding each line's width in metres (wins over --line-width where set)")
        ("all-touched", po::bool_switch(), "burn every pixel a feature touches, not only centres")
        ("tile", po::value<int>()->default_value(defaults.tile), "tile size in pixels")
        ("overlap", po::value<int>()->default_value(defaults.overlap),
         "overlap of neighbouring tiles in pixels (stride = tile - overlap)")
        ("bands", po::value<std::string>()->value_name("1,2,3"),
         "input bands (1-based); default every band but alpha, which marks valid pixels")
        ("max-nodata", po::value<double>()->default_value(defaults.max_nodata),
         "drop tiles with a larger fraction of nodata pixels (padding not counted)")
        ("keep-empty", po::value<double>()->default_value(defaults.keep_empty),
         "seeded fraction of tiles without foreground to keep")
        ("val-fraction", po::value<double>()->default_value(defaults.val_fraction),
         "fraction of spatial blocks for validation; train tiles overlapping them are dropped")
        ("split-block", po::value<int>()->default_value(defaults.split_block),
         "tiles per side of a split block")
        ("seed", po::value<std::uint64_t>()->default_value(defaults.seed),
         "seed of the split and of --keep-empty")
        ("shard-tiles", po::value<int>()->default_value(defaults.shard_tiles),
         "tiles per shard file at most")
        ("compress", po::value<int>()->default_value(defaults.compress),
         "deflate level of the shards, 0 = none")
        ("threads", po::value<int>()->default_value(defaults.threads),
         "threads per rank for decoding blocks; 0: cores per node / ranks per node")
        ("overwrite", po::bool_switch(), "replace an existing dataset in --out")
        ("allow-ungeoreferenced", po::bool_switch(),
         "accept scenes without CRS or geotransform (with a --mask only)");
    // clang-format on
  };
  command.run = [](const po::variables_map& values) {
    const tiling::TileOptions options = tile_options(values);
    tiling::validate(options);
    dist::MpiCommunicator comm;
    const shards::Manifest manifest = tiling::tile_dataset(options, comm);
    if (comm.rank() == 0)
      std::cout << tiling::describe_dataset(manifest, options.out_dir);
    return 0;
  };
  return command;
}

}  // namespace satunet::cli
