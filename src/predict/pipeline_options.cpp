// `satunet predict`'s options that need no LibTorch: their table (each with its limits) and
// the rules between them.
#include "comm/placement.hpp"
#include "common/error.hpp"
#include "geo/window_grid.hpp"
#include "predict/pipeline.hpp"
#include "stitch/blender.hpp"

namespace satunet::predict {

const options::Table<PipelineOptions>& pipeline_option_table() {
  using O = PipelineOptions;
  static const auto table =
      options::Table<O>()
          .value("image", &O::image,
                 "georeferenced scene (any GDAL raster) with the bands the model was trained on",
                 "SCENE.tif")
          .required()
          .value("out", &O::out,
                 "prediction directory: prediction.json + shards/rank-R-of-N.h5 (with "
                 "--stitch-to: only with --keep-probabilities; default MASK.tif.prediction)",
                 "PRED")
          .value("tile", &O::tile, "window size in pixels (0: the checkpoint's tile size)")
          .in_range(1, shards::kMaxTileSize)
          .meaning(0, "the checkpoint's tile size")
          .value("overlap", &O::overlap,
                 "minimum overlap of neighbouring windows in pixels (default: a quarter of the "
                 "window)")
          .at_least(0)
          .value("batch", &O::batch, "windows per forward pass")
          .at_least(1)
          .value("blend", &O::blend,
                 "weights of overlapping windows: gaussian (sigma = tile/8), cosine or uniform")
          .value("encoding", &O::encoding, "stored probabilities: uint8 (p x 255) or float16")
          .value("compress", &O::compress, shards::kCompressHelp)
          .value("bands", &O::bands,
                 "1-based scene bands to use (default: every band but alpha, as satunet tile)",
                 "1,2,3")
          .include(comm::threads_option_table(), [](O& o) -> int& { return o.threads; })
          .flag("overwrite", &O::overwrite, "replace existing outputs")
          .value("stitch-to", &O::stitch_to,
                 "blend the windows into this class map (on one rank straight from the model, "
                 "without a prediction directory; on several, rank 0 stitches their shards)",
                 "MASK.tif")
          .flag("keep-probabilities", &O::keep_probabilities,
                "with --stitch-to, also keep the prediction directory (--out)")
          .include(stitch::stitch_output_option_table(),
                   [](O& o) -> stitch::StitchOutputs& { return o.outputs; });
  return table;
}

void validate(const PipelineOptions& options) {
  pipeline_option_table().check(options);
  // The rules between options.
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
