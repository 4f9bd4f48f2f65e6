// `satunet predict`'s options that need no LibTorch: their table (each with its limits) and
// the rules between them.
#include "comm/placement.hpp"
#include "common/error.hpp"
#include "geo/window_grid.hpp"
#include "predict/pipeline.hpp"
#include "predict/region.hpp"
#include "stitch/blender.hpp"

namespace satunet::predict {

const options::Table<PipelineOptions>& pipeline_option_table() {
  using O = PipelineOptions;
  static const auto table =
      options::Table<O>()
          .value("image", &O::image,
                 "georeferenced scene (any GDAL raster) with the bands the model was trained on",
                 "SCENE.tif")
          .value("out", &O::out,
                 "prediction directory: prediction.json + shards/rank-R-of-N.h5 (with "
                 "--stitch-to: only with --keep-probabilities; default MASK.tif.prediction)",
                 "PRED")
          .value("tile", &O::tile,
                 "window size in the model's pixels (0: the checkpoint's tile size)")
          .in_range(1, shards::kMaxTileSize)
          .meaning(0, "the checkpoint's tile size")
          .value("overlap", &O::overlap,
                 "minimum overlap of neighbouring windows in the model's pixels (default: a "
                 "quarter of the window)")
          .at_least(0)
          .value("pixel-size", &O::pixel_size,
                 "ground size of the pixels the model sees: auto (its training scenes', for a "
                 "scene more than 10 % outside their range), native (the scene's own) or metres; "
                 "windows are resampled to it and the outputs back to the scene's grid",
                 "auto|native|M")
          .value("batch", &O::batch, "windows per forward pass")
          .at_least(1)
          .value("blend", &O::blend,
                 "weights of overlapping windows: gaussian (sigma = tile/8), cosine or uniform")
          .value("encoding", &O::encoding, "stored probabilities: uint8 (p x 255) or float16")
          .value("compress", &O::compress, shards::kCompressHelp)
          .value("bands", &O::bands,
                 "scene bands to use, by number (1-based) or name, as satunet tile takes them "
                 "(default: every band but alpha)",
                 "1,2,3|B04,B03,B02")
          .include(comm::threads_option_table(), [](O& o) -> int& { return o.threads; })
          .flag("overwrite", &O::overwrite, "replace existing outputs")
          .value("stitch-to", &O::stitch_to,
                 "blend the windows into this class map (on one rank straight from the model, "
                 "without a prediction directory; on several, rank 0 stitches their shards)",
                 "MASK.tif")
          .flag("keep-probabilities", &O::keep_probabilities,
                "with --stitch-to, also keep the prediction directory (--out)")
          .include(stitch::stitch_output_option_table(),
                   [](O& o) -> stitch::StitchOutputs& { return o.outputs; })
          .value("scenes", &O::scenes,
                 "many scenes in one job instead of --image: a CSV (columns image, name) or a "
                 "folder of rasters; each scene's mask to OUT/masks/NAME.tif",
                 "LIST.csv|DIR")
          .value("part", &O::part, "with --scenes: predict part I of N (a job array's task)", "I/N")
          .value("products", &O::products,
                 "with --scenes: also OUT/probabilities/NAME.tif, OUT/polygons/NAME.gpkg and/or "
                 "OUT/road-lines/NAME.gpkg (with --clean-roads)",
                 "probabilities,polygons,road-lines")
          .flag("fail-fast", &O::fail_fast,
                "with --scenes: a scene that fails ends the job (by default it is recorded and "
                "the job goes on)");
  return table;
}

// The rules of a region's job (--scenes): --out is its folder, each scene's outputs are named
// there.
void validate_region(const PipelineOptions& options) {
  if (!options.image.empty())
    throw UsageError("give --image or --scenes, not both");
  if (options.out.empty())
    throw UsageError("--scenes needs --out, the region's folder");
  for (const std::string& beside_one_mask : {options.stitch_to, options.outputs.probabilities,
                                             options.outputs.polygons, options.outputs.roads.lines})
    if (!beside_one_mask.empty())
      throw UsageError(
          "with --scenes each scene's files are OUT/masks/NAME.tif and what --products "
          "asks: --stitch-to, --probabilities, --polygons and --road-lines go with --image");
  if (options.keep_probabilities)
    throw UsageError("--keep-probabilities goes with --stitch-to and --image");
  for (const std::string& product : options.products) {
    if (product != "probabilities" && product != "polygons" && product != "road-lines")
      throw UsageError("--products: '" + product +
                       "' is none of probabilities, polygons and road-lines");
    if (product == "road-lines" && options.outputs.roads.road_class.empty())
      throw UsageError(
          "--products road-lines: the centre lines come from a road cleanup; give "
          "--clean-roads CLASS");
  }
  if (parse_part(options.part).count > 1 && options.overwrite)
    throw UsageError(
        "--overwrite with --part would let one part remove the others' scenes: clear the "
        "region's folder once, then start the parts");
}

void validate(const PipelineOptions& options) {
  pipeline_option_table().check(options);
  // The rules between options.
  if (!options.scenes.empty())
    return validate_region(options);
  if (options.image.empty())
    throw UsageError("--image is required (or --scenes)");
  for (const auto& [given, option] : {std::pair{!options.part.empty(), "--part"},
                                      std::pair{!options.products.empty(), "--products"},
                                      std::pair{options.fail_fast, "--fail-fast"}})
    if (given)
      throw UsageError(std::string(option) + " goes with --scenes");
  if (options.out.empty() && options.stitch_to.empty())
    throw UsageError("--out is required (or --stitch-to)");
  if (options.keep_probabilities && options.stitch_to.empty())
    throw UsageError(
        "--keep-probabilities goes with --stitch-to (without it the prediction "
        "directory is what predict writes)");
  // With --tile 0 the grid checks the overlap against the checkpoint's tile size.
  if (options.tile > 0 && options.overlap)
    geo::check_overlap(options.tile, *options.overlap);
  if (!options.stitch_to.empty())
    stitch::validate_outputs(options.stitch_to, options.outputs);
}

}  // namespace satunet::predict
